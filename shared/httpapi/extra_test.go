package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/ingest"
)

func TestValidateRows(t *testing.T) {
	e := newEnv(t)
	must(t, e.call("POST", "/api/definitions", "admin", course(false)), 201, nil)
	tests := []struct {
		name        string
		body        map[string]any
		wantValid   int
		wantInvalid int
		wantCodes   []string
		wantFile    string // the file-level rejection code
	}{
		{"valid", batchBody(2, 0, false), 2, 0, nil, ""},
		{"invalid rows", batchBody(1, 2, false), 1, 2, []string{credbatch.CodeInvalidEmail, credbatch.CodeInvalidNumber}, ""},
		{"unknown definition", map[string]any{"definition_id": "nope", "rows": []map[string]string{{"email": "a@b.org"}}}, 0, 0, nil, credbatch.CodeUnknownDefinition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res ingest.Result
			must(t, e.call("POST", "/api/validate", "issuer", tt.body), 200, &res)
			if res.Valid != tt.wantValid || res.Invalid != tt.wantInvalid {
				t.Errorf("valid %d invalid %d, want %d %d", res.Valid, res.Invalid, tt.wantValid, tt.wantInvalid)
			}
			for _, c := range tt.wantCodes {
				if !hasCode(res.Errors, c) {
					t.Errorf("no %s in %+v", c, res.Errors)
				}
			}
			if tt.wantFile != "" && (res.Error == nil || res.Error.Code != tt.wantFile) {
				t.Errorf("file error %+v, want %s", res.Error, tt.wantFile)
			}
		})
	}
	if page, err := e.store.ListBatches(t.Context(), credbatch.BatchFilter{}); err != nil || len(page.Items) != 0 {
		t.Errorf("validate stored batches: %v %v", page.Items, err)
	}
}

func TestPagesMounted(t *testing.T) {
	pages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("page " + r.URL.Path))
	})
	e := newEnv(t, func(d *httpapi.Deps) { d.Pages = pages })
	tests := []struct {
		path     string
		wantType string
	}{
		{"/credentials/abc", "text/html"},
		{"/review/b_1", "text/html"},
		{"/credentials/abc/jwt", "application/json"}, // still the API's (a 404 error body)
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w := e.call("GET", tt.path, "", nil)
			if got := w.Header().Get("Content-Type"); got != tt.wantType {
				t.Errorf("content type %q, want %q (%d %s)", got, tt.wantType, w.Code, w.Body.String())
			}
		})
	}
}
