package pages_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbatch/credbatch/infra/local/engine"
	"github.com/credbatch/credbatch/infra/local/stack"
	"github.com/credbatch/credbatch/shared/credbatch"
)

// flakyMailer refuses, for a moment (KindUnavailable, as SES throttling is), every email
// to an address containing "flaky" while down is set, and counts the credential emails
// that got through per address. While hold is raised, credential emails wait for it.
type flakyMailer struct {
	next  credbatch.Mailer
	down  *atomic.Bool
	hold  *sync.WaitGroup
	mu    *sync.Mutex
	sent  map[string]int
	tries map[string]int
}

func (m flakyMailer) Send(ctx context.Context, msg credbatch.Message) (string, error) {
	to := strings.Join(msg.To, ",")
	m.mu.Lock()
	if msg.Tags["credential_id"] != "" {
		m.tries[to]++
	}
	m.mu.Unlock()
	if msg.Tags["credential_id"] != "" {
		m.hold.Wait()
	}
	if m.down.Load() && strings.Contains(to, "flaky") {
		return "", credbatch.E(credbatch.KindUnavailable, "throttled", "Maximum sending rate exceeded (injected)")
	}
	id, err := m.next.Send(ctx, msg)
	if err == nil && msg.Tags["credential_id"] != "" {
		m.mu.Lock()
		m.sent[to]++
		m.mu.Unlock()
	}
	return id, err
}

// TestConsoleRetryFailedRows runs "Retry the failed rows" end to end on the local stack: the
// real state machine in the local engine, its retries (on a virtual clock, so back-offs
// take no time) and its Catch. The mailer refuses two recipients until their chunks'
// retries run out, so the batch ends completed_with_failures with those chunks' unsent rows
// failed; the mailer recovers; the issuer retries from the batch page (twice: the second
// click starts nothing); every row ends issued and no recipient gets a second email.
func TestConsoleRetryFailedRows(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	m := flakyMailer{down: &down, hold: &sync.WaitGroup{}, mu: &sync.Mutex{}, sent: map[string]int{}, tries: map[string]int{}}
	e := newEnvWith(t, func(c *stack.Config) {
		c.Clock = engine.NewVirtualClock(time.Now(), time.Hour)
		c.Flow.ChunkSize = 2
		c.Flow.MaxConcurrency = 1
		c.WrapMailer = func(next credbatch.Mailer) credbatch.Mailer { m.next = next; return m }
	})
	e.h = e.st.Handler(e.tokens)
	emails := []string{"a@example.com", "b@example.com", "c@example.com", "flaky-d@example.com", "flaky-e@example.com", "f@example.com", "g@example.com"}
	b := e.parsedBatch(t, "retry", emails...)
	bp := "/batches/" + b.ID
	post := func(tok, path string) response {
		t.Helper()
		page := e.do(t, request{path: bp, cookie: tok})
		return e.do(t, request{method: http.MethodPost, path: path, cookie: tok, form: url.Values{"csrf": {csrf(t, page.body)}}})
	}
	if got := post(tokIssuer, bp+"/submit"); got.code != http.StatusSeeOther {
		t.Fatalf("submit: %d\n%s", got.code, text(got.body))
	}
	e.waitBatch(t, b.ID, func(b credbatch.Batch) bool { return b.TaskToken != "" })
	if got := post(tokApprover, bp+"/approve"); got.code != http.StatusSeeOther {
		t.Fatalf("approve: %d\n%s", got.code, text(got.body))
	}
	b = e.waitBatch(t, b.ID, func(b credbatch.Batch) bool { return b.Status.Terminal() })
	rows := map[credbatch.RowStatus][]int{}
	for r, err := range credbatch.BatchRows(context.Background(), e.st.Store, b.ID, credbatch.RowFilter{}) {
		if err != nil {
			t.Fatal(err)
		}
		rows[r.Status] = append(rows[r.Status], r.Number)
		if r.Status == credbatch.RowFailed && !strings.Contains(r.Error, "Maximum sending rate exceeded") {
			t.Errorf("row %d failed with %q, want the mailer's error", r.Number, r.Error)
		}
	}
	// Chunks of two rows (spreadsheet rows 2-3, 4-5, 6-7, 8): rows 5 and 6 are the flaky
	// addresses, so their chunks (4-5, 6-7) fail; row 4 was sent before row 5 failed.
	if b.Status != credbatch.BatchCompletedFailed || len(rows[credbatch.RowFailed]) != 3 || len(rows[credbatch.RowIssued]) != 4 {
		t.Fatalf("after the first run: %s, rows %v; want completed_with_failures, rows 5-7 failed", b.Status, rows)
	}
	if m.tries["flaky-d@example.com"] < 4 {
		t.Errorf("flaky-d tried %d times, want the state machine's retries (4 attempts)", m.tries["flaky-d@example.com"])
	}
	page := e.do(t, request{path: bp, cookie: tokIssuer})
	wantContains(t, page.body, `action="/batches/`+b.ID+`/retry"`, "3 rows failed.")

	down.Store(false)
	// The retry's emails wait until both clicks are answered, so that the second click
	// lands while the first one's execution runs, whatever the machine's speed (a retry
	// that finished first would rightly answer 409: nothing to retry).
	m.hold.Add(1)
	first, second := post(tokIssuer, bp+"/retry"), post(tokIssuer, bp+"/retry")
	m.hold.Done()
	for i, got := range []response{first, second} {
		if got.code != http.StatusSeeOther || !strings.HasSuffix(got.hdr.Get("Location"), "?done=retried") {
			t.Errorf("retry %d: %d %q, want 303 to the batch (retried)", i+1, got.code, got.hdr.Get("Location"))
		}
	}
	b = e.waitBatch(t, b.ID, func(b credbatch.Batch) bool { return b.Status.Terminal() })
	if b.Status != credbatch.BatchCompleted || b.Counts.Issued != len(emails) || b.Counts.Failed != 0 {
		t.Errorf("after the retry: %s %+v, want completed with %d issued", b.Status, b.Counts, len(emails))
	}
	for r, err := range credbatch.BatchRows(context.Background(), e.st.Store, b.ID, credbatch.RowFilter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != credbatch.RowIssued {
			t.Errorf("row %d is %s (%q), want issued", r.Number, r.Status, r.Error)
		}
	}
	m.mu.Lock()
	for _, em := range emails {
		if m.sent[em] != 1 {
			t.Errorf("%s got %d credential emails, want exactly 1", em, m.sent[em])
		}
	}
	m.mu.Unlock()
	if n := e.st.Engine.Stats().Executions; n != 2 {
		t.Errorf("%d executions, want 2 (the first run and one retry: the second click started none)", n)
	}
	if got := post(tokIssuer, bp+"/retry"); got.code != http.StatusConflict {
		t.Errorf("retry of a completed batch: %d, want 409 (nothing to retry)", got.code)
	}
}
