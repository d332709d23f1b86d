package issuance

import (
	"context"
	"fmt"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Pacing across batches and processes: every chunk worker of every batch, in every Lambda
// instance, takes its send slots from the deployment's one send schedule in the store
// (Store.ReserveSends, spaced 1/SendRate apart), so the account's rate holds however many
// batches issue at once. A worker reserves one slot right before each send (one conditional
// write; a block of slots would be wasted at the end of a chunk) and sleeps only until it. It never sleeps
// long: when the schedule is reserved more than maxSendWait ahead, or its next slot would
// fall in the last sendMargin before its invocation's deadline, the chunk stops with
// ChunkUnfinishedError and Step Functions re-runs it after a wait (a Retry interval, which no
// Lambda is billed for); the re-run skips what was done.
const (
	maxSendWait = 20 * time.Second
	sendMargin  = 60 * time.Second
)

// waiter is what the send path waits on before each message: the shared schedule, or a
// process-local pacer for chunks planned without an account rate.
type waiter interface {
	Wait(ctx context.Context) error
}

// schedule is one chunk worker's view of the shared send schedule.
type schedule struct {
	store    credbatch.Store
	interval time.Duration
	block    int
	now      func() time.Time

	next time.Time // the next reserved slot
	left int       // reserved slots not yet used
}

// newSchedule paces on the shared schedule at accountRate messages a second.
func newSchedule(store credbatch.Store, accountRate float64) *schedule {
	return &schedule{store: store, interval: time.Duration(float64(time.Second) / accountRate), block: 1, now: time.Now}
}

// Wait blocks until the worker's next slot; ChunkUnfinishedError when it would wait too long
// or past its deadline; KindUnavailable when the context ends or the store fails.
func (p *schedule) Wait(ctx context.Context) error {
	if p.left == 0 {
		now := p.now()
		latest := now.Add(maxSendWait)
		if dl, ok := ctx.Deadline(); ok && dl.Add(-sendMargin).Before(latest) {
			latest = dl.Add(-sendMargin)
		}
		if latest.Before(now) {
			return &ChunkUnfinishedError{Msg: "the invocation's time is nearly up"}
		}
		first, err := p.store.ReserveSends(ctx, p.block, p.interval, now, latest)
		if credbatch.IsKind(err, credbatch.KindBusy) {
			return &ChunkUnfinishedError{Msg: fmt.Sprintf("no send slot within %v: %v", latest.Sub(now).Round(time.Second), err)}
		}
		if err != nil {
			return fmt.Errorf("reserve send slots: %w", err)
		}
		p.next, p.left = first, p.block
	}
	if d := p.next.Sub(p.now()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return credbatch.Errorf(credbatch.KindUnavailable, "waiting for a send slot: %v", ctx.Err())
		case <-t.C:
		}
	}
	p.next = p.next.Add(p.interval)
	p.left--
	return nil
}
