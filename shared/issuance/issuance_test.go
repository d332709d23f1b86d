package issuance_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/externaltest"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/statuslist"
	"github.com/credbatch/credbatch/shared/workbook"
)

// fakeMailer records every message; failFor makes sends to an address fail with an error.
type fakeMailer struct {
	mu      sync.Mutex
	sent    []credbatch.Message
	failFor map[string]error
	n       int
}

func (m *fakeMailer) Send(_ context.Context, msg credbatch.Message) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failFor[msg.To[0]]; err != nil {
		return "", err
	}
	m.n++
	m.sent = append(m.sent, msg)
	return fmt.Sprintf("msg-%d", m.n), nil
}

// sendsTo counts messages sent to each address.
func (m *fakeMailer) sendsTo() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for _, msg := range m.sent {
		out[msg.To[0]]++
	}
	return out
}

// crashingStore fails the first write that would record an email as sent: a crash after the
// mailer accepted the message and before the store heard of it.
type crashingStore struct {
	credbatch.Store
	mu      sync.Mutex
	crashes int
}

var errCrash = errors.New("process killed")

func (s *crashingStore) SetEmailStatus(ctx context.Context, id string, from []credbatch.EmailStatus, to credbatch.EmailStatus, ch credbatch.EmailChange) (credbatch.Credential, error) {
	s.mu.Lock()
	crash := to == credbatch.EmailSent && s.crashes > 0
	if crash {
		s.crashes--
	}
	s.mu.Unlock()
	if crash {
		return credbatch.Credential{}, errCrash
	}
	return s.Store.SetEmailStatus(ctx, id, from, to, ch)
}

// harness is an issuing batch of n valid rows in a fresh SQLite store.
type harness struct {
	store  credbatch.Store
	svc    *issuance.Service
	mailer *fakeMailer
	batch  string
	keys   keys.Set
}

func newHarness(t *testing.T, n int) *harness {
	t.Helper()
	return newHarnessOn(t, n, openSQLite(t))
}

