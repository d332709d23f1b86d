// Package feedback records SES sending events (delivered via SNS) against credentials and the suppression list.
package feedback

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Event is one SES event-publishing record, reduced to what credbatch uses.
type Event struct {
	// Type is the event type (eventType; notificationType for identity feedback notifications).
	Type string
	// MessageID is the SES message id (mail.messageId).
	MessageID string
	// CredentialID and BatchID come from the message tags credential_id and batch_id.
	CredentialID string
	BatchID      string
	// At is when the event happened (the event's own timestamp, else mail.timestamp).
	At time.Time
	// Recipients are the addresses the event is about (bounced, complained, delivered,
	// delayed recipients; all destinations for Send and Reject).
	Recipients []Recipient
	// BounceType is Permanent, Transient or Undetermined; BounceSubType e.g. General,
	// NoEmail, Suppressed, OnAccountSuppressionList.
	BounceType    string
	BounceSubType string
	// ComplaintType is the complaint's feedback type (abuse, fraud, not-spam, ...), if any.
	ComplaintType string
	// Reason is the reject reason or the delay type.
	Reason string
}

// Recipient is one address of an event with its diagnostic (SMTP) text.
type Recipient struct {
	Email      string
	Status     string
	Diagnostic string
}

// Event types that credbatch ignores (recorded nowhere).
const (
	eventOpen         = "Open"
	eventClick        = "Click"
	eventRendering    = "Rendering Failure"
	eventSubscription = "Subscription"
)

// wire is the JSON shape of an SES event record (see the SES developer guide, "Contents of
// event data that Amazon SES publishes to Amazon SNS").
type wire struct {
	EventType        string `json:"eventType"`
	NotificationType string `json:"notificationType"`
	Mail             struct {
		Timestamp   time.Time           `json:"timestamp"`
		MessageID   string              `json:"messageId"`
		Destination []string            `json:"destination"`
		Tags        map[string][]string `json:"tags"`
	} `json:"mail"`
	Bounce *struct {
		BounceType        string `json:"bounceType"`
		BounceSubType     string `json:"bounceSubType"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
		Timestamp time.Time `json:"timestamp"`
	} `json:"bounce"`
	Complaint *struct {
		ComplainedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
		ComplaintFeedbackType string    `json:"complaintFeedbackType"`
		Timestamp             time.Time `json:"timestamp"`
	} `json:"complaint"`
	Delivery *struct {
		Recipients   []string  `json:"recipients"`
		SMTPResponse string    `json:"smtpResponse"`
		Timestamp    time.Time `json:"timestamp"`
	} `json:"delivery"`
	Reject *struct {
		Reason string `json:"reason"`
	} `json:"reject"`
	DeliveryDelay *struct {
		DelayType         string `json:"delayType"`
		DelayedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"delayedRecipients"`
		Timestamp time.Time `json:"timestamp"`
	} `json:"deliveryDelay"`
}

// Parse decodes an SES event record (the Message string of the SNS notification). Errors are
// KindInvalid: not JSON, no event type, no message id, or a known event without its body or
// recipients. Open, Click and other event types parse (Known reports false for them).
func Parse(message string) (Event, error) {
	var w wire
	if err := json.Unmarshal([]byte(message), &w); err != nil {
		return Event{}, &credbatch.Error{Kind: credbatch.KindInvalid, Code: string(credbatch.KindInvalid),
			Message: fmt.Sprintf("SES event is not JSON: %v", err), Err: err}
	}
	e := Event{Type: w.EventType, MessageID: w.Mail.MessageID, At: w.Mail.Timestamp}
	if e.Type == "" {
		e.Type = w.NotificationType
	}
	if e.Type == "" {
		return e, credbatch.Errorf(credbatch.KindInvalid, "SES event has no eventType")
	}
	if e.MessageID == "" {
		return e, credbatch.Errorf(credbatch.KindInvalid, "SES %s event has no mail.messageId", e.Type)
	}
	e.CredentialID = firstTag(w.Mail.Tags, "credential_id")
	e.BatchID = firstTag(w.Mail.Tags, "batch_id")
	missing := func(field string) (Event, error) {
		return e, credbatch.Errorf(credbatch.KindInvalid, "SES %s event for message %s has no %s", e.Type, e.MessageID, field)
	}
	switch credbatch.EventType(e.Type) {
	case credbatch.EventSend:
		e.Recipients = plain(w.Mail.Destination)
	case credbatch.EventReject:
		e.Recipients = plain(w.Mail.Destination)
		if w.Reject != nil {
			e.Reason = w.Reject.Reason
		}
	case credbatch.EventDelivery:
		if w.Delivery == nil {
			return missing("delivery object")
		}
		e.Recipients = plain(w.Delivery.Recipients)
		for i := range e.Recipients {
			e.Recipients[i].Diagnostic = w.Delivery.SMTPResponse
		}
		e.At = later(e.At, w.Delivery.Timestamp)
	case credbatch.EventBounce:
		if w.Bounce == nil {
			return missing("bounce object")
		}
		e.BounceType, e.BounceSubType = w.Bounce.BounceType, w.Bounce.BounceSubType
		for _, r := range w.Bounce.BouncedRecipients {
			e.Recipients = append(e.Recipients, Recipient{Email: r.EmailAddress, Status: r.Status, Diagnostic: r.DiagnosticCode})
		}
		e.At = later(e.At, w.Bounce.Timestamp)
	case credbatch.EventComplaint:
		if w.Complaint == nil {
			return missing("complaint object")
		}
		e.ComplaintType = w.Complaint.ComplaintFeedbackType
		for _, r := range w.Complaint.ComplainedRecipients {
			e.Recipients = append(e.Recipients, Recipient{Email: r.EmailAddress})
		}
		e.At = later(e.At, w.Complaint.Timestamp)
	case credbatch.EventDeliveryDelay:
		if w.DeliveryDelay == nil {
			return missing("deliveryDelay object")
		}
		e.Reason = w.DeliveryDelay.DelayType
		for _, r := range w.DeliveryDelay.DelayedRecipients {
			e.Recipients = append(e.Recipients, Recipient{Email: r.EmailAddress, Status: r.Status, Diagnostic: r.DiagnosticCode})
		}
		e.At = later(e.At, w.DeliveryDelay.Timestamp)
	default:
		return e, nil
	}
	var kept []Recipient
	for _, r := range e.Recipients {
		if r.Email = strings.TrimSpace(r.Email); r.Email != "" {
			kept = append(kept, r)
		}
	}
	e.Recipients = kept
	if len(e.Recipients) == 0 {
		return missing("recipients")
	}
	return e, nil
}

