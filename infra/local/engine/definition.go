package engine

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Resources the engine runs.
const (
	resourceInvoke    = "arn:aws:states:::lambda:invoke"
	resourceWaitToken = "arn:aws:states:::lambda:invoke.waitForTaskToken"
)

// graph is a state machine or a Map's item processor.
type graph struct {
	startAt string
	states  map[string]*state
}

// state is one parsed, checked state.
type state struct {
	name, typ string
	next      string
	end       bool

	inputPath, outputPath *path // nil with null: {}
	inputNull, outputNull bool
	resultPath            *path
	resultNull            bool
	parameters, resultSel *template
	retry                 []retrier
	catch                 []catcher

	// Task
	waitToken   bool
	function    string
	handler     Handler
	payload     *template // Parameters without FunctionName: Payload or Payload.$
	timeout     time.Duration
	timeoutPath *path

	// Choice
	choices []*rule
	dflt    string

	// Pass
	result    any
	hasResult bool

	// Wait
	seconds       time.Duration
	secondsPath   *path
	timestamp     time.Time
	timestampPath *path

	// Fail
	errName, cause string

	// Map
	itemsPath    *path
	itemSelector *template
	maxConc      int
	maxConcPath  *path
	processor    *graph
}

type retrier struct {
	errors   []string
	interval time.Duration
	max      int
	backoff  float64
	maxDelay time.Duration
	jitter   bool
}

type catcher struct {
	errors     []string
	resultPath *path
	resultNull bool
	next       string
}

// allowed lists the fields each state type may have; anything else is refused by name.
var allowed = map[string][]string{
	"Task":    {"Resource", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "TimeoutSeconds", "TimeoutSecondsPath", "InputPath", "OutputPath", "Next", "End"},
	"Choice":  {"Choices", "Default", "InputPath", "OutputPath"},
	"Map":     {"ItemsPath", "ItemSelector", "Parameters", "MaxConcurrency", "MaxConcurrencyPath", "ItemProcessor", "Iterator", "ResultSelector", "ResultPath", "Retry", "Catch", "InputPath", "OutputPath", "Next", "End"},
	"Pass":    {"Result", "Parameters", "ResultPath", "InputPath", "OutputPath", "Next", "End"},
	"Wait":    {"Seconds", "SecondsPath", "Timestamp", "TimestampPath", "InputPath", "OutputPath", "Next", "End"},
	"Succeed": {"InputPath", "OutputPath"},
	"Fail":    {"Error", "Cause"},
}

// loader carries what parsing needs.
type loader struct {
	tasks map[string]Handler
}