// newHarnessOn is newHarness over the given store.
func newHarnessOn(t *testing.T, n int, st credbatch.Store) *harness {
	t.Helper()
	ctx := context.Background()
	def, err := st.PutDefinition(ctx, credbatch.Definition{ID: "web-101", Name: "Web Fundamentals",
		Expiry: credbatch.Expiry{Policy: credbatch.ExpiryNone}, Duplicates: credbatch.DuplicatesReject})
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.New(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := credential.NewSigner(set, "did:web:creds.example")
	if err != nil {
		t.Fatal(err)
	}
	b := credbatch.Batch{ID: "b1", Status: credbatch.BatchReceived, Definitions: map[string]int{def.ID: def.Version}, CreatedAt: time.Now()}
	if err := st.CreateBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	var rows []credbatch.Row
	for i := range n {
		rows = append(rows, credbatch.Row{BatchID: "b1", Number: i + 2, DefinitionID: def.ID, FirstName: "Ann", LastName: fmt.Sprint("Lee", i),
			Email: fmt.Sprintf("r%d@example.com", i), IssueDate: "2026-11-02", Status: credbatch.RowValid})
	}
	if err := st.PutRows(ctx, rows); err != nil {
		t.Fatal(err)
	}
	counts := credbatch.Counts{Rows: n, Valid: n}
	for _, step := range [][2]credbatch.BatchStatus{{credbatch.BatchReceived, credbatch.BatchParsed}, {credbatch.BatchParsed, credbatch.BatchApproved}, {credbatch.BatchApproved, credbatch.BatchIssuing}} {
		if _, err := st.TransitionBatch(ctx, "b1", step[0], step[1], credbatch.BatchChange{Counts: &counts}); err != nil {
			t.Fatal(err)
		}
	}
	m := &fakeMailer{failFor: map[string]error{}}
	svc := &issuance.Service{Store: st, Mailer: m, Signer: signer,
		Config: issuance.Config{Issuer: credential.Issuer{BaseURL: "https://creds.example", Name: "Northwind"}, From: "certs@example.com"}}
	return &harness{store: st, svc: svc, mailer: m, batch: "b1", keys: set}
}

// chunk is the whole batch as one chunk.
func (h *harness) chunk() issuance.Chunk {
	return issuance.Chunk{BatchID: h.batch, Chunk: 0, FirstRow: 2, ChunkSize: 1000, ChunkCount: 1, Rate: 0}
}

func TestChunkIssuesSignsAndSends(t *testing.T) {
	h := newHarness(t, 5)
	ctx := context.Background()
	res, err := h.svc.IssueChunk(ctx, h.chunk())
	if err != nil {
		t.Fatal(err)
	}
	if res.Issued != 5 || res.Sent != 5 {
		t.Fatalf("result = %+v, want 5 issued and sent", res)
	}
	page, _ := h.store.ListCredentialsByBatch(ctx, h.batch, "", 100)
	for _, c := range page.Items {
		if c.EmailStatus != credbatch.EmailSent || c.MessageID == "" || c.JWT == "" {
			t.Errorf("credential %s: email %s, message %q, jwt %d bytes", c.ID, c.EmailStatus, c.MessageID, len(c.JWT))
		}
		// The VC-JWT is signed here and stored detached; attached to the stored document it
		// verifies with the published keys (no signing key needed to serve it).
		token, err := credential.AttachJWT([]byte(c.JWT), c.JWTDetached)
		if err != nil {
			t.Errorf("credential %s: stored VC-JWT %q: %v", c.ID, c.JWTDetached, err)
			continue
		}
		if res, err := credential.NewVerifier(h.keys, nil).Verify(ctx, token, time.Now()); err != nil || !res.Valid || res.Format != credential.FormatJWT {
			t.Errorf("credential %s: the stored VC-JWT does not verify: %+v, %v", c.ID, res, err)
		}
	}
	msg := h.mailer.sent[0]
	if msg.Tags["credential_id"] == "" || msg.Tags["batch_id"] != h.batch {
		t.Errorf("tags = %v", msg.Tags)
	}
}

func TestChunkRerunAfterSuccessSendsNothing(t *testing.T) {
	h := newHarness(t, 4)
	ctx := context.Background()
	if _, err := h.svc.IssueChunk(ctx, h.chunk()); err != nil {
		t.Fatal(err)
	}
	res, err := h.svc.IssueChunk(ctx, h.chunk())
	if err != nil {
		t.Fatal(err)
	}
	if res.Issued != 0 || res.Sent != 0 || res.Skipped != 4 {
		t.Errorf("re-run result = %+v, want everything skipped", res)
	}
	for addr, n := range h.mailer.sendsTo() {
		if n != 1 {
			t.Errorf("%s got %d emails, want 1", addr, n)
		}
	}
	page, _ := h.store.ListCredentialsByBatch(ctx, h.batch, "", 100)
	if len(page.Items) != 4 {
		t.Errorf("credentials = %d, want 4 (no second credential)", len(page.Items))
	}
}

func TestChunkRerunAfterCrashSendsAtMostOneDuplicate(t *testing.T) {
	h := newHarness(t, 4)
	ctx := context.Background()
	crashing := &crashingStore{Store: h.store, crashes: 1}
	svc := *h.svc
	svc.Store = crashing
	svc.Config.SendLease = 50 * time.Millisecond
	if _, err := svc.IssueChunk(ctx, h.chunk()); err == nil {
		t.Fatal("the injected crash did not surface")
	}
	if _, err := svc.IssueChunk(ctx, h.chunk()); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	dups := 0
	sends := h.mailer.sendsTo()
	for addr, n := range sends {
		switch {
		case n == 2:
			dups++
		case n != 1:
			t.Errorf("%s got %d emails", addr, n)
		}
	}
	if dups > 1 || len(sends) != 4 {
		t.Errorf("sends = %v: want every recipient emailed, at most one of them twice", sends)
	}
	page, _ := h.store.ListRows(ctx, h.batch, credbatch.RowFilter{Status: credbatch.RowIssued})
	if len(page.Items) != 4 {
		t.Errorf("issued rows = %d, want 4", len(page.Items))
	}
}

func TestChunkConcurrentRunsNeverSendTwice(t *testing.T) {
	h := newHarness(t, 30)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.svc.IssueChunk(ctx, h.chunk()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	sends := h.mailer.sendsTo()
	if len(sends) != 30 {
		t.Errorf("%d recipients emailed, want 30", len(sends))
	}
	for addr, n := range sends {
		if n != 1 {
			t.Errorf("%s got %d emails", addr, n)
		}
	}
}

func TestChunkMailerErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantErr    string // named error type the state machine sees; "" = none
		wantEmail  credbatch.EmailStatus
		wantFailed int
	}{
		{"address refused", credbatch.E(credbatch.KindInvalid, "message_rejected", "address does not exist"), "", credbatch.EmailFailed, 1},
		{"throttled", credbatch.E(credbatch.KindUnavailable, "throttled", "slow down"), "*issuance.ChunkRetryableError", credbatch.EmailPending, 0},
		{"account suspended", credbatch.E(credbatch.KindForbidden, credbatch.CodeSendingStopped, "suspended"), "*issuance.SendingStoppedError", credbatch.EmailPending, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 1)
			h.mailer.failFor["r0@example.com"] = tt.err
			res, err := h.svc.IssueChunk(context.Background(), h.chunk())
			if got := fmt.Sprintf("%T", err); (tt.wantErr == "" && err != nil) || (tt.wantErr != "" && got != tt.wantErr) {
				t.Fatalf("error = %v (%s), want %s", err, got, tt.wantErr)
			}
			if res.Failed != tt.wantFailed {
				t.Errorf("failed = %d, want %d", res.Failed, tt.wantFailed)
			}
			page, _ := h.store.ListCredentialsByBatch(context.Background(), h.batch, "", 10)
			if len(page.Items) != 1 || page.Items[0].EmailStatus != tt.wantEmail {
				t.Fatalf("credential = %+v, want email %s", page.Items, tt.wantEmail)
			}
		})
	}
}

