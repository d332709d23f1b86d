package stack

import (
	"context"
	"errors"
	"fmt"
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
	// RetryAfter is how long the watcher waits before it ingests a file again after a
	// failure (another delivery holding the batch's lease, a store error); default 10 s.
	RetryAfter time.Duration
	seen       map[string]fileState
}

type fileState struct {
	size    int64
	mod     time.Time
	since   time.Time
	handled bool
	retryAt time.Time // after a failed ingest: not before then
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

// Scan looks at the drop folder once and ingests the files that have settled. A file whose
// ingest fails (another delivery holds its batch's lease, a store error) is tried again on a
// scan RetryAfter later, as S3 retries a failed delivery; the other files go on.
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
	var errs []error
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
		if st.handled || now.Sub(st.since) < settle || now.Before(st.retryAt) {
			return nil
		}
		b, err := w.ingest(ctx, key)
		if err != nil {
			// Try again later (as S3 retries a failed delivery); the other files go on.
			st.retryAt = now.Add(w.retryAfter())
			w.seen[key] = st
			if credbatch.ErrorCode(err) == ingest.CodeInProgress {
				w.Stack.Config.Log.Info("drop folder: file is being ingested; trying again later", "key", key, "err", err)
			} else {
				errs = append(errs, fmt.Errorf("ingest %s: %w", key, err))
			}
			return nil
		}
		st.handled = true
		w.seen[key] = st
		if b.ID != "" { // an evidence zip whose spreadsheet is not ingested yet has none
			out = append(out, b)
		}
		return nil
	})
	return out, errors.Join(append(errs, err)...)
}

func (w *Watcher) ingest(ctx context.Context, key string) (credbatch.Batch, error) {
	head, err := w.Stack.Bucket.Head(ctx, key)
	if err != nil {
		return credbatch.Batch{}, err
	}
	return w.Stack.Ingest.Ingest(ctx, ingest.Object{Bucket: Bucket, Key: key, ETag: head.ETag})
}

func (w *Watcher) retryAfter() time.Duration {
	if w.RetryAfter > 0 {
		return w.RetryAfter
	}
	return 10 * time.Second
}
