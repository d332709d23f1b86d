package feedback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Service records SES events: the credential's email status moved forward (the store moves
// the batch's counters with it), the suppression list, and one credbatch.Delivery per event
// and recipient, except a Delivery event joined to its credential: that one is not stored
// (it is most of the events, and its record was 2 of the 5 write units feedback spent per
// credential); its status move stamps the credential's DeliveredAt with the time it was
// handled instead, and the report counts the window's deliveries from that. A Delivery's
// effects are idempotent without a record: the move is conditional, counters follow moves,
// and it suppresses nothing. A complaint does not stamp DeliveredAt (DeliveredAt stays the
// Delivery events' clock): SES publishes a Delivery for every delivered recipient, and one
// that arrives after its complaint (which it cannot move back) stamps DeliveredAt alone.
type Service struct {
	Store credbatch.Store
	Clock credbatch.Clock // default time.Now
	Log   *slog.Logger    // default slog.Default()
}

// CodeNotYetSent is the code of the retryable error returned when an event arrives for a
// credential whose sender has not yet recorded the send (its email is still "sending").
const CodeNotYetSent = "not_yet_sent"

// maxConflicts bounds the re-reads when a concurrent writer changes a credential's email
// status between our read and our conditional write.
const maxConflicts = 5

func (s *Service) now() time.Time {
	if s.Clock != nil {
		return s.Clock().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Handle processes the SNS notifications of an invocation. Malformed messages and event types
// credbatch ignores (Open, Click, ...) are logged and skipped: SNS → Lambda has no partial
// batch response, and retrying a message that can never parse is pointless. A store failure
// (or an event that arrived before its send was recorded, CodeNotYetSent) is returned so that
// Lambda retries the invocation; that is safe because every step is idempotent (deliveries are
// keyed by SNS message id and recipient, status moves are conditional and only forward, and
// counters move only with a status that actually advanced).
func (s *Service) Handle(ctx context.Context, ev events.SNSEvent) error {
	var errs []error
	for _, r := range ev.Records {
		if err := s.HandleMessage(ctx, r.SNS.MessageID, r.SNS.Message); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// HandleMessage processes one SES event record (an SNS notification's Message) delivered as
// the SNS message snsID; see Handle for which errors are returned.
func (s *Service) HandleMessage(ctx context.Context, snsID, message string) error {
	e, err := Parse(message)
	if err != nil {
		s.log().Warn("SES event skipped: malformed", "sns_message_id", snsID, "err", err)
		return nil
	}
	if !e.Known() {
		s.log().Debug("SES event skipped: type not tracked", "sns_message_id", snsID, "event_type", e.Type)
		return nil
	}
	if snsID == "" {
		sum := sha256.Sum256([]byte(message))
		snsID = "sha256-" + hex.EncodeToString(sum[:16])
	}
	return s.Apply(ctx, snsID, e)
}

// Apply records a parsed event that arrived as the SNS message snsID.
func (s *Service) Apply(ctx context.Context, snsID string, e Event) error {
	c, found, err := s.credential(ctx, e)
	if err != nil {
		return fmt.Errorf("SES %s event %s: %w", e.Type, snsID, err)
	}
	var errs []error
	for _, r := range e.Recipients {
		if err := s.recipient(ctx, snsID, e, r, c, found); err != nil {
			errs = append(errs, fmt.Errorf("SES %s event %s for %s: %w", e.Type, snsID, r.Email, err))
		}
	}
	return errors.Join(errs...)
}

// credential joins the event to its credential by the credential_id tag every credential
// email carries (SES copies a message's tags into each of its events). found is false (and
// err nil) when it has none or names no stored credential: an approval, summary or report
// email, or a credential of another deployment.
func (s *Service) credential(ctx context.Context, e Event) (c credbatch.Credential, found bool, err error) {
	if e.CredentialID == "" {
		return credbatch.Credential{}, false, nil
	}
	c, err = s.Store.GetCredential(ctx, e.CredentialID)
	switch {
	case err == nil:
		return c, true, nil
	case credbatch.IsKind(err, credbatch.KindNotFound):
		return credbatch.Credential{}, false, nil
	}
	return c, false, fmt.Errorf("load credential %s: %w", e.CredentialID, err)
}

// recipient records the event for one recipient, then applies it; a Delivery joined to its
// credential is applied without a record (delivered).
func (s *Service) recipient(ctx context.Context, snsID string, e Event, r Recipient, c credbatch.Credential, found bool) error {
	email := strings.ToLower(r.Email)
	d := credbatch.Delivery{ID: snsID + "/" + email, MessageID: e.MessageID, Email: email,
		Event: credbatch.EventType(e.Type), BounceType: e.BounceType, BounceSubType: e.BounceSubType,
		Diagnostic: diagnostic(e, r), At: e.At.UTC(), RecordedAt: s.now(), BatchID: e.BatchID}
	own := found && strings.EqualFold(c.Email, email)
	if own {
		d.CredentialID, d.BatchID = c.ID, c.BatchID
	}
	if own && d.Event == credbatch.EventDelivery {
		return s.delivered(ctx, snsID, c, e, d)
	}
	isNew, err := s.Store.RecordDelivery(ctx, d)
	if err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	log := s.log().With("sns_message_id", snsID, "event_type", e.Type, "message_id", e.MessageID, "credential_id", d.CredentialID)
	if !isNew {
		log.Info("SES event seen before; re-checking its effects")
	}
	if reason := e.Suppresses(); reason != "" {
		if err := s.Store.PutSuppression(ctx, credbatch.Suppression{Email: email, Reason: reason, MessageID: e.MessageID, At: d.At}); err != nil {
			return fmt.Errorf("suppress address: %w", err)
		}
	}
	if !own {
		if !found {
			log.Info("SES event recorded without a credential")
		}
		return nil
	}
	to := e.Status()
	if to == "" {
		return nil
	}
	// The status move and its counters run even for an event seen before: a retry after a
	// failure between recording and moving must still move it. They are idempotent: a status
	// that is already there (or further) does not move, and counters follow actual moves only.
	_, err = s.advance(ctx, c, to, e, d, log)
	return err
}

// delivered applies a Delivery event joined to its credential, without recording it: the
// email status moves to delivered with DeliveredAt stamped (d.RecordedAt, the clock a record
// would have been listed by). When the status cannot move (it is delivered already, or past
// delivered: a complaint or a bounce overtook this event), nothing is written, except that a
// credential past delivered whose DeliveredAt is unset, or older than its latest send (a
// resent email), is stamped alone (the same status, one conditional write), so the report
// still counts this delivery once. A redelivered event therefore changes nothing, and a
// credential delivered before DeliveredAt existed (delivered, no stamp) is left as it is: its
// delivery was recorded then.
func (s *Service) delivered(ctx context.Context, snsID string, c credbatch.Credential, e Event, d credbatch.Delivery) error {
	log := s.log().With("sns_message_id", snsID, "event_type", e.Type, "message_id", e.MessageID, "credential_id", c.ID)
	c, err := s.advance(ctx, c, credbatch.EmailDelivered, e, d, log)
	if err != nil {
		return err
	}
	for attempt := 0; unstamped(c); attempt++ {
		_, err := s.Store.SetEmailStatus(ctx, c.ID, []credbatch.EmailStatus{c.EmailStatus}, c.EmailStatus, credbatch.EmailChange{DeliveredAt: d.RecordedAt})
		if err == nil {
			log.Info("delivery stamped; email status kept", "status", c.EmailStatus)
			return nil
		}
		if !credbatch.IsKind(err, credbatch.KindConflict) || attempt >= maxConflicts {
			return fmt.Errorf("stamp the delivery of credential %s: %w", c.ID, err)
		}
		if c, err = s.Store.GetCredential(ctx, c.ID); err != nil {
			return fmt.Errorf("reload credential %s: %w", c.ID, err)
		}
	}
	return nil
}

// unstamped reports whether a credential's email is past delivered (a complaint or a bounce
// came first) and its DeliveredAt does not stamp its latest send's delivery.
func unstamped(c credbatch.Credential) bool {
	return credbatch.EmailAdvances(credbatch.EmailDelivered, c.EmailStatus) &&
		(c.DeliveredAt.IsZero() || c.DeliveredAt.Before(c.SentAt))
}

// advance moves the credential's email status forward to `to` (never backwards) and returns
// the credential as last read or written. A move to delivered stamps DeliveredAt.
func (s *Service) advance(ctx context.Context, c credbatch.Credential, to credbatch.EmailStatus, e Event, d credbatch.Delivery, log *slog.Logger) (credbatch.Credential, error) {
	ch := credbatch.EmailChange{BounceType: e.BounceLabel()}
	if to != credbatch.EmailDelivered {
		ch.LastError = d.Diagnostic
	} else {
		ch.DeliveredAt = d.RecordedAt
	}
	for attempt := 0; ; attempt++ {
		from := c.EmailStatus
		switch from {
		case credbatch.EmailPending, credbatch.EmailSending:
			// The sender has not recorded the send yet (SES can be faster than our write):
			// retry later rather than overtake it, which would make its own write conflict.
			return c, &credbatch.Error{Kind: credbatch.KindUnavailable, Code: CodeNotYetSent,
				Message: fmt.Sprintf("credential %s: email is still %s; retry once the send is recorded", c.ID, from)}
		}
		if !credbatch.EmailAdvances(from, to) {
			log.Debug("email status kept", "from", from, "event_status", to)
			return c, nil
		}
		// The store moves the batch's counters with the move (credbatch.EmailDelta), so
		// they follow the statuses exactly, whatever order the events arrive in.
		moved, err := s.Store.SetEmailStatus(ctx, c.ID, []credbatch.EmailStatus{from}, to, ch)
		if err == nil {
			log.Info("email status moved", "from", from, "to", to)
			return moved, nil
		}
		if !credbatch.IsKind(err, credbatch.KindConflict) || attempt >= maxConflicts {
			return c, fmt.Errorf("move email status of credential %s from %s to %s: %w", c.ID, from, to, err)
		}
		if c, err = s.Store.GetCredential(ctx, c.ID); err != nil {
			return c, fmt.Errorf("reload credential %s: %w", c.ID, err)
		}
	}
}

// diagnostic is the human text stored with a delivery: the SMTP diagnostic, the complaint
// type or the reject reason.
func diagnostic(e Event, r Recipient) string {
	switch credbatch.EventType(e.Type) {
	case credbatch.EventComplaint:
		if e.ComplaintType != "" {
			return "complaint: " + e.ComplaintType
		}
		return "complaint"
	case credbatch.EventReject:
		return "rejected: " + e.Reason
	}
	return r.Diagnostic
}
