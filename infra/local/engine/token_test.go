package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// approvalDef waits for a token with a timeout from the input, like RequestApproval.
const approvalDef = `{"StartAt":"Ask","States":{
	"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
		"Parameters":{"FunctionName":"` + fn + `","Payload":{"token.$":"$$.Task.Token","id.$":"$.id"}},
		"TimeoutSecondsPath":"$.timeout","ResultPath":"$.answer",
		"Catch":[{"ErrorEquals":["States.Timeout"],"ResultPath":"$.error","Next":"Expired"},
		         {"ErrorEquals":["Rejected"],"ResultPath":"$.error","Next":"Rejected"}],
		"Next":"Done"},
	"Expired":{"Type":"Pass","Result":"expired","ResultPath":"$.outcome","End":true},
	"Rejected":{"Type":"Pass","Result":"rejected","ResultPath":"$.outcome","End":true},
	"Done":{"Type":"Pass","Result":"approved","ResultPath":"$.outcome","End":true}}}`

// tokens records the task tokens the handler sees.
type tokens struct {
	mu   sync.Mutex
	seen []string
	got  chan string
}

func newTokens() *tokens { return &tokens{got: make(chan string, 10)} }

func (k *tokens) handler(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
	var in struct{ Token string }
	if err := json.Unmarshal(p, &in); err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.seen = append(k.seen, in.Token)
	k.mu.Unlock()
	k.got <- in.Token
	return json.RawMessage(`{}`), nil
}

func (k *tokens) next(t *testing.T) string {
	t.Helper()
	select {
	case tok := <-k.got:
		return tok
	case <-time.After(10 * time.Second):
		t.Fatal("no task token within 10s")
		return ""
	}
}

const week = 7 * 24 * 60 * 60

