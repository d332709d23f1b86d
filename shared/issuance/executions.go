package issuance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// ExecutionEvent is EventBridge's "Step Functions Execution Status Change" event (source
// aws.states). Detail carries the execution's input as a JSON string, left out (with
// inputDetails.included false) when input and output together pass 248 KB.
type ExecutionEvent struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Time       time.Time       `json:"time"`
	Detail     ExecutionDetail `json:"detail"`
}

// ExecutionDetail is the event's detail.
type ExecutionDetail struct {
	ExecutionArn    string `json:"executionArn"`
	StateMachineArn string `json:"stateMachineArn"`
	Name            string `json:"name"`
	Status          string `json:"status"` // RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED
	StartDate       int64  `json:"startDate"`
	StopDate        int64  `json:"stopDate"`
	Input           string `json:"input"`
	InputDetails    struct {
		Included bool `json:"included"`
	} `json:"inputDetails"`
	Error string `json:"error"`
	Cause string `json:"cause"`
}

// ExecutionEventType is the detail-type of the events ExecutionEnded handles.
const ExecutionEventType = "Step Functions Execution Status Change"

// alertLease is how long a claim to send an execution's alert holds before another delivery
// of the event may send it (a delivery that died between the claim and the email).
const alertLease = 2 * time.Minute

// alertSent is the value of an alert mark once the email went out.
var alertSent = time.Unix(1, 0).UTC()

// executionName is a batch's execution name: the batch id, or the id and a resubmission's
// nanosecond stamp (Actions.start).
var executionName = regexp.MustCompile(`^(.+?)(-[0-9]+)?$`)

// Invoke is the workflow function's handler: a state machine task (Task), or the EventBridge
// event of an execution that ended badly (ExecutionEnded).
func (s *Service) Invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
	}
	if err := json.Unmarshal(raw, &probe); err == nil && probe.Source == "aws.states" && probe.DetailType == ExecutionEventType {
		var ev ExecutionEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("decode %s event: %w", ExecutionEventType, err)
		}
		return map[string]string{}, s.ExecutionEnded(ctx, ev)
	}
	var t Task
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, &TaskFailedError{Err: fmt.Errorf("decode task: %w", err)}
	}
	return s.Handle(ctx, t)
}

// ExecutionEnded handles an execution that ended FAILED, TIMED_OUT or ABORTED (other
// statuses are ignored): the batch is marked failed as Fail does when the state machine's
// own Catch records it (idempotent: a batch already recorded, or finished, is left as it
// is; rows not issued end failed, retryable, never dropped), then the administrators are
// emailed once per execution (a mark in the store; a redelivered event sends nothing more).
// An event for an execution other than the batch's current one (it was submitted again
// since) changes nothing. Errors are returned so that Lambda retries and, after its retries,
// the event lands in the dead-letter queue.
func (s *Service) ExecutionEnded(ctx context.Context, ev ExecutionEvent) error {
	d := ev.Detail
	switch d.Status {
	case "FAILED", "TIMED_OUT", "ABORTED":
	default:
		return nil
	}
	id := batchOfExecution(d)
	if id == "" {
		return fmt.Errorf("execution %s: no batch id in its input or name", d.ExecutionArn)
	}
	b, err := s.Store.GetBatch(ctx, id)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		s.log().Warn("ended execution of an unknown batch", "execution", d.ExecutionArn, "batch_id", id)
		return nil
	}
	if err != nil {
		return err
	}
	if b.ExecutionID != "" && b.ExecutionID != d.ExecutionArn {
		s.log().Info("ended execution is not the batch's current one", "execution", d.ExecutionArn, "batch_id", id, "current", b.ExecutionID)
		return nil
	}
	errName, cause := d.Error, d.Cause
	if errName == "" {
		errName = map[string]string{"FAILED": "ExecutionFailed", "TIMED_OUT": "ExecutionTimedOut", "ABORTED": "ExecutionAborted"}[d.Status]
	}
	if cause == "" {
		cause = "the execution ended " + strings.ToLower(strings.ReplaceAll(d.Status, "_", " ")) + " without a cause"
	}
	s.log().Error("issuance execution ended", "execution", d.ExecutionArn, "status", d.Status, "batch_id", id, "error", errName)
	if err := s.Fail(ctx, id, errName, cause); err != nil {
		return fmt.Errorf("mark batch %s failed: %w", id, err)
	}
	return s.alertAdmins(ctx, d, id, errName, cause)
}

