// Package evidence checks and stores evidence files: the one way a file becomes a row's evidence.
//
// A file is read once, at most the definition's limit plus one byte, into a temporary file
// while it is hashed (SHA-384) and its first bytes sniffed: its type is what its content is
// (net/http.DetectContentType: PDF, PNG, JPEG, GIF, WebP), never what its name says. A name
// whose extension claims another type is evidence_wrong_type, as is content of a type the
// definition does not allow; a file over the limit is evidence_too_large. A checked file is
// stored in the bucket under credbatch.EvidenceKey (evidence/<batch>/<row>-<hash>.<ext>), so
// storing the same file for the same row again writes the same object.
package evidence

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// sniffLen is how many leading bytes DetectContentType looks at.
const sniffLen = 512

// File is an evidence file that passed the checks, spooled to a temporary file until it is
// stored. Close removes the temporary file.
type File struct {
	Name      string // as the upload named it
	MediaType string // by content
	Size      int64
	Digest    string // SRI: "sha384-" + base64 of the SHA-384 of the content
	tmp       *os.File
}

// Read checks the file name holds (r) against the definition's evidence settings s and
// spools it into tmpDir (os.TempDir() when empty). It reads at most s.Limit()+1 bytes of r.
// Errors: a *credbatch.Error of kind KindInvalid with code evidence_wrong_type or
// evidence_too_large whose message names the file and the fix; KindInternal for local I/O;
// r's own error (wrapped) when reading it fails.
func Read(name string, r io.Reader, s credbatch.EvidenceSettings, tmpDir string) (*File, error) {
	limit := s.Limit()
	tmp, err := os.CreateTemp(tmpDir, "evidence-*")
	if err != nil {
		return nil, internal(fmt.Errorf("evidence %q: temporary file: %w", name, err))
	}
	f := &File{Name: name, tmp: tmp}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	h := sha512.New384()
	head := &prefix{max: sniffLen}
	n, err := io.Copy(io.MultiWriter(localWriter{tmp}, h, head), io.LimitReader(r, limit+1))
	if err != nil {
		if isLocal(err) {
			return nil, internal(fmt.Errorf("evidence %q: spool: %w", name, err))
		}
		return nil, fmt.Errorf("evidence %q: read: %w", name, err)
	}
	if n > limit {
		return nil, credbatch.E(credbatch.KindInvalid, credbatch.CodeEvidenceTooLarge, fmt.Sprintf(
			"The evidence file %q is larger than %s, the limit for this credential; make it smaller (a lower resolution, a compressed PDF) and upload it again.",
			name, humanBytes(limit)))
	}
	mt, err := mediaType(name, head.b, s)
	if err != nil {
		return nil, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, internal(fmt.Errorf("evidence %q: rewind: %w", name, err))
	}
	f.MediaType, f.Size = mt, n
	f.Digest = "sha384-" + base64.StdEncoding.EncodeToString(h.Sum(nil))
	ok = true
	return f, nil
}

// Store puts the file in the bucket as the evidence of the batch's row and returns it as the
// row's credbatch.EvidenceFile (AddedBy and AddedAt from by and at). The key is
// credbatch.EvidenceKey's, so storing the same file for the same row again is harmless.
// Errors: those of b.Put (KindInvalid, KindUnavailable), KindInternal for local I/O.
func (f *File) Store(ctx context.Context, b credbatch.Blob, batchID string, row int, by string, at time.Time) (credbatch.EvidenceFile, error) {
	ef, err := f.Describe(batchID, row, by, at)
	if err != nil {
		return credbatch.EvidenceFile{}, err
	}
	if _, err := f.tmp.Seek(0, io.SeekStart); err != nil {
		return credbatch.EvidenceFile{}, internal(fmt.Errorf("evidence %q: rewind: %w", f.Name, err))
	}
	if _, err := b.Put(ctx, ef.Key, f.tmp, f.MediaType, map[string]string{"digest": f.Digest}); err != nil {
		return credbatch.EvidenceFile{}, fmt.Errorf("store evidence %q of row %d as %s: %w", f.Name, row, ef.Key, err)
	}
	return ef, nil
}

// Describe returns the credbatch.EvidenceFile that Store returns for the same arguments,
// without storing anything (a caller that stores it later, in the background).
func (f *File) Describe(batchID string, row int, by string, at time.Time) (credbatch.EvidenceFile, error) {
	key, err := credbatch.EvidenceKey(batchID, row, f.Digest, f.MediaType)
	if err != nil {
		return credbatch.EvidenceFile{}, err
	}
	return credbatch.EvidenceFile{Name: f.Name, Key: key, MediaType: f.MediaType, Size: f.Size, Digest: f.Digest,
		AddedBy: by, AddedAt: at.UTC()}, nil
}

