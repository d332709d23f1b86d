package flowtest

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/issuance"
)

// Step Functions' execution limits (quotas: 25,000 history events, 256 KiB a payload).
const (
	historyLimit = 25_000
	payloadLimit = 256 * 1024
)

// allFailing is a scripted batch of n chunks that all fail for good after two retries, as a
// batch does after a bounce-rate pause or when the mail account is paused.
func allFailing(n int) scenario {
	chunks := make([]int, n)
	answers := map[string][]answer{
		"prepare":      {ok(map[string]any{"approval_required": false, "approval_timeout_seconds": 3600, "rows": n * 800})},
		"plan":         {ok(map[string]any{"chunks": chunks, "first_row": 2, "chunk_size": 800, "chunk_count": n, "rate": 1.4, "account_rate": 14, "max_concurrency": 10})},
		"chunk_failed": {ok(map[string]any{})},
		"finalize":     {ok(map[string]any{"status": "completed_with_failures", "counts": map[string]any{"rows": n * 800, "failed": n * 800}})},
	}
	retry := lambdaErr("ChunkRetryableError", "chunk can be retried: mail account throttled")
	for i := range chunks {
		chunks[i] = i
		answers["issue/"+strconv.Itoa(i)] = []answer{retry, retry, lambdaErr("SendingStoppedError", "sending stopped: the account's sending is paused")}
	}
	return scenario{Name: fmt.Sprintf("%d chunks all failing", n), Input: map[string]any{"batch_id": "big"}, Answers: answers}
}

// TestCapAllChunksFailing runs the real definition over a plan of every chunk failing after
// two retries: at the old 2,000-chunk cap and at issuance.MaxChunks. The Map result must stay
// far under 256 KiB in both (iterations emit {}), Finalize must run, and at the cap the
// history, counted as Step Functions counts it, must stay under 25,000 events.
func TestCapAllChunksFailing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 2,000 scripted chunks")
	}
	for _, n := range []int{2000, issuance.MaxChunks} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			start := time.Now()
			out, e := runScripted(t, allFailing(n))
			if out.Status != "SUCCEEDED" || out.Top[len(out.Top)-1] != "Finalize" {
				t.Fatalf("execution %s %s (%s), states %v; want SUCCEEDED through Finalize", out.Status, out.Error, out.Cause, out.Top)
			}
			history, err := e.History("scripted")
			if err != nil {
				t.Fatal(err)
			}
			byType := map[string]int{}
			for _, ev := range history {
				byType[ev.Type]++
			}
			if byType["TaskStateEntered"] != 2*n+3 || byType["TaskFailed"] != 3*n {
				t.Errorf("events %v: want %d task entries and %d failures", byType, 2*n+3, 3*n)
			}
			mapResult := e.Stats().LargestMapResult
			t.Logf("%d chunks, each failing after two retries: Map result %d bytes, %d history events (%.1f a chunk), largest payload %d bytes (%s); %s",
				n, mapResult, len(history), float64(len(history))/float64(n), e.Stats().LargestPayload, e.Stats().LargestPayloadState, time.Since(start).Round(time.Millisecond))
			if mapResult <= 0 || mapResult > 4*n+2 {
				t.Errorf("Map result = %d bytes, want at most %d (an {} per chunk)", mapResult, 4*n+2)
			}
			if p := e.Stats().LargestPayload; p >= payloadLimit/8 {
				t.Errorf("largest payload = %d bytes, want well under %d", p, payloadLimit)
			}
			if n == issuance.MaxChunks && len(history) >= historyLimit {
				t.Errorf("history = %d events at the cap, want under %d", len(history), historyLimit)
			}
		})
	}
}
