// Package s3blob is the credbatch.Blob on Amazon S3.
package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// API is the part of *s3.Client the Store uses.
type API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, optFns ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// PresignAPI is the part of *s3.PresignClient the Store uses.
type PresignAPI interface {
	PresignGetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
	PresignPutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

var (
	_ API        = (*s3.Client)(nil)
	_ PresignAPI = (*s3.PresignClient)(nil)
)

// MaxPresignTTL is the longest lifetime S3 accepts for a SigV4 presigned URL.
const MaxPresignTTL = 7 * 24 * time.Hour

// Store is a credbatch.Blob over one S3 bucket.
type Store struct {
	client  API
	presign PresignAPI
	bucket  string
}

var _ credbatch.Blob = (*Store)(nil)

// New returns a Store over bucket. presign may be nil when no presigned URLs are needed.
func New(client API, presign PresignAPI, bucket string) *Store {
	return &Store{client: client, presign: presign, bucket: bucket}
}

// Bucket returns the bucket name.
func (s *Store) Bucket() string { return s.bucket }

// Head returns the object's info. Errors: KindInvalid, KindNotFound, KindUnavailable.
func (s *Store) Head(ctx context.Context, key string) (credbatch.ObjectInfo, error) {
	if err := credbatch.CheckKey(key); err != nil {
		return credbatch.ObjectInfo{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		if s.notThere(ctx, key, err) {
			return credbatch.ObjectInfo{}, s.notFound("s3blob.head", key, err)
		}
		return credbatch.ObjectInfo{}, s.classify("s3blob.head", key, err)
	}
	return s.objectInfo(key, out.VersionId, out.ETag, out.ContentLength, out.ContentType, out.Metadata, out.LastModified), nil
}

// Get opens the object; the caller closes the reader. Errors: KindInvalid, KindNotFound,
// KindUnavailable.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, credbatch.ObjectInfo, error) {
	if err := credbatch.CheckKey(key); err != nil {
		return nil, credbatch.ObjectInfo{}, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		if s.notThere(ctx, key, err) {
			return nil, credbatch.ObjectInfo{}, s.notFound("s3blob.get", key, err)
		}
		return nil, credbatch.ObjectInfo{}, s.classify("s3blob.get", key, err)
	}
	return out.Body, s.objectInfo(key, out.VersionId, out.ETag, out.ContentLength, out.ContentType, out.Metadata, out.LastModified), nil
}

// Put stores the object. A reader that is not an io.ReadSeeker is read into memory first,
// because a single PutObject must know its length and hash (objects here are reports and
// templates of a few MiB; uploads reach S3 through presigned URLs). Metadata keys are
// lower-cased. Errors: KindInvalid, KindUnavailable.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, contentType string, metadata map[string]string) (credbatch.ObjectInfo, error) {
	if err := credbatch.CheckKey(key); err != nil {
		return credbatch.ObjectInfo{}, err
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	body, size, err := seekable(r)
	if err != nil {
		return credbatch.ObjectInfo{}, &credbatch.Error{Kind: credbatch.KindInternal, Code: string(credbatch.KindInternal),
			Op: "s3blob.put", Err: fmt.Errorf("read body of %s: %w", key, err)}
	}
	md := lower(metadata)
	out, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          body,
		ContentLength: aws.Int64(size),
		ContentType:   aws.String(contentType),
		Metadata:      md,
	})
	if err != nil {
		return credbatch.ObjectInfo{}, s.classify("s3blob.put", key, err)
	}
	return credbatch.ObjectInfo{
		Bucket: s.bucket, Key: key, VersionID: aws.ToString(out.VersionId), ETag: trimETag(out.ETag),
		Size: size, ContentType: contentType, Metadata: md,
	}, nil
}

// seekable returns r as an io.ReadSeeker positioned where r was, with the bytes left to read.
func seekable(r io.Reader) (io.ReadSeeker, int64, error) {
	if rs, ok := r.(io.ReadSeeker); ok {
		cur, err := rs.Seek(0, io.SeekCurrent)
		if err == nil {
			end, err := rs.Seek(0, io.SeekEnd)
			if err == nil {
				if _, err := rs.Seek(cur, io.SeekStart); err == nil {
					return rs, end - cur, nil
				}
			}
		}
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, 0, err
	}
	return bytes.NewReader(b), int64(len(b)), nil
}

// Delete removes every version of the object (and its delete markers), so that on a
// versioned bucket the bytes are gone, not only hidden; deleting a missing object is not an
// error. It needs s3:ListBucketVersions on the bucket and s3:DeleteObjectVersion on the key.
// Errors: KindInvalid, KindUnavailable.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := credbatch.CheckKey(key); err != nil {
		return err
	}
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(key)}
	for {
		out, err := s.client.ListObjectVersions(ctx, in)
		if err != nil {
			return s.classify("s3blob.delete", key, err)
		}
		var ids []*string
		for _, v := range out.Versions {
			if aws.ToString(v.Key) == key {
				ids = append(ids, v.VersionId)
			}
		}
		for _, m := range out.DeleteMarkers {
			if aws.ToString(m.Key) == key {
				ids = append(ids, m.VersionId)
			}
		}
		for _, id := range ids {
			if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), VersionId: id}); err != nil {
				if e := s.classify("s3blob.delete", key, err); !credbatch.IsKind(e, credbatch.KindNotFound) {
					return e
				}
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}); err != nil {
		// an unversioned bucket lists no versions
		if e := s.classify("s3blob.delete", key, err); !credbatch.IsKind(e, credbatch.KindNotFound) {
			return e
		}
	}
	return nil
}

