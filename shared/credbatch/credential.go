package credbatch

import "time"

// CredentialStatus is a credential's lifecycle: issued → revoked.
type CredentialStatus string

// Credential statuses.
const (
	CredentialIssued  CredentialStatus = "issued"
	CredentialRevoked CredentialStatus = "revoked"
)

// EmailStatus is the lifecycle of a credential's email:
// pending → sending → sent → delivered | bounced | complained; or suppressed (never sent).
type EmailStatus string

// Email statuses.
const (
	EmailPending    EmailStatus = "pending"
	EmailSending    EmailStatus = "sending" // marked before the mailer is called
	EmailSent       EmailStatus = "sent"    // the mailer accepted it; MessageID is set
	EmailDelivered  EmailStatus = "delivered"
	EmailDelayed    EmailStatus = "delayed"      // a DeliveryDelay event; may still be delivered
	EmailSoftBounce EmailStatus = "soft_bounced" // transient bounce; SES keeps retrying
	EmailBounced    EmailStatus = "bounced"      // permanent bounce
	EmailComplained EmailStatus = "complained"
	EmailRejected   EmailStatus = "rejected" // SES rejected it (virus, ...)
	EmailSuppressed EmailStatus = "suppressed"
	EmailFailed     EmailStatus = "failed" // the mailer refused it permanently; LastError says why
)

// emailRank orders email statuses so that feedback events arriving out of order never move a
// status backwards (a Delivery after a Bounce keeps "bounced").
var emailRank = map[EmailStatus]int{
	EmailPending: 0, EmailSending: 1, EmailFailed: 2, EmailSent: 2, EmailDelayed: 3, EmailSoftBounce: 3,
	EmailDelivered: 4, EmailRejected: 5, EmailBounced: 5, EmailSuppressed: 5, EmailComplained: 6,
}

// EmailAdvances reports whether a feedback event may move an email from one status to another.
func EmailAdvances(from, to EmailStatus) bool { return emailRank[to] > emailRank[from] }

// Credential is an issued credential.
type Credential struct {
	ID              string            `json:"id"` // random 128-bit, unguessable
	BatchID         string            `json:"batch_id"`
	RowNumber       int               `json:"row"`
	DefinitionID    string            `json:"definition_id"`
	DefinitionVer   int               `json:"definition_version,omitempty"`
	Email           string            `json:"email"` // lower-cased for lookups
	Name            string            `json:"name"`
	IssueDate       string            `json:"issue_date"`            // YYYY-MM-DD (validFrom)
	ExpiryDate      string            `json:"expiry_date,omitempty"` // YYYY-MM-DD (validUntil)
	Attributes      map[string]string `json:"attributes,omitempty"`
	Locale          string            `json:"locale,omitempty"` // its row's email language ("" = the definition's or the deployment's)
	Evidence        *Evidence         `json:"-" dynamodbav:"-"` // its row's evidence, for building the document (not stored: the signed document carries it)
	JWT             string            `json:"-"`                // the signed credential: JSON-LD with its Data Integrity proof (a compact JWS for credentials issued before it)
	JWTDetached     string            `json:"-"`                // its VC-JWT signed at issuance, payload detached ("<header>..<signature>", credential.AttachJWT); "" for credentials issued before it was stored
	StatusListIndex int               `json:"status_list_index"`
	Status          CredentialStatus  `json:"status"`
	RevokedReason   string            `json:"revoked_reason,omitempty"`
	RevokedAt       time.Time         `json:"revoked_at,omitzero"`
	EmailStatus     EmailStatus       `json:"email_status"`
	MessageID       string            `json:"message_id,omitempty"`
	LastError       string            `json:"last_error,omitempty"`
	BounceType      string            `json:"bounce_type,omitempty"`
	SentAt          time.Time         `json:"sent_at,omitzero"`
	DeliveredAt     time.Time         `json:"delivered_at,omitzero"` // when feedback handled its Delivery event (its clock, as a Delivery's RecordedAt); zero before (see feedback.Service)
	IssuedAt        time.Time         `json:"issued_at"`
	UpdatedAt       time.Time         `json:"updated_at,omitzero"`
}

// EventType is a kind of SES feedback event.
type EventType string

// SES event types.
const (
	EventSend          EventType = "Send"
	EventDelivery      EventType = "Delivery"
	EventBounce        EventType = "Bounce"
	EventComplaint     EventType = "Complaint"
	EventReject        EventType = "Reject"
	EventDeliveryDelay EventType = "DeliveryDelay"
)

// Delivery is one feedback event for one recipient of one message. ID is unique per event
// (SNS MessageId + recipient), so recording the same event twice is detected.
type Delivery struct {
	ID            string    `json:"id"`
	CredentialID  string    `json:"credential_id,omitempty"`
	BatchID       string    `json:"batch_id,omitempty"`
	MessageID     string    `json:"message_id"`
	Email         string    `json:"email"`
	Event         EventType `json:"event"`
	BounceType    string    `json:"bounce_type,omitempty"` // Permanent, Transient, Undetermined
	BounceSubType string    `json:"bounce_sub_type,omitempty"`
	Diagnostic    string    `json:"diagnostic,omitempty"`
	At            time.Time `json:"at"` // when the event happened
	RecordedAt    time.Time `json:"recorded_at"`
}

// Suppression is an address that is not sent to: it bounced permanently or complained.
type Suppression struct {
	Email     string    `json:"email"`  // lower-cased
	Reason    string    `json:"reason"` // bounce, complaint
	MessageID string    `json:"message_id,omitempty"`
	At        time.Time `json:"at"`
}

// EmailCounts is what one credential whose email is in status s adds to its batch's email
// counters (Sent, Delivered, Bounced, Complained, Suppressed). The stores keep those counters
// in the same write as every email status change (CreateCredential, SetEmailStatus), so a
// batch's email counters always equal the sum of EmailCounts over its credentials.
func EmailCounts(s EmailStatus) Counts {
	switch s {
	case EmailSent, EmailDelayed, EmailSoftBounce:
		return Counts{Sent: 1}
	case EmailDelivered:
		return Counts{Sent: 1, Delivered: 1}
	case EmailBounced, EmailRejected:
		return Counts{Sent: 1, Bounced: 1}
	case EmailComplained: // SES counts a complaint among deliveries
		return Counts{Sent: 1, Delivered: 1, Complained: 1}
	case EmailSuppressed:
		return Counts{Suppressed: 1}
	}
	return Counts{}
}

// EmailDelta is the change of a batch's email counters when one email moves from one status
// to another.
func EmailDelta(from, to EmailStatus) Counts {
	return EmailCounts(to).Sub(EmailCounts(from))
}

// StatusList is a published Bitstring Status List credential: signed where revocations and
// issuance change it, stored, and served as stored by the public routes (which hold no
// signing key).
type StatusList struct {
	Number      int       `json:"number"`       // 1-based list number
	Version     int       `json:"version"`      // 1 for the first publication, +1 for each one after
	EncodedList string    `json:"encoded_list"` // the bitstring (multibase base64url GZIP), as in the documents
	JSONLD      string    `json:"json_ld"`      // the credential with its Data Integrity proof
	JWT         string    `json:"jwt"`          // the same credential as a VC-JWT
	UpdatedAt   time.Time `json:"updated_at"`
}