// Known reports whether credbatch records the event type (Send, Delivery, Bounce, Complaint,
// Reject, DeliveryDelay); Open, Click, Rendering Failure and Subscription are ignored.
func (e Event) Known() bool {
	switch credbatch.EventType(e.Type) {
	case credbatch.EventSend, credbatch.EventDelivery, credbatch.EventBounce, credbatch.EventComplaint,
		credbatch.EventReject, credbatch.EventDeliveryDelay:
		return true
	}
	return false
}

// Status is the email status the event moves a recipient's credential to; "" when it moves
// none (Send: the issue worker records "sent" itself; a "not-spam" complaint).
func (e Event) Status() credbatch.EmailStatus {
	switch credbatch.EventType(e.Type) {
	case credbatch.EventDelivery:
		return credbatch.EmailDelivered
	case credbatch.EventDeliveryDelay:
		return credbatch.EmailDelayed
	case credbatch.EventReject:
		return credbatch.EmailRejected
	case credbatch.EventComplaint:
		if strings.EqualFold(e.ComplaintType, "not-spam") {
			return ""
		}
		return credbatch.EmailComplained
	case credbatch.EventBounce:
		if e.BounceType != "Permanent" {
			return credbatch.EmailSoftBounce
		}
		if e.SuppressionBounce() {
			return credbatch.EmailSuppressed
		}
		return credbatch.EmailBounced
	}
	return ""
}

// SuppressionBounce reports whether the event is SES refusing to send because the address is
// on its global or the account's suppression list (bounce sub-types Suppressed and
// OnAccountSuppressionList): the address was not tried, and SES does not count it in the
// account's bounce rate.
func (e Event) SuppressionBounce() bool {
	return credbatch.EventType(e.Type) == credbatch.EventBounce && e.BounceType == "Permanent" &&
		(e.BounceSubType == "Suppressed" || e.BounceSubType == "OnAccountSuppressionList")
}

// Suppresses reports the suppression-list reason the event gives its recipients: "bounce" for a
// permanent bounce, "complaint" for a complaint (not "not-spam"), "" otherwise. A Reject is
// about the content (a virus), not the address, so it suppresses nothing.
func (e Event) Suppresses() string {
	switch e.Status() {
	case credbatch.EmailBounced, credbatch.EmailSuppressed:
		return "bounce"
	case credbatch.EmailComplained:
		return "complaint"
	}
	return ""
}

// BounceLabel is "Permanent/General"-style text for a bounce, "" for other events.
func (e Event) BounceLabel() string {
	if e.BounceType == "" {
		return ""
	}
	if e.BounceSubType == "" {
		return e.BounceType
	}
	return e.BounceType + "/" + e.BounceSubType
}

func firstTag(tags map[string][]string, name string) string {
	if v := tags[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func plain(addrs []string) []Recipient {
	out := make([]Recipient, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, Recipient{Email: a})
	}
	return out
}

func later(base, t time.Time) time.Time {
	if t.IsZero() {
		return base
	}
	return t
}
