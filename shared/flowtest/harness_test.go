package flowtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbatch/credbatch/infra/local/engine"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/outbox"
	"github.com/credbatch/credbatch/shared/sqlite"
)

// The function ARNs the template substitutes into the definition.
var substitutions = map[string]string{
	"WorkflowFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:credbatch-workflow",
	"ApprovalFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:credbatch-approval",
	"IssueFunctionArn":    "arn:aws:lambda:us-east-1:000000000000:function:credbatch-issue",
}

// quiet drops the flow's logs: the tests check outcomes, not log lines.
var quiet = slog.New(slog.DiscardHandler)

var epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const (
	approver = "approver@example.org"
	admin    = "admin@example.org"
	uploader = "issuer@example.org"
)

// harness is one local stack: store, outbox, signer, issuance service and actions, and the
// engine running the real definition.
type harness struct {
	t       testing.TB
	dir     string
	store   *sqlite.Store
	outbox  *outbox.Outbox
	svc     *issuance.Service
	actions *issuance.Actions
	clock   *engine.VirtualClock
	engine  *engine.Engine
	machine *engine.Machine

	mu   sync.Mutex
	sent []credbatch.Message
}

// option adjusts a harness before it starts.
type option func(*harness, *harnessConfig)

type harnessConfig struct {
	wrapIssue    func(engine.Handler) engine.Handler
	wrapWorkflow func(engine.Handler) engine.Handler // the workflow and approval functions
	onSend       func(ctx context.Context, msg credbatch.Message)
}

func withIssueWrapper(w func(engine.Handler) engine.Handler) option {
	return func(_ *harness, c *harnessConfig) { c.wrapIssue = w }
}

func withWorkflowWrapper(w func(engine.Handler) engine.Handler) option {
	return func(_ *harness, c *harnessConfig) { c.wrapWorkflow = w }
}

func withOnSend(f func(ctx context.Context, msg credbatch.Message)) option {
	return func(_ *harness, c *harnessConfig) { c.onSend = f }
}

func newHarness(t testing.TB, cfg issuance.Config, opts ...option) *harness {
	t.Helper()
	ctx := context.Background()
	h := &harness{t: t, dir: t.TempDir(), clock: engine.NewVirtualClock(epoch, 10*time.Minute)}
	var hc harnessConfig
	for _, o := range opts {
		o(h, &hc)
	}
	var err error
	if h.store, err = sqlite.Open(ctx, filepath.Join(h.dir, "credbatch.db")); err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { h.store.Close() })
	h.outbox, err = outbox.New(filepath.Join(h.dir, "outbox"), outbox.Options{OnSend: func(ctx context.Context, msg credbatch.Message, _ string) {
		h.mu.Lock()
		h.sent = append(h.sent, msg)
		h.mu.Unlock()
		if hc.onSend != nil {
			hc.onSend(ctx, msg)
		}
	}})
	if err != nil {
		t.Fatalf("outbox.New: %v", err)
	}
	set, err := keys.New(epoch)
	if err != nil {
		t.Fatalf("keys.New: %v", err)
	}
	signer, err := credential.NewSigner(set, "did:web:creds.example.org")
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	cfg.Issuer = credential.Issuer{BaseURL: "https://creds.example.org", Name: "Example Academy"}
	cfg.From = "credentials@example.org"
	cfg.Approvers = []string{approver}
	cfg.Admins = []string{admin}
	h.svc = &issuance.Service{Store: h.store, Mailer: h.outbox, Signer: signer, Clock: h.clock.Now, Config: cfg, Log: quiet}
	issue := engine.Typed(h.svc.IssueChunk)
	if hc.wrapIssue != nil {
		issue = hc.wrapIssue(issue)
	}
	workflow := engine.Typed(h.svc.Handle)
	if hc.wrapWorkflow != nil {
		workflow = hc.wrapWorkflow(workflow)
	}
	tasks := map[string]engine.Handler{
		substitutions["WorkflowFunctionArn"]: workflow,
		substitutions["ApprovalFunctionArn"]: workflow,
		substitutions["IssueFunctionArn"]:    issue,
	}
	if h.machine, err = engine.Load(readRepoFile(t, "infra/statemachine/issuance.asl.json"), substitutions, tasks); err != nil {
		t.Fatalf("engine.Load: %v", err)
	}
	h.actions = &issuance.Actions{Store: h.store, Clock: h.clock.Now}
	h.open()
	return h
}

// open starts an engine on the harness's engine.db (again, after restart).
func (h *harness) open() {
	h.t.Helper()
	e, err := engine.Open(context.Background(), filepath.Join(h.dir, "engine.db"), h.machine, engine.Options{Clock: h.clock, Rand: func() float64 { return 1 }, Log: quiet})
	if err != nil {
		h.t.Fatalf("engine.Open: %v", err)
	}
	h.engine = e
	h.actions.Workflow = e
	h.t.Cleanup(func() { e.Close() })
}

// restart closes the engine as a crash of the local stack would, and opens it again.
func (h *harness) restart() {
	h.t.Helper()
	if err := h.engine.Close(); err != nil {
		h.t.Fatalf("engine.Close: %v", err)
	}
	h.open()
}

