package engine

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// MachineARN is the state machine's ARN unless Options names another.
const MachineARN = "arn:aws:states:local:000000000000:stateMachine:issuance"

// Status is an execution's status.
type Status string

// Execution statuses, as Step Functions names them.
const (
	StatusRunning   Status = "RUNNING"
	StatusSucceeded Status = "SUCCEEDED"
	StatusFailed    Status = "FAILED"
	StatusAborted   Status = "ABORTED"
)

// Options configure an Engine.
type Options struct {
	Clock Clock          // default RealClock
	Log   *slog.Logger   // default slog.Default()
	Rand  func() float64 // jitter in [0,1); default math/rand/v2
	// MachineARN is the state machine's ARN (default MachineARN): executions are its ARN
	// with ":execution:" and their name, in the ids Start returns and in the context object
	// ($$.Execution.Id, $$.StateMachine.Id), as Step Functions names them.
	MachineARN string
}

// Stats are the engine's figures since Open.
type Stats struct {
	LargestPayload      int    // bytes of the largest state input, task payload, task result or state output
	LargestPayloadState string // the state it was seen in
	LargestMapResult    int    // bytes of the largest Map state result (the iterations' outputs)
	Executions          int    // executions started or resumed
}

// Event is one history event of an execution.
type Event struct {
	Seq    int64
	Type   string // the Step Functions HistoryEventType: ExecutionStarted, TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded, TaskFailed, MapIterationStarted, ... (plus ExecutionResumed, the engine's own)
	State  string
	At     time.Time
	Size   int // bytes of the payload the event carries (0 when none)
	Detail string
}

// Engine runs executions of one Machine and keeps them in a SQLite file. It is the local
// stack's credbatch.Workflow.
type Engine struct {
	m     *Machine
	db    *sql.DB
	clock Clock
	log   *slog.Logger
	rand  func() float64
	arn   string // the state machine's

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	running map[string]*execution // by id
	waiters map[string]chan struct{}
	stats   Stats
}

var _ credbatch.Workflow = (*Engine)(nil)

