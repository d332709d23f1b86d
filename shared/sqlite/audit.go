package sqlite

import (
	"context"
	"fmt"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// insertAudit stores the audit entries of a definition version inside its transaction.
func insertAudit(ctx context.Context, tx *wtx, d credbatch.Definition, audit []credbatch.AuditEntry) error {
	for _, e := range audit {
		if e.ID == "" {
			return credbatch.E(credbatch.KindInvalid, "invalid_audit", "an audit entry needs an id")
		}
		e.At, e.Version = d.CreatedAt, d.Version
		body, err := toJSON(e)
		if err != nil {
			return fmt.Errorf("encode audit entry: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO audit (id, at, body) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`, e.ID, nanos(e.At), body)
		n, err := affected(res, err)
		if err != nil {
			return err
		}
		if n == 0 {
			return credbatch.Conflict("audit entry %s exists", e.ID)
		}
	}
	return nil
}

// RecordAudit stores one audit entry of an action that changes no definition.
func (s *Store) RecordAudit(ctx context.Context, e credbatch.AuditEntry) error {
	if e.At.IsZero() {
		return credbatch.E(credbatch.KindInvalid, "invalid_audit", "an audit entry needs its time")
	}
	return s.tx(ctx, "record audit entry "+e.ID, func(tx *wtx) error {
		return insertAudit(ctx, tx, credbatch.Definition{CreatedAt: e.At, Version: e.Version}, []credbatch.AuditEntry{e})
	})
}

// ListAudit lists the audit trail, newest first.
func (s *Store) ListAudit(ctx context.Context, cur string, lim int) (credbatch.Page[credbatch.AuditEntry], error) {
	n, err := limit(lim)
	if err != nil {
		return credbatch.Page[credbatch.AuditEntry]{}, err
	}
	c, ok, err := decodeCursor(cur)
	if err != nil {
		return credbatch.Page[credbatch.AuditEntry]{}, err
	}
	q := `SELECT body FROM audit ORDER BY at DESC, id DESC LIMIT ?`
	args := []any{n + 1}
	if ok {
		q = `SELECT body FROM audit WHERE (at, id) < (?, ?) ORDER BY at DESC, id DESC LIMIT ?`
		args = []any{c.N, c.ID, n + 1}
	}
	rows, err := s.queryRows(ctx, q, args...)
	if err != nil {
		return credbatch.Page[credbatch.AuditEntry]{}, dbErr("list audit", err)
	}
	defer rows.Close()
	var items []credbatch.AuditEntry
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return credbatch.Page[credbatch.AuditEntry]{}, dbErr("list audit", err)
		}
		var e credbatch.AuditEntry
		if err := fromJSON(body, &e); err != nil {
			return credbatch.Page[credbatch.AuditEntry]{}, dbErr("list audit", fmt.Errorf("decode audit entry: %w", err))
		}
		items = append(items, e)
	}
	if err := rows.Err(); err != nil {
		return credbatch.Page[credbatch.AuditEntry]{}, dbErr("list audit", err)
	}
	return page(items, n, func(e credbatch.AuditEntry) cursor { return cursor{N: nanos(e.At), ID: e.ID} }), nil
}
