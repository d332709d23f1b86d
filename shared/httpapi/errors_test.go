package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
)

func TestAuthFailures(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name     string
		method   string
		path     string
		user     string
		header   string // Authorization, overriding user
		body     any
		want     int
		wantCode string
	}{
		{"no token", "GET", "/api/batches", "", "", nil, 401, "unauthorized"},
		{"bad token", "GET", "/api/batches", "", "Bearer not-a-real-token-at-all", nil, 401, "unauthorized"},
		{"basic auth", "GET", "/api/definitions", "", "Basic dXNlcjpwYXNz", nil, 401, "unauthorized"},
		{"approver creates a definition", "POST", "/api/definitions", "approver", "", course(false), 403, "forbidden"},
		{"issuer approves", "POST", "/api/batches/b_x/approve", "issuer", "", nil, 403, "forbidden"},
		{"issuer reads suppressions", "GET", "/api/suppressions/a@example.org", "issuer", "", nil, 403, "forbidden"},
		{"approver revokes", "POST", "/api/credentials/x/revoke", "approver", "", map[string]string{"reason": "x"}, 403, "forbidden"},
		{"admin may approve (not found)", "POST", "/api/batches/b_x/approve", "admin", "", nil, 404, "not_found"},
		{"public route needs no token", "GET", "/healthz", "", "", nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.header != "" {
				headers = []string{"Authorization", tt.header}
			}
			w := e.call(tt.method, tt.path, tt.user, tt.body, headers...)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body.String())
			}
			if tt.wantCode != "" {
				if got := errorOf(t, w).Error.Code; got != tt.wantCode {
					t.Errorf("code %q, want %q", got, tt.wantCode)
				}
			}
			if tt.want == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestValidationErrors(t *testing.T) {
	e := newEnv(t)
	must(t, e.call("POST", "/api/definitions", "admin", course(false)), 201, nil)
	noScore := batchBody(1, 0, false)
	for _, r := range noScore["rows"].([]map[string]any) {
		delete(r, "attributes")
	}
	tests := []struct {
		name        string
		path        string
		body        any
		wantCode    string
		wantDetails []string // codes of the findings in details
	}{
		{"definition without a name", "/api/definitions", credbatch.Definition{ID: "Bad ID"}, "invalid_definition", nil},
		{"definition with a broken template", "/api/definitions",
			credbatch.Definition{ID: "tpl", Name: "T", Email: credbatch.EmailTemplates{Subject: "{{.Nope}}"}}, "invalid_email_template", nil},
		{"unknown field", "/api/definitions", map[string]any{"id": "x", "name": "X", "colour": "red"}, "invalid_json", nil},
		{"batch missing a required column", "/api/batches", noScore, credbatch.CodeMissingColumns, []string{credbatch.CodeMissingColumns}},
		{"batch of an unknown definition", "/api/batches", map[string]any{"definition_id": "nope", "rows": []map[string]string{{"email": "a@b.org"}}},
			credbatch.CodeUnknownDefinition, []string{credbatch.CodeUnknownDefinition}},
		{"batch without rows", "/api/batches", map[string]any{"definition_id": "course", "rows": []any{}}, credbatch.CodeEmptyFile, nil},
		{"bad date order", "/api/batches", map[string]any{"definition_id": "course", "date_order": "YMD", "rows": []map[string]string{{"email": "a@b.org"}}}, "invalid_date_order", nil},
		{"upload of an .xls", "/api/uploads", map[string]string{"definition_id": "course", "filename": "old.xls"}, credbatch.CodeUnsupportedFormat, nil},
		{"upload of an unknown definition", "/api/uploads", map[string]string{"definition_id": "nope", "filename": "a.csv"}, credbatch.CodeUnknownDefinition, nil},
		{"evidence zip of no spreadsheet", "/api/uploads/evidence-zip", map[string]any{"key": "uploads/course/x.pdf", "size": 10}, ingest.CodeInvalidUploadKey, nil},
		{"evidence zip over 4 GiB", "/api/uploads/evidence-zip", map[string]any{"key": "uploads/course/x.csv", "size": 4<<30 + 1}, credbatch.CodeZipTooLarge, nil},
		{"revoke without a reason", "/api/credentials/x/revoke", map[string]string{"reason": " "}, "missing_reason", nil},
		{"reject without a reason", "/api/batches/b_x/reject", map[string]string{"reason": ""}, "missing_reason", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user := "issuer"
			if tt.path == "/api/batches/b_x/reject" {
				user = "approver"
			}
			w := e.call("POST", tt.path, user, tt.body)
			if w.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", w.Code, w.Body.String())
			}
			got := errorOf(t, w)
			if got.Error.Code != tt.wantCode {
				t.Errorf("code %q, want %q (%s)", got.Error.Code, tt.wantCode, got.Error.Message)
			}
			if tt.wantDetails != nil {
				var fs []credbatch.Finding
				if err := json.Unmarshal(got.Error.Details, &fs); err != nil {
					t.Fatalf("details %s: %v", got.Error.Details, err)
				}
				var codes []string
				for _, f := range fs {
					codes = append(codes, f.Code)
				}
				if !slices.Equal(codes, tt.wantDetails) {
					t.Errorf("detail codes %v, want %v", codes, tt.wantDetails)
				}
			}
		})
	}
	// Nothing was stored for the refused batches.
	page, err := e.store.ListBatches(context.Background(), credbatch.BatchFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 0 {
		t.Errorf("refused requests stored %d batches", len(page.Items))
	}
}

