package dirblob_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/blobtest"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dirblob"
)

func newStore(t *testing.T, opts ...dirblob.Option) *dirblob.Store {
	t.Helper()
	s, err := dirblob.New(t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) credbatch.Blob { return newStore(t) })
}

func TestContractBaseURL(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) credbatch.Blob {
		return newStore(t, dirblob.WithBaseURL("http://127.0.0.1:8080/blob/"))
	})
}

func TestPresignURL(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		opts []dirblob.Option
		key  string
		want func(root string) string
	}{
		{"base URL", []dirblob.Option{dirblob.WithBaseURL("http://127.0.0.1:8080/b/")}, "uploads/a b/é.csv",
			func(string) string { return "http://127.0.0.1:8080/b/uploads/a%20b/%C3%A9.csv" }},
		{"file URL", nil, "uploads/x.csv",
			func(root string) string { return "file://" + filepath.ToSlash(root) + "/uploads/x.csv" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, tc.opts...)
			got, err := s.PresignGet(ctx, tc.key, time.Minute)
			if err != nil {
				t.Fatalf("PresignGet: %v", err)
			}
			if want := tc.want(s.Root()); got != want {
				t.Errorf("PresignGet = %q, want %q", got, want)
			}
		})
	}
}

// The bucket folder holds only the objects: sidecars and temp files live in the hidden dir.
func TestLayout(t *testing.T) {
	s := newStore(t)
	blobtest.MustPut(t, s, "uploads/d1/a.csv", []byte("x"), "text/csv", map[string]string{"k": "v"})
	var got []string
	err := filepath.WalkDir(s.Root(), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == dirblob.MetaDir {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(s.Root(), p)
			got = append(got, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "uploads/d1/a.csv"; len(got) != 1 || got[0] != want {
		t.Errorf("files outside %s = %v, want [%s]", dirblob.MetaDir, got, want)
	}
	tmp, err := os.ReadDir(filepath.Join(s.Root(), dirblob.MetaDir, "tmp"))
	if err != nil || len(tmp) != 0 {
		t.Errorf("temp dir after Put: %d entries, err %v; want empty", len(tmp), err)
	}
}

// A file dropped into the folder by hand (or replaced behind the Store's back) is an object
// whose ETag is its MD5 and whose content type comes from its extension.
func TestDroppedFile(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	blobtest.MustPut(t, s, "uploads/replaced.csv", []byte("old"), "text/plain", map[string]string{"k": "v"})
	tests := []struct {
		key, content, wantType, wantETag string
	}{
		{"uploads/new.csv", "hello", "text/csv; charset=utf-8", "5d41402abc4b2a76b9719d911017c592"},
		{"uploads/replaced.csv", "hello", "text/csv; charset=utf-8", "5d41402abc4b2a76b9719d911017c592"},
		{"uploads/noext", "", "application/octet-stream", "d41d8cd98f00b204e9800998ecf8427e"},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			p := filepath.Join(s.Root(), filepath.FromSlash(tc.key))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			// Make a same-size rewrite visible even on coarse file-system clocks.
			future := time.Now().Add(time.Minute)
			if err := os.Chtimes(p, future, future); err != nil {
				t.Fatal(err)
			}
			got, err := s.Head(ctx, tc.key)
			if err != nil {
				t.Fatalf("Head: %v", err)
			}
			if got.ETag != tc.wantETag || got.ContentType != tc.wantType || len(got.Metadata) != 0 {
				t.Errorf("Head = {ETag %q, ContentType %q, Metadata %v}, want {%q, %q, none}",
					got.ETag, got.ContentType, got.Metadata, tc.wantETag, tc.wantType)
			}
		})
	}
}

func TestCheckKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"uploads/a.csv", true},
		{"a", true},
		{"uploads/..hidden/x", true},
		{"uploads/" + dirblob.MetaDir + "/x", true},
		{dirblob.MetaDir + "/meta/x", false},
		{"", false},
		{"/abs", false},
		{"..", false},
		{"a/../b", false},
		{`a\b`, false},
		{"a//b", false},
		{"a/", false},
		{"tab\there", false},
		{strings.Repeat("a", 1025), false},
	}
	for _, tc := range tests {
		err := dirblob.CheckKey(tc.key)
		if got := err == nil; got != tc.want {
			t.Errorf("CheckKey(%q) = %v, want ok=%v", tc.key, err, tc.want)
		}
		if err != nil && !credbatch.IsKind(err, credbatch.KindInvalid) {
			t.Errorf("CheckKey(%q) kind = %s, want %s", tc.key, credbatch.ErrorKind(err), credbatch.KindInvalid)
		}
	}
}
