package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// TestDBErrBusy provokes a real SQLITE_BUSY (a second writer with no busy timeout) and checks
// that it is classified as unavailable, while other errors keep or get their kinds.
func TestDBErrBusy(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "busy.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer a.ExecContext(context.Background(), "ROLLBACK")
	_, busy := b.ExecContext(ctx, "BEGIN IMMEDIATE")
	if busy == nil {
		t.Fatal("second BEGIN IMMEDIATE: got no error, want SQLITE_BUSY")
	}

	tests := []struct {
		name string
		err  error
		want credbatch.Kind
	}{
		{"busy", busy, credbatch.KindUnavailable},
		{"cancelled", context.Canceled, credbatch.KindUnavailable},
		{"other", errors.New("disk I/O error"), credbatch.KindInternal},
		{"domain error keeps its kind", credbatch.NotFound("batch", "b1"), credbatch.KindNotFound},
	}
	for _, tc := range tests {
		if got := credbatch.ErrorKind(dbErr("op", tc.err)); got != tc.want {
			t.Errorf("%s: kind %s, want %s", tc.name, got, tc.want)
		}
	}
	if dbErr("op", nil) != nil {
		t.Error("nil error: got non-nil")
	}
}
