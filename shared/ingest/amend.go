package ingest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/validate"
)

// AmendRow changes cells of a row of a parsed or rejected batch (values: header as in the
// batch → new cell value) and validates the row again as ingest did, including duplicate_row
// against the rest of the batch: the row is a duplicate when another row has the same
// definition and recipient, and a row that was the duplicate of this one's old recipient is
// released when it no longer is. The batch moves between parsed and rejected as its invalid
// count reaches or leaves zero, and its error report is rewritten.
//
// Errors: KindInvalid (invalid_row, missing_values, unknown_columns); KindNotFound;
// KindConflict when the batch or row can no longer change.
func (s *Service) AmendRow(ctx context.Context, id string, number int, values map[string]string) (credbatch.Row, credbatch.Batch, error) {
	if number < 2 {
		return credbatch.Row{}, credbatch.Batch{}, credbatch.E(credbatch.KindInvalid, "invalid_row", "the row is its spreadsheet row number (2 or more)")
	}
	if len(values) == 0 {
		return credbatch.Row{}, credbatch.Batch{}, credbatch.E(credbatch.KindInvalid, "missing_values", `send the cells to change: {"values": {"<column header>": "<new value>"}}`)
	}
	b, err := s.Store.GetBatch(ctx, id)
	if err != nil {
		return credbatch.Row{}, b, fmt.Errorf("load batch %s: %w", id, err)
	}
	if b.Status != credbatch.BatchParsed && b.Status != credbatch.BatchRejected {
		return credbatch.Row{}, b, credbatch.E(credbatch.KindConflict, "batch_not_amendable",
			fmt.Sprintf("batch %s is %s; rows can be changed only while a batch is parsed or rejected", id, b.Status))
	}
	old, err := s.Store.GetRow(ctx, id, number)
	if err != nil {
		return old, b, fmt.Errorf("load row %d of %s: %w", number, id, err)
	}
	if old.Status != credbatch.RowValid && old.Status != credbatch.RowInvalid {
		return old, b, credbatch.E(credbatch.KindConflict, "row_not_amendable", fmt.Sprintf("row %d is %s and can no longer be changed", number, old.Status))
	}
	headers, mapping := batchHeaders(b)
	cells, err := amendedCells(headers, old.Cells, values)
	if err != nil {
		return old, b, err
	}
	defs, err := s.BatchDefinitions(ctx, b)
	if err != nil {
		return old, b, err
	}
	opts := b.Options
	opts.Mapping = mapping
	v, err := validate.New(validate.Config{Definitions: defs, Options: opts, Today: b.CreatedAt.Format("2006-01-02")}, headers, 1)
	if err != nil {
		return old, b, fmt.Errorf("rebuild validator of %s: %w", id, err)
	}
	next := v.Row(number, cells)
	validate.KeepEvidenceFile(old, &next)
	if err := newEvidenceRows(defs, nil, v).row(ctx, &next); err != nil {
		return old, b, fmt.Errorf("evidence of row %d: %w", number, err)
	}
	next.BatchID, next.UpdatedAt, next.CredentialID = id, s.now(), old.CredentialID
	rows := []credbatch.Row{next}
	if err := validate.CheckRecipients(ctx, rows, defs, StoreLookup{Store: s.Store}); err != nil {
		return old, b, fmt.Errorf("check recipient of row %d: %w", number, err)
	}
	next = rows[0]
	released, err := s.duplicates(ctx, b, &next, old)
	if err != nil {
		return old, b, err
	}
	// Conditional on the row's evidence lock too: an evidence file being attached to the row
	// (ingest.AttachEvidence) is not lost.
	if liveLock(old) != "" {
		return old, b, evidenceBusy(number)
	}
	saved, err := s.Store.UpdateRowEvidence(ctx, next, old.Status, lockOf(old)) // expired, or none
	if err != nil {
		return old, b, fmt.Errorf("update row %d of %s: %w", number, id, err)
	}
	// An amendment that names another evidence file (or none) leaves the stored one unused:
	// it is deleted, as a replaced attachment is.
	if prev := old.Evidence.FileNamed(); prev.Stored() && strings.HasPrefix(prev.Key, credbatch.EvidencePrefix+id+"/") {
		if cur := saved.Evidence.FileNamed(); cur == nil || cur.Key != prev.Key {
			if err := s.Blob.Delete(ctx, prev.Key); err != nil {
				s.log().WarnContext(ctx, "evidence file of an amended row not deleted", "batch_id", id, "row", number, "key", prev.Key, "err", err)
			}
		}
	}
	delta := statusDelta(old.Status, saved.Status)
	if released != nil {
		prev := released.Status
		released.Status = validateStatus(released.Findings)
		released.UpdatedAt = s.now()
		if _, err := s.Store.UpdateRow(ctx, *released, prev); err != nil && !credbatch.IsKind(err, credbatch.KindConflict) {
			return saved, b, fmt.Errorf("release duplicate row %d of %s: %w", released.Number, id, err)
		} else if err == nil {
			delta = delta.Add(statusDelta(prev, released.Status))
		}
	}
	if delta != (credbatch.Counts{}) {
		if err := s.Store.AddCounts(ctx, id, delta); err != nil {
			return saved, b, fmt.Errorf("count row %d of %s: %w", number, id, err)
		}
	}
	if b, err = s.settle(ctx, id); err != nil {
		return saved, b, err
	}
	return saved, b, nil
}

