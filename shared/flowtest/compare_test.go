package flowtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The scripted scenarios both interpreters run (TestSecondInterpreter).
func scenarios() []scenario {
	const approvalTimeout = 3600 // aws-local-stepfunctions waits with setTimeout: keep it under 2^31 ms
	prepared := func(approval bool) answer {
		return ok(map[string]any{"approval_required": approval, "approval_timeout_seconds": approvalTimeout, "rows": 8})
	}
	plan := ok(map[string]any{"chunks": []int{0, 1}, "first_row": 2, "chunk_size": 4, "chunk_count": 2, "rate": 1.5, "account_rate": 1.5, "max_concurrency": 1})
	chunk := ok(map[string]any{"issued": 4, "sent": 4, "suppressed": 0, "failed": 0, "skipped": 0})
	finalized := func(status string, issued, failed int) answer {
		return ok(map[string]any{"status": status, "counts": map[string]any{"rows": 8, "valid": 8, "issued": issued, "failed": failed}})
	}
	empty := ok(map[string]any{})
	base := func(approval bool, extra map[string][]answer) map[string][]answer {
		a := map[string][]answer{
			"prepare": {prepared(approval)}, "plan": {plan}, "issue/0": {chunk}, "issue/1": {chunk},
			"finalize": {finalized("completed", 8, 0)}, "chunk_failed": {empty}, "fail": {empty}, "expire": {empty},
		}
		for k, v := range extra {
			a[k] = v
		}
		return a
	}
	in := map[string]any{"batch_id": "b1"}
	retryable := lambdaErr("ChunkRetryableError", "chunk can be retried: mailer throttled")
	return []scenario{
		{"no approval", in, base(false, nil)},
		{"approved", in, base(true, map[string][]answer{"request_approval": {ok(map[string]any{"approved_by": "approver@example.org"})}})},
		{"rejected", in, base(true, map[string][]answer{"request_approval": {{Error: "BatchRejected", Cause: "wrong course name"}}})},
		{"changes requested", in, base(true, map[string][]answer{"request_approval": {{Error: "ChangesRequested", Cause: "row 7: misspelt name"}}})},
		{"retry twice then success", in, base(false, map[string][]answer{"issue/1": {retryable, retryable, chunk}})},
		{"permanent chunk failure", in, base(false, map[string][]answer{
			"issue/1":  {lambdaErr("TaskFailedError", "definition template broken")},
			"finalize": {finalized("completed_with_failures", 4, 4)},
		})},
		{"bounce-rate pause", in, base(false, map[string][]answer{
			"issue/1":  {lambdaErr("BatchPausedError", "batch b1 is paused: hard-bounce rate 9.0% over 5.0%")},
			"finalize": {finalized("paused_bounce_rate", 4, 0)},
		})},
		{"Lambda service error retried", in, base(false, map[string][]answer{"prepare": {lambdaErr("Lambda.ServiceException", "Rate exceeded"), prepared(false)}})},
		{"batch not ready", in, base(false, map[string][]answer{"prepare": {lambdaErr("BatchNotReadyError", "batch b1 is completed: nothing to issue")}})},
		{"plan fails for good: batch recorded failed", in, base(false, map[string][]answer{"plan": {lambdaErr("TaskFailedError", "store refused the plan")}})},
		{"finalize fails for good: batch recorded failed", in, base(false, map[string][]answer{"finalize": {lambdaErr("TaskFailedError", "summary email template broken")}})},
		{"recording the failure fails too", in, base(false, map[string][]answer{
			"plan": {lambdaErr("TaskFailedError", "store refused the plan")},
			"fail": {lambdaErr("TaskFailedError", "store refused the update")},
		})},
		{"chunk failure not recorded", in, base(false, map[string][]answer{
			"issue/0":      {lambdaErr("TaskFailedError", "definition template broken")},
			"chunk_failed": {lambdaErr("TaskFailedError", "store refused the rows")},
			"finalize":     {finalized("completed_with_failures", 4, 4)},
		})},
	}
}

// interpreterDifference is a known, documented disagreement between the engine and
// aws-local-stepfunctions (README, "The ASL engine against a second interpreter"): adapt
// rewrites the definition given to aws-local-stepfunctions so that the scenarios can be
// compared at all, and TestSecondInterpreter proves each difference is still there.
type interpreterDifference struct {
	name  string
	adapt func(def map[string]any)
	// scenario shows the difference: unadapted, aws-local-stepfunctions ends it with this
	// error where the engine (and AWS, by its documentation) succeeds.
	scenario, wantError string
}

var differences = []interpreterDifference{{
	name: "TimeoutSecondsPath is read from the Parameters result, not the state input",
	adapt: func(def map[string]any) {
		st := def["States"].(map[string]any)["RequestApproval"].(map[string]any)
		delete(st, "TimeoutSecondsPath")
		st["TimeoutSeconds"] = 3600 // the scenarios' approval_timeout_seconds
	},
	scenario: "approved", wantError: "States.Runtime",
}}

