package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/validate"
)

// rowsChunk is how many JSON rows are checked against the store and written at once.
const rowsChunk = 500

// IngestRows turns rows given as records (an API request) into a batch, exactly as a file
// is: header is the column row (spreadsheet row 1), records the data rows (rows 2, 3, ...).
// b carries the new batch's ID, Source, Label, Uploader and Options; its status, counts and
// timestamps are set here. It is idempotent like Ingest: when a batch with b.ID exists it is
// returned as it is (a batch left in received by a crash, past the lease, is redone; one
// within the lease is a CodeInProgress error, as in Ingest).
// A header the definitions cannot map is recorded as a file-level rejection (status
// rejected or needs_mapping, the finding on the batch), not returned as an error.
func (s *Service) IngestRows(ctx context.Context, b credbatch.Batch, header []string, records [][]string) (credbatch.Batch, error) {
	log := s.log().With("batch_id", b.ID)
	defs, err := credbatch.ActiveDefinitions(ctx, s.Store)
	if err != nil {
		return b, err
	}
	existing, err := s.Store.GetBatch(ctx, b.ID)
	switch {
	case err == nil && existing.Status != credbatch.BatchReceived:
		return existing, nil
	case err == nil && s.leased(existing):
		return existing, s.inProgress(existing)
	case err == nil:
		log.Warn("resuming a batch left in received (an earlier attempt stopped)", "last_heartbeat", existing.UpdatedAt)
		if b, err = s.Store.UpdateBatch(ctx, b.ID, credbatch.BatchChange{}); err != nil { // take the lease
			return b, fmt.Errorf("ingest rows %s: heartbeat: %w", b.ID, err)
		}
	case credbatch.IsKind(err, credbatch.KindNotFound):
		now := s.now()
		b.Status, b.CreatedAt, b.UpdatedAt = credbatch.BatchReceived, now, now
		b.Counts = credbatch.Counts{}
		if b.Format == "" {
			b.Format = "json"
		}
		if err := s.Store.CreateBatch(ctx, b); err != nil {
			if credbatch.IsKind(err, credbatch.KindConflict) {
				// A concurrent request with the same idempotency key created it first.
				return s.Store.GetBatch(ctx, b.ID)
			}
			return b, fmt.Errorf("ingest rows %s: create batch: %w", b.ID, err)
		}
	default:
		return b, fmt.Errorf("ingest rows %s: load batch: %w", b.ID, err)
	}

	res, v, err := s.validateRecords(ctx, b, defs, header, records)
	if err != nil {
		return b, err
	}
	if res.Error != nil {
		return s.reject(ctx, b, res, log)
	}
	lookup := StoreLookup{Store: s.Store}
	if err := s.resolve(ctx, b, &res, v, defs, lookup); err != nil {
		return b, err
	}
	return s.complete(ctx, b, res, defs, log)
}

// validateRecords validates and stores the records in chunks, counting them into a Result.
func (s *Service) validateRecords(ctx context.Context, b credbatch.Batch, defs map[string]credbatch.Definition, header []string, records [][]string) (Result, *validate.Validator, error) {
	res := Result{File: b.Label, Format: b.Format, Columns: []credbatch.Column{}, Definitions: map[string]int{},
		Errors: []credbatch.Finding{}, Warnings: []credbatch.Finding{}}
	v, err := validate.New(validate.Config{Definitions: defs, Options: b.Options, Today: s.now().Format(time.DateOnly)}, header, 1)
	if err != nil {
		if e, ok := rejected(err); ok {
			res.Error = &FileError{Code: e.Code, Message: e.Message}
			return res, nil, nil
		}
		return res, nil, fmt.Errorf("ingest rows %s: %w", b.ID, err)
	}
	res.Columns = v.Columns()
	if len(records) == 0 {
		res.Error = &FileError{Code: credbatch.CodeEmptyFile, Message: "The request has no rows. Send at least one row per recipient."}
		return res, v, nil
	}
	if s.Limits.MaxRows > 0 && len(records) > s.Limits.MaxRows {
		res.Error = &FileError{Code: credbatch.CodeTooManyRows,
			Message: fmt.Sprintf("The request has %d rows; at most %d are accepted at once. Split it into several batches.", len(records), s.Limits.MaxRows)}
		return res, v, nil
	}
	lookup := StoreLookup{Store: s.Store}
	ev := newEvidenceRows(defs, nil, v)
	rows := make([]credbatch.Row, 0, rowsChunk)
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		if err := validate.CheckRecipients(ctx, rows, defs, lookup); err != nil {
			return fmt.Errorf("ingest rows %s: check recipients: %w", b.ID, err)
		}
		if err := s.Store.PutRows(ctx, rows); err != nil {
			return fmt.Errorf("ingest rows %s: store rows: %w", b.ID, err)
		}
		for _, r := range rows {
			res.count(r)
		}
		rows = rows[:0]
		return nil
	}
	for i, rec := range records {
		r := v.Row(i+2, rec)
		if err := ev.row(ctx, &r); err != nil {
			return res, v, fmt.Errorf("ingest rows %s: row %d: evidence: %w", b.ID, i+2, err)
		}
		r.BatchID = b.ID
		r.UpdatedAt = s.now()
		rows = append(rows, r)
		if len(rows) == rowsChunk {
			if err := flush(); err != nil {
				return res, v, err
			}
		}
	}
	if err := flush(); err != nil {
		return res, v, err
	}
	res.Warnings = append(res.Warnings, v.Warnings()...)
	res.Resolutions = v.Finish()
	for id, n := range v.Counts() {
		res.Definitions[id] = n
	}
	return res, v, nil
}

// complete moves a batch whose rows are all stored out of received: counts, columns and
// definition versions recorded, status parsed (every row valid) or rejected (with the
// error report written and the uploader notified), and a parsed batch submitted when the
// service has a Submitter. It is the tail of process, shared by files and JSON rows.
func (s *Service) complete(ctx context.Context, b credbatch.Batch, res Result, defs map[string]credbatch.Definition, log *slog.Logger) (credbatch.Batch, error) {
	counts := credbatch.Counts{Rows: res.Rows, Valid: res.Valid, Invalid: res.Invalid}
	versions := map[string]int{}
	for id := range res.Definitions {
		versions[id] = defs[id].Version
	}
	findings := append(b.Findings, fileWarnings(res.Warnings)...)
	ch := credbatch.BatchChange{Counts: &counts, Columns: &res.Columns, Definitions: &versions, Format: &res.Format, Findings: &findings}
	to := credbatch.BatchParsed
	if res.Invalid > 0 {
		to = credbatch.BatchRejected
	}
	b, err := s.Store.TransitionBatch(ctx, b.ID, credbatch.BatchReceived, to, ch)
	if err != nil {
		return b, fmt.Errorf("ingest %s: finish: %w", b.ID, err)
	}
	log.Info("batch ingested", "status", b.Status, "rows", res.Rows, "valid", res.Valid, "invalid", res.Invalid)
	if res.Invalid > 0 {
		key, err := s.WriteReport(ctx, b)
		if err != nil {
			return b, err
		}
		if s.Notifier != nil {
			if err := s.Notifier.Rejected(ctx, b, key); err != nil {
				log.Error("notify uploader", "err", err)
			}
		}
		return s.Store.GetBatch(ctx, b.ID)
	}
	if s.Submitter != nil {
		return s.Submitter.Submit(ctx, b.ID, false)
	}
	return b, nil
}
