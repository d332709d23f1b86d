// Package workflowtest is the contract suite that every credbatch.Workflow adapter passes.
package workflowtest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Definition is the state machine every harness runs: one task that waits for its token
// (as RequestApproval does) and ends with the answer; Function is the Lambda it names.
func Definition(function string) string {
	return `{"StartAt":"Ask","States":{"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
		"Parameters":{"FunctionName":"` + function + `","Payload":{"token.$":"$$.Task.Token","name.$":"$$.Execution.Name"}},
		"TimeoutSeconds":3600,"End":true}}}`
}

// TokenPayload is what Definition's task sends its function.
type TokenPayload struct {
	Token string `json:"token"`
	Name  string `json:"name"` // the execution's name
}

// Capabilities are the ways workflows differ, as data.
type Capabilities struct {
	// RunsTasks: the workflow executes the definition and hands out task tokens (the local
	// engine). moto's Step Functions records executions but runs no Lambda task.
	RunsTasks bool
	// RefusesUnknownTokens: an unknown task token is KindNotFound (moto accepts any token).
	RefusesUnknownTokens bool
}

// Harness is one workflow under test, running Definition.
type Harness struct {
	Workflow credbatch.Workflow
	// Token waits for the task token of the execution named name (RunsTasks only).
	Token func(t *testing.T, name string) string
	// Result waits for the execution id to end and returns its output, or the error name it
	// failed with (RunsTasks only).
	Result func(t *testing.T, id string) (output json.RawMessage, errName string)
	Caps   Capabilities
}

// Run runs the contract subtests; newHarness returns a harness for each subtest.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"StartIsIdempotent", testStartIdempotent},
		{"StartAgainWithOtherInput", testStartConflict},
		{"DistinctNames", testDistinctNames},
		{"UnknownToken", testUnknownToken},
		{"SucceedATask", testSucceed},
		{"FailATask", testFail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newHarness(t)) })
	}
}

// name is a fresh execution name (at most 80 characters, as Step Functions allows).
func name(what string) string { return fmt.Sprintf("%s-%d", what, time.Now().UnixNano()) }

func start(t *testing.T, h Harness, n, input string) string {
	t.Helper()
	id, err := h.Workflow.Start(context.Background(), n, json.RawMessage(input))
	if err != nil {
		t.Fatalf("Start(%s): %v", n, err)
	}
	if id == "" {
		t.Fatalf("Start(%s) returned an empty execution id", n)
	}
	return id
}

// testStartIdempotent: starting a name again with the same input (a retried Lambda, a
// repeated S3 event) is no error and gives the same execution.
func testStartIdempotent(t *testing.T, h Harness) {
	n := name("b1")
	first := start(t, h, n, `{"batch_id":"b1"}`)
	if again := start(t, h, n, `{"batch_id": "b1"}`); again != first {
		t.Errorf("second Start = %q, want %q", again, first)
	}
}

func testStartConflict(t *testing.T, h Harness) {
	n := name("b2")
	start(t, h, n, `{"batch_id":"b2"}`)
	if _, err := h.Workflow.Start(context.Background(), n, json.RawMessage(`{"batch_id":"other"}`)); !credbatch.IsKind(err, credbatch.KindConflict) {
		t.Errorf("Start with another input: %v (kind %s), want KindConflict", err, credbatch.ErrorKind(err))
	}
}

func testDistinctNames(t *testing.T, h Harness) {
	a, b := start(t, h, name("b3"), `{}`), start(t, h, name("b4"), `{}`)
	if a == b {
		t.Errorf("two names gave one execution %q", a)
	}
}

func testUnknownToken(t *testing.T, h Harness) {
	ctx := context.Background()
	for op, call := range map[string]func() error{
		"Succeed": func() error { return h.Workflow.Succeed(ctx, "unknown-token", json.RawMessage(`{"approved_by":"a"}`)) },
		"Fail":    func() error { return h.Workflow.Fail(ctx, "unknown-token", "BatchRejected", "no") },
	} {
		err := call()
		switch {
		case h.Caps.RefusesUnknownTokens && !credbatch.IsKind(err, credbatch.KindNotFound):
			t.Errorf("%s with an unknown token: %v (kind %s), want KindNotFound", op, err, credbatch.ErrorKind(err))
		case err != nil && !credbatch.IsKind(err, credbatch.KindNotFound):
			t.Errorf("%s with an unknown token: %v (kind %s); an error must be KindNotFound", op, err, credbatch.ErrorKind(err))
		}
	}
}

// testSucceed: the waiting task's token completes it once (an approval); answering the same
// token again is a conflict, never a second approval.
func testSucceed(t *testing.T, h Harness) {
	if !h.Caps.RunsTasks {
		t.Log("not run: this workflow runs no tasks (a capability it lacks, not a skip of a backend)")
		return
	}
	ctx := context.Background()
	n := name("ok")
	id := start(t, h, n, `{"batch_id":"ok"}`)
	tok := h.Token(t, n)
	if err := h.Workflow.Succeed(ctx, tok, json.RawMessage(`{"approved_by":"ann@example.com"}`)); err != nil {
		t.Fatalf("Succeed: %v", err)
	}
	out, errName := h.Result(t, id)
	if errName != "" || !strings.Contains(string(out), `"approved_by":"ann@example.com"`) {
		t.Errorf("execution ended with %s (error %q), want the approval as its output", out, errName)
	}
	for op, call := range map[string]func() error{
		"Succeed": func() error {
			return h.Workflow.Succeed(ctx, tok, json.RawMessage(`{"approved_by":"bob@example.com"}`))
		},
		"Fail": func() error { return h.Workflow.Fail(ctx, tok, "BatchRejected", "late") },
	} {
		if err := call(); !credbatch.IsKind(err, credbatch.KindConflict) {
			t.Errorf("%s of an answered token: %v (kind %s), want KindConflict", op, err, credbatch.ErrorKind(err))
		}
	}
}

// testFail: failing the waiting task (a rejection) fails it with the error name, which the
// definition's Catch (or the execution) sees.
func testFail(t *testing.T, h Harness) {
	if !h.Caps.RunsTasks {
		t.Log("not run: this workflow runs no tasks (a capability it lacks, not a skip of a backend)")
		return
	}
	n := name("no")
	id := start(t, h, n, `{"batch_id":"no"}`)
	if err := h.Workflow.Fail(context.Background(), h.Token(t, n), "BatchRejected", "not this cohort"); err != nil {
		t.Fatalf("Fail: %v", err)
	}
	if _, errName := h.Result(t, id); errName != "BatchRejected" {
		t.Errorf("execution failed with %q, want BatchRejected", errName)
	}
}
