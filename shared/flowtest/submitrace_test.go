package flowtest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbatch/credbatch/infra/local/engine"
	"github.com/credbatch/credbatch/shared/credbatch"
)

// rejectedBatch is a batch of n valid rows and one invalid row, rejected by ingest, as the
// issuer sees it before "Issue the valid rows".
func (h *harness) rejectedBatch(id string, n int, prefix string) {
	h.t.Helper()
	ctx := context.Background()
	h.batch(id, n, true, prefix)
	bad := credbatch.Row{BatchID: id, Number: n + 2, DefinitionID: "course-" + id, FirstName: "Bad", LastName: "Row",
		Email: "not-an-email", IssueDate: "2026-03-01", Status: credbatch.RowInvalid}
	if err := h.store.PutRows(ctx, []credbatch.Row{bad}); err != nil {
		h.t.Fatal(err)
	}
	counts := credbatch.Counts{Rows: n + 1, Valid: n, Invalid: 1}
	reason := "1 row is invalid"
	if _, err := h.store.TransitionBatch(ctx, id, credbatch.BatchParsed, credbatch.BatchRejected, credbatch.BatchChange{Counts: &counts, Reason: &reason}); err != nil {
		h.t.Fatal(err)
	}
}

// TestSubmitTwice: a second Submit while the first one's execution has not yet prepared
// the batch (a double click, an API client racing ingest's own submit). Of an unchanged
// batch it starts nothing new. When the first Submit changed the batch ("Issue the valid
// rows" records skip_invalid) the second starts a second execution, which must end by
// itself without touching the batch: not reject it by its failed transition, not request
// the approval again. Either way the batch waits for one approval, the approvers are
// emailed once, and every valid row is issued once with one email.
func TestSubmitTwice(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rejected bool
		// the delays of the first and of the second Prepare
		first, second time.Duration
	}{
		{"parsed batch: the same execution", false, 150 * time.Millisecond, 0},
		{"rejected batch: both prepare at once", true, 150 * time.Millisecond, 150 * time.Millisecond},
		{"rejected batch: the second prepares after the approval was requested", true, 50 * time.Millisecond, 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var prepares atomic.Int32
			h := newHarness(t, small, withWorkflowWrapper(func(next engine.Handler) engine.Handler {
				return func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
					if taskKey(p) == "prepare" {
						if prepares.Add(1) == 1 {
							time.Sleep(tc.first)
						} else {
							time.Sleep(tc.second)
						}
					}
					return next(ctx, p)
				}
			}))
			ctx := context.Background()
			if tc.rejected {
				h.rejectedBatch("twice", 4, "r")
			} else {
				h.batch("twice", 4, true, "r")
			}
			submit := func() string {
				t.Helper()
				b, err := h.actions.Submit(ctx, "twice", tc.rejected)
				if err != nil {
					t.Fatalf("Submit: %v", err)
				}
				return b.ExecutionID
			}
			first, second := submit(), submit()
			if (first == second) == tc.rejected {
				t.Fatalf("executions %s and %s; want %s", first, second, map[bool]string{true: "two", false: "one"}[tc.rejected])
			}
			// One execution goes on (when both prepare at once, either may) and is the
			// batch's; the other ends by itself, as not ready.
			h.awaitApproval("twice", 1)
			got := h.get("twice")
			winner, loser := first, second
			if got.ExecutionID == second {
				winner, loser = second, first
			}
			if got.Status != credbatch.BatchAwaitingApproval || got.ExecutionID != winner {
				t.Fatalf("batch %s (%q), execution %s; want awaiting_approval in %s or %s", got.Status, got.Reason, got.ExecutionID, first, second)
			}
			if tc.rejected {
				h.finish(loser)
				if ev := h.history(loser[strings.LastIndex(loser, ":")+1:]); ev["SucceedStateEntered/NotReady"] != 1 {
					t.Errorf("the other execution's history %v, want it ended at NotReady", ev)
				}
			}
			if n, _ := h.mails(); n[approver] != 1 {
				t.Errorf("approvers emailed %d times, want once", n[approver])
			}
			if _, err := h.actions.Approve(ctx, "twice", approver); err != nil {
				t.Fatal(err)
			}
			h.finish(winner)
			b := h.get("twice")
			if want := credbatch.BatchCompleted; b.Status != want && !(tc.rejected && b.Status == credbatch.BatchRejected) {
				t.Errorf("batch %s, want %s", b.Status, want)
			}
			by, creds := h.mails()
			if creds != 4 || b.Counts.Issued != 4 {
				t.Errorf("%d credential emails, %d issued; want 4 and 4", creds, b.Counts.Issued)
			}
			for i := range 4 {
				if a := fmt.Sprintf("r%d@example.org", i); by[a] != 1 {
					t.Errorf("%s emailed %d times, want once", a, by[a])
				}
			}
		})
	}
}
