package s3blob_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/credbatch/credbatch/shared/awstest"
	"github.com/credbatch/credbatch/shared/blobtest"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/s3blob"
)

// newBucket creates a fresh bucket on the S3 emulator and returns a Store over it.
func newBucket(t *testing.T) credbatch.Blob {
	t.Helper()
	cfg := awstest.Config(t, "S3")
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true // moto sends no checksums
	})
	bucket := awstest.Name(t, "blob")
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	if _, err := client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	}); err != nil {
		t.Fatalf("enable versioning on %s: %v", bucket, err)
	}
	return s3blob.New(client, s3.NewPresignClient(client), bucket)
}

func TestContract(t *testing.T) {
	blobtest.Run(t, newBucket)
}

func TestVersionID(t *testing.T) {
	b := newBucket(t)
	first := blobtest.MustPut(t, b, "uploads/v.csv", []byte("one"), "text/csv", nil)
	second := blobtest.MustPut(t, b, "uploads/v.csv", []byte("two"), "text/csv", nil)
	if first.VersionID == "" || first.VersionID == second.VersionID {
		t.Errorf("VersionIDs %q then %q, want two distinct non-empty ids on a versioned bucket", first.VersionID, second.VersionID)
	}
	_, info := blobtest.MustGet(t, b, "uploads/v.csv")
	if info.VersionID != second.VersionID || info.Bucket == "" {
		t.Errorf("Get: VersionID %q bucket %q, want %q and the bucket", info.VersionID, info.Bucket, second.VersionID)
	}
}

// fakeAPI fails every call with err.
type fakeAPI struct{ err error }

func (f fakeAPI) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return nil, f.err
}

func (f fakeAPI) HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	return nil, f.err
}

func (f fakeAPI) PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return nil, f.err
}

func (f fakeAPI) DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	return nil, f.err
}

func (f fakeAPI) ListObjectVersions(context.Context, *s3.ListObjectVersionsInput, ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	return nil, f.err
}

func (f fakeAPI) ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return nil, f.err
}

// listingAPI fails reads with 403, as S3 answers a role that may not list the bucket, and
// lists the keys it holds.
type listingAPI struct {
	fakeAPI
	keys []string
}

func (l listingAPI) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	out := &s3.ListObjectsV2Output{}
	for _, k := range l.keys {
		if strings.HasPrefix(k, aws.ToString(in.Prefix)) {
			out.Contents = append(out.Contents, types.Object{Key: aws.String(k)})
		}
	}
	return out, nil
}

// TestForbiddenMissingKey: S3's 403 to a read is a missing key (KindNotFound) when a
// listing of the key as a prefix shows no such object; when it shows one, or the listing is
// refused too, the 403 stays an internal error (the role lacks a permission).
func TestForbiddenMissingKey(t *testing.T) {
	denied := responseError(403, &smithy.GenericAPIError{Code: "AccessDenied"})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		api  s3blob.API
		want credbatch.Kind
	}{
		{"listed: not there", listingAPI{fakeAPI{denied}, []string{"uploads/a.csv", "uploads/a.csv.zip.bak"}}, credbatch.KindNotFound},
		{"listed: there", listingAPI{fakeAPI{denied}, []string{"uploads/a.csv.zip"}}, credbatch.KindInternal},
		{"listing refused too", fakeAPI{denied}, credbatch.KindInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := s3blob.New(tc.api, nil, "bucket")
			if _, err := s.Head(ctx, "uploads/a.csv.zip"); credbatch.ErrorKind(err) != tc.want {
				t.Errorf("Head: %v, want %s", err, tc.want)
			}
			if _, _, err := s.Get(ctx, "uploads/a.csv.zip"); credbatch.ErrorKind(err) != tc.want || !errors.Is(err, denied) {
				t.Errorf("Get: %v, want %s wrapping the 403", err, tc.want)
			}
		})
	}
}

func responseError(status int, err error) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}}
}

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want credbatch.Kind
	}{
		{"no such key", &types.NoSuchKey{}, credbatch.KindNotFound},
		{"head not found", &types.NotFound{}, credbatch.KindNotFound},
		{"bare 404", responseError(404, errors.New("not found")), credbatch.KindNotFound},
		{"no such bucket", responseError(404, &smithy.GenericAPIError{Code: "NoSuchBucket"}), credbatch.KindInternal},
		{"slow down", responseError(503, &smithy.GenericAPIError{Code: "SlowDown"}), credbatch.KindUnavailable},
		{"500", responseError(500, errors.New("boom")), credbatch.KindUnavailable},
		{"access denied", responseError(403, &smithy.GenericAPIError{Code: "AccessDenied"}), credbatch.KindInternal},
		{"deadline", context.DeadlineExceeded, credbatch.KindUnavailable},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := s3blob.New(fakeAPI{tc.err}, nil, "bucket")
			_, err := s.Head(ctx, "a/b.csv")
			if got := credbatch.ErrorKind(err); got != tc.want {
				t.Errorf("Head error kind = %s, want %s (err %v)", got, tc.want, err)
			}
			_, _, err = s.Get(ctx, "a/b.csv")
			if got := credbatch.ErrorKind(err); got != tc.want {
				t.Errorf("Get error kind = %s, want %s (err %v)", got, tc.want, err)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("Get error %v does not wrap %v", err, tc.err)
			}
		})
	}
}

// TestPresignedUploadWithMetadata: a browser or LMS uploads through a presigned URL with the
// metadata headers it was signed for, and the object arrives with that metadata.
func TestPresignedUploadWithMetadata(t *testing.T) {
	b := newBucket(t).(*s3blob.Store)
	ctx := context.Background()
	meta := map[string]string{"label": "Spring cohort", "uploader": "staff@example.com"}
	url, err := b.PresignPutMetadata(ctx, "uploads/web-101/cohort.csv", "text/csv", meta, 0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, strings.NewReader("First Name,Last Name,Email\n"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/csv")
	for k, v := range meta {
		req.Header.Set("x-amz-meta-"+k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT through the presigned URL: %s", resp.Status)
	}
	info, err := b.Head(ctx, "uploads/web-101/cohort.csv")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range meta {
		if info.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q (all: %v)", k, info.Metadata[k], v, info.Metadata)
		}
	}
}

// TestDeleteRemovesEveryVersion: on the versioned bucket, Delete leaves no version and no
// delete marker of the key, so the bytes are gone and not only hidden.
func TestDeleteRemovesEveryVersion(t *testing.T) {
	b := newBucket(t).(*s3blob.Store)
	ctx := context.Background()
	key := "evidence/b1/2-abc.png"
	blobtest.MustPut(t, b, key, []byte("one"), "image/png", nil)
	blobtest.MustPut(t, b, key, []byte("two"), "image/png", nil)
	if err := b.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	client := s3.NewFromConfig(awstest.Config(t, "S3"), func(o *s3.Options) { o.UsePathStyle = true })
	out, err := client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(b.Bucket()), Prefix: aws.String(key)})
	if err != nil {
		t.Fatalf("list versions: %v", err)
	}
	if len(out.Versions)+len(out.DeleteMarkers) != 0 {
		t.Errorf("after Delete: %d versions, %d delete markers left", len(out.Versions), len(out.DeleteMarkers))
	}
}