// parseGraph parses a top-level definition or an item processor.
func (l *loader) parseGraph(m map[string]any, where string, allowedTop []string) (*graph, error) {
	for k := range m {
		if !contains(allowedTop, k) {
			return nil, fmt.Errorf("%sfield %q is not supported", where, k)
		}
	}
	if err := checkKinds(m); err != nil {
		return nil, fmt.Errorf("%s%v", where, err)
	}
	if ql, ok := m["QueryLanguage"]; ok && ql != "JSONPath" {
		return nil, fmt.Errorf("%sQueryLanguage %v is not supported (JSONPath only)", where, ql)
	}
	g := &graph{states: map[string]*state{}}
	start, _ := m["StartAt"].(string)
	if start == "" {
		return nil, fmt.Errorf("%sStartAt is missing", where)
	}
	g.startAt = start
	states, ok := m["States"].(map[string]any)
	if !ok || len(states) == 0 {
		return nil, fmt.Errorf("%sStates is missing", where)
	}
	names := make([]string, 0, len(states))
	for n := range states {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		raw, ok := states[n].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("state %q: not an object", n)
		}
		st, err := l.parseState(n, raw)
		if err != nil {
			return nil, err
		}
		g.states[n] = st
	}
	if g.states[start] == nil {
		return nil, fmt.Errorf("%sStartAt %q names no state", where, start)
	}
	for _, st := range g.states {
		targets := []string{st.next, st.dflt}
		for _, c := range st.catch {
			targets = append(targets, c.next)
		}
		for _, r := range st.choices {
			targets = append(targets, r.next)
		}
		for _, t := range targets {
			if t != "" && g.states[t] == nil {
				return nil, fmt.Errorf("state %q: transition to %q, which is not a state here", st.name, t)
			}
		}
	}
	return g, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (l *loader) parseState(name string, m map[string]any) (*state, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("state %q: %s", name, fmt.Sprintf(format, args...))
	}
	typ, _ := m["Type"].(string)
	fields, ok := allowed[typ]
	if !ok {
		return nil, fail("Type %q is not supported", typ)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "Type" && k != "Comment" && !contains(fields, k) {
			return nil, fail("field %q is not supported", k)
		}
	}
	if err := checkKinds(m); err != nil {
		return nil, fail("%v", err)
	}
	st := &state{name: name, typ: typ}
	st.next, _ = m["Next"].(string)
	st.end, _ = m["End"].(bool)
	if contains(fields, "Next") && st.next == "" && !st.end {
		return nil, fail("needs Next or End")
	}
	var err error
	optPath := func(field string) (*path, bool, error) {
		v, present := m[field]
		if !present {
			return nil, false, nil
		}
		if v == nil {
			return nil, true, nil
		}
		s, isStr := v.(string)
		if !isStr {
			return nil, false, fail("field %q must be a path", field)
		}
		p, err := parsePath(s)
		if err != nil {
			return nil, false, fail("field %q: %v", field, err)
		}
		return &p, false, nil
	}
	if st.inputPath, st.inputNull, err = optPath("InputPath"); err != nil {
		return nil, err
	}
	if st.outputPath, st.outputNull, err = optPath("OutputPath"); err != nil {
		return nil, err
	}
	if st.resultPath, st.resultNull, err = optPath("ResultPath"); err != nil {
		return nil, err
	}
	tmpl := func(field string) (*template, error) {
		v, present := m[field]
		if !present {
			return nil, nil
		}
		t, err := compileTemplate(v)
		if err != nil {
			return nil, fail("field %q: %v", field, err)
		}
		return t, nil
	}
	if typ != "Task" {
		if st.parameters, err = tmpl("Parameters"); err != nil {
			return nil, err
		}
	}
	if st.resultSel, err = tmpl("ResultSelector"); err != nil {
		return nil, err
	}
	if st.retry, err = parseRetry(m["Retry"]); err != nil {
		return nil, fail("field \"Retry\": %v", err)
	}
	if st.catch, err = parseCatch(m["Catch"]); err != nil {
		return nil, fail("field \"Catch\": %v", err)
	}
	switch typ {
	case "Task":
		err = l.parseTask(st, m)
	case "Choice":
		err = parseChoice(st, m)
	case "Pass":
		st.result, st.hasResult = m["Result"]
	case "Wait":
		err = parseWait(st, m)
	case "Fail":
		st.errName, _ = m["Error"].(string)
		st.cause, _ = m["Cause"].(string)
	case "Map":
		err = l.parseMap(st, m)
	}
	if err != nil {
		return nil, fail("%v", err)
	}
	return st, nil
}

