package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
)

// stmts caches prepared statements by pool and query text: the driver parses a query's text
// every time it is not prepared, which costs more than running the short lookups that ingest
// and the issue workers make for every row. A *sql.Stmt is safe for concurrent use and
// prepares itself on each connection of its pool as needed; the texts are a fixed, small set.
// Inside a write transaction (wtx) a statement is bound to the transaction from the writer
// pool's cached one, which reuses what the one writer connection prepared; a text not yet
// cached runs unprepared once and is prepared after the transaction, since preparing on the
// pool while the transaction holds its one connection would wait for itself.
type stmts struct {
	m sync.Map // stmtKey → *sql.Stmt
	n atomic.Int64
}

// maxStmts bounds the cache: the texts are a fixed set, a few of them per row count (batched
// inserts) or per optional column; anything beyond runs unprepared.
const maxStmts = 512

type stmtKey struct {
	db *sql.DB
	q  string
}

func (c *stmts) get(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	k := stmtKey{db, q}
	if v, ok := c.m.Load(k); ok {
		return v.(*sql.Stmt), nil
	}
	if c.n.Load() >= maxStmts {
		return nil, errNotCached
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if v, loaded := c.m.LoadOrStore(k, st); loaded {
		st.Close()
		return v.(*sql.Stmt), nil
	}
	c.n.Add(1)
	return st, nil
}

// errNotCached is get's answer when the cache is full; callers run the text unprepared.
var errNotCached = errors.New("sqlite: statement cache full")

// cached returns the statement already prepared for q on db, or nil.
func (c *stmts) cached(db *sql.DB, q string) *sql.Stmt {
	if v, ok := c.m.Load(stmtKey{db, q}); ok {
		return v.(*sql.Stmt)
	}
	return nil
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
	if errors.Is(err, errNotCached) {
		return s.w.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// writeRow runs a single-row write (… RETURNING) on the writer with a cached statement.
func (s *Store) writeRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.stmts.get(ctx, s.w, q)
	if err != nil {
		return s.w.QueryRowContext(ctx, q, args...) // reports a preparation error through Scan
	}
	return st.QueryRowContext(ctx, args...)
}

// wtx is a write transaction (see Store.tx) whose statements come from the cache.
type wtx struct {
	*sql.Tx // for what must not be cached (migration scripts, prepared batches)
	s       *Store
	later   []string // texts run unprepared, to prepare once the transaction is over
}

func (t *wtx) stmt(ctx context.Context, q string) *sql.Stmt {
	if st := t.s.stmts.cached(t.s.w, q); st != nil {
		return t.Tx.StmtContext(ctx, st)
	}
	t.later = append(t.later, q)
	return nil
}

// ExecContext runs a statement in the transaction.
func (t *wtx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, q, args...)
}

// QueryRowContext runs a single-row query in the transaction.
func (t *wtx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, q, args...)
}

// prepareLater prepares on the writer pool the texts a finished transaction ran unprepared,
// so the next transaction finds them cached. A failure only leaves a text uncached.
func (t *wtx) prepareLater(ctx context.Context) {
	for _, q := range t.later {
		_, _ = t.s.stmts.get(ctx, t.s.w, q)
	}
	t.later = nil
}
