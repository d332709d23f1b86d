package pages_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/infra/local/stack"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
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

// TestConsoleEvidenceZipUpload: the upload page takes an evidence zip beside the
// spreadsheet. Its script asks POST /upload/evidence-zip (session + CSRF) for a presigned
// PUT of the spreadsheet's key plus .zip (application/zip, the uploader and the size
// signed) and sends the zip before the spreadsheet (whose URL it then has signed again, for
// the same key), whose ingest then stores the row's file;
// without JavaScript the form posts both files and the zip is stored first. A request
// without a session, without the CSRF token or from an approver gets no URL; an empty zip,
// no size and a key that is not a spreadsheet's get none; another issuer's uploaded
// spreadsheet is not found.
func TestConsoleEvidenceZipUpload(t *testing.T) {
	e := newConsole(t)
	ctx := t.Context()
	f, err := credbatch.ParseDefinitions(strings.NewReader(`{"definitions":[{"id":"site","name":"Site Induction",
		"evidence":{"policy":"required"},"approval_required":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.LoadDefinitions(ctx, f.Definitions); err != nil {
		t.Fatal(err)
	}
	page := e.do(t, request{path: "/upload", cookie: tokIssuer})
	if !strings.Contains(page.body, `id="evidence_zip"`) || !strings.Contains(page.body, `data-presign-zip="/upload/evidence-zip"`) {
		t.Fatal("the upload page has no evidence zip field")
	}
	token := csrf(t, page.body)
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	zipOf := func(name string) []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		w, _ := zw.Create(name)
		w.Write(img.Bytes())
		zw.Close()
		return b.Bytes()
	}
	sheet, zipBody := "ID,First Name,Last Name,Email,Evidence File\nsite,Ann,Lee,ann@example.com,ann.png\n", zipOf("ann.png")
	post := func(t *testing.T, path string, rq request) (int, presigned) {
		t.Helper()
		rq.method, rq.path = http.MethodPost, path
		got := e.do(t, rq)
		var p presigned
		if strings.HasPrefix(got.hdr.Get("Content-Type"), "application/json") {
			if err := json.Unmarshal([]byte(got.body), &p); err != nil {
				t.Fatal(err)
			}
		}
		return got.code, p
	}
	put := func(t *testing.T, p presigned, body []byte) int {
		t.Helper()
		r := httptest.NewRequest(http.MethodPut, p.URL, bytes.NewReader(body))
		for k, v := range p.Headers {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		return w.Code
	}
	code, p := post(t, "/upload/presign", request{cookie: tokIssuer, form: url.Values{"csrf": {token}, "filename": {"roster.csv"},
		"size": {strconv.Itoa(len(sheet))}, "definition": {"site"}}})
	if code != http.StatusCreated {
		t.Fatalf("presign the spreadsheet: %d %+v", code, p)
	}
	zf := func(tok, key, size string) url.Values { return url.Values{"csrf": {tok}, "key": {key}, "size": {size}} }
	size := strconv.Itoa(len(zipBody))
	refused := []struct {
		name string
		rq   request
		want int
		code string
	}{
		{"no session", request{form: zf(token, p.Key, size)}, http.StatusForbidden, ""},
		{"no CSRF token", request{cookie: tokIssuer, form: zf("", p.Key, size)}, http.StatusForbidden, ""},
		{"an approver", request{cookie: tokApprover, form: zf(csrf(t, e.do(t, request{path: "/", cookie: tokApprover}).body), p.Key, size)}, http.StatusForbidden, ""},
		{"an empty zip", request{cookie: tokIssuer, form: zf(token, p.Key, "0")}, http.StatusBadRequest, credbatch.CodeEmptyFile},
		{"no size", request{cookie: tokIssuer, form: zf(token, p.Key, "")}, http.StatusBadRequest, "invalid_size"},
		{"not a spreadsheet's key", request{cookie: tokIssuer, form: zf(token, "uploads/site/x.zip", size)}, http.StatusBadRequest, ingest.CodeInvalidUploadKey},
	}
	for _, tc := range refused {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			code, z := post(t, "/upload/evidence-zip", tc.rq)
			if code != tc.want || z.Code != tc.code || z.URL != "" {
				t.Errorf("%d %+v, want %d %q and no URL", code, z, tc.want, tc.code)
			}
		})
	}
	code, z := post(t, "/upload/evidence-zip", request{cookie: tokIssuer, form: zf(token, p.Key, size)})
	if code != http.StatusCreated || z.Key != p.Key+".zip" || z.Method != http.MethodPut || z.Headers["Content-Type"] != "application/zip" ||
		z.Headers["x-amz-meta-uploader"] != "issuer@example.com" {
		t.Fatalf("presign the zip: %d %+v", code, z)
	}
	if u, _ := url.Parse(z.URL); !strings.Contains(u.Query().Get("X-Amz-SignedHeaders"), "content-length") {
		t.Errorf("zip URL %s: the size is not signed", z.URL)
	}
	if got := put(t, z, append(zipBody, 0)); got != http.StatusForbidden {
		t.Errorf("PUT of a larger zip than presigned: %d, want 403", got)
	}
	if got := put(t, z, zipBody); got != http.StatusOK {
		t.Fatalf("PUT the zip: %d", got)
	}
	// The script signs the spreadsheet again once the zip is there (the first URL may have
	// expired meanwhile): the same key, for its uploader only.
	renew := func(tok string) url.Values {
		return url.Values{"csrf": {tok}, "filename": {"roster.csv"}, "size": {strconv.Itoa(len(sheet))}, "definition": {"site"}, "key": {p.Key}}
	}
	if code, q := post(t, "/upload/presign", request{cookie: tokUploader, form: renew(csrf(t, e.do(t, request{path: "/", cookie: tokUploader}).body))}); code != http.StatusNotFound || q.URL != "" {
		t.Errorf("another issuer renewing the upload: %d %+v, want 404", code, q)
	}
	code, p2 := post(t, "/upload/presign", request{cookie: tokIssuer, form: renew(token)})
	if code != http.StatusCreated || p2.Key != p.Key || p2.Next != p.Next {
		t.Fatalf("renew the spreadsheet's URL: %d %+v, want the key %s", code, p2, p.Key)
	}
	if got := put(t, p2, []byte(sheet)); got != http.StatusOK {
		t.Fatalf("PUT the spreadsheet: %d", got)
	}
	if code, z := post(t, "/upload/evidence-zip", request{cookie: tokUploader, form: zf(csrf(t, e.do(t, request{path: "/", cookie: tokUploader}).body), p.Key, size)}); code != http.StatusNotFound || z.URL != "" {
		t.Errorf("another issuer's spreadsheet: %d %+v, want 404", code, z)
	}
	b := e.ingested(t, func(b credbatch.Batch) bool { return b.Source.Key == p.Key })
	e.hasStoredFile(t, b, img.Bytes())

	// Without JavaScript: both files in the form.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", token)
	mw.WriteField("definition", "site")
	fw, _ := mw.CreateFormFile("file", "form.csv")
	fw.Write([]byte(sheet))
	fw, _ = mw.CreateFormFile("evidence_zip", "form.csv.zip")
	fw.Write(zipBody)
	mw.Close()
	got := e.do(t, request{method: http.MethodPost, path: "/upload", cookie: tokIssuer,
		header: map[string]string{"Content-Type": mw.FormDataContentType()}, raw: body.Bytes()})
	if got.code != http.StatusSeeOther {
		t.Fatalf("POST /upload with a zip: %d %s", got.code, text(got.body))
	}
	id := strings.TrimSuffix(strings.TrimPrefix(got.hdr.Get("Location"), "/batches/"), "?done=uploaded")
	fb := e.ingested(t, func(b credbatch.Batch) bool { return b.ID == id })
	zi, err := e.st.Bucket.Head(ctx, fb.Source.Key+".zip")
	if err != nil || zi.Metadata["uploader"] != "issuer@example.com" || !strings.HasSuffix(fb.Source.Key, "-form.csv") {
		t.Fatalf("the form's zip beside %q: %+v, %v", fb.Source.Key, zi, err)
	}
	e.hasStoredFile(t, fb, img.Bytes())
}

// ingested runs the drop-folder watcher until it has ingested a batch that match accepts.
func (e *env) ingested(t *testing.T, match func(credbatch.Batch) bool) credbatch.Batch {
	t.Helper()
	w := &stack.Watcher{Stack: e.st, Settle: 20 * time.Millisecond}
	for i := 0; i < 200; i++ {
		got, err := w.Scan(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range got {
			if match(b) {
				return b
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the watcher ingested no such batch")
	return credbatch.Batch{}
}

// hasStoredFile checks that row 2 of the batch is valid with want stored as its evidence.
func (e *env) hasStoredFile(t *testing.T, b credbatch.Batch, want []byte) {
	t.Helper()
	r, err := e.st.Store.GetRow(t.Context(), b.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	f := r.Evidence.FileNamed()
	if r.Status != credbatch.RowValid || !f.Stored() { // (valid: the batch awaits approval)
		t.Fatalf("batch %s (%s) row 2: %s, evidence %+v, findings %+v", b.ID, b.Status, r.Status, r.Evidence, r.Findings)
	}
	rc, _, err := e.st.Bucket.Get(t.Context(), f.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, _ := io.ReadAll(rc); !bytes.Equal(got, want) || f.MediaType != "image/png" {
		t.Errorf("stored %d bytes of %s, want the zip's %d bytes of image/png", len(got), f.MediaType, len(want))
	}
}
