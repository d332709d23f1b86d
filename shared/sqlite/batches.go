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

// PutDefinition stores a new version of a definition and its audit entries in one
// transaction (see credbatch.Store).
func (s *Store) PutDefinition(ctx context.Context, d credbatch.Definition, audit ...credbatch.AuditEntry) (credbatch.Definition, error) {
	if d.ID == "" {
		return d, credbatch.E(credbatch.KindInvalid, "invalid_definition", "definition: the id is empty")
	}
	op := "put definition " + d.ID
	err := s.tx(ctx, op, func(tx *wtx) error {
		var latest int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM definitions WHERE id = ?`, d.ID).Scan(&latest); err != nil {
			return err
		}
		if d.Version > 0 && d.Version != latest {
			return credbatch.Conflict("definition %q: version %d is not the latest (%d); reload it and apply your change again", d.ID, d.Version, latest)
		}
		d.Version = latest + 1
		d.CreatedAt = s.now().UTC()
		body, err := toJSON(d)
		if err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, `INSERT INTO definitions (id, version, archived, created_at, body) VALUES (?, ?, ?, ?, ?)`,
			d.ID, d.Version, boolInt(d.Archived), nanos(d.CreatedAt), body); err != nil {
			return err
		}
		return insertAudit(ctx, tx, d, audit)
	})
	if err != nil {
		return credbatch.Definition{}, err
	}
	return d, nil
}

func scanDefinition(sc interface{ Scan(...any) error }) (credbatch.Definition, error) {
	var (
		d       credbatch.Definition
		body    string
		version int
		created int64
	)
	if err := sc.Scan(&version, &created, &body); err != nil {
		return d, err
	}
	if err := fromJSON(body, &d); err != nil {
		return d, fmt.Errorf("decode definition: %w", err)
	}
	d.Version, d.CreatedAt = version, fromNanos(created)
	return d, nil
}

// GetDefinition returns a version of a definition, 0 = the latest.
func (s *Store) GetDefinition(ctx context.Context, id string, version int) (credbatch.Definition, error) {
	q := `SELECT version, created_at, body FROM definitions WHERE id = ? AND version = ?`
	args := []any{id, version}
	if version == 0 {
		q = `SELECT version, created_at, body FROM definitions WHERE id = ? ORDER BY version DESC LIMIT 1`
		args = args[:1]
	}
	d, err := scanDefinition(s.queryRow(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		if version == 0 {
			return d, credbatch.NotFound("definition", id)
		}
		return d, credbatch.NotFound("definition", fmt.Sprintf("%s@%d", id, version))
	}
	return d, dbErr("get definition "+id, err)
}

// ListDefinitions returns the latest version of every definition, ordered by id.
func (s *Store) ListDefinitions(ctx context.Context, includeArchived bool) ([]credbatch.Definition, error) {
	rows, err := s.queryRows(ctx, `
		SELECT d.version, d.created_at, d.body FROM definitions d
		JOIN (SELECT id, MAX(version) AS v FROM definitions GROUP BY id) m ON d.id = m.id AND d.version = m.v
		WHERE ? OR d.archived = 0
		ORDER BY d.id`, includeArchived)
	if err != nil {
		return nil, dbErr("list definitions", err)
	}
	defer rows.Close()
	out := []credbatch.Definition{}
	for rows.Next() {
		d, err := scanDefinition(rows)
		if err != nil {
			return nil, dbErr("list definitions", err)
		}
		out = append(out, d)
	}
	return out, dbErr("list definitions", rows.Err())
}

// column mirrors credbatch.Column with its index, which the JSON form of Column leaves out.
type column struct {
	Index  int             `json:"index"`
	Header string          `json:"header"`
	Field  credbatch.Field `json:"field"`
}

const batchCols = `id, label, status, source, uploader, format, options, columns, definitions,
	skip_invalid, counts, findings, report_key, task_token,
	execution_id, approved_by, reason, created_at, updated_at, completed_at`

func scanBatch(sc interface{ Scan(...any) error }) (credbatch.Batch, error) {
	var (
		b                                                credbatch.Batch
		source, options, columns, defs, counts, findings string
		created, updated, completed                      int64
	)
	err := sc.Scan(&b.ID, &b.Label, &b.Status, &source, &b.Uploader, &b.Format, &options, &columns, &defs,
		&b.SkipInvalid, &counts, &findings, &b.ReportKey, &b.TaskToken,
		&b.ExecutionID, &b.ApprovedBy, &b.Reason, &created, &updated, &completed)
	if err != nil {
		return b, err
	}
	var cols []column
	err = errors.Join(fromJSON(source, &b.Source), fromJSON(options, &b.Options), fromJSON(columns, &cols),
		fromJSON(defs, &b.Definitions), fromJSON(counts, &b.Counts), fromJSON(findings, &b.Findings))
	if err != nil {
		return b, fmt.Errorf("decode batch %s: %w", b.ID, err)
	}
	for _, c := range cols {
		b.Columns = append(b.Columns, credbatch.Column{Index: c.Index, Header: c.Header, Field: c.Field})
	}
	b.CreatedAt, b.UpdatedAt, b.CompletedAt = fromNanos(created), fromNanos(updated), fromNanos(completed)
	return b, nil
}

// CreateBatch stores a new batch in status received; KindConflict when the id exists.
func (s *Store) CreateBatch(ctx context.Context, b credbatch.Batch) error {
	if b.ID == "" {
		return credbatch.E(credbatch.KindInvalid, "invalid", "batch: the id is empty")
	}
	if b.Status != credbatch.BatchReceived {
		return credbatch.Errorf(credbatch.KindInvalid, "batch %s: a new batch must have status %s, not %q", b.ID, credbatch.BatchReceived, b.Status)
	}
	if b.UpdatedAt.IsZero() {
		b.UpdatedAt = s.now()
	}
	cols := make([]column, len(b.Columns))
	for i, c := range b.Columns {
		cols[i] = column(c)
	}
	var js [6]string
	var err error
	for i, v := range []any{b.Source, b.Options, cols, b.Definitions, b.Counts, b.Findings} {
		if js[i], err = toJSON(v); err != nil {
			return dbErr("create batch "+b.ID, err)
		}
	}
	n, err := affected(s.exec(ctx, `INSERT INTO batches (`+batchCols+`, label_fold)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		b.ID, b.Label, b.Status, js[0], b.Uploader, b.Format, js[1], js[2], js[3],
		b.SkipInvalid, js[4], js[5], b.ReportKey, b.TaskToken,
		b.ExecutionID, b.ApprovedBy, b.Reason, nanos(b.CreatedAt), nanos(b.UpdatedAt), nanos(b.CompletedAt),
		strings.ToLower(b.Label)))
	if err != nil {
		return dbErr("create batch "+b.ID, err)
	}
	if n == 0 {
		return credbatch.Conflict("batch %s exists already", b.ID)
	}
	return nil
}

