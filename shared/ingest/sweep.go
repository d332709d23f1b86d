package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// CodeInProgress is the code of the retryable (KindUnavailable) error a delivery gets when
// another one holds the batch's lease: the object is being ingested right now, or was until
// a crash less than a lease ago.
const CodeInProgress = "ingest_in_progress"

// CodeInterrupted is the file-level finding of a batch given as JSON rows whose request
// stopped part way and was not sent again within AbandonAfter: its rows are removed and it
// is rejected, so that nobody issues half a request.
const CodeInterrupted = "ingest_interrupted"

// Sweep defaults.
const (
	DefaultSweepWindow  = 7 * 24 * time.Hour
	DefaultAbandonAfter = 24 * time.Hour
	// sweepReserve is the time a sweep keeps back before its context's deadline: it starts
	// no resume with less left (the next sweep takes the rest).
	sweepReserve = 5 * time.Minute
)

// leased reports whether a batch in received is being worked on: its last heartbeat is
// younger than the lease.
func (s *Service) leased(b credbatch.Batch) bool { return s.now().Sub(b.UpdatedAt) < s.lease() }

func (s *Service) inProgress(b credbatch.Batch) error {
	retry := b.UpdatedAt.Add(s.lease()).Sub(s.now()).Round(time.Second)
	return credbatch.E(credbatch.KindUnavailable, CodeInProgress, fmt.Sprintf(
		"batch %s is being ingested by another delivery (last heartbeat %s); if that one stopped, a retry after %s resumes it",
		b.ID, b.UpdatedAt.UTC().Format(time.RFC3339), retry))
}

// fromUpload reports whether a batch came from an object in the bucket (and can be read
// again), rather than from JSON rows in a request.
func fromUpload(b credbatch.Batch) bool {
	return b.Source.IdempotencyKey == "" && b.Source.Key != ""
}

