package sqlite

import (
	"path/filepath"
	"testing"
)

// TestTxStatementsCached: a text a write transaction runs is prepared once the transaction
// is over, later transactions run the cached statement, and a full cache still runs texts.
func TestTxStatementsCached(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "credbatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const q = `INSERT INTO marks (name, at) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET at = excluded.at`
	run := func(at int) {
		t.Helper()
		if err := s.tx(ctx, "test", func(tx *wtx) error {
			_, err := tx.ExecContext(ctx, q, "m", at)
			return err
		}); err != nil {
			t.Fatalf("tx %d: %v", at, err)
		}
	}
	run(1)
	if s.stmts.cached(s.w, q) == nil {
		t.Fatal("the text was not prepared after its first transaction")
	}
	run(2)
	s.stmts.n.Store(maxStmts) // full: new texts run unprepared
	const other = `UPDATE marks SET at = ? WHERE name = ?`
	if err := s.tx(ctx, "test", func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, other, 3, "m")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.exec(ctx, other, 4, "m"); err != nil {
		t.Fatal(err)
	}
	if s.stmts.cached(s.w, other) != nil {
		t.Fatal("a text was cached beyond maxStmts")
	}
	var at int
	if err := s.queryRow(ctx, `SELECT at FROM marks WHERE name = 'm'`).Scan(&at); err != nil || at != 4 {
		t.Fatalf("mark at %d (%v), want 4", at, err)
	}
}
