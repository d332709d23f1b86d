package report

import (
	"context"
	"fmt"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Problem is what went wrong for a failed recipient; each has one next step.
type Problem string

// Problems, in the order the report lists them (what needs the administrator first).
const (
	ProblemBadAddress Problem = "bad_address" // permanent bounce: the address does not exist or refuses mail
	ProblemSuppressed Problem = "suppressed"  // not sent or not delivered: the address is on a suppression list
	ProblemNotSent    Problem = "not_sent"    // the mailer refused the message
	ProblemRejected   Problem = "rejected"    // SES refused the message before sending it
	ProblemComplaint  Problem = "complaint"   // the recipient marked the email as spam
	ProblemTemporary  Problem = "temporary"   // transient or undetermined bounce: SES keeps trying
)

// Problems lists every problem in report order.
var Problems = []Problem{ProblemBadAddress, ProblemSuppressed, ProblemNotSent, ProblemRejected, ProblemComplaint, ProblemTemporary}

// problemText is the heading of a problem's group and its next step.
var problemText = map[Problem]struct{ title, next string }{
	ProblemBadAddress: {"Wrong address: the address does not exist or refuses mail",
		"Correct the address: type it in the \"Corrected email\" column of the attached workbook and upload the workbook back on the console's Upload page; only the corrected rows are sent again."},
	ProblemSuppressed: {"On the suppression list: the address bounced or complained before, so nothing was delivered",
		"Correct the address in the \"Corrected email\" column and upload the workbook back. If the recipient confirms the address works, an administrator removes it from the suppression list first, then resends from the batch page."},
	ProblemNotSent: {"Not sent: the mail service refused the message",
		"Read the diagnostic: when it is about the address, correct it in the \"Corrected email\" column and upload the workbook back; otherwise resend from the batch page."},
	ProblemRejected: {"Refused by SES before sending",
		"Check the credential type's email text for anything that looks unsafe (links, attachments), then resend from the batch page."},
	ProblemComplaint: {"Marked as spam by the recipient",
		"Remove them from your list and do not send to them again; they still have the credential's link."},
	ProblemTemporary: {"Temporary failure: a full mailbox or a busy mail server",
		"Wait: SES keeps trying. If the next report still lists them, check the address with the recipient."},
}

// Title is the heading of the problem's group in the report.
func (p Problem) Title() string { return problemText[p].title }

// NextStep says what the administrator does about the problem.
func (p Problem) NextStep() string { return problemText[p].next }

// classify returns the problem and the plain-words reason of a failed delivery event
// (ok false when the event is not a failure).
func classify(d credbatch.Delivery) (Problem, string, bool) {
	kind := d.BounceType
	if d.BounceSubType != "" {
		kind += "/" + d.BounceSubType
	}
	switch d.Event {
	case credbatch.EventBounce:
		switch {
		case d.BounceType == "Permanent" && d.BounceSubType == "OnAccountSuppressionList":
			return ProblemSuppressed, "Not delivered: the address is on the account's suppression list (" + kind + ")", true
		case d.BounceType == "Permanent":
			return ProblemBadAddress, "Bounced: the address does not exist or refuses mail (" + kind + ")", true
		default:
			return ProblemTemporary, "Temporary failure, SES keeps trying (" + strings.TrimPrefix(kind, "/") + ")", true
		}
	case credbatch.EventComplaint:
		return ProblemComplaint, "Marked as spam by the recipient", true
	case credbatch.EventReject:
		return ProblemRejected, "Refused by SES before sending", true
	}
	return "", "", false
}

// failing reports whether a credential's email is still a problem (a later resend or delivery
// takes it off the report).
func failing(s credbatch.EmailStatus) bool {
	switch s {
	case credbatch.EmailBounced, credbatch.EmailSoftBounce, credbatch.EmailComplained, credbatch.EmailRejected,
		credbatch.EmailSuppressed, credbatch.EmailFailed:
		return true
	}
	return false
}

// failures collects a window's failed recipients: at most one line per credential (its latest
// failure), none for a credential whose email is no longer failing, each with the name and
// row of the upload it came from.
type failures struct {
	store  credbatch.Store
	list   []Failure
	byCred map[string]int // credential id → index in list
	creds  map[string]credbatch.Credential
}

func newFailures(st credbatch.Store) *failures {
	return &failures{store: st, byCred: map[string]int{}, creds: map[string]credbatch.Credential{}}
}

// event adds a failed delivery event (and ignores any other).
func (fs *failures) event(ctx context.Context, d credbatch.Delivery) error {
	problem, reason, ok := classify(d)
	if !ok || d.CredentialID == "" {
		// Not a failure, or not a credential email: a notification (approval request, summary,
		// this report) that bounced is not a recipient to correct and upload back.
		return nil
	}
	f := Failure{BatchID: d.BatchID, Email: d.Email, Problem: problem, Reason: reason, Diagnostic: d.Diagnostic,
		CredentialID: d.CredentialID, At: d.At}
	{
		c, ok := fs.creds[d.CredentialID]
		if !ok {
			var err error
			if c, err = fs.store.GetCredential(ctx, d.CredentialID); err != nil && !credbatch.IsKind(err, credbatch.KindNotFound) {
				return fmt.Errorf("load credential %s: %w", d.CredentialID, err)
			}
			fs.creds[d.CredentialID] = c
		}
		if c.ID != "" {
			if !failing(c.EmailStatus) {
				return nil
			}
			f.Row = c.RowNumber
			if f.BatchID == "" {
				f.BatchID = c.BatchID
			}
		}
	}
	fs.add(f)
	return nil
}

// add keeps f, replacing an earlier failure of the same credential.
func (fs *failures) add(f Failure) {
	if i, ok := fs.byCred[f.CredentialID]; ok {
		if !f.At.Before(fs.list[i].At) {
			fs.list[i] = f
		}
		return
	}
	fs.byCred[f.CredentialID] = len(fs.list)
	fs.list = append(fs.list, f)
}

// names fills in each failure's batch label and the first and last name of its row.
func (fs *failures) names(ctx context.Context, labels map[string]string) error {
	for i := range fs.list {
		f := &fs.list[i]
		f.BatchLabel = labels[f.BatchID]
		if f.BatchID == "" || f.Row <= 0 {
			continue
		}
		r, err := fs.store.GetRow(ctx, f.BatchID, f.Row)
		if err != nil {
			if credbatch.IsKind(err, credbatch.KindNotFound) {
				continue
			}
			return fmt.Errorf("load row %d of batch %s: %w", f.Row, f.BatchID, err)
		}
		f.FirstName, f.LastName = r.FirstName, r.LastName
	}
	return nil
}

// unsentFailure is the failure of a credential whose email was never sent (suppressed by us,
// or refused by the mailer); ok false for any other.
func unsentFailure(b credbatch.Batch, c credbatch.Credential) (Failure, bool) {
	f := Failure{BatchID: b.ID, BatchLabel: b.Label, Row: c.RowNumber, Email: c.Email, Diagnostic: c.LastError,
		CredentialID: c.ID, At: c.UpdatedAt}
	if f.At.IsZero() {
		f.At = c.IssuedAt
	}
	switch {
	case c.EmailStatus == credbatch.EmailSuppressed && c.BounceType == "":
		f.Problem, f.Reason = ProblemSuppressed, "Not sent: the address is on the suppression list (it bounced or complained before)"
	case c.EmailStatus == credbatch.EmailFailed:
		f.Problem, f.Reason = ProblemNotSent, "Not sent: the mail service refused the message"
	default:
		return Failure{}, false
	}
	return f, true
}

// Name is the recipient's name as the upload gave it ("" when it had none).
func (f Failure) Name() string { return strings.TrimSpace(f.FirstName + " " + f.LastName) }
