package stack

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dirblob"
	"github.com/credbatch/credbatch/shared/ingest"
)

// Watcher ingests files that appear under the bucket folder's uploads/ prefix, each exactly
// once: a file is taken only after its size and modification time have stayed the same for
// Settle (so a slow copy is not read half-written), and the same content is never ingested
// twice (the batch id derives from the key and the content's hash).
type Watcher struct {
	Stack  *Stack
	Settle time.Duration // default 1 s
	seen   map[string]fileState
}

type fileState struct {
	size    int64
	mod     time.Time
	since   time.Time
	handled bool
}

// Run scans every interval until ctx ends.
func (w *Watcher) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := w.Scan(ctx); err != nil {
			w.Stack.Config.Log.Error("scan drop folder", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Scan looks at the drop folder once and ingests the files that have settled.
func (w *Watcher) Scan(ctx context.Context) ([]credbatch.Batch, error) {
	if w.seen == nil {
		w.seen = map[string]fileState{}
	}
	settle := w.Settle
	if settle == 0 {
		settle = time.Second
	}
	root := w.Stack.Config.BucketDir()
	now := time.Now()
	var out []credbatch.Batch
	err := filepath.WalkDir(filepath.Join(root, ingest.UploadsPrefix), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if d == nil {
				return nil // uploads/ does not exist yet
			}
			return err
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if dirblob.CheckKey(key) != nil {
			return nil
		}
		st, ok := w.seen[key]
		if !ok || st.size != info.Size() || !st.mod.Equal(info.ModTime()) {
			w.seen[key] = fileState{size: info.Size(), mod: info.ModTime(), since: now}
			return nil
		}
		if st.handled || now.Sub(st.since) < settle {
			return nil
		}
		head, err := w.Stack.Bucket.Head(ctx, key)
		if err != nil {
			return err
		}
		b, err := w.Stack.Ingest.Ingest(ctx, ingest.Object{Bucket: Bucket, Key: key, ETag: head.ETag})
		if err != nil {
			return err
		}
		st.handled = true
		w.seen[key] = st
		out = append(out, b)
		return nil
	})
	return out, err
}
