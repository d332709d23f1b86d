// Package engine runs the issuance state machine (infra/statemachine/issuance.asl.json) in
// process for the local stack: a JSONPath ASL interpreter with Step Functions semantics and
// its executions, task tokens and history kept in a SQLite file.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

// Handler is an in-process stand-in for a Lambda function: it gets the invocation payload
// and returns the function's result. A returned error becomes the function error that
// aws-lambda-go would report (see LambdaError): the state's error name is its errorType and
// its Cause is the JSON error document, as Step Functions reports a failed Lambda task.
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
// name of err, pointers dereferenced (*issuance.BatchNotReadyError → "BatchNotReadyError"),
// or the Type of a messages.InvokeResponse_Error, as aws-lambda-go reports errorType.
func ErrorName(err error) string {
	return LambdaError(err).Type
}

// LambdaError is the function error document aws-lambda-go sends for a handler error (its
// lambdaErrorResponse and lambdaPanicResponse): a messages.InvokeResponse_Error is sent as
// it is; a *PanicError carries the panic value's type, message and stack; any other error
// is {errorMessage: err.Error(), errorType: its outermost type name}. A type without a
// name reports "Lambda.Unknown", the name Step Functions gives an error without a type.
func LambdaError(err error) messages.InvokeResponse_Error {
	var ive messages.InvokeResponse_Error
	var pive *messages.InvokeResponse_Error
	var pe *PanicError
	switch {
	case err == nil:
		return messages.InvokeResponse_Error{Type: "Lambda.Unknown"}
	case errors.As(err, &pe) && reflect.TypeOf(err) == reflect.TypeOf(pe):
		return messages.InvokeResponse_Error{Message: fmt.Sprintf("%v", pe.Value), Type: typeName(pe.Value), StackTrace: pe.Frames}
	case reflect.TypeOf(err) == reflect.TypeOf(ive):
		return err.(messages.InvokeResponse_Error)
	case reflect.TypeOf(err) == reflect.TypeOf(pive):
		return *err.(*messages.InvokeResponse_Error)
	}
	return messages.InvokeResponse_Error{Message: err.Error(), Type: typeName(err)}
}

// Cause is the Cause Step Functions gives a failed Lambda task: the function's JSON error
// document.
func Cause(doc messages.InvokeResponse_Error) string {
	b, err := json.Marshal(doc)
	if err != nil {
		return doc.Message
	}
	return string(b)
}

func typeName(v any) string {
	t := reflect.TypeOf(v)
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

// PanicError is what a panicking handler fails with: the panic value and the stack frames
// aws-lambda-go would report.
type PanicError struct {
	Value  any
	Frames []*messages.InvokeResponse_Error_StackFrame
}

func (e *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.Value) }

// call runs h, turning a panic into a *PanicError.
func call(ctx context.Context, h Handler, payload json.RawMessage) (out json.RawMessage, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, &PanicError{Value: v, Frames: panicFrames()}
		}
	}()
	return h(ctx, payload)
}

// panicFrames formats the panicking goroutine's stack as aws-lambda-go does (path, line,
// function label).
func panicFrames() []*messages.InvokeResponse_Error_StackFrame {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(3, pcs) // runtime.Callers, panicFrames, the deferred func
	frames := runtime.CallersFrames(pcs[:n])
	var out []*messages.InvokeResponse_Error_StackFrame
	for {
		f, more := frames.Next()
		path, label := f.File, f.Function
		i := len(path) // keep as many directories as the package path has, as aws-lambda-go does
		for n := 0; n < strings.Count(label, "/")+2 && i > 0; n++ {
			i = strings.LastIndex(path[:i], "/")
		}
		path = path[i+1:]
		label = label[strings.LastIndex(label, "/")+1:]
		label = label[strings.Index(label, ".")+1:]
		out = append(out, &messages.InvokeResponse_Error_StackFrame{Path: path, Line: int32(f.Line), Label: label})
		if !more {
			break
		}
	}
	return out
}
