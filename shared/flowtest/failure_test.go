package flowtest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/credbatch/credbatch/infra/local/engine"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/issuance"
)

// failingAction makes one workflow action fail for good (a TaskFailedError, not retried).
func failingAction(action, msg string) option {
	return withWorkflowWrapper(func(next engine.Handler) engine.Handler {
		return func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
			if taskKey(p) == action {
				return nil, &issuance.TaskFailedError{Err: errors.New(msg)}
			}
			return next(ctx, p)
		}
	})
}

// TestNoBatchStuck: a step that fails for good ends the execution FAILED (BatchFailed) with
// the batch recorded as failed, the cause on it and on its unissued rows; never left
// approved or issuing.
func TestNoBatchStuck(t *testing.T) {
	ctx := context.Background()

	t.Run("plan fails: rows failed with the cause", func(t *testing.T) {
		h := newHarness(t, small, failingAction("plan", "store refused the plan"))
		h.batch("f1", 6, false, "r")
		h.finishFailed(h.submit("f1"), "BatchFailed")
		b := h.get("f1")
		if b.Status != credbatch.BatchCompletedFailed || !strings.Contains(b.Reason, "store refused the plan") || !strings.Contains(b.Reason, "TaskFailedError") {
			t.Errorf("batch %s (%q), want completed_with_failures naming the error and its message", b.Status, b.Reason)
		}
		if b.Counts.Failed != 6 || b.Counts.Issued != 0 {
			t.Errorf("counts %+v, want 6 failed", b.Counts)
		}
		for _, r := range h.rows("f1")[credbatch.RowFailed] {
			if !strings.Contains(r.Error, "store refused the plan") || strings.Contains(r.Error, "errorMessage") {
				t.Errorf("row %d error %q, want the cause's message (not the JSON document)", r.Number, r.Error)
			}
		}
		if ev := h.history("f1"); ev["TaskStateEntered/RecordFailure"] != 1 || ev["FailStateEntered/Failed"] != 1 {
			t.Errorf("history %v, want RecordFailure then Failed", ev)
		}
	})

	t.Run("finalize fails: issued rows stay issued", func(t *testing.T) {
		h := newHarness(t, small, failingAction("finalize", "summary template broken"))
		h.batch("f2", 6, false, "r")
		h.finishFailed(h.submit("f2"), "BatchFailed")
		b := h.get("f2")
		if b.Status != credbatch.BatchCompleted || b.Counts.Issued != 6 || !strings.Contains(b.Reason, "summary template broken") {
			t.Errorf("batch %s %+v (%q), want completed with 6 issued and the cause", b.Status, b.Counts, b.Reason)
		}
	})

	t.Run("approval request fails: back to rejected, submitted again", func(t *testing.T) {
		failed := false
		h := newHarness(t, small, withWorkflowWrapper(func(next engine.Handler) engine.Handler {
			return func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
				if taskKey(p) == "request_approval" && !failed {
					failed = true
					return nil, &issuance.TaskFailedError{Err: errors.New("approver list unreadable")}
				}
				return next(ctx, p)
			}
		}))
		h.batch("f3", 5, true, "r")
		h.finishFailed(h.submit("f3"), "BatchFailed")
		b := h.get("f3")
		if b.Status != credbatch.BatchRejected || !strings.Contains(b.Reason, "approver list unreadable") || b.TaskToken != "" {
			t.Fatalf("batch %s (%q, token %q), want rejected with the cause and no token", b.Status, b.Reason, b.TaskToken)
		}
		b, err := h.actions.Submit(ctx, "f3", false)
		if err != nil {
			t.Fatalf("Submit again: %v", err)
		}
		h.awaitApproval("f3", 1)
		if _, err := h.actions.Approve(ctx, "f3", approver); err != nil {
			t.Fatalf("Approve: %v", err)
		}
		h.finish(b.ExecutionID)
		wantIssued(t, h, "f3", 5, "r")
	})

	t.Run("a Lambda service error is retried, not recorded", func(t *testing.T) {
		n := 0
		h := newHarness(t, small, withWorkflowWrapper(func(next engine.Handler) engine.Handler {
			return func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
				if taskKey(p) == "prepare" && n < 2 {
					n++
					return nil, messages.InvokeResponse_Error{Type: "Lambda.ServiceException", Message: "Rate exceeded"}
				}
				return next(ctx, p)
			}
		}))
		h.batch("f4", 5, false, "r")
		h.finish(h.submit("f4"))
		wantIssued(t, h, "f4", 5, "r")
	})
}
