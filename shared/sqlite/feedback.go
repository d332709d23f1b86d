package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// RecordDelivery stores a feedback event; false when its ID was recorded before.
func (s *Store) RecordDelivery(ctx context.Context, d credbatch.Delivery) (bool, error) {
	if d.ID == "" {
		return false, credbatch.E(credbatch.KindInvalid, "invalid", "delivery: the id is empty")
	}
	op := "record delivery " + d.ID
	body, err := toJSON(d)
	if err != nil {
		return false, dbErr(op, err)
	}
	n, err := affected(s.exec(ctx, `INSERT INTO deliveries (id, recorded_at, body) VALUES (?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, d.ID, nanos(d.RecordedAt), body))
	if err != nil {
		return false, dbErr(op, err)
	}
	return n == 1, nil
}

// ListDeliveries lists events with since <= RecordedAt < until, oldest first.
func (s *Store) ListDeliveries(ctx context.Context, since, until time.Time, cursorText string, lim int) (credbatch.Page[credbatch.Delivery], error) {
	var p credbatch.Page[credbatch.Delivery]
	n, err := limit(lim)
	if err != nil {
		return p, err
	}
	cur, ok, err := decodeCursor(cursorText)
	if err != nil {
		return p, err
	}
	q := `SELECT body FROM deliveries WHERE recorded_at >= ? AND recorded_at < ?`
	args := []any{nanos(since), nanos(until)}
	if ok {
		q += ` AND (recorded_at > ? OR (recorded_at = ? AND id > ?))`
		args = append(args, cur.N, cur.N, cur.ID)
	}
	rows, err := s.queryRows(ctx, q+` ORDER BY recorded_at, id LIMIT ?`, append(args, n+1)...)
	if err != nil {
		return p, dbErr("list deliveries", err)
	}
	defer rows.Close()
	var items []credbatch.Delivery
	for rows.Next() {
		var body string
		var d credbatch.Delivery
		if err := rows.Scan(&body); err != nil {
			return p, dbErr("list deliveries", err)
		}
		if err := fromJSON(body, &d); err != nil {
			return p, dbErr("list deliveries", fmt.Errorf("decode delivery: %w", err))
		}
		d.At, d.RecordedAt = d.At.UTC(), d.RecordedAt.UTC()
		items = append(items, d)
	}
	if err := rows.Err(); err != nil {
		return p, dbErr("list deliveries", err)
	}
	return page(items, n, func(d credbatch.Delivery) cursor { return cursor{N: nanos(d.RecordedAt), ID: d.ID} }), nil
}

// PutSuppression adds or replaces an address on the suppression list (lower-cased).
func (s *Store) PutSuppression(ctx context.Context, sup credbatch.Suppression) error {
	email := strings.ToLower(strings.TrimSpace(sup.Email))
	if email == "" {
		return credbatch.E(credbatch.KindInvalid, "invalid", "suppression: the email is empty")
	}
	_, err := s.exec(ctx, `INSERT OR REPLACE INTO suppressions (email, reason, message_id, at) VALUES (?, ?, ?, ?)`,
		email, sup.Reason, sup.MessageID, nanos(sup.At))
	return dbErr("put suppression", err)
}

// GetSuppression returns the entry for an address (case-insensitive); KindNotFound.
func (s *Store) GetSuppression(ctx context.Context, email string) (credbatch.Suppression, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	sup := credbatch.Suppression{Email: email}
	var at int64
	err := s.queryRow(ctx, `SELECT reason, message_id, at FROM suppressions WHERE email = ?`, email).
		Scan(&sup.Reason, &sup.MessageID, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return credbatch.Suppression{}, credbatch.NotFound("suppressed address", email)
	}
	if err != nil {
		return credbatch.Suppression{}, dbErr("get suppression", err)
	}
	sup.At = fromNanos(at)
	return sup, nil
}

// DeleteSuppression removes an address; KindNotFound.
func (s *Store) DeleteSuppression(ctx context.Context, email string) error {
	email = strings.ToLower(strings.TrimSpace(email))
	n, err := affected(s.exec(ctx, `DELETE FROM suppressions WHERE email = ?`, email))
	if err != nil {
		return dbErr("delete suppression", err)
	}
	if n == 0 {
		return credbatch.NotFound("suppressed address", email)
	}
	return nil
}

// GetMark returns a named watermark; KindNotFound when never set.
func (s *Store) GetMark(ctx context.Context, name string) (time.Time, error) {
	var at int64
	err := s.queryRow(ctx, `SELECT at FROM marks WHERE name = ?`, name).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, credbatch.NotFound("mark", name)
	}
	if err != nil {
		return time.Time{}, dbErr("get mark "+name, err)
	}
	return fromNanos(at), nil
}

// SetMark moves a watermark from `from` (zero = never set) to `to`; KindConflict otherwise.
func (s *Store) SetMark(ctx context.Context, name string, from, to time.Time) error {
	op := "set mark " + name
	var n int64
	var err error
	if from.IsZero() {
		n, err = affected(s.exec(ctx, `INSERT INTO marks (name, at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, nanos(to)))
	} else {
		n, err = affected(s.exec(ctx, `UPDATE marks SET at = ? WHERE name = ? AND at = ?`, nanos(to), name, nanos(from)))
	}
	if err != nil {
		return dbErr(op, err)
	}
	if n == 0 {
		return credbatch.Conflict("mark %s was moved by another writer (expected %v)", name, from)
	}
	return nil
}
