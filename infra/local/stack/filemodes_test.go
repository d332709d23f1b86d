//go:build unix

package stack_test

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/credbatch/credbatch/infra/local/stack"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
)

// checkPrivate checks the permission bits of the data directory (0700) and of every
// database file in it (0600).
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{".", "credbatch.db", "credbatch.db-wal", "credbatch.db-shm", "engine.db", "engine.db-wal", "engine.db-shm"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want := fs.FileMode(0o600)
		if name == "." {
			want = 0o700
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s has mode %04o, want %04o", name, got, want)
		}
	}
}

// openAndWrite opens the stack in dir and writes to both databases, so that SQLite has
// created their -wal and -shm files; the caller closes it.
func openAndWrite(t *testing.T, dir string) *stack.Stack {
	t.Helper()
	ctx := context.Background()
	s, err := stack.Open(ctx, stack.Config{DataDir: dir, Issuer: credential.Issuer{BaseURL: "http://127.0.0.1:0", Name: "Test Academy"},
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.PutDefinition(ctx, credbatch.Definition{ID: "modes", Name: "Modes", Expiry: credbatch.Expiry{Policy: credbatch.ExpiryNone}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Engine.Start(ctx, "modes", nil); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDataDirectoryAndDatabasesArePrivate(t *testing.T) {
	// With no umask at all, nothing is hidden by the process's settings: what the stack
	// asks for is what the files get.
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })

	t.Run("new data directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		s := openAndWrite(t, dir)
		defer s.Close()
		checkPrivate(t, dir)
	})
	t.Run("data directory left open by an older version", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		s := openAndWrite(t, dir)
		s.Close()
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"credbatch.db", "engine.db"} {
			if err := os.Chmod(filepath.Join(dir, name), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s = openAndWrite(t, dir)
		defer s.Close()
		checkPrivate(t, dir)
	})
}
