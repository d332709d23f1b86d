// Package dirblob is a credbatch.Blob kept in a local directory (the local stack's bucket).
//
// Keys are slash-separated paths under the root. Content is written atomically (temp file
// and rename); content type and user metadata live in a sidecar JSON file under a hidden
// directory, so the bucket folder holds only the objects themselves. A file dropped into the
// folder by hand is an object too: its ETag is computed from its content and its content type
// guessed from its extension.
package dirblob

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// MetaDir is the hidden directory under the root that holds sidecar files and temp files.
// Keys may not start with it.
const MetaDir = ".credbatch"

// Store is a directory-backed credbatch.Blob. It is safe for concurrent use; concurrent
// writers of the same key leave one of the writes (last rename wins).
type Store struct {
	root    string
	bucket  string
	baseURL string
	sign    *signing // WithSigning
}

var _ credbatch.Blob = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithBaseURL makes PresignGet and PresignPut return baseURL + "/" + escaped key (for a local
// HTTP server that serves the folder) instead of file:// URLs.
func WithBaseURL(baseURL string) Option {
	return func(s *Store) { s.baseURL = strings.TrimRight(baseURL, "/") }
}

// WithBucket sets the bucket name reported in ObjectInfo.Bucket (default: the root's base name).
func WithBucket(name string) Option {
	return func(s *Store) { s.bucket = name }
}

// New returns a Store rooted at dir, creating the directory when missing.
func New(dir string, opts ...Option) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("dirblob: resolve root %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, MetaDir, "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("dirblob: create root %s: %w", abs, err)
	}
	s := &Store{root: abs, bucket: filepath.Base(abs)}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Root returns the absolute directory that holds the objects.
func (s *Store) Root() string { return s.root }

// Path returns the file path of the object at key, after checking the key.
func (s *Store) Path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// CheckKey applies credbatch.CheckKey and also refuses keys inside MetaDir, the folder that
// holds the store's sidecar and temporary files.
func CheckKey(key string) error {
	if err := credbatch.CheckKey(key); err != nil {
		return err
	}
	if first, _, _ := strings.Cut(key, "/"); first == MetaDir {
		return &credbatch.Error{Kind: credbatch.KindInvalid, Code: "invalid_key",
			Message: fmt.Sprintf("object key %q is not allowed: it is inside the reserved %s directory", key, MetaDir)}
	}
	return nil
}

// sidecar is the JSON kept beside each object written through the Store.
type sidecar struct {
	ContentType string            `json:"content_type,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	ETag        string            `json:"etag"`
	Size        int64             `json:"size"`
	ModTime     time.Time         `json:"mod_time"`
}

func (s *Store) metaPath(key string) string {
	return filepath.Join(s.root, MetaDir, "meta", filepath.FromSlash(key)+".meta.json")
}

func notFound(op, key string, err error) error {
	return &credbatch.Error{Kind: credbatch.KindNotFound, Code: string(credbatch.KindNotFound),
		Message: fmt.Sprintf("object %q not found", key), Op: op, Err: err}
}

// missing reports whether err means no object: no such file, or a path through a file.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func internal(op string, err error) error {
	return &credbatch.Error{Kind: credbatch.KindInternal, Code: string(credbatch.KindInternal), Op: op, Err: err}
}

// Head returns the object's info. Errors: KindInvalid, KindNotFound.
func (s *Store) Head(ctx context.Context, key string) (credbatch.ObjectInfo, error) {
	p, err := s.Path(key)
	if err != nil {
		return credbatch.ObjectInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		if missing(err) {
			return credbatch.ObjectInfo{}, notFound("dirblob.head", key, err)
		}
		return credbatch.ObjectInfo{}, internal("dirblob.head", fmt.Errorf("stat %s: %w", key, err))
	}
	if !fi.Mode().IsRegular() {
		return credbatch.ObjectInfo{}, notFound("dirblob.head", key, fmt.Errorf("%s is not a regular file", p))
	}
	return s.info(key, p, fi)
}

// info combines the file's stat with its sidecar, or computes the ETag when the sidecar is
// missing or stale (the file was replaced by hand).
func (s *Store) info(key, p string, fi fs.FileInfo) (credbatch.ObjectInfo, error) {
	info := credbatch.ObjectInfo{Bucket: s.bucket, Key: key, Size: fi.Size(), LastModified: fi.ModTime().UTC()}
	var sc sidecar
	if b, err := os.ReadFile(s.metaPath(key)); err == nil && json.Unmarshal(b, &sc) == nil &&
		sc.Size == fi.Size() && sc.ModTime.Equal(fi.ModTime()) {
		info.ETag, info.ContentType, info.Metadata = sc.ETag, sc.ContentType, sc.Metadata
		return info, nil
	}
	sum, err := md5File(p)
	if err != nil {
		return credbatch.ObjectInfo{}, internal("dirblob.head", fmt.Errorf("hash %s: %w", key, err))
	}
	info.ETag = sum
	info.ContentType = mime.TypeByExtension(path.Ext(key))
	if info.ContentType == "" {
		info.ContentType = "application/octet-stream"
	}
	return info, nil
}

func md5File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Get opens the object; the caller closes the reader. Errors: KindInvalid, KindNotFound.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, credbatch.ObjectInfo, error) {
	p, err := s.Path(key)
	if err != nil {
		return nil, credbatch.ObjectInfo{}, err
	}
	f, err := os.Open(p)
	if err != nil {
		if missing(err) {
			return nil, credbatch.ObjectInfo{}, notFound("dirblob.get", key, err)
		}
		return nil, credbatch.ObjectInfo{}, internal("dirblob.get", fmt.Errorf("open %s: %w", key, err))
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, credbatch.ObjectInfo{}, notFound("dirblob.get", key, err)
	}
	info, err := s.info(key, p, fi)
	if err != nil {
		f.Close()
		return nil, credbatch.ObjectInfo{}, err
	}
	return f, info, nil
}

// Delete removes the object and its metadata; deleting a missing object is not an error.
// Errors: KindInvalid, KindInternal.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.Path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !missing(err) {
		return internal("dirblob.delete", fmt.Errorf("remove %s: %w", key, err))
	}
	if err := os.Remove(s.metaPath(key)); err != nil && !missing(err) {
		return internal("dirblob.delete", fmt.Errorf("remove metadata of %s: %w", key, err))
	}
	return nil
}

// Put stores the object atomically, replacing any previous content and metadata. Metadata
// keys are lower-cased as S3 does. Errors: KindInvalid, KindInternal.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, contentType string, metadata map[string]string) (credbatch.ObjectInfo, error) {
	p, err := s.Path(key)
	if err != nil {
		return credbatch.ObjectInfo{}, err
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	tmpDir := filepath.Join(s.root, MetaDir, "tmp")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return credbatch.ObjectInfo{}, internal("dirblob.put", fmt.Errorf("create temp dir: %w", err))
	}
	tmp, err := os.CreateTemp(tmpDir, "put-*")
	if err != nil {
		return credbatch.ObjectInfo{}, internal("dirblob.put", fmt.Errorf("create temp file for %s: %w", key, err))
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), contextReader{ctx, r})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return credbatch.ObjectInfo{}, internal("dirblob.put", fmt.Errorf("write %s: %w", key, err))
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return credbatch.ObjectInfo{}, internal("dirblob.put", fmt.Errorf("create folder for %s: %w", key, err))
	}
	// Stat before the rename: once renamed, a concurrent Delete may remove the file.
	fi, err := os.Stat(tmp.Name())
	if err != nil {
		return credbatch.ObjectInfo{}, internal("dirblob.put", fmt.Errorf("stat %s: %w", key, err))
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return credbatch.ObjectInfo{}, internal("dirblob.put", fmt.Errorf("rename into %s: %w", key, err))
	}
	var md map[string]string
	if len(metadata) > 0 {
		md = make(map[string]string, len(metadata))
		for k, v := range metadata {
			md[strings.ToLower(k)] = v
		}
	}
	sc := sidecar{ContentType: contentType, Metadata: md, ETag: hex.EncodeToString(h.Sum(nil)), Size: n, ModTime: fi.ModTime()}
	if err := s.writeSidecar(key, sc); err != nil {
		return credbatch.ObjectInfo{}, internal("dirblob.put", fmt.Errorf("write metadata of %s: %w", key, err))
	}
	return credbatch.ObjectInfo{Bucket: s.bucket, Key: key, ETag: sc.ETag, Size: n, ContentType: contentType,
		Metadata: md, LastModified: fi.ModTime().UTC()}, nil
}

func (s *Store) writeSidecar(key string, sc sidecar) error {
	b, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	mp := s.metaPath(key)
	if err := os.MkdirAll(filepath.Dir(mp), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Join(s.root, MetaDir, "tmp"), "meta-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), mp)
}

// PresignGet returns a URL for the object: baseURL + key when configured (SigV4-signed for
// ttl with WithSigning, see Verify), else a file:// URL. Errors: KindInvalid.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	return s.presign(ctx, http.MethodGet, key, http.Header{}, ttl)
}

// PresignPut returns a URL to upload the key to with the content type; see PresignGet and
// PresignPutMetadata. Errors: KindInvalid.
func (s *Store) PresignPut(ctx context.Context, key, contentType string, ttl time.Duration) (string, error) {
	return s.PresignPutMetadata(ctx, key, contentType, nil, 0, ttl)
}

func (s *Store) url(key string, ttl time.Duration) (string, error) {
	p, err := s.Path(key)
	if err != nil {
		return "", err
	}
	if ttl <= 0 {
		return "", credbatch.E(credbatch.KindInvalid, "invalid_ttl", "a presigned URL needs a positive lifetime")
	}
	if s.baseURL != "" {
		segs := strings.Split(key, "/")
		for i, seg := range segs {
			segs[i] = url.PathEscape(seg)
		}
		return s.baseURL + "/" + strings.Join(segs, "/"), nil
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(p)}).String(), nil
}

// contextReader stops a copy when the context is cancelled.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

var _ credbatch.ReaderAtBlob = (*Store)(nil)

// OpenAt opens the object's file for reading at offsets; the caller closes it. Errors:
// KindInvalid, KindNotFound.
func (s *Store) OpenAt(ctx context.Context, key string) (credbatch.ObjectReaderAt, credbatch.ObjectInfo, error) {
	rc, info, err := s.Get(ctx, key)
	if err != nil {
		return nil, info, err
	}
	return rc.(*os.File), info, nil
}
