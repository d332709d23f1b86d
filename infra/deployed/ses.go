package deployed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httputil"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/sesim"
)

// Email is one message moto's SES accepted.
type Email struct {
	MessageID        string
	From             string
	To               []string
	Subject          string
	ConfigurationSet string
	Tags             map[string]string
	Raw              []byte // the MIME message, for raw sends
}

// SES stands between the functions and moto's SES v2: it forwards every call to moto and,
// for each email moto accepts, publishes the SES events the mailbox simulator would cause
// (Send, Delivery, Bounce, Complaint per recipient address) to the SNS topic of each event
// destination of the email's configuration set whose MatchingEventTypes include them, then
// delivers each notification to the topic's Lambda subscriptions, as SNS does.
type SES struct {
	Moto   *url.URL
	Deploy *Deployment
	Runner *Runner
	Now    func() time.Time
	// Refuse, when set, answers an email it returns a fault for with that SES error instead
	// of sending it.
	Refuse func(Email) *Fault

	proxy   *httputil.ReverseProxy
	mu      sync.Mutex
	emails  []Email
	events  map[string]int // by event type
	wg      sync.WaitGroup
	errs    []error
	refused int
}

// Fault is an SES error answer: the HTTP status and the error code (X-Amzn-ErrorType).
type Fault struct {
	Status        int
	Code, Message string
}

// Throttled is SES's answer when the account's sending rate is exceeded.
var Throttled = &Fault{Status: http.StatusTooManyRequests, Code: "TooManyRequestsException", Message: "Maximum sending rate exceeded."}

// Paused is SES's answer while the account's sending is paused.
var Paused = &Fault{Status: http.StatusBadRequest, Code: "SendingPausedException", Message: "Sending is paused for this account."}

// SetRefuse sets Refuse while the endpoint serves.
func (s *SES) SetRefuse(f func(Email) *Fault) {
	s.mu.Lock()
	s.Refuse = f
	s.mu.Unlock()
}

// Refused returns how many sends were refused.
func (s *SES) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

