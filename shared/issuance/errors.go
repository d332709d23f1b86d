// Package issuance runs the issuance flow's steps: prepare, approval, chunk planning, the
// chunk worker, expiry, cancellation and finalize, plus the approve/reject/submit actions.
package issuance

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Task handlers return these named error types at the top level: aws-lambda-go reports the
// outermost Go type name as the error type, which the state machine's Retry and Catch match
// (infra/statemachine/issuance.asl.json). The local engine derives names the same way.

// BatchNotReadyError: the batch is not in a state this step can act on (already running,
// finished or cancelled). Not retried.
type BatchNotReadyError struct{ Msg string }

func (e *BatchNotReadyError) Error() string { return e.Msg }

// StoreUnavailableError: the store throttled or was down. Retried with backoff.
type StoreUnavailableError struct{ Err error }

func (e *StoreUnavailableError) Error() string { return "store unavailable: " + e.Err.Error() }
func (e *StoreUnavailableError) Unwrap() error { return e.Err }

// ChunkRetryableError: the mailer throttled or a dependency failed; the chunk can be re-run
// safely (issued rows are skipped, sent emails are not sent again).
type ChunkRetryableError struct{ Err error }

func (e *ChunkRetryableError) Error() string { return "chunk can be retried: " + e.Err.Error() }
func (e *ChunkRetryableError) Unwrap() error { return e.Err }

// ChunkUnfinishedError: the chunk stopped before its deadline, or because the shared send
// schedule is full for a while; a re-run continues where it stopped. Retried often, after
// waits no Lambda is billed for.
type ChunkUnfinishedError struct{ Msg string }

func (e *ChunkUnfinishedError) Error() string { return "chunk unfinished, continue later: " + e.Msg }

// SendingStoppedError: the mail account cannot send (suspended, paused, sender not
// verified); the chunk stops instead of burning through the list.
type SendingStoppedError struct{ Err error }

func (e *SendingStoppedError) Error() string { return "sending stopped: " + e.Err.Error() }
func (e *SendingStoppedError) Unwrap() error { return e.Err }

// BatchPausedError: the batch was paused because its hard-bounce rate passed the threshold.
type BatchPausedError struct{ Msg string }

func (e *BatchPausedError) Error() string { return e.Msg }

// TaskFailedError: any other failure of a step.
type TaskFailedError struct{ Err error }

func (e *TaskFailedError) Error() string { return e.Err.Error() }
func (e *TaskFailedError) Unwrap() error { return e.Err }

// named turns an error into one of the named types above, unless it already is one.
func named(err error) error {
	if err == nil {
		return nil
	}
	var (
		nr *BatchNotReadyError
		su *StoreUnavailableError
		cr *ChunkRetryableError
		ss *SendingStoppedError
		bp *BatchPausedError
		cu *ChunkUnfinishedError
		tf *TaskFailedError
	)
	switch {
	case errors.As(err, &nr):
		return nr
	case errors.As(err, &ss):
		return ss
	case errors.As(err, &bp):
		return bp
	case errors.As(err, &cu):
		return cu
	case errors.As(err, &cr):
		return cr
	case errors.As(err, &su):
		return su
	case errors.As(err, &tf):
		return tf
	case credbatch.IsKind(err, credbatch.KindUnavailable):
		return &StoreUnavailableError{Err: err}
	}
	return &TaskFailedError{Err: err}
}

// CauseMessage returns the message of a Cause that Step Functions caught: the errorMessage of
// the Lambda error document a failed Lambda task carries ({"errorMessage", "errorType",
// "stackTrace"}), or the cause as it is (a timeout, a SendTaskFailure cause).
func CauseMessage(cause string) string {
	var doc struct {
		Message *string `json:"errorMessage"`
	}
	if t := strings.TrimSpace(cause); strings.HasPrefix(t, "{") && json.Unmarshal([]byte(t), &doc) == nil && doc.Message != nil {
		return *doc.Message
	}
	return cause
}
