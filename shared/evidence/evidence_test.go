package evidence_test

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"image"
	"image/color"
	"image/gif"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/credbatch/credbatch/shared/awstest"
	"github.com/credbatch/credbatch/shared/blobtest"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dirblob"
	"github.com/credbatch/credbatch/shared/evidence"
	"github.com/credbatch/credbatch/shared/evidence/evidencetest"
	"github.com/credbatch/credbatch/shared/s3blob"
)

func gifBytes(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := gif.Encode(&buf, image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.Black, color.White}), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sri(b []byte) string {
	s := sha512.Sum384(b)
	return "sha384-" + base64.StdEncoding.EncodeToString(s[:])
}

// TestRead: real PNG, JPEG (Pillow) and PDF (LibreOffice) files are recognised by content;
// a name that lies about the type, a type the definition does not allow, content of no known
// type and a file over the limit are refused with their codes.
func TestRead(t *testing.T) {
	real := evidencetest.Make(t)
	def := credbatch.EvidenceSettings{Policy: credbatch.EvidenceOptional}
	small := credbatch.EvidenceSettings{Policy: credbatch.EvidenceOptional, MaxBytes: int64(len(real.PNG))}
	gifs := credbatch.EvidenceSettings{Policy: credbatch.EvidenceOptional, MediaTypes: []string{"image/gif"}}
	tests := []struct {
		name     string
		file     string
		data     []byte
		settings credbatch.EvidenceSettings
		wantType string // "" = refused with code
		code     string
		mention  string // the message mentions it
	}{
		{name: "Pillow PNG", file: "ann.png", data: real.PNG, settings: def, wantType: "image/png"},
		{name: "Pillow JPEG", file: "photos/ann.JPEG", data: real.JPEG, settings: def, wantType: "image/jpeg"},
		{name: "LibreOffice PDF", file: "ann.pdf", data: real.PDF, settings: def, wantType: "application/pdf"},
		{name: "no extension", file: "ann", data: real.PDF, settings: def, wantType: "application/pdf"},
		{name: "at the limit", file: "ann.png", data: real.PNG, settings: small, wantType: "image/png"},
		{name: "GIF where allowed", file: "ann.gif", data: gifBytes(t), settings: gifs, wantType: "image/gif"},
		{name: "PNG named .pdf", file: "ann.pdf", data: real.PNG, settings: def, code: credbatch.CodeEvidenceWrongType, mention: "named as a PDF but its content is a PNG image"},
		{name: "JPEG named .png", file: "ann.png", data: real.JPEG, settings: def, code: credbatch.CodeEvidenceWrongType, mention: ".jpg"},
		{name: "PDF named .exe", file: "ann.exe", data: real.PDF, settings: def, code: credbatch.CodeEvidenceWrongType, mention: "has the extension .exe but its content is a PDF"},
		{name: "GIF not allowed", file: "ann.gif", data: gifBytes(t), settings: def, code: credbatch.CodeEvidenceWrongType, mention: "is a GIF image; this credential accepts PDF, PNG or JPEG files"},
		{name: "PNG where only GIF", file: "ann.png", data: real.PNG, settings: gifs, code: credbatch.CodeEvidenceWrongType, mention: "GIF files"},
		{name: "text named .pdf", file: "ann.pdf", data: []byte("just some text"), settings: def, code: credbatch.CodeEvidenceWrongType, mention: "not a file type credbatch recognises"},
		{name: "empty", file: "ann.pdf", data: nil, settings: def, code: credbatch.CodeEvidenceWrongType, mention: "is empty"},
		{name: "one byte over", file: "ann.png", data: append(bytes.Clone(real.PNG), 0), settings: small, code: credbatch.CodeEvidenceTooLarge, mention: "larger than"},
		{name: "large PDF", file: "ann.pdf", data: append(bytes.Clone(real.PDF), make([]byte, 10<<20)...), settings: def, code: credbatch.CodeEvidenceTooLarge, mention: "larger than 10 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &countingReader{r: bytes.NewReader(tt.data)}
			f, err := evidence.Read(tt.file, src, tt.settings, t.TempDir())
			if limit := tt.settings.Limit() + 1; src.n > limit {
				t.Errorf("read %d bytes, want at most the limit plus one (%d)", src.n, limit)
			}
			if tt.wantType == "" {
				if err == nil {
					f.Close()
					t.Fatalf("accepted as %s, want %s", f.MediaType, tt.code)
				}
				if got := credbatch.ErrorCode(err); got != tt.code || credbatch.ErrorKind(err) != credbatch.KindInvalid {
					t.Fatalf("error %v (code %s), want %s", err, got, tt.code)
				}
				if msg := credbatch.ErrorMessage(err); !strings.Contains(msg, tt.mention) || !strings.Contains(msg, tt.file) {
					t.Errorf("message %q does not name the file %q and %q", msg, tt.file, tt.mention)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			defer f.Close()
			if f.MediaType != tt.wantType || f.Size != int64(len(tt.data)) || f.Digest != sri(tt.data) || f.Name != tt.file {
				t.Errorf("got %s %d bytes %s %q, want %s %d %s %q", f.MediaType, f.Size, f.Digest, f.Name, tt.wantType, len(tt.data), sri(tt.data), tt.file)
			}
		})
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestStore: on both blob adapters (a directory, S3 on moto) the file is stored under
// evidence/<batch>/<row>-<hash>.<ext> with its content type, the stored bytes match the
// digest, and storing it again (a retry) gives the same key and object.
func TestStore(t *testing.T) {
	real := evidencetest.Make(t)
	blobs := map[string]func(t *testing.T) credbatch.Blob{
		"dirblob": func(t *testing.T) credbatch.Blob {
			s, err := dirblob.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"s3blob": newBucket,
	}
	at := time.Date(2026, 11, 2, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	for name, newBlob := range blobs {
		t.Run(name, func(t *testing.T) {
			b := newBlob(t)
			ctx := context.Background()
			for _, tc := range []struct {
				file string
				data []byte
				ext  string
			}{{"ann.jpeg", real.JPEG, ".jpg"}, {"reports/ann.pdf", real.PDF, ".pdf"}, {"ann.png", real.PNG, ".png"}} {
				s := credbatch.EvidenceSettings{Policy: credbatch.EvidenceRequired}
				first, err := evidence.Put(ctx, b, s, "b-123", 7, tc.file, bytes.NewReader(tc.data), t.TempDir(), "ann@example.com", at)
				if err != nil {
					t.Fatalf("Put %s: %v", tc.file, err)
				}
				want := regexp.MustCompile(`^evidence/b-123/7-[0-9a-f]{32}` + regexp.QuoteMeta(tc.ext) + `$`)
				if !want.MatchString(first.Key) || !first.Stored() {
					t.Errorf("key %q, want %s and stored", first.Key, want)
				}
				if !first.AddedAt.Equal(at) || first.AddedAt.Location() != time.UTC || first.AddedBy != "ann@example.com" || first.Name != tc.file {
					t.Errorf("file %+v: want added by ann at %v UTC, name %q", first, at, tc.file)
				}
				data, info := blobtest.MustGet(t, b, first.Key)
				if sri(data) != first.Digest || !bytes.Equal(data, tc.data) || info.ContentType != first.MediaType {
					t.Errorf("stored %d bytes %s as %s, want the file (%s, %s)", len(data), sri(data), info.ContentType, first.Digest, first.MediaType)
				}
				again, err := evidence.Put(ctx, b, s, "b-123", 7, tc.file, bytes.NewReader(tc.data), t.TempDir(), "ann@example.com", at)
				if err != nil || again != first {
					t.Errorf("second Put: %+v, %v; want %+v", again, err, first)
				}
				other, err := evidence.Put(ctx, b, s, "b-123", 8, tc.file, bytes.NewReader(tc.data), t.TempDir(), "ann@example.com", at)
				if err != nil || other.Key == first.Key || other.Digest != first.Digest {
					t.Errorf("row 8: key %q (%v), want another key than row 7's %q with the same digest", other.Key, err, first.Key)
				}
			}
		})
	}
}

// TestReadLeavesNoTemporaryFile: refused and closed files leave the directory empty.
func TestReadLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	s := credbatch.EvidenceSettings{Policy: credbatch.EvidenceOptional}
	if _, err := evidence.Read("a.pdf", strings.NewReader("not a pdf"), s, dir); err == nil {
		t.Fatal("text accepted as a PDF")
	}
	f, err := evidence.Read("a.pdf", strings.NewReader("%PDF-1.4\n%%EOF\n"), s, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if left := mustList(t, dir); len(left) != 0 {
		t.Errorf("left %v in the temporary directory", left)
	}
}

func newBucket(t *testing.T) credbatch.Blob {
	t.Helper()
	cfg := awstest.Config(t, "S3")
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	bucket := awstest.Name(t, "evidence")
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	return s3blob.New(client, s3.NewPresignClient(client), bucket)
}

func mustList(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
