package issuance

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/sqlite"
)

// reservations records the ReserveSends calls a schedule makes on a real store.
type reservations struct {
	credbatch.Store
	mu    sync.Mutex
	n     []int
	last  []time.Time // each call's latest: the bound on the block's first slot
	after func()
}

func (r *reservations) ReserveSends(ctx context.Context, n int, interval time.Duration, now, latest time.Time) (time.Time, error) {
	first, err := r.Store.ReserveSends(ctx, n, interval, now, latest)
	r.mu.Lock()
	if err == nil {
		r.n = append(r.n, n)
		r.last = append(r.last, latest)
	}
	r.mu.Unlock()
	if r.after != nil {
		r.after()
	}
	return first, err
}

func recorded(t *testing.T) *reservations {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &reservations{Store: st}
}

// chunkRows is a chunk's rows in order, with the given statuses.
func chunkRows(statuses ...credbatch.RowStatus) iter.Seq2[credbatch.Row, error] {
	return func(yield func(credbatch.Row, error) bool) {
		for i, st := range statuses {
			if !yield(credbatch.Row{BatchID: "b1", Number: i + 2, Status: st}, nil) {
				return
			}
		}
	}
}

func repeat(st credbatch.RowStatus, n int) []credbatch.RowStatus {
	return slices.Repeat([]credbatch.RowStatus{st}, n)
}

// TestScheduleBlocks runs the send schedule as a chunk worker does (a Wait before the send
// of each row it takes) and checks the blocks it reserves: sendBlock at most, never more
// than the sends left, one write for a chunk of up to 8 sends, and every slot used.
func TestScheduleBlocks(t *testing.T) {
	valid, issued, invalid := credbatch.RowValid, credbatch.RowIssued, credbatch.RowInvalid
	tests := []struct {
		name string
		rows []credbatch.RowStatus
		want []int
	}{
		{"a chunk of 3 sends", repeat(valid, 3), []int{3}},
		{"a chunk of 8 sends", repeat(valid, 8), []int{8}},
		{"a chunk of 20 sends", repeat(valid, 20), []int{8, 8, 4}},
		{"one send", repeat(valid, 1), []int{1}},
		{"rows done by an earlier run between", slices.Concat(repeat(valid, 5), repeat(issued, 10), repeat(valid, 5)), []int{5, 5}},
		{"a re-run: issuing and failed rows send too", slices.Concat(repeat(issued, 4), []credbatch.RowStatus{credbatch.RowIssuing, credbatch.RowFailed}, repeat(valid, 9)), []int{8, 3}},
		{"invalid rows do not send", []credbatch.RowStatus{valid, invalid, valid, invalid, invalid, valid, invalid, invalid, invalid, valid, valid}, []int{3, 2}},
		{"nothing to send", repeat(issued, 12), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := recorded(t)
			p := newSchedule(st, 200, 200) // 5 ms apart: far more than the loop's work between sends
			sends := 0
			for r, err := range paced(p, chunkRows(tc.rows...)) {
				if err != nil {
					t.Fatal(err)
				}
				if !mayNeedSend(r) {
					continue
				}
				if err := p.Wait(t.Context()); err != nil {
					t.Fatalf("row %d: %v", r.Number, err)
				}
				sends++
			}
			if fmt.Sprint(st.n) != fmt.Sprint(tc.want) {
				t.Errorf("%d sends reserved blocks %v, want %v", sends, st.n, tc.want)
			}
			if p.left != 0 {
				t.Errorf("%d slots left unused at the chunk's end", p.left)
			}
		})
	}
}

// TestBlockSize checks the bounds of one reservation: the sends left, the block's last slot
// within the window, a worker slower than the interval, and the wait behind other workers.
func TestBlockSize(t *testing.T) {
	const iv = 100 * time.Millisecond // rate 10
	const win = 20 * time.Second
	tests := []struct {
		name    string
		pending int
		work    time.Duration
		window  time.Duration
		share   float64       // the worker's planned share of the rate
		block   int           // its last block
		hold    time.Duration // how long that block's first slot came after its reservation
		want    int
	}{
		{"unknown sends: one", 0, 0, win, 10, 0, 0, 1},
		{"3 sends left", 3, 0, win, 10, 0, 0, 3},
		{"20 sends left", 20, 0, win, 10, 0, 0, sendBlock},
		{"worker as fast as the slots", 20, iv, win, 10, 0, 0, sendBlock},
		{"worker at 1.1 intervals a send", 20, iv * 11 / 10, win, 10, 0, 0, 6},
		{"worker at 1.25 intervals a send", 20, iv * 5 / 4, win, 10, 0, 0, 3},
		{"worker at 1.5 intervals a send", 20, iv * 3 / 2, win, 10, 0, 0, 2},
		{"worker at 2 intervals a send", 20, 2 * iv, win, 10, 0, 0, 1},
		{"window holds 3 slots", 20, 0, 250 * time.Millisecond, 10, 0, 0, 3},
		{"window holds 1 slot", 20, 0, 50 * time.Millisecond, 10, 0, 0, 1},
		{"empty window", 20, 0, 0, 10, 0, 0, 1},
		{"first block: a second of a share of 3 a second", 20, 0, win, 3, 0, 0, 3},
		{"first block: a share under one a second", 20, 0, win, 0.7, 0, 0, 1},
		{"the last block came at once", 20, 0, win, 0.7, 1, 0, sendBlock},
		{"the last block of 4 waited 0.5 s", 20, 0, win, 3, 4, 500 * time.Millisecond, sendBlock},
		{"the last block of 4 waited 2 s", 20, 0, win, 3, 4, 2 * time.Second, 2},
		{"the last block of 1 waited 3 s", 20, 0, win, 3, 1, 3 * time.Second, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &schedule{interval: iv, share: tc.share, pending: tc.pending, work: tc.work, block: tc.block, hold: tc.hold}
			if got := p.blockSize(tc.window); got != tc.want {
				t.Errorf("blockSize(%v) with %+v = %d, want %d", tc.window, tc, got, tc.want)
			}
		})
	}
}

