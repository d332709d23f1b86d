package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// path is a parsed reference path: "$", "$.a.b", "$.a[0].b", or a context path "$$.Task.Token".
type path struct {
	text    string
	context bool    // starts with $$
	steps   []pstep // field names or indexes
}

type pstep struct {
	field string
	index int // when field == ""
}

// parsePath parses the JSONPath subset ASL reference paths use; wildcards, filters and
// slices are refused.
func parsePath(s string) (path, error) {
	p := path{text: s}
	rest := s
	switch {
	case strings.HasPrefix(s, "$$"):
		p.context = true
		rest = s[2:]
	case strings.HasPrefix(s, "$"):
		rest = s[1:]
	default:
		return p, fmt.Errorf("path %q must start with $", s)
	}
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			name := rest[:end]
			if name == "" || strings.ContainsAny(name, "*?@()'\" ") {
				return p, fmt.Errorf("path %q: only plain field names are supported", s)
			}
			p.steps = append(p.steps, pstep{field: name})
			rest = rest[end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return p, fmt.Errorf("path %q: unclosed [", s)
			}
			inner := rest[1:end]
			if len(inner) > 1 && (inner[0] == '\'' || inner[0] == '"') && inner[len(inner)-1] == inner[0] {
				p.steps = append(p.steps, pstep{field: inner[1 : len(inner)-1]})
			} else {
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 {
					return p, fmt.Errorf("path %q: only [n] and ['name'] are supported", s)
				}
				p.steps = append(p.steps, pstep{index: n})
			}
			rest = rest[end+1:]
		default:
			return p, fmt.Errorf("path %q: unexpected %q", s, rest[:1])
		}
	}
	return p, nil
}

// get returns the value at p in v (or in the context object for $$ paths).
func (p path) get(v, ctxObj any) (any, bool) {
	if p.context {
		v = ctxObj
	}
	for _, s := range p.steps {
		switch {
		case s.field != "":
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[s.field]; !ok {
				return nil, false
			}
		default:
			a, ok := v.([]any)
			if !ok || s.index >= len(a) {
				return nil, false
			}
			v = a[s.index]
		}
	}
	return v, true
}

// set returns v with the value at p replaced by x, creating objects on the way ("$" replaces
// v). ASL ResultPath only ever names fields.
func (p path) set(v, x any) (any, error) {
	if len(p.steps) == 0 {
		return x, nil
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("ResultPath %s: the state input is not an object", p.text)
	}
	root = cloneMap(root)
	cur := root
	for i, s := range p.steps {
		if s.field == "" {
			return nil, fmt.Errorf("ResultPath %s: array indexes are not allowed", p.text)
		}
		if i == len(p.steps)-1 {
			cur[s.field] = x
			break
		}
		next, ok := cur[s.field].(map[string]any)
		switch {
		case ok:
			next = cloneMap(next)
		case cur[s.field] == nil:
			next = map[string]any{}
		default:
			return nil, fmt.Errorf("ResultPath %s: %s is not an object", p.text, s.field)
		}
		cur[s.field] = next
		cur = next
	}
	return root, nil
}

func cloneMap(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// template is a compiled Parameters / ItemSelector / ResultSelector object: keys ending in
// ".$" take the value at a path, everything else is copied.
type template struct {
	fields []tfield
	value  any // a non-object template is copied as is
	object bool
}

type tfield struct {
	key   string
	path  *path
	inner *template
	value any
}

// compileTemplate compiles a payload template; intrinsic functions are refused.
func compileTemplate(raw any) (*template, error) {
	m, ok := raw.(map[string]any)
	if !ok {
		if a, isArr := raw.([]any); isArr {
			for _, e := range a {
				if _, err := compileTemplate(e); err != nil {
					return nil, err
				}
			}
		}
		return &template{value: raw}, nil
	}
	t := &template{object: true}
	for k, v := range m {
		if name, ok := strings.CutSuffix(k, ".$"); ok {
			s, isStr := v.(string)
			if !isStr {
				return nil, fmt.Errorf("%q: the value of a .$ key must be a path", k)
			}
			if strings.HasPrefix(s, "States.") {
				fn, _, _ := strings.Cut(s, "(")
				return nil, fmt.Errorf("%q: intrinsic function %s is not supported", k, fn)
			}
			p, err := parsePath(s)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", k, err)
			}
			t.fields = append(t.fields, tfield{key: name, path: &p})
			continue
		}
		if _, isObj := v.(map[string]any); isObj {
			inner, err := compileTemplate(v)
			if err != nil {
				return nil, fmt.Errorf("%s.%w", k, err)
			}
			t.fields = append(t.fields, tfield{key: k, inner: inner})
			continue
		}
		t.fields = append(t.fields, tfield{key: k, value: v})
	}
	return t, nil
}

// eval fills the template from v and the context object.
func (t *template) eval(v, ctxObj any) (any, error) {
	if !t.object {
		return t.value, nil
	}
	out := make(map[string]any, len(t.fields))
	for _, f := range t.fields {
		switch {
		case f.path != nil:
			x, ok := f.path.get(v, ctxObj)
			if !ok {
				return nil, fmt.Errorf("the JSONPath %s of field %q could not be found in the input", f.path.text, f.key)
			}
			out[f.key] = x
		case f.inner != nil:
			x, err := f.inner.eval(v, ctxObj)
			if err != nil {
				return nil, err
			}
			out[f.key] = x
		default:
			out[f.key] = f.value
		}
	}
	return out, nil
}

// decode parses JSON keeping numbers exact.
func decode(b []byte) (any, error) {
	var v any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// number returns v as a float64 when it is a JSON number.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	case int:
		return float64(n), true
	}
	return 0, false
}
