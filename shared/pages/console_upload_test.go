package pages_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// presigned is POST /upload/presign's answer.
type presigned struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Key       string            `json:"key"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expires_at"`
	Next      string            `json:"next"`
	Code      string            `json:"code"`
	Error     string            `json:"error"`
}

// TestConsolePresignedUpload: the upload page's script asks the console (session cookie +
// CSRF token, which the API's authorizer does not take) for a presigned PUT bound to the
// key, the content type, the uploader and the file's size, sends the file straight to the
// bucket, and opens the batch. A request without a session, without the CSRF token or from
// another role gets no URL; a file over the limit or empty gets none; the bucket refuses
// a body of another size; another uploader cannot open the result.
func TestConsolePresignedUpload(t *testing.T) {
	e := newConsole(t)
	page := e.do(t, request{path: "/upload", cookie: tokIssuer})
	if page.code != http.StatusOK {
		t.Fatalf("GET /upload: %d", page.code)
	}
	script := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindStringSubmatch(page.body)
	if script == nil {
		t.Fatal("the upload page has no script")
	}
	js, err := os.ReadFile("static/upload.js")
	if err != nil {
		t.Fatal(err)
	}
	if script[1] != string(js) {
		t.Error("the page's script is not static/upload.js byte for byte (its CSP hash would not match)")
	}
	sum := sha256.Sum256([]byte(script[1]))
	csp := page.hdr.Get("Content-Security-Policy")
	scriptSrc := regexp.MustCompile(`script-src ([^;]*)`).FindStringSubmatch(csp)
	if want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; scriptSrc == nil || !strings.Contains(scriptSrc[1], want) {
		t.Errorf("CSP %q: script-src lacks %q", csp, want)
	}
	if !strings.Contains(csp, "connect-src 'self' https://creds.test;") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q: want scripts to connect to this site and its bucket only, and no unsafe-inline", csp)
	}
	token := csrf(t, page.body)
	body := "First Name,Last Name,Email,Score,Issue Date\nAda,Lovelace,ada@example.com,90,2026-01-15\n"
	fields := func(tok, size string) url.Values {
		return url.Values{"csrf": {tok}, "filename": {"cohort.csv"}, "size": {size}, "definition": {"web-101"}, "label": {"Direct upload"}}
	}
	presign := func(t *testing.T, rq request) (int, presigned) {
		t.Helper()
		rq.method = http.MethodPost
		rq.path = "/upload/presign"
		got := e.do(t, rq)
		var p presigned
		if strings.HasPrefix(got.hdr.Get("Content-Type"), "application/json") {
			if err := json.Unmarshal([]byte(got.body), &p); err != nil {
				t.Fatal(err)
			}
		}
		return got.code, p
	}
	refused := []struct {
		name string
		rq   request
		want int
		code string
	}{
		{"no session", request{form: fields(token, "80")}, http.StatusForbidden, ""},
		{"no CSRF token", request{cookie: tokIssuer, form: fields("", "80")}, http.StatusForbidden, ""},
		{"a forged CSRF token", request{cookie: tokIssuer, form: fields("forged", "80")}, http.StatusForbidden, ""},
		{"an approver", request{cookie: tokApprover, form: fields(csrf(t, e.do(t, request{path: "/", cookie: tokApprover}).body), "80")}, http.StatusForbidden, ""},
		{"over the file limit", request{cookie: tokIssuer, form: fields(token, strconv.Itoa(100<<20+1))}, http.StatusBadRequest, credbatch.CodeFileTooLarge},
		{"an empty file", request{cookie: tokIssuer, form: fields(token, "0")}, http.StatusBadRequest, credbatch.CodeEmptyFile},
		{"no size", request{cookie: tokIssuer, form: fields(token, "")}, http.StatusBadRequest, "invalid_size"},
	}
	for _, tc := range refused {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			code, p := presign(t, tc.rq)
			if code != tc.want || p.Code != tc.code || p.URL != "" {
				t.Errorf("%d %+v, want %d %q and no URL", code, p, tc.want, tc.code)
			}
		})
	}

	code, p := presign(t, request{cookie: tokIssuer, form: fields(token, strconv.Itoa(len(body)))})
	if code != http.StatusCreated || p.Method != http.MethodPut {
		t.Fatalf("presign: %d %+v", code, p)
	}
	if !strings.HasPrefix(p.Key, "uploads/web-101/") || !strings.HasSuffix(p.Key, "-cohort.csv") {
		t.Errorf("key %q, want uploads/web-101/<id>-cohort.csv", p.Key)
	}
	if d := time.Until(p.ExpiresAt); d < 14*time.Minute || d > 15*time.Minute {
		t.Errorf("expires in %s, want 15 minutes", d)
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	if sh := u.Query().Get("X-Amz-SignedHeaders"); !strings.Contains(sh, "content-length") || !strings.Contains(sh, "x-amz-meta-uploader") {
		t.Errorf("signed headers %q: want the size and the uploader signed", sh)
	}
	if p.Headers["x-amz-meta-uploader"] != "issuer@example.com" || p.Headers["Content-Type"] != "text/csv" {
		t.Errorf("headers %v", p.Headers)
	}
	put := func(content string) int {
		t.Helper()
		r := httptest.NewRequest(http.MethodPut, p.URL, strings.NewReader(content))
		for k, v := range p.Headers {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		return w.Code
	}
	if got := put(body + "Grace,Hopper,grace@example.com,95,2026-01-15\n"); got != http.StatusForbidden {
		t.Errorf("PUT of a larger file than presigned: %d, want 403", got)
	}
	if got := put(body); got != http.StatusOK {
		t.Fatalf("PUT through the presigned URL: %d", got)
	}
	if got := e.do(t, request{path: p.Next, cookie: tokUploader}); got.code != http.StatusNotFound {
		t.Errorf("another issuer opening the upload: %d, want 404", got.code)
	}
	done := e.do(t, request{path: p.Next, cookie: tokIssuer})
	loc := done.hdr.Get("Location")
	if done.code != http.StatusSeeOther || !strings.HasPrefix(loc, "/batches/") || !strings.HasSuffix(loc, "?done=uploaded") {
		t.Fatalf("GET %s: %d, Location %q; want 303 to the batch", p.Next, done.code, loc)
	}
	info, err := e.st.Bucket.Head(t.Context(), p.Key)
	if err != nil {
		t.Fatal(err)
	}
	if info.Metadata["label"] != "Direct upload" || info.Metadata["uploader"] != "issuer@example.com" || info.Size != int64(len(body)) {
		t.Errorf("stored object %+v", info)
	}
	id := credbatch.BatchIDFor(credbatch.Source{Bucket: info.Bucket, Key: p.Key, VersionID: info.VersionID, ETag: info.ETag})
	if loc != "/batches/"+id+"?done=uploaded" {
		t.Errorf("done went to %q, want batch %s (the batch ingest makes of the object)", loc, id)
	}
}
