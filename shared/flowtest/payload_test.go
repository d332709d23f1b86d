package flowtest

import (
	"context"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/issuance"
)

// payloadTarget is the most a state of the issuance flow may carry (Step Functions allows
// 256 KiB; the flow keeps ids and chunk numbers only).
const payloadTarget = 32 * 1024

// bigBatch creates a parsed batch that claims rows rows (the plan depends on the count and
// the first row number, not on the rows) and stores only the first three.
func (h *harness) bigBatch(id string, rows int) {
	h.t.Helper()
	h.batch(id, 3, false, "r")
	if err := h.store.AddCounts(context.Background(), id, credbatch.Counts{Rows: rows - 3, Valid: rows - 3}); err != nil {
		h.t.Fatalf("AddCounts: %v", err)
	}
}

// largestPayload runs a 100,000-row batch plan through the real definition and returns the
// largest state payload the engine saw, and the Map's iteration count.
func largestPayload(t *testing.T, cfg issuance.Config) (bytes int, state string, chunks int) {
	t.Helper()
	h := newHarness(t, cfg)
	h.bigBatch("big", 100_000)
	h.finish(h.submit("big"))
	if b := h.get("big"); b.Status != credbatch.BatchCompleted {
		t.Fatalf("batch status = %s, want completed", b.Status)
	}
	st := h.engine.Stats()
	return st.LargestPayload, st.LargestPayloadState, h.history("big")["MapIterationStarted"]
}

func TestLargestStatePayload100k(t *testing.T) {
	tests := []struct {
		name string
		cfg  issuance.Config
	}{
		{"default SES sandbox rate (14/s)", issuance.Config{}},
		{"slow account (1/s)", issuance.Config{SendRate: 1}},
		{"fast account (200/s, 40 workers)", issuance.Config{SendRate: 200, MaxConcurrency: 40}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got, state, chunks := largestPayload(t, tt.cfg)
			t.Logf("100,000 rows: %d chunks, largest state payload %d bytes (state %q), %s", chunks, got, state, time.Since(start).Round(time.Millisecond))
			if got <= 0 || got >= payloadTarget {
				t.Errorf("largest state payload = %d bytes, want 0 < n < %d", got, payloadTarget)
			}
		})
	}
}

// BenchmarkFlow100k runs the plan of a 100,000-row batch through the engine and reports the
// largest state payload (make bench prints it).
func BenchmarkFlow100k(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		h := newHarness(b, issuance.Config{})
		h.bigBatch("big", 100_000)
		b.StartTimer()
		h.finish(h.submit("big"))
		b.StopTimer()
		st := h.engine.Stats()
		b.ReportMetric(float64(st.LargestPayload), "max-state-bytes")
		b.ReportMetric(float64(h.history("big")["MapIterationStarted"]), "chunks")
		b.StartTimer()
	}
}
