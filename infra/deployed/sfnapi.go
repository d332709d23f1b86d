package deployed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/credbatch/credbatch/infra/local/engine"
	"github.com/credbatch/credbatch/shared/credbatch"
)

// SFNAPI serves the part of the Step Functions API (JSON 1.0 protocol) that the functions
// call, backed by the local engine running the stack's state machine: StartExecution,
// DescribeExecution, SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat. Execution ARNs
// are the ones Step Functions gives: the machine's ARN with ":execution:" and the name.
type SFNAPI struct {
	Engine  *engine.Engine
	Machine StateMachine
	Now     func() time.Time
	// OnEnd receives the EventBridge event of each execution that ended (Step Functions
	// sends it to the default bus); nil sends none.
	OnEnd func(event []byte)

	mu    sync.Mutex
	execs map[string]*sfnExecution // by name
	calls map[string]int           // by operation
}

type sfnExecution struct {
	name, input          string
	started              time.Time
	engineID             string
	stopError, stopCause string
}

func (a *SFNAPI) executionARN(name string) string {
	return strings.Replace(a.Machine.Arn, ":stateMachine:", ":execution:", 1) + ":" + name
}

// Calls returns how often each operation was called.
func (a *SFNAPI) Calls() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]int{}
	for k, v := range a.calls {
		out[k] = v
	}
	return out
}

// sfnError is an error answer: HTTP 400 with the error code as __type.
type sfnError struct {
	code, msg string
}

func (e *sfnError) Error() string { return e.code + ": " + e.msg }

func (a *SFNAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "AWSStepFunctions.")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if !ok || err != nil {
		a.reply(w, nil, &sfnError{"UnknownOperationException", "unknown operation " + target})
		return
	}
	a.mu.Lock()
	if a.calls == nil {
		a.calls = map[string]int{}
	}
	a.calls[op]++
	a.mu.Unlock()
	var out any
	switch op {
	case "StartExecution":
		out, err = a.start(r.Context(), body)
	case "DescribeExecution":
		out, err = a.describe(r.Context(), body)
	case "SendTaskSuccess":
		var in struct{ TaskToken, Output string }
		if err = decodeSFN(body, &in); err == nil {
			err = taskError(a.Engine.Succeed(r.Context(), in.TaskToken, json.RawMessage(in.Output)))
		}
		out = struct{}{}
	case "StopExecution":
		out, err = a.stopExecution(r.Context(), body)
	case "SendTaskFailure":
		var in struct{ TaskToken, Error, Cause string }
		if err = decodeSFN(body, &in); err == nil {
			err = taskError(a.Engine.Fail(r.Context(), in.TaskToken, in.Error, in.Cause))
		}
		out = struct{}{}
	default:
		err = &sfnError{"UnknownOperationException", op + " is not served by the local Step Functions endpoint"}
	}
	a.reply(w, out, err)
}

func decodeSFN(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return &sfnError{"SerializationException", err.Error()}
	}
	return nil
}

func (a *SFNAPI) reply(w http.ResponseWriter, out any, err error) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if err != nil {
		var se *sfnError
		if !errors.As(err, &se) {
			se = &sfnError{"InternalFailure", err.Error()}
		}
		w.Header().Set("X-Amzn-Errortype", se.code)
		status := http.StatusBadRequest
		if se.code == "InternalFailure" {
			status = http.StatusInternalServerError
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.swf.service.v2.model#" + se.code, "message": se.msg})
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

// taskError maps the engine's task-token errors to Step Functions' codes.
func taskError(err error) error {
	switch {
	case err == nil:
		return nil
	case credbatch.ErrorKind(err) == credbatch.KindNotFound:
		return &sfnError{"TaskDoesNotExist", err.Error()}
	case credbatch.ErrorKind(err) == credbatch.KindConflict:
		return &sfnError{"TaskTimedOut", err.Error()}
	case credbatch.ErrorKind(err) == credbatch.KindInvalid:
		return &sfnError{"InvalidOutput", err.Error()}
	}
	return err
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func (a *SFNAPI) start(ctx context.Context, body []byte) (any, error) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
		Name            string `json:"name"`
		Input           string `json:"input"`
	}
	if err := decodeSFN(body, &in); err != nil {
		return nil, err
	}
	if in.StateMachineArn != a.Machine.Arn {
		return nil, &sfnError{"StateMachineDoesNotExist", "State Machine Does Not Exist: '" + in.StateMachineArn + "'"}
	}
	if in.Input == "" {
		in.Input = "{}"
	}
	a.mu.Lock()
	x, exists := a.execs[in.Name]
	a.mu.Unlock()
	if exists {
		// Step Functions answers a repeat of a RUNNING execution with the same input with
		// its ARN; anything else is ExecutionAlreadyExists.
		if st, _ := a.status(ctx, x); st == engine.StatusRunning && sameJSON(x.input, in.Input) {
			return map[string]any{"executionArn": a.executionARN(in.Name), "startDate": epoch(x.started)}, nil
		}
		return nil, &sfnError{"ExecutionAlreadyExists", "Execution Already Exists: '" + a.executionARN(in.Name) + "'"}
	}
	id, err := a.Engine.Start(ctx, in.Name, json.RawMessage(in.Input))
	if err != nil {
		if credbatch.ErrorKind(err) == credbatch.KindInvalid {
			return nil, &sfnError{"InvalidExecutionInput", err.Error()}
		}
		return nil, err
	}
	x = &sfnExecution{name: in.Name, input: in.Input, started: a.now(), engineID: id}
	a.mu.Lock()
	if a.execs == nil {
		a.execs = map[string]*sfnExecution{}
	}
	a.execs[in.Name] = x
	a.mu.Unlock()
	if a.OnEnd != nil {
		go a.announce(x)
	}
	return map[string]any{"executionArn": a.executionARN(in.Name), "startDate": epoch(x.started)}, nil
}

func (a *SFNAPI) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// status reads an execution's status without waiting for it to end.
func (a *SFNAPI) status(ctx context.Context, x *sfnExecution) (engine.Status, json.RawMessage) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	st, out, err := a.Engine.Wait(ctx, x.engineID)
	if err != nil && st == "" {
		return engine.StatusRunning, nil
	}
	return st, out
}

