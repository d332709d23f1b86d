package engine

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/sqlite"
)

const schema = `
CREATE TABLE IF NOT EXISTS executions (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	input       TEXT NOT NULL,
	status      TEXT NOT NULL,
	state       TEXT NOT NULL DEFAULT '',
	state_input TEXT NOT NULL DEFAULT '',
	output      TEXT NOT NULL DEFAULT '',
	error       TEXT NOT NULL DEFAULT '',
	cause       TEXT NOT NULL DEFAULT '',
	started_at  INTEGER NOT NULL,
	stopped_at  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tokens (
	token        TEXT PRIMARY KEY,
	execution_id TEXT NOT NULL,
	state_key    TEXT NOT NULL,
	status       TEXT NOT NULL,
	consumed     INTEGER NOT NULL DEFAULT 0,
	output       TEXT NOT NULL DEFAULT '',
	error        TEXT NOT NULL DEFAULT '',
	cause        TEXT NOT NULL DEFAULT '',
	deadline     INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_by_state ON tokens (execution_id, state_key, consumed);
CREATE TABLE IF NOT EXISTS history (
	execution_id TEXT NOT NULL,
	seq          INTEGER NOT NULL,
	type         TEXT NOT NULL,
	state        TEXT NOT NULL,
	at           INTEGER NOT NULL,
	size         INTEGER NOT NULL,
	detail       TEXT NOT NULL,
	PRIMARY KEY (execution_id, seq)
);
`

// openDB opens the engine's SQLite file with one connection: the engine's writes are small
// and few, and one connection never sees SQLITE_BUSY from itself.
func openDB(ctx context.Context, path string) (*sql.DB, error) {
	if err := sqlite.PrivateFile(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open engine database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create engine tables in %s: %w", path, err)
	}
	return db, nil
}

func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type token struct {
	token    string
	deadline time.Time
	answered bool // answered before the state (re)started: the handler is not run again
}

// taskToken returns the task token of a waiting task: the one still open for this state of
// this execution (after a restart), or a new one whose deadline is timeout from now.
func (e *Engine) taskToken(ctx context.Context, execID, key string, timeout time.Duration) (token, error) {
	var t token
	var deadline int64
	var status string
	err := e.db.QueryRowContext(ctx, `SELECT token, deadline, status FROM tokens WHERE execution_id = ? AND state_key = ? AND consumed = 0 AND status <> 'timed_out'`,
		execID, key).Scan(&t.token, &deadline, &status)
	switch {
	case err == nil:
		t.answered = status != "waiting"
		if deadline > 0 {
			t.deadline = time.Unix(0, deadline)
		}
		return t, nil
	case !errors.Is(err, sql.ErrNoRows):
		return t, fmt.Errorf("find task token of %s: %w", key, err)
	}
	t.token = newToken()
	now := e.clock.Now()
	if timeout > 0 {
		t.deadline = now.Add(timeout)
		deadline = t.deadline.UnixNano()
	}
	if _, err := e.db.ExecContext(ctx, `INSERT INTO tokens (token, execution_id, state_key, status, deadline, created_at) VALUES (?, ?, ?, 'waiting', ?, ?)`,
		t.token, execID, key, deadline, now.UnixNano()); err != nil {
		return t, fmt.Errorf("store task token of %s: %w", key, err)
	}
	return t, nil
}

type tokenRow struct {
	status, output, errName, cause string
	deadline                       int64
}

func (e *Engine) tokenResult(tok string) (tokenRow, error) {
	var r tokenRow
	err := e.db.QueryRow(`SELECT status, output, error, cause, deadline FROM tokens WHERE token = ?`, tok).
		Scan(&r.status, &r.output, &r.errName, &r.cause, &r.deadline)
	if errors.Is(err, sql.ErrNoRows) {
		return r, credbatch.NotFound("task token", abbrev(tok))
	}
	if err != nil {
		return r, fmt.Errorf("read task token: %w", err)
	}
	return r, nil
}

// finishToken marks a token used by its state; with status "timed_out" or "failed" only a
// token still waiting changes, and the result says whether it did.
func (e *Engine) finishToken(tok, status string) bool {
	if tok == "" {
		return false
	}
	var res sql.Result
	var err error
	if status == "" {
		res, err = e.db.Exec(`UPDATE tokens SET consumed = 1 WHERE token = ?`, tok)
	} else {
		res, err = e.db.Exec(`UPDATE tokens SET status = ?, consumed = 1 WHERE token = ? AND status = 'waiting'`, status, tok)
	}
	if err != nil {
		e.log.Warn("engine: update task token", "err", err)
		return false
	}
	n, _ := res.RowsAffected()
	return n == 1
}

// answer records the answer to a waiting task.
func (e *Engine) answer(ctx context.Context, tok, status, output, errName, cause string) error {
	if e.closed() {
		return credbatch.Errorf(credbatch.KindUnavailable, "the local workflow engine is closed")
	}
	res, err := e.db.ExecContext(ctx, `UPDATE tokens SET status = ?, output = ?, error = ?, cause = ? WHERE token = ? AND status = 'waiting' AND (deadline = 0 OR deadline > ?)`,
		status, output, errName, cause, tok, e.clock.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("answer task token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		e.signal(tok)
		return nil
	}
	r, err := e.tokenResult(tok)
	if err != nil {
		return err
	}
	if r.status == "waiting" {
		return credbatch.Conflict("the task of token %s timed out", abbrev(tok))
	}
	return credbatch.Conflict("the task of token %s already ended (%s)", abbrev(tok), r.status)
}

func abbrev(tok string) string {
	if len(tok) > 12 {
		return tok[:12] + "…"
	}
	return tok
}

// checkpoint records the top-level state an execution is entering and its input.
func (e *Engine) checkpoint(id, stateName string, input any) {
	b, err := marshal(input)
	if err == nil {
		_, err = e.db.Exec(`UPDATE executions SET state = ?, state_input = ? WHERE id = ? AND status = 'RUNNING'`, stateName, string(b), id)
	}
	if err != nil && !e.closed() {
		e.log.Warn("engine: checkpoint", "execution", id, "state", stateName, "err", err)
	}
}

// event appends a history event carrying payload (its size is recorded and returned).
func (x *execution) event(typ, stateName string, payload any, detail string) int {
	size := 0
	if payload != nil {
		if b, err := marshal(payload); err == nil {
			size = len(b)
		}
	}
	x.eventSize(typ, stateName, size, detail)
	return size
}

// eventSize appends a history event whose payload has size bytes.
func (x *execution) eventSize(typ, stateName string, size int, detail string) {
	seq := x.seq.Add(1)
	if _, err := x.e.db.Exec(`INSERT INTO history (execution_id, seq, type, state, at, size, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		x.id, seq, typ, stateName, x.e.clock.Now().UnixNano(), size, detail); err != nil && !x.e.closed() {
		x.e.log.Warn("engine: history", "execution", x.id, "event", typ, "err", err)
	}
}
