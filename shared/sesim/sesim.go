// Package sesim simulates the SES mailbox simulator for the local stack: it turns a sent message into the SES events SNS would deliver.
//
// Addresses (a +label is allowed: bounce+row7@simulator.amazonses.com):
//
//	success@simulator.amazonses.com          Send, Delivery
//	bounce@simulator.amazonses.com           Send, Bounce Permanent/General (550 5.1.1 user unknown)
//	ooto@simulator.amazonses.com             Send, Delivery (the out-of-office reply goes to the
//	                                         Return-Path as an email; SES publishes no event for it)
//	complaint@simulator.amazonses.com        Send, Delivery, Complaint (abuse)
//	suppressionlist@simulator.amazonses.com  Send, Bounce Permanent/OnAccountSuppressionList
//	any other address                        Send, Delivery (the local stack pretends it was delivered)
//
// As SES does, one message gives one Send event for all its recipients, and one event of each
// other kind listing the recipients it concerns. Events carry the message's tags as mail.tags
// (each value in a one-element list) and the mailer's message id as mail.messageId.
package sesim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Domain is the mailbox simulator's domain.
const Domain = "simulator.amazonses.com"

// TopicArn and ConfigurationSet are the names the simulated events carry.
const (
	TopicArn         = "arn:aws:sns:us-east-1:000000000000:credbatch-ses-events"
	ConfigurationSet = "credbatch-local"
)

// Scenario is what the simulator does with a recipient.
type Scenario string

// Scenarios, named by the simulator address's local part.
const (
	Success         Scenario = "success"
	Bounce          Scenario = "bounce"
	OutOfOffice     Scenario = "ooto"
	Complaint       Scenario = "complaint"
	SuppressionList Scenario = "suppressionlist"
	Other           Scenario = "" // not a simulator address: delivered
)

// Diagnostic texts of the simulated bounces.
const (
	BounceDiagnostic      = "smtp; 550 5.1.1 user unknown"
	SuppressionDiagnostic = "Amazon SES did not send the message to this address because it is on the suppression list for your account."
)

// ScenarioOf classifies an address ("Name <addr>" or a bare address).
func ScenarioOf(address string) Scenario {
	addr := bare(address)
	local, domain, ok := strings.Cut(strings.ToLower(addr), "@")
	if !ok || domain != Domain {
		return Other
	}
	local, _, _ = strings.Cut(local, "+")
	switch s := Scenario(local); s {
	case Success, Bounce, OutOfOffice, Complaint, SuppressionList:
		return s
	}
	return Other
}

func bare(address string) string {
	if a, err := mail.ParseAddress(address); err == nil {
		return a.Address
	}
	return strings.TrimSpace(address)
}

// Event delays after the send, so that the simulated events arrive in a realistic order.
const (
	deliveryAfter  = 800 * time.Millisecond
	bounceAfter    = 1200 * time.Millisecond
	complaintAfter = 3 * time.Second
)

