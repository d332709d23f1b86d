package deployed_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/infra/deployed"
	"github.com/credbatch/credbatch/infra/local/engine"
	"github.com/credbatch/credbatch/shared/credbatch"
)

// TestCostPerCredential is the cost bench's run (make bench BENCH_ARGS=cost), skipped
// unless CREDBATCH_COST_OUT names the file for its figures: one batch of
// CREDBATCH_COST_ROWS (default 1,000, as the bench) valid rows is uploaded, submitted, approved and issued at
// SendRate 14 (a new production account's SES rate), every SES event is delivered to the
// feedback function, and the usage of every function is written as a CostRun.
func TestCostPerCredential(t *testing.T) {
	out := os.Getenv("CREDBATCH_COST_OUT")
	if out == "" {
		t.Skip("the cost bench: make bench BENCH_ARGS=cost")
	}
	rows := 1000
	if v := os.Getenv("CREDBATCH_COST_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("CREDBATCH_COST_ROWS=%q", v)
		}
		rows = n
	}
	const rate = 14
	h := startHarness(t, func(c *deployed.Config) { c.Parameters["SendRate"] = strconv.Itoa(rate) })
	issuer := user(t, h, issuerEmail, "issuer")
	approver := user(t, h, approverEmail, "approver")
	admin := user(t, h, adminEmail, "admin")
	raw, err := os.ReadFile("../local/sample/definitions.json")
	if err != nil {
		t.Fatal(err)
	}
	var sample struct{ Definitions []json.RawMessage }
	if err := json.Unmarshal(raw, &sample); err != nil {
		t.Fatal(err)
	}
	for _, def := range sample.Definitions {
		admin.must("POST", "/api/definitions", def, nil, 201)
	}
	// Only the batch counts: what the functions did to set the stack up is subtracted.
	before, err := h.Runner.Usage()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	key := "uploads/cost.csv"
	put(t, h, key, costCSV(rows), csvType, map[string]string{"label": "cost", "uploader": issuerEmail})
	b := issuer.batchOf(key)
	issuer.submit(b)
	poll := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after %s", what, d)
			}
			time.Sleep(2 * time.Second) // few API calls of the driver's own
		}
	}
	poll("awaiting approval", 2*time.Minute, func() bool { return issuer.batch(b.ID).Status == credbatch.BatchAwaitingApproval })
	time.Sleep(2 * time.Second) // the approval function stores the task token after the status
	poll("approve", time.Minute, func() bool {
		return approver.do("POST", "/api/batches/"+b.ID+"/approve", nil, nil) == 200 || issuer.batch(b.ID).Status != credbatch.BatchAwaitingApproval
	})
	b = issuer.batch(b.ID)
	exec := b.ExecutionID[strings.LastIndex(b.ExecutionID, ":")+1:] // the endpoint knows the execution by its name
	if st, _, err := h.SFN.Execution(t.Context(), exec); err != nil || st != engine.StatusSucceeded {
		t.Fatalf("execution %s: %s, %v", exec, st, err)
	}
	b = issuer.batch(b.ID)
	if b.Counts.Issued != rows {
		t.Fatalf("batch %s: issued %d of %d", b.Status, b.Counts.Issued, rows)
	}
	if errs := h.SES.Wait(); len(errs) > 0 {
		t.Fatalf("SES events: %v", errs)
	}
	took := time.Since(start)
	after, err := h.Runner.Usage()
	if err != nil {
		t.Fatal(err)
	}
	hist, err := h.Engine.History(exec)
	if err != nil {
		t.Fatal(err)
	}
	run := deployed.CostRun{Rows: rows, Issued: b.Counts.Issued, SendRate: rate, Seconds: took.Seconds(), Functions: map[string]deployed.FunctionUsage{},
		Executions: 1, SFNTracing: h.Deploy.StateMachines[firstKey(h.Deploy.StateMachines)].Tracing, SESEvents: h.SES.Events(), Emails: len(h.SES.Emails()), Tracing: map[string]string{}}
	for _, e := range hist {
		if strings.HasSuffix(e.Type, "StateEntered") {
			run.Transitions++
		}
	}
	for id, u := range after {
		p := before[id]
		u.Invocations -= p.Invocations
		u.Billed -= p.Billed
		u.AWS.Subtract(p.AWS)
		if u.Invocations > 0 {
			run.Functions[id] = u
		}
		run.Tracing[id] = h.Deploy.Functions[id].Tracing
	}
	data, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d credentials in %s: %s", rows, took.Round(time.Second), data)
}

// costCSV is n valid rows of the sample definition web-101 (scores within its 0-100).
func costCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("ID,First Name,Last Name,Email,Issue Date,Score\r\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "web-101,Ada%d,Lovelace,success+cost-%d@simulator.amazonses.com,2026-11-20,%d\r\n", i, i, 60+i%41)
	}
	return b.Bytes()
}

func firstKey[V any](m map[string]V) string {
	for k := range m {
		return k
	}
	return ""
}
