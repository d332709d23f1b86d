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

const credentialCols = `id, batch_id, row_number, definition_id, definition_version, email, name,
	issue_date, expiry_date, attributes, jwt, jwt_detached, status_list_index, status, revoked_reason, revoked_at,
	email_status, message_id, last_error, bounce_type, sent_at, delivered_at, issued_at, updated_at`

func scanCredential(sc interface{ Scan(...any) error }) (credbatch.Credential, error) {
	var (
		c                        credbatch.Credential
		attrs                    string
		revoked, sent, delivered int64
		issued, updated          int64
	)
	err := sc.Scan(&c.ID, &c.BatchID, &c.RowNumber, &c.DefinitionID, &c.DefinitionVer, &c.Email, &c.Name,
		&c.IssueDate, &c.ExpiryDate, &attrs, &c.JWT, &c.JWTDetached, &c.StatusListIndex, &c.Status, &c.RevokedReason, &revoked,
		&c.EmailStatus, &c.MessageID, &c.LastError, &c.BounceType, &sent, &delivered, &issued, &updated)
	if err != nil {
		return c, err
	}
	if err := fromJSON(attrs, &c.Attributes); err != nil {
		return c, fmt.Errorf("decode credential %s: %w", c.ID, err)
	}
	c.RevokedAt, c.SentAt, c.DeliveredAt = fromNanos(revoked), fromNanos(sent), fromNanos(delivered)
	c.IssuedAt, c.UpdatedAt = fromNanos(issued), fromNanos(updated)
	return c, nil
}

// queryCredentials runs a query selecting credentialCols.
func (s *Store) queryCredentials(ctx context.Context, op, q string, args ...any) ([]credbatch.Credential, error) {
	rows, err := s.queryRows(ctx, q, args...)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	var out []credbatch.Credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, dbErr(op, err)
		}
		out = append(out, c)
	}
	return out, dbErr(op, rows.Err())
}

// CreateCredential stores a new credential; KindConflict when the id exists.
func (s *Store) CreateCredential(ctx context.Context, c credbatch.Credential) error {
	if c.ID == "" {
		return credbatch.E(credbatch.KindInvalid, "invalid", "credential: the id is empty")
	}
	op := "create credential " + c.ID
	if c.Status == "" {
		c.Status = credbatch.CredentialIssued
	}
	if c.EmailStatus == "" {
		c.EmailStatus = credbatch.EmailPending
	}
	attrs, err := toJSON(c.Attributes)
	if err != nil {
		return dbErr(op, err)
	}
	insert := func(ctx context.Context, exec func(context.Context, string, ...any) (sql.Result, error)) error {
		n, err := affected(exec(ctx, `INSERT INTO credentials (`+credentialCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			c.ID, c.BatchID, c.RowNumber, c.DefinitionID, c.DefinitionVer, strings.ToLower(c.Email), c.Name,
			c.IssueDate, c.ExpiryDate, attrs, c.JWT, c.JWTDetached, c.StatusListIndex, c.Status, c.RevokedReason, nanos(c.RevokedAt),
			c.EmailStatus, c.MessageID, c.LastError, c.BounceType, nanos(c.SentAt), nanos(c.DeliveredAt), nanos(c.IssuedAt), nanos(c.UpdatedAt)))
		if err != nil {
			return err
		}
		if n == 0 {
			return credbatch.Conflict("credential %s exists already", c.ID)
		}
		return nil
	}
	delta := credbatch.EmailCounts(c.EmailStatus)
	if delta == (credbatch.Counts{}) || c.BatchID == "" {
		return dbErr(op, insert(ctx, s.exec))
	}
	return s.tx(ctx, op, func(tx *wtx) error {
		if err := insert(ctx, tx.ExecContext); err != nil {
			return err
		}
		return s.countEmail(ctx, tx, c.BatchID, delta)
	})
}

// countEmail moves a batch's email counters inside the transaction that changes an email
// status; a credential whose batch is not stored has nothing to count.
func (s *Store) countEmail(ctx context.Context, tx *wtx, batchID string, delta credbatch.Counts) error {
	if delta == (credbatch.Counts{}) || batchID == "" {
		return nil
	}
	if err := s.addCounts(ctx, tx, batchID, delta); !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return nil
}

