package issuance

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Actions are the people-driven steps of the flow (approve, reject, request changes, submit,
// resume, cancel), used by the HTTP API. Errors: KindNotFound, KindConflict when the batch is
// not in a state that allows the action (approving twice, amending after approval),
// KindForbidden for four-eyes violations, KindInvalid for a missing reason.
type Actions struct {
	Store    credbatch.Store
	Workflow credbatch.Workflow
	Clock    credbatch.Clock
	// Notify, when set, emails the issuer an approver's reason for rejecting a batch or
	// asking for changes (the Service does). A failed email is logged, not returned: the
	// decision stands.
	Notify DecisionNotifier
	Log    *slog.Logger
}

// DecisionNotifier tells the uploader of a batch what an approver decided and why.
type DecisionNotifier interface {
	Declined(ctx context.Context, b credbatch.Batch, approver, reason string) error
}

// Approve approves a batch awaiting approval and lets the flow continue.
func (a *Actions) Approve(ctx context.Context, id, approver string) (credbatch.Batch, error) {
	b, err := a.Store.GetBatch(ctx, id)
	if err != nil {
		return b, err
	}
	if b.Status != credbatch.BatchAwaitingApproval {
		return b, credbatch.Conflict("batch %s is %s; only a batch awaiting approval can be approved", id, b.Status)
	}
	pol, err := PolicyOf(ctx, a.Store, b)
	if err != nil {
		return b, err
	}
	if pol.FourEyes && (approver == "" || strings.EqualFold(approver, b.Uploader)) {
		return b, credbatch.E(credbatch.KindForbidden, "four_eyes", "this definition needs a second person: the uploader cannot approve their own batch")
	}
	if b.TaskToken == "" {
		return b, credbatch.Conflict("batch %s is not waiting on the workflow yet; try again in a moment", id)
	}
	b, err = a.Store.TransitionBatch(ctx, id, credbatch.BatchAwaitingApproval, credbatch.BatchApproved, credbatch.BatchChange{ApprovedBy: &approver})
	if err != nil {
		return b, err
	}
	out, _ := json.Marshal(map[string]string{"approved_by": approver})
	if err := a.Workflow.Succeed(ctx, b.TaskToken, out); err != nil {
		if credbatch.IsKind(err, credbatch.KindConflict) || credbatch.IsKind(err, credbatch.KindNotFound) {
			// The approval window closed (the task timed out) between the check and the
			// answer: the flow has moved on to expire the batch, so this approval must not
			// leave it approved with nothing to issue it.
			reason := "the approval arrived after the approval window closed"
			if _, terr := a.Store.TransitionBatch(ctx, id, credbatch.BatchApproved, credbatch.BatchExpired, credbatch.BatchChange{Reason: &reason}); terr != nil {
				return b, fmt.Errorf("expire batch %s after a late approval: %w", id, terr)
			}
			return b, credbatch.Conflict("batch %s expired: %s", id, reason)
		}
		return b, fmt.Errorf("resume workflow of %s: %w", id, err)
	}
	return b, nil
}

// Reject cancels a batch awaiting approval, with a reason.
func (a *Actions) Reject(ctx context.Context, id, approver, reason string) (credbatch.Batch, error) {
	return a.decline(ctx, id, approver, reason, credbatch.BatchCancelled, "BatchRejected")
}

// RequestChanges sends a batch awaiting approval back to the issuer (status rejected), who can
// amend rows and submit it again.
func (a *Actions) RequestChanges(ctx context.Context, id, approver, reason string) (credbatch.Batch, error) {
	return a.decline(ctx, id, approver, reason, credbatch.BatchRejected, "ChangesRequested")
}

func (a *Actions) decline(ctx context.Context, id, approver, reason string, to credbatch.BatchStatus, code string) (credbatch.Batch, error) {
	if strings.TrimSpace(reason) == "" {
		return credbatch.Batch{}, credbatch.E(credbatch.KindInvalid, "missing_reason", "give a reason, so the issuer knows what to change")
	}
	b, err := a.Store.GetBatch(ctx, id)
	if err != nil {
		return b, err
	}
	if b.Status != credbatch.BatchAwaitingApproval {
		return b, credbatch.Conflict("batch %s is %s; only a batch awaiting approval can be rejected", id, b.Status)
	}
	full := reason
	if approver != "" {
		full = approver + ": " + reason
	}
	b, err = a.Store.TransitionBatch(ctx, id, credbatch.BatchAwaitingApproval, to, credbatch.BatchChange{Reason: &full})
	if err != nil {
		return b, err
	}
	if b.TaskToken != "" {
		if err := a.Workflow.Fail(ctx, b.TaskToken, code, reason); err != nil && !credbatch.IsKind(err, credbatch.KindNotFound) {
			return b, fmt.Errorf("stop workflow of %s: %w", id, err)
		}
	}
	// The conditional transition above happens once, so the email is sent once.
	if a.Notify != nil {
		if err := a.Notify.Declined(ctx, b, approver, reason); err != nil {
			log := a.Log
			if log == nil {
				log = slog.Default()
			}
			log.ErrorContext(ctx, "email the issuer the approver's reason", "batch_id", id, "status", b.Status, "err", err)
		}
	}
	return b, nil
}

// Submit starts issuance of a parsed batch, or of a rejected one whose invalid rows the
// issuer chose to skip (skipInvalid). Submitting a batch that is already on its way is a
// conflict.
func (a *Actions) Submit(ctx context.Context, id string, skipInvalid bool) (credbatch.Batch, error) {
	b, err := a.Store.GetBatch(ctx, id)
	if err != nil {
		return b, err
	}
	switch b.Status {
	case credbatch.BatchParsed:
	case credbatch.BatchRejected:
		if b.Counts.Invalid > 0 && !skipInvalid {
			return b, credbatch.E(credbatch.KindConflict, "invalid_rows",
				fmt.Sprintf("batch %s has %d invalid rows: fix them, or submit with skip_invalid to issue only the valid rows", id, b.Counts.Invalid))
		}
		if b.Counts.Valid == 0 {
			return b, credbatch.E(credbatch.KindConflict, "no_valid_rows", fmt.Sprintf("batch %s has no valid rows to issue", id))
		}
	default:
		return b, credbatch.Conflict("batch %s is %s; only a parsed or rejected batch can be submitted", id, b.Status)
	}
	if err := RequireEvidence(ctx, a.Store, b); err != nil {
		return b, err
	}
	if b.Status == credbatch.BatchRejected {
		if b, err = a.Store.UpdateBatch(ctx, id, credbatch.BatchChange{SkipInvalid: &skipInvalid}); err != nil {
			return b, err
		}
	}
	return a.start(ctx, b)
}

// Resume continues a batch paused for its bounce rate. The bounce rate is measured afresh
// from here (the send and bounce counters at this point are kept as SentAtResume and
// BouncedAtResume), or the first check after resuming would pause the batch again.
func (a *Actions) Resume(ctx context.Context, id string) (credbatch.Batch, error) {
	b, err := a.Store.GetBatch(ctx, id)
	if err != nil {
		return b, err
	}
	c := b.Counts
	c.SentAtResume, c.BouncedAtResume = c.Sent, c.Bounced
	b, err = a.Store.TransitionBatch(ctx, id, credbatch.BatchPaused, credbatch.BatchIssuing, credbatch.BatchChange{Reason: ptr(""), Counts: &c})
	if err != nil {
		return b, err
	}
	return a.start(ctx, b)
}

// Cancel stops a batch that has not started issuing.
func (a *Actions) Cancel(ctx context.Context, id, reason string) (credbatch.Batch, error) {
	b, err := a.Store.GetBatch(ctx, id)
	if err != nil {
		return b, err
	}
	if !credbatch.CanTransition(b.Status, credbatch.BatchCancelled) {
		return b, credbatch.Conflict("batch %s is %s and can no longer be cancelled", id, b.Status)
	}
	token := b.TaskToken
	b, err = a.Store.TransitionBatch(ctx, id, b.Status, credbatch.BatchCancelled, credbatch.BatchChange{Reason: &reason})
	if err != nil {
		return b, err
	}
	if b.Status == credbatch.BatchCancelled && token != "" {
		if err := a.Workflow.Fail(ctx, token, "BatchRejected", "cancelled: "+reason); err != nil && !credbatch.IsKind(err, credbatch.KindNotFound) && !credbatch.IsKind(err, credbatch.KindConflict) {
			return b, fmt.Errorf("stop workflow of %s: %w", id, err)
		}
	}
	return b, nil
}

// start starts a workflow execution named after the batch and its last change, so a
// repeated request starts nothing new while a later submit of the same batch does.
func (a *Actions) start(ctx context.Context, b credbatch.Batch) (credbatch.Batch, error) {
	name := b.ID
	if b.ExecutionID != "" || b.Reason != "" {
		// A batch with an execution before, or an earlier attempt's failure on it (an
		// execution that ended before its Prepare recorded it leaves only that).
		name = fmt.Sprintf("%s-%d", b.ID, b.UpdatedAt.UnixNano())
	}
	input, _ := json.Marshal(map[string]string{"batch_id": b.ID})
	exec, err := a.Workflow.Start(ctx, name, input)
	if err != nil {
		return b, fmt.Errorf("start workflow for %s: %w", b.ID, err)
	}
	// The execution's Prepare records it on the batch, in the write that moves the batch
	// on. Writing it here would let a second Submit that read the batch before that
	// write name its own execution the batch's, and a changed batch would give a second
	// Submit a new execution name; unchanged, the same name starts nothing new.
	b.ExecutionID = exec
	return b, nil
}

// Retry issues again the rows of a batch that ended failed (completed_with_failures): the
// batch goes back to issuing and a new workflow execution re-runs just those rows (issued
// rows are skipped, sent emails are not sent again). Idempotent: a batch already issuing
// again is returned as it is. KindConflict when the batch has no failed rows to retry.
func (a *Actions) Retry(ctx context.Context, id string) (credbatch.Batch, error) {
	b, err := a.Store.GetBatch(ctx, id)
	if err != nil {
		return b, err
	}
	switch {
	case b.Status == credbatch.BatchIssuing || b.Status == credbatch.BatchApproved:
		return b, nil // a retry (or the first run) is on its way
	case b.Status != credbatch.BatchCompletedFailed:
		return b, credbatch.E(credbatch.KindConflict, "nothing_to_retry",
			fmt.Sprintf("batch %s is %s; only a batch completed with failures can be retried", id, b.Status))
	case b.Counts.Failed == 0:
		return b, credbatch.E(credbatch.KindConflict, "nothing_to_retry", fmt.Sprintf("batch %s has no failed rows", id))
	}
	c := b.Counts
	c.Failed = 0 // Finalize recounts every row
	b, err = a.Store.TransitionBatch(ctx, id, credbatch.BatchCompletedFailed, credbatch.BatchIssuing, credbatch.BatchChange{Counts: &c})
	if credbatch.IsKind(err, credbatch.KindConflict) {
		// A concurrent retry moved it first.
		if cur, gerr := a.Store.GetBatch(ctx, id); gerr == nil && cur.Status == credbatch.BatchIssuing {
			return cur, nil
		}
	}
	if err != nil {
		return b, err
	}
	return a.start(ctx, b)
}
