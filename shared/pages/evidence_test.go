package pages_test

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/pages"
)

// samplePNG is a small real PNG image.
func samplePNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for x := range 40 {
		for y := range 30 {
			img.Set(x, y, color.RGBA{uint8(x * 6), uint8(y * 8), 120, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// samplePDF is a minimal one-page PDF of n bytes or more (padded with a comment).
func samplePDF(n int) []byte {
	body := "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
		"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]>>endobj\ntrailer<</Root 1 0 R>>\n"
	if pad := n - len(body) - 6; pad > 0 {
		body += "%" + strings.Repeat("x", pad) + "\n"
	}
	return []byte(body + "%%EOF\n")
}

func sri(data []byte) string {
	sum := sha512.Sum384(data)
	return "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
}

// issueWithEvidence stores the file as row `row`'s evidence of batch-1 (at its EvidenceKey)
// and issues a credential whose document names it.
func (e *env) issueWithEvidence(t *testing.T, id string, row int, name, mediaType string, data []byte) credbatch.Credential {
	t.Helper()
	digest := sri(data)
	key, err := credbatch.EvidenceKey("batch-1", row, digest, mediaType)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Bucket.Put(context.Background(), key, bytes.NewReader(data), mediaType, nil); err != nil {
		t.Fatal(err)
	}
	return e.issue(t, credbatch.Credential{ID: id, RowNumber: row, Email: "ann@example.com", Name: "Ann Lee", IssueDate: "2026-01-15",
		Attributes: map[string]string{"Score": "90"},
		Evidence: &credbatch.Evidence{Narrative: "Observed on site.", File: &credbatch.EvidenceFile{Name: name, Key: key, MediaType: mediaType,
			Size: int64(len(data)), Digest: digest}}}, nil)
}

// TestCredentialEvidenceServed: the evidence URL the credential names serves the stored
// bytes (hashing to its digestSRI) with their type, an inline disposition with a safe name,
// nosniff and caching headers; a revoked credential's evidence is 410 for the public and
// 200 for signed-in staff; a removed file is 410 "Evidence removed"; a file over the
// streaming limit is a redirect to a short-lived presigned URL.
func TestCredentialEvidenceServed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pngData, pdfData := samplePNG(t), samplePDF(2000)
	img := e.issueWithEvidence(t, "cred-png", 2, `site "photo" é.png`, "image/png", pngData)
	pdf := e.issueWithEvidence(t, "cred-pdf", 3, "report.PDF", "application/pdf", pdfData)
	e.issue(t, credbatch.Credential{ID: "cred-none", RowNumber: 4, Email: "bo@example.com", Name: "Bo Chen", IssueDate: "2026-01-15",
		Attributes: map[string]string{"Score": "70"}}, nil)

	t.Run("document names the URL served", func(t *testing.T) {
		doc := e.do(t, request{path: "/credentials/cred-png"})
		if doc.code != http.StatusOK {
			t.Fatalf("credential page %d", doc.code)
		}
		if !strings.Contains(img.JWT, `"id":"`+baseURL+`/credentials/cred-png/evidence/1"`) {
			t.Fatalf("the signed document does not name %s/credentials/cred-png/evidence/1:\n%s", baseURL, img.JWT)
		}
		// The one handler (site.New, as the api function and the local stack build it) routes it.
		w := httptest.NewRecorder()
		e.st.Handler(e.tokens).ServeHTTP(w, httptest.NewRequest(http.MethodGet, baseURL+"/credentials/cred-png/evidence/1", nil))
		if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), pngData) {
			t.Errorf("through site.New: status %d, %d bytes; want 200 with the file", w.Code, w.Body.Len())
		}
	})

	tests := []struct {
		name, id, mediaType, filename string
		data                          []byte
	}{
		{"image", img.ID, "image/png", "site -photo- é.png", pngData},
		{"pdf", pdf.ID, "application/pdf", "report.PDF", pdfData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.do(t, request{path: "/credentials/" + tt.id + "/evidence/1"})
			if got.code != http.StatusOK {
				t.Fatalf("status %d, want 200:\n%s", got.code, got.body)
			}
			if got.body != string(tt.data) {
				t.Fatalf("served %d bytes, want the %d stored", len(got.body), len(tt.data))
			}
			c, err := e.st.Store.GetCredential(ctx, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if d := sri([]byte(got.body)); !strings.Contains(c.JWT, `"digestSRI":"`+d+`"`) {
				t.Errorf("served bytes hash to %s, which the credential does not record", d)
			}
			disp, params, err := mime.ParseMediaType(got.hdr.Get("Content-Disposition"))
			if err != nil || disp != "inline" || params["filename"] != tt.filename {
				t.Errorf("Content-Disposition %q (%v): want inline, filename %q", got.hdr.Get("Content-Disposition"), err, tt.filename)
			}
			for h, want := range map[string]string{"Content-Type": tt.mediaType, "X-Content-Type-Options": "nosniff",
				"Cache-Control": "public, max-age=300", "ETag": `"` + sri(tt.data) + `"`, "X-Frame-Options": "SAMEORIGIN"} {
				if got.hdr.Get(h) != want {
					t.Errorf("%s = %q, want %q", h, got.hdr.Get(h), want)
				}
			}
			if csp := got.hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
				t.Errorf("Content-Security-Policy %q: want default-src 'none' and no script", csp)
			}
			again := e.do(t, request{path: "/credentials/" + tt.id + "/evidence/1", header: map[string]string{"If-None-Match": got.hdr.Get("ETag")}})
			if again.code != http.StatusNotModified || again.body != "" {
				t.Errorf("If-None-Match: status %d with %d bytes, want 304 without a body", again.code, len(again.body))
			}
		})
	}

	t.Run("not found", func(t *testing.T) {
		for _, p := range []string{"/credentials/cred-none/evidence/1", "/credentials/missing/evidence/1", "/credentials/cred-png/evidence/2"} {
			if got := e.do(t, request{path: p}); got.code != http.StatusNotFound || !strings.Contains(got.body, "Evidence not found") {
				t.Errorf("%s: status %d, want 404 Evidence not found", p, got.code)
			}
		}
	})

	t.Run("revoked: 410 public, 200 staff", func(t *testing.T) {
		if _, err := e.st.Flow.Revoke(ctx, pdf.ID, "admin@example.com", "issued in error"); err != nil {
			t.Fatal(err)
		}
		p := "/credentials/" + pdf.ID + "/evidence/1"
		if got := e.do(t, request{path: p}); got.code != http.StatusGone || !strings.Contains(got.body, "revoked") {
			t.Errorf("public: status %d, want 410 saying revoked:\n%s", got.code, got.body)
		}
		for _, rq := range []request{{path: p, cookie: tokIssuer}, {path: p, cookie: tokApprover}, {path: p, bearer: tokAdmin}} {
			got := e.do(t, rq)
			if got.code != http.StatusOK || got.body != string(pdfData) {
				t.Errorf("staff (%+v): status %d, want 200 with the file", rq, got.code)
			}
			if cc := got.hdr.Get("Cache-Control"); cc != "private, no-store" {
				t.Errorf("staff view of a revoked credential's evidence: Cache-Control %q, want private, no-store", cc)
			}
		}
		if got := e.do(t, request{path: p, sid: "not-a-session"}); got.code != http.StatusGone {
			t.Errorf("unknown session: status %d, want 410", got.code)
		}
	})

	t.Run("removed: 410", func(t *testing.T) {
		c := e.issueWithEvidence(t, "cred-gone", 5, "gone.png", "image/png", pngData[:len(pngData)-1])
		path, err := e.st.Bucket.Path(e.mustKey(t, c))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		got := e.do(t, request{path: "/credentials/cred-gone/evidence/1"})
		if got.code != http.StatusGone || !strings.Contains(got.body, "Evidence removed") || !strings.Contains(got.body, "digest") {
			t.Errorf("status %d, want 410 Evidence removed:\n%s", got.code, text(got.body))
		}
	})

	t.Run("large file: redirect to a presigned URL", func(t *testing.T) {
		big := samplePDF(pages.MaxStreamedEvidence + 1)
		c := e.issueWithEvidence(t, "cred-big", 6, "big.pdf", "application/pdf", big)
		got := e.do(t, request{path: "/credentials/cred-big/evidence/1"})
		if got.code != http.StatusFound {
			t.Fatalf("status %d, want 302", got.code)
		}
		u, err := url.Parse(got.hdr.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(u.Path, e.mustKey(t, c)) || u.Query().Get("X-Amz-Expires") != "300" {
			t.Errorf("Location %s: want the file's presigned URL for 5 minutes", u)
		}
		if got.hdr.Get("Cache-Control") != "private, no-store" {
			t.Errorf("Cache-Control %q, want private, no-store (the URL expires)", got.hdr.Get("Cache-Control"))
		}
		// The local stack answers the bucket's presigned URLs as S3 does.
		w := httptest.NewRecorder()
		e.st.Handler(e.tokens).ServeHTTP(w, httptest.NewRequest(http.MethodGet, u.String(), nil))
		if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), big) || w.Header().Get("Content-Type") != "application/pdf" {
			t.Errorf("presigned URL: status %d, %d bytes, %s; want 200 with the file as application/pdf", w.Code, w.Body.Len(), w.Header().Get("Content-Type"))
		}
	})
}

// mustKey is the blob key of a credential's evidence file.
func (e *env) mustKey(t *testing.T, c credbatch.Credential) string {
	t.Helper()
	ev, err := e.st.Flow.Evidence(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return ev.Key
}