// settle moves a batch between parsed and rejected as its invalid count says, and keeps
// its error report in step with the rows.
func (s *Service) settle(ctx context.Context, id string) (credbatch.Batch, error) {
	b, err := s.Store.GetBatch(ctx, id)
	if err != nil {
		return b, fmt.Errorf("load batch %s: %w", id, err)
	}
	switch {
	case b.Status == credbatch.BatchRejected && b.Counts.Invalid == 0 && b.Counts.Valid > 0:
		b, err = s.Store.TransitionBatch(ctx, id, credbatch.BatchRejected, credbatch.BatchParsed, credbatch.BatchChange{Reason: new(string)})
		if err != nil {
			return b, fmt.Errorf("batch %s back to parsed: %w", id, err)
		}
	case b.Status == credbatch.BatchParsed && b.Counts.Invalid > 0:
		b, err = s.Store.TransitionBatch(ctx, id, credbatch.BatchParsed, credbatch.BatchRejected, credbatch.BatchChange{})
		if err != nil {
			return b, fmt.Errorf("batch %s to rejected: %w", id, err)
		}
	}
	if b.Counts.Invalid > 0 {
		if _, err := s.WriteReport(ctx, b); err != nil {
			return b, err
		}
	}
	return b, nil
}

// duplicates checks the amended row against every other row of the batch: it gets
// duplicate_row when another row has its definition and recipient. It returns the row that
// stops being a duplicate (the first remaining holder of the old recipient, when it carried
// duplicate_row), with that finding removed, or nil.
func (s *Service) duplicates(ctx context.Context, b credbatch.Batch, next *credbatch.Row, old credbatch.Row) (*credbatch.Row, error) {
	type key struct{ def, email string }
	keyOf := func(r credbatch.Row) key {
		d := r.DefinitionID
		if d == "" {
			d = b.Options.DefinitionID
		}
		return key{d, strings.ToLower(r.Email)}
	}
	newKey, oldKey := keyOf(*next), keyOf(old)
	firstSame := 0
	var firstOld *credbatch.Row
	for r, err := range credbatch.BatchRows(ctx, s.Store, b.ID, credbatch.RowFilter{}) {
		if err != nil {
			return nil, fmt.Errorf("list rows of %s: %w", b.ID, err)
		}
		if r.Number == next.Number || r.Email == "" || r.Status == credbatch.RowSkipped {
			continue
		}
		k := keyOf(r)
		if next.Email != "" && k == newKey && firstSame == 0 {
			firstSame = r.Number
		}
		if old.Email != "" && k == oldKey && oldKey != newKey && firstOld == nil {
			r := r
			firstOld = &r
		}
	}
	next.Findings = slices.DeleteFunc(next.Findings, func(f credbatch.Finding) bool { return f.Code == credbatch.CodeDuplicateRow })
	if firstSame > 0 {
		col := ""
		for _, c := range b.Columns {
			if c.Field == credbatch.FieldEmail {
				col = c.Header
			}
		}
		next.Findings = append(next.Findings, credbatch.Finding{Row: next.Number, Column: col, Code: credbatch.CodeDuplicateRow,
			Severity: credbatch.SeverityError, Message: fmt.Sprintf("%s is already the recipient of a %s credential in row %d; delete one of the two rows or correct the email",
				next.Email, newKey.def, firstSame)})
	}
	next.Status = validateStatus(next.Findings)
	if firstOld == nil || !slices.ContainsFunc(firstOld.Findings, func(f credbatch.Finding) bool { return f.Code == credbatch.CodeDuplicateRow }) ||
		(firstOld.Status != credbatch.RowValid && firstOld.Status != credbatch.RowInvalid) {
		return nil, nil
	}
	firstOld.Findings = slices.DeleteFunc(slices.Clone(firstOld.Findings), func(f credbatch.Finding) bool { return f.Code == credbatch.CodeDuplicateRow })
	return firstOld, nil
}

