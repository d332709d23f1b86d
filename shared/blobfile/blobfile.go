// Package blobfile copies credbatch.Blob objects to local files.
package blobfile

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// DownloadToTemp copies the object at key into a new temp file in dir (os.TempDir() when
// empty) that keeps the key's extension, so that format detection by name still works. The
// caller removes the file. On error no file is left behind. Errors: those of b.Get (for
// example KindNotFound), KindInternal for local I/O.
func DownloadToTemp(ctx context.Context, b credbatch.Blob, key, dir string) (string, credbatch.ObjectInfo, error) {
	rc, info, err := b.Get(ctx, key)
	if err != nil {
		return "", credbatch.ObjectInfo{}, fmt.Errorf("download %s: %w", key, err)
	}
	defer rc.Close()
	ext := strings.ToLower(path.Ext(key))
	if strings.ContainsAny(ext, `*/\`) || len(ext) > 16 {
		ext = ""
	}
	f, err := os.CreateTemp(dir, "blob-*"+ext)
	if err != nil {
		return "", credbatch.ObjectInfo{}, local(fmt.Errorf("download %s: create temp file: %w", key, err))
	}
	n, err := io.Copy(f, rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		os.Remove(f.Name())
		return "", credbatch.ObjectInfo{}, local(fmt.Errorf("download %s to %s: %w", key, f.Name(), err))
	}
	if info.Size == 0 {
		info.Size = n
	} else if info.Size != n {
		os.Remove(f.Name())
		return "", credbatch.ObjectInfo{}, &credbatch.Error{Kind: credbatch.KindUnavailable, Code: string(credbatch.KindUnavailable),
			Op: "blobfile.download", Err: fmt.Errorf("download %s: got %d bytes, want %d", key, n, info.Size)}
	}
	return f.Name(), info, nil
}

func local(err error) error {
	return &credbatch.Error{Kind: credbatch.KindInternal, Code: string(credbatch.KindInternal), Op: "blobfile.download", Err: err}
}
