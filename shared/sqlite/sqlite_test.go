package sqlite_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
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

func TestPersistence(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "credbatch.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if _, err := s.PutDefinition(ctx, credbatch.Definition{ID: "course", Name: "Course"}); err != nil {
		t.Fatalf("put definition: %v", err)
	}
	schema, err := s.SchemaVersion(ctx)
	if err != nil || schema < 1 {
		t.Fatalf("schema version %d, %v; want the last migration's number", schema, err)
	}
	b := credbatch.Batch{ID: "b1", Label: "Spring", Status: credbatch.BatchReceived, TaskToken: "tok"}
	if err := s.CreateBatch(ctx, b); err != nil {
		t.Fatalf("create batch: %v", err)
	}
	if err := s.PutRows(ctx, []credbatch.Row{{BatchID: "b1", Number: 2, Email: "a@example.com", Status: credbatch.RowValid}}); err != nil {
		t.Fatalf("put rows: %v", err)
	}
	first, err := s.AllocateStatusIndexes(ctx, 10)
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	for reopen := range 2 { // reopening must not re-apply migrations
		s := mustOpen(t, path)
		if v, err := s.SchemaVersion(ctx); err != nil || v != schema {
			t.Fatalf("reopen %d: schema version %d, %v; want %d", reopen, v, err, schema)
		}
		d, err := s.GetDefinition(ctx, "course", 0)
		if err != nil || d.Name != "Course" || d.Version != 1 {
			t.Fatalf("reopen %d: definition %+v, %v", reopen, d, err)
		}
		got, err := s.GetBatch(ctx, "b1")
		if err != nil || got.Label != "Spring" || got.TaskToken != "tok" {
			t.Fatalf("reopen %d: batch %+v, %v", reopen, got, err)
		}
		r, err := s.GetRow(ctx, "b1", 2)
		if err != nil || r.Email != "a@example.com" {
			t.Fatalf("reopen %d: row %+v, %v", reopen, r, err)
		}
		next, err := s.AllocateStatusIndexes(ctx, 1)
		if err != nil || next != first+10+reopen {
			t.Fatalf("reopen %d: next index %d, %v; want %d", reopen, next, err, first+10+reopen)
		}
		s.Close()
	}
}

// TestTwoHandles races two stores opened on one file (the local server and the CLI):
// the loser of a transition must see a clean conflict, never SQLITE_BUSY.
func TestTwoHandles(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "credbatch.db")
	a, b := mustOpen(t, path), mustOpen(t, path)
	stores := []*sqlite.Store{a, b}
	for round := range 10 {
		id := fmt.Sprintf("b%d", round)
		if err := a.CreateBatch(ctx, credbatch.Batch{ID: id, Status: credbatch.BatchReceived}); err != nil {
			t.Fatalf("create: %v", err)
		}
		errs := make([]error, len(stores))
		var wg sync.WaitGroup
		for i, s := range stores {
			wg.Go(func() {
				_, errs[i] = s.TransitionBatch(ctx, id, credbatch.BatchReceived, credbatch.BatchParsed, credbatch.BatchChange{})
			})
		}
		wg.Wait()
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case credbatch.ErrorKind(err) != credbatch.KindConflict:
				t.Fatalf("round %d store %d: got %v (kind %s), want conflict", round, i, err, credbatch.ErrorKind(err))
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d winners, want 1", round, wins)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name, path string
		want       credbatch.Kind
	}{
		{"empty path", "", credbatch.KindInvalid},
		{"missing directory", filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"), credbatch.KindInternal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlite.Open(t.Context(), tc.path)
			if err == nil {
				s.Close()
				t.Fatalf("open %q: got no error", tc.path)
			}
			if got := credbatch.ErrorKind(err); got != tc.want {
				t.Fatalf("open %q: kind %s (%v), want %s", tc.path, got, err, tc.want)
			}
		})
	}
}

// TestOpenOddPath opens a file whose path has characters that mean something in a URI.
func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "we?ird #1 %20 dir")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "credbatch?.db")
	s := mustOpen(t, path)
	if err := s.CreateBatch(t.Context(), credbatch.Batch{ID: "b1", Status: credbatch.BatchReceived}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at the path given: %v", err)
	}
}
