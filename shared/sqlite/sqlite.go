// Package sqlite is the credbatch.Store of the local stack: one SQLite file (modernc.org/sqlite, pure Go).
//
// The file runs in WAL mode. Writes go through a pool of a single connection whose
// transactions begin IMMEDIATE, so writers in this process queue instead of failing with
// SQLITE_BUSY, and every read-modify-write happens inside one transaction; reads use a
// separate pool and never wait for a writer. Conditional changes (batch transitions, email
// status, marks) are single UPDATE statements with the expected state in the WHERE clause,
// and "0 rows affected" becomes a conflict, exactly as a conditional write on DynamoDB.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/credbatch/credbatch/shared/credbatch"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a credbatch.Store in a SQLite file.
type Store struct {
	w     *sql.DB // writer: one connection, BEGIN IMMEDIATE
	r     *sql.DB // readers
	now   func() time.Time
	stmts stmts
}

var _ credbatch.Store = (*Store)(nil)

var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// busyTimeout is how long a statement waits for another process's write lock.
const busyTimeout = 10 * time.Second

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock used for CreatedAt/UpdatedAt stamps (default time.Now).
func WithClock(c credbatch.Clock) Option { return func(s *Store) { s.now = c } }

// Open opens (creating if needed) the store file at path and applies pending migrations.
// The file and its -wal and -shm files are private to the owner (see PrivateFile).
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if path == "" {
		return nil, credbatch.E(credbatch.KindInvalid, "invalid", "sqlite: the database path is empty")
	}
	if err := PrivateFile(path); err != nil {
		return nil, err
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)")
		for i := 0; i+1 < len(extra); i += 2 {
			q.Add(extra[i], extra[i+1])
		}
		// A file: URI, so the path's %, ? and # are escaped (SQLite decodes them).
		return "file:" + uriPath.Replace(path) + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn("_txlock", "immediate"))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn("_pragma", "query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s.r = r
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.stmts.close()
	return errors.Join(s.r.Close(), s.w.Close())
}

// migrate applies every embedded migration newer than the schema version, in one transaction.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	return s.tx(ctx, "migrate", func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
			return err
		}
		for _, name := range names {
			base := strings.TrimPrefix(name, "migrations/")
			num, _, _ := strings.Cut(base, "_")
			v, err := strconv.Atoi(num)
			if err != nil {
				return fmt.Errorf("migration %s: name must start with a number", base)
			}
			if v <= current {
				continue
			}
			body, err := migrations.ReadFile(name)
			if err != nil {
				return err
			}
			if _, err := tx.Tx.ExecContext(ctx, string(body)); err != nil { // a script: never cached
				return fmt.Errorf("migration %s: %w", base, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, v); err != nil {
				return err
			}
			current = v
		}
		return nil
	})
}

// SchemaVersion returns the version of the last applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	return v, dbErr("schema version", err)
}

// tx runs fn in a write transaction (BEGIN IMMEDIATE), committing when it returns nil.
// Its statements are cached (wtx).
func (s *Store) tx(ctx context.Context, op string, fn func(tx *wtx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(op, err)
	}
	t := &wtx{Tx: tx, s: s}
	defer t.prepareLater(context.WithoutCancel(ctx))
	if err := fn(t); err != nil {
		tx.Rollback()
		return dbErr(op, err)
	}
	return dbErr(op, tx.Commit())
}

// dbErr classifies an error: *credbatch.Error values keep their kind (with op added as
// context), SQLITE_BUSY/LOCKED become KindUnavailable, everything else KindInternal.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *credbatch.Error
	if errors.As(err, &ce) {
		if ce.Op == "" {
			c := *ce
			c.Op = op
			return &c
		}
		return err
	}
	kind := credbatch.KindInternal
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			kind = credbatch.KindUnavailable
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		kind = credbatch.KindUnavailable
	}
	return &credbatch.Error{Kind: kind, Code: string(kind), Op: "sqlite: " + op, Message: err.Error(), Err: err}
}

// nanos encodes a time as Unix nanoseconds; the zero time is 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos decodes nanos; 0 is the zero time. Times come back in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// fromJSON decodes a JSON column, ignoring an empty one.
func fromJSON(s string, v any) error {
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), v)
}

// limit applies the page-size rules: 0 = DefaultPageSize, capped at MaxPageSize.
func limit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, credbatch.Errorf(credbatch.KindInvalid, "limit %d: must not be negative", n)
	case n == 0:
		return credbatch.DefaultPageSize, nil
	case n > credbatch.MaxPageSize:
		return credbatch.MaxPageSize, nil
	}
	return n, nil
}

// cursor is the key of the last item of a page: a sort value and an id.
type cursor struct {
	N  int64  `json:"n,omitempty"`
	ID string `json:"id,omitempty"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses an opaque cursor; "" is the start (ok false).
func decodeCursor(s string) (c cursor, ok bool, err error) {
	if s == "" {
		return c, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		return c, false, credbatch.E(credbatch.KindInvalid, "invalid_cursor", "the page cursor is not valid; start again without it")
	}
	return c, true, nil
}

// page trims a result fetched with limit+1 items and sets the next cursor.
func page[T any](items []T, n int, key func(T) cursor) credbatch.Page[T] {
	if items == nil {
		items = []T{}
	}
	if len(items) <= n {
		return credbatch.Page[T]{Items: items}
	}
	items = items[:n]
	return credbatch.Page[T]{Items: items, Next: key(items[n-1]).encode()}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// affected returns the rows affected by a statement.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