func (l *loader) parseTask(st *state, m map[string]any) error {
	res, _ := m["Resource"].(string)
	switch res {
	case resourceInvoke:
	case resourceWaitToken:
		st.waitToken = true
	default:
		return fmt.Errorf("field \"Resource\": %q is not supported (only %s and %s)", res, resourceInvoke, resourceWaitToken)
	}
	params, ok := m["Parameters"].(map[string]any)
	if !ok {
		return fmt.Errorf("field \"Parameters\" with FunctionName and Payload is required")
	}
	payload := map[string]any{}
	for k, v := range params {
		switch k {
		case "FunctionName":
			st.function, _ = v.(string)
		case "Payload", "Payload.$":
			payload[k] = v
		default:
			return fmt.Errorf("field \"Parameters\": %q is not supported", k)
		}
	}
	if st.function == "" {
		return fmt.Errorf("field \"Parameters\": FunctionName must be a fixed string")
	}
	if strings.Contains(st.function, "${") {
		return fmt.Errorf("field \"Parameters\": FunctionName %s has no substitution", st.function)
	}
	if st.handler = l.tasks[st.function]; st.handler == nil {
		return fmt.Errorf("field \"Parameters\": no handler for FunctionName %q", st.function)
	}
	t, err := compileTemplate(payload)
	if err != nil {
		return fmt.Errorf("field \"Parameters\": %v", err)
	}
	st.payload = t
	if v, ok := m["TimeoutSeconds"]; ok {
		n, isNum := number(v)
		if !isNum || n <= 0 || n != math.Trunc(n) {
			return fmt.Errorf("field \"TimeoutSeconds\" must be a positive integer")
		}
		st.timeout = time.Duration(n) * time.Second
	}
	if s, ok := m["TimeoutSecondsPath"].(string); ok {
		p, err := parsePath(s)
		if err != nil {
			return fmt.Errorf("field \"TimeoutSecondsPath\": %v", err)
		}
		st.timeoutPath = &p
	}
	return nil
}

func parseWait(st *state, m map[string]any) error {
	n := 0
	if v, ok := m["Seconds"]; ok {
		f, isNum := number(v)
		if !isNum || f < 0 {
			return fmt.Errorf("field \"Seconds\" must be a non-negative number")
		}
		st.seconds = time.Duration(f * float64(time.Second))
		n++
	}
	if v, ok := m["Timestamp"]; ok {
		s, _ := v.(string)
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return fmt.Errorf("field \"Timestamp\": %v", err)
		}
		st.timestamp = t
		n++
	}
	for _, f := range []string{"SecondsPath", "TimestampPath"} {
		if s, ok := m[f].(string); ok {
			p, err := parsePath(s)
			if err != nil {
				return fmt.Errorf("field %q: %v", f, err)
			}
			if f == "SecondsPath" {
				st.secondsPath = &p
			} else {
				st.timestampPath = &p
			}
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("exactly one of Seconds, SecondsPath, Timestamp, TimestampPath is required")
	}
	return nil
}

func (l *loader) parseMap(st *state, m map[string]any) error {
	if s, ok := m["ItemsPath"].(string); ok {
		p, err := parsePath(s)
		if err != nil {
			return fmt.Errorf("field \"ItemsPath\": %v", err)
		}
		st.itemsPath = &p
	}
	sel := m["ItemSelector"]
	if sel == nil {
		sel = m["Parameters"]
	}
	if sel != nil {
		t, err := compileTemplate(sel)
		if err != nil {
			return fmt.Errorf("field \"ItemSelector\": %v", err)
		}
		st.itemSelector = t
	}
	st.parameters = nil
	if v, ok := m["MaxConcurrency"]; ok {
		f, isNum := number(v)
		if !isNum || f < 0 {
			return fmt.Errorf("field \"MaxConcurrency\" must be a non-negative integer")
		}
		st.maxConc = int(f)
	}
	if s, ok := m["MaxConcurrencyPath"].(string); ok {
		p, err := parsePath(s)
		if err != nil {
			return fmt.Errorf("field \"MaxConcurrencyPath\": %v", err)
		}
		st.maxConcPath = &p
	}
	proc, ok := m["ItemProcessor"].(map[string]any)
	field := "ItemProcessor"
	if !ok {
		proc, ok = m["Iterator"].(map[string]any)
		field = "Iterator"
	}
	if !ok {
		return fmt.Errorf("field \"ItemProcessor\" is required")
	}
	if pc, ok := proc["ProcessorConfig"].(map[string]any); ok {
		if err := checkKinds(pc); err != nil {
			return fmt.Errorf("field %q: ProcessorConfig: %v", field, err)
		}
		for k, v := range pc {
			if k != "Mode" || v != "INLINE" {
				return fmt.Errorf("field %q: ProcessorConfig %s=%v is not supported (INLINE only)", field, k, v)
			}
		}
	}
	g, err := l.parseGraph(proc, fmt.Sprintf("state %q: field %q: ", st.name, field), []string{"ProcessorConfig", "StartAt", "States", "Comment"})
	if err != nil {
		return err
	}
	st.processor = g
	return nil
}

