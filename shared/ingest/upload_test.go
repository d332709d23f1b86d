package ingest_test

import (
	"bytes"
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

// TestPresignEvidenceZip: the presigned upload of a spreadsheet's evidence zip is bound to
// the spreadsheet's key plus .zip, application/zip, the uploader and its exact size; it is
// given before the spreadsheet is there (the zip first) and after it for its uploader while
// the batch is in review; a key that is not a spreadsheet upload's, a bad or too large size,
// another uploader's spreadsheet and a batch past review get none. The URLs are checked by
// the local bucket's SigV4 verifier.
func TestPresignEvidenceZip(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/credbatch.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	bucket, err := dirblob.New(t.TempDir(), dirblob.WithBucket("local"), dirblob.WithBaseURL("https://creds.test/local-bucket"),
		dirblob.WithSigning("s3cret-s3cret", func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	e := env{store: st, blob: bucket, bucket: "local"}
	svc := evidenceSetup(t, e)
	const ttl, by = 15 * time.Minute, "issuer@example.com"
	sheet, err := svc.PrepareUpload(ctx, ingest.Upload{Filename: "roster.csv", DefinitionID: "site", Uploader: by}, "01jz")
	if err != nil {
		t.Fatal(err)
	}

	// The zip first: the spreadsheet is not there yet.
	p, err := svc.PresignEvidenceZip(ctx, sheet.Key, by, 2048, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if p.Key != "uploads/site/01jz-roster.csv.zip" || !p.ExpiresAt.Equal(now.Add(ttl)) {
		t.Errorf("key %q expires %s, want uploads/site/01jz-roster.csv.zip in 15 minutes", p.Key, p.ExpiresAt)
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.Query().Get("X-Amz-SignedHeaders"), "content-length;content-type;host;x-amz-meta-uploader"; got != want {
		t.Errorf("signed headers %q, want %q", got, want)
	}
	if len(p.Headers) != 2 || p.Headers["Content-Type"] != "application/zip" || p.Headers["x-amz-meta-uploader"] != by {
		t.Errorf("headers %v, want Content-Type application/zip and the uploader", p.Headers)
	}
	for _, tc := range []struct {
		name  string
		size  int
		ctype string
		ok    bool
	}{{"as signed", 2048, "", true}, {"a larger body", 2049, "", false}, {"as a spreadsheet", 2048, "text/csv", false}} {
		r := httptest.NewRequest(http.MethodPut, p.URL, strings.NewReader(strings.Repeat("z", tc.size)))
		for k, v := range p.Headers {
			r.Header.Set(k, v)
		}
		if tc.ctype != "" {
			r.Header.Set("Content-Type", tc.ctype)
		}
		if _, err := bucket.Verify(r, p.Key); (err == nil) != tc.ok {
			t.Errorf("PUT %s: %v, want accepted %v", tc.name, err, tc.ok)
		}
	}

	refusals := []struct {
		name, key string
		size      int64
		kind      credbatch.Kind
		code      string
	}{
		{"not an upload key", "reports/roster.csv", 10, credbatch.KindInvalid, ingest.CodeInvalidUploadKey},
		{"a zip's key", sheet.Key + ".zip", 10, credbatch.KindInvalid, ingest.CodeInvalidUploadKey},
		{"no key", "", 10, credbatch.KindInvalid, ingest.CodeInvalidUploadKey},
		{"a PDF's key", "uploads/site/01jz-roster.pdf", 10, credbatch.KindInvalid, ingest.CodeInvalidUploadKey},
		{"a negative size", sheet.Key, -1, credbatch.KindInvalid, "invalid_size"},
		{"over the zip limit", sheet.Key, ingest.MaxEvidenceZipBytes + 1, credbatch.KindInvalid, credbatch.CodeZipTooLarge},
	}
	for _, tc := range refusals {
		if _, err := svc.PresignEvidenceZip(ctx, tc.key, by, tc.size, ttl); !credbatch.IsKind(err, tc.kind) || credbatch.ErrorCode(err) != tc.code {
			t.Errorf("%s: %v (code %q), want %s %s", tc.name, err, credbatch.ErrorCode(err), tc.kind, tc.code)
		}
	}

	// The spreadsheet is there, not ingested yet, then in review (rejected: its file is
	// missing), then past review.
	if _, err := bucket.Put(ctx, sheet.Key, strings.NewReader(evHdr+"site,Ann,Lee,ann@example.com,,,ann.pdf\n"), sheet.ContentType, sheet.Metadata); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PresignEvidenceZip(ctx, sheet.Key, by, 0, ttl); err != nil {
		t.Errorf("the spreadsheet not ingested yet: %v", err)
	}
	if _, err := svc.PresignEvidenceZip(ctx, sheet.Key, "someone@example.com", 0, ttl); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Errorf("another uploader's spreadsheet: %v, want not found", err)
	}
	info, _ := bucket.Head(ctx, sheet.Key)
	b, err := svc.Ingest(ctx, ingest.Object{Bucket: "local", Key: sheet.Key, ETag: info.ETag, VersionID: info.VersionID})
	if err != nil || b.Status != credbatch.BatchRejected {
		t.Fatalf("ingest: %s, %v; want rejected", b.Status, err)
	}
	if _, err := svc.PresignEvidenceZip(ctx, sheet.Key, by, 0, ttl); err != nil {
		t.Errorf("the batch in review: %v", err)
	}
	if _, err := st.TransitionBatch(ctx, b.ID, credbatch.BatchRejected, credbatch.BatchCancelled, credbatch.BatchChange{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PresignEvidenceZip(ctx, sheet.Key, by, 0, ttl); !credbatch.IsKind(err, credbatch.KindConflict) || credbatch.ErrorCode(err) != "batch_not_amendable" {
		t.Errorf("the batch cancelled: %v, want conflict batch_not_amendable", err)
	}
}

// TestPutUploadWithEvidenceZip: the console's form upload stores the zip beside the file
// before the file (with the uploader), so that the file's ingest reads it.
func TestPutUploadWithEvidenceZip(t *testing.T) {
	files := realFiles(t)
	forEachBackend(t, func(t *testing.T, e env) {
		ctx := context.Background()
		svc := evidenceSetup(t, e)
		svc.IDs = func() string { return "01jy" }
		id, err := svc.PutUpload(ctx, ingest.Upload{Filename: "roster.csv", DefinitionID: "site", Uploader: "issuer@example.com",
			EvidenceZip: bytes.NewReader(makeZip(t, zipEntry{name: "ann.pdf", data: files.PDF}))},
			strings.NewReader(evHdr+"site,Ann,Lee,ann@example.com,,,ann.pdf\n"))
		if err != nil {
			t.Fatal(err)
		}
		const key = "uploads/site/01jy-roster.csv"
		zi, err := e.blob.Head(ctx, key+".zip")
		if err != nil || zi.ContentType != "application/zip" || zi.Metadata["uploader"] != "issuer@example.com" {
			t.Fatalf("the zip beside the file: %+v, %v", zi, err)
		}
		info, _ := e.blob.Head(ctx, key)
		b, err := svc.Ingest(ctx, ingest.Object{Bucket: e.bucket, Key: key, ETag: info.ETag, VersionID: info.VersionID})
		if err != nil || b.ID != id || b.Status != credbatch.BatchParsed {
			t.Fatalf("ingest: %s %s, %v; want batch %s parsed", b.ID, b.Status, err, id)
		}
		storedFile(t, e, id, 2, "ann.pdf", "application/pdf", files.PDF)
	})
}

// TestRemapTakesTheEvidenceZip: a file whose columns are assigned is uploaded again as a new
// batch; its evidence zip goes with it, so the new batch's rows get their files.
func TestRemapTakesTheEvidenceZip(t *testing.T) {
	files := realFiles(t)
	forEachBackend(t, func(t *testing.T, e env) {
		ctx := context.Background()
		svc := evidenceSetup(t, e)
		const key = "uploads/site/cols.csv"
		upload(t, e, key+".zip", makeZip(t, zipEntry{name: "ann.pdf", data: files.PDF}), nil)
		handle(t, svc, upload(t, e, key, []byte("ID,Given,Family,Mail Adresse,Photo\nsite,Ann,Lee,ann@example.com,ann.pdf\n"), nil))
		b := onlyBatch(t, e.store)
		if b.Status != credbatch.BatchNeedsMapping {
			t.Fatalf("status = %s, want needs_mapping", b.Status)
		}
		svc.IDs = func() string { return "01jx" }
		id, err := svc.Remap(ctx, b.ID, "issuer@example.com", map[string]credbatch.Field{"Given": credbatch.FieldFirstName,
			"Family": credbatch.FieldLastName, "Mail Adresse": credbatch.FieldEmail, "Photo": credbatch.FieldEvidenceFile})
		if err != nil {
			t.Fatal(err)
		}
		const next = "uploads/site/01jx-cols.csv"
		info, err := e.blob.Head(ctx, next)
		if err != nil {
			t.Fatal(err)
		}
		nb, err := svc.Ingest(ctx, ingest.Object{Bucket: e.bucket, Key: next, ETag: info.ETag, VersionID: info.VersionID})
		if err != nil || nb.ID != id || nb.Status != credbatch.BatchParsed {
			t.Fatalf("the remapped file: %s %s %+v, %v; want batch %s parsed", nb.ID, nb.Status, nb.Findings, err, id)
		}
		storedFile(t, e, id, 2, "ann.pdf", "application/pdf", files.PDF)
	})
}

// TestRenewUpload: a spreadsheet sent after its evidence zip gets its URL signed again for
// the same key (the first may have expired while the zip was sent), for its uploader only,
// while nothing is there yet, and only for the key its own options give.
func TestRenewUpload(t *testing.T) {
	ctx := context.Background()
	e := backends[0].open(t, nil)
	svc := evidenceSetup(t, e)
	const ttl, by = 15 * time.Minute, "issuer@example.com"
	up := ingest.Upload{Filename: "web-10-roster.csv", DefinitionID: "site", Uploader: by, Label: "Spring", Size: 64}
	first, err := svc.PresignUpload(ctx, up, "01jw", ttl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RenewUpload(ctx, up, first.Key, ttl); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Errorf("no zip yet: %v, want not found", err)
	}
	if _, err := e.blob.Put(ctx, first.Key+".zip", strings.NewReader("zip"), ingest.ContentTypeZip, map[string]string{"uploader": by}); err != nil {
		t.Fatal(err)
	}
	again, err := svc.RenewUpload(ctx, up, first.Key, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if again.Key != first.Key || len(again.Headers) != len(first.Headers) || again.Headers["x-amz-meta-label"] != "Spring" {
		t.Errorf("renewed %+v, want the same key and headers as %+v", again, first)
	}
	for _, tc := range []struct {
		name string
		up   func(u *ingest.Upload)
		key  string
		kind credbatch.Kind
	}{
		{"another uploader", func(u *ingest.Upload) { u.Uploader = "someone@example.com" }, first.Key, credbatch.KindNotFound},
		{"another file name", func(u *ingest.Upload) { u.Filename = "other.csv" }, first.Key, credbatch.KindInvalid},
		{"another definition", func(u *ingest.Upload) { u.DefinitionID = "visit" }, first.Key, credbatch.KindInvalid},
		{"a key of another folder", func(*ingest.Upload) {}, "uploads/site/x/01jw-web-10-roster.csv", credbatch.KindInvalid},
		{"over the file limit", func(u *ingest.Upload) { u.Size = 1 << 40 }, first.Key, credbatch.KindInvalid},
	} {
		u := up
		tc.up(&u)
		if _, err := svc.RenewUpload(ctx, u, tc.key, ttl); !credbatch.IsKind(err, tc.kind) {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.kind)
		}
	}
	if _, err := e.blob.Put(ctx, first.Key, strings.NewReader("ID\n"), "text/csv", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RenewUpload(ctx, up, first.Key, ttl); credbatch.ErrorCode(err) != "upload_exists" {
		t.Errorf("after the spreadsheet arrived: %v, want upload_exists", err)
	}
}
