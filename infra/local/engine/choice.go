package engine

import (
	"fmt"
	"strings"
)

// rule is a Choice rule: a comparison on Variable, or And/Or/Not of rules.
type rule struct {
	next     string
	variable *path
	op       string // e.g. "StringEquals"; with a Path suffix the operand is a path
	operand  any
	opPath   *path
	and, or  []*rule
	not      *rule
}

var comparisons = map[string]bool{
	"StringEquals": true, "StringLessThan": true, "StringGreaterThan": true,
	"StringLessThanEquals": true, "StringGreaterThanEquals": true,
	"NumericEquals": true, "NumericLessThan": true, "NumericGreaterThan": true,
	"NumericLessThanEquals": true, "NumericGreaterThanEquals": true,
	"BooleanEquals": true,
	"IsPresent":     true, "IsNull": true, "IsBoolean": true, "IsNumeric": true, "IsString": true,
}

func parseChoice(st *state, m map[string]any) error {
	list, ok := m["Choices"].([]any)
	if !ok || len(list) == 0 {
		return fmt.Errorf("field \"Choices\" must be a non-empty list")
	}
	for _, item := range list {
		r, err := parseRule(item, true)
		if err != nil {
			return fmt.Errorf("field \"Choices\": %v", err)
		}
		st.choices = append(st.choices, r)
	}
	st.dflt, _ = m["Default"].(string)
	return nil
}

func parseRule(v any, top bool) (*rule, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a rule must be an object")
	}
	if err := checkKinds(m); err != nil {
		return nil, err
	}
	r := &rule{}
	for k, x := range m {
		switch {
		case k == "Next" && top:
			r.next, _ = x.(string)
		case k == "Comment":
		case k == "Variable":
			s, _ := x.(string)
			p, err := parsePath(s)
			if err != nil {
				return nil, fmt.Errorf("Variable: %v", err)
			}
			r.variable = &p
		case k == "And" || k == "Or":
			list, ok := x.([]any)
			if !ok || len(list) == 0 {
				return nil, fmt.Errorf("%s must be a non-empty list", k)
			}
			for _, e := range list {
				sub, err := parseRule(e, false)
				if err != nil {
					return nil, err
				}
				if k == "And" {
					r.and = append(r.and, sub)
				} else {
					r.or = append(r.or, sub)
				}
			}
		case k == "Not":
			sub, err := parseRule(x, false)
			if err != nil {
				return nil, err
			}
			r.not = sub
		default:
			base, isPath := strings.CutSuffix(k, "Path")
			if !comparisons[base] || (isPath && strings.HasPrefix(base, "Is")) {
				return nil, fmt.Errorf("operator %q is not supported", k)
			}
			if r.op != "" {
				return nil, fmt.Errorf("a rule has one operator, got %s and %s", r.op, k)
			}
			r.op = base
			if isPath {
				s, _ := x.(string)
				p, err := parsePath(s)
				if err != nil {
					return nil, fmt.Errorf("%s: %v", k, err)
				}
				r.opPath = &p
			} else {
				r.operand = x
				if err := checkOperand(base, x); err != nil {
					return nil, fmt.Errorf("%s: %v", k, err)
				}
			}
		}
	}
	if top && r.next == "" {
		return nil, fmt.Errorf("a top-level rule needs Next")
	}
	if r.op != "" && r.variable == nil {
		return nil, fmt.Errorf("%s needs Variable", r.op)
	}
	if r.op == "" && r.and == nil && r.or == nil && r.not == nil {
		return nil, fmt.Errorf("a rule needs an operator, And, Or or Not")
	}
	return r, nil
}

// match evaluates the rule against the state's effective input.
func (r *rule) match(in, ctxObj any) (bool, error) {
	switch {
	case r.and != nil:
		for _, s := range r.and {
			ok, err := s.match(in, ctxObj)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case r.or != nil:
		for _, s := range r.or {
			ok, err := s.match(in, ctxObj)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case r.not != nil:
		ok, err := r.not.match(in, ctxObj)
		return !ok, err
	}
	v, present := r.variable.get(in, ctxObj)
	operand := r.operand
	switch r.op {
	case "IsPresent":
		return present == (operand == true), nil
	}
	if !present {
		return false, fmt.Errorf("invalid path %s: the choice state's input has no such field", r.variable.text)
	}
	if r.opPath != nil {
		x, ok := r.opPath.get(in, ctxObj)
		if !ok {
			return false, fmt.Errorf("invalid path %s: the choice state's input has no such field", r.opPath.text)
		}
		operand = x
	}
	switch r.op {
	case "IsNull":
		return (v == nil) == (operand == true), nil
	case "IsBoolean":
		_, ok := v.(bool)
		return ok == (operand == true), nil
	case "IsNumeric":
		_, ok := number(v)
		return ok == (operand == true), nil
	case "IsString":
		_, ok := v.(string)
		return ok == (operand == true), nil
	case "BooleanEquals":
		a, ok1 := v.(bool)
		b, ok2 := operand.(bool)
		return ok1 && ok2 && a == b, nil
	}
	if strings.HasPrefix(r.op, "String") {
		a, ok1 := v.(string)
		b, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return false, nil
		}
		return compare(r.op[len("String"):], strings.Compare(a, b)), nil
	}
	a, ok1 := number(v)
	b, ok2 := number(operand)
	if !ok1 || !ok2 {
		return false, nil
	}
	c := 0
	if a < b {
		c = -1
	} else if a > b {
		c = 1
	}
	return compare(r.op[len("Numeric"):], c), nil
}

func compare(op string, c int) bool {
	switch op {
	case "Equals":
		return c == 0
	case "LessThan":
		return c < 0
	case "GreaterThan":
		return c > 0
	case "LessThanEquals":
		return c <= 0
	case "GreaterThanEquals":
		return c >= 0
	}
	return false
}

func checkOperand(op string, x any) error {
	switch {
	case strings.HasPrefix(op, "Is"), op == "BooleanEquals":
		if _, ok := x.(bool); !ok {
			return fmt.Errorf("needs true or false")
		}
	case strings.HasPrefix(op, "String"):
		if _, ok := x.(string); !ok {
			return fmt.Errorf("needs a string")
		}
	case strings.HasPrefix(op, "Numeric"):
		if _, ok := number(x); !ok {
			return fmt.Errorf("needs a number")
		}
	}
	return nil
}