// PresignGet returns a URL that downloads the object until ttl passes. Errors: KindInvalid.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := s.checkPresign(key, ttl); err != nil {
		return "", err
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)},
		func(o *s3.PresignOptions) { o.Expires = ttl })
	if err != nil {
		return "", s.classify("s3blob.presign_get", key, err)
	}
	return req.URL, nil
}

// PresignPut returns a URL that uploads to the key with the content type until ttl passes.
// Errors: KindInvalid.
func (s *Store) PresignPut(ctx context.Context, key, contentType string, ttl time.Duration) (string, error) {
	return s.PresignPutMetadata(ctx, key, contentType, nil, 0, ttl)
}

// PresignPutMetadata is PresignPut for an upload that carries user metadata: S3 refuses
// x-amz-meta-* headers that the URL did not sign, so the metadata is signed in and the
// client must send exactly these headers; size > 0 signs Content-Length too, so S3 refuses a
// body of any other length.
func (s *Store) PresignPutMetadata(ctx context.Context, key, contentType string, metadata map[string]string, size int64, ttl time.Duration) (string, error) {
	if err := s.checkPresign(key, ttl); err != nil {
		return "", err
	}
	in := &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	if len(metadata) > 0 {
		in.Metadata = metadata
	}
	if size > 0 {
		in.ContentLength = aws.Int64(size)
	}
	req, err := s.presign.PresignPutObject(ctx, in, func(o *s3.PresignOptions) { o.Expires = ttl })
	if err != nil {
		return "", s.classify("s3blob.presign_put", key, err)
	}
	return req.URL, nil
}

func (s *Store) checkPresign(key string, ttl time.Duration) error {
	if err := credbatch.CheckKey(key); err != nil {
		return err
	}
	if ttl <= 0 || ttl > MaxPresignTTL {
		return credbatch.E(credbatch.KindInvalid, "invalid_ttl",
			fmt.Sprintf("a presigned URL lives between 1s and 7 days, not %s", ttl))
	}
	if s.presign == nil {
		return &credbatch.Error{Kind: credbatch.KindInternal, Code: string(credbatch.KindInternal), Op: "s3blob.presign",
			Err: errors.New("s3blob: no presign client configured")}
	}
	return nil
}

func (s *Store) objectInfo(key string, version, etag *string, size *int64, contentType *string, md map[string]string, modified *time.Time) credbatch.ObjectInfo {
	return credbatch.ObjectInfo{
		Bucket: s.bucket, Key: key, VersionID: aws.ToString(version), ETag: trimETag(etag),
		Size: aws.ToInt64(size), ContentType: aws.ToString(contentType), Metadata: lower(md),
		LastModified: aws.ToTime(modified).UTC(),
	}
}

func trimETag(etag *string) string { return strings.Trim(aws.ToString(etag), `"`) }

func lower(md map[string]string) map[string]string {
	if len(md) == 0 {
		return nil
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		out[strings.ToLower(k)] = v
	}
	return out
}

// classify wraps an SDK error with the credbatch kind it means: a missing object is
// KindNotFound, throttling and 5xx are KindUnavailable, anything else KindInternal.
// notThere reports whether err, S3's 403 to a read of key, means that the key does not
// exist. S3 answers a read of a missing key with 403 instead of 404 unless the role may list
// the bucket, and a permission to list only under a prefix (s3:prefix uploads/*) may not
// count there. A listing of the key as a prefix, which such a role may make, tells: an
// object that is there would have been read.
func (s *Store) notThere(ctx context.Context, key string, err error) bool {
	var resp *awshttp.ResponseError
	if !errors.As(err, &resp) || resp.HTTPStatusCode() != http.StatusForbidden {
		return false
	}
	out, lerr := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(key), MaxKeys: aws.Int32(1)})
	return lerr == nil && (len(out.Contents) == 0 || aws.ToString(out.Contents[0].Key) != key)
}

func (s *Store) notFound(op, key string, err error) error {
	return &credbatch.Error{Kind: credbatch.KindNotFound, Code: string(credbatch.KindNotFound), Op: op,
		Message: fmt.Sprintf("object %q not found", key), Err: fmt.Errorf("s3://%s/%s: %w", s.bucket, key, err)}
}

func (s *Store) classify(op, key string, err error) error {
	e := &credbatch.Error{Kind: credbatch.KindInternal, Code: string(credbatch.KindInternal), Op: op,
		Err: fmt.Errorf("s3://%s/%s: %w", s.bucket, key, err)}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var api smithy.APIError
	var resp *awshttp.ResponseError
	code := ""
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	status := 0
	if errors.As(err, &resp) {
		status = resp.HTTPStatusCode()
	}
	switch {
	case errors.As(err, &nsk), errors.As(err, &nf), code == "NoSuchKey", code == "NotFound",
		status == http.StatusNotFound && code != "NoSuchBucket":
		e.Kind, e.Code, e.Message = credbatch.KindNotFound, string(credbatch.KindNotFound), fmt.Sprintf("object %q not found", key)
	case code == "SlowDown", code == "ServiceUnavailable", code == "RequestTimeout", code == "InternalError",
		status == http.StatusTooManyRequests, status >= 500, errors.Is(err, context.DeadlineExceeded):
		e.Kind, e.Code, e.Message = credbatch.KindUnavailable, string(credbatch.KindUnavailable), "the object store is busy or unreachable; retry"
	}
	return e
}