// Close removes the temporary file.
func (f *File) Close() error {
	if f == nil || f.tmp == nil {
		return nil
	}
	name := f.tmp.Name()
	err := f.tmp.Close()
	if rerr := os.Remove(name); err == nil && rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	f.tmp = nil
	return err
}

// Put reads, checks and stores one evidence file: Read, then Store. Errors: those of Read
// and Store.
func Put(ctx context.Context, b credbatch.Blob, s credbatch.EvidenceSettings, batchID string, row int, name string, r io.Reader,
	tmpDir, by string, at time.Time) (credbatch.EvidenceFile, error) {
	f, err := Read(name, r, s, tmpDir)
	if err != nil {
		return credbatch.EvidenceFile{}, err
	}
	defer f.Close()
	return f.Store(ctx, b, batchID, row, by, at)
}

// Sniff returns the evidence media type of content that starts with head ("" when it is
// none of credbatch.EvidenceMediaTypes).
func Sniff(head []byte) string {
	t, _, _ := strings.Cut(http.DetectContentType(head), ";")
	if _, ok := credbatch.LookupMediaType(t); ok {
		return t
	}
	return ""
}

// mediaType decides the file's type by its content and checks it against the definition and
// the name's extension.
func mediaType(name string, head []byte, s credbatch.EvidenceSettings) (string, error) {
	allowed := allowedNames(s)
	t := Sniff(head)
	if t == "" || !s.Allows(t) {
		what := "not a file type credbatch recognises"
		if t != "" {
			what = "a " + TypeName(t)
		}
		if len(head) == 0 {
			what = "empty"
		}
		return "", credbatch.E(credbatch.KindInvalid, credbatch.CodeEvidenceWrongType, fmt.Sprintf(
			"The evidence file %q is %s; this credential accepts %s. Save it as one of those and upload it again.", name, what, allowed))
	}
	ext := strings.ToLower(path.Ext(strings.ReplaceAll(name, "\\", "/")))
	if ext == "" {
		return t, nil
	}
	m, _ := credbatch.LookupMediaType(t)
	for _, e := range m.Exts {
		if e == ext {
			return t, nil
		}
	}
	claim := "has the extension " + ext
	if c, ok := credbatch.MediaTypeOfName(name); ok {
		claim = "is named as a " + TypeName(c.Type)
	}
	return "", credbatch.E(credbatch.KindInvalid, credbatch.CodeEvidenceWrongType, fmt.Sprintf(
		"The evidence file %q %s but its content is a %s; rename it to end in %s (or save it in the type its name says) and upload it again.",
		name, claim, TypeName(t), m.Ext))
}

// TypeName is how a message or a page names a media type ("PDF", "PNG image").
func TypeName(t string) string {
	switch t {
	case "application/pdf":
		return "PDF"
	case "image/png":
		return "PNG image"
	case "image/jpeg":
		return "JPEG image"
	case "image/gif":
		return "GIF image"
	case "image/webp":
		return "WebP image"
	}
	return t
}

func allowedNames(s credbatch.EvidenceSettings) string {
	ts := s.Types()
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = strings.TrimSuffix(TypeName(t), " image")
	}
	switch len(names) {
	case 1:
		return names[0] + " files"
	default:
		return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1] + " files"
	}
}

// humanBytes writes a byte count as MiB/KiB when it divides evenly, else bytes.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// prefix keeps the first max bytes written to it.
type prefix struct {
	b   []byte
	max int
}

func (p *prefix) Write(b []byte) (int, error) {
	if k := p.max - len(p.b); k > 0 {
		p.b = append(p.b, b[:min(k, len(b))]...)
	}
	return len(b), nil
}

// localError marks an error of the temporary file (not of the reader being copied).
type localError struct{ err error }

func (e localError) Error() string { return e.err.Error() }
func (e localError) Unwrap() error { return e.err }

// localWriter marks the errors of writing w as localError.
type localWriter struct{ w io.Writer }

func (l localWriter) Write(b []byte) (int, error) {
	n, err := l.w.Write(b)
	if err != nil {
		err = localError{err}
	}
	return n, err
}

func isLocal(err error) bool {
	var l localError
	return errors.As(err, &l)
}

func internal(err error) error {
	return &credbatch.Error{Kind: credbatch.KindInternal, Code: string(credbatch.KindInternal), Op: "evidence", Err: err}
}