// Execution returns an execution's status and, when it ended, its output or error.
func (a *SFNAPI) Execution(ctx context.Context, name string) (engine.Status, json.RawMessage, error) {
	a.mu.Lock()
	x := a.execs[name]
	a.mu.Unlock()
	if x == nil {
		return "", nil, credbatch.NotFound("execution", name)
	}
	return a.Engine.Wait(ctx, x.engineID)
}

// Executions lists the names of the executions started through the endpoint.
func (a *SFNAPI) Executions() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for n := range a.execs {
		out = append(out, n)
	}
	return out
}

func (a *SFNAPI) describe(ctx context.Context, body []byte) (any, error) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
	}
	if err := decodeSFN(body, &in); err != nil {
		return nil, err
	}
	prefix := a.executionARN("")
	name, ok := strings.CutPrefix(in.ExecutionArn, prefix)
	a.mu.Lock()
	x := a.execs[name]
	a.mu.Unlock()
	if !ok || x == nil {
		return nil, &sfnError{"ExecutionDoesNotExist", "Execution Does Not Exist: '" + in.ExecutionArn + "'"}
	}
	ctx2, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	st, out, err := a.Engine.Wait(ctx2, x.engineID)
	res := map[string]any{"executionArn": in.ExecutionArn, "stateMachineArn": a.Machine.Arn, "name": name,
		"startDate": epoch(x.started), "input": x.input, "status": string(engine.StatusRunning)}
	var se *engine.StateError
	switch {
	case st == engine.StatusSucceeded:
		res["status"], res["output"] = string(st), string(out)
	case st == engine.StatusFailed && errors.As(err, &se):
		res["status"], res["error"], res["cause"] = string(st), se.Name, se.Cause
	case st == engine.StatusAborted:
		res["status"] = string(st)
	case st == "" && err != nil:
		return nil, fmt.Errorf("describe %s: %w", name, err)
	}
	return res, nil
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

// announce waits for the execution to end and sends its status-change event (not when the
// engine closes first: the execution is still running).
func (a *SFNAPI) announce(x *sfnExecution) {
	st, out, err := a.Engine.Wait(context.Background(), x.engineID)
	if st == "" || st == engine.StatusRunning {
		return
	}
	var errName, cause string
	var se *engine.StateError
	if errors.As(err, &se) {
		errName, cause = se.Name, se.Cause
	}
	if st == engine.StatusAborted {
		errName, cause = a.stopped(x.name)
	}
	a.OnEnd(executionEvent(a.Machine.Arn, a.executionARN(x.name), x.name, string(st), x.input, string(out), errName, cause, x.started, a.now()))
}

// stopped returns the error and cause a StopExecution gave.
func (a *SFNAPI) stopped(name string) (string, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	x := a.execs[name]
	return x.stopError, x.stopCause
}

func (a *SFNAPI) stopExecution(ctx context.Context, body []byte) (any, error) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
		Error        string `json:"error"`
		Cause        string `json:"cause"`
	}
	if err := decodeSFN(body, &in); err != nil {
		return nil, err
	}
	name, ok := strings.CutPrefix(in.ExecutionArn, a.executionARN(""))
	a.mu.Lock()
	x := a.execs[name]
	if x != nil {
		x.stopError, x.stopCause = in.Error, in.Cause
	}
	a.mu.Unlock()
	if !ok || x == nil {
		return nil, &sfnError{"ExecutionDoesNotExist", "Execution Does Not Exist: '" + in.ExecutionArn + "'"}
	}
	if err := a.Engine.Stop(ctx, x.engineID, in.Error, in.Cause); err != nil {
		return nil, err
	}
	return map[string]any{"stopDate": epoch(a.now())}, nil
}
