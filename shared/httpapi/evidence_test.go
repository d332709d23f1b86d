package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/evidence/evidencetest"
)

// TestRowEvidence: a row's evidence file through the API with real files (Pillow, LibreOffice):
// attached, replaced, refused with its code (wrong type, too large, wrong role, after
// submission, an upload key of another row, nothing uploaded), and a batch of a required
// definition submitted only once every row has its file.
func TestRowEvidence(t *testing.T) {
	real := evidencetest.Make(t)
	e := newEnv(t)
	ctx := context.Background()
	must(t, e.call("POST", "/api/definitions", "admin", credbatch.Definition{ID: "site", Name: "Site Induction",
		Evidence: credbatch.EvidenceSettings{Policy: credbatch.EvidenceRequired, MaxBytes: 1 << 20}}), 201, nil)
	body := visitBatch()
	body["definition_id"] = "site"
	var b batchOut
	must(t, e.call("POST", "/api/batches", "issuer", body), 201, &b)
	if b.Status != credbatch.BatchRejected || b.Counts.Invalid != 2 {
		t.Fatalf("batch without evidence %s %+v, want rejected with 2 invalid rows", b.Status, b.Counts)
	}
	rows := "/api/batches/" + b.ID + "/rows/"

	big := append(bytes.Clone(real.PNG), make([]byte, 1<<20)...)
	refused := []struct {
		name, method, path, user string
		body                     any
		status                   int
		code                     string
	}{
		{"an approver may not attach", "PUT", rows + "2/evidence?name=site.png", "approver", real.PNG, 403, "forbidden"},
		{"an extension that lies", "PUT", rows + "2/evidence?name=site.png", "issuer", real.JPEG, 400, credbatch.CodeEvidenceWrongType},
		{"not an allowed type", "PUT", rows + "2/evidence?name=notes.txt", "issuer", []byte("just some words"), 400, credbatch.CodeEvidenceWrongType},
		{"over the definition's limit", "PUT", rows + "2/evidence?name=big.png", "issuer", big, 400, credbatch.CodeEvidenceTooLarge},
		{"the header row", "PUT", rows + "1/evidence", "issuer", real.PNG, 400, "invalid_row"},
		{"no such row", "PUT", rows + "9/evidence", "issuer", real.PNG, 404, "not_found"},
		{"an upload key of another row", "POST", rows + "2/evidence/confirm", "issuer", map[string]string{"key": credbatch.EvidenceUploadPrefix + b.ID + "/3/x"}, 400, "invalid_upload_key"},
		{"nothing uploaded", "POST", rows + "2/evidence/confirm", "issuer", map[string]string{"key": credbatch.EvidenceUploadPrefix + b.ID + "/2/x"}, 404, "upload_not_found"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			w := e.call(tt.method, tt.path, tt.user, tt.body, "Content-Type", "application/octet-stream")
			if tt.method == "POST" {
				w = e.call(tt.method, tt.path, tt.user, tt.body)
			}
			if w.Code != tt.status || errorOf(t, w).Error.Code != tt.code {
				t.Fatalf("%d %s, want %d %s", w.Code, w.Body.String(), tt.status, tt.code)
			}
		})
	}

	// Attach, replace, then the other row through a presigned upload; the batch becomes parsed.
	var out struct {
		Row   credbatch.Row
		Batch batchOut
	}
	must(t, e.call("PUT", rows+"2/evidence", "issuer", real.JPEG, "Content-Type", "image/jpeg", "Content-Disposition", `attachment; filename="site photo.jpg"`), 200, &out)
	first := *out.Row.Evidence.FileNamed()
	if !first.Stored() || first.Name != "site photo.jpg" || out.Batch.Status != credbatch.BatchRejected {
		t.Fatalf("attached %+v, batch %s", first, out.Batch.Status)
	}
	// Submitting now is refused, also skipping invalid rows: row 3 has no evidence.
	w := e.call("POST", "/api/batches/"+b.ID+"/submit", "issuer", map[string]bool{"skip_invalid": true})
	if w.Code != http.StatusConflict || errorOf(t, w).Error.Code != credbatch.CodeMissingEvidence ||
		!strings.Contains(errorOf(t, w).Error.Message, "(row 3)") {
		t.Fatalf("submit without evidence: %d %s", w.Code, w.Body.String())
	}
	var details []credbatch.Finding
	if err := json.Unmarshal(errorOf(t, w).Error.Details, &details); err != nil || len(details) != 1 || details[0].Row != 3 {
		t.Errorf("details %s: want a finding for row 3", errorOf(t, w).Error.Details)
	}
	must(t, e.call("PUT", rows+"2/evidence?name=site.png", "issuer", real.PNG, "Content-Type", "image/png"), 200, &out)
	if f := out.Row.Evidence.FileNamed(); f.Key == first.Key || f.MediaType != "image/png" {
		t.Errorf("replaced by %+v", f)
	}
	if _, err := e.blob.Head(ctx, first.Key); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Errorf("the replaced file is still stored: %v", err)
	}
	var up struct{ URL, Key string }
	must(t, e.call("POST", rows+"3/evidence/upload", "issuer", nil), 200, &up)
	if _, err := e.blob.Put(ctx, up.Key, bytes.NewReader(real.PDF), "application/octet-stream", nil); err != nil {
		t.Fatal(err)
	}
	must(t, e.call("POST", rows+"3/evidence/confirm", "issuer", map[string]string{"key": up.Key, "name": "report.pdf"}), 200, &out)
	if out.Batch.Status != credbatch.BatchParsed || out.Batch.Counts.Valid != 2 {
		t.Fatalf("after both rows have their file: %s %+v", out.Batch.Status, out.Batch.Counts)
	}
	var audit credbatch.Page[credbatch.AuditEntry]
	must(t, e.call("GET", "/api/audit?limit=20", "admin", nil), 200, &audit)
	attached := 0
	for _, a := range audit.Items {
		if a.Action == credbatch.AuditEvidenceAttached && a.Actor == "issuer@localhost" {
			attached++
		}
	}
	if attached != 3 {
		t.Errorf("%d evidence.attached entries, want 3: %+v", attached, audit.Items)
	}

	must(t, e.call("POST", "/api/batches/"+b.ID+"/submit", "issuer", nil), 200, &b)
	e.awaitApproval(b.ID) // what the workflow's first step does
	w = e.call("PUT", rows+"2/evidence?name=site.jpg", "issuer", real.JPEG, "Content-Type", "image/jpeg")
	if w.Code != http.StatusConflict || errorOf(t, w).Error.Code != "batch_not_amendable" {
		t.Errorf("attach after submission: %d %s", w.Code, w.Body.String())
	}
}

// TestRemoveEvidenceRefused: only an administrator may delete a credential's evidence file;
// a credential without one, or none at all, is 404.
func TestRemoveEvidenceRefused(t *testing.T) {
	e := newEnv(t)
	b := e.setup(false, 1, 0)
	if _, err := e.store.TransitionBatch(context.Background(), b.ID, credbatch.BatchParsed, credbatch.BatchApproved, credbatch.BatchChange{}); err != nil {
		t.Fatal(err)
	}
	c := e.issue(b.ID, 2)
	for _, tt := range []struct {
		name, user, id string
		status         int
		code           string
	}{
		{"an issuer", "issuer", c.ID, 403, "forbidden"},
		{"an approver", "approver", c.ID, 403, "forbidden"},
		{"no evidence file", "admin", c.ID, 404, "no_evidence"},
		{"no such credential", "admin", "c_missing", 404, "not_found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := e.call("DELETE", "/api/credentials/"+tt.id+"/evidence/1", tt.user, nil)
			if w.Code != tt.status || errorOf(t, w).Error.Code != tt.code {
				t.Fatalf("%d %s, want %d %s", w.Code, w.Body.String(), tt.status, tt.code)
			}
		})
	}
}
