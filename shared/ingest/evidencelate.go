package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// IngestZip handles an evidence zip arriving under uploads/ (see SheetKeyOfZip): S3 events
// come in any order, so the zip may come before or after its spreadsheet.
//
//   - Before: the spreadsheet is not there yet, or its batch not created: nothing to do, the
//     spreadsheet's ingest reads the zip.
//   - While the spreadsheet is read (its batch in received): nothing to do, that ingest looks
//     for the zip again once it has moved the batch on (zipAfter).
//   - After, the batch in review (parsed, or rejected with rows): the rows that name a file
//     and have none stored are checked again against the zip (applyZip); the batch moves to
//     parsed when no row is left invalid, and its error report is rewritten.
//   - After, the batch past review (submitted, issuing, cancelled, rejected as a file): the
//     zip is left alone, and the uploader is told once (lateEvidence) that its files were not
//     used and that files are attached to rows in the console instead.
//
// A repeated event reads the zip again to the same result (same files, same keys).
func (s *Service) IngestZip(ctx context.Context, obj Object) (credbatch.Batch, error) {
	sheetKey, ok := SheetKeyOfZip(obj.Key)
	if !ok {
		return credbatch.Batch{}, credbatch.Errorf(credbatch.KindInvalid, "%s is not the evidence zip of a spreadsheet", obj.Key)
	}
	log := s.log().With("key", obj.Key, "spreadsheet", sheetKey)
	info, err := s.Blob.Head(ctx, sheetKey)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		log.Info("evidence zip arrived before its spreadsheet; the spreadsheet's ingest reads it")
		return credbatch.Batch{}, nil
	}
	if err != nil {
		return credbatch.Batch{}, fmt.Errorf("evidence zip %s: head %s: %w", obj.Key, sheetKey, err)
	}
	bucket := obj.Bucket
	if bucket == "" {
		bucket = info.Bucket
	}
	id := credbatch.BatchIDFor(credbatch.Source{Bucket: bucket, Key: sheetKey, VersionID: info.VersionID, ETag: strings.Trim(info.ETag, `"`)})
	log = log.With("batch_id", id)
	b, err := s.Store.GetBatch(ctx, id)
	switch {
	case credbatch.IsKind(err, credbatch.KindNotFound):
		log.Info("evidence zip arrived before its spreadsheet was ingested; that ingest reads it")
		return b, nil
	case err != nil:
		return b, fmt.Errorf("evidence zip %s: load batch %s: %w", obj.Key, id, err)
	case b.Status == credbatch.BatchReceived:
		log.Info("evidence zip arrived while its spreadsheet is read; that ingest reads it when it has finished")
		return b, nil
	}
	return s.applyZip(ctx, b, log)
}

// zipAfter looks for the evidence zip again once a batch has left received: a zip that
// arrived (or was replaced) while the spreadsheet was read found the batch in received and
// left it to this delivery. read is the zip the rows were checked against (nil: none).
func (s *Service) zipAfter(ctx context.Context, b credbatch.Batch, read *EvidenceFiles, log *slog.Logger) (credbatch.Batch, error) {
	info, err := s.Blob.Head(ctx, EvidenceZipKey(b.Source.Key))
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		return b, nil
	}
	if err != nil {
		// The zip's own event reads it (the batch has left received).
		log.Warn("look for an evidence zip that arrived during ingest", "err", err)
		return b, nil
	}
	if read != nil && read.ETag == info.ETag {
		return b, nil
	}
	log.Info("evidence zip arrived while the spreadsheet was read; checking the rows against it")
	return s.applyZip(ctx, b, log)
}

