// Package credbatch is the dependency-free domain of credbatch: types, ports and error kinds.
package credbatch

import (
	"errors"
	"fmt"
)

// Kind classifies an error for callers; the HTTP layer maps each kind to a status once.
type Kind string

// Error kinds.
const (
	KindInvalid      Kind = "invalid"      // the caller's input is wrong (400)
	KindUnauthorized Kind = "unauthorized" // no or bad credentials (401)
	KindForbidden    Kind = "forbidden"    // authenticated but not allowed (403)
	KindNotFound     Kind = "not_found"    // the thing does not exist (404)
	KindConflict     Kind = "conflict"     // state does not allow it, or it exists already (409)
	KindUnavailable  Kind = "unavailable"  // a dependency is throttling or down; retry (503)
	KindBusy         Kind = "busy"         // too much of this work at once; retry in a moment (429)
	KindInternal     Kind = "internal"     // a bug or an unexpected failure (500)
)

// Error is the one error type of credbatch. Code is a stable machine-readable code (for
// validation findings one of the Code* constants), Message a human sentence that says how to
// fix it, Op the operation that failed.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Op      string
	Details any
	Err     error
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Op != "" {
		return fmt.Sprintf("%s: %s", e.Op, msg)
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the kind with a formatted message; Code defaults to the kind.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: string(kind), Message: fmt.Sprintf(format, args...)}
}

// E returns an *Error with the kind, stable code and message.
func E(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// ErrorKind returns the kind of the first *Error in err's chain, KindInternal otherwise.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// ErrorCode returns the code of the first *Error in err's chain, "internal" otherwise.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	return string(KindInternal)
}

// ErrorMessage returns the human message of the first *Error in err's chain, or
// "internal error" so that internal details never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != KindInternal {
		return e.Message
	}
	return "internal error"
}

// IsKind reports whether err carries the kind.
func IsKind(err error, kind Kind) bool { return err != nil && ErrorKind(err) == kind }

// NotFound returns a KindNotFound error for the thing and id.
func NotFound(thing, id string) *Error {
	return &Error{Kind: KindNotFound, Code: string(KindNotFound), Message: fmt.Sprintf("%s %q not found", thing, id)}
}

// Conflict returns a KindConflict error with the message.
func Conflict(format string, args ...any) *Error { return Errorf(KindConflict, format, args...) }
