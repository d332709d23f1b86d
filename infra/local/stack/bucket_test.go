package stack_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/infra/local/stack"
	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/evidence/evidencetest"
	"github.com/credbatch/credbatch/shared/ingest"
)

// TestLocalBucketNeedsSignedURLs: the folder bucket's HTTP face accepts only URLs the API
// presigned (issue 14 item 2): no anonymous PUT, no uploader other than the one signed, no
// error report without a signature.
func TestLocalBucketNeedsSignedURLs(t *testing.T) {
	s := openStack(t)
	const issuerTok, adminTok = "issuer-token-0123456789", "admin-token-0123456789"
	tokens, err := auth.NewTokens([]auth.Token{
		{Token: issuerTok, Subject: "issuer", Email: "issuer@localhost", Roles: []auth.Role{auth.RoleIssuer}},
		{Token: adminTok, Subject: "admin", Email: "admin@localhost", Roles: []auth.Role{auth.RoleAdmin}},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler(tokens)
	send := func(method, url string, headers map[string]string, body string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(method, url, strings.NewReader(body))
		for k, v := range headers {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	up := send("POST", "/api/uploads", map[string]string{"Authorization": "Bearer " + issuerTok, "Content-Type": "application/json"},
		`{"definition_id":"member","filename":"cohort.csv","label":"Cohort"}`)
	if up.Code != http.StatusCreated {
		t.Fatalf("POST /api/uploads = %d: %s", up.Code, up.Body.String())
	}
	var presigned struct {
		URL     string            `json:"url"`
		Key     string            `json:"key"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(up.Body.Bytes(), &presigned); err != nil {
		t.Fatal(err)
	}
	if presigned.Headers["x-amz-meta-uploader"] != "issuer@localhost" || !strings.Contains(presigned.URL, "X-Amz-Signature=") {
		t.Fatalf("presigned upload %+v: want a signed URL for issuer@localhost", presigned)
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range presigned.Headers {
			m[a] = b
		}
		m[k] = v
		return m
	}
	path := strings.TrimPrefix(presigned.URL, s.Config.Issuer.BaseURL)
	unsigned, _, _ := strings.Cut(path, "?")
	tests := []struct {
		name    string
		url     string
		headers map[string]string
		want    int
	}{
		{"anonymous PUT", unsigned, map[string]string{"Content-Type": "text/csv", "x-amz-meta-uploader": "approver@localhost"}, http.StatusForbidden},
		{"another uploader than signed", path, with("x-amz-meta-uploader", "approver@localhost"), http.StatusForbidden},
		{"an unsigned metadata header added", path, with("x-amz-meta-sheet", "Other"), http.StatusForbidden},
		{"an API token instead of a signature", unsigned, with("Authorization", "Bearer "+adminTok), http.StatusForbidden},
		{"the upload as presigned", path, presigned.Headers, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := send("PUT", tc.url, tc.headers, memberCSV)
			if w.Code != tc.want {
				t.Fatalf("PUT = %d, want %d: %s", w.Code, tc.want, w.Body.String())
			}
			info, err := s.Bucket.Head(t.Context(), presigned.Key)
			switch {
			case tc.want == http.StatusOK && (err != nil || info.Metadata[ingest.MetaUploader] != "issuer@localhost"):
				t.Fatalf("stored object %+v (%v): want the upload with uploader issuer@localhost", info, err)
			case tc.want != http.StatusOK && !credbatch.IsKind(err, credbatch.KindNotFound):
				t.Fatalf("a refused PUT stored the object: %+v (%v)", info, err)
			}
		})
	}

	const report = ingest.ReportsPrefix + "b1-errors.xlsx"
	if _, err := s.Bucket.Put(t.Context(), report, strings.NewReader("names and emails"), "application/octet-stream", nil); err != nil {
		t.Fatal(err)
	}
	if w := send("GET", stack.BucketPath+"/"+report, nil, ""); w.Code != http.StatusForbidden || strings.Contains(w.Body.String(), "emails") {
		t.Fatalf("GET the report without a signature = %d %q, want 403", w.Code, w.Body.String())
	}
	if w := send("GET", stack.BucketPath+"/"+report, map[string]string{"Authorization": "Bearer " + adminTok}, ""); w.Code != http.StatusForbidden {
		t.Fatalf("GET the report with a bearer token but no signature = %d, want 403", w.Code)
	}
	link, err := s.Bucket.PresignGet(t.Context(), report, 60e9)
	if err != nil {
		t.Fatal(err)
	}
	if w := send("GET", strings.TrimPrefix(link, s.Config.Issuer.BaseURL), nil, ""); w.Code != http.StatusOK || w.Body.String() != "names and emails" {
		t.Fatalf("GET the presigned report = %d %q", w.Code, w.Body.String())
	}
}

// TestLocalPresignedEvidenceUpload: a row's evidence file sent to the URL the API presigned
// (POST .../evidence/upload) lands under evidence-uploads/ in the folder bucket, and
// confirming it attaches it to the row; the folder bucket refuses an unsigned PUT there and
// any PUT outside uploads/ and evidence-uploads/ (a PNG made by Pillow).
func TestLocalPresignedEvidenceUpload(t *testing.T) {
	real := evidencetest.Make(t)
	s := openStack(t)
	ctx := t.Context()
	f, err := credbatch.ParseDefinitions(strings.NewReader(`{"definitions":[{"id":"visit","name":"Site Visit","evidence":{"policy":"optional"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LoadDefinitions(ctx, f.Definitions); err != nil {
		t.Fatal(err)
	}
	b, _, err := (&ingest.Service{Store: s.Store, Blob: s.Bucket}).CreateBatch(ctx, ingest.NewBatch{Uploader: "issuer@localhost", DefinitionID: "visit",
		Recipients: []ingest.Recipient{{FirstName: "Ann", LastName: "Lee", Email: "ann@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	const issuerTok = "issuer-token-0123456789"
	tokens, err := auth.NewTokens([]auth.Token{{Token: issuerTok, Subject: "issuer", Email: "issuer@localhost", Roles: []auth.Role{auth.RoleIssuer}}})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler(tokens)
	send := func(method, url, ctype string, body []byte) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(method, url, bytes.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		if strings.HasPrefix(url, "/api/") {
			r.Header.Set("Authorization", "Bearer "+issuerTok)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	rows := "/api/batches/" + b.ID + "/rows/2/evidence"
	w := send("POST", rows+"/upload", "application/json", nil)
	var up struct{ URL, Method, ContentType, Key string }
	if err := json.Unmarshal(w.Body.Bytes(), &up); err != nil || w.Code != http.StatusOK {
		t.Fatalf("presign: %d %s", w.Code, w.Body.String())
	}
	path := strings.TrimPrefix(up.URL, s.Config.Issuer.BaseURL)
	unsigned, _, _ := strings.Cut(path, "?")
	for _, tc := range []struct {
		name, url string
		want      int
	}{
		{"unsigned", unsigned, http.StatusForbidden},
		{"as presigned", path, http.StatusOK},
	} {
		if w := send("PUT", tc.url, "application/octet-stream", real.PNG); w.Code != tc.want {
			t.Fatalf("PUT %s = %d, want %d: %s", tc.name, w.Code, tc.want, w.Body.String())
		}
	}
	outside, err := s.Bucket.PresignPut(ctx, credbatch.EvidencePrefix+b.ID+"/2-forged.png", "application/octet-stream", 60e9)
	if err != nil {
		t.Fatal(err)
	}
	if w := send("PUT", strings.TrimPrefix(outside, s.Config.Issuer.BaseURL), "application/octet-stream", real.PNG); w.Code != http.StatusForbidden {
		t.Errorf("a signed PUT straight into evidence/ = %d, want 403", w.Code)
	}
	w = send("POST", rows+"/confirm", "application/json", []byte(`{"key":"`+up.Key+`","name":"site.png"}`))
	var out struct{ Row credbatch.Row }
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != http.StatusOK {
		t.Fatalf("confirm: %d %s", w.Code, w.Body.String())
	}
	if f := out.Row.Evidence.FileNamed(); !f.Stored() || f.MediaType != "image/png" || f.Size != int64(len(real.PNG)) {
		t.Errorf("row evidence %+v", f)
	}
	if _, err := s.Bucket.Head(ctx, up.Key); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Errorf("the confirmed upload is still in evidence-uploads/: %v", err)
	}
}
