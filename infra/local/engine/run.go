package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Error names the engine raises itself, as Step Functions does.
const (
	ErrRuntime           = "States.Runtime"
	ErrTimeout           = "States.Timeout"
	ErrTaskFailed        = "States.TaskFailed"
	ErrAll               = "States.ALL"
	ErrNoChoiceMatched   = "States.NoChoiceMatched"
	ErrDataLimitExceeded = "States.DataLimitExceeded"
)

// maxPayload is Step Functions' limit on a state's input, result or output (256 KiB).
const maxPayload = 256 * 1024

// StateError is an error inside an execution: a task failure, a timeout, a Fail state or a
// runtime error, with the name Retry and Catch match on.
type StateError struct {
	Name  string
	Cause string
}

func (e *StateError) Error() string {
	if e.Cause == "" {
		return e.Name
	}
	return e.Name + ": " + e.Cause
}

func runtimeErr(st *state, format string, args ...any) *StateError {
	return &StateError{Name: ErrRuntime, Cause: fmt.Sprintf("state %q: %s", st.name, fmt.Sprintf(format, args...))}
}

// execution is one running execution.
type execution struct {
	e       *Engine
	id      string
	name    string
	input   any
	started time.Time
	seq     atomic.Int64
	done    chan struct{}
	cancel  context.CancelFunc // Stop: ends runGraph
	aborted atomic.Pointer[StateError]
}

// mapItem is the $$.Map.Item of an iteration.
type mapItem struct {
	index int
	value any
}

func (x *execution) contextObject(st *state, entered time.Time, retries int, token string, item *mapItem) map[string]any {
	c := map[string]any{
		"Execution": map[string]any{
			"Id": x.id, "Name": x.name, "Input": x.input, "StartTime": x.started.UTC().Format(time.RFC3339Nano),
		},
		"StateMachine": map[string]any{"Id": x.e.arn, "Name": x.e.arn[strings.LastIndex(x.e.arn, ":")+1:]},
		"State":        map[string]any{"Name": st.name, "EnteredTime": entered.UTC().Format(time.RFC3339Nano), "RetryCount": retries},
	}
	if token != "" {
		c["Task"] = map[string]any{"Token": token}
	}
	if item != nil {
		c["Map"] = map[string]any{"Item": map[string]any{"Index": item.index, "Value": item.value}}
	}
	return c
}

// runGraph runs the states of g from start until one ends; top-level states are
// checkpointed so that a restarted engine resumes from the state it was in.
func (x *execution) runGraph(ctx context.Context, g *graph, start string, input any, top bool, key string) (any, error) {
	name := start
	for {
		st := g.states[name]
		if top {
			x.e.checkpoint(x.id, name, input)
		}
		out, next, err := x.runState(ctx, st, input, key+name)
		if err != nil {
			return nil, err
		}
		if next == "" {
			return out, nil
		}
		name, input = next, out
	}
}

// runState runs one state: InputPath → (Parameters) → work → ResultSelector → ResultPath →
// OutputPath, with Retry and Catch. It returns the output and the next state ("" to end).
func (x *execution) runState(ctx context.Context, st *state, input any, key string) (any, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	entered := x.e.clock.Now()
	x.event(st.typ+"StateEntered", st.name, input, "")
	out, next, err := x.work(ctx, st, input, key, entered)
	if err != nil {
		return nil, "", err
	}
	if size := x.e.observe(st.name, out); size > maxPayload {
		return nil, "", &StateError{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("state %q: output of %d bytes is over the 256 KiB limit", st.name, size)}
	}
	x.event(st.typ+"StateExited", st.name, out, "")
	return out, next, nil
}

