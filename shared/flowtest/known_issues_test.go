package flowtest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/infra/local/engine"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/issuance"
)

// knownIssue skips a test of a known defect in shared/issuance unless
// CREDBATCH_KNOWN_ISSUES=1: these tests fail until the fixes in the engine report land, and
// must not turn the whole suite red meanwhile.
func knownIssue(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CREDBATCH_KNOWN_ISSUES") != "1" {
		t.Skipf("known issue (run with CREDBATCH_KNOWN_ISSUES=1): %s", what)
	}
}

// TestKnownIssueResumeRepauses: Resume of a batch paused for its bounce rate re-pauses at
// once, because the worker's check reads the batch's cumulative counters, which Resume
// leaves above the threshold (the rows already issued count towards the 25-row check).
func TestKnownIssueResumeRepauses(t *testing.T) {
	knownIssue(t, "Resume re-pauses a batch whose cumulative bounce rate is still high")
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

// TestKnownIssueChunkErrorOnRows: the rows of a chunk that failed permanently are failed
// with a generic reason, not the chunk's error, although the definition's ChunkFailed state
// says "Finalize marks the rows this chunk left unissued as failed, with the error".
func TestKnownIssueChunkErrorOnRows(t *testing.T) {
	knownIssue(t, "failed chunk rows do not carry the chunk's error")
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
