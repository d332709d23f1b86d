package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/credbatch/credbatch/shared/credbatch"
)

const fn = "arn:aws:lambda:us-east-1:000000000000:function:f"

type RetryableError struct{ Msg string }

func (e *RetryableError) Error() string { return e.Msg }

type FatalError struct{}

func (FatalError) Error() string { return "fatal" }

func TestErrorName(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&RetryableError{"x"}, "RetryableError"},
		{FatalError{}, "FatalError"},
		{errors.New("plain"), "errorString"},
		{fmt.Errorf("wrapped: %w", &RetryableError{"x"}), "wrapError"},
		{credbatch.NotFound("batch", "b1"), "Error"},
		{&PanicError{Value: "boom"}, "string"}, // aws-lambda-go names a panic by its value's type
		{&PanicError{Value: &RetryableError{"x"}}, "RetryableError"},
		{messages.InvokeResponse_Error{Type: "Scripted", Message: "m"}, "Scripted"},
		{&messages.InvokeResponse_Error{Type: "Scripted", Message: "m"}, "Scripted"},
	}
	for _, tt := range tests {
		if got := ErrorName(tt.err); got != tt.want {
			t.Errorf("ErrorName(%T) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestPipeline(t *testing.T) {
	tests := []struct {
		name, def, input, want string
	}{
		{
			name:  "task result shape, selector and path",
			def:   `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"` + fn + `","Payload":{"id.$":"$.id","exec.$":"$$.Execution.Name","state.$":"$$.State.Name","fixed":1}},"ResultSelector":{"p.$":"$.Payload","code.$":"$.StatusCode","v.$":"$.ExecutedVersion"},"ResultPath":"$.r","End":true}}}`,
			input: `{"id":"b1"}`,
			want:  `{"id":"b1","r":{"code":200,"p":{"exec":"pipeline","fixed":1,"id":"b1","state":"T"},"v":"$LATEST"}}`,
		},
		{
			name:  "input, result and output paths",
			def:   `{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":"$.in","Result":{"x":1},"ResultPath":"$.out","OutputPath":"$.out","End":true}}}`,
			input: `{"in":{"a":2},"other":3}`,
			want:  `{"x":1}`,
		},
		{
			name:  "result path null keeps the input",
			def:   `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":"dropped","ResultPath":null,"End":true}}}`,
			input: `{"a":1}`,
			want:  `{"a":1}`,
		},
		{
			name:  "parameters with context and nested objects",
			def:   `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"outer":{"v.$":"$.a[1]"},"name.$":"$$.Execution.Input.a[0]"},"End":true}}}`,
			input: `{"a":["zero","one"]}`,
			want:  `{"name":"zero","outer":{"v":"one"}}`,
		},
		{
			name:  "map with item selector, order kept",
			def:   `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","MaxConcurrencyPath":"$.conc","ItemSelector":{"v.$":"$$.Map.Item.Value","i.$":"$$.Map.Item.Index","tag.$":"$.tag"},"ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"` + fn + `","Payload.$":"$"},"OutputPath":"$.Payload","End":true}}},"ResultPath":"$.results","End":true}}}`,
			input: `{"items":[10,20,30],"conc":2,"tag":"t"}`,
			want:  `{"conc":2,"items":[10,20,30],"results":[{"i":0,"tag":"t","v":10},{"i":1,"tag":"t","v":20},{"i":2,"tag":"t","v":30}],"tag":"t"}`,
		},
		{
			name:  "legacy map parameters and iterator",
			def:   `{"StartAt":"M","States":{"M":{"Type":"Map","Parameters":{"v.$":"$$.Map.Item.Value"},"Iterator":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`,
			input: `[1,2]`,
			want:  `[{"v":1},{"v":2}]`,
		},
		{
			name:  "wait seconds path on the virtual clock",
			def:   `{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","Next":"D"},"D":{"Type":"Succeed"}}}`,
			input: `{"s":30}`,
			want:  `{"s":30}`,
		},
		{
			name:  "wait timestamp in the past",
			def:   `{"StartAt":"W","States":{"W":{"Type":"Wait","Timestamp":"2020-01-01T00:00:00Z","End":true}}}`,
			input: `{}`,
			want:  `{}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := mustOpen(t, tt.def, map[string]Handler{fn: echo})
			st, got, err := run(t, e, "pipeline", tt.input)
			if err != nil || st != StatusSucceeded {
				t.Fatalf("status %s, err %v", st, err)
			}
			if got != tt.want {
				t.Errorf("output\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestChoice(t *testing.T) {
	rule := func(r string) string {
		return `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[` + r + `],"Default":"No"},"Yes":{"Type":"Pass","Result":"yes","End":true},"No":{"Type":"Pass","Result":"no","End":true}}}`
	}
	tests := []struct {
		rule, input, want string
	}{
		{`{"Variable":"$.b","BooleanEquals":true,"Next":"Yes"}`, `{"b":true}`, `"yes"`},
		{`{"Variable":"$.b","BooleanEquals":true,"Next":"Yes"}`, `{"b":false}`, `"no"`},
		{`{"Variable":"$.s","StringEquals":"x","Next":"Yes"}`, `{"s":"x"}`, `"yes"`},
		{`{"Variable":"$.s","StringEqualsPath":"$.t","Next":"Yes"}`, `{"s":"x","t":"x"}`, `"yes"`},
		{`{"Variable":"$.n","NumericEquals":3,"Next":"Yes"}`, `{"n":3.0}`, `"yes"`},
		{`{"Variable":"$.n","NumericLessThan":3,"Next":"Yes"}`, `{"n":2}`, `"yes"`},
		{`{"Variable":"$.n","NumericGreaterThan":3,"Next":"Yes"}`, `{"n":3}`, `"no"`},
		{`{"Variable":"$.n","NumericGreaterThanEqualsPath":"$.m","Next":"Yes"}`, `{"n":3,"m":3}`, `"yes"`},
		{`{"Variable":"$.n","NumericLessThanPath":"$.m","Next":"Yes"}`, `{"n":4,"m":3}`, `"no"`},
		{`{"Variable":"$.missing","IsPresent":false,"Next":"Yes"}`, `{}`, `"yes"`},
		{`{"Variable":"$.x","IsNull":true,"Next":"Yes"}`, `{"x":null}`, `"yes"`},
		{`{"And":[{"Variable":"$.a","BooleanEquals":true},{"Not":{"Variable":"$.n","NumericEquals":1}}],"Next":"Yes"}`, `{"a":true,"n":2}`, `"yes"`},
		{`{"Or":[{"Variable":"$.a","BooleanEquals":true},{"Variable":"$.n","NumericEquals":1}],"Next":"Yes"}`, `{"a":false,"n":2}`, `"no"`},
	}
	for _, tt := range tests {
		t.Run(tt.rule+tt.input, func(t *testing.T) {
			e, _ := mustOpen(t, rule(tt.rule), nil)
			st, got, err := run(t, e, "choice", tt.input)
			if err != nil || st != StatusSucceeded {
				t.Fatalf("status %s, err %v", st, err)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	t.Run("missing variable is a runtime error", func(t *testing.T) {
		e, _ := mustOpen(t, rule(`{"Variable":"$.b","BooleanEquals":true,"Next":"Yes"}`), nil)
		st, _, err := run(t, e, "choice", `{}`)
		var se *StateError
		if st != StatusFailed || !errors.As(err, &se) || se.Name != ErrRuntime {
			t.Errorf("status %s, err %v; want FAILED with %s", st, err, ErrRuntime)
		}
	})
}

// flaky fails with the given errors in order, then echoes.
func flaky(errs ...error) (Handler, *atomic.Int32) {
	var calls atomic.Int32
	return func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
		n := int(calls.Add(1))
		if n <= len(errs) {
			return nil, errs[n-1]
		}
		return p, nil
	}, &calls
}

func TestRetryAndCatch(t *testing.T) {
	def := `{"StartAt":"T","States":{
		"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"` + fn + `","Payload.$":"$"},
			"TimeoutSeconds":300,
			"Retry":[{"ErrorEquals":["RetryableError"],"IntervalSeconds":2,"MaxAttempts":2,"BackoffRate":3,"MaxDelaySeconds":5,"JitterStrategy":"FULL"},
			         {"ErrorEquals":["States.Timeout"],"MaxAttempts":1}],
			"Catch":[{"ErrorEquals":["States.TaskFailed"],"ResultPath":"$.error","Next":"Caught"}],
			"OutputPath":"$.Payload","End":true},
		"Caught":{"Type":"Pass","End":true}}}`
	started := make(chan struct{}, 2)
	slow := func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	tests := []struct {
		name      string
		handler   func() (Handler, *atomic.Int32)
		wantCalls int32
		want      string
		wantErr   string
	}{
		{"retried twice then succeeds", func() (Handler, *atomic.Int32) { return flaky(&RetryableError{"a"}, &RetryableError{"b"}) }, 3, `{"k":1}`, ""},
		{"retries exhausted then caught", func() (Handler, *atomic.Int32) {
			return flaky(&RetryableError{"a"}, &RetryableError{"b"}, &RetryableError{"c"})
		}, 3, `{"error":{"Cause":"{\"errorMessage\":\"c\",\"errorType\":\"RetryableError\"}","Error":"RetryableError"},"k":1}`, ""},
		{"not retried, caught by States.TaskFailed", func() (Handler, *atomic.Int32) { return flaky(FatalError{}) }, 1, `{"error":{"Cause":"{\"errorMessage\":\"fatal\",\"errorType\":\"FatalError\"}","Error":"FatalError"},"k":1}`, ""},
		{"a Lambda error document is reported as it is", func() (Handler, *atomic.Int32) {
			return flaky(messages.InvokeResponse_Error{Type: "Scripted.Error", Message: "scripted"})
		}, 1, `{"error":{"Cause":"{\"errorMessage\":\"scripted\",\"errorType\":\"Scripted.Error\"}","Error":"Scripted.Error"},"k":1}`, ""},
		{"timeout retried once, then fails the execution", func() (Handler, *atomic.Int32) {
			var n atomic.Int32
			return func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
				n.Add(1)
				started <- struct{}{}
				return slow(ctx, p)
			}, &n
		}, 2, "", ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, calls := tt.handler()
			e, clock := mustOpen(t, def, map[string]Handler{fn: h})
			if tt.wantErr != "" {
				// Task timeouts fire when the virtual clock is advanced past them, once
				// each attempt has reached its handler (advancing earlier would time out
				// the retry before it is called).
				go func() {
					for i := 1; i <= 2; i++ {
						<-started
						if clock.WaitTimers(context.Background(), 1) == nil {
							clock.Advance(300 * time.Second)
						}
					}
				}()
			}
			st, got, err := run(t, e, "retry", `{"k":1}`)
			if tt.wantErr != "" {
				var se *StateError
				if st != StatusFailed || !errors.As(err, &se) || se.Name != tt.wantErr {
					t.Fatalf("status %s, err %v; want FAILED with %s", st, err, tt.wantErr)
				}
			} else {
				if err != nil || st != StatusSucceeded {
					t.Fatalf("status %s, err %v", st, err)
				}
				if got != tt.want {
					t.Errorf("output\n got %s\nwant %s", got, tt.want)
				}
			}
			if n := calls.Load(); n != tt.wantCalls {
				t.Errorf("handler called %d times, want %d", n, tt.wantCalls)
			}
		})
	}
	t.Run("backoff intervals", func(t *testing.T) {
		h, _ := flaky(&RetryableError{"a"}, &RetryableError{"b"})
		e, clock := mustOpen(t, def, map[string]Handler{fn: h})
		if _, _, err := run(t, e, "backoff", `{}`); err != nil {
			t.Fatal(err)
		}
		// 2 s, then 2×3 = 6 s capped at MaxDelaySeconds 5 (jitter factor fixed at 1).
		if got, want := clock.Now().Sub(epoch), 7*time.Second; got != want {
			t.Errorf("virtual time spent in retries = %s, want %s", got, want)
		}
		// Step Functions records a retry as another TaskScheduled, TaskStarted and TaskFailed
		// in the same state (no event of its own).
		if ev := eventTypes(t, e, "backoff"); ev["TaskScheduled"] != 3 || ev["TaskFailed"] != 2 || ev["TaskStateEntered"] != 1 {
			t.Errorf("events = %v, want 3 TaskScheduled, 2 TaskFailed and 1 TaskStateEntered", ev)
		}
	})
}

func TestMapFailureAndFailState(t *testing.T) {
	def := `{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":1,"ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"` + fn + `","Payload.$":"$"},"End":true}}},"Catch":[{"ErrorEquals":["FatalError"],"Next":"Bad"}],"End":true},
		"Bad":{"Type":"Fail","Error":"Custom.Failed","Cause":"a chunk failed"}}}`
	var calls atomic.Int32
	h := func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
		calls.Add(1)
		if string(p) == "2" {
			return nil, FatalError{}
		}
		return p, nil
	}
	e, _ := mustOpen(t, def, map[string]Handler{fn: h})
	st, _, err := run(t, e, "map", `[1,2,3,4]`)
	var se *StateError
	if st != StatusFailed || !errors.As(err, &se) || se.Name != "Custom.Failed" || se.Cause != "a chunk failed" {
		t.Fatalf("status %s, err %v; want FAILED with Custom.Failed", st, err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("handler calls = %d, want 2 (the Map stops at the failed item with concurrency 1)", n)
	}
	ev := eventTypes(t, e, "map")
	for _, typ := range []string{"ExecutionStarted", "MapStateEntered", "MapStateStarted", "MapIterationStarted", "MapIterationFailed", "MapStateFailed", "FailStateEntered", "TaskScheduled", "TaskSucceeded", "TaskFailed", "ExecutionFailed"} {
		if ev[typ] == 0 {
			t.Errorf("history has no %s event: %v", typ, ev)
		}
	}
}

func TestStartIsIdempotent(t *testing.T) {
	e, _ := mustOpen(t, `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`, nil)
	ctx := context.Background()
	id1, err := e.Start(ctx, "b1", json.RawMessage(`{"batch_id":"b1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Wait(ctx, id1); err != nil {
		t.Fatal(err)
	}
	id2, err := e.Start(ctx, "b1", json.RawMessage(`{ "batch_id" : "b1" }`))
	if err != nil || id2 != id1 {
		t.Errorf("second Start = %q, %v; want %q, nil", id2, err, id1)
	}
	if _, err := e.Start(ctx, "b1", json.RawMessage(`{"batch_id":"other"}`)); !credbatch.IsKind(err, credbatch.KindConflict) {
		t.Errorf("Start with another input: err = %v, want KindConflict", err)
	}
	if n := eventTypes(t, e, "b1")["ExecutionStarted"]; n != 1 {
		t.Errorf("ExecutionStarted events = %d, want 1", n)
	}
	if _, _, err := e.Wait(ctx, "nope"); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Errorf("Wait(unknown) err = %v, want KindNotFound", err)
	}
	if _, err := e.History("nope"); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Errorf("History(unknown) err = %v, want KindNotFound", err)
	}
}

