package flowtest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/infra/local/engine"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/issuance"
)

// TestRegressionResumeRepauses: Resume of a batch paused for its bounce rate must not pause
// it again at once. It did, because the worker's check read the batch's cumulative counters,
// which stayed above the threshold; Resume now restarts the send and bounce counters.
func TestRegressionResumeRepauses(t *testing.T) {
	ctx := context.Background()
	cfg := issuance.Config{ChunkSize: 30, MaxConcurrency: 1, SendRate: 1000, BounceMinSends: 10, BounceRate: 0.05}
	var h *harness
	bouncing := true
	h = newHarness(t, cfg, withOnSend(func(ctx context.Context, msg credbatch.Message) {
		if bouncing && msg.Tags["credential_id"] != "" {
			_ = h.store.AddCounts(ctx, msg.Tags["batch_id"], credbatch.Counts{Bounced: 1})
		}
	}))
	h.batch("kb", 60, false, "r")
	h.finish(h.submit("kb"))
	if b := h.get("kb"); b.Status != credbatch.BatchPaused {
		t.Fatalf("status = %s, want paused", b.Status)
	}
	bouncing = false // the addresses are fixed; no more bounces
	b, err := h.actions.Resume(ctx, "kb")
	if err != nil {
		t.Fatalf("Resume: %v", err)
	}
	h.finish(b.ExecutionID)
	if b := h.get("kb"); b.Status != credbatch.BatchCompleted {
		t.Errorf("after Resume: status = %s, want completed (%s)", b.Status, b.Reason)
	}
}

// TestRegressionChunkErrorOnRows: the rows of a chunk that failed permanently carry the
// chunk's error (the ChunkFailed state records it), not only a generic reason.
func TestRegressionChunkErrorOnRows(t *testing.T) {
	h := newHarness(t, small, withIssueWrapper(func(next engine.Handler) engine.Handler {
		return func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
			if chunkOf(p) == 1 {
				return nil, &issuance.TaskFailedError{Err: errors.New("definition template broken")}
			}
			return next(ctx, p)
		}
	}))
	h.batch("kc", 12, false, "r")
	h.finish(h.submit("kc"))
	for _, r := range h.rows("kc")[credbatch.RowFailed] {
		if !strings.Contains(r.Error, "definition template broken") {
			t.Errorf("row %d error = %q, want the chunk's error", r.Number, r.Error)
		}
	}
}