// Messages returns the SES event records (the JSON that SNS carries as Message) for a message
// that the mailer accepted under messageID at now, in the order SES would publish them.
func Messages(msg credbatch.Message, messageID string, now time.Time) []string {
	now = now.UTC()
	var dest, delivered, bounced, suppressed, complained []string
	for _, to := range msg.To {
		addr := bare(to)
		if addr == "" {
			continue
		}
		dest = append(dest, addr)
		switch ScenarioOf(addr) {
		case Bounce:
			bounced = append(bounced, addr)
		case SuppressionList:
			suppressed = append(suppressed, addr)
		case Complaint:
			delivered = append(delivered, addr)
			complained = append(complained, addr)
		default:
			delivered = append(delivered, addr)
		}
	}
	if len(dest) == 0 {
		return nil
	}
	m := mailObject(msg, messageID, dest, now)
	var out []string
	add := func(v map[string]any) { out = append(out, encode(v)) }
	add(map[string]any{"eventType": "Send", "mail": m, "send": map[string]any{}})
	if len(delivered) > 0 {
		at := now.Add(deliveryAfter)
		add(map[string]any{"eventType": "Delivery", "mail": m, "delivery": map[string]any{
			"timestamp": stamp(at), "processingTimeMillis": deliveryAfter.Milliseconds(), "recipients": delivered,
			"smtpResponse": "250 2.6.0 Message received", "reportingMTA": "a8-1.smtp-out.amazonses.com"}})
	}
	if len(bounced) > 0 {
		add(bounce(m, messageID, "General", bounced, "5.1.1", BounceDiagnostic, now.Add(bounceAfter)))
	}
	if len(suppressed) > 0 {
		add(bounce(m, messageID, "OnAccountSuppressionList", suppressed, "5.1.1", SuppressionDiagnostic, now))
	}
	if len(complained) > 0 {
		at := now.Add(complaintAfter)
		var rs []map[string]string
		for _, a := range complained {
			rs = append(rs, map[string]string{"emailAddress": a})
		}
		add(map[string]any{"eventType": "Complaint", "mail": m, "complaint": map[string]any{
			"complainedRecipients": rs, "timestamp": stamp(at), "feedbackId": feedbackID(messageID, "complaint"),
			"userAgent": "Amazon SES Mailbox Simulator", "complaintFeedbackType": "abuse", "arrivalDate": stamp(at)}})
	}
	return out
}

func bounce(m map[string]any, messageID, subType string, to []string, status, diag string, at time.Time) map[string]any {
	var rs []map[string]string
	for _, a := range to {
		rs = append(rs, map[string]string{"emailAddress": a, "action": "failed", "status": status, "diagnosticCode": diag})
	}
	return map[string]any{"eventType": "Bounce", "mail": m, "bounce": map[string]any{
		"bounceType": "Permanent", "bounceSubType": subType, "bouncedRecipients": rs, "timestamp": stamp(at),
		"feedbackId": feedbackID(messageID, "bounce-"+subType), "reportingMTA": "dsn; " + Domain}}
}

// mailObject is the event's mail object, as SES builds it for a configuration set.
func mailObject(msg credbatch.Message, messageID string, dest []string, sent time.Time) map[string]any {
	tags := map[string][]string{"ses:configuration-set": {ConfigurationSet}, "ses:source-ip": {"127.0.0.1"}}
	if d := domainOf(msg.From); d != "" {
		tags["ses:from-domain"] = []string{d}
	}
	for k, v := range msg.Tags {
		tags[k] = []string{v}
	}
	return map[string]any{
		"timestamp": stamp(sent), "source": msg.From, "sendingAccountId": "000000000000", "messageId": messageID,
		"destination": dest, "headersTruncated": false,
		"commonHeaders": map[string]any{"from": []string{msg.From}, "to": msg.To, "messageId": messageID, "subject": msg.Subject},
		"tags":          tags,
	}
}

func domainOf(address string) string {
	_, d, _ := strings.Cut(bare(address), "@")
	return strings.ToLower(d)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil { // maps of strings always marshal
		return "{}"
	}
	return string(b)
}

func feedbackID(messageID, kind string) string {
	sum := sha256.Sum256([]byte(messageID + "\x00" + kind))
	return hex.EncodeToString(sum[:16]) + "-000000"
}

// snsMessageID derives a stable SNS message id (UUID-shaped) for the i-th event of a
// message, so that simulating the same message twice gives the same notifications (and the
// feedback handler counts them once).
func snsMessageID(messageID string, i int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d", messageID, i)))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Events returns the SNS notification records that carry Messages(msg, messageID, now), as
// Lambda would receive them from the SES event topic.
func Events(msg credbatch.Message, messageID string, now time.Time) []events.SNSEventRecord {
	msgs := Messages(msg, messageID, now)
	out := make([]events.SNSEventRecord, 0, len(msgs))
	for i, m := range msgs {
		out = append(out, events.SNSEventRecord{
			EventVersion: "1.0", EventSource: "aws:sns", EventSubscriptionArn: TopicArn + ":local",
			SNS: events.SNSEntity{Type: "Notification", MessageID: snsMessageID(messageID, i), TopicArn: TopicArn,
				Message: m, Timestamp: now.UTC(), SignatureVersion: "1"},
		})
	}
	return out
}