func (x *execution) work(ctx context.Context, st *state, input any, key string, entered time.Time) (any, string, error) {
	eff := input
	switch {
	case st.inputNull:
		eff = map[string]any{}
	case st.inputPath != nil:
		v, ok := st.inputPath.get(input, nil)
		if !ok {
			return nil, "", runtimeErr(st, "InputPath %s matched nothing", st.inputPath.text)
		}
		eff = v
	}
	ctxObj := x.contextObject(st, entered, 0, "", nil)
	switch st.typ {
	case "Succeed":
		out, err := x.output(st, eff)
		return out, "", err
	case "Fail":
		return nil, "", &StateError{Name: st.errName, Cause: st.cause}
	case "Choice":
		for _, r := range st.choices {
			ok, err := r.match(eff, ctxObj)
			if err != nil {
				return nil, "", runtimeErr(st, "%v", err)
			}
			if ok {
				out, err := x.output(st, eff)
				return out, r.next, err
			}
		}
		if st.dflt == "" {
			return nil, "", &StateError{Name: ErrNoChoiceMatched, Cause: fmt.Sprintf("state %q: no choice rule matched and there is no Default", st.name)}
		}
		out, err := x.output(st, eff)
		return out, st.dflt, err
	case "Pass":
		result := eff
		if st.parameters != nil {
			v, err := st.parameters.eval(eff, ctxObj)
			if err != nil {
				return nil, "", runtimeErr(st, "Parameters: %v", err)
			}
			result = v
		}
		if st.hasResult {
			result = st.result
		}
		out, err := x.finish(st, input, result, ctxObj)
		return out, st.next, err
	case "Wait":
		d, err := x.waitFor(st, eff)
		if err != nil {
			return nil, "", err
		}
		select {
		case <-x.e.clock.Sleep(d):
		case <-ctx.Done():
			return nil, "", ctx.Err()
		}
		out, err := x.output(st, eff)
		return out, st.next, err
	}
	// Task and Map: Retry and Catch.
	attempts := make([]int, len(st.retry))
	retries := 0
	for {
		var result any
		var err error
		if st.typ == "Map" {
			result, err = x.mapState(ctx, st, eff, key, entered)
		} else {
			result, err = x.task(ctx, st, eff, key, entered, retries)
		}
		if err == nil {
			out, ferr := x.finish(st, input, result, ctxObj)
			if ferr == nil {
				return out, st.next, nil
			}
			err = ferr
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		var se *StateError
		if !errors.As(err, &se) {
			se = &StateError{Name: ErrRuntime, Cause: err.Error()}
		}
		if se.Name == ErrRuntime || se.Name == ErrDataLimitExceeded {
			return nil, "", se
		}
		if i := matchRetry(st.retry, se.Name); i >= 0 && attempts[i] < st.retry[i].max {
			r := st.retry[i]
			delay := float64(r.interval) * math.Pow(r.backoff, float64(attempts[i]))
			if r.maxDelay > 0 {
				delay = math.Min(delay, float64(r.maxDelay))
			}
			if r.jitter {
				delay *= x.e.rand()
			}
			attempts[i]++
			retries++
			select {
			case <-x.e.clock.Sleep(time.Duration(delay)):
			case <-ctx.Done():
				return nil, "", ctx.Err()
			}
			continue
		}
		for _, c := range st.catch {
			if !matches(c.errors, se.Name) {
				continue
			}
			if c.resultNull {
				return input, c.next, nil
			}
			out, perr := c.resultPath.set(input, map[string]any{"Error": se.Name, "Cause": se.Cause})
			if perr != nil {
				return nil, "", runtimeErr(st, "Catch: %v", perr)
			}
			return out, c.next, nil
		}
		return nil, "", se
	}
}

// matches reports whether an ErrorEquals list matches the error name.
func matches(list []string, name string) bool {
	for _, e := range list {
		switch {
		case e == name, e == ErrAll:
			return true
		case e == ErrTaskFailed && name != ErrTimeout:
			return true
		}
	}
	return false
}

func matchRetry(rs []retrier, name string) int {
	for i, r := range rs {
		if matches(r.errors, name) {
			return i
		}
	}
	return -1
}

// finish applies ResultSelector, ResultPath and OutputPath to a state's result.
func (x *execution) finish(st *state, input, result, ctxObj any) (any, error) {
	if st.resultSel != nil {
		v, err := st.resultSel.eval(result, ctxObj)
		if err != nil {
			return nil, runtimeErr(st, "ResultSelector: %v", err)
		}
		result = v
	}
	out := result
	switch {
	case st.resultNull:
		out = input
	case st.resultPath != nil:
		v, err := st.resultPath.set(input, result)
		if err != nil {
			return nil, runtimeErr(st, "%v", err)
		}
		out = v
	}
	return x.output(st, out)
}

func (x *execution) output(st *state, v any) (any, error) {
	switch {
	case st.outputNull:
		return map[string]any{}, nil
	case st.outputPath != nil:
		out, ok := st.outputPath.get(v, nil)
		if !ok {
			return nil, runtimeErr(st, "OutputPath %s matched nothing", st.outputPath.text)
		}
		return out, nil
	}
	return v, nil
}

func (x *execution) waitFor(st *state, eff any) (time.Duration, error) {
	switch {
	case st.secondsPath != nil:
		v, ok := st.secondsPath.get(eff, nil)
		n, isNum := number(v)
		if !ok || !isNum || n < 0 {
			return 0, runtimeErr(st, "SecondsPath %s is not a non-negative number", st.secondsPath.text)
		}
		return time.Duration(n * float64(time.Second)), nil
	case st.timestampPath != nil:
		v, _ := st.timestampPath.get(eff, nil)
		s, _ := v.(string)
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return 0, runtimeErr(st, "TimestampPath %s is not an RFC 3339 time", st.timestampPath.text)
		}
		return max(0, t.Sub(x.e.clock.Now())), nil
	case !st.timestamp.IsZero():
		return max(0, st.timestamp.Sub(x.e.clock.Now())), nil
	}
	return st.seconds, nil
}

