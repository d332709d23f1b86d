package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/sqlite"
	"github.com/credbatch/credbatch/shared/storetest"
)

// mustOpen opens a fresh store in a file under t.TempDir, closed at cleanup.
func mustOpen(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	if path == "" {
		path = filepath.Join(tb.TempDir(), "credbatch.db")
	}
	s, err := sqlite.Open(tb.Context(), path)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) credbatch.Store { return mustOpen(t, "") })
}
