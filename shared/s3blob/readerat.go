package s3blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// skipAhead is how far forward a read may land from where the open response body stands and
// still be served by reading on (discarding the gap) rather than by a new ranged GET: a GET
// costs a round trip of tens of milliseconds, in which S3 streams a few MiB.
const skipAhead = 1 << 20

var _ credbatch.ReaderAtBlob = (*Store)(nil)

// OpenAt opens the object for reading at offsets by ranged GETs (bytes=off-), each with
// IfMatch on the ETag its HeadObject saw, so that a replaced object fails the read (a
// KindConflict error, CodeObjectReplaced) instead of mixing two versions. Reads that follow one another (an archive entry read from start
// to end, or the next entry after a small gap) stream from one response body; a read
// elsewhere closes it and opens another at its offset. Nothing is buffered beyond the
// caller's slice. Errors: those of Head.
func (s *Store) OpenAt(ctx context.Context, key string) (credbatch.ObjectReaderAt, credbatch.ObjectInfo, error) {
	info, err := s.Head(ctx, key)
	if err != nil {
		return nil, info, err
	}
	return &rangeReader{ctx: ctx, s: s, key: key, info: info}, info, nil
}

// rangeReader is an io.ReaderAt over one S3 object version. It is safe for concurrent use
// (reads are serialised).
type rangeReader struct {
	ctx  context.Context
	s    *Store
	key  string
	info credbatch.ObjectInfo

	mu   sync.Mutex
	body io.ReadCloser // the open response, positioned at pos
	pos  int64
	gets int // ranged GETs made (for tests and the bench)
}

func (r *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off < 0 {
		return 0, fmt.Errorf("s3blob: read %s at negative offset %d", r.key, off)
	}
	if off >= r.info.Size {
		return 0, io.EOF
	}
	want := p[:min(int64(len(p)), r.info.Size-off)]
	if r.body != nil && off > r.pos && off-r.pos <= skipAhead {
		n, err := io.CopyN(io.Discard, r.body, off-r.pos)
		r.pos += n
		if err != nil {
			r.drop()
		}
	}
	if r.body == nil || off != r.pos {
		if err := r.open(off); err != nil {
			return 0, err
		}
	}
	n, err := io.ReadFull(r.body, want)
	r.pos += int64(n)
	if err != nil {
		r.drop()
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			err = fmt.Errorf("s3blob: %s ended at %d, before its size %d", r.key, r.pos, r.info.Size)
		}
		return n, &credbatch.Error{Kind: credbatch.KindUnavailable, Code: string(credbatch.KindUnavailable), Op: "s3blob.readat", Err: err}
	}
	if len(want) < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// open starts a ranged GET at off.
func (r *rangeReader) open(off int64) error {
	r.drop()
	in := &s3.GetObjectInput{Bucket: aws.String(r.s.bucket), Key: aws.String(r.key), Range: aws.String(fmt.Sprintf("bytes=%d-", off))}
	if r.info.ETag != "" {
		// Not pinned by VersionId: on a versioned bucket that would go on reading the old
		// version of a zip uploaded again, whose files a retry should take from the new one.
		in.IfMatch = aws.String(`"` + r.info.ETag + `"`)
	}
	// A part of an object comes without the whole object's checksum: the SDK would log
	// that it could not validate each ranged GET.
	out, err := r.s.client.GetObject(r.ctx, in, func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
	if replaced(err) {
		return &credbatch.Error{Kind: credbatch.KindConflict, Code: CodeObjectReplaced, Op: "s3blob.readat",
			Message: fmt.Sprintf("object %q was replaced while it was being read (its ETag is no longer %s); open it again to read the new version", r.key, r.info.ETag),
			Err:     fmt.Errorf("s3://%s/%s: %w", r.s.bucket, r.key, err)}
	}
	if err != nil {
		return r.s.classify("s3blob.readat", r.key, err)
	}
	r.body, r.pos = out.Body, off
	r.gets++
	return nil
}

// CodeObjectReplaced is the code of the error a read from OpenAt fails with once the object
// has been replaced.
const CodeObjectReplaced = "object_replaced"

// replaced reports S3's answer to a GET whose IfMatch no longer holds: 412 PreconditionFailed.
func replaced(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "PreconditionFailed" {
		return true
	}
	var resp *awshttp.ResponseError
	return errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusPreconditionFailed
}

func (r *rangeReader) drop() {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
}

// Close closes the open response, if any.
func (r *rangeReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drop()
	return nil
}

// Gets reports how many ranged GETs r made (r from OpenAt; 0 for another reader).
func Gets(r credbatch.ObjectReaderAt) int {
	if rr, ok := r.(*rangeReader); ok {
		rr.mu.Lock()
		defer rr.mu.Unlock()
		return rr.gets
	}
	return 0
}