// task runs one attempt of a Task state.
func (x *execution) task(ctx context.Context, st *state, eff any, key string, entered time.Time, retries int) (any, error) {
	timeout := st.timeout
	if st.timeoutPath != nil {
		v, ok := st.timeoutPath.get(eff, nil)
		n, isNum := number(v)
		if !ok || !isNum || n <= 0 {
			return nil, runtimeErr(st, "TimeoutSecondsPath %s is not a positive number", st.timeoutPath.text)
		}
		timeout = time.Duration(n) * time.Second
	}
	var tok token
	if st.waitToken {
		var err error
		if tok, err = x.e.taskToken(ctx, x.id, key, timeout); err != nil {
			return nil, &StateError{Name: ErrRuntime, Cause: err.Error()}
		}
	}
	ctxObj := x.contextObject(st, entered, retries, tok.token, nil)
	params, err := st.payload.eval(eff, ctxObj)
	if err != nil {
		return nil, runtimeErr(st, "Parameters: %v", err)
	}
	payload, err := json.Marshal(params.(map[string]any)["Payload"])
	if err != nil {
		return nil, runtimeErr(st, "Payload: %v", err)
	}
	x.e.observeSize(st.name, len(payload))
	x.eventSize("TaskScheduled", st.name, len(payload), st.function)
	x.event("TaskStarted", st.name, nil, "")

	var timer <-chan time.Time
	stop := func() {}
	switch {
	case st.waitToken && !tok.deadline.IsZero():
		timer, stop = x.e.clock.Timer(max(0, tok.deadline.Sub(x.e.clock.Now())))
	case timeout > 0:
		timer, stop = x.e.clock.Timer(timeout)
	}
	defer stop()
	var notify <-chan struct{}
	if st.waitToken {
		notify = x.e.watch(tok.token)
		defer x.e.unwatch(tok.token)
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		out json.RawMessage
		err error
	}
	done := make(chan answer, 1)
	if tok.answered {
		done <- answer{} // answered before a restart: go straight to the answer
	} else {
		go func() {
			out, err := call(hctx, st.handler, payload)
			done <- answer{out, err}
		}()
	}
	var a answer
	select {
	case a = <-done:
	case <-timer:
		cancel()
		x.e.finishToken(tok.token, "timed_out")
		x.event("TaskTimedOut", st.name, nil, "")
		return nil, &StateError{Name: ErrTimeout, Cause: fmt.Sprintf("state %q timed out after %s", st.name, timeout)}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if a.err != nil {
		x.e.finishToken(tok.token, "failed")
		doc := LambdaError(a.err)
		se := &StateError{Name: doc.Type, Cause: Cause(doc)}
		x.event("TaskFailed", st.name, nil, se.Name)
		return nil, se
	}
	if !st.waitToken {
		var out any
		if len(a.out) > 0 {
			if out, err = decode(a.out); err != nil {
				return nil, &StateError{Name: ErrTaskFailed, Cause: "the handler returned invalid JSON"}
			}
		}
		x.e.observeSize(st.name, len(a.out))
		if len(a.out) > maxPayload {
			return nil, &StateError{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("state %q: task result of %d bytes is over the 256 KiB limit", st.name, len(a.out))}
		}
		x.eventSize("TaskSucceeded", st.name, len(a.out), "")
		return map[string]any{"Payload": out, "StatusCode": 200, "ExecutedVersion": "$LATEST"}, nil
	}
	x.event("TaskSubmitted", st.name, nil, "")
	for {
		res, err := x.e.tokenResult(tok.token)
		if err != nil {
			return nil, &StateError{Name: ErrRuntime, Cause: err.Error()}
		}
		switch res.status {
		case "succeeded":
			x.e.finishToken(tok.token, "")
			out, err := decode([]byte(res.output))
			if err != nil {
				return nil, &StateError{Name: ErrTaskFailed, Cause: "the task output is not JSON"}
			}
			x.eventSize("TaskSucceeded", st.name, len(res.output), "")
			return out, nil
		case "failed":
			x.e.finishToken(tok.token, "")
			x.event("TaskFailed", st.name, nil, res.errName)
			return nil, &StateError{Name: res.errName, Cause: res.cause}
		}
		select {
		case <-notify:
			notify = x.e.watch(tok.token)
		case <-timer:
			if x.e.finishToken(tok.token, "timed_out") {
				x.event("TaskTimedOut", st.name, nil, "")
				return nil, &StateError{Name: ErrTimeout, Cause: fmt.Sprintf("state %q timed out after %s", st.name, timeout)}
			}
			timer = nil // answered meanwhile: read it
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// mapState runs a Map state's iterations, at most MaxConcurrency at once, and returns their
// outputs in order. The first failed iteration fails the Map and stops the others.
func (x *execution) mapState(ctx context.Context, st *state, eff any, key string, entered time.Time) (any, error) {
	itemsV := eff
	if st.itemsPath != nil {
		v, ok := st.itemsPath.get(eff, nil)
		if !ok {
			return nil, runtimeErr(st, "ItemsPath %s matched nothing", st.itemsPath.text)
		}
		itemsV = v
	}
	items, ok := itemsV.([]any)
	if !ok {
		return nil, runtimeErr(st, "the items are not an array")
	}
	conc := st.maxConc
	if st.maxConcPath != nil {
		v, ok := st.maxConcPath.get(eff, nil)
		n, isNum := number(v)
		if !ok || !isNum || n < 0 {
			return nil, runtimeErr(st, "MaxConcurrencyPath %s is not a non-negative number", st.maxConcPath.text)
		}
		conc = int(n)
	}
	if conc <= 0 || conc > len(items) {
		conc = max(1, len(items))
	}
	x.event("MapStateStarted", st.name, nil, fmt.Sprintf("%d items, concurrency %d", len(items), conc))
	results := make([]any, len(items))
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	sem := make(chan struct{}, conc)
loop:
	for i, item := range items {
		select {
		case sem <- struct{}{}:
		case <-mctx.Done():
			break loop
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			in := item
			if st.itemSelector != nil {
				c := x.contextObject(st, entered, 0, "", &mapItem{index: i, value: item})
				v, err := st.itemSelector.eval(eff, c)
				if err != nil {
					once.Do(func() { firstErr = runtimeErr(st, "ItemSelector: %v", err); cancel() })
					return
				}
				in = v
			}
			x.event("MapIterationStarted", st.name, in, strconv.Itoa(i))
			out, err := x.runGraph(mctx, st.processor, st.processor.startAt, in, false, fmt.Sprintf("%s[%d]/", key, i))
			if err != nil {
				if mctx.Err() == nil || !errors.Is(err, context.Canceled) {
					once.Do(func() { firstErr = err; cancel() })
					x.event("MapIterationFailed", st.name, nil, strconv.Itoa(i))
				} else {
					x.event("MapIterationAborted", st.name, nil, strconv.Itoa(i))
				}
				return
			}
			results[i] = out
			x.event("MapIterationSucceeded", st.name, nil, strconv.Itoa(i))
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if firstErr != nil {
		x.event("MapStateFailed", st.name, nil, "")
		return nil, firstErr
	}
	size := x.event("MapStateSucceeded", st.name, results, "")
	x.e.observeMap(size)
	if size := x.e.observe(st.name, results); size > maxPayload {
		return nil, &StateError{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("state %q: Map result of %d bytes is over the 256 KiB limit", st.name, size)}
	}
	return results, nil
}