func TestRowFindings(t *testing.T) {
	e := newEnv(t)
	b := e.setup(false, 1, 1)
	var rows struct{ Items []credbatch.Row }
	must(t, e.call("GET", "/api/batches/"+b.ID+"/rows?code=invalid_email", "issuer", nil), 200, &rows)
	if len(rows.Items) != 1 || rows.Items[0].Number != 3 {
		t.Fatalf("rows with invalid_email: %+v", rows.Items)
	}
	if got := rows.Items[0].Codes(); !slices.Contains(got, credbatch.CodeInvalidEmail) || !slices.Contains(got, credbatch.CodeInvalidNumber) {
		t.Errorf("codes %v", got)
	}
	// Fixing one of two problems keeps the row invalid; fixing both sends the batch back to parsed.
	var out struct {
		Row   credbatch.Row
		Batch batchOut
	}
	must(t, e.call("PATCH", "/api/batches/"+b.ID+"/rows/3", "issuer", map[string]any{"values": map[string]string{"Email": "alan@example.org"}}), 200, &out)
	if out.Row.Status != credbatch.RowInvalid || out.Batch.Status != credbatch.BatchRejected {
		t.Errorf("after one fix: row %s batch %s", out.Row.Status, out.Batch.Status)
	}
	must(t, e.call("PATCH", "/api/batches/"+b.ID+"/rows/3", "issuer", map[string]any{"values": map[string]string{"Score": "70"}}), 200, &out)
	if out.Row.Status != credbatch.RowValid || out.Batch.Status != credbatch.BatchParsed || out.Batch.Counts.Valid != 2 || out.Batch.Counts.Invalid != 0 {
		t.Errorf("after both fixes: row %s, batch %s %+v", out.Row.Status, out.Batch.Status, out.Batch.Counts)
	}
	// Breaking a row of a parsed batch makes it rejected again.
	must(t, e.call("PATCH", "/api/batches/"+b.ID+"/rows/2", "issuer", map[string]any{"values": map[string]string{"Email": "nope"}}), 200, &out)
	if out.Row.Status != credbatch.RowInvalid || out.Batch.Status != credbatch.BatchRejected || out.Batch.ReportKey == "" {
		t.Errorf("after breaking: row %s, batch %s report %q", out.Row.Status, out.Batch.Status, out.Batch.ReportKey)
	}
	w := e.call("PATCH", "/api/batches/"+b.ID+"/rows/2", "issuer", map[string]any{"values": map[string]string{"Colour": "red"}})
	if w.Code != 400 || errorOf(t, w).Error.Code != "unknown_columns" {
		t.Errorf("unknown column: %d %s", w.Code, w.Body.String())
	}
}

func TestNotFound(t *testing.T) {
	e := newEnv(t)
	tests := []struct{ method, path, user string }{
		{"GET", "/api/batches/b_nope", "issuer"},
		{"GET", "/api/batches/b_nope/rows", "issuer"},
		{"GET", "/api/batches/b_nope/report", "issuer"},
		{"PATCH", "/api/batches/b_nope/rows/2", "issuer"},
		{"POST", "/api/batches/b_nope/submit", "issuer"},
		{"GET", "/api/definitions/nope", "issuer"},
		{"GET", "/api/definitions/nope/template", "issuer"},
		{"GET", "/api/credentials/nope", "issuer"},
		{"GET", "/api/suppressions/nobody@example.org", "admin"},
		{"DELETE", "/api/suppressions/nobody@example.org", "admin"},
		{"GET", "/credentials/nope/jwt", ""},
		{"GET", "/credentials/nope/json", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var body any
			if tt.method == "PATCH" {
				body = map[string]any{"values": map[string]string{"Email": "a@b.org"}}
			}
			w := e.call(tt.method, tt.path, tt.user, body)
			if w.Code != http.StatusNotFound {
				t.Fatalf("status %d, want 404: %s", w.Code, w.Body.String())
			}
			if code := errorOf(t, w).Error.Code; code != "not_found" {
				t.Errorf("code %q, want not_found", code)
			}
		})
	}
}

