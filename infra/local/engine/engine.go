// Package engine runs the issuance state machine (infra/statemachine/issuance.asl.json) in
// process for the local stack: a JSONPath ASL interpreter with Step Functions semantics and
// its executions, task tokens and history kept in a SQLite file.
package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime/debug"
)

// Handler is an in-process stand-in for a Lambda function: it gets the invocation payload
// and returns the function's result. A returned error is reported to the state machine
// under its outermost Go type name (as aws-lambda-go reports errorType) with err.Error() as
// the cause.
type Handler func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error)

// Typed adapts a typed function (like a Lambda handler) to a Handler: the payload is decoded
// into In and Out is encoded as the result. A payload that does not decode fails with the
// error type name "UnmarshalTypeError"/"SyntaxError", as aws-lambda-go would.
func Typed[In, Out any](fn func(context.Context, In) (Out, error)) Handler {
	return func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error) {
		var in In
		if len(payload) > 0 {
			if err := json.Unmarshal(payload, &in); err != nil {
				return nil, err
			}
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
}

// ErrorName is the name a handler error gets in the state machine: the outermost Go type
// name of err, pointers dereferenced (*issuance.BatchNotReadyError → "BatchNotReadyError").
func ErrorName(err error) string {
	t := reflect.TypeOf(err)
	if t == nil {
		return "Lambda.Unknown"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() == "" {
		return "Lambda.Unknown"
	}
	return t.Name()
}

// PanicError is what a panicking handler fails with.
type PanicError struct {
	Value any
	Stack string
}

func (e *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.Value) }

// call runs h, turning a panic into a *PanicError.
func call(ctx context.Context, h Handler, payload json.RawMessage) (out json.RawMessage, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, &PanicError{Value: v, Stack: string(debug.Stack())}
		}
	}()
	return h(ctx, payload)
}