// GetCredential returns a credential; KindNotFound.
func (s *Store) GetCredential(ctx context.Context, id string) (credbatch.Credential, error) {
	c, err := scanCredential(s.queryRow(ctx, `SELECT `+credentialCols+` FROM credentials WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, credbatch.NotFound("credential", id)
	}
	return c, dbErr("get credential "+id, err)
}

// ListCredentialsByEmail lists a recipient's credentials, newest first.
func (s *Store) ListCredentialsByEmail(ctx context.Context, email, cursorText string, lim int) (credbatch.Page[credbatch.Credential], error) {
	var p credbatch.Page[credbatch.Credential]
	n, err := limit(lim)
	if err != nil {
		return p, err
	}
	cur, ok, err := decodeCursor(cursorText)
	if err != nil {
		return p, err
	}
	q := `SELECT ` + credentialCols + ` FROM credentials WHERE email = ?`
	args := []any{strings.ToLower(email)}
	if ok {
		q += ` AND (issued_at < ? OR (issued_at = ? AND id < ?))`
		args = append(args, cur.N, cur.N, cur.ID)
	}
	items, err := s.queryCredentials(ctx, "list credentials by email", q+` ORDER BY issued_at DESC, id DESC LIMIT ?`, append(args, n+1)...)
	if err != nil {
		return p, err
	}
	return page(items, n, func(c credbatch.Credential) cursor { return cursor{N: nanos(c.IssuedAt), ID: c.ID} }), nil
}

// ListCredentialsByBatch lists a batch's credentials in row order.
func (s *Store) ListCredentialsByBatch(ctx context.Context, batchID, cursorText string, lim int) (credbatch.Page[credbatch.Credential], error) {
	var p credbatch.Page[credbatch.Credential]
	n, err := limit(lim)
	if err != nil {
		return p, err
	}
	cur, ok, err := decodeCursor(cursorText)
	if err != nil {
		return p, err
	}
	q := `SELECT ` + credentialCols + ` FROM credentials WHERE batch_id = ?`
	args := []any{batchID}
	if ok {
		q += ` AND (row_number > ? OR (row_number = ? AND id > ?))`
		args = append(args, cur.N, cur.N, cur.ID)
	}
	items, err := s.queryCredentials(ctx, "list credentials of batch "+batchID, q+` ORDER BY row_number, id LIMIT ?`, append(args, n+1)...)
	if err != nil {
		return p, err
	}
	return page(items, n, func(c credbatch.Credential) cursor { return cursor{N: int64(c.RowNumber), ID: c.ID} }), nil
}

// FindActiveCredential returns the newest issued credential of the definition held by the email.
func (s *Store) FindActiveCredential(ctx context.Context, definitionID, email string) (credbatch.Credential, error) {
	email = strings.ToLower(email)
	c, err := scanCredential(s.queryRow(ctx, `SELECT `+credentialCols+` FROM credentials
		WHERE definition_id = ? AND email = ? AND status = ? ORDER BY issued_at DESC, id DESC LIMIT 1`,
		definitionID, email, credbatch.CredentialIssued))
	if errors.Is(err, sql.ErrNoRows) {
		return c, credbatch.NotFound("active credential of "+definitionID+" for", email)
	}
	return c, dbErr("find active credential", err)
}

// SetEmailStatus moves the email status to `to` when it is one of `from` (conditional UPDATE).
func (s *Store) SetEmailStatus(ctx context.Context, id string, from []credbatch.EmailStatus, to credbatch.EmailStatus, ch credbatch.EmailChange) (credbatch.Credential, error) {
	op := fmt.Sprintf("set email status of credential %s to %s", id, to)
	var c credbatch.Credential
	err := s.tx(ctx, op, func(tx *wtx) error {
		if len(from) > 0 {
			sets := []string{"email_status = ?", "updated_at = ?"}
			args := []any{to, nanos(s.now())}
			if ch.MessageID != "" {
				sets, args = append(sets, "message_id = ?"), append(args, ch.MessageID)
			}
			if ch.LastError != "" {
				sets, args = append(sets, "last_error = ?"), append(args, ch.LastError)
			}
			if ch.BounceType != "" {
				sets, args = append(sets, "bounce_type = ?"), append(args, ch.BounceType)
			}
			if !ch.SentAt.IsZero() {
				sets, args = append(sets, "sent_at = ?"), append(args, nanos(ch.SentAt))
			}
			if !ch.DeliveredAt.IsZero() {
				sets, args = append(sets, "delivered_at = ?"), append(args, nanos(ch.DeliveredAt))
			}
			args = append(args, id)
			for _, f := range from {
				args = append(args, f)
			}
			var prev credbatch.EmailStatus
			err := tx.QueryRowContext(ctx, `SELECT email_status FROM credentials WHERE id = ?`, id).Scan(&prev)
			if errors.Is(err, sql.ErrNoRows) {
				return credbatch.NotFound("credential", id)
			}
			if err != nil {
				return err
			}
			c, err = scanCredential(tx.QueryRowContext(ctx, `UPDATE credentials SET `+strings.Join(sets, ", ")+
				` WHERE id = ? AND email_status IN (?`+strings.Repeat(", ?", len(from)-1)+`) RETURNING `+credentialCols, args...))
			if err == nil {
				// The one writer connection serialises transactions, so prev is what the
				// update replaced.
				if ch.Uncounted {
					return nil
				}
				return s.countEmail(ctx, tx, c.BatchID, credbatch.EmailDelta(prev, to))
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		var cur credbatch.EmailStatus
		err := tx.QueryRowContext(ctx, `SELECT email_status FROM credentials WHERE id = ?`, id).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return credbatch.NotFound("credential", id)
		}
		if err != nil {
			return err
		}
		return credbatch.Conflict("credential %s: email is %s, not one of %v", id, cur, from)
	})
	c.JWT, c.JWTDetached = "", "" // as the contract says: without its signed document
	return c, err
}

// RevokeCredential marks an issued credential revoked; KindConflict when already revoked.
func (s *Store) RevokeCredential(ctx context.Context, id, reason string, at time.Time) (credbatch.Credential, error) {
	op := "revoke credential " + id
	var c credbatch.Credential
	err := s.tx(ctx, op, func(tx *wtx) error {
		var err error
		c, err = scanCredential(tx.QueryRowContext(ctx, `UPDATE credentials SET status = ?, revoked_reason = ?, revoked_at = ?, updated_at = ?
			WHERE id = ? AND status = ? RETURNING `+credentialCols,
			credbatch.CredentialRevoked, reason, nanos(at), nanos(s.now()), id, credbatch.CredentialIssued))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var cur credbatch.CredentialStatus
		err = tx.QueryRowContext(ctx, `SELECT status FROM credentials WHERE id = ?`, id).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return credbatch.NotFound("credential", id)
		}
		if err != nil {
			return err
		}
		return credbatch.Conflict("credential %s is %s already", id, cur)
	})
	return c, err
}

// ListRevoked lists revoked credentials by id.
func (s *Store) ListRevoked(ctx context.Context, cursorText string, lim int) (credbatch.Page[credbatch.Credential], error) {
	var p credbatch.Page[credbatch.Credential]
	n, err := limit(lim)
	if err != nil {
		return p, err
	}
	cur, _, err := decodeCursor(cursorText)
	if err != nil {
		return p, err
	}
	items, err := s.queryCredentials(ctx, "list revoked credentials", `SELECT `+credentialCols+` FROM credentials
		WHERE status = 'revoked' AND id > ? ORDER BY id LIMIT ?`, cur.ID, n+1)
	if err != nil {
		return p, err
	}
	return page(items, n, func(c credbatch.Credential) cursor { return cursor{ID: c.ID} }), nil
}

// AllocateStatusIndexes reserves n consecutive status-list indexes (from 0) and returns the first.
func (s *Store) AllocateStatusIndexes(ctx context.Context, n int) (int, error) {
	if n <= 0 {
		return 0, credbatch.Errorf(credbatch.KindInvalid, "allocate status indexes: n must be positive, not %d", n)
	}
	var next int
	err := s.writeRow(ctx, `INSERT INTO counters (name, value) VALUES ('status_index', ?)
		ON CONFLICT (name) DO UPDATE SET value = value + excluded.value RETURNING value`, n).Scan(&next)
	if err != nil {
		return 0, dbErr("allocate status indexes", err)
	}
	return next - n, nil
}

// ReserveSends reserves n send slots in one statement on the send-schedule counter (the Unix
// time in nanoseconds of its first free slot): it becomes max(counter, now) + n·interval,
// unless the counter is past latest (no row comes back: KindBusy).
func (s *Store) ReserveSends(ctx context.Context, n int, interval time.Duration, now, latest time.Time) (time.Time, error) {
	if n < 1 || interval <= 0 || latest.Before(now) {
		return time.Time{}, credbatch.Errorf(credbatch.KindInvalid,
			"reserve %d sends %v apart between %v and %v: n must be at least 1, the interval positive and latest not before now", n, interval, now, latest)
	}
	d := int64(n) * int64(interval)
	var next int64
	err := s.writeRow(ctx, `INSERT INTO counters (name, value) VALUES ('send_schedule', ?)
		ON CONFLICT (name) DO UPDATE SET value = max(value + ?, excluded.value) WHERE value <= ?
		RETURNING value`, now.UnixNano()+d, d, latest.UnixNano()).Scan(&next)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, credbatch.Errorf(credbatch.KindBusy, "the send schedule is reserved beyond %v; send later", latest.UTC())
	}
	if err != nil {
		return time.Time{}, dbErr("reserve sends", err)
	}
	return time.Unix(0, next-d), nil
}