// TestScheduleBlockLastSlot checks that maxSendWait and the invocation's deadline bound the
// block's last slot, not its first: a block whose last slot would be too late is refused
// (the chunk stops and is re-run) or shrunk to what fits.
func TestScheduleBlockLastSlot(t *testing.T) {
	const iv = 100 * time.Millisecond // rate 10
	t.Run("busy schedule: the block must end within maxSendWait", func(t *testing.T) {
		st := recorded(t)
		now := time.Now()
		// Taken by other workers up to 19.5 s from now: 8 slots would end at 20.2 s, 5 at 19.9 s.
		if _, err := st.Store.ReserveSends(t.Context(), 195, iv, now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		p := newSchedule(st, 10, 10)
		p.pending = 8
		var unfinished *ChunkUnfinishedError
		if err := p.Wait(t.Context()); !errors.As(err, &unfinished) {
			t.Fatalf("a block of 8 ending after maxSendWait: %v, want ChunkUnfinishedError", err)
		}
		if len(st.n) != 0 {
			t.Fatalf("reserved %v", st.n)
		}
		ctx, cancel := context.WithCancel(t.Context())
		st.after = cancel // do not sleep the 19.5 s to the slot
		p.pending = 5
		if err := p.Wait(ctx); !credbatch.IsKind(err, credbatch.KindUnavailable) {
			t.Fatalf("a block of 5 ending within maxSendWait: %v, want it reserved and the wait cancelled", err)
		}
		if fmt.Sprint(st.n) != "[5]" {
			t.Errorf("reserved %v, want [5]", st.n)
		}
		if last := st.last[0].Add(4 * iv); last.After(p.now().Add(maxSendWait)) {
			t.Errorf("the block's last slot may be at %v, after maxSendWait", last)
		}
	})
	t.Run("the deadline leaves room for 3 slots", func(t *testing.T) {
		st := recorded(t)
		ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(sendMargin+250*time.Millisecond))
		defer cancel()
		p := newSchedule(st, 10, 10)
		p.pending = 8
		sent := 0
		var err error
		for ; sent < 8; sent++ {
			if err = p.Wait(ctx); err != nil {
				break
			}
		}
		var unfinished *ChunkUnfinishedError
		if !errors.As(err, &unfinished) {
			t.Fatalf("after %d sends: %v, want ChunkUnfinishedError", sent, err)
		}
		if sent != 3 || fmt.Sprint(st.n) != "[3]" {
			t.Errorf("%d sends in blocks %v, want 3 in [3]", sent, st.n)
		}
	})
}

// TestScheduleLateSlot checks that a worker that comes to a slot of its block more than an
// interval late (stalled) leaves it unused instead of sending on top of the next one, and
// still uses a slot it is less late for.
func TestScheduleLateSlot(t *testing.T) {
	const iv = 100 * time.Millisecond
	st := recorded(t)
	t0 := time.Now()
	clock := t0
	p := newSchedule(st, 10, 10)
	p.now, p.free, p.pending = func() time.Time { return clock }, t0, 3
	if err := p.Wait(t.Context()); err != nil { // slot t0; t0+100ms and t0+200ms left
		t.Fatal(err)
	}
	clock = t0.Add(iv*2 + iv/2) // 150 ms late for the second slot, 50 ms for the third
	if err := p.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(st.n) != "[3]" || p.left != 0 || !p.next.Equal(t0.Add(3*iv)) {
		t.Errorf("blocks %v, %d left, next %v after t0: want [3], the second slot unused and the third used", st.n, p.left, p.next.Sub(t0))
	}
}

// TestFeedError checks that feed passes the rows' error on in its place and counts the sends
// only up to it.
func TestFeedError(t *testing.T) {
	boom := errors.New("boom")
	rows := func(yield func(credbatch.Row, error) bool) {
		_ = yield(credbatch.Row{Number: 2, Status: credbatch.RowValid}, nil) &&
			yield(credbatch.Row{Number: 3, Status: credbatch.RowValid}, nil) &&
			yield(credbatch.Row{}, boom)
	}
	p := newSchedule(recorded(t), 10, 10)
	var got []string
	for r, err := range p.feed(rows) {
		got = append(got, fmt.Sprintf("%d/%v/%d", r.Number, err, p.pending))
		if err != nil {
			break
		}
	}
	if want := "[2/<nil>/2 3/<nil>/1 0/boom/0]"; fmt.Sprint(got) != want {
		t.Errorf("got %v, want %v", got, want)
	}
}