func TestDataLimit(t *testing.T) {
	big := func(context.Context, json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(`"` + strings.Repeat("x", maxPayload) + `"`), nil
	}
	e, _ := mustOpen(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"`+fn+`","Payload":{}},"Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}],"End":true},"C":{"Type":"Succeed"}}}`, map[string]Handler{fn: big})
	st, _, err := run(t, e, "big", `{}`)
	var se *StateError
	if st != StatusFailed || !errors.As(err, &se) || se.Name != ErrDataLimitExceeded {
		t.Errorf("status %s, err %v; want FAILED with %s (not caught by States.ALL)", st, err, ErrDataLimitExceeded)
	}
	if got := e.Stats().LargestPayload; got <= maxPayload {
		t.Errorf("Stats().LargestPayload = %d, want > %d", got, maxPayload)
	}
}

func TestHistory(t *testing.T) {
	def := `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":5,"Next":"T"},"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"` + fn + `","Payload":{"a":"xyz"}},"End":true}}}`
	e, _ := mustOpen(t, def, map[string]Handler{fn: echo})
	if st, _, err := run(t, e, "h", `{}`); err != nil || st != StatusSucceeded {
		t.Fatalf("run: %s, %v", st, err)
	}
	h, err := e.History("h")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for i, ev := range h {
		types = append(types, ev.Type)
		if ev.Seq != int64(i+1) {
			t.Errorf("event %d has Seq %d", i, ev.Seq)
		}
		if i > 0 && ev.At.Before(h[i-1].At) {
			t.Errorf("event %d (%s) at %s is before the previous one", i, ev.Type, ev.At)
		}
		if ev.Type == "TaskScheduled" || ev.Type == "TaskSucceeded" {
			if ev.Size != len(`{"a":"xyz"}`) {
				t.Errorf("%s size = %d, want %d", ev.Type, ev.Size, len(`{"a":"xyz"}`))
			}
		}
	}
	want := "ExecutionStarted WaitStateEntered WaitStateExited TaskStateEntered TaskScheduled TaskStarted TaskSucceeded TaskStateExited ExecutionSucceeded"
	if got := strings.Join(types, " "); got != want {
		t.Errorf("history\n got %s\nwant %s", got, want)
	}
	if d := h[len(h)-1].At.Sub(h[0].At); d != 5*time.Second {
		t.Errorf("the execution took %s of virtual time, want the 5 s wait", d)
	}
}