// taskStates names the definition's Task states (top level and in the Map) and says whether
// each is a plain lambda:invoke, whose result aws-local-stepfunctions' override must wrap
// in the invocation response ({Payload, StatusCode, ExecutedVersion}).
func taskStates(def map[string]any) map[string]bool {
	out := map[string]bool{}
	var walk func(states map[string]any)
	walk = func(states map[string]any) {
		for name, v := range states {
			st := v.(map[string]any)
			switch st["Type"] {
			case "Task":
				out[name] = st["Resource"] == "arn:aws:states:::lambda:invoke"
			case "Map":
				walk(st["ItemProcessor"].(map[string]any)["States"].(map[string]any))
			}
		}
	}
	walk(def["States"].(map[string]any))
	return out
}

// runSecond runs the scenarios in aws-local-stepfunctions (infra/testenv/aslcompare, set up
// by `make setup`).
func runSecond(t *testing.T, def map[string]any, scs []scenario) []outcome {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "infra", "testenv", "aslcompare")
	node, err := exec.LookPath("node")
	if _, serr := os.Stat(filepath.Join(dir, "node_modules", "aws-local-stepfunctions")); err != nil || serr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node or infra/testenv/aslcompare/node_modules is missing (run make setup): %v %v", err, serr)
		}
		t.Skip("node or aws-local-stepfunctions is not installed (make setup)")
	}
	spec, err := json.Marshal(map[string]any{"definition": def, "taskStates": taskStates(def), "scenarios": scs,
		"context": map[string]any{"Task": map[string]any{"Token": "scripted-task-token"},
			"Execution": map[string]any{"Id": "arn:aws:states:local:000000000000:execution:issuance:scripted", "Name": "scripted"}}})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "run.mjs")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(spec)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws-local-stepfunctions: %v\n%s", err, stderr.String())
	}
	var res []outcome
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("aws-local-stepfunctions output: %v\n%s", err, out)
	}
	return res
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("go.mod not found")
		}
		dir = filepath.Dir(dir)
	}
}

// definition returns the real definition with the substitutions applied, as a JSON value.
func definitionValue(t *testing.T) map[string]any {
	t.Helper()
	text := string(readRepoFile(t, "infra/statemachine/issuance.asl.json"))
	for k, v := range substitutions {
		text = strings.ReplaceAll(text, "${"+k+"}", v)
	}
	var def map[string]any
	if err := json.Unmarshal([]byte(text), &def); err != nil {
		t.Fatal(err)
	}
	return def
}

// TestSecondInterpreter runs the real definition in aws-local-stepfunctions and in the engine
// for the same scripted scenarios and requires the same states visited (top level in order,
// each Map iteration's states, the attempts each state entry took) and the same end.
func TestSecondInterpreter(t *testing.T) {
	scs := scenarios()
	adapted := definitionValue(t)
	for _, d := range differences {
		d.adapt(adapted)
	}
	start := time.Now()
	second := runSecond(t, adapted, scs)
	t.Logf("aws-local-stepfunctions ran %d scenarios in %s", len(scs), time.Since(start).Round(time.Millisecond))
	if len(second) != len(scs) {
		t.Fatalf("aws-local-stepfunctions returned %d outcomes for %d scenarios", len(second), len(scs))
	}
	for i, sc := range scs {
		t.Run(sc.Name, func(t *testing.T) {
			got, _ := runScripted(t, sc)
			want := normalize(t, second[i])
			if g := normalize(t, got); !reflect.DeepEqual(g, want) {
				t.Errorf("the interpreters disagree\n engine:                  %s\n aws-local-stepfunctions: %s", show(g), show(want))
			}
		})
	}
	for _, d := range differences {
		t.Run("known difference: "+d.name, func(t *testing.T) {
			var sc scenario
			for _, s := range scs {
				if s.Name == d.scenario {
					sc = s
				}
			}
			res := runSecond(t, definitionValue(t), []scenario{sc})
			if res[0].Status != "FAILED" || res[0].Error != d.wantError {
				t.Errorf("unadapted, aws-local-stepfunctions ended %q with %s %s (%s); the difference is gone: update the README and this table",
					d.scenario, res[0].Status, res[0].Error, res[0].Cause)
			}
			if got, _ := runScripted(t, sc); got.Status != "SUCCEEDED" {
				t.Errorf("the engine ended %q with %s %s, want SUCCEEDED", d.scenario, got.Status, got.Error)
			}
		})
	}
}

// normalize round-trips an outcome through JSON so numbers and empty maps compare alike.
func normalize(t *testing.T, o outcome) outcome {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var n outcome
	if err := json.Unmarshal(b, &n); err != nil {
		t.Fatal(err)
	}
	if len(n.Iterations) == 0 {
		n.Iterations = nil
	}
	return n
}

func show(o outcome) string {
	b, _ := json.Marshal(o)
	return fmt.Sprint(string(b))
}