func validateStatus(fs []credbatch.Finding) credbatch.RowStatus {
	if credbatch.HasErrors(fs) {
		return credbatch.RowInvalid
	}
	return credbatch.RowValid
}

// statusDelta is the change of the valid and invalid counters when a row moves.
func statusDelta(from, to credbatch.RowStatus) credbatch.Counts {
	var d credbatch.Counts
	if from == to {
		return d
	}
	if to == credbatch.RowValid {
		d.Valid, d.Invalid = 1, -1
	} else {
		d.Valid, d.Invalid = -1, 1
	}
	return d
}

// batchHeaders returns the batch's column headers and its mapping (unmapped columns skipped).
func batchHeaders(b credbatch.Batch) ([]string, map[string]credbatch.Field) {
	headers := make([]string, len(b.Columns))
	mapping := make(map[string]credbatch.Field, len(b.Columns))
	for i, c := range b.Columns {
		headers[i] = c.Header
		mapping[c.Header] = c.Field
		if c.Field == "" {
			mapping[c.Header] = credbatch.FieldSkip
		}
	}
	return headers, mapping
}

// amendedCells applies values (header → cell) to a copy of the row's cells.
func amendedCells(headers, cur []string, values map[string]string) ([]string, error) {
	cells := make([]string, len(headers))
	copy(cells, cur)
	var unknown []string
	for h, v := range values {
		i := slices.Index(headers, h)
		if i < 0 {
			unknown = append(unknown, h)
			continue
		}
		cells[i] = v
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, &credbatch.Error{Kind: credbatch.KindInvalid, Code: "unknown_columns",
			Message: fmt.Sprintf("the batch has no column %s; use the headers as in the batch (%s)", strings.Join(quote(unknown), ", "), strings.Join(quote(headers), ", ")),
			Details: unknown}
	}
	return cells, nil
}

func quote(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// BatchDefinitions loads the definitions a batch was validated against, at those versions,
// plus the batch's own definition (latest) when no row named it yet.
func (s *Service) BatchDefinitions(ctx context.Context, b credbatch.Batch) (map[string]credbatch.Definition, error) {
	defs := map[string]credbatch.Definition{}
	for id, ver := range b.Definitions {
		d, err := s.Store.GetDefinition(ctx, id, ver)
		if err != nil {
			return nil, fmt.Errorf("load definition %s v%d: %w", id, ver, err)
		}
		defs[id] = d
	}
	if id := b.Options.DefinitionID; id != "" {
		if _, ok := defs[id]; !ok {
			d, err := s.Store.GetDefinition(ctx, id, 0)
			if err != nil && !credbatch.IsKind(err, credbatch.KindNotFound) {
				return nil, fmt.Errorf("load definition %s: %w", id, err)
			}
			if err == nil {
				defs[id] = d
			}
		}
	}
	return defs, nil
}
