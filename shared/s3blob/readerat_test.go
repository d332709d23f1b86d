package s3blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/credbatch/credbatch/shared/awstest"
	"github.com/credbatch/credbatch/shared/blobtest"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/s3blob"
)

// countingTransport counts the GET requests that reach the emulator.
type countingTransport struct {
	next http.RoundTripper
	gets atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet {
		c.gets.Add(1)
	}
	return c.next.RoundTrip(r)
}

// countedBucket is a fresh bucket on the S3 emulator (versioned or not) and a Store over
// it whose GET requests are counted on the wire.
func countedBucket(t *testing.T, versioned bool) (*s3blob.Store, *countingTransport) {
	t.Helper()
	cfg := awstest.Config(t, "S3")
	ct := &countingTransport{next: http.DefaultTransport}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
		o.HTTPClient = &http.Client{Transport: ct}
	})
	bucket := awstest.Name(t, "ra")
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	if versioned {
		if _, err := client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket:                  aws.String(bucket),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
		}); err != nil {
			t.Fatalf("enable versioning on %s: %v", bucket, err)
		}
	}
	return s3blob.New(client, s3.NewPresignClient(client), bucket), ct
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// readAt reads len(want) bytes at off and checks them.
func readAt(t *testing.T, r io.ReaderAt, want []byte, off int64) {
	t.Helper()
	got := make([]byte, len(want))
	n, err := r.ReadAt(got, off)
	if err != nil || n != len(want) || !bytes.Equal(got, want) {
		t.Fatalf("ReadAt(%d bytes, %d) = %d, %v; equal %v", len(want), off, n, err, bytes.Equal(got[:n], want[:n]))
	}
}

func TestOpenAtRanges(t *testing.T) {
	for _, versioned := range []bool{false, true} {
		name := "unversioned"
		if versioned {
			name = "versioned"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b, ct := countedBucket(t, versioned)
			data := randomBytes(6<<20, 17)
			blobtest.MustPut(t, b, "uploads/z.csv.zip", data, "application/zip", nil)

			r, info, err := b.OpenAt(ctx, "uploads/z.csv.zip")
			if err != nil {
				t.Fatalf("OpenAt: %v", err)
			}
			defer r.Close()
			if info.Size != int64(len(data)) {
				t.Fatalf("size %d, want %d", info.Size, len(data))
			}
			base := ct.gets.Load()
			gets := func() int64 { return ct.gets.Load() - base }

			// The first 2 MiB in 32 KiB reads, as an archive entry is read: one GET.
			const chunk = 32 << 10
			for off := 0; off < 2<<20; off += chunk {
				readAt(t, r, data[off:off+chunk], int64(off))
			}
			if g := gets(); g != 1 || s3blob.Gets(r) != 1 {
				t.Fatalf("sequential reads of 2 MiB: %d GETs on the wire (reader counted %d), want 1", g, s3blob.Gets(r))
			}
			// A gap of 512 KiB forward is read through on the same response.
			readAt(t, r, data[5<<19:5<<19+chunk], 5<<19)
			if g := gets(); g != 1 {
				t.Fatalf("a 512 KiB forward gap: %d GETs, want still 1", g)
			}
			// Backwards, and more than 1 MiB forward, each open another.
			readAt(t, r, data[100:200], 100)
			if g := gets(); g != 2 {
				t.Fatalf("a read backwards: %d GETs, want 2", g)
			}
			readAt(t, r, data[4<<20:4<<20+chunk], 4<<20)
			if g := gets(); g != 3 {
				t.Fatalf("a 4 MiB jump forward: %d GETs, want 3", g)
			}
			// Past the end: io.EOF with what there is; at the end: 0, io.EOF, no GET.
			tail := make([]byte, 1000)
			n, err := r.ReadAt(tail, int64(len(data)-10))
			if n != 10 || err != io.EOF || !bytes.Equal(tail[:10], data[len(data)-10:]) {
				t.Fatalf("ReadAt over the end = %d, %v; want 10, io.EOF", n, err)
			}
			if n, err := r.ReadAt(tail, int64(len(data))); n != 0 || err != io.EOF {
				t.Fatalf("ReadAt at the end = %d, %v; want 0, io.EOF", n, err)
			}
			if _, err := r.ReadAt(tail, -1); err == nil {
				t.Fatal("ReadAt at -1: no error")
			}
		})
	}
}

func TestOpenAtReplacedObject(t *testing.T) {
	for _, versioned := range []bool{false, true} {
		name := "unversioned"
		if versioned {
			name = "versioned"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b, _ := countedBucket(t, versioned)
			data := randomBytes(3<<20, 5)
			blobtest.MustPut(t, b, "uploads/r.xlsx.zip", data, "application/zip", nil)
			r, _, err := b.OpenAt(ctx, "uploads/r.xlsx.zip")
			if err != nil {
				t.Fatalf("OpenAt: %v", err)
			}
			defer r.Close()
			readAt(t, r, data[:1<<10], 0)

			// Uploaded again (another zip under the same name) while it is read.
			blobtest.MustPut(t, b, "uploads/r.xlsx.zip", randomBytes(3<<20, 6), "application/zip", nil)
			got := make([]byte, 1<<10)
			_, err = r.ReadAt(got, 2<<20) // past the skip-ahead: a new GET
			if err == nil {
				t.Fatalf("read after the object was replaced: no error (bytes equal to the old version: %v)", bytes.Equal(got, data[2<<20:2<<20+1<<10]))
			}
			var ce *credbatch.Error
			if !errors.As(err, &ce) || ce.Kind != credbatch.KindConflict {
				t.Fatalf("error %v (%T), want a KindConflict *credbatch.Error", err, err)
			}
			if msg := err.Error(); !strings.Contains(msg, "uploads/r.xlsx.zip") || !strings.Contains(msg, "replaced") {
				t.Errorf("error %q does not name the key and say it was replaced", msg)
			}
			// Opened again, it reads the new version.
			r2, _, err := b.OpenAt(ctx, "uploads/r.xlsx.zip")
			if err != nil {
				t.Fatalf("OpenAt again: %v", err)
			}
			defer r2.Close()
			readAt(t, r2, randomBytes(3<<20, 6)[2<<20:2<<20+1<<10], 2<<20)
		})
	}
}
