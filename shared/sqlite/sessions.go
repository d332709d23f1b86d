package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// CreateSession stores a new session and, in the same transaction, drops the sessions that
// had expired when it was created (so the table holds about the live sessions only).
// KindConflict when the key exists.
func (s *Store) CreateSession(ctx context.Context, sess credbatch.Session) error {
	if sess.Key == "" || sess.ExpiresAt.IsZero() {
		return credbatch.E(credbatch.KindInvalid, "invalid_session", "a session needs a key and an expiry")
	}
	body, err := toJSON(sess)
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	return s.tx(ctx, "create session", func(tx *wtx) error {
		now := sess.CreatedAt
		if now.IsZero() {
			now = s.now()
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, nanos(now)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO sessions (key, expires_at, body) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`,
			sess.Key, nanos(sess.ExpiresAt), body)
		n, err := affected(res, err)
		if err != nil {
			return err
		}
		if n == 0 {
			return credbatch.Conflict("a session with this key exists")
		}
		return nil
	})
}

// GetSession returns a session, also an expired one; KindNotFound.
func (s *Store) GetSession(ctx context.Context, key string) (credbatch.Session, error) {
	var body string
	err := s.queryRow(ctx, `SELECT body FROM sessions WHERE key = ?`, key).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return credbatch.Session{}, credbatch.NotFound("session", "")
	}
	if err != nil {
		return credbatch.Session{}, dbErr("get session", err)
	}
	var sess credbatch.Session
	if err := fromJSON(body, &sess); err != nil {
		return credbatch.Session{}, dbErr("get session", fmt.Errorf("decode session: %w", err))
	}
	return sess, nil
}

// DeleteSession ends a session; a missing one is not an error.
func (s *Store) DeleteSession(ctx context.Context, key string) error {
	_, err := s.exec(ctx, `DELETE FROM sessions WHERE key = ?`, key)
	return dbErr("delete session", err)
}