// applyZip checks the rows of a batch in review that name an evidence file and have none
// stored against the batch's evidence zip, replaces the zip's batch findings, and settles the
// batch (parsed or rejected by its invalid rows, its error report rewritten). Rows with a
// stored file keep it: replacing one row's file is an attach through the API or console.
func (s *Service) applyZip(ctx context.Context, b credbatch.Batch, log *slog.Logger) (credbatch.Batch, error) {
	if (b.Status != credbatch.BatchParsed && b.Status != credbatch.BatchRejected) || b.Counts.Rows == 0 {
		log.Warn("evidence zip arrived after its batch left review; attach files to its rows in the console instead", "status", b.Status)
		return b, s.lateEvidence(ctx, b, log)
	}
	defs, err := s.BatchDefinitions(ctx, b)
	if err != nil {
		return b, err
	}
	z, err := s.openEvidence(ctx, b)
	if err != nil {
		return b, fmt.Errorf("batch %s: %w", b.ID, err)
	}
	defer z.Close()
	column, link := "Evidence File", "Evidence URL"
	for _, c := range b.Columns {
		switch c.Field {
		case credbatch.FieldEvidenceFile:
			column = c.Header
		case credbatch.FieldEvidenceURL:
			link = c.Header
		}
	}
	ev := evidenceRowsFor(defs, z, column, link)
	var delta credbatch.Counts
	var changed int
	for r, err := range credbatch.BatchRows(ctx, s.Store, b.ID, credbatch.RowFilter{}) {
		if err != nil {
			return b, fmt.Errorf("batch %s: list rows: %w", b.ID, err)
		}
		if r.Status != credbatch.RowValid && r.Status != credbatch.RowInvalid {
			continue
		}
		f := r.Evidence.FileNamed()
		if f == nil {
			continue
		}
		if f.Stored() {
			z.claim(f.Name)
			continue
		}
		if liveLock(r) != "" {
			continue // a file is being attached to the row (AttachEvidence) right now
		}
		next := r
		next.Evidence = &credbatch.Evidence{URL: r.Evidence.URL, Narrative: r.Evidence.Narrative, File: &credbatch.EvidenceFile{Name: r.Evidence.File.Name}}
		next.Findings = slices.DeleteFunc(slices.Clone(r.Findings), func(f credbatch.Finding) bool {
			return f.Column == column && slices.Contains(rowEvidenceCodes, f.Code)
		})
		if err := ev.row(ctx, &next); err != nil {
			return b, fmt.Errorf("batch %s row %d: evidence: %w", b.ID, r.Number, err)
		}
		next.UpdatedAt = s.now()
		saved, err := s.Store.UpdateRowEvidence(ctx, next, r.Status, lockOf(r))
		if credbatch.IsKind(err, credbatch.KindConflict) {
			continue // changed meanwhile (amended, a file attached, or a concurrent delivery of this zip)
		}
		if err != nil {
			return b, fmt.Errorf("batch %s: update row %d: %w", b.ID, r.Number, err)
		}
		delta = delta.Add(statusDelta(r.Status, saved.Status))
		changed++
	}
	findings := slices.DeleteFunc(slices.Clone(b.Findings), isZipFinding)
	findings = append(findings, z.Findings()...)
	if _, err := s.Store.UpdateBatch(ctx, b.ID, credbatch.BatchChange{Findings: &findings}); err != nil {
		return b, fmt.Errorf("batch %s: record the evidence zip's findings: %w", b.ID, err)
	}
	if delta != (credbatch.Counts{}) {
		if err := s.Store.AddCounts(ctx, b.ID, delta); err != nil {
			return b, fmt.Errorf("batch %s: count rows: %w", b.ID, err)
		}
	}
	nb, err := s.settle(ctx, b.ID)
	if err != nil {
		return nb, err
	}
	log.Info("rows checked against the evidence zip", "rows", changed, "status", nb.Status, "valid", nb.Counts.Valid, "invalid", nb.Counts.Invalid)
	return nb, nil
}

// rowEvidenceCodes are the findings a row's evidence file check gives (removed before the
// row is checked against another zip).
var rowEvidenceCodes = []string{credbatch.CodeEvidenceFileNotFound, credbatch.CodeEvidenceWrongType, credbatch.CodeEvidenceTooLarge,
	credbatch.CodeCorruptFile, credbatch.CodeMissingEvidence}

// lateReleased is the value of a late-evidence mark whose email failed: the next delivery of
// the zip's event may claim it again.
var lateReleased = time.Unix(1, 0).UTC()

// lateEvidence tells the uploader once per zip (its ETag) that an evidence zip arrived after
// its batch left review. The store mark late_evidence/<batch>/<etag> is claimed before the
// email (a repeated S3 event finds it and sends nothing) and released when the email fails,
// so that the event's retry sends it.
func (s *Service) lateEvidence(ctx context.Context, b credbatch.Batch, log *slog.Logger) error {
	if s.Notifier == nil {
		return nil
	}
	key := EvidenceZipKey(b.Source.Key)
	info, err := s.Blob.Head(ctx, key)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		return nil // replaced or removed since its event
	}
	if err != nil {
		return fmt.Errorf("evidence zip %s: %w", key, err)
	}
	mark := "late_evidence/" + b.ID + "/" + strings.Trim(info.ETag, `"`)
	now := s.now()
	err = s.Store.SetMark(ctx, mark, time.Time{}, now)
	if credbatch.IsKind(err, credbatch.KindConflict) {
		at, gerr := s.Store.GetMark(ctx, mark)
		if gerr != nil || !at.Equal(lateReleased) {
			log.Info("late evidence zip: the uploader was told already", "mark", mark)
			return nil
		}
		err = s.Store.SetMark(ctx, mark, lateReleased, now)
		if credbatch.IsKind(err, credbatch.KindConflict) {
			return nil // another delivery claimed it
		}
	}
	if err != nil {
		return fmt.Errorf("late evidence zip %s: %w", key, err)
	}
	if err := s.Notifier.LateEvidence(ctx, b, key); err != nil {
		if rerr := s.Store.SetMark(context.WithoutCancel(ctx), mark, now, lateReleased); rerr != nil {
			log.Error("late evidence zip: mark not released after the email failed; the uploader is not told", "mark", mark, "err", rerr)
		}
		return fmt.Errorf("late evidence zip %s: tell the uploader: %w", key, err)
	}
	return nil
}