func errorList(v any) ([]string, error) {
	a, ok := v.([]any)
	if !ok || len(a) == 0 {
		return nil, fmt.Errorf("ErrorEquals must be a non-empty list")
	}
	out := make([]string, 0, len(a))
	for _, e := range a {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("ErrorEquals must list strings")
		}
		out = append(out, s)
	}
	return out, nil
}

func parseRetry(v any) ([]retrier, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("must be a list")
	}
	var out []retrier
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("each retrier must be an object")
		}
		r := retrier{interval: time.Second, max: 3, backoff: 2}
		if err := checkKinds(m); err != nil {
			return nil, err
		}
		if b, ok := number(m["BackoffRate"]); ok && b < 1 {
			return nil, fmt.Errorf("field \"BackoffRate\" must be at least 1.0, not %v", b)
		}
		for k, x := range m {
			f, _ := number(x)
			switch k {
			case "ErrorEquals":
				var err error
				if r.errors, err = errorList(x); err != nil {
					return nil, err
				}
			case "IntervalSeconds":
				r.interval = time.Duration(f * float64(time.Second))
			case "MaxAttempts":
				r.max = int(f)
			case "BackoffRate":
				r.backoff = f
			case "MaxDelaySeconds":
				r.maxDelay = time.Duration(f * float64(time.Second))
			case "JitterStrategy":
				switch x {
				case "FULL":
					r.jitter = true
				case "NONE":
				default:
					return nil, fmt.Errorf("JitterStrategy %v is not supported", x)
				}
			case "Comment":
			default:
				return nil, fmt.Errorf("%q is not supported", k)
			}
		}
		if r.errors == nil {
			return nil, fmt.Errorf("ErrorEquals is required")
		}
		out = append(out, r)
	}
	return out, nil
}

func parseCatch(v any) ([]catcher, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("must be a list")
	}
	var out []catcher
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("each catcher must be an object")
		}
		if err := checkKinds(m); err != nil {
			return nil, err
		}
		c := catcher{}
		rootPath := path{text: "$"}
		c.resultPath = &rootPath
		for k, x := range m {
			switch k {
			case "ErrorEquals":
				var err error
				if c.errors, err = errorList(x); err != nil {
					return nil, err
				}
			case "Next":
				c.next, _ = x.(string)
			case "ResultPath":
				if x == nil {
					c.resultPath, c.resultNull = nil, true
					continue
				}
				s, _ := x.(string)
				p, err := parsePath(s)
				if err != nil {
					return nil, fmt.Errorf("ResultPath: %v", err)
				}
				c.resultPath = &p
			case "Comment":
			default:
				return nil, fmt.Errorf("%q is not supported", k)
			}
		}
		if c.errors == nil || c.next == "" {
			return nil, fmt.Errorf("ErrorEquals and Next are required")
		}
		out = append(out, c)
	}
	return out, nil
}

// Machine is a loaded, checked state machine definition with its task handlers.
type Machine struct {
	root *graph
}

// Load applies the DefinitionSubstitutions (${Name} → value) to the definition text, parses
// it, and refuses anything the engine does not run, naming the state and the field. tasks
// maps each (substituted) FunctionName to its in-process handler.
func Load(definition []byte, substitutions map[string]string, tasks map[string]Handler) (*Machine, error) {
	text := string(definition)
	for k, v := range substitutions {
		text = strings.ReplaceAll(text, "${"+k+"}", v)
	}
	raw, err := decode([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("load state machine: %w", err)
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("load state machine: the definition is not a JSON object")
	}
	l := &loader{tasks: tasks}
	g, err := l.parseGraph(m, "", []string{"Comment", "StartAt", "States", "Version", "QueryLanguage"})
	if err != nil {
		return nil, fmt.Errorf("load state machine: %w", err)
	}
	return &Machine{root: g}, nil
}