func TestConflicts(t *testing.T) {
	e := newEnv(t)
	b := e.setup(true, 2, 0)
	e.awaitApproval(b.ID)
	must(t, e.call("POST", "/api/batches/"+b.ID+"/approve", "approver", nil), 200, nil)

	var def credbatch.Definition
	must(t, e.call("GET", "/api/definitions/course", "issuer", nil), 200, &def)
	def.Version = 1
	must(t, e.call("PUT", "/api/definitions/course", "issuer", def), 200, nil) // version 1 → 2
	tests := []struct {
		name     string
		method   string
		path     string
		user     string
		body     any
		wantCode string
	}{
		{"approve twice", "POST", "/api/batches/" + b.ID + "/approve", "approver", nil, "conflict"},
		{"amend after approval", "PATCH", "/api/batches/" + b.ID + "/rows/2", "issuer", map[string]any{"values": map[string]string{"Score": "1"}}, "batch_not_amendable"},
		{"submit after approval", "POST", "/api/batches/" + b.ID + "/submit", "issuer", nil, "conflict"},
		{"stale definition version", "PUT", "/api/definitions/course", "issuer", def, "conflict"},
		{"create an existing definition", "POST", "/api/definitions", "issuer", course(false), "definition_exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.call(tt.method, tt.path, tt.user, tt.body)
			if w.Code != http.StatusConflict {
				t.Fatalf("status %d, want 409: %s", w.Code, w.Body.String())
			}
			if code := errorOf(t, w).Error.Code; code != tt.wantCode {
				t.Errorf("code %q, want %q", code, tt.wantCode)
			}
		})
	}
	if len(e.workflow.succeed) != 1 {
		t.Errorf("workflow resumed %d times, want 1", len(e.workflow.succeed))
	}
}

func TestFourEyes(t *testing.T) {
	e := newEnv(t)
	must(t, e.call("POST", "/api/definitions", "issuer", course(true)), 201, nil)
	var b batchOut
	// The admin uploads, so the admin cannot approve; another approver can.
	must(t, e.call("POST", "/api/batches", "admin", batchBody(1, 0, false)), 201, &b)
	e.awaitApproval(b.ID)
	w := e.call("POST", "/api/batches/"+b.ID+"/approve", "admin", nil)
	if w.Code != http.StatusForbidden || errorOf(t, w).Error.Code != "four_eyes" {
		t.Fatalf("self-approval: %d %s", w.Code, w.Body.String())
	}
	must(t, e.call("POST", "/api/batches/"+b.ID+"/approve", "approver2", nil), 200, nil)
}

func TestIdempotentBatch(t *testing.T) {
	e := newEnv(t)
	must(t, e.call("POST", "/api/definitions", "admin", course(false)), 201, nil)
	var first, second batchOut
	must(t, e.call("POST", "/api/batches", "issuer", batchBody(2, 0, true), "Idempotency-Key", "order-42"), http.StatusCreated, &first)
	must(t, e.call("POST", "/api/batches", "issuer", batchBody(3, 0, true), "Idempotency-Key", "order-42"), http.StatusOK, &second)
	if first.ID != second.ID || first.ID != credbatch.BatchIDFor(credbatch.Source{IdempotencyKey: "order-42"}) {
		t.Errorf("ids %s and %s", first.ID, second.ID)
	}
	if second.Counts.Rows != 2 {
		t.Errorf("the repeat changed the batch: %+v", second.Counts)
	}
	if len(e.workflow.started) != 1 {
		t.Errorf("workflow started %d times, want 1", len(e.workflow.started))
	}
	page, err := e.store.ListBatches(context.Background(), credbatch.BatchFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 {
		t.Errorf("%d batches stored, want 1", len(page.Items))
	}
	w := e.call("POST", "/api/batches", "admin", batchBody(1, 0, false), "Idempotency-Key", "order-42")
	if w.Code != http.StatusConflict {
		t.Errorf("another caller's key: %d %s", w.Code, w.Body.String())
	}
	// Without a key every request is a new batch.
	must(t, e.call("POST", "/api/batches", "issuer", batchBody(1, 0, false)), http.StatusCreated, &first)
	must(t, e.call("POST", "/api/batches", "issuer", batchBody(1, 0, false)), http.StatusCreated, &second)
	if first.ID == second.ID {
		t.Errorf("two requests without a key share batch %s", first.ID)
	}
}

func TestInternalErrorsAreHidden(t *testing.T) {
	e := newEnv(t)
	e.store.Close() // every store call now fails with an internal error
	w := e.call("GET", "/api/batches", "issuer", nil)
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", w.Code)
	}
	got := errorOf(t, w)
	if got.Error.Code != "internal" || got.Error.Message != "internal error" || len(got.Error.Details) != 0 {
		t.Errorf("internal error leaked: %+v", got.Error)
	}
}
