package engine

import (
	"context"
	"testing"
	"time"
)

func fired(ch <-chan time.Time) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestVirtualClock(t *testing.T) {
	c := NewVirtualClock(epoch, time.Minute)
	if !fired(c.Sleep(30 * time.Second)) {
		t.Error("a 30 s sleep under the 1 min threshold did not end at once")
	}
	if got := c.Now(); !got.Equal(epoch.Add(30 * time.Second)) {
		t.Errorf("Now after the instant sleep = %s, want 30 s later", got)
	}
	long := c.Sleep(time.Hour)
	timer, _ := c.Timer(10 * time.Second) // timers never fire on their own
	stopped, stop := c.Timer(time.Second)
	stop()
	if fired(long) || fired(timer) {
		t.Fatal("a long sleep or a timer fired before Advance")
	}
	if got := c.Timers(); got != 2 {
		t.Errorf("Timers() = %d, want 2 (the stopped one removed)", got)
	}
	c.Advance(10 * time.Second)
	if !fired(timer) || fired(long) || fired(stopped) {
		t.Error("after 10 s: want only the 10 s timer fired")
	}
	c.Advance(time.Hour)
	if !fired(long) {
		t.Error("the one-hour sleep did not fire after an hour")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.WaitTimers(ctx, 1); err == nil {
		t.Error("WaitTimers(1) with no timers returned nil, want the context error")
	}
}

func TestWaitStateOnVirtualClock(t *testing.T) {
	e, c := mustOpen(t, `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":86400,"End":true}}}`, nil)
	ctx := context.Background()
	id, err := e.Start(ctx, "wait", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	c.Advance(24 * time.Hour)
	if st, out, err := e.Wait(ctx, id); err != nil || st != StatusSucceeded || string(out) != `{}` {
		t.Errorf("Wait = %s, %s, %v; want SUCCEEDED with {}", st, out, err)
	}
}
