package issuance_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// executionEvent is testdata/execution-aborted.json (the shape of AWS's documented
// example) with the detail fields changed.
func executionEvent(t *testing.T, change func(d map[string]any)) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile("testdata/execution-aborted.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(ev["detail"].(map[string]any))
	}
	out, _ := json.Marshal(ev)
	return out
}

// alerts returns the execution alerts the mailer sent.
func (m *fakeMailer) alerts() []credbatch.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []credbatch.Message
	for _, msg := range m.sent {
		if msg.Tags["kind"] == "execution_alert" {
			out = append(out, msg)
		}
	}
	return out
}

// TestExecutionEnded: the workflow function's handler, given EventBridge's event for an
// execution that ended badly, leaves the batch failed (rows failed and retryable, never
// dropped) and emails the administrators exactly once, however often the event comes.
func TestExecutionEnded(t *testing.T) {
	const arn = "arn:aws:states:us-east-1:123456789012:execution:IssuanceStateMachine-abc:b1"
	tests := []struct {
		name       string
		change     func(d map[string]any)
		setup      func(t *testing.T, h *harness)
		wantStatus credbatch.BatchStatus
		wantFailed int
		wantAlerts int
		wantText   string
	}{
		{name: "aborted while issuing: the Catch never ran", wantStatus: credbatch.BatchCompletedFailed, wantFailed: 3, wantAlerts: 1,
			wantText: "ended aborted.\n\nError: ExecutionAborted"},
		{name: "timed out", change: func(d map[string]any) { d["status"] = "TIMED_OUT" },
			wantStatus: credbatch.BatchCompletedFailed, wantFailed: 3, wantAlerts: 1, wantText: "Error: ExecutionTimedOut"},
		{name: "failed after the Catch recorded it", change: func(d map[string]any) {
			d["status"], d["error"], d["cause"] = "FAILED", "BatchFailed", "A step of the issuance workflow failed; the batch records the error and its cause."
		}, setup: func(t *testing.T, h *harness) {
			if err := h.svc.Fail(context.Background(), "b1", "TaskFailedError", `{"errorMessage":"boom","errorType":"TaskFailedError"}`); err != nil {
				t.Fatal(err)
			}
		}, wantStatus: credbatch.BatchCompletedFailed, wantFailed: 3, wantAlerts: 1, wantText: "the issuance workflow failed (TaskFailedError): boom"},
		{name: "input left out: the batch from the execution name", change: func(d map[string]any) {
			d["input"], d["inputDetails"] = nil, map[string]any{"included": false}
		}, wantStatus: credbatch.BatchCompletedFailed, wantFailed: 3, wantAlerts: 1},
		{name: "succeeded: nothing to do", change: func(d map[string]any) { d["status"] = "SUCCEEDED" },
			wantStatus: credbatch.BatchIssuing},
		{name: "an older execution of a resubmitted batch", setup: func(t *testing.T, h *harness) {
			newer := arn + "-1764790999000000000"
			if _, err := h.store.UpdateBatch(context.Background(), "b1", credbatch.BatchChange{ExecutionID: &newer}); err != nil {
				t.Fatal(err)
			}
		}, wantStatus: credbatch.BatchIssuing},
		{name: "the first email fails: the retry sends it", setup: func(t *testing.T, h *harness) {
			h.mailer.failFor["admin@example.com"] = errors.New("throttled")
		}, wantStatus: credbatch.BatchCompletedFailed, wantFailed: 3, wantAlerts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 3)
			ctx := context.Background()
			h.svc.Config.Admins = []string{"admin@example.com"}
			exec := arn
			if _, err := h.store.UpdateBatch(ctx, "b1", credbatch.BatchChange{ExecutionID: &exec}); err != nil {
				t.Fatal(err)
			}
			if tt.setup != nil {
				tt.setup(t, h)
			}
			ev := executionEvent(t, tt.change)
			_, err := h.svc.Invoke(ctx, ev)
			if h.mailer.failFor["admin@example.com"] != nil {
				if err == nil {
					t.Fatal("a failed alert email returned no error: Lambda would not retry")
				}
				delete(h.mailer.failFor, "admin@example.com")
				_, err = h.svc.Invoke(ctx, ev) // Lambda's retry
			}
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			// EventBridge delivers at least once: the same event again changes nothing.
			if _, err := h.svc.Invoke(ctx, ev); err != nil {
				t.Fatalf("redelivered: %v", err)
			}
			b, _ := h.store.GetBatch(ctx, "b1")
			failed, _ := h.store.ListRows(ctx, "b1", credbatch.RowFilter{Status: credbatch.RowFailed})
			alerts := h.mailer.alerts()
			if b.Status != tt.wantStatus || len(failed.Items) != tt.wantFailed || len(alerts) != tt.wantAlerts {
				t.Fatalf("batch %s, %d failed rows, %d alerts; want %s, %d, %d", b.Status, len(failed.Items), len(alerts), tt.wantStatus, tt.wantFailed, tt.wantAlerts)
			}
			for _, r := range failed.Items {
				if r.Error == "" || !strings.Contains(r.Error, "retry") {
					t.Errorf("row %d failed with %q: want the error and how to retry", r.Number, r.Error)
				}
			}
			if tt.wantAlerts > 0 {
				a := alerts[0]
				if a.To[0] != "admin@example.com" || !strings.Contains(a.Text, arn) || !strings.Contains(a.Text, tt.wantText) ||
					!strings.Contains(a.Text, "https://creds.example/batches/b1") {
					t.Errorf("alert to %v:\n%s\nwant the execution, %q and the batch link", a.To, a.Text, tt.wantText)
				}
			}
		})
	}
}