// batchOfExecution reads the batch id from the execution's input, or from its name when the
// event left the input out.
func batchOfExecution(d ExecutionDetail) string {
	var in struct {
		BatchID string `json:"batch_id"`
	}
	if d.Input != "" && json.Unmarshal([]byte(d.Input), &in) == nil && in.BatchID != "" {
		return in.BatchID
	}
	name := d.Name
	if name == "" {
		name = d.ExecutionArn[strings.LastIndex(d.ExecutionArn, ":")+1:]
	}
	if m := executionName.FindStringSubmatch(name); m != nil {
		return m[1]
	}
	return ""
}

// alertAdmins emails the administrators about the execution once: the first delivery
// claims the mark, sends, and marks it sent; a delivery that finds it sent does nothing, one
// that finds a live claim fails (Lambda retries it later), one that finds a stale claim (the
// claimer died) takes it over. A failed send gives the claim back.
func (s *Service) alertAdmins(ctx context.Context, d ExecutionDetail, id, errName, cause string) error {
	admins := s.cfg().Admins
	if len(admins) == 0 || s.Mailer == nil {
		s.log().Warn("no administrator addresses: the failed execution is only logged", "execution", d.ExecutionArn)
		return nil
	}
	mark := "execution-alert:" + d.ExecutionArn
	prev, err := s.Store.GetMark(ctx, mark)
	switch {
	case credbatch.IsKind(err, credbatch.KindNotFound):
		prev = time.Time{}
	case err != nil:
		return err
	case prev.Equal(alertSent):
		return nil
	case s.now().Sub(prev) < alertLease:
		return credbatch.Errorf(credbatch.KindUnavailable, "the alert for %s is being sent by another delivery", d.ExecutionArn)
	}
	claim := s.now()
	if err := s.Store.SetMark(ctx, mark, prev, claim); err != nil {
		return fmt.Errorf("claim the alert for %s: %w", d.ExecutionArn, err)
	}
	b, err := s.Store.GetBatch(ctx, id)
	if err != nil {
		return errors.Join(err, s.releaseAlert(ctx, mark, claim))
	}
	if _, err := s.Mailer.Send(ctx, executionAlert(s.cfg(), d, b, errName, cause, admins)); err != nil {
		return errors.Join(fmt.Errorf("email the administrators about %s: %w", d.ExecutionArn, err), s.releaseAlert(ctx, mark, claim))
	}
	if err := s.Store.SetMark(context.WithoutCancel(ctx), mark, claim, alertSent); err != nil {
		s.log().Warn("alert sent but not marked: a redelivery after the lease sends it again", "execution", d.ExecutionArn, "err", err)
	}
	return nil
}

// releaseAlert gives a claim back (as a stale one) so that the retry sends at once.
func (s *Service) releaseAlert(ctx context.Context, mark string, claim time.Time) error {
	return s.Store.SetMark(context.WithoutCancel(ctx), mark, claim, claim.Add(-alertLease))
}

func executionAlert(c Config, d ExecutionDetail, b credbatch.Batch, errName, cause string, to []string) credbatch.Message {
	base := strings.TrimRight(c.Issuer.BaseURL, "/")
	status := strings.ToLower(strings.ReplaceAll(d.Status, "_", " "))
	text := fmt.Sprintf("The issuance workflow of batch %s ended %s.\n\nError: %s\nCause: %s\nExecution: %s\n\nThe batch is now %s (%d issued, %d failed of %d rows).\nReason recorded on the batch: %s\n\nFailed rows can be retried from the batch page (or POST /api/batches/%s/retry):\n%s/batches/%s\n",
		label(b), status, errName, CauseMessage(cause), d.ExecutionArn, credbatch.StatusWords(b), b.Counts.Issued, b.Counts.Failed, b.Counts.Rows,
		orDash(b.Reason), b.ID, base, b.ID)
	return credbatch.Message{From: c.sender(), To: to, Subject: fmt.Sprintf("Issuance workflow %s: %s", status, label(b)), Text: text,
		Tags: map[string]string{"batch_id": b.ID, "kind": "execution_alert"}}
}
