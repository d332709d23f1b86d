package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// stmts caches prepared statements by pool and query text: the driver parses a query's text
// every time it is not prepared, which costs more than running the short lookups that ingest
// and the issue workers make for every row. A *sql.Stmt is safe for concurrent use and
// prepares itself on each connection of its pool as needed; the texts are a fixed, small set.
// Statements inside write transactions are not cached: the writer pool has one connection,
// which the transaction holds, so preparing on the pool there would wait for itself.
type stmts struct {
	m sync.Map // stmtKey → *sql.Stmt
}

type stmtKey struct {
	db *sql.DB
	q  string
}

func (c *stmts) get(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	k := stmtKey{db, q}
	if v, ok := c.m.Load(k); ok {
		return v.(*sql.Stmt), nil
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if v, loaded := c.m.LoadOrStore(k, st); loaded {
		st.Close()
		return v.(*sql.Stmt), nil
	}
	return st, nil
}

func (c *stmts) close() {
	c.m.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
}

// queryRow runs a single-row read on the reader pool with a cached statement.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.stmts.get(ctx, s.r, q)
	if err != nil {
		return s.r.QueryRowContext(ctx, q, args...) // reports the same error through Scan
	}
	return st.QueryRowContext(ctx, args...)
}

// queryRows runs a read on the reader pool with a cached statement.
func (s *Store) queryRows(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.stmts.get(ctx, s.r, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// exec runs a write on the writer with a cached statement.
func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := s.stmts.get(ctx, s.w, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}