// GetBatch returns a batch; KindNotFound.
func (s *Store) GetBatch(ctx context.Context, id string) (credbatch.Batch, error) {
	b, err := scanBatch(s.queryRow(ctx, `SELECT `+batchCols+` FROM batches WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return b, credbatch.NotFound("batch", id)
	}
	return b, dbErr("get batch "+id, err)
}

// keepEmailCounts are the json_set arguments that copy the stored email counters.
var keepEmailCounts = func() string {
	var b strings.Builder
	for _, k := range []string{"sent", "delivered", "bounced", "complained", "suppressed"} {
		fmt.Fprintf(&b, `, '$.%s', coalesce(json_extract(counts, '$.%s'), 0)`, k, k)
	}
	return b.String()
}()

// changeSQL returns the SET clause and arguments that apply ch (nil fields keep the column).
func (s *Store) changeSQL(ch credbatch.BatchChange) (string, []any, error) {
	var sets []string
	var args []any
	set := func(col string, v any) {
		sets = append(sets, col+" = ?")
		args = append(args, v)
	}
	str := func(col string, p *string) {
		if p != nil {
			set(col, *p)
		}
	}
	str("task_token", ch.TaskToken)
	str("execution_id", ch.ExecutionID)
	str("approved_by", ch.ApprovedBy)
	str("reason", ch.Reason)
	str("report_key", ch.ReportKey)
	if ch.SkipInvalid != nil {
		set("skip_invalid", *ch.SkipInvalid)
	}
	if ch.Counts != nil {
		js, err := toJSON(*ch.Counts)
		if err != nil {
			return "", nil, err
		}
		// The email counters stay as stored: only email status changes move them.
		sets = append(sets, `counts = json_set(?`+keepEmailCounts+`)`)
		args = append(args, js)
	}
	if ch.Findings != nil {
		js, err := toJSON(*ch.Findings)
		if err != nil {
			return "", nil, err
		}
		set("findings", js)
	}
	if ch.CompletedAt != nil {
		set("completed_at", nanos(*ch.CompletedAt))
	}
	if ch.Columns != nil {
		cols := make([]column, len(*ch.Columns))
		for i, c := range *ch.Columns {
			cols[i] = column(c)
		}
		js, err := toJSON(cols)
		if err != nil {
			return "", nil, err
		}
		set("columns", js)
	}
	if ch.Definitions != nil {
		js, err := toJSON(*ch.Definitions)
		if err != nil {
			return "", nil, err
		}
		set("definitions", js)
	}
	if ch.Format != nil {
		set("format", *ch.Format)
	}
	set("updated_at", nanos(s.now()))
	return strings.Join(sets, ", "), args, nil
}

// TransitionBatch moves a batch from `from` to `to` and applies ch in one conditional UPDATE.
func (s *Store) TransitionBatch(ctx context.Context, id string, from, to credbatch.BatchStatus, ch credbatch.BatchChange) (credbatch.Batch, error) {
	op := fmt.Sprintf("transition batch %s %s → %s", id, from, to)
	legal := credbatch.CanTransition(from, to)
	sets, args, err := s.changeSQL(ch)
	if err != nil {
		return credbatch.Batch{}, dbErr(op, err)
	}
	var b credbatch.Batch
	err = s.tx(ctx, op, func(tx *wtx) error {
		if legal {
			args = append([]any{to}, args...)
			args = append(args, id, from)
			b, err = scanBatch(tx.QueryRowContext(ctx, `UPDATE batches SET status = ?, `+sets+
				` WHERE id = ? AND status = ? RETURNING `+batchCols, args...))
			if err == nil || !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		var cur credbatch.BatchStatus
		if err := tx.QueryRowContext(ctx, `SELECT status FROM batches WHERE id = ?`, id).Scan(&cur); errors.Is(err, sql.ErrNoRows) {
			return credbatch.NotFound("batch", id)
		} else if err != nil {
			return err
		}
		if !legal {
			return credbatch.Conflict("batch %s cannot move from %s to %s", id, from, to)
		}
		return credbatch.Conflict("batch %s is %s, not %s: it was changed by someone else; reload it", id, cur, from)
	})
	return b, err
}

// UpdateBatch applies ch without changing the status; KindNotFound.
func (s *Store) UpdateBatch(ctx context.Context, id string, ch credbatch.BatchChange) (credbatch.Batch, error) {
	sets, args, err := s.changeSQL(ch)
	if err != nil {
		return credbatch.Batch{}, dbErr("update batch "+id, err)
	}
	b, err := scanBatch(s.writeRow(ctx, `UPDATE batches SET `+sets+` WHERE id = ? RETURNING `+batchCols,
		append(args, id)...))
	if errors.Is(err, sql.ErrNoRows) {
		return b, credbatch.NotFound("batch", id)
	}
	return b, dbErr("update batch "+id, err)
}

// AddCounts adds delta to the batch's counters in one transaction.
func (s *Store) AddCounts(ctx context.Context, id string, delta credbatch.Counts) error {
	return s.tx(ctx, "add counts to batch "+id, func(tx *wtx) error {
		err := s.addCounts(ctx, tx, id, delta)
		if errors.Is(err, sql.ErrNoRows) {
			return credbatch.NotFound("batch", id)
		}
		return err
	})
}

// CorrectEmailCounts sets the batch's email counters to truth's when they are still stored's,
// in one transaction.
func (s *Store) CorrectEmailCounts(ctx context.Context, id string, stored, truth credbatch.Counts) (bool, error) {
	done := false
	err := s.tx(ctx, "correct the email counters of batch "+id, func(tx *wtx) error {
		var js string
		err := tx.QueryRowContext(ctx, `SELECT counts FROM batches WHERE id = ?`, id).Scan(&js)
		if errors.Is(err, sql.ErrNoRows) {
			return credbatch.NotFound("batch", id)
		}
		if err != nil {
			return err
		}
		var c credbatch.Counts
		if err := fromJSON(js, &c); err != nil {
			return err
		}
		if c.Email() != stored.Email() {
			return nil
		}
		if js, err = toJSON(c.WithEmail(truth.Email())); err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, `UPDATE batches SET counts = ?, updated_at = ? WHERE id = ?`, js, nanos(s.now()), id); err != nil {
			return err
		}
		done = true
		return nil
	})
	return done, err
}

// addCounts adds delta to the batch's counters inside tx; sql.ErrNoRows when there is no batch.
func (s *Store) addCounts(ctx context.Context, tx *wtx, id string, delta credbatch.Counts) error {
	var js string
	if err := tx.QueryRowContext(ctx, `SELECT counts FROM batches WHERE id = ?`, id).Scan(&js); err != nil {
		return err
	}
	var c credbatch.Counts
	if err := fromJSON(js, &c); err != nil {
		return err
	}
	js, err := toJSON(c.Add(delta))
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE batches SET counts = ?, updated_at = ? WHERE id = ?`, js, nanos(s.now()), id)
	return err
}

// ListBatches lists batches newest first (by CreatedAt, then id).
func (s *Store) ListBatches(ctx context.Context, f credbatch.BatchFilter) (credbatch.Page[credbatch.Batch], error) {
	var p credbatch.Page[credbatch.Batch]
	n, err := limit(f.Limit)
	if err != nil {
		return p, err
	}
	cur, ok, err := decodeCursor(f.Cursor)
	if err != nil {
		return p, err
	}
	var where []string
	var args []any
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, f.Status)
	}
	if f.Label != "" {
		prefix := strings.ToLower(f.Label)
		where = append(where, "substr(label_fold, 1, length(?)) = ?")
		args = append(args, prefix, prefix)
	}
	if ok {
		where = append(where, "(created_at < ? OR (created_at = ? AND id < ?))")
		args = append(args, cur.N, cur.N, cur.ID)
	}
	q := `SELECT ` + batchCols + ` FROM batches`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC LIMIT ?"
	rows, err := s.queryRows(ctx, q, append(args, n+1)...)
	if err != nil {
		return p, dbErr("list batches", err)
	}
	defer rows.Close()
	var items []credbatch.Batch
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return p, dbErr("list batches", err)
		}
		items = append(items, b)
	}
	if err := rows.Err(); err != nil {
		return p, dbErr("list batches", err)
	}
	return page(items, n, func(b credbatch.Batch) cursor { return cursor{N: nanos(b.CreatedAt), ID: b.ID} }), nil
}

// stamp is the store's clock reading for UpdatedAt fields.
func (s *Store) stamp() time.Time { return s.now().UTC() }
