package dirblob_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/blobtest"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dirblob"
)

func TestContractSigned(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) credbatch.Blob {
		return newStore(t, dirblob.WithBaseURL("http://127.0.0.1:8080/local-bucket"), dirblob.WithSigning("secret", nil))
	})
}

// request builds what a client sends to a presigned URL: the method, the URL as given, and
// headers.
func request(t *testing.T, method, raw string, headers map[string]string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, raw, nil)
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	return r
}

// TestVerifyPresigned: only the URL the store signed, used as signed and before it expires,
// passes; the metadata (the uploader) is what was signed, never what a client adds.
func TestVerifyPresigned(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	const base = "http://127.0.0.1:8080/local-bucket"
	s := newStore(t, dirblob.WithBaseURL(base), dirblob.WithSigning("s3cret-s3cret", clock))
	other := newStore(t, dirblob.WithBaseURL(base), dirblob.WithSigning("another-secret", clock))
	ctx := t.Context()
	key := "uploads/web-101/abc-cohort.csv"
	meta := map[string]string{"uploader": "issuer@localhost", "label": "Cohort A"}
	put, err := s.PresignPutMetadata(ctx, key, "text/csv", meta, 0, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	get, err := s.PresignGet(ctx, "reports/b1-errors.xlsx", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.PresignPutMetadata(ctx, key, "text/csv", meta, 0, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{put, get} {
		q, _ := url.Parse(u)
		for _, p := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
			if q.Query().Get(p) == "" {
				t.Errorf("%s lacks %s", u, p)
			}
		}
	}
	if sh := mustQuery(t, put, "X-Amz-SignedHeaders"); sh != "content-type;host;x-amz-meta-label;x-amz-meta-uploader" {
		t.Errorf("signed headers %q: want the content type and every metadata header", sh)
	}
	good := map[string]string{"Content-Type": "text/csv", "x-amz-meta-uploader": "issuer@localhost", "x-amz-meta-label": "Cohort A"}
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for a, b := range good {
			h[a] = b
		}
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	unsigned := base + "/" + key
	tests := []struct {
		name    string
		method  string
		url     string
		key     string
		headers map[string]string
		after   time.Duration
		want    string // "" = allowed; else a word of the refusal
	}{
		{"the upload as signed", "PUT", put, key, good, 0, ""},
		{"just before expiry", "PUT", put, key, good, 15*time.Minute - time.Second, ""},
		{"expired", "PUT", put, key, good, 15 * time.Minute, "expired"},
		{"no signature (anonymous PUT)", "PUT", unsigned, key, good, 0, "not presigned"},
		{"another uploader in the header", "PUT", put, key, with("x-amz-meta-uploader", "approver@localhost"), 0, "does not match"},
		{"a metadata header added", "PUT", put, key, with("x-amz-meta-date_order", "MDY"), 0, "not signed"},
		{"a signed header left out", "PUT", put, key, with("x-amz-meta-label", ""), 0, "does not match"},
		{"another content type", "PUT", put, key, with("Content-Type", "text/html"), 0, "does not match"},
		{"the URL used for another key", "PUT", put, "uploads/web-101/other.csv", good, 0, "does not match"},
		{"the upload URL used to download", "GET", put, key, nil, 0, "does not match"},
		{"signed with another secret", "PUT", forged, key, good, 0, "does not match"},
		{"the signature altered", "PUT", strings.Replace(put, "X-Amz-Signature=", "X-Amz-Signature=0", 1), key, good, 0, "does not match"},
		{"the expiry lengthened", "PUT", strings.Replace(put, "X-Amz-Expires=900", "X-Amz-Expires=9000", 1), key, good, 20 * time.Minute, "does not match"},
		{"the download as signed", "GET", get, "reports/b1-errors.xlsx", nil, 0, ""},
		{"the download without its signature", "GET", base + "/reports/b1-errors.xlsx", "reports/b1-errors.xlsx", nil, 0, "not presigned"},
		{"the download URL used for another report", "GET", get, "reports/b2-errors.xlsx", nil, 0, "does not match"},
		{"the download URL used to upload", "PUT", get, "reports/b1-errors.xlsx", nil, 0, "does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).Add(tc.after)
			got, err := s.Verify(request(t, tc.method, tc.url, tc.headers), tc.key)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.method == "PUT" && (got["uploader"] != "issuer@localhost" || got["label"] != "Cohort A" || len(got) != 2) {
					t.Errorf("metadata %v, want the signed uploader and label", got)
				}
				return
			}
			if !credbatch.IsKind(err, credbatch.KindForbidden) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (kind %s), want a forbidden error saying %q", err, credbatch.ErrorKind(err), tc.want)
			}
		})
	}
	if _, err := s.PresignGet(ctx, "reports/x.xlsx", 8*24*time.Hour); !credbatch.IsKind(err, credbatch.KindInvalid) {
		t.Errorf("an 8-day URL: %v, want invalid (7 days at most, as on S3)", err)
	}
	unsignedStore := newStore(t, dirblob.WithBaseURL(base))
	if _, err := unsignedStore.Verify(request(t, "PUT", put, good), key); !credbatch.IsKind(err, credbatch.KindForbidden) {
		t.Errorf("a store without a secret verified a request: %v", err)
	}
}

func mustQuery(t *testing.T, raw, name string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(name)
}

// TestVerifyPresignedSize: a URL presigned for a size signs Content-Length, so only a body of
// exactly that many bytes passes (the console's bound on a direct-to-bucket upload).
func TestVerifyPresignedSize(t *testing.T) {
	const base = "http://127.0.0.1:8080/local-bucket"
	s := newStore(t, dirblob.WithBaseURL(base), dirblob.WithSigning("s3cret-s3cret", nil))
	key := "uploads/web-101/abc-cohort.csv"
	put, err := s.PresignPutMetadata(t.Context(), key, "text/csv", map[string]string{"uploader": "issuer@localhost"}, 11, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if sh := mustQuery(t, put, "X-Amz-SignedHeaders"); sh != "content-length;content-type;host;x-amz-meta-uploader" {
		t.Errorf("signed headers %q: want content-length signed", sh)
	}
	tests := []struct {
		name string
		body string
		n    int64 // Content-Length sent; -1 = chunked
		want string
	}{
		{"the signed size", "hello world", 11, ""},
		{"one byte more", "hello world!", 12, "does not match"},
		{"one byte less", "hello worl", 10, "does not match"},
		{"no length (chunked)", "hello world", -1, "Content-Length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPut, put, strings.NewReader(tc.body))
			r.ContentLength = tc.n
			r.Header.Set("Content-Type", "text/csv")
			r.Header.Set("x-amz-meta-uploader", "issuer@localhost")
			_, err := s.Verify(r, key)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !credbatch.IsKind(err, credbatch.KindForbidden) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a forbidden error saying %q", err, tc.want)
			}
		})
	}
}
