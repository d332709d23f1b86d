package flowtest

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbatch/credbatch/infra/local/engine"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/issuance"
)

const week = 7 * 24 * time.Hour

// small is the configuration of most scenarios: chunks of 4 rows, two workers.
var small = issuance.Config{ChunkSize: 4, MaxConcurrency: 2, SendRate: 1000}

// wantIssued checks that every row was issued and each recipient got exactly one email.
func wantIssued(t *testing.T, h *harness, id string, n int, prefix string) {
	t.Helper()
	b := h.get(id)
	if b.Status != credbatch.BatchCompleted {
		t.Errorf("batch status = %s (%s), want completed", b.Status, b.Reason)
	}
	if b.Counts.Issued != n || b.Counts.Sent != n || b.Counts.Failed != 0 {
		t.Errorf("counts = %+v, want %d issued and sent, 0 failed", b.Counts, n)
	}
	if got := len(h.rows(id)[credbatch.RowIssued]); got != n {
		t.Errorf("issued rows = %d, want %d", got, n)
	}
	byAddress, creds := h.mails()
	if creds != n {
		t.Errorf("credential emails = %d, want %d", creds, n)
	}
	for i := range n {
		addr := prefix + itoa(i) + "@example.org"
		if byAddress[addr] != 1 {
			t.Errorf("emails to %s = %d, want 1", addr, byAddress[addr])
		}
	}
	if byAddress[admin] < 1 || byAddress[uploader] < 1 {
		t.Errorf("summary emails: admin %d, uploader %d; want at least 1 each", byAddress[admin], byAddress[uploader])
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestFlow(t *testing.T) {
	ctx := context.Background()

	t.Run("approval required and given", func(t *testing.T) {
		h := newHarness(t, small)
		h.batch("b1", 10, true, "r")
		exec := h.submit("b1")
		h.awaitApproval("b1", 1)
		if byAddress, creds := h.mails(); byAddress[approver] != 1 || creds != 0 {
			t.Fatalf("before approval: approver emails %d, credential emails %d; want 1 and 0", byAddress[approver], creds)
		}
		if _, err := h.actions.Approve(ctx, "b1", approver); err != nil {
			t.Fatalf("Approve: %v", err)
		}
		h.finish(exec)
		wantIssued(t, h, "b1", 10, "r")
		if got, want := h.outboxFiles(), 10+1+1; got != want { // credentials, approval request, summary
			t.Errorf("outbox files = %d, want %d", got, want)
		}
		if b := h.get("b1"); b.ApprovedBy != approver {
			t.Errorf("approved by %q, want %q", b.ApprovedBy, approver)
		}
		ev := h.history("b1")
		for _, typ := range []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskSubmitted", "MapIterationStarted", "ExecutionSucceeded"} {
			if ev[typ] == 0 {
				t.Errorf("history has no %s event (%v)", typ, ev)
			}
		}
		if ev["MapIterationStarted"] != 3 {
			t.Errorf("map iterations = %d, want 3 chunks of 4 rows", ev["MapIterationStarted"])
		}
		// Approving twice is a conflict; the workflow is not touched.
		if _, err := h.actions.Approve(ctx, "b1", approver); !credbatch.IsKind(err, credbatch.KindConflict) {
			t.Errorf("second Approve err = %v, want KindConflict", err)
		}
	})

	t.Run("rejected", func(t *testing.T) {
		h := newHarness(t, small)
		h.batch("b2", 5, true, "r")
		exec := h.submit("b2")
		h.awaitApproval("b2", 1)
		if _, err := h.actions.Reject(ctx, "b2", approver, "wrong course name"); err != nil {
			t.Fatalf("Reject: %v", err)
		}
		h.finish(exec)
		b := h.get("b2")
		if b.Status != credbatch.BatchCancelled || !strings.Contains(b.Reason, "wrong course name") {
			t.Errorf("batch = %s (%q), want cancelled with the reason", b.Status, b.Reason)
		}
		if _, creds := h.mails(); creds != 0 {
			t.Errorf("credential emails = %d, want 0", creds)
		}
		page, err := h.store.ListCredentialsByBatch(ctx, "b2", "", 10)
		if err != nil || len(page.Items) != 0 {
			t.Errorf("credentials = %d (%v), want none", len(page.Items), err)
		}
		if ev := h.history("b2"); ev["TaskFailed"] != 1 || ev["MapStateStarted"] != 0 {
			t.Errorf("history: TaskFailed %d, MapStateStarted %d; want the approval task failed and no Map", ev["TaskFailed"], ev["MapStateStarted"])
		}
	})

	t.Run("approval times out after seven days", func(t *testing.T) {
		h := newHarness(t, small)
		h.batch("b3", 5, true, "r")
		exec := h.submit("b3")
		h.awaitApproval("b3", 1)
		start := time.Now()
		h.clock.Advance(week + time.Second)
		h.finish(exec)
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("a seven-day approval timeout took %s of real time", d)
		}
		if b := h.get("b3"); b.Status != credbatch.BatchExpired {
			t.Errorf("batch status = %s, want expired", b.Status)
		}
		if _, creds := h.mails(); creds != 0 {
			t.Errorf("credential emails = %d, want 0", creds)
		}
		// The token is spent: a late approval is refused by the batch status first.
		if _, err := h.actions.Approve(ctx, "b3", approver); !credbatch.IsKind(err, credbatch.KindConflict) {
			t.Errorf("late Approve err = %v, want KindConflict", err)
		}
		if err := h.engine.Succeed(ctx, h.get("b3").TaskToken, nil); !credbatch.IsKind(err, credbatch.KindConflict) {
			t.Errorf("late Succeed on the token err = %v, want KindConflict", err)
		}
	})

	t.Run("no approval needed", func(t *testing.T) {
		h := newHarness(t, small)
		h.batch("b4", 9, false, "r")
		h.finish(h.submit("b4"))
		wantIssued(t, h, "b4", 9, "r")
		if byAddress, _ := h.mails(); byAddress[approver] != 0 {
			t.Errorf("approval emails = %d, want 0", byAddress[approver])
		}
	})

	t.Run("chunk fails twice then succeeds", func(t *testing.T) {
		var mu sync.Mutex
		failures := 0
		h := newHarness(t, small, withIssueWrapper(func(next engine.Handler) engine.Handler {
			return func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
				mu.Lock()
				fail := chunkOf(p) == 1 && failures < 2
				if fail {
					failures++
				}
				mu.Unlock()
				if fail {
					return nil, &issuance.ChunkRetryableError{Err: errors.New("mailer throttled")}
				}
				return next(ctx, p)
			}
		}))
		h.batch("b5", 12, false, "r")
		h.finish(h.submit("b5"))
		wantIssued(t, h, "b5", 12, "r")
		// A retry is another TaskScheduled/TaskStarted/TaskFailed inside the same state.
		if ev := h.history("b5"); ev["TaskFailed"] != 2 || ev["TaskScheduled"]-ev["TaskStateEntered"] != 2 {
			t.Errorf("history: TaskFailed %d, TaskScheduled %d, TaskStateEntered %d; want 2 failures and 2 more schedules than entries", ev["TaskFailed"], ev["TaskScheduled"], ev["TaskStateEntered"])
		}
		// Back-off: 5 s then 10 s (JitterStrategy FULL with the jitter fixed at its maximum).
		if got := h.clock.Now().Sub(epoch); got < 15*time.Second {
			t.Errorf("virtual time = %s, want at least the 15 s of back-off", got)
		}
	})

	t.Run("unfinished chunk continues after more stops than the retryable budget", func(t *testing.T) {
		var mu sync.Mutex
		stops := 0
		h := newHarness(t, small, withIssueWrapper(func(next engine.Handler) engine.Handler {
			return func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
				mu.Lock()
				stop := chunkOf(p) == 1 && stops < 5
				if stop {
					stops++
				}
				mu.Unlock()
				if stop {
					return nil, &issuance.ChunkUnfinishedError{Msg: "the invocation's time is nearly up"}
				}
				return next(ctx, p)
			}
		}))
		h.batch("b5u", 12, false, "r")
		h.finish(h.submit("b5u"))
		wantIssued(t, h, "b5u", 12, "r")
		if ev := h.history("b5u"); ev["TaskFailed"] != 5 {
			t.Errorf("history: TaskFailed %d, want the 5 stops retried", ev["TaskFailed"])
		}
	})

	t.Run("chunk fails permanently", func(t *testing.T) {
		h := newHarness(t, small, withIssueWrapper(func(next engine.Handler) engine.Handler {
			return func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
				if chunkOf(p) == 1 {
					return nil, &issuance.TaskFailedError{Err: errors.New("definition template broken")}
				}
				return next(ctx, p)
			}
		}))
		h.batch("b6", 12, false, "r")
		h.finish(h.submit("b6"))
		b := h.get("b6")
		if b.Status != credbatch.BatchCompletedFailed {
			t.Errorf("batch status = %s, want completed_with_failures", b.Status)
		}
		if b.Counts.Issued != 8 || b.Counts.Failed != 4 {
			t.Errorf("counts = %+v, want 8 issued and 4 failed", b.Counts)
		}
		rows := h.rows("b6")
		if len(rows[credbatch.RowIssued]) != 8 || len(rows[credbatch.RowFailed]) != 4 {
			t.Fatalf("rows: %d issued, %d failed; want 8 and 4", len(rows[credbatch.RowIssued]), len(rows[credbatch.RowFailed]))
		}
		for _, r := range rows[credbatch.RowFailed] {
			if r.Number < 6 || r.Number > 9 {
				t.Errorf("row %d failed; want only chunk 1's rows 6-9", r.Number)
			}
			if r.Error == "" {
				t.Errorf("row %d failed without an error", r.Number)
			}
		}
		if _, creds := h.mails(); creds != 8 {
			t.Errorf("credential emails = %d, want 8", creds)
		}
		if ev := h.history("b6"); ev["TaskStateEntered/ChunkFailed"] != 1 || ev["TaskScheduled"] != ev["TaskStateEntered"] {
			t.Errorf("history: ChunkFailed entered %d, TaskScheduled %d, TaskStateEntered %d; want 1, and no retry (TaskFailedError is not retried)", ev["TaskStateEntered/ChunkFailed"], ev["TaskScheduled"], ev["TaskStateEntered"])
		}
	})

	t.Run("engine restarts while waiting for approval", func(t *testing.T) {
		h := newHarness(t, small)
		h.batch("b7", 6, true, "r")
		exec := h.submit("b7")
		h.awaitApproval("b7", 1)
		token := h.get("b7").TaskToken
		h.restart()
		h.awaitApproval("b7", 2) // the resumed state waits again (the old engine's timer is dead)
		if got := h.get("b7").TaskToken; got != token {
			t.Errorf("token after restart = %q, want the same %q", got, token)
		}
		if _, err := h.actions.Approve(ctx, "b7", approver); err != nil {
			t.Fatalf("Approve after restart: %v", err)
		}
		h.finish(exec)
		wantIssued(t, h, "b7", 6, "r")
		if byAddress, _ := h.mails(); byAddress[approver] != 1 {
			t.Errorf("approval emails = %d, want 1 (the resumed state must not email again)", byAddress[approver])
		}
		if ev := h.history("b7"); ev["ExecutionResumed"] != 1 {
			t.Errorf("ExecutionResumed events = %d, want 1", ev["ExecutionResumed"])
		}
	})

	t.Run("a chunk re-run after success sends no email twice", func(t *testing.T) {
		var mu sync.Mutex
		lost := map[int]bool{}
		h := newHarness(t, small, withIssueWrapper(func(next engine.Handler) engine.Handler {
			return func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
				out, err := next(ctx, p)
				mu.Lock()
				defer mu.Unlock()
				if c := chunkOf(p); err == nil && !lost[c] {
					lost[c] = true // the chunk did its work but its answer was lost: Step Functions retries it
					return nil, &issuance.ChunkRetryableError{Err: errors.New("response lost")}
				}
				return out, err
			}
		}))
		h.batch("b8", 10, false, "r")
		h.finish(h.submit("b8"))
		wantIssued(t, h, "b8", 10, "r")
		if ev := h.history("b8"); ev["TaskScheduled/IssueChunk"] != 6 || ev["TaskStateEntered/IssueChunk"] != 3 {
			t.Errorf("IssueChunk scheduled %d times in %d entries, want 6 in 3 (every chunk ran twice)", ev["TaskScheduled/IssueChunk"], ev["TaskStateEntered/IssueChunk"])
		}
	})

	t.Run("bounce rate pauses the batch, resume completes it", func(t *testing.T) {
		cfg := issuance.Config{ChunkSize: 30, MaxConcurrency: 1, SendRate: 1000, BounceMinSends: 10, BounceRate: 0.05}
		var h *harness
		bouncing := true
		var mu sync.Mutex
		h = newHarness(t, cfg, withOnSend(func(ctx context.Context, msg credbatch.Message) {
			mu.Lock()
			defer mu.Unlock()
			// Every address hard-bounces until the issuer fixes them; the feedback arrives
			// at once: the batch's bounce counter grows.
			if bouncing && strings.HasPrefix(msg.To[0], "bad") {
				if err := h.store.AddCounts(ctx, msg.Tags["batch_id"], credbatch.Counts{Bounced: 1}); err != nil {
					t.Errorf("AddCounts: %v", err)
				}
			}
		}))
		b := h.batch("b9", 60, false, "bad")
		exec := h.submit("b9")
		h.finish(exec)
		b = h.get("b9")
		if b.Status != credbatch.BatchPaused {
			t.Fatalf("batch status = %s, want %s", b.Status, credbatch.BatchPaused)
		}
		paused := len(h.rows("b9")[credbatch.RowIssued])
		// The send counter moves with each email (not at the chunk's end), so the first check
		// (after 25 rows) already sees the bounces.
		if paused < cfg.BounceMinSends || paused >= 60 {
			t.Errorf("issued before the pause = %d, want at least %d and not all 60", paused, cfg.BounceMinSends)
		}
		if byAddress, _ := h.mails(); byAddress[admin] != 1 {
			t.Errorf("admin emails = %d, want 1 pause alert", byAddress[admin])
		}
		// The issuer fixed the addresses; the bounce records are cleared (the flow's check
		// uses the batch counters; see the report on Resume).
		mu.Lock()
		bouncing = false
		mu.Unlock()
		if err := h.store.AddCounts(ctx, "b9", credbatch.Counts{Bounced: -b.Counts.Bounced}); err != nil {
			t.Fatal(err)
		}
		b, err := h.actions.Resume(ctx, "b9")
		if err != nil {
			t.Fatalf("Resume: %v", err)
		}
		if b.ExecutionID == exec {
			t.Fatalf("Resume reused execution %s, want a new one", exec)
		}
		h.finish(b.ExecutionID)
		b = h.get("b9")
		if b.Status != credbatch.BatchCompleted {
			t.Errorf("after resume: status = %s (%s), want completed", b.Status, b.Reason)
		}
		if got := len(h.rows("b9")[credbatch.RowIssued]); got != 60 {
			t.Errorf("issued rows = %d, want 60", got)
		}
		if _, creds := h.mails(); creds != 60 {
			t.Errorf("credential emails = %d, want 60 (none twice)", creds)
		}
	})
}
