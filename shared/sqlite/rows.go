package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// rowsPerInsert is how many rows one INSERT statement writes (5 parameters each).
const rowsPerInsert = 200

// rowCodes returns " code1 code2 " for the row's findings, so that a code filter is an
// instr() on a whole word.
func rowCodes(r credbatch.Row) string {
	var b strings.Builder
	b.WriteByte(' ')
	for _, f := range r.Findings {
		b.WriteString(f.Code)
		b.WriteByte(' ')
	}
	return b.String()
}

func insertRowsSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT OR REPLACE INTO rows (batch_id, number, status, codes, body) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?)")
	}
	return b.String()
}

// PutRows writes rows idempotently in one transaction, rowsPerInsert rows per statement.
func (s *Store) PutRows(ctx context.Context, rows []credbatch.Row) error {
	if len(rows) == 0 {
		return nil
	}
	op := fmt.Sprintf("put %d rows", len(rows))
	for _, r := range rows {
		if r.BatchID == "" || r.Number <= 0 {
			return credbatch.Errorf(credbatch.KindInvalid, "%s: row %d of batch %q: a row needs a batch id and a positive number", op, r.Number, r.BatchID)
		}
	}
	return s.tx(ctx, op, func(tx *wtx) error {
		full, err := tx.PrepareContext(ctx, insertRowsSQL(rowsPerInsert))
		if err != nil {
			return err
		}
		defer full.Close()
		args := make([]any, 0, 5*rowsPerInsert)
		for start := 0; start < len(rows); start += rowsPerInsert {
			chunk := rows[start:min(start+rowsPerInsert, len(rows))]
			args = args[:0]
			for _, r := range chunk {
				body, err := toJSON(r)
				if err != nil {
					return fmt.Errorf("encode row %s/%d: %w", r.BatchID, r.Number, err)
				}
				args = append(args, r.BatchID, r.Number, string(r.Status), rowCodes(r), body)
			}
			if len(chunk) == rowsPerInsert {
				_, err = full.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, insertRowsSQL(len(chunk)), args...)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteRows removes every row of a batch.
func (s *Store) DeleteRows(ctx context.Context, batchID string) error {
	_, err := s.exec(ctx, `DELETE FROM rows WHERE batch_id = ?`, batchID)
	return dbErr("delete rows of batch "+batchID, err)
}

func decodeRow(body string) (credbatch.Row, error) {
	var r credbatch.Row
	if err := fromJSON(body, &r); err != nil {
		return r, fmt.Errorf("decode row: %w", err)
	}
	return r, nil
}

// GetRow returns one row; KindNotFound.
func (s *Store) GetRow(ctx context.Context, batchID string, number int) (credbatch.Row, error) {
	var body string
	err := s.queryRow(ctx, `SELECT body FROM rows WHERE batch_id = ? AND number = ?`, batchID, number).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return credbatch.Row{}, credbatch.NotFound("row", fmt.Sprintf("%s/%d", batchID, number))
	}
	if err != nil {
		return credbatch.Row{}, dbErr("get row", err)
	}
	r, err := decodeRow(body)
	return r, dbErr("get row", err)
}

// ListRows lists a batch's rows in row-number order.
func (s *Store) ListRows(ctx context.Context, batchID string, f credbatch.RowFilter) (credbatch.Page[credbatch.Row], error) {
	var p credbatch.Page[credbatch.Row]
	n, err := limit(f.Limit)
	if err != nil {
		return p, err
	}
	cur, _, err := decodeCursor(f.Cursor)
	if err != nil {
		return p, err
	}
	q := `SELECT body FROM rows WHERE batch_id = ? AND number > ? AND number >= ?`
	args := []any{batchID, cur.N, f.FromNumber}
	if f.ToNumber > 0 {
		q += ` AND number < ?`
		args = append(args, f.ToNumber)
	}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	if f.Code != "" {
		q += ` AND instr(codes, ?) > 0`
		args = append(args, " "+f.Code+" ")
	}
	q += ` ORDER BY number LIMIT ?`
	rows, err := s.queryRows(ctx, q, append(args, n+1)...)
	if err != nil {
		return p, dbErr("list rows of batch "+batchID, err)
	}
	defer rows.Close()
	var items []credbatch.Row
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return p, dbErr("list rows of batch "+batchID, err)
		}
		r, err := decodeRow(body)
		if err != nil {
			return p, dbErr("list rows of batch "+batchID, err)
		}
		items = append(items, r)
	}
	if err := rows.Err(); err != nil {
		return p, dbErr("list rows of batch "+batchID, err)
	}
	return page(items, n, func(r credbatch.Row) cursor { return cursor{N: int64(r.Number)} }), nil
}

// UpdateRow replaces a row whose status is `from` with r (conditional write).
func (s *Store) UpdateRow(ctx context.Context, r credbatch.Row, from credbatch.RowStatus) (credbatch.Row, error) {
	return s.updateRow(ctx, r, from, nil)
}

// UpdateRowEvidence replaces a row whose status is from and whose evidence lock is still
// lock ("" = none).
func (s *Store) UpdateRowEvidence(ctx context.Context, r credbatch.Row, from credbatch.RowStatus, lock string) (credbatch.Row, error) {
	return s.updateRow(ctx, r, from, &lock)
}

// updateRow writes r when its status is from and, with lock, its evidence lock (in the
// row's JSON) is *lock.
func (s *Store) updateRow(ctx context.Context, r credbatch.Row, from credbatch.RowStatus, lock *string) (credbatch.Row, error) {
	op := fmt.Sprintf("update row %s/%d %s → %s", r.BatchID, r.Number, from, r.Status)
	legal := credbatch.CanTransitionRow(from, r.Status)
	r.UpdatedAt = s.stamp()
	body, err := toJSON(r)
	if err != nil {
		return r, dbErr(op, err)
	}
	err = s.tx(ctx, op, func(tx *wtx) error {
		if legal {
			q := `UPDATE rows SET status = ?, codes = ?, body = ? WHERE batch_id = ? AND number = ? AND status = ?`
			args := []any{r.Status, rowCodes(r), body, r.BatchID, r.Number, from}
			if lock != nil {
				q += ` AND coalesce(json_extract(body, '$.evidence.lock'), '') = ?`
				args = append(args, *lock)
			}
			n, err := affected(tx.ExecContext(ctx, q, args...))
			if err != nil || n == 1 {
				return err
			}
		}
		var cur credbatch.RowStatus
		err := tx.QueryRowContext(ctx, `SELECT status FROM rows WHERE batch_id = ? AND number = ?`, r.BatchID, r.Number).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return credbatch.NotFound("row", fmt.Sprintf("%s/%d", r.BatchID, r.Number))
		}
		if err != nil {
			return err
		}
		if !legal {
			return credbatch.Conflict("row %s/%d cannot move from %s to %s", r.BatchID, r.Number, from, r.Status)
		}
		if cur == from && lock != nil {
			return credbatch.Conflict("row %s/%d no longer has the evidence lock %q: it was changed by someone else", r.BatchID, r.Number, *lock)
		}
		return credbatch.Conflict("row %s/%d is %s, not %s: it was changed by someone else", r.BatchID, r.Number, cur, from)
	})
	if err != nil {
		return credbatch.Row{}, err
	}
	return r, nil
}
