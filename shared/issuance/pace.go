package issuance

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Pacing across batches and processes: every chunk worker of every batch, in every Lambda
// instance, takes its send slots from the deployment's one send schedule in the store
// (Store.ReserveSends, spaced 1/SendRate apart), so the account's rate holds however many
// batches issue at once. A worker reserves a block of consecutive slots with one conditional
// write (one write unit) when it has none left, and sleeps only until each. A block is at
// most sendBlock slots and never more than the sends the chunk may still make among the rows
// it has read ahead (schedule.feed), so no slot is left over at a chunk's end; nor more than
// the worker keeps up with, nor so many that others wait long behind it (blockSize). A slot
// the worker comes to more than an interval late (stalled by a slow store call) is left
// unused rather than sent on top of the next one. It never sleeps long: when the schedule is
// reserved so far ahead that the block's last slot would be more than maxSendWait away, or
// in the last sendMargin before its invocation's deadline, the chunk stops with
// ChunkUnfinishedError and Step Functions re-runs it after a wait (a Retry interval, which
// no Lambda is billed for); the re-run skips what was done.
const (
	maxSendWait = 20 * time.Second
	sendMargin  = 60 * time.Second
	sendBlock   = 8
	// maxHold is about how long a reservation should wait behind the others' blocks: with
	// more workers sharing the schedule, each takes smaller blocks, so that a batch starting
	// while others issue gets its first slot within about this long (twelve workers holding
	// 8 slots each at 12 a second would keep it waiting 8 s). A worker's first block is
	// maxHold of its planned share of the rate (Chunk.Rate).
	maxHold = time.Second
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
	share    float64 // the worker's planned share of the rate, messages a second
	now      func() time.Time

	next time.Time // the next reserved slot
	left int       // reserved slots not yet used

	pending int           // sends the chunk may still make from the current row (feed); 0: unknown, one at a time
	free    time.Time     // when the worker last came back from Wait (or the schedule was made)
	work    time.Duration // the longest the worker spent between two sends since its last reservation
	block   int           // the size of its last block (0: none yet)
	hold    time.Duration // how long that block's first slot was after its reservation
}

// newSchedule paces on the shared schedule at accountRate messages a second, for a worker
// planned to send share of them.
func newSchedule(store credbatch.Store, accountRate, share float64) *schedule {
	return &schedule{store: store, interval: time.Duration(float64(time.Second) / accountRate), share: share, now: time.Now, free: time.Now()}
}

// Wait blocks until the worker's next slot; ChunkUnfinishedError when it would wait too long
// or past its deadline; KindUnavailable when the context ends or the store fails.
func (p *schedule) Wait(ctx context.Context) error {
	now := p.now()
	p.work = max(p.work, now.Sub(p.free))
	for p.left > 0 && now.Sub(p.next) > p.interval {
		p.next, p.left = p.next.Add(p.interval), p.left-1 // too late for this slot
	}
	if p.left == 0 {
		latest := now.Add(maxSendWait)
		if dl, ok := ctx.Deadline(); ok && dl.Add(-sendMargin).Before(latest) {
			latest = dl.Add(-sendMargin)
		}
		if latest.Before(now) {
			return &ChunkUnfinishedError{Msg: "the invocation's time is nearly up"}
		}
		n := p.blockSize(latest.Sub(now))
		// The block's last slot is (n-1) intervals after its first: it is the one that must
		// be no later than latest.
		first, err := p.store.ReserveSends(ctx, n, p.interval, now, latest.Add(-time.Duration(n-1)*p.interval))
		if credbatch.IsKind(err, credbatch.KindBusy) {
			return &ChunkUnfinishedError{Msg: fmt.Sprintf("no block of %d send slots within %v: %v", n, latest.Sub(now).Round(time.Second), err)}
		}
		if err != nil {
			return fmt.Errorf("reserve send slots: %w", err)
		}
		p.next, p.left, p.work, p.block, p.hold = first, n, 0, n, first.Sub(now)
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
	p.free = p.now()
	return nil
}

// blockSize is how many slots the next reservation takes: sendBlock at most, and no more than
//   - pending, the sends the chunk may still make (0, unknown: one);
//   - fit in window, the time from now to the latest a slot may be (the block's last slot
//     is n-1 intervals after its first, which is now at the earliest);
//   - the worker keeps up with: one that spends work > interval between two sends falls
//     behind its consecutive slots by work-interval a send, so the block ends before that
//     lag passes half an interval (Wait leaves a slot unused after a whole one);
//   - keep the wait behind the others' blocks near maxHold: the first block is maxHold of
//     the worker's share; after a block of `block` slots whose first slot came hold after its
//     reservation, the next is block·maxHold/hold (sendBlock when it came at once: no one
//     else was waiting).
func (p *schedule) blockSize(window time.Duration) int {
	n := min(sendBlock, max(p.pending, 1), 1+int(window/p.interval))
	if p.work > p.interval {
		n = min(n, 1+int(p.interval/2/(p.work-p.interval)))
	}
	switch {
	case p.block == 0:
		n = min(n, int(p.share*maxHold.Seconds()))
	case p.hold > 0:
		n = min(n, int(int64(p.block)*int64(maxHold)/int64(p.hold)))
	}
	return max(n, 1)
}

// mayNeedSend reports whether the chunk worker may send a row's email: it takes valid and
// failed rows, and carries on with issuing ones (whose email an earlier run may have sent).
func mayNeedSend(r credbatch.Row) bool {
	switch r.Status {
	case credbatch.RowValid, credbatch.RowFailed, credbatch.RowIssuing:
		return true
	}
	return false
}

// feed yields rows, reading up to sendBlock of them ahead, and before each one sets the
// schedule's pending count: that row and those read after it that may need a send. A row
// counted that does not send after all (suppressed, taken by another run, sent by an earlier
// one) leaves one slot unused at most.
func (p *schedule) feed(rows iter.Seq2[credbatch.Row, error]) iter.Seq2[credbatch.Row, error] {
	return func(yield func(credbatch.Row, error) bool) {
		next, stop := iter.Pull2(rows)
		defer stop()
		type item struct {
			r   credbatch.Row
			err error
		}
		var ahead []item
		done := false
		for {
			for !done && len(ahead) < sendBlock {
				r, err, ok := next()
				if !ok {
					done = true
					break
				}
				ahead = append(ahead, item{r, err})
			}
			if len(ahead) == 0 {
				return
			}
			p.pending = 0
			for _, it := range ahead {
				if it.err != nil {
					break
				}
				if mayNeedSend(it.r) {
					p.pending++
				}
			}
			it := ahead[0]
			ahead = ahead[1:]
			if !yield(it.r, it.err) {
				return
			}
		}
	}
}

// paced gives the shared schedule the chunk's rows to count its sends from (feed); with
// another waiter the rows pass as they are.
func paced(w waiter, rows iter.Seq2[credbatch.Row, error]) iter.Seq2[credbatch.Row, error] {
	if p, ok := w.(*schedule); ok {
		return p.feed(rows)
	}
	return rows
}