func TestPanicCause(t *testing.T) {
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"` + fn + `","Payload.$":"$"},"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"C"}],"End":true},"C":{"Type":"Succeed"}}}`
	e, _ := mustOpen(t, def, map[string]Handler{fn: func(context.Context, json.RawMessage) (json.RawMessage, error) { panic("boom") }})
	st, out, err := run(t, e, "panic", `{}`)
	if err != nil || st != StatusSucceeded {
		t.Fatalf("status %s, err %v", st, err)
	}
	var got struct {
		Error struct{ Error, Cause string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	var doc messages.InvokeResponse_Error
	if err := json.Unmarshal([]byte(got.Error.Cause), &doc); err != nil {
		t.Fatalf("Cause %q is not a Lambda error document: %v", got.Error.Cause, err)
	}
	if got.Error.Error != "string" || doc.Type != "string" || doc.Message != "boom" || len(doc.StackTrace) == 0 {
		t.Errorf("error %q, cause %+v; want errorType string, errorMessage boom and a stack trace", got.Error.Error, doc)
	}
	found := false
	for _, f := range doc.StackTrace {
		found = found || strings.HasPrefix(f.Label, "TestPanicCause")
	}
	if !found {
		t.Errorf("stack trace has no frame of the panicking handler: %+v", doc.StackTrace[0])
	}
}

// TestExecutionIDIsWhatStartReturns: $$.Execution.Id and $$.StateMachine.Id are the ids
// Step Functions would give, under the default machine ARN and under another one (the
// deployed harness runs the stack's), and equal to what Start returns.
func TestExecutionIDIsWhatStartReturns(t *testing.T) {
	const def = `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"exec.$":"$$.Execution.Id","machine.$":"$$.StateMachine.Id","name.$":"$$.StateMachine.Name"},"End":true}}}`
	for _, arn := range []string{"", "arn:aws:states:eu-west-1:123456789012:stateMachine:IssuanceStateMachine-AbC"} {
		m, err := Load([]byte(def), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		e, err := Open(context.Background(), filepath.Join(t.TempDir(), "engine.db"), m, Options{MachineARN: arn})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		id, err := e.Start(ctx, "b1", json.RawMessage(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		st, out, err := e.Wait(ctx, id)
		e.Close()
		want := arn
		if want == "" {
			want = MachineARN
		}
		var got struct{ Exec, Machine, Name string }
		if err := json.Unmarshal(out, &got); err != nil || st != StatusSucceeded {
			t.Fatalf("%s: %s %s %v", arn, st, out, err)
		}
		wantID := strings.Replace(want, ":stateMachine:", ":execution:", 1) + ":b1"
		if id != wantID || got.Exec != id || got.Machine != want || got.Name != want[strings.LastIndex(want, ":")+1:] {
			t.Errorf("machine %q: Start returned %s, the context says execution %s of %s (%s); want %s of %s", arn, id, got.Exec, got.Machine, got.Name, wantID, want)
		}
	}
}
