package flowtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/credbatch/credbatch/infra/local/engine"
)

// A scripted run executes the real definition with every task answering from a script, so
// that two interpreters (the engine and aws-local-stepfunctions) can be given exactly the
// same run, and so that plans far larger than a test's store can hold (2,000 failing chunks)
// cost no real work.

// answer is one scripted task answer: the function's result, or a function error (Error is
// its errorType, Cause the Cause Step Functions reports). For the approval task (a
// .waitForTaskToken task) Output is what SendTaskSuccess sends and Error/Cause what
// SendTaskFailure sends.
type answer struct {
	Output any    `json:"output,omitempty"`
	Error  string `json:"error,omitempty"`
	Cause  string `json:"cause,omitempty"`
}

// ok is a result; lambdaErr a function error as aws-lambda-go reports a Go error of type typ.
func ok(v any) answer { return answer{Output: v} }

func lambdaErr(typ, msg string) answer {
	return answer{Error: typ, Cause: engine.Cause(messages.InvokeResponse_Error{Type: typ, Message: msg})}
}

// scenario is a scripted run: the answers per task key (the payload's action, or
// "issue/<chunk>"), one per call, the last one repeating.
type scenario struct {
	Name    string              `json:"name"`
	Input   any                 `json:"input"`
	Answers map[string][]answer `json:"answers"`
}

// outcome is what an interpreter did with a scenario: the top-level states entered in order,
// the states each Map iteration entered, how many attempts each entry of a state took
// ("<iteration>/<state>#<entry>"), and the execution's end.
type outcome struct {
	Name       string              `json:"name"`
	Top        []string            `json:"top"`
	Iterations map[string][]string `json:"iterations"`
	Attempts   map[string]int      `json:"attempts"`
	Status     string              `json:"status"`
	Output     any                 `json:"output,omitempty"`
	Error      string              `json:"error,omitempty"`
	Cause      string              `json:"cause,omitempty"`
}

// script hands out a scenario's answers.
type script struct {
	mu    sync.Mutex
	sc    scenario
	calls map[string]int
}

func (s *script) next(key string) (answer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.sc.Answers[key]
	if len(list) == 0 {
		return answer{}, messages.InvokeResponse_Error{Type: "Script.Missing", Message: "no scripted answer for " + key}
	}
	n := s.calls[key]
	s.calls[key] = n + 1
	return list[min(n, len(list)-1)], nil
}

// taskKey is the script key of a payload: its action, or issue/<chunk> for a chunk.
func taskKey(p json.RawMessage) string {
	var t struct {
		Action *string `json:"action"`
		Chunk  int     `json:"chunk"`
	}
	_ = json.Unmarshal(p, &t)
	if t.Action != nil {
		return *t.Action
	}
	return "issue/" + strconv.Itoa(t.Chunk)
}

// runScripted runs a scenario of the real definition in the engine and returns the outcome
// and the engine (for its history and figures).
func runScripted(t testing.TB, sc scenario) (outcome, *engine.Engine) {
	t.Helper()
	s := &script{sc: sc, calls: map[string]int{}}
	var e *engine.Engine
	task := func(_ context.Context, p json.RawMessage) (json.RawMessage, error) {
		a, err := s.next(taskKey(p))
		if err != nil {
			return nil, err
		}
		if a.Error != "" {
			var doc messages.InvokeResponse_Error
			if err := json.Unmarshal([]byte(a.Cause), &doc); err != nil {
				return nil, fmt.Errorf("scripted cause of %s is not a Lambda error document: %w", a.Error, err)
			}
			return nil, doc
		}
		return json.Marshal(a.Output)
	}
	approval := func(_ context.Context, p json.RawMessage) (json.RawMessage, error) {
		var in struct {
			Token string `json:"task_token"`
		}
		if err := json.Unmarshal(p, &in); err != nil || in.Token == "" {
			return nil, errors.New("the approval task got no task token")
		}
		a, err := s.next("request_approval")
		if err != nil {
			return nil, err
		}
		go func() { // the approver answers through the Workflow port, as the API does
			ctx := context.Background()
			var err error
			if a.Error != "" {
				err = e.Fail(ctx, in.Token, a.Error, a.Cause)
			} else {
				out, _ := json.Marshal(a.Output)
				err = e.Succeed(ctx, in.Token, out)
			}
			if err != nil {
				t.Errorf("answer the approval task: %v", err)
			}
		}()
		return json.RawMessage(`{}`), nil
	}
	tasks := map[string]engine.Handler{
		substitutions["WorkflowFunctionArn"]: task,
		substitutions["ApprovalFunctionArn"]: approval,
		substitutions["IssueFunctionArn"]:    task,
	}
	m, err := engine.Load(readRepoFile(t, "infra/statemachine/issuance.asl.json"), substitutions, tasks)
	if err != nil {
		t.Fatalf("engine.Load: %v", err)
	}
	clock := engine.NewVirtualClock(epoch, time.Hour)
	e, err = engine.Open(context.Background(), filepath.Join(t.TempDir(), "engine.db"), m, engine.Options{Clock: clock, Rand: func() float64 { return 1 }, Log: quiet})
	if err != nil {
		t.Fatalf("engine.Open: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	in, _ := json.Marshal(sc.Input)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id, err := e.Start(ctx, "scripted", in)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	status, output, err := e.Wait(ctx, id)
	out := outcome{Name: sc.Name, Status: string(status), Iterations: map[string][]string{}, Attempts: map[string]int{}}
	var se *engine.StateError
	switch {
	case status == engine.StatusSucceeded:
		if err := json.Unmarshal(output, &out.Output); err != nil {
			t.Fatalf("output: %v", err)
		}
	case errors.As(err, &se):
		out.Error, out.Cause = se.Name, se.Cause
	default:
		t.Fatalf("execution: status %s, err %v", status, err)
	}
	history, err := e.History("scripted")
	if err != nil {
		t.Fatal(err)
	}
	top := topLevelStates(t)
	iter := ""
	entries := map[string]int{}    // "<iteration>/<state>" → entries so far
	scheduled := map[string]bool{} // entry → its task was scheduled once (later ones are retries)
	entryOf := func(state string) string {
		where := iter
		if top[state] {
			where = ""
		}
		k := where + "/" + state
		return fmt.Sprintf("%s#%d", k, entries[k])
	}
	for _, ev := range history {
		switch {
		case ev.Type == "MapIterationStarted":
			iter = ev.Detail
		case strings.HasSuffix(ev.Type, "StateEntered"):
			if top[ev.State] {
				out.Top = append(out.Top, ev.State)
				entries["/"+ev.State]++
			} else {
				out.Iterations[iter] = append(out.Iterations[iter], ev.State)
				entries[iter+"/"+ev.State]++
			}
			out.Attempts[entryOf(ev.State)] = 1
		case ev.Type == "TaskScheduled":
			k := entryOf(ev.State)
			if scheduled[k] {
				out.Attempts[k]++
			}
			scheduled[k] = true
		}
	}
	return out, e
}

// topLevelStates names the definition's top-level states.
func topLevelStates(t testing.TB) map[string]bool {
	t.Helper()
	var def struct {
		States map[string]json.RawMessage `json:"States"`
	}
	if err := json.Unmarshal(readRepoFile(t, "infra/statemachine/issuance.asl.json"), &def); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for n := range def.States {
		names[n] = true
	}
	return names
}