func TestTaskToken(t *testing.T) {
	ctx := context.Background()
	input := `{"id":"b1","timeout":604800}`
	tests := []struct {
		name    string
		answer  func(t *testing.T, e *Engine, c *VirtualClock, tok string)
		outcome string
	}{
		{"succeed", func(t *testing.T, e *Engine, _ *VirtualClock, tok string) {
			if err := e.Succeed(ctx, tok, json.RawMessage(`{"approved_by":"ann"}`)); err != nil {
				t.Fatalf("Succeed: %v", err)
			}
		}, `{"answer":{"approved_by":"ann"},"id":"b1","outcome":"approved","timeout":604800}`},
		{"fail", func(t *testing.T, e *Engine, _ *VirtualClock, tok string) {
			if err := e.Fail(ctx, tok, "Rejected", "not now"); err != nil {
				t.Fatalf("Fail: %v", err)
			}
		}, `{"error":{"Cause":"not now","Error":"Rejected"},"id":"b1","outcome":"rejected","timeout":604800}`},
		{"seven-day timeout", func(t *testing.T, e *Engine, c *VirtualClock, tok string) {
			if err := c.WaitTimers(ctx, 1); err != nil {
				t.Fatal(err)
			}
			c.Advance(week * time.Second)
		}, `{"error":{"Cause":"state \"Ask\" timed out after 168h0m0s","Error":"States.Timeout"},"id":"b1","outcome":"expired","timeout":604800}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newTokens()
			e, c := mustOpen(t, approvalDef, map[string]Handler{fn: k.handler})
			id, err := e.Start(ctx, "b1", json.RawMessage(input))
			if err != nil {
				t.Fatal(err)
			}
			tok := k.next(t)
			tt.answer(t, e, c, tok)
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			st, out, err := e.Wait(wctx, id)
			if err != nil || st != StatusSucceeded {
				t.Fatalf("Wait = %s, %v", st, err)
			}
			if string(out) != tt.outcome {
				t.Errorf("output\n got %s\nwant %s", out, tt.outcome)
			}
			// The token is spent now.
			if err := e.Succeed(ctx, tok, nil); !credbatch.IsKind(err, credbatch.KindConflict) {
				t.Errorf("Succeed on a spent token: err = %v, want KindConflict", err)
			}
			if err := e.Fail(ctx, tok, "Rejected", "again"); !credbatch.IsKind(err, credbatch.KindConflict) {
				t.Errorf("Fail on a spent token: err = %v, want KindConflict", err)
			}
		})
	}
	t.Run("unknown token", func(t *testing.T) {
		e, _ := mustOpen(t, approvalDef, map[string]Handler{fn: newTokens().handler})
		if err := e.Succeed(ctx, "nope", nil); !credbatch.IsKind(err, credbatch.KindNotFound) {
			t.Errorf("Succeed: err = %v, want KindNotFound", err)
		}
		if err := e.Fail(ctx, "nope", "X", ""); !credbatch.IsKind(err, credbatch.KindNotFound) {
			t.Errorf("Fail: err = %v, want KindNotFound", err)
		}
	})
	t.Run("answered while the handler still runs", func(t *testing.T) {
		release := make(chan struct{})
		got := make(chan string, 1)
		h := func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
			var in struct{ Token string }
			_ = json.Unmarshal(p, &in)
			got <- in.Token
			<-release
			return nil, nil
		}
		e, _ := mustOpen(t, approvalDef, map[string]Handler{fn: h})
		id, err := e.Start(ctx, "early", json.RawMessage(input))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Succeed(ctx, <-got, json.RawMessage(`{"early":true}`)); err != nil {
			t.Fatalf("Succeed: %v", err)
		}
		close(release)
		st, out, err := e.Wait(ctx, id)
		if err != nil || st != StatusSucceeded || string(out) != `{"answer":{"early":true},"id":"b1","outcome":"approved","timeout":604800}` {
			t.Errorf("Wait = %s, %s, %v", st, out, err)
		}
	})
}

func TestRestartKeepsWaitingToken(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "engine.db")
	k := newTokens()
	m, err := Load([]byte(approvalDef), nil, map[string]Handler{fn: k.handler})
	if err != nil {
		t.Fatal(err)
	}
	clock := NewVirtualClock(epoch, time.Minute)
	e1, err := Open(ctx, path, m, Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	id, err := e1.Start(ctx, "b1", json.RawMessage(`{"id":"b1","timeout":604800}`))
	if err != nil {
		t.Fatal(err)
	}
	tok := k.next(t)
	if err := e1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e1.Succeed(ctx, tok, nil); !credbatch.IsKind(err, credbatch.KindUnavailable) {
		t.Errorf("Succeed on a closed engine: err = %v, want KindUnavailable", err)
	}

	clock.Advance(24 * time.Hour) // a day passes while the stack is down
	e2, err := Open(ctx, path, m, Options{Clock: clock})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer e2.Close()
	if again := k.next(t); again != tok {
		t.Errorf("resumed state got token %q, want the same token %q", again, tok)
	}
	if err := e2.Succeed(ctx, tok, json.RawMessage(`{"ok":1}`)); err != nil {
		t.Fatalf("Succeed after restart: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, out, err := e2.Wait(wctx, id)
	if err != nil || st != StatusSucceeded {
		t.Fatalf("Wait = %s, %v", st, err)
	}
	if want := `{"answer":{"ok":1},"id":"b1","outcome":"approved","timeout":604800}`; string(out) != want {
		t.Errorf("output\n got %s\nwant %s", out, want)
	}
	ev := eventTypes(t, e2, "b1")
	if ev["ExecutionResumed"] != 1 || ev["ExecutionStarted"] != 1 || ev["ExecutionSucceeded"] != 1 {
		t.Errorf("history events = %v, want one ExecutionStarted, ExecutionResumed and ExecutionSucceeded", ev)
	}
}

func TestRestartKeepsDeadline(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "engine.db")
	k := newTokens()
	m, err := Load([]byte(approvalDef), nil, map[string]Handler{fn: k.handler})
	if err != nil {
		t.Fatal(err)
	}
	clock := NewVirtualClock(epoch, time.Minute)
	e1, err := Open(ctx, path, m, Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	id, err := e1.Start(ctx, "b1", json.RawMessage(`{"id":"b1","timeout":604800}`))
	if err != nil {
		t.Fatal(err)
	}
	k.next(t)
	e1.Close()
	clock2 := NewVirtualClock(epoch.Add(6*24*time.Hour), time.Minute) // six days later
	e2, err := Open(ctx, path, m, Options{Clock: clock2})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	k.next(t)
	if err := clock2.WaitTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clock2.Advance(24*time.Hour + time.Second) // the original seven days are up
	st, out, err := e2.Wait(ctx, id)
	if err != nil || st != StatusSucceeded {
		t.Fatalf("Wait = %s, %v", st, err)
	}
	var got struct{ Outcome string }
	if err := json.Unmarshal(out, &got); err != nil || got.Outcome != "expired" {
		t.Errorf("outcome = %q (%v), want expired after the remaining day", got.Outcome, err)
	}
}

func TestTokenOfEndedExecution(t *testing.T) {
	// A Map whose second iteration fails once the first waits on its token: the execution
	// fails, and the waiting token can no longer be answered.
	const fn2 = fn + "-2"
	def := `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"C","States":{
		"C":{"Type":"Choice","Choices":[{"Variable":"$","NumericEquals":0,"Next":"Ask"}],"Default":"Boom"},
		"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken","Parameters":{"FunctionName":"` + fn + `","Payload":{"token.$":"$$.Task.Token"}},"End":true},
		"Boom":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"` + fn2 + `","Payload":{}},"End":true}}},"End":true}}}`
	seen := make(chan string, 1)
	ask := func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
		var in struct{ Token string }
		_ = json.Unmarshal(p, &in)
		seen <- in.Token
		return nil, nil
	}
	var tok string
	boom := func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
		tok = <-seen
		return nil, FatalError{}
	}
	e, _ := mustOpen(t, def, map[string]Handler{fn: ask, fn2: boom})
	ctx := context.Background()
	id, err := e.Start(ctx, "ended", json.RawMessage(`[0,1]`))
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := e.Wait(ctx, id)
	if se := (*StateError)(nil); st != StatusFailed || !errors.As(err, &se) || se.Name != "FatalError" {
		t.Fatalf("Wait = %s, %v; want FAILED with FatalError", st, err)
	}
	if err := e.Succeed(ctx, tok, nil); !credbatch.IsKind(err, credbatch.KindConflict) {
		t.Errorf("Succeed on the token of a failed execution: err = %v, want KindConflict", err)
	}
}

// TestStop: StopExecution on an execution waiting for its approval token ends it ABORTED
// with the given error and cause (history ExecutionAborted), the token can no longer be
// answered, and stopping again or after it ended changes nothing.
func TestStop(t *testing.T) {
	k := newTokens()
	e, _ := mustOpen(t, approvalDef, map[string]Handler{fn: k.handler})
	ctx := context.Background()
	id, err := e.Start(ctx, "stopped", json.RawMessage(`{"id":"b1","timeout":`+fmt.Sprint(week)+`}`))
	if err != nil {
		t.Fatal(err)
	}
	tok := k.next(t)
	if err := e.Stop(ctx, id, "Operator", "stopped by hand"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	st, _, err := e.Wait(ctx, id)
	if st != StatusAborted || err != nil {
		t.Fatalf("Wait = %s, %v; want ABORTED", st, err)
	}
	var errName, cause string
	if err := e.db.QueryRow(`SELECT error, cause FROM executions WHERE id = ?`, id).Scan(&errName, &cause); err != nil || errName != "Operator" || cause != "stopped by hand" {
		t.Errorf("stored error %q cause %q (%v)", errName, cause, err)
	}
	if n := eventTypes(t, e, "stopped"); n["ExecutionAborted"] != 1 || n["ExecutionSucceeded"]+n["ExecutionFailed"] != 0 {
		t.Errorf("history %v; want one ExecutionAborted and no other end", n)
	}
	if err := e.Succeed(ctx, tok, nil); !credbatch.IsKind(err, credbatch.KindConflict) {
		t.Errorf("Succeed on the token of an aborted execution: err = %v, want KindConflict", err)
	}
	if err := e.Stop(ctx, id, "", ""); err != nil {
		t.Errorf("Stop again: %v", err)
	}
	if err := e.Stop(ctx, "arn:aws:states:local:000000000000:execution:issuance:nope", "", ""); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Errorf("Stop of an unknown execution: %v, want KindNotFound", err)
	}
}
