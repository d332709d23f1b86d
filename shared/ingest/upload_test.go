package ingest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dirblob"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/s3blob"
	"github.com/credbatch/credbatch/shared/sqlite"
)

// TestPresignUpload: the presigned upload (the API's and the console's direct-to-bucket one)
// is bound to its key under uploads/<definition>/, its content type, its metadata (the
// uploader among them), its exact size and its lifetime; a declared size over the file
// limit, a format ingest cannot read and an unknown definition get no URL. The URLs are
// checked by the local bucket's SigV4 verifier, and S3's presigner signs the same headers.
func TestPresignUpload(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/credbatch.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	bucket, err := dirblob.New(t.TempDir(), dirblob.WithBaseURL("https://creds.test/local-bucket"),
		dirblob.WithSigning("s3cret-s3cret", func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	svc := setup(t, env{store: st, blob: bucket})
	svc.Limits.MaxFileBytes = 1 << 20
	const ttl = 15 * time.Minute
	up := ingest.Upload{Filename: "cohort.csv", DefinitionID: "web-101", Uploader: "issuer@example.com", Label: "Spring", Size: 100}
	p, err := svc.PresignUpload(ctx, up, "01jb", ttl)
	if err != nil {
		t.Fatal(err)
	}
	if p.Key != "uploads/web-101/01jb-cohort.csv" {
		t.Errorf("key %q, want uploads/web-101/01jb-cohort.csv", p.Key)
	}
	if !p.ExpiresAt.Equal(now.Add(ttl)) {
		t.Errorf("expires at %s, want %s", p.ExpiresAt, now.Add(ttl))
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if got := q.Get("X-Amz-Expires"); got != "900" {
		t.Errorf("X-Amz-Expires %q, want 900", got)
	}
	if got, want := q.Get("X-Amz-SignedHeaders"), "content-length;content-type;host;x-amz-meta-label;x-amz-meta-uploader"; got != want {
		t.Errorf("signed headers %q, want %q", got, want)
	}
	if want := map[string]string{"Content-Type": "text/csv", "x-amz-meta-uploader": "issuer@example.com", "x-amz-meta-label": "Spring"}; len(p.Headers) != len(want) {
		t.Errorf("headers %v, want %v", p.Headers, want)
	}
	send := func(size int, ctype string, after time.Duration) error {
		t.Helper()
		now = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC).Add(after)
		r := httptest.NewRequest(http.MethodPut, p.URL, strings.NewReader(strings.Repeat("x", size)))
		for k, v := range p.Headers {
			r.Header.Set(k, v)
		}
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		_, err := bucket.Verify(r, p.Key)
		return err
	}
	sends := []struct {
		name  string
		size  int
		ctype string
		after time.Duration
		want  string // "" = accepted
	}{
		{"as signed", 100, "", 0, ""},
		{"as signed, a second before expiry", 100, "", ttl - time.Second, ""},
		{"after expiry", 100, "", ttl, "expired"},
		{"a larger body", 101, "", 0, "does not match"},
		{"a smaller body", 99, "", 0, "does not match"},
		{"another content type", 100, "text/html", 0, "does not match"},
	}
	for _, tc := range sends {
		t.Run("PUT "+tc.name, func(t *testing.T) {
			err := send(tc.size, tc.ctype, tc.after)
			if tc.want == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.want != "" && (!credbatch.IsKind(err, credbatch.KindForbidden) || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want forbidden saying %q", err, tc.want)
			}
		})
	}
	refusals := []struct {
		name string
		up   func(u *ingest.Upload)
		code string
	}{
		{"over the file limit", func(u *ingest.Upload) { u.Size = 1<<20 + 1 }, credbatch.CodeFileTooLarge},
		{"a negative size", func(u *ingest.Upload) { u.Size = -1 }, "invalid_size"},
		{"a PDF", func(u *ingest.Upload) { u.Filename = "cohort.pdf" }, credbatch.CodeUnsupportedFormat},
		{"an unknown definition", func(u *ingest.Upload) { u.DefinitionID = "nope" }, credbatch.CodeUnknownDefinition},
	}
	for _, tc := range refusals {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			u := up
			tc.up(&u)
			_, err := svc.PresignUpload(ctx, u, "01jc", ttl)
			if credbatch.ErrorCode(err) != tc.code || !credbatch.IsKind(err, credbatch.KindInvalid) {
				t.Fatalf("got %v (code %q), want invalid %s", err, credbatch.ErrorCode(err), tc.code)
			}
		})
	}
	t.Run("S3 signs the same headers", func(t *testing.T) {
		client := s3.New(s3.Options{Region: "eu-west-1", Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		})})
		s3svc := setup(t, env{store: st, blob: s3blob.New(client, s3.NewPresignClient(client), "stack-123456789012-uploads")})
		p, err := s3svc.PresignUpload(ctx, up, "01jd", ttl)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(p.URL)
		if got, want := u.Query().Get("X-Amz-SignedHeaders"), "content-length;content-type;host;x-amz-meta-label;x-amz-meta-uploader"; got != want {
			t.Errorf("S3 signed headers %q, want %q", got, want)
		}
		if got := u.Query().Get("X-Amz-Expires"); got != "900" || !strings.Contains(u.Path, "/uploads/web-101/01jd-cohort.csv") {
			t.Errorf("S3 URL %s: want the key under uploads/web-101/ for 900 s", p.URL)
		}
	})
}

// TestUploadedBatch: the batch an object presigned for an uploader becomes is found by its
// key for that uploader only, and is the batch ingesting that object creates.
func TestUploadedBatch(t *testing.T) {
	e := backends[0].open(t, nil)
	svc := setup(t, e)
	ctx := context.Background()
	p, err := svc.PrepareUpload(ctx, ingest.Upload{Filename: "a.csv", DefinitionID: "web-101", Uploader: "issuer@example.com"}, "01je")
	if err != nil {
		t.Fatal(err)
	}
	key := p.Key
	info, err := e.blob.Put(ctx, key, strings.NewReader("First Name\n"), p.ContentType, p.Metadata) // as the browser's PUT stores it
	if err != nil {
		t.Fatal(err)
	}
	id := credbatch.BatchIDFor(credbatch.Source{Bucket: info.Bucket, Key: key, VersionID: info.VersionID, ETag: info.ETag})
	if got, err := svc.UploadedBatch(ctx, key, "issuer@example.com"); err != nil || got != id {
		t.Errorf("UploadedBatch = %q, %v; want %q", got, err, id)
	}
	for _, tc := range []struct{ name, key, by string }{
		{"another uploader", key, "someone@example.com"},
		{"no such object", ingest.UploadsPrefix + "web-101/none.csv", "issuer@example.com"},
		{"outside uploads/", "reports/x.xlsx", "issuer@example.com"},
	} {
		if _, err := svc.UploadedBatch(ctx, tc.key, tc.by); !credbatch.IsKind(err, credbatch.KindNotFound) {
			t.Errorf("%s: %v, want not found", tc.name, err)
		}
	}
}
