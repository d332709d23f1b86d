package report

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Run reports the window from the watermark (or FirstWindow ago, the first time) to now
// (less Lag) and moves the watermark to the window's end.
//
// Order: the watermark is claimed first (SetMark from the value read to the new end, one
// conditional write), then the report is built and sent. A concurrent run that read the
// same watermark loses the claim and sends nothing (Skipped); a repeated run at the same time
// finds an empty window; a missed run leaves the watermark where it was, so the next run's
// window starts there. When building or sending fails after the claim, the watermark is
// moved back and the error returned, so the next run (or Lambda's retry) reports the window
// again. The one gap: a crash between the claim and the send loses that window's email.
func (s *Service) Run(ctx context.Context) (Report, error) {
	end := s.now()
	lag := s.Config.Lag
	if lag == 0 {
		lag = DefaultLag
	}
	if lag > 0 {
		end = end.Add(-lag)
	}
	prev, err := s.Store.GetMark(ctx, MarkName)
	if err != nil && !credbatch.IsKind(err, credbatch.KindNotFound) {
		return Report{}, fmt.Errorf("delivery report: read watermark: %w", err)
	}
	start := prev
	if start.IsZero() {
		first := s.Config.FirstWindow
		if first <= 0 {
			first = DefaultFirstWindow
		}
		start = end.Add(-first)
	}
	rep := Report{From: start.UTC(), To: end}
	if !end.After(start) {
		rep.Skipped = "nothing new since the last report"
		return rep, nil
	}
	if err := s.Store.SetMark(ctx, MarkName, prev, end); err != nil {
		if credbatch.IsKind(err, credbatch.KindConflict) {
			s.log().Info("delivery report claimed by another run", "from", start, "to", end)
			rep.Skipped = "another run reported this window"
			return rep, nil
		}
		return rep, fmt.Errorf("delivery report: claim window: %w", err)
	}
	release := func(cause error) error {
		if err := s.Store.SetMark(context.WithoutCancel(ctx), MarkName, end, start); err != nil {
			s.log().Error("delivery report: watermark not moved back; this window will not be reported again",
				"from", start, "to", end, "err", err)
			return errors.Join(cause, fmt.Errorf("move watermark back: %w", err))
		}
		return cause
	}
	if err := s.build(ctx, &rep); err != nil {
		return rep, release(fmt.Errorf("delivery report: %w", err))
	}
	if rep.Empty() && !s.Config.SendEmpty {
		s.log().Info("delivery report: nothing happened; no email", "from", start, "to", end)
		return rep, nil
	}
	if len(s.Config.Admins) == 0 {
		s.log().Warn("delivery report: no administrators configured; no email", "from", start, "to", end)
		return rep, nil
	}
	msg, err := s.Message(rep)
	if err != nil {
		return rep, release(fmt.Errorf("delivery report: compose: %w", err))
	}
	if _, err := s.Mailer.Send(ctx, msg); err != nil {
		return rep, release(fmt.Errorf("delivery report: send: %w", err))
	}
	rep.Sent = true
	s.log().Info("delivery report sent", "from", start, "to", end, "batches", len(rep.Batches),
		"failed", len(rep.Failed), "events", rep.Events)
	return rep, nil
}

// build fills the report for its window: the events, the batches they touch plus those that
// completed in the window, and the failed recipients.
//
// A Delivery joined to its credential is not recorded (feedback stamps the credential's
// DeliveredAt instead), so the window's deliveries of a batch are counted from its
// credentials (summarize), and a batch whose only activity in the window was deliveries
// (or sends: the configuration set publishes no Send events) has no record in it. Such a
// batch's counters moved in the window, which stamps its UpdatedAt (the counters item's, in
// DynamoDB): every batch updated at or after the window's start is read, and kept when its
// credentials were sent or delivered in the window (or its counters need a word).
func (s *Service) build(ctx context.Context, rep *Report) error {
	window := map[string]map[credbatch.EventType]int{}
	fails := newFailures(s.Store)
	for d, err := range credbatch.All(func(cursor string) (credbatch.Page[credbatch.Delivery], error) {
		return s.Store.ListDeliveries(ctx, rep.From, rep.To, cursor, credbatch.MaxPageSize)
	}) {
		if err != nil {
			return fmt.Errorf("list deliveries: %w", err)
		}
		rep.Events++
		// A batch's window counts its credential emails' events only: notifications about the
		// batch (approval request, summary) carry its batch_id tag too.
		if d.BatchID != "" && d.CredentialID != "" {
			if window[d.BatchID] == nil {
				window[d.BatchID] = map[credbatch.EventType]int{}
			}
			window[d.BatchID][d.Event]++
		}
		if err := fails.event(ctx, d); err != nil {
			return err
		}
	}
	completed, updated, err := s.batchesIn(ctx, rep.From, rep.To)
	if err != nil {
		return err
	}
	labels := map[string]string{}
	ids := make([]string, 0, len(window)+len(completed)+len(updated))
	for id := range window {
		ids = append(ids, id)
	}
	for id := range completed {
		if window[id] == nil {
			ids = append(ids, id)
		}
	}
	for id := range updated {
		if _, done := completed[id]; window[id] == nil && !done {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		b, ok := completed[id]
		if !ok {
			var listed bool
			if b, listed = updated[id]; !listed {
				if b, err = s.Store.GetBatch(ctx, id); err != nil {
					if credbatch.IsKind(err, credbatch.KindNotFound) {
						continue
					}
					return fmt.Errorf("load batch %s: %w", id, err)
				}
			}
		}
		sum, unsent, err := s.summarize(ctx, b, ok, rep.From, rep.To)
		if err != nil {
			return err
		}
		if !ok && window[id] == nil && len(sum.Window) == 0 && sum.Mismatch == nil {
			continue // updated, but nothing sent or delivered in the window
		}
		rep.Events += sum.Window[credbatch.EventDelivery] // the Delivery events not recorded
		for e, n := range window[id] {
			if e == credbatch.EventSend {
				continue // sends are counted from the credentials (summarize)
			}
			if sum.Window == nil {
				sum.Window = map[credbatch.EventType]int{}
			}
			sum.Window[e] += n // deliveries: those recorded before DeliveredAt was stamped
		}
		rep.Batches = append(rep.Batches, sum)
		for _, f := range unsent {
			fails.add(f)
		}
		labels[id] = b.Label
	}
	if err := fails.names(ctx, labels); err != nil {
		return err
	}
	rep.Failed = fails.list
	sortReport(rep)
	return nil
}

// batchesIn returns the batches whose CompletedAt is in [from, to) and those (not completed
// in it) whose UpdatedAt is at or after from, scanning batches newest first back to
// completedLookback before the window.
func (s *Service) batchesIn(ctx context.Context, from, to time.Time) (completed, updated map[string]credbatch.Batch, err error) {
	completed, updated = map[string]credbatch.Batch{}, map[string]credbatch.Batch{}
	f := credbatch.BatchFilter{Limit: credbatch.MaxPageSize}
	for {
		p, err := s.Store.ListBatches(ctx, f)
		if err != nil {
			return nil, nil, fmt.Errorf("list batches: %w", err)
		}
		for _, b := range p.Items {
			if b.CreatedAt.Before(from.Add(-completedLookback)) {
				return completed, updated, nil
			}
			switch {
			case !b.CompletedAt.IsZero() && !b.CompletedAt.Before(from) && b.CompletedAt.Before(to):
				completed[b.ID] = b
			case !b.UpdatedAt.Before(from):
				updated[b.ID] = b
			}
		}
		if p.Next == "" {
			return completed, updated, nil
		}
		f.Cursor = p.Next
	}
}
