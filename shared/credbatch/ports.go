package credbatch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
)

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Bucket       string            `json:"bucket,omitempty"`
	Key          string            `json:"key"`
	VersionID    string            `json:"version_id,omitempty"`
	ETag         string            `json:"etag,omitempty"`
	Size         int64             `json:"size"`
	ContentType  string            `json:"content_type,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"` // user metadata, keys lower-case without x-amz-meta-
	LastModified time.Time         `json:"last_modified,omitzero"`
}

// CheckKey returns a KindInvalid error unless key is a clean relative slash path, the rule
// every Blob applies so that keys behave alike on S3 and in a folder: not empty, at most 1024
// bytes, no leading or trailing slash, no empty, "." or ".." segment, no backslash or control
// character.
func CheckKey(key string) error {
	bad := func(why string) error {
		return &Error{Kind: KindInvalid, Code: "invalid_key", Message: fmt.Sprintf("object key %q is not allowed: %s", key, why)}
	}
	switch {
	case key == "":
		return bad("it is empty")
	case len(key) > 1024:
		return bad("it is longer than 1024 bytes")
	case strings.HasPrefix(key, "/"):
		return bad("it is an absolute path")
	case strings.HasSuffix(key, "/"):
		return bad("it ends with a slash")
	case strings.ContainsRune(key, '\\'):
		return bad("it contains a backslash")
	case strings.IndexFunc(key, unicode.IsControl) >= 0:
		return bad("it contains a control character")
	}
	for _, seg := range strings.Split(key, "/") {
		switch seg {
		case "":
			return bad("it has an empty path segment")
		case ".", "..":
			return bad("it has a . or .. segment")
		}
	}
	return nil
}

// Blob stores uploads, reports and templates (S3 on AWS, a directory locally). Errors:
// KindNotFound for a missing key, KindInvalid for a bad key, KindUnavailable.
type Blob interface {
	// Get opens an object; the caller closes the reader.
	Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	// Head returns an object's info.
	Head(ctx context.Context, key string) (ObjectInfo, error)
	// Put stores an object.
	Put(ctx context.Context, key string, r io.Reader, contentType string, metadata map[string]string) (ObjectInfo, error)
	// PresignGet returns a URL that downloads the object until ttl passes.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
	// PresignPut returns a URL that uploads to the key until ttl passes.
	PresignPut(ctx context.Context, key, contentType string, ttl time.Duration) (string, error)
	// Delete removes an object; deleting a missing one is not an error.
	Delete(ctx context.Context, key string) error
}

// ReaderAtBlob is implemented by blobs that read an object at any offset without copying it
// first: S3 by ranged GETs, a folder by the file itself. Readers of large archives (the
// evidence zip uploaded with a spreadsheet) use it so that neither memory nor local disk
// holds the whole object; the reader's size is the ObjectInfo's.
type ReaderAtBlob interface {
	// OpenAt opens an object for reading at offsets; the caller closes it. The reader never
	// mixes two versions: if the object is replaced meanwhile, reads fail (S3: a KindConflict
	// error) or go on reading the version opened (a folder: the file replaced by a rename).
	OpenAt(ctx context.Context, key string) (ObjectReaderAt, ObjectInfo, error)
}

// ObjectReaderAt reads an opened object at offsets.
type ObjectReaderAt interface {
	io.ReaderAt
	io.Closer
}

// Attachment is a file attached to an email.
type Attachment struct {
	Filename    string
	ContentType string
	Data        []byte
}

// Message is one email.
type Message struct {
	From        string
	To          []string
	ReplyTo     string
	Subject     string
	Text        string
	HTML        string
	Tags        map[string]string // SES message tags (credential_id, batch_id)
	Attachments []Attachment
	// Unsubscribe is the one-click unsubscribe URL of a notification: mailers send it as
	// List-Unsubscribe with List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058).
	Unsubscribe string
}

// CodeSendingStopped is the code of a mailer error after which no further message of the
// batch should be tried (account suspended, sending paused, sender not verified).
const CodeSendingStopped = "sending_stopped"

// Mailer sends email (SES v2 on AWS, an outbox directory locally). Send returns the
// provider's message id. Errors: KindInvalid when this message was refused and will never be
// accepted (bad address, rejected content); KindUnavailable when throttled or down after
// retries (retry later); Code CodeSendingStopped when the account cannot send at all.
type Mailer interface {
	Send(ctx context.Context, m Message) (string, error)
}

// Workflow runs the issuance state machine (Step Functions on AWS, the local engine locally).
// Errors: KindNotFound for an unknown or expired task token, KindConflict when the task was
// already completed, KindUnavailable.
type Workflow interface {
	// Start starts the flow under an execution name (the batch id, or the batch id with a
	// suffix for a later run of the same batch); starting the same name again is not an error
	// and returns the same execution id.
	Start(ctx context.Context, name string, input json.RawMessage) (string, error)
	// Succeed completes a waiting task (an approval) with output.
	Succeed(ctx context.Context, token string, output json.RawMessage) error
	// Fail fails a waiting task (a rejection) with an error code and a cause.
	Fail(ctx context.Context, token, code, cause string) error
}

// Clock returns the current time; injected so tests fix it.
type Clock func() time.Time

// IDs returns a new unguessable id; injected so tests fix it.
type IDs func() string