func (s *SES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.proxy == nil {
		s.proxy = httputil.NewSingleHostReverseProxy(s.Moto)
	}
	s.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/v2/email/outbound-emails" {
		s.proxy.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	em, err := parseSend(body, "")
	if err != nil {
		s.fail(err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	refuse := s.Refuse
	s.mu.Unlock()
	if refuse != nil {
		if f := refuse(em); f != nil {
			s.mu.Lock()
			s.refused++
			s.mu.Unlock()
			w.Header().Set("X-Amzn-ErrorType", f.Code)
			writeJSON(w, f.Status, map[string]string{"message": f.Message})
			return
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	rec := &recorder{ResponseWriter: w}
	s.proxy.ServeHTTP(rec, r)
	if rec.status != http.StatusOK {
		return
	}
	var out struct{ MessageId string }
	if json.Unmarshal(rec.body.Bytes(), &out) != nil || out.MessageId == "" {
		return
	}
	em.MessageID = out.MessageId
	s.mu.Lock()
	s.emails = append(s.emails, em)
	s.mu.Unlock()
	s.publish(em)
}

type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// parseSend reads a SendEmail request (SES v2 REST JSON).
func parseSend(body []byte, id string) (Email, error) {
	var in struct {
		FromEmailAddress string
		Destination      struct{ ToAddresses, CcAddresses, BccAddresses []string }
		Content          struct {
			Simple *struct{ Subject struct{ Data string } }
			Raw    *struct{ Data string }
		}
		EmailTags            []struct{ Name, Value string }
		ConfigurationSetName string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return Email{}, fmt.Errorf("SendEmail request: %w", err)
	}
	em := Email{MessageID: id, From: in.FromEmailAddress, ConfigurationSet: in.ConfigurationSetName, Tags: map[string]string{}}
	em.To = append(append(append(em.To, in.Destination.ToAddresses...), in.Destination.CcAddresses...), in.Destination.BccAddresses...)
	for _, t := range in.EmailTags {
		em.Tags[t.Name] = t.Value
	}
	switch {
	case in.Content.Simple != nil:
		em.Subject = in.Content.Simple.Subject.Data
	case in.Content.Raw != nil:
		raw, err := base64.StdEncoding.DecodeString(in.Content.Raw.Data)
		if err != nil {
			return em, fmt.Errorf("SendEmail raw content: %w", err)
		}
		em.Raw = raw
		if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
			dec := new(mime.WordDecoder)
			if em.Subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
				em.Subject = m.Header.Get("Subject")
			}
			if em.From == "" {
				em.From = m.Header.Get("From")
			}
			if len(em.To) == 0 {
				for _, h := range []string{"To", "Cc"} {
					if list, err := m.Header.AddressList(h); err == nil {
						for _, a := range list {
							em.To = append(em.To, a.Address)
						}
					}
				}
			}
		}
	}
	return em, nil
}

func (s *SES) fail(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

// publish turns an accepted email into its SES events and delivers them.
func (s *SES) publish(em Email) {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	msg := credbatch.Message{From: em.From, To: em.To, Subject: em.Subject, Tags: em.Tags}
	for _, dest := range s.Deploy.EventDestinations {
		if dest.ConfigurationSetName != em.ConfigurationSet || !dest.EventDestination.Enabled {
			continue
		}
		topic := dest.EventDestination.SnsDestination.TopicARN
		for i, m := range sesim.Messages(msg, em.MessageID, now) {
			var ev map[string]any
			if err := json.Unmarshal([]byte(m), &ev); err != nil {
				s.fail(err)
				continue
			}
			typ, _ := ev["eventType"].(string)
			if !matchesEventType(dest.EventDestination.MatchingEventTypes, typ) {
				continue
			}
			// The event as this account's SES publishes it for this configuration set.
			if mo, ok := ev["mail"].(map[string]any); ok {
				mo["sendingAccountId"] = s.Deploy.Account
				if tags, ok := mo["tags"].(map[string]any); ok {
					tags["ses:configuration-set"] = []string{em.ConfigurationSet}
				}
			}
			b, _ := json.Marshal(ev)
			s.mu.Lock()
			if s.events == nil {
				s.events = map[string]int{}
			}
			s.events[typ]++
			s.mu.Unlock()
			var after time.Duration
			if typ != "Send" {
				after = feedbackDelay
			}
			s.notify(topic, fmt.Sprintf("%s-%d", em.MessageID, i), string(b), now, after)
		}
	}
}

func matchesEventType(list []string, typ string) bool {
	for _, t := range list {
		if strings.EqualFold(t, typ) {
			return true
		}
	}
	return false
}

// notify delivers one SNS notification to the topic's Lambda subscriptions (asynchronous
// invocation, one record per invocation, as SNS delivers).
// feedbackDelay is how long after the send the harness publishes an email's Delivery,
// Bounce or Complaint: SES publishes them once the recipient's server answered, never before
// its SendEmail answer reached the sender (published at once, they raced the issue worker's
// record of the send and were retried a second later, as not yet sent, for most emails).
const feedbackDelay = 250 * time.Millisecond

// notify delivers a notification to the topic's Lambda subscriptions after the given delay.
func (s *SES) notify(topic, id, message string, at time.Time, after time.Duration) {
	for _, sub := range s.Deploy.Subscriptions {
		if sub.TopicArn != topic || sub.Protocol != "lambda" {
			continue
		}
		fn, ok := s.Deploy.FunctionByArn(sub.Endpoint)
		if !ok {
			s.fail(fmt.Errorf("topic %s has a subscription for %s, which is no function of the stack", topic, sub.Endpoint))
			continue
		}
		rec := events.SNSEventRecord{EventVersion: "1.0", EventSource: "aws:sns", EventSubscriptionArn: topic + ":" + id,
			SNS: events.SNSEntity{Type: "Notification", MessageID: snsID(id), TopicArn: topic, Message: message,
				Timestamp: at.UTC(), SignatureVersion: "1", Signature: "HARNESS", SigningCertURL: "https://sns.us-east-1.amazonaws.com/harness.pem",
				UnsubscribeURL: "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"}}
		b, _ := json.Marshal(events.SNSEvent{Records: []events.SNSEventRecord{rec}})
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			time.Sleep(after)
			if err := s.Runner.InvokeAsync(context.Background(), fn, b); err != nil {
				s.fail(fmt.Errorf("SNS notification to %s: %w", fn, err))
			}
		}()
	}
}

func snsID(s string) string {
	sum := sha256.Sum256([]byte(s))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Emails returns the emails moto accepted so far.
func (s *SES) Emails() []Email {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Email(nil), s.emails...)
}

// Events returns the events published, by type.
func (s *SES) Events() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.events {
		out[k] = v
	}
	return out
}

// Wait waits for the notifications in flight and returns the delivery errors so far.
func (s *SES) Wait() []error {
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}