// Open opens (creating if needed) the engine database at path and resumes the executions
// that were running when it was last closed, each from the state it was in (that state runs
// again; the tasks are idempotent). Task tokens that were waiting stay valid.
func Open(ctx context.Context, path string, m *Machine, opt Options) (*Engine, error) {
	if m == nil {
		return nil, credbatch.Errorf(credbatch.KindInvalid, "engine: no state machine")
	}
	db, err := openDB(ctx, path)
	if err != nil {
		return nil, err
	}
	e := &Engine{m: m, db: db, clock: opt.Clock, log: opt.Log, rand: opt.Rand, arn: opt.MachineARN,
		running: map[string]*execution{}, waiters: map[string]chan struct{}{}}
	if e.clock == nil {
		e.clock = RealClock{}
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.rand == nil {
		e.rand = rand.Float64
	}
	if e.arn == "" {
		e.arn = MachineARN
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	if err := e.resume(ctx); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Engine) resume(ctx context.Context) error {
	rows, err := e.db.QueryContext(ctx, `SELECT id, name, input, state, state_input, started_at FROM executions WHERE status = 'RUNNING'`)
	if err != nil {
		return fmt.Errorf("list running executions: %w", err)
	}
	type pending struct {
		x         *execution
		state, in string
	}
	var list []pending
	for rows.Next() {
		var p pending
		var input string
		var started int64
		p.x = &execution{e: e, done: make(chan struct{})}
		if err := rows.Scan(&p.x.id, &p.x.name, &input, &p.state, &p.in, &started); err != nil {
			rows.Close()
			return fmt.Errorf("read running execution: %w", err)
		}
		p.x.started = time.Unix(0, started)
		if p.x.input, err = decode([]byte(input)); err != nil {
			rows.Close()
			return fmt.Errorf("execution %s: input: %w", p.x.name, err)
		}
		list = append(list, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list running executions: %w", err)
	}
	for _, p := range list {
		var seq int64
		if err := e.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM history WHERE execution_id = ?`, p.x.id).Scan(&seq); err != nil {
			return fmt.Errorf("execution %s: history: %w", p.x.name, err)
		}
		p.x.seq.Store(seq)
		start, input := p.state, p.x.input
		if start == "" || e.m.root.states[start] == nil {
			start = e.m.root.startAt
		} else if input, err = decode([]byte(p.in)); err != nil {
			return fmt.Errorf("execution %s: state input: %w", p.x.name, err)
		}
		e.log.Info("engine: resuming execution", "execution", p.x.name, "state", start)
		p.x.event("ExecutionResumed", start, nil, "")
		e.launch(p.x, start, input)
	}
	return nil
}

// Start starts an execution named name with input (a JSON document; empty means {}).
// Starting a name again with the same input returns the same execution id and starts
// nothing; with a different input it is a KindConflict error.
func (e *Engine) Start(ctx context.Context, name string, input json.RawMessage) (string, error) {
	if name == "" || len(name) > 80 {
		return "", credbatch.Errorf(credbatch.KindInvalid, "execution name %q must have 1 to 80 characters", name)
	}
	if len(bytes.TrimSpace(input)) == 0 {
		input = json.RawMessage(`{}`)
	}
	in, err := decode(input)
	if err != nil {
		return "", credbatch.Errorf(credbatch.KindInvalid, "execution input is not JSON: %v", err)
	}
	canon, _ := marshal(in)
	if len(canon) > maxPayload {
		return "", credbatch.Errorf(credbatch.KindInvalid, "execution input of %d bytes is over the 256 KiB limit", len(canon))
	}
	if e.closed() {
		return "", credbatch.Errorf(credbatch.KindUnavailable, "the local workflow engine is closed")
	}
	id := strings.Replace(e.arn, ":stateMachine:", ":execution:", 1) + ":" + name
	now := e.clock.Now()
	res, err := e.db.ExecContext(ctx, `INSERT INTO executions (id, name, input, status, started_at) VALUES (?, ?, ?, 'RUNNING', ?) ON CONFLICT (name) DO NOTHING`,
		id, name, string(canon), now.UnixNano())
	if err != nil {
		return "", fmt.Errorf("start execution %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var have string
		if err := e.db.QueryRowContext(ctx, `SELECT input FROM executions WHERE name = ?`, name).Scan(&have); err != nil {
			return "", fmt.Errorf("start execution %s: %w", name, err)
		}
		if have != string(canon) {
			return "", credbatch.Conflict("execution %s already exists with a different input", name)
		}
		return id, nil
	}
	x := &execution{e: e, id: id, name: name, input: in, started: now, done: make(chan struct{})}
	x.event("ExecutionStarted", "", in, "")
	e.launch(x, e.m.root.startAt, in)
	return id, nil
}

func (e *Engine) launch(x *execution, start string, input any) {
	e.mu.Lock()
	e.running[x.id] = x
	e.stats.Executions++
	e.mu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(x.done)
		defer func() {
			e.mu.Lock()
			delete(e.running, x.id)
			e.mu.Unlock()
		}()
		e.observe("", input)
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		e.mu.Lock()
		x.cancel = cancel
		e.mu.Unlock()
		out, err := x.runGraph(ctx, e.m.root, start, input, true, "")
		if e.ctx.Err() != nil {
			return // closing: the execution stays RUNNING and resumes on the next Open
		}
		if ab := x.aborted.Load(); ab != nil {
			// StopExecution: the tasks it was waiting on may still run (as Lambda's do).
			e.log.Warn("engine: execution aborted", "execution", x.name, "error", ab.Name, "cause", ab.Cause)
			x.event("ExecutionAborted", "", nil, ab.Name)
			e.stop(x.id, StatusAborted, "", ab.Name, ab.Cause)
			return
		}
		if err != nil {
			var se *StateError
			if !errors.As(err, &se) {
				se = &StateError{Name: ErrRuntime, Cause: err.Error()}
			}
			e.log.Warn("engine: execution failed", "execution", x.name, "error", se.Name, "cause", se.Cause)
			x.event("ExecutionFailed", "", nil, se.Name)
			e.stop(x.id, StatusFailed, "", se.Name, se.Cause)
			return
		}
		b, _ := marshal(out)
		x.event("ExecutionSucceeded", "", out, "")
		e.stop(x.id, StatusSucceeded, string(b), "", "")
	}()
}

func (e *Engine) stop(id string, status Status, output, errName, cause string) {
	if _, err := e.db.Exec(`UPDATE executions SET status = ?, output = ?, error = ?, cause = ?, stopped_at = ? WHERE id = ?`,
		string(status), output, errName, cause, e.clock.Now().UnixNano(), id); err != nil {
		e.log.Error("engine: record execution end", "execution", id, "err", err)
	}
	// Tokens of an ended execution can no longer be answered.
	if _, err := e.db.Exec(`UPDATE tokens SET status = 'closed', consumed = 1 WHERE execution_id = ? AND status = 'waiting'`, id); err != nil {
		e.log.Error("engine: close task tokens", "execution", id, "err", err)
	}
}

// Stop aborts a running execution, as StopExecution does: it ends ABORTED with the optional
// error name and cause, and its tokens can no longer be answered. Stopping an execution that
// already ended changes nothing. Errors: KindNotFound for an unknown id.
func (e *Engine) Stop(ctx context.Context, id, errName, cause string) error {
	e.mu.Lock()
	x := e.running[id]
	e.mu.Unlock()
	if x == nil {
		var status string
		if err := e.db.QueryRowContext(ctx, `SELECT status FROM executions WHERE id = ?`, id).Scan(&status); errors.Is(err, sql.ErrNoRows) {
			return credbatch.NotFound("execution", id)
		} else if err != nil {
			return fmt.Errorf("stop execution %s: %w", id, err)
		}
		return nil
	}
	x.aborted.CompareAndSwap(nil, &StateError{Name: errName, Cause: cause})
	for {
		e.mu.Lock()
		cancel := x.cancel
		e.mu.Unlock()
		if cancel != nil {
			cancel()
			break
		}
		select { // launched, not yet running its graph
		case <-x.done:
			return nil
		case <-time.After(time.Millisecond):
		}
	}
	select {
	case <-x.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Succeed completes a waiting task with output. Errors: KindNotFound for an unknown token,
// KindConflict when the task already ended or timed out.
func (e *Engine) Succeed(ctx context.Context, tok string, output json.RawMessage) error {
	if len(bytes.TrimSpace(output)) == 0 {
		output = json.RawMessage(`{}`)
	}
	v, err := decode(output)
	if err != nil {
		return credbatch.Errorf(credbatch.KindInvalid, "task output is not JSON: %v", err)
	}
	b, _ := marshal(v)
	return e.answer(ctx, tok, "succeeded", string(b), "", "")
}

// Fail fails a waiting task with an error name (matched by Catch) and a cause. Errors as
// Succeed.
func (e *Engine) Fail(ctx context.Context, tok, code, cause string) error {
	return e.answer(ctx, tok, "failed", "", code, cause)
}

// Wait blocks until the execution ends (or ctx ends) and returns its status and output. A
// failed execution returns StatusFailed and a *StateError with its error name and cause.
// Errors: KindNotFound for an unknown id.
func (e *Engine) Wait(ctx context.Context, id string) (Status, json.RawMessage, error) {
	e.mu.Lock()
	x := e.running[id]
	e.mu.Unlock()
	if x != nil {
		select {
		case <-x.done:
		case <-ctx.Done():
			return StatusRunning, nil, ctx.Err()
		case <-e.ctx.Done():
			return StatusRunning, nil, credbatch.Errorf(credbatch.KindUnavailable, "the local workflow engine is closed")
		}
	}
	var status, output, errName, cause string
	err := e.db.QueryRowContext(ctx, `SELECT status, output, error, cause FROM executions WHERE id = ?`, id).Scan(&status, &output, &errName, &cause)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, credbatch.NotFound("execution", id)
	}
	if err != nil {
		return "", nil, fmt.Errorf("read execution %s: %w", id, err)
	}
	switch Status(status) {
	case StatusFailed:
		return StatusFailed, nil, &StateError{Name: errName, Cause: cause}
	case StatusSucceeded:
		return StatusSucceeded, json.RawMessage(output), nil
	}
	return Status(status), nil, nil
}

// History returns the events of an execution, oldest first, given its name or its id (the
// execution ARN that Start returns and a batch records). Errors: KindNotFound for an
// unknown execution.
func (e *Engine) History(execution string) ([]Event, error) {
	return history(context.Background(), e.db, execution)
}

// ReadHistory returns an execution's events (as History) from the engine database at path
// without opening an Engine: nothing is resumed or written, so it is safe while another
// process runs the engine on the same file. Errors: KindNotFound for an unknown execution or
// a missing database.
func ReadHistory(ctx context.Context, path, execution string) ([]Event, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, credbatch.NotFound("execution", execution)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "query_only(1)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open engine database %s: %w", path, err)
	}
	defer db.Close()
	return history(ctx, db, execution)
}

func history(ctx context.Context, db *sql.DB, execution string) ([]Event, error) {
	var id string
	err := db.QueryRowContext(ctx, `SELECT id FROM executions WHERE name = ? OR id = ?`, execution, execution).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, credbatch.NotFound("execution", execution)
	} else if err != nil {
		return nil, fmt.Errorf("history of %s: %w", execution, err)
	}
	rows, err := db.QueryContext(ctx, `SELECT seq, type, state, at, size, detail FROM history WHERE execution_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", execution, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var ev Event
		var at int64
		if err := rows.Scan(&ev.Seq, &ev.Type, &ev.State, &at, &ev.Size, &ev.Detail); err != nil {
			return nil, fmt.Errorf("history of %s: %w", execution, err)
		}
		ev.At = time.Unix(0, at)
		out = append(out, ev)
	}
	return out, rows.Err()
}

// Stats returns the figures since Open.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// Close stops the executions where they are (they stay RUNNING in the database and resume
// on the next Open) and closes the database.
func (e *Engine) Close() error {
	e.cancel()
	e.wg.Wait()
	e.mu.Lock()
	for tok, ch := range e.waiters {
		close(ch)
		delete(e.waiters, tok)
	}
	e.mu.Unlock()
	return e.db.Close()
}

func (e *Engine) closed() bool { return e.ctx.Err() != nil }

// observe records the size of a state payload and returns it.
func (e *Engine) observe(stateName string, v any) int {
	b, err := marshal(v)
	if err != nil {
		return 0
	}
	e.observeSize(stateName, len(b))
	return len(b)
}

func (e *Engine) observeMap(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats.LargestMapResult = max(e.stats.LargestMapResult, n)
}

func (e *Engine) observeSize(stateName string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n > e.stats.LargestPayload {
		e.stats.LargestPayload = n
		e.stats.LargestPayloadState = stateName
	}
}

// watch returns a channel closed when the token is answered.
func (e *Engine) watch(tok string) <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, ok := e.waiters[tok]
	if !ok {
		ch = make(chan struct{})
		e.waiters[tok] = ch
	}
	return ch
}

func (e *Engine) unwatch(tok string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.waiters, tok)
}

func (e *Engine) signal(tok string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ch, ok := e.waiters[tok]; ok {
		close(ch)
		delete(e.waiters, tok)
	}
}

// marshal encodes v as compact JSON without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