func TestChunkSkipsSuppressedAddresses(t *testing.T) {
	h := newHarness(t, 2)
	ctx := context.Background()
	if err := h.store.PutSuppression(ctx, credbatch.Suppression{Email: "r1@example.com", Reason: "bounce", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	res, err := h.svc.IssueChunk(ctx, h.chunk())
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 1 || res.Suppressed != 1 || h.mailer.sendsTo()["r1@example.com"] != 0 {
		t.Errorf("result = %+v, sends %v", res, h.mailer.sendsTo())
	}
}

func TestFinalizeCountsAndMarksUnissuedRowsFailed(t *testing.T) {
	h := newHarness(t, 3)
	h.svc.Config.Admins = []string{"admin@example.com"}
	ctx := context.Background()
	// Only the first row's chunk ran; the others' chunk failed.
	c := h.chunk()
	c.ChunkSize, c.ChunkCount = 1, 3
	if _, err := h.svc.IssueChunk(ctx, c); err != nil {
		t.Fatal(err)
	}
	out, err := h.svc.Finalize(ctx, h.batch)
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != credbatch.BatchCompletedFailed || out.Counts.Issued != 1 || out.Counts.Failed != 2 || out.Counts.Sent != 1 {
		t.Fatalf("finalized = %+v", out)
	}
	failed, _ := h.store.ListRows(ctx, h.batch, credbatch.RowFilter{Status: credbatch.RowFailed})
	if len(failed.Items) != 2 || failed.Items[0].Error == "" {
		t.Errorf("failed rows = %+v", failed.Items)
	}
	var summary *credbatch.Message
	for i, m := range h.mailer.sent {
		if m.Tags["kind"] == "summary" {
			summary = &h.mailer.sent[i]
		}
	}
	if summary == nil || summary.Subject != "Batch b1: completed with failures" ||
		!strings.Contains(summary.Text, "finished: completed with failures.") || !strings.Contains(summary.Text, "https://creds.example/batches/b1") {
		t.Errorf("summary email %+v; want the status in words and the console link", summary)
	}
	again, err := h.svc.Finalize(ctx, h.batch)
	if err != nil || again.Status != out.Status {
		t.Errorf("re-run finalize = %+v, %v", again, err)
	}
}

// maxAcceptedRows is the most rows any batch can have: MAX_ROWS_PER_FILE's upper bound
// (shared/config).
const maxAcceptedRows = 1 << 31

// TestPlanChunks: every plan keeps within the history limit (MaxChunks) and has each chunk
// finish within the issue function's timeout at its worker's pace (the slower of its share of
// the send rate and RowWork), at any row count up to the most a batch can have; a batch that
// cannot be planned is refused with batch_too_large, saying how large a batch may be.
func TestPlanChunks(t *testing.T) {
	tests := []struct {
		name           string
		cfg            issuance.Config
		rows           int
		wantChunks     int
		wantSize       int
		wantConcurrent int
		wantMost       string // refused: the largest batch the message names
	}{
		{"small batch", issuance.Config{SendRate: 14}, 20, 1, 840, 1, ""},
		{"1k rows", issuance.Config{SendRate: 14}, 1000, 2, 840, 2, ""},
		{"100k rows at 14/s: 10 workers at 1.4/s for 600 s", issuance.Config{SendRate: 14}, 100_000, 120, 840, 10, ""},
		{"1M rows keeps chunks bounded", issuance.Config{SendRate: 14}, 1_000_000, 1191, 840, 10, ""},
		{"2.5M rows at 14/s: 5 workers at 2.8/s", issuance.Config{SendRate: 14}, 2_500_000, issuance.MaxChunks, 2000, 5, ""},
		{"5M rows at 14/s: 2 workers at 7/s", issuance.Config{SendRate: 14}, 5_000_000, issuance.MaxChunks, 4000, 2, ""},
		{"10M rows at 14/s: 1 worker at RowWork's pace", issuance.Config{SendRate: 14}, 10_000_000, issuance.MaxChunks, 8000, 1, ""},
		{"most rows at 14/s refused", issuance.Config{SendRate: 14}, maxAcceptedRows, 0, 0, 0, "10125000"},
		{"5M rows at 100/s: 10 workers at 10/s", issuance.Config{SendRate: 100}, 5_000_000, 1000, 5000, 10, ""},
		{"10M rows at 100/s: RowWork bounds a worker", issuance.Config{SendRate: 100}, 10_000_000, issuance.MaxChunks, 8000, 10, ""},
		{"most rows at 100/s refused", issuance.Config{SendRate: 100}, maxAcceptedRows, 0, 0, 0, "10125000"},
		{"chunk count capped", issuance.Config{SendRate: 1, MaxConcurrency: 1, ChunkSeconds: 60}, 1_000_000, issuance.MaxChunks, 800, 1, ""},
		{"sandbox account: 1M rows fit", issuance.Config{SendRate: 1}, 1_000_000, issuance.MaxChunks, 800, 1, ""},
		{"sandbox account: 2.5M rows refused", issuance.Config{SendRate: 1}, 2_500_000, 0, 0, 0, "1012500"},
		{"fixed size capped too", issuance.Config{SendRate: 14, ChunkSize: 10}, 1_000_000, issuance.MaxChunks, 800, 10, ""},
		{"fixed size lowered to the timeout", issuance.Config{SendRate: 14, ChunkSize: 100_000}, 100_000, 89, 1134, 10, ""},
		{"slow sandbox account", issuance.Config{SendRate: 1}, 1000, 2, 600, 1, ""},
		{"fixed size", issuance.Config{SendRate: 14, ChunkSize: 10}, 35, 4, 10, 4, ""},
		{"fast account capped concurrency", issuance.Config{SendRate: 200, MaxConcurrency: 40}, 100_000, 34, 3000, 34, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := issuance.PlanFor(tt.cfg, 2, tt.rows)
			if tt.wantMost != "" {
				if credbatch.ErrorCode(err) != credbatch.CodeBatchTooLarge || !strings.Contains(err.Error(), "at most "+tt.wantMost+" rows") {
					t.Fatalf("PlanFor(%d rows) = %+v, %v; want %s naming at most %s rows", tt.rows, p.ChunkCount, err, credbatch.CodeBatchTooLarge, tt.wantMost)
				}
				return
			}
			if err != nil {
				t.Fatalf("PlanFor(%d rows): %v", tt.rows, err)
			}
			if p.ChunkCount != tt.wantChunks || len(p.Chunks) != tt.wantChunks || p.ChunkSize != tt.wantSize || p.MaxConcurrency != tt.wantConcurrent {
				t.Errorf("plan = %d chunks of %d, concurrency %d; want %d of %d, %d", p.ChunkCount, p.ChunkSize, p.MaxConcurrency, tt.wantChunks, tt.wantSize, tt.wantConcurrent)
			}
			checkPlan(t, tt.cfg, tt.rows, p)
		})
	}
}

// checkPlan asserts the plan's limits: every row in a chunk, at most MaxChunks chunks, each
// finishing within ChunkLimit, and the workers together within the send rate.
func checkPlan(t *testing.T, cfg issuance.Config, rows int, p issuance.Plan) {
	t.Helper()
	if p.ChunkCount*p.ChunkSize < rows || p.ChunkCount > issuance.MaxChunks {
		t.Errorf("%d chunks of %d for %d rows: rows left out or more than %d chunks", p.ChunkCount, p.ChunkSize, rows, issuance.MaxChunks)
	}
	perRow := max(1/p.Rate, issuance.RowWork.Seconds())
	if d := time.Duration(float64(p.ChunkSize) * perRow * float64(time.Second)); d > issuance.ChunkLimit {
		t.Errorf("a chunk of %d rows at %.2f/s takes %v, past %v (issue timeout %v)", p.ChunkSize, p.Rate, d, issuance.ChunkLimit, issuance.IssueTimeout)
	}
	if p.Rate*float64(p.MaxConcurrency) > cfg.SendRate+1e-9 && p.MaxConcurrency > 1 {
		t.Errorf("workers together send %.1f/s, above the account's %.1f/s", p.Rate*float64(p.MaxConcurrency), cfg.SendRate)
	}
}

// TestPlanAtAnyRowCount sweeps row counts up to the largest a batch can have: each is either
// planned within the limits or refused with batch_too_large, and the refusal starts exactly
// above the size the message names.
func TestPlanAtAnyRowCount(t *testing.T) {
	for _, cfg := range []issuance.Config{{SendRate: 1}, {SendRate: 14}, {SendRate: 14, ChunkSize: 100_000}, {SendRate: 200, MaxConcurrency: 40}, {SendRate: 3.5, MaxConcurrency: 40, ChunkSeconds: 900}} {
		refusedFrom := 0
		for rows := 1; rows <= maxAcceptedRows; rows = rows*3/2 + 1 {
			p, err := issuance.PlanFor(cfg, 2, rows)
			if err != nil {
				if credbatch.ErrorCode(err) != credbatch.CodeBatchTooLarge {
					t.Fatalf("%+v, %d rows: %v", cfg, rows, err)
				}
				if refusedFrom == 0 {
					refusedFrom = rows
				}
				continue
			}
			if refusedFrom != 0 {
				t.Fatalf("%+v: %d rows refused but %d planned", cfg, refusedFrom, rows)
			}
			checkPlan(t, cfg, rows, p)
		}
		if refusedFrom == 0 {
			t.Fatalf("%+v: %d rows planned", cfg, maxAcceptedRows)
		}
		_, err := issuance.PlanFor(cfg, 2, refusedFrom)
		var most int
		if _, serr := fmt.Sscanf(err.Error()[strings.Index(err.Error(), "at most ")+len("at most "):], "%d", &most); serr != nil {
			t.Fatalf("message %q names no size: %v", err, serr)
		}
		if _, err := issuance.PlanFor(cfg, 2, most); err != nil {
			t.Errorf("%+v: %d rows (the size the message names) refused: %v", cfg, most, err)
		}
		if _, err := issuance.PlanFor(cfg, 2, most+1); credbatch.ErrorCode(err) != credbatch.CodeBatchTooLarge {
			t.Errorf("%+v: %d rows planned, past the size the message names", cfg, most+1)
		}
	}
}

// TestPrepareRefusesABatchItCannotPlan: the first step rejects the batch with a batch-level
// batch_too_large finding before approval is asked or anything is sent; a re-run refuses the
// same way without a second finding.
func TestPrepareRefusesABatchItCannotPlan(t *testing.T) {
	h := newHarness(t, 3)
	ctx := context.Background()
	b := credbatch.Batch{ID: "big", Status: credbatch.BatchReceived, Definitions: map[string]int{"web-101": 1}, CreatedAt: time.Now()}
	if err := h.store.CreateBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	rows := 3_000_000 // the counts say so; PlanFor reads only the count
	if _, err := h.store.TransitionBatch(ctx, "big", credbatch.BatchReceived, credbatch.BatchParsed, credbatch.BatchChange{Counts: &credbatch.Counts{Rows: rows, Valid: rows}}); err != nil {
		t.Fatal(err)
	}
	h.svc.Config.SendRate = 1
	for run := range 2 {
		_, err := h.svc.Prepare(ctx, "big")
		var nr *issuance.BatchNotReadyError
		if !errors.As(err, &nr) || !strings.Contains(err.Error(), credbatch.CodeBatchTooLarge) {
			t.Fatalf("run %d: Prepare = %v; want BatchNotReadyError naming %s", run, err, credbatch.CodeBatchTooLarge)
		}
		got, _ := h.store.GetBatch(ctx, "big")
		var codes []string
		for _, f := range got.Findings {
			if f.Row != 0 || f.Column != "" {
				t.Errorf("finding %+v is not batch level", f)
			}
			codes = append(codes, f.Code)
		}
		if got.Status != credbatch.BatchRejected || !slices.Equal(codes, []string{credbatch.CodeBatchTooLarge}) ||
			!strings.Contains(got.Reason, "split the file into batches of at most 1012500 rows") {
			t.Errorf("run %d: batch %s, findings %v, reason %q", run, got.Status, codes, got.Reason)
		}
	}
	if len(h.mailer.sent) != 0 {
		t.Errorf("%d emails sent for a refused batch", len(h.mailer.sent))
	}
}

// lateWorkflow answers every Succeed as Step Functions does for a task that timed out.
type lateWorkflow struct{ credbatch.Workflow }

func (lateWorkflow) Succeed(context.Context, string, json.RawMessage) error {
	return credbatch.Conflict("task timed out")
}

// TestApproveAfterTheWindowClosed: an approval that loses the race with the approval timeout
// must not leave the batch approved with no flow to issue it.
func TestApproveAfterTheWindowClosed(t *testing.T) {
	h := newHarness(t, 1)
	ctx := context.Background()
	b := credbatch.Batch{ID: "b2", Status: credbatch.BatchReceived, Definitions: map[string]int{"web-101": 1}, CreatedAt: time.Now()}
	if err := h.store.CreateBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	tok := "token-1"
	for _, step := range [][2]credbatch.BatchStatus{{credbatch.BatchReceived, credbatch.BatchParsed}, {credbatch.BatchParsed, credbatch.BatchAwaitingApproval}} {
		if _, err := h.store.TransitionBatch(ctx, "b2", step[0], step[1], credbatch.BatchChange{TaskToken: &tok}); err != nil {
			t.Fatal(err)
		}
	}
	a := &issuance.Actions{Store: h.store, Workflow: lateWorkflow{}}
	_, err := a.Approve(ctx, "b2", "approver@example.com")
	if credbatch.ErrorKind(err) != credbatch.KindConflict {
		t.Fatalf("late approval: %v, want a conflict", err)
	}
	got, _ := h.store.GetBatch(ctx, "b2")
	if got.Status != credbatch.BatchExpired {
		t.Errorf("batch is %s, want expired", got.Status)
	}
}

// failWorkflow accepts every Fail (the approval task ends).
type failWorkflow struct{ credbatch.Workflow }

func (failWorkflow) Fail(context.Context, string, string, string) error { return nil }

// awaiting adds batch id, uploaded by uploader, awaiting approval with a task token.
func (h *harness) awaiting(t *testing.T, id, uploader string) {
	t.Helper()
	ctx := context.Background()
	b := credbatch.Batch{ID: id, Label: "Spring cohort", Uploader: uploader, Status: credbatch.BatchReceived,
		Definitions: map[string]int{"web-101": 1}, CreatedAt: time.Now()}
	if err := h.store.CreateBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	tok := "token-" + id
	for _, step := range [][2]credbatch.BatchStatus{{credbatch.BatchReceived, credbatch.BatchParsed}, {credbatch.BatchParsed, credbatch.BatchAwaitingApproval}} {
		if _, err := h.store.TransitionBatch(ctx, id, step[0], step[1], credbatch.BatchChange{TaskToken: &tok}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeclineEmailsTheIssuer: rejecting a batch or asking for changes emails its uploader the
// approver's reason and the batch's console link, once; a failed email leaves the decision.
func TestDeclineEmailsTheIssuer(t *testing.T) {
	for _, tc := range []struct {
		name, uploader string
		changes        bool
		failMail       bool
		wantTo         string // "" = no email
		wantSubject    string
		wantStatus     credbatch.BatchStatus
	}{
		{name: "reject", uploader: "issuer@example.com", wantTo: "issuer@example.com", wantSubject: "Batch rejected: Spring cohort", wantStatus: credbatch.BatchCancelled},
		{name: "request changes", uploader: "issuer@example.com", changes: true, wantTo: "issuer@example.com", wantSubject: "Changes requested: Spring cohort", wantStatus: credbatch.BatchRejected},
		{name: "uploader not an address, admins told", uploader: "svc-robot", wantTo: "admin@example.com", wantSubject: "Batch rejected: Spring cohort", wantStatus: credbatch.BatchCancelled},
		{name: "mailer fails, decision stands", uploader: "issuer@example.com", failMail: true, wantStatus: credbatch.BatchCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 1)
			ctx := context.Background()
			h.svc.Config.Admins = []string{"admin@example.com"}
			if tc.failMail {
				h.mailer.failFor["issuer@example.com"] = credbatch.E(credbatch.KindUnavailable, "throttled", "SES throttled")
			}
			h.awaiting(t, "b2", tc.uploader)
			a := &issuance.Actions{Store: h.store, Workflow: failWorkflow{}, Notify: h.svc}
			decide := a.Reject
			if tc.changes {
				decide = a.RequestChanges
			}
			b, err := decide(ctx, "b2", "approver@example.com", "the course name is wrong")
			if err != nil || b.Status != tc.wantStatus {
				t.Fatalf("decision: %s, %v; want %s", b.Status, err, tc.wantStatus)
			}
			if _, err := decide(ctx, "b2", "approver@example.com", "again"); credbatch.ErrorKind(err) != credbatch.KindConflict {
				t.Errorf("deciding twice: %v, want a conflict", err)
			}
			var got []credbatch.Message
			for _, m := range h.mailer.sent {
				if m.Tags["kind"] == "declined" {
					got = append(got, m)
				}
			}
			if tc.wantTo == "" {
				if len(got) != 0 {
					t.Fatalf("%d emails, want none", len(got))
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d emails, want 1", len(got))
			}
			m := got[0]
			if m.To[0] != tc.wantTo || m.Subject != tc.wantSubject || m.From != `"Northwind" <certs@example.com>` {
				t.Errorf("email to %v from %s, subject %q; want to %s, %q from Northwind", m.To, m.From, m.Subject, tc.wantTo, tc.wantSubject)
			}
			for _, want := range []string{"approver@example.com", "the course name is wrong", "https://creds.example/batches/b2"} {
				if !strings.Contains(m.Text, want) {
					t.Errorf("email text lacks %q:\n%s", want, m.Text)
				}
			}
		})
	}
}

// TestCredentialEmailLocaleAndFrom: a row's Locale chooses the built-in texts and the dates'
// language, else the deployment's; the From shows the issuer's name with the configured address.
func TestCredentialEmailLocaleAndFrom(t *testing.T) {
	h := newHarness(t, 4)
	ctx := context.Background()
	h.svc.Config.Locale = "fr"
	want := map[string]struct{ locale, greeting, date string }{
		"r0@example.com": {"", "Bonjour Ann,", "Délivrée le\u00a0: 2 novembre 2026"},
		"r1@example.com": {"es", "Hola, Ann:", "Emitida el: 2 de noviembre de 2026"},
		"r2@example.com": {"de", "Hallo Ann,", "Ausgestellt am: 2. November 2026"},
		"r3@example.com": {"en", "Hello Ann,", "Issued: 2 November 2026"},
	}
	for i := range 4 {
		r, err := h.store.GetRow(ctx, h.batch, i+2)
		if err != nil {
			t.Fatal(err)
		}
		r.Locale = want[r.Email].locale
		if err := h.store.PutRows(ctx, []credbatch.Row{r}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.svc.IssueChunk(ctx, h.chunk()); err != nil {
		t.Fatal(err)
	}
	if len(h.mailer.sent) != 4 {
		t.Fatalf("%d emails; want 4", len(h.mailer.sent))
	}
	for _, m := range h.mailer.sent {
		w := want[m.To[0]]
		if !strings.HasPrefix(m.Text, w.greeting) || !strings.Contains(m.Text, w.date) || !strings.Contains(m.HTML, `lang="`+cmp.Or(w.locale, "fr")+`"`) {
			t.Errorf("email to %s:\n%s\nwant %q and %q", m.To[0], m.Text, w.greeting, w.date)
		}
		if m.From != `"Northwind" <certs@example.com>` {
			t.Errorf("From %q; want the issuer's name and the configured address", m.From)
		}
	}
}

// TestReconciliationWorkbookCells: the reconciliation workbook, read back with openpyxl, has
// the row number as a number cell and the send time as a date cell.
func TestReconciliationWorkbookCells(t *testing.T) {
	h := newHarness(t, 2)
	ctx := context.Background()
	if _, err := h.svc.IssueChunk(ctx, h.chunk()); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := workbook.Cells(&buf, "Reconciliation", issuance.ReconciliationHeaders, issuance.Reconciliation(ctx, h.store, h.batch)); err != nil {
		t.Fatal(err)
	}
	rows := externaltest.Openpyxl(t, buf.Bytes())["Reconciliation"]
	if len(rows) != 3 {
		t.Fatalf("%d rows; want the header and 2", len(rows))
	}
	sent := slices.Index(issuance.ReconciliationHeaders, "Sent at (UTC)")
	for _, r := range rows[1:] {
		if r[0].Type != "n" || r[sent].Value == nil || !(r[sent].Type == "d" || r[sent].IsDate) {
			t.Errorf("row %+v: want a number row and a date-time Sent at", r)
		}
	}
}

// TestStatusIndexesAfterUpgrade: a deployment that handed out sequential status indexes
// (0, 1, 2, … by the counter, before indexes were shuffled) gets shuffled ones only in lists
// past them, so none can collide; a fresh deployment starts in list 1; the counter moves
// once, also when two chunks start at the same time.
func TestStatusIndexesAfterUpgrade(t *testing.T) {
	const n = 150
	tests := []struct {
		name           string
		sequential     int // indexes handed out before the upgrade
		wantLo, wantHi int // every new index in [wantLo, wantHi)
	}{
		{"fresh deployment", 0, 0, statuslist.Size},
		{"1000 sequential indexes", 1000, statuslist.Size, 2 * statuslist.Size},
		{"one sequential index", 1, statuslist.Size, 2 * statuslist.Size},
		{"list 1 all but full", statuslist.Size - 1, statuslist.Size, 2 * statuslist.Size},
		{"list 1 full", statuslist.Size, statuslist.Size, 2 * statuslist.Size},
		{"into list 2", statuslist.Size + 7, 2 * statuslist.Size, 3 * statuslist.Size},
		// Two chunks start at once after the upgrade (two workers of the Map state): each may
		// move the counter, never back into list 1.
		{"racing chunks after 1000 sequential", 1000, statuslist.Size, 3 * statuslist.Size},
	}
	for _, store := range stores {
		for _, tc := range tests {
			t.Run(store.name+"/"+tc.name, func(t *testing.T) {
				h := newHarnessOn(t, n, store.open(t))
				ctx := context.Background()
				if tc.sequential > 0 {
					if first, err := h.store.AllocateStatusIndexes(ctx, tc.sequential); err != nil || first != 0 {
						t.Fatalf("legacy allocation: %d, %v", first, err)
					}
				}
				chunks := []issuance.Chunk{
					{BatchID: h.batch, Chunk: 0, FirstRow: 2, ChunkSize: n / 2, ChunkCount: 2},
					{BatchID: h.batch, Chunk: 1, FirstRow: 2, ChunkSize: n / 2, ChunkCount: 2},
				}
				errs := make(chan error, len(chunks))
				for _, c := range chunks {
					if strings.HasPrefix(tc.name, "racing") {
						go func() { _, err := h.svc.IssueChunk(ctx, c); errs <- err }()
					} else {
						_, err := h.svc.IssueChunk(ctx, c)
						errs <- err
					}
				}
				for range chunks {
					if err := <-errs; err != nil {
						t.Fatal(err)
					}
				}
				if _, err := h.store.GetMark(ctx, issuance.ShuffleMark); err != nil {
					t.Errorf("mark %s: %v", issuance.ShuffleMark, err)
				}
				page, err := h.store.ListCredentialsByBatch(ctx, h.batch, "", 1000)
				if err != nil || len(page.Items) != n {
					t.Fatalf("credentials = %d, %v", len(page.Items), err)
				}
				seen := map[int]bool{}
				for _, c := range page.Items {
					i := c.StatusListIndex
					if i < tc.sequential {
						t.Errorf("credential %s: index %d collides with the sequential indexes 0..%d", c.ID, i, tc.sequential-1)
					}
					if i < tc.wantLo || i >= tc.wantHi {
						t.Errorf("credential %s: index %d outside [%d, %d)", c.ID, i, tc.wantLo, tc.wantHi)
					}
					if seen[i] {
						t.Errorf("index %d handed out twice", i)
					}
					seen[i] = true
				}
				// Later allocations do not move the counter again.
				next, err := h.store.AllocateStatusIndexes(ctx, 1)
				if err != nil {
					t.Fatal(err)
				}
				if next >= tc.wantHi {
					t.Errorf("counter at %d after the upgrade, want it below %d (moved at most once per racing worker)", next, tc.wantHi)
				}
			})
		}
	}
}

// TestStatusIndexesRandomWithinAList: credentials issued one after another get status
// indexes that are not adjacent (in the common case) nor in issue order, none twice, and when
// a list is full the next credentials go to the next list, which is published first.
func TestStatusIndexesRandomWithinAList(t *testing.T) {
	const n = 200
	for _, store := range stores {
		t.Run(store.name, func(t *testing.T) {
			h := newHarnessOn(t, n, store.open(t))
			ctx := context.Background()
			issued := func(t *testing.T, chunk int) []credbatch.Credential {
				t.Helper()
				if _, err := h.svc.IssueChunk(ctx, issuance.Chunk{BatchID: h.batch, Chunk: chunk, FirstRow: 2, ChunkSize: n / 2, ChunkCount: 2}); err != nil {
					t.Fatal(err)
				}
				page, err := h.store.ListCredentialsByBatch(ctx, h.batch, "", 1000)
				if err != nil {
					t.Fatal(err)
				}
				var out []credbatch.Credential
				for _, c := range page.Items {
					if (c.RowNumber-2)/(n/2) == chunk {
						out = append(out, c)
					}
				}
				slices.SortFunc(out, func(a, b credbatch.Credential) int { return a.RowNumber - b.RowNumber })
				if len(out) != n/2 {
					t.Fatalf("chunk %d: %d credentials, want %d", chunk, len(out), n/2)
				}
				return out
			}
			first := issued(t, 0)
			adjacent, ascending := 0, 0
			for i := 1; i < len(first); i++ {
				a, b := first[i-1].StatusListIndex, first[i].StatusListIndex
				if a/statuslist.Size != 0 || b/statuslist.Size != 0 {
					t.Fatalf("rows %d, %d: indexes %d, %d outside list 1", first[i-1].RowNumber, first[i].RowNumber, a, b)
				}
				if b-a == 1 || a-b == 1 {
					adjacent++
				}
				if b > a {
					ascending++
				}
			}
			// Two given entries of a shuffled list are neighbours with probability 2/Size.
			if adjacent > 1 {
				t.Errorf("%d of %d consecutive credentials got adjacent status indexes", adjacent, len(first)-1)
			}
			if ascending < len(first)/4 || ascending > 3*len(first)/4 {
				t.Errorf("%d of %d consecutive credentials got ascending indexes: the list shows the issue order", ascending, len(first)-1)
			}

			// Fill list 1 up to its last 5 slots; the next chunk ends list 1 and starts list 2.
			next, err := h.store.AllocateStatusIndexes(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.store.AllocateStatusIndexes(ctx, statuslist.Size-5-(next+1)); err != nil {
				t.Fatal(err)
			}
			second := issued(t, 1)
			seen := map[int]bool{}
			for i, c := range append(first, second...) {
				idx := c.StatusListIndex
				if seen[idx] {
					t.Errorf("index %d handed out twice", idx)
				}
				seen[idx] = true
				if i < len(first) {
					continue
				}
				wantList := 1
				if i-len(first) >= 5 {
					wantList = 2
				}
				if got := idx/statuslist.Size + 1; got != wantList {
					t.Errorf("row %d (%d of the second chunk): index %d in list %d, want list %d", c.RowNumber, i-len(first)+1, idx, got, wantList)
				}
			}
			if _, err := h.store.GetStatusList(ctx, 2); err != nil {
				t.Errorf("list 2 was not published before credentials pointed into it: %v", err)
			}
		})
	}
}

// countingStore records the counter additions made with AddCounts.
type countingStore struct {
	credbatch.Store
	mu   sync.Mutex
	adds []credbatch.Counts
}

func (s *countingStore) AddCounts(ctx context.Context, id string, d credbatch.Counts) error {
	s.mu.Lock()
	s.adds = append(s.adds, d)
	s.mu.Unlock()
	return s.Store.AddCounts(ctx, id, d)
}

// TestChunkCountsSendsInFlushes: a chunk's sends reach the batch's counters in one addition
// per bounce check (every 25 rows) and one at the end, not one write per send, and add up
// exactly; a resend is counted by the store itself.
func TestChunkCountsSendsInFlushes(t *testing.T) {
	st := &countingStore{Store: openSQLite(t)}
	h := newHarnessOn(t, 60, st)
	ctx := context.Background()
	res, err := h.svc.IssueChunk(ctx, h.chunk())
	if err != nil || res.Sent != 60 || res.Issued != 60 {
		t.Fatalf("chunk: %+v, %v", res, err)
	}
	want := []credbatch.Counts{{Issued: 25, Sent: 25}, {Issued: 25, Sent: 25}, {Issued: 10, Sent: 10}}
	if fmt.Sprint(st.adds) != fmt.Sprint(want) {
		t.Errorf("counter additions %v, want %v", st.adds, want)
	}
	b, err := st.GetBatch(ctx, h.batch)
	if err != nil || b.Counts.Sent != 60 || b.Counts.Issued != 60 {
		t.Fatalf("batch counts %+v, %v; want 60 sent and issued", b.Counts, err)
	}
	p, err := st.ListCredentialsByBatch(ctx, h.batch, "", 1)
	if err != nil || len(p.Items) != 1 {
		t.Fatal(p, err)
	}
	if _, err := h.svc.Resend(ctx, p.Items[0].ID, ""); err != nil {
		t.Fatal(err)
	}
	if b, err = st.GetBatch(ctx, h.batch); err != nil || b.Counts.Sent != 60 || len(st.adds) != 3 {
		t.Fatalf("after a resend: sent %d, %d additions, %v; want 60 (sent → sending → sent counts nothing new), 3", b.Counts.Sent, len(st.adds), err)
	}
}
