// Package outbox is a credbatch.Mailer that writes each message as an .eml file into a directory.
package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/mail"
)

// Domain is the right-hand side of the message ids the outbox makes.
const Domain = "credbatch.local"

// Options configure an Outbox. Zero values take the defaults noted.
type Options struct {
	// From is the sender used when a message has none.
	From string
	// OnSend, when set, is called after each message has been written, with the message and
	// the id Send returns; the local stack uses it to simulate SES feedback for the mailbox
	// simulator addresses. It runs on the sender's goroutine, so it should be quick.
	OnSend func(ctx context.Context, msg credbatch.Message, messageID string)
	// Now is the clock for file names and the Date header (default time.Now).
	Now func() time.Time
	// IDs returns the random part of message ids (default 128 random bits in hex); it must
	// be unique and may contain only letters, digits, '-' and '_'.
	IDs func() string
}

// Outbox writes one RFC 5322 file per message into a directory.
type Outbox struct {
	dir  string
	opts Options
}

var _ credbatch.Mailer = (*Outbox)(nil)

// New returns an outbox writing into dir, which it creates when missing.
func New(dir string, opts Options) (*Outbox, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create outbox %s: %w", dir, err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.IDs == nil {
		opts.IDs = randomID
	}
	return &Outbox{dir: dir, opts: opts}, nil
}

// Dir returns the directory the outbox writes into.
func (o *Outbox) Dir() string { return o.dir }

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// Send writes the message to "<UTC timestamp>_<random>.eml" (names sort in sending order)
// atomically (a hidden temporary file renamed into place) and returns its message id,
// "<random>@credbatch.local", which is also the Message-ID header without the angle
// brackets. Errors: KindInvalid for a malformed message (no recipient, CR/LF in a header,
// a bad address); KindUnavailable when the file cannot be written or ctx has ended.
func (o *Outbox) Send(ctx context.Context, msg credbatch.Message) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", &credbatch.Error{Kind: credbatch.KindUnavailable, Code: string(credbatch.KindUnavailable), Message: "sending was cancelled", Op: "outbox send", Err: err}
	}
	if msg.From == "" {
		msg.From = o.opts.From
	}
	random := o.opts.IDs()
	if random == "" || strings.ContainsFunc(random, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		return "", credbatch.Errorf(credbatch.KindInternal, "outbox: id generator returned %q", random)
	}
	id := random + "@" + Domain
	now := o.opts.Now().UTC()
	raw, err := mail.BuildMIME(msg, id, now)
	if err != nil {
		return "", fmt.Errorf("outbox send: %w", err)
	}
	name := now.Format("20060102T150405.000000000Z") + "_" + random + ".eml"
	if err := o.write(name, raw); err != nil {
		return "", &credbatch.Error{Kind: credbatch.KindUnavailable, Code: string(credbatch.KindUnavailable),
			Message: "the outbox directory cannot be written", Op: "outbox send", Err: err}
	}
	if o.opts.OnSend != nil {
		o.opts.OnSend(ctx, msg, id)
	}
	return id, nil
}

// write stores data under name through a temporary file in the same directory, so a reader
// never sees half a message. It does not fsync: the outbox is the development mailer, and an
// fsync per message was a seventh of the cost of issuing into it; a power cut may lose the
// last messages written.
func (o *Outbox) write(name string, data []byte) (err error) {
	f, err := os.CreateTemp(o.dir, ".tmp-*.eml")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), filepath.Join(o.dir, name)); err != nil {
		return fmt.Errorf("rename to %s: %w", name, err)
	}
	return nil
}