func readRepoFile(t testing.TB, rel string) []byte {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = filepath.Dir(dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// batch creates a parsed batch of n valid rows (numbers 2..n+1) with a definition, the way
// ingest leaves one. Recipient i is <prefix>i@example.org.
func (h *harness) batch(id string, n int, approval bool, prefix string) credbatch.Batch {
	h.t.Helper()
	ctx := context.Background()
	def, err := h.store.PutDefinition(ctx, credbatch.Definition{ID: "course-" + id, Name: "Course Completion", Criteria: "Completed the course", ApprovalRequired: approval})
	if err != nil {
		h.t.Fatalf("PutDefinition: %v", err)
	}
	b := credbatch.Batch{ID: id, Label: "Spring " + id, Uploader: uploader, Status: credbatch.BatchReceived, Format: "csv",
		Definitions: map[string]int{def.ID: def.Version}, CreatedAt: h.clock.Now()}
	if err := h.store.CreateBatch(ctx, b); err != nil {
		h.t.Fatalf("CreateBatch: %v", err)
	}
	rows := make([]credbatch.Row, n)
	for i := range rows {
		rows[i] = credbatch.Row{BatchID: id, Number: i + 2, DefinitionID: def.ID, FirstName: "Ada", LastName: fmt.Sprintf("Lovelace%d", i),
			Email: fmt.Sprintf("%s%d@example.org", prefix, i), IssueDate: "2026-03-01", Status: credbatch.RowValid}
	}
	if err := h.store.PutRows(ctx, rows); err != nil {
		h.t.Fatalf("PutRows: %v", err)
	}
	counts := credbatch.Counts{Rows: n, Valid: n}
	if b, err = h.store.TransitionBatch(ctx, id, credbatch.BatchReceived, credbatch.BatchParsed, credbatch.BatchChange{Counts: &counts}); err != nil {
		h.t.Fatalf("TransitionBatch parsed: %v", err)
	}
	return b
}

// submit starts the flow for a batch and returns the execution id.
func (h *harness) submit(id string) string {
	h.t.Helper()
	b, err := h.actions.Submit(context.Background(), id, false)
	if err != nil {
		h.t.Fatalf("Submit: %v", err)
	}
	if b.ExecutionID == "" {
		h.t.Fatal("Submit left no execution id on the batch")
	}
	return b.ExecutionID
}

// finish waits for an execution to end and requires it to succeed.
func (h *harness) finish(execID string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, out, err := h.engine.Wait(ctx, execID)
	if err != nil || st != engine.StatusSucceeded {
		h.t.Fatalf("execution %s: status %s, output %s, err %v", execID, st, out, err)
	}
}

// finishFailed waits for an execution to end and requires it to fail with errName.
func (h *harness) finishFailed(execID, errName string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, _, err := h.engine.Wait(ctx, execID)
	var se *engine.StateError
	if st != engine.StatusFailed || !errors.As(err, &se) || se.Name != errName {
		h.t.Fatalf("execution %s: status %s, err %v; want FAILED with %s", execID, st, err, errName)
	}
}

// awaitApproval waits until the engine waits on the approval task for the waits-th time
// (its handler has stored the token and emailed the approvers) and the batch is awaiting
// approval with the token.
func (h *harness) awaitApproval(id string, waits int) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	name := func() string { // the batch's latest execution, once its Prepare recorded it
		exec := h.get(id).ExecutionID
		return exec[strings.LastIndex(exec, ":")+1:]
	}
	for exec := name(); exec == "" || h.history(exec)["TaskSubmitted"] < waits; exec = name() {
		if time.Now().After(deadline) {
			h.t.Fatalf("the approval task of %s never started waiting", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b := h.get(id)
	if b.Status != credbatch.BatchAwaitingApproval || b.TaskToken == "" {
		h.t.Fatalf("batch %s is %s with token %q, want awaiting_approval with a token", id, b.Status, b.TaskToken)
	}
}

func (h *harness) get(id string) credbatch.Batch {
	h.t.Helper()
	b, err := h.store.GetBatch(context.Background(), id)
	if err != nil {
		h.t.Fatalf("GetBatch: %v", err)
	}
	return b
}

// rows returns the batch's rows by status.
func (h *harness) rows(id string) map[credbatch.RowStatus][]credbatch.Row {
	h.t.Helper()
	page, err := h.store.ListRows(context.Background(), id, credbatch.RowFilter{Limit: credbatch.MaxPageSize})
	if err != nil {
		h.t.Fatalf("ListRows: %v", err)
	}
	out := map[credbatch.RowStatus][]credbatch.Row{}
	for _, r := range page.Items {
		out[r.Status] = append(out[r.Status], r)
	}
	return out
}

// mails returns how many messages went to each address, and how many credential emails
// (those tagged with a credential id) in all.
func (h *harness) mails() (byAddress map[string]int, credentials int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	byAddress = map[string]int{}
	for _, m := range h.sent {
		for _, to := range m.To {
			byAddress[strings.ToLower(to)]++
		}
		if m.Tags["credential_id"] != "" {
			credentials++
		}
	}
	return byAddress, credentials
}

// outboxFiles counts the .eml files in the outbox directory.
func (h *harness) outboxFiles() int {
	h.t.Helper()
	names, err := filepath.Glob(filepath.Join(h.outbox.Dir(), "*.eml"))
	if err != nil {
		h.t.Fatal(err)
	}
	return len(names)
}

// history counts the execution's events by type and by type/state ("TaskFailed" and
// "TaskFailed/IssueChunk").
func (h *harness) history(name string) map[string]int {
	h.t.Helper()
	ev, err := h.engine.History(name)
	if err != nil {
		h.t.Fatalf("History: %v", err)
	}
	n := map[string]int{}
	for _, e := range ev {
		n[e.Type]++
		if e.State != "" {
			n[e.Type+"/"+e.State]++
		}
	}
	return n
}

// chunkOf reads the chunk number from an issue payload.
func chunkOf(payload json.RawMessage) int {
	var c issuance.Chunk
	_ = json.Unmarshal(payload, &c)
	return c.Chunk
}
