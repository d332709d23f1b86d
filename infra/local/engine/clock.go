package engine

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Clock is the engine's time: Now stamps history and deadlines, After waits for Retry
// intervals, Wait states and task timeouts. Tests inject a VirtualClock so nothing really
// waits.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// VirtualClock is a clock for tests. Waits up to Instant long fire at once (moving the clock
// forward), so Retry back-offs and short Wait states take no time; longer waits (an approval
// timeout of seven days) fire only when the test calls Advance.
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

// After returns a channel that receives once the virtual time has moved d forward.
func (c *VirtualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= c.instant {
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

// Timers returns how many long waits are pending.
func (c *VirtualClock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitTimers blocks until at least n long waits are pending (an execution reached its
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
