// Package config reads credbatch's settings from environment variables: one name, one parser and one meaning for each, for every function and the local stack.
package config

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/validate"
)

// Lookup finds one variable (os.LookupEnv in the functions).
type Lookup func(name string) (string, bool)

// Env reads variables from a Lookup. It records every name it reads, so that a test can
// compare what a function reads with what template.yaml sets, and it collects every problem
// instead of stopping at the first, so that one cold start names them all. A value of only
// spaces counts as unset (a template parameter left at its default "").
type Env struct {
	lookup Lookup
	read   []string
	errs   []string
}

// New reads variables through lookup.
func New(lookup Lookup) *Env { return &Env{lookup: lookup} }

// FromOS reads the process environment.
func FromOS() *Env { return New(os.LookupEnv) }

// FromMap reads variables from m (tests, the local stack's overrides).
func FromMap(m map[string]string) *Env {
	return New(func(name string) (string, bool) { v, ok := m[name]; return v, ok })
}

// Read lists the names read so far, in the order first read.
func (e *Env) Read() []string { return slices.Clone(e.read) }

// Err is nil, or one KindInvalid error naming every variable that is missing or malformed.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return credbatch.E(credbatch.KindInvalid, "invalid_configuration", "configuration: "+strings.Join(e.errs, "; "))
}

func (e *Env) get(name string) string {
	if !slices.Contains(e.read, name) {
		e.read = append(e.read, name)
	}
	v, _ := e.lookup(name)
	return strings.TrimSpace(v)
}

func (e *Env) fail(name, v, problem string) {
	if v == "" {
		e.errs = append(e.errs, name+" "+problem)
		return
	}
	e.errs = append(e.errs, fmt.Sprintf("%s=%q %s", name, v, problem))
}

// String returns the variable, or "" when unset.
func (e *Env) String(name string) string { return e.get(name) }

// Required returns the variable; unset is an error that says what it is (hint).
func (e *Env) Required(name, hint string) string {
	v := e.get(name)
	if v == "" {
		e.fail(name, "", "must be set ("+hint+")")
	}
	return v
}

// Email returns one address checked by the one email check (validate.EmailProblem); when
// required, unset is an error.
func (e *Env) Email(name string, required bool, hint string) string {
	v := e.get(name)
	switch {
	case v == "" && required:
		e.fail(name, "", "must be set ("+hint+")")
	case v != "":
		if p := validate.EmailProblem(v); p != "" {
			e.fail(name, v, p)
		}
	}
	return v
}

// Emails returns a list of addresses separated by commas, semicolons or spaces (empty items
// dropped), each checked by the one email check. Unset is an empty list.
func (e *Env) Emails(name string) []string {
	v := e.get(name)
	list := List(v)
	for _, a := range list {
		if p := validate.EmailProblem(a); p != "" {
			e.fail(name, v, fmt.Sprintf("holds %q, which %s", a, p))
		}
	}
	return list
}

// List splits a list separated by commas, semicolons or white space, dropping empty items.
func List(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) })
}

// Bool returns true or false (strconv.ParseBool), or def when unset.
func (e *Env) Bool(name string, def bool) bool {
	v := e.get(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.fail(name, v, "want true or false")
		return def
	}
	return b
}

// Int returns a whole number in [lo, hi], or def when unset.
func (e *Env) Int(name string, def, lo, hi int) int {
	v := e.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		e.fail(name, v, fmt.Sprintf("want a whole number from %d to %d", lo, hi))
		return def
	}
	return n
}

// Float returns a number in [lo, hi], or def when unset.
func (e *Env) Float(name string, def, lo, hi float64) float64 {
	v := e.get(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < lo || f > hi || f != f {
		e.fail(name, v, fmt.Sprintf("want a number from %g to %g", lo, hi))
		return def
	}
	return f
}

// Seconds returns a duration given in whole seconds (at least lo), or def when unset.
func (e *Env) Seconds(name string, def time.Duration, lo int) time.Duration {
	return time.Duration(e.Int(name, int(def/time.Second), lo, 1<<31)) * time.Second
}

// URL returns an https: link (http: only to a loopback host) checked by the one link check
// (credbatch.WebURLProblem); images also accepts data:image/ URLs. Unset is "".
func (e *Env) URL(name string, images bool) string {
	v := e.get(name)
	if v != "" {
		if p := credbatch.WebURLProblem(v, images); p != "" {
			e.fail(name, v, p)
		}
	}
	return v
}

// OneOf returns one of the allowed values, or def when unset.
func (e *Env) OneOf(name, def string, allowed ...string) string {
	v := e.get(name)
	if v == "" {
		return def
	}
	if !slices.Contains(allowed, v) {
		e.fail(name, v, "want one of "+strings.Join(allowed, ", "))
		return def
	}
	return v
}

// errorf records a problem found by a caller (a value that parses but does not fit).
func (e *Env) errorf(name, v, problem string) { e.fail(name, v, problem) }