// finish does, for a batch that left received, the steps a crash can have cut off after
// the transition: a fully valid upload batch is submitted (when the service submits) if it
// has no execution yet, and a batch rejected for invalid rows gets its error report (and the
// uploader's email) if it has none. Every step is idempotent; anything else is returned as
// it is.
func (s *Service) finish(ctx context.Context, b credbatch.Batch, log *slog.Logger) (credbatch.Batch, error) {
	switch {
	case b.Status == credbatch.BatchParsed && b.ExecutionID == "" && b.ReportKey == "" && s.Submitter != nil && fromUpload(b):
		// A parsed batch that went through rejected has an error report: the issuer
		// fixed its rows and submits it, not the sweeper.
		log.Warn("submitting a parsed batch an earlier attempt did not submit")
		nb, err := s.Submitter.Submit(ctx, b.ID, false)
		if credbatch.IsKind(err, credbatch.KindConflict) {
			return s.Store.GetBatch(ctx, b.ID) // submitted meanwhile by someone else
		}
		if err != nil {
			return b, fmt.Errorf("ingest %s: submit: %w", b.ID, err)
		}
		return nb, nil
	case b.Status == credbatch.BatchRejected && b.Counts.Invalid > 0 && b.ReportKey == "":
		log.Warn("writing the error report an earlier attempt did not write")
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
	return b, nil
}

// SweepResult counts what a sweep did.
type SweepResult struct {
	Checked   int // batches looked at (created within the window)
	Resumed   int // uploads left in received by a crash, ingested again
	Finished  int // batches given a step a crash cut off (submit, error report)
	Abandoned int // JSON-row batches whose request stopped and was not sent again, rejected
	Busy      int // batches another delivery is working on (left alone)
	Failed    int // batches whose resume failed (tried again by the next sweep)
}

// Sweep resumes what crashed deliveries left, so that no batch stays stuck when the
// redelivery of its event never comes (or came too early and failed with CodeInProgress):
// every upload batch in received whose lease has expired is ingested again from its object,
// the cut-off steps of finish are done, and a JSON-row batch left in received for longer
// than AbandonAfter is rejected with CodeInterrupted (its rows removed). It looks at the
// batches created within SweepWindow, newest first, one at a time, and starts nothing with
// less than five minutes left before ctx's deadline. It returns the errors of the batches it
// could not resume (joined) with the counts; the next sweep tries them again.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	var errs []error
	since := s.now().Add(-s.sweepWindow())
	for b, err := range credbatch.All(func(cursor string) (credbatch.Page[credbatch.Batch], error) {
		return s.Store.ListBatches(ctx, credbatch.BatchFilter{Cursor: cursor, Limit: credbatch.MaxPageSize})
	}) {
		if err != nil {
			return res, errors.Join(append(errs, fmt.Errorf("sweep: list batches: %w", err))...)
		}
		if b.CreatedAt.Before(since) {
			break
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < sweepReserve {
			s.log().Warn("sweep stopped before its deadline; the next one carries on", "checked", res.Checked)
			break
		}
		res.Checked++
		if err := s.sweepOne(ctx, b, &res); err != nil {
			res.Failed++
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

func (s *Service) sweepOne(ctx context.Context, b credbatch.Batch, res *SweepResult) error {
	log := s.log().With("batch_id", b.ID, "sweep", true)
	switch {
	case b.Status == credbatch.BatchReceived && s.leased(b):
		res.Busy++
		return nil
	case b.Status == credbatch.BatchReceived && fromUpload(b):
		_, err := s.Ingest(ctx, Object{Bucket: b.Source.Bucket, Key: b.Source.Key, VersionID: b.Source.VersionID, ETag: b.Source.ETag})
		switch {
		case credbatch.ErrorCode(err) == CodeInProgress:
			res.Busy++ // a redelivery took it between the listing and now
			return nil
		case err != nil:
			log.Error("sweep: resume failed", "err", err)
			return fmt.Errorf("sweep: resume %s: %w", b.ID, err)
		}
		res.Resumed++
		return nil
	case b.Status == credbatch.BatchReceived:
		if s.now().Sub(b.UpdatedAt) < s.abandonAfter() {
			return nil // the client may still send the request again with its key
		}
		return s.abandon(ctx, b, res, log)
	case !s.leased(b):
		// A live delivery finishes its own batch; only one quiet for a lease is helped.
		nb, err := s.finish(ctx, b, log)
		if err != nil {
			return fmt.Errorf("sweep: finish %s: %w", b.ID, err)
		}
		if nb.ExecutionID != b.ExecutionID || nb.ReportKey != b.ReportKey {
			res.Finished++
		}
	}
	return nil
}

// abandon rejects a JSON-row batch whose request stopped part way, then removes its rows.
// The rejection comes first: a retry of the request racing it then fails its own final
// transition, and rows left by a crash in between cannot be issued (the counts are zero).
func (s *Service) abandon(ctx context.Context, b credbatch.Batch, res *SweepResult, log *slog.Logger) error {
	findings := append(b.Findings, credbatch.Finding{Code: CodeInterrupted, Severity: credbatch.SeverityError,
		Message: "The request that created this batch stopped before all its rows were stored and was not sent again. Send the rows again with a new Idempotency-Key."})
	counts := credbatch.Counts{}
	_, err := s.Store.TransitionBatch(ctx, b.ID, credbatch.BatchReceived, credbatch.BatchRejected,
		credbatch.BatchChange{Findings: &findings, Counts: &counts})
	if credbatch.IsKind(err, credbatch.KindConflict) {
		return nil // the client's retry finished it meanwhile
	}
	if err != nil {
		return fmt.Errorf("sweep: reject %s: %w", b.ID, err)
	}
	if err := s.Store.DeleteRows(ctx, b.ID); err != nil {
		return fmt.Errorf("sweep: remove rows of %s: %w", b.ID, err)
	}
	log.Warn("sweep: rejected a batch whose request stopped part way", "since", b.UpdatedAt)
	res.Abandoned++
	return nil
}

func (s *Service) sweepWindow() time.Duration {
	if s.SweepWindow > 0 {
		return s.SweepWindow
	}
	return DefaultSweepWindow
}

func (s *Service) abandonAfter() time.Duration {
	if s.AbandonAfter > 0 {
		return s.AbandonAfter
	}
	return DefaultAbandonAfter
}
