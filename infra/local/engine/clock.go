package engine

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Clock is the engine's time: Now stamps history and deadlines, Sleep waits out Retry
// intervals and Wait states, Timer runs task timeouts (stop releases a timer that is no
// longer needed). Tests inject a VirtualClock so nothing really waits.
type Clock interface {
	Now() time.Time
	Sleep(d time.Duration) <-chan time.Time
	Timer(d time.Duration) (c <-chan time.Time, stop func())
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Sleep returns time.After(d).
func (RealClock) Sleep(d time.Duration) <-chan time.Time { return time.After(d) }

// Timer returns a time.Timer's channel and its Stop.
func (RealClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// VirtualClock is a clock for tests. Sleeps up to instant long end at once (moving the clock
// forward), so Retry back-offs and short Wait states take no time; longer sleeps and every
// task timeout (an approval timeout of seven days) fire only when the test calls Advance.
type VirtualClock struct {
	mu      sync.Mutex
	now     time.Time
	instant time.Duration
	timers  []vtimer
	changed chan struct{}
}

type vtimer struct {
	at time.Time
	ch chan time.Time
}

// NewVirtualClock returns a virtual clock at start whose waits up to instant fire at once.
func NewVirtualClock(start time.Time, instant time.Duration) *VirtualClock {
	return &VirtualClock{now: start, instant: instant, changed: make(chan struct{})}
}

// Now returns the virtual time.
func (c *VirtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep returns a channel that receives at once when d is up to the instant threshold (the
// virtual time moves d forward), else once Advance has moved the time d forward.
func (c *VirtualClock) Sleep(d time.Duration) <-chan time.Time { return c.after(d, true) }

// Timer returns a channel that receives once Advance has moved the time d forward; stop
// removes the timer.
func (c *VirtualClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	ch := c.after(d, false)
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, t := range c.timers {
			if t.ch == ch {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				c.notify()
				return
			}
		}
	}
}

func (c *VirtualClock) after(d time.Duration, sleep bool) chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if sleep && d <= c.instant {
		if d > 0 {
			c.now = c.now.Add(d)
		}
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, vtimer{at: c.now.Add(d), ch: ch})
	c.notify()
	return ch
}

func (c *VirtualClock) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Advance moves the virtual time forward by d and fires the timers that became due.
func (c *VirtualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	sort.Slice(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
	keep := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
			continue
		}
		keep = append(keep, t)
	}
	c.timers = keep
	c.notify()
}

// Timers returns how many timers and long sleeps are pending.
func (c *VirtualClock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitTimers blocks until at least n timers or long sleeps are pending (an execution reached its
// approval wait, say) or ctx ends.
func (c *VirtualClock) WaitTimers(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		got, changed := len(c.timers), c.changed
		c.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
