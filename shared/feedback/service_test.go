package feedback_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/feedback"
)

const exampleMessageID = "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000"

var now = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)

// snsEvent reads a recorded SNS notification from testdata.
func snsEvent(t *testing.T, name string) events.SNSEvent {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	var ev events.SNSEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatalf("decode fixture %s: %v", name, err)
	}
	return ev
}

// withTags returns the event with its SES message's tags credential_id and batch_id set.
func withTags(t *testing.T, ev events.SNSEvent, credentialID, batchID string) events.SNSEvent {
	t.Helper()
	var msg map[string]any
	if err := json.Unmarshal([]byte(ev.Records[0].SNS.Message), &msg); err != nil {
		t.Fatalf("decode message: %v", err)
	}
	tags := msg["mail"].(map[string]any)["tags"].(map[string]any)
	tags["credential_id"] = []string{credentialID}
	tags["batch_id"] = []string{batchID}
	data, err := json.Marshal(msg)
	if err != nil {
		t.Fatalf("encode message: %v", err)
	}
	ev.Records[0].SNS.Message = string(data)
	return ev
}

// fixture is a store holding batch b1 and credential c1 (row 7) whose email went out as the
// SES developer guide's example message.
func fixture(t *testing.T, open func(*testing.T) credbatch.Store, email string, status credbatch.EmailStatus) credbatch.Store {
	t.Helper()
	s := open(t)
	ctx := t.Context()
	if err := s.CreateBatch(ctx, credbatch.Batch{ID: "b1", Status: credbatch.BatchReceived, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("create batch: %v", err)
	}
	if err := s.AddCounts(ctx, "b1", credbatch.Counts{Issued: 1}); err != nil { // Sent counts with the credential
		t.Fatalf("add counts: %v", err)
	}
	c := credbatch.Credential{ID: "c1", BatchID: "b1", RowNumber: 7, DefinitionID: "course", Email: email, Name: "Ada",
		IssueDate: "2025-03-01", Status: credbatch.CredentialIssued, EmailStatus: status, MessageID: exampleMessageID,
		IssuedAt: now, UpdatedAt: now}
	if status == credbatch.EmailSending || status == credbatch.EmailPending {
		c.MessageID = ""
	}
	if err := s.CreateCredential(ctx, c); err != nil {
		t.Fatalf("create credential: %v", err)
	}
	return s
}

// newService returns a service whose clock starts at now and ticks a second per reading, so
// that deliveries list in the order they were handled.
func newService(s credbatch.Store) *feedback.Service {
	tick := now
	clock := func() time.Time {
		tick = tick.Add(time.Second)
		return tick
	}
	return &feedback.Service{Store: s, Clock: clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func deliveries(t *testing.T, s credbatch.Store) []credbatch.Delivery {
	t.Helper()
	p, err := s.ListDeliveries(t.Context(), time.Time{}, now.Add(time.Hour), "", credbatch.MaxPageSize)
	if err != nil {
		t.Fatalf("list deliveries: %v", err)
	}
	return p.Items
}

func TestHandleRecordedEvents(t *testing.T) {
	const addr = "recipient@example.com"
	tests := []struct {
		name       string
		email      string   // the credential's address (default addr)
		events     []string // fixtures, handled in order
		want       credbatch.EmailStatus
		wantBounce string
		wantCounts credbatch.Counts // Delivered, Bounced, Complained, Suppressed only
		wantSupp   string           // suppression reason, "" = none
		wantEvents []credbatch.EventType
		// delivered: the credential's DeliveredAt is stamped (a Delivery joined to its
		// credential is not recorded: it stamps its credential).
		delivered bool
	}{
		{name: "delivery", events: []string{"delivery"}, want: credbatch.EmailDelivered,
			wantCounts: credbatch.Counts{Delivered: 1}, delivered: true},
		{name: "permanent bounce", events: []string{"bounce"}, want: credbatch.EmailBounced, wantBounce: "Permanent/General",
			wantCounts: credbatch.Counts{Bounced: 1}, wantSupp: "bounce", wantEvents: []credbatch.EventType{credbatch.EventBounce}},
		{name: "transient bounce", events: []string{"bounce-transient"}, want: credbatch.EmailSoftBounce, wantBounce: "Transient/MailboxFull",
			wantEvents: []credbatch.EventType{credbatch.EventBounce}},
		{name: "complaint", events: []string{"complaint"}, want: credbatch.EmailComplained,
			wantCounts: credbatch.Counts{Delivered: 1, Complained: 1}, wantSupp: "complaint", wantEvents: []credbatch.EventType{credbatch.EventComplaint}},
		{name: "delivery delay", events: []string{"delivery-delay"}, want: credbatch.EmailDelayed,
			wantEvents: []credbatch.EventType{credbatch.EventDeliveryDelay}},
		{name: "send keeps sent", events: []string{"send"}, want: credbatch.EmailSent,
			wantEvents: []credbatch.EventType{credbatch.EventSend}},
		{name: "reject", email: "sender@example.com", events: []string{"reject"}, want: credbatch.EmailRejected,
			wantCounts: credbatch.Counts{Bounced: 1}, wantEvents: []credbatch.EventType{credbatch.EventReject}},
		{name: "reject to another address leaves the credential", events: []string{"reject"}, want: credbatch.EmailSent,
			wantEvents: []credbatch.EventType{credbatch.EventReject}},
		{name: "open and click ignored", events: []string{"open", "click"}, want: credbatch.EmailSent},
		{name: "bounce then delivery stays bounced", events: []string{"bounce", "delivery"}, want: credbatch.EmailBounced,
			wantBounce: "Permanent/General", wantCounts: credbatch.Counts{Bounced: 1}, wantSupp: "bounce",
			wantEvents: []credbatch.EventType{credbatch.EventBounce}, delivered: true},
		{name: "delivery then late bounce", events: []string{"delivery", "bounce"}, want: credbatch.EmailBounced,
			wantBounce: "Permanent/General", wantCounts: credbatch.Counts{Bounced: 1}, wantSupp: "bounce",
			wantEvents: []credbatch.EventType{credbatch.EventBounce}, delivered: true},
		{name: "delivery then complaint", events: []string{"delivery", "complaint"}, want: credbatch.EmailComplained,
			wantCounts: credbatch.Counts{Delivered: 1, Complained: 1}, wantSupp: "complaint",
			wantEvents: []credbatch.EventType{credbatch.EventComplaint}, delivered: true},
		{name: "complaint then delivery", events: []string{"complaint", "delivery"}, want: credbatch.EmailComplained,
			wantCounts: credbatch.Counts{Delivered: 1, Complained: 1}, wantSupp: "complaint",
			wantEvents: []credbatch.EventType{credbatch.EventComplaint}, delivered: true},
		{name: "transient then permanent bounce", events: []string{"bounce-transient", "bounce"}, want: credbatch.EmailBounced,
			wantBounce: "Permanent/General", wantCounts: credbatch.Counts{Bounced: 1}, wantSupp: "bounce",
			wantEvents: []credbatch.EventType{credbatch.EventBounce, credbatch.EventBounce}},
		{name: "delay then delivery", events: []string{"delivery-delay", "delivery"}, want: credbatch.EmailDelivered,
			wantCounts: credbatch.Counts{Delivered: 1}, wantEvents: []credbatch.EventType{credbatch.EventDeliveryDelay}, delivered: true},
		{name: "redelivered delivery counts once", events: []string{"delivery", "delivery"}, want: credbatch.EmailDelivered,
			wantCounts: credbatch.Counts{Delivered: 1}, delivered: true},
		{name: "redelivered bounce counts once", events: []string{"bounce", "bounce", "bounce"}, want: credbatch.EmailBounced,
			wantBounce: "Permanent/General", wantCounts: credbatch.Counts{Bounced: 1}, wantSupp: "bounce",
			wantEvents: []credbatch.EventType{credbatch.EventBounce}},
	}
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					email := tc.email
					if email == "" {
						email = addr
					}
					s := fixture(t, be.Open, email, credbatch.EmailSent)
					svc := newService(s)
					for _, name := range tc.events {
						if err := svc.Handle(t.Context(), withTags(t, snsEvent(t, name), "c1", "b1")); err != nil {
							t.Fatalf("handle %s: %v", name, err)
						}
					}
					c, err := s.GetCredential(t.Context(), "c1")
					if err != nil {
						t.Fatalf("get credential: %v", err)
					}
					if c.EmailStatus != tc.want || c.BounceType != tc.wantBounce {
						t.Errorf("email status %s (bounce %q), want %s (bounce %q)", c.EmailStatus, c.BounceType, tc.want, tc.wantBounce)
					}
					if stamped := !c.DeliveredAt.IsZero(); stamped != tc.delivered || stamped && (!c.DeliveredAt.After(now) || c.DeliveredAt.After(now.Add(time.Minute))) {
						t.Errorf("delivered at %v; want stamped %v, by the service's clock (%v + a few seconds)", c.DeliveredAt, tc.delivered, now)
					}
					b, err := s.GetBatch(t.Context(), "b1")
					if err != nil {
						t.Fatalf("get batch: %v", err)
					}
					got := credbatch.Counts{Delivered: b.Counts.Delivered, Bounced: b.Counts.Bounced,
						Complained: b.Counts.Complained, Suppressed: b.Counts.Suppressed}
					if got != tc.wantCounts {
						t.Errorf("counts %+v, want %+v", got, tc.wantCounts)
					}
					if b.Counts.Sent != 1 || b.Counts.Issued != 1 {
						t.Errorf("sent/issued counters changed: %+v", b.Counts)
					}
					sup, err := s.GetSuppression(t.Context(), addr)
					switch {
					case tc.wantSupp == "" && !credbatch.IsKind(err, credbatch.KindNotFound):
						t.Errorf("suppression %+v, %v; want none", sup, err)
					case tc.wantSupp != "" && (err != nil || sup.Reason != tc.wantSupp || sup.MessageID != exampleMessageID):
						t.Errorf("suppression %+v, %v; want reason %s", sup, err, tc.wantSupp)
					}
					var gotEvents []credbatch.EventType
					for _, d := range deliveries(t, s) {
						gotEvents = append(gotEvents, d.Event)
						if d.MessageID != exampleMessageID || !d.RecordedAt.After(now) || d.RecordedAt.After(now.Add(time.Minute)) {
							t.Errorf("delivery %+v: want message id %s, recorded at %v", d, exampleMessageID, now)
						}
						if strings.EqualFold(d.Email, email) && (d.CredentialID != "c1" || d.BatchID != "b1") {
							t.Errorf("delivery %s not joined to c1/b1: %+v", d.ID, d)
						}
					}
					if show(gotEvents) != show(tc.wantEvents) {
						t.Errorf("recorded events %v, want %v", gotEvents, tc.wantEvents)
					}
				})
			}
		})
	}
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestHandleJoins covers the join by tag, events for unknown credentials, malformed messages
// and an event that overtakes the sender's own "sent" write.
func TestHandleJoins(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			t.Run("by credential_id tag", func(t *testing.T) {
				s := fixture(t, be.Open, "recipient@example.com", credbatch.EmailSent)
				ctx := t.Context()
				// c2 has another message id: only the tag can find it.
				if err := s.CreateCredential(ctx, credbatch.Credential{ID: "c2", BatchID: "b1", RowNumber: 8, Email: "recipient@example.com",
					Status: credbatch.CredentialIssued, EmailStatus: credbatch.EmailSent, MessageID: "other", IssuedAt: now}); err != nil {
					t.Fatal(err)
				}
				if err := newService(s).Handle(ctx, withTags(t, snsEvent(t, "bounce"), "c2", "b1")); err != nil {
					t.Fatalf("handle: %v", err)
				}
				for id, want := range map[string]credbatch.EmailStatus{"c1": credbatch.EmailSent, "c2": credbatch.EmailBounced} {
					c, err := s.GetCredential(ctx, id)
					if err != nil || c.EmailStatus != want {
						t.Errorf("%s: %s, %v; want %s", id, c.EmailStatus, err, want)
					}
				}
			})
			t.Run("untagged event joins no credential", func(t *testing.T) {
				// Every credential email is tagged; an event without the tag (another
				// sender's, or a notification) is recorded and moves nothing, even when a
				// credential's message id matches.
				s := fixture(t, be.Open, "recipient@example.com", credbatch.EmailSent)
				if err := newService(s).Handle(t.Context(), snsEvent(t, "bounce")); err != nil {
					t.Fatalf("handle: %v", err)
				}
				c, err := s.GetCredential(t.Context(), "c1")
				if err != nil || c.EmailStatus != credbatch.EmailSent {
					t.Errorf("c1: %s, %v; want sent", c.EmailStatus, err)
				}
				if ds := deliveries(t, s); len(ds) != 1 || ds[0].CredentialID != "" {
					t.Errorf("deliveries %+v; want one without a credential", ds)
				}
			})
			t.Run("unknown credential", func(t *testing.T) {
				s := be.Open(t)
				if err := newService(s).Handle(t.Context(), snsEvent(t, "bounce")); err != nil {
					t.Fatalf("handle: %v", err)
				}
				ds := deliveries(t, s)
				if len(ds) != 1 || ds[0].CredentialID != "" || ds[0].Email != "recipient@example.com" || ds[0].Diagnostic != "smtp; 550 5.1.1 user unknown" {
					t.Errorf("deliveries %+v; want one bounce without a credential", ds)
				}
				if _, err := s.GetSuppression(t.Context(), "RECIPIENT@example.com"); err != nil {
					t.Errorf("bounced address not suppressed: %v", err)
				}
			})
			t.Run("malformed messages are skipped", func(t *testing.T) {
				s := fixture(t, be.Open, "recipient@example.com", credbatch.EmailSent)
				ev := events.SNSEvent{Records: []events.SNSEventRecord{
					{SNS: events.SNSEntity{MessageID: "m1", Message: "not json"}},
					{SNS: events.SNSEntity{MessageID: "m2", Message: `{"mail":{"messageId":"x"}}`}},
					{SNS: events.SNSEntity{MessageID: "m3", Message: `{"eventType":"Bounce","mail":{"messageId":"x"}}`}},
					{SNS: events.SNSEntity{MessageID: "m4", Message: `{"eventType":"Subscription","mail":{"messageId":"x"}}`}},
				}}
				ev.Records = append(ev.Records, snsEvent(t, "delivery").Records...)
				if err := newService(s).Handle(t.Context(), ev); err != nil {
					t.Fatalf("handle: %v", err)
				}
				if ds := deliveries(t, s); len(ds) != 1 || ds[0].Event != credbatch.EventDelivery {
					t.Errorf("deliveries %+v; want only the valid delivery", ds)
				}
			})
			t.Run("event before the send is recorded is retried", func(t *testing.T) {
				s := fixture(t, be.Open, "recipient@example.com", credbatch.EmailSending)
				ctx := t.Context()
				svc := newService(s)
				ev := withTags(t, snsEvent(t, "delivery"), "c1", "b1")
				err := svc.Handle(ctx, ev)
				if credbatch.ErrorCode(err) != feedback.CodeNotYetSent || !credbatch.IsKind(err, credbatch.KindUnavailable) {
					t.Fatalf("handle while sending: %v; want %s", err, feedback.CodeNotYetSent)
				}
				if _, err := s.SetEmailStatus(ctx, "c1", []credbatch.EmailStatus{credbatch.EmailSending}, credbatch.EmailSent,
					credbatch.EmailChange{MessageID: exampleMessageID, SentAt: now}); err != nil {
					t.Fatalf("sender's write conflicted: %v", err)
				}
				if err := svc.Handle(ctx, ev); err != nil { // Lambda's retry of the same notification
					t.Fatalf("retry: %v", err)
				}
				c, _ := s.GetCredential(ctx, "c1")
				b, _ := s.GetBatch(ctx, "b1")
				if c.EmailStatus != credbatch.EmailDelivered || c.DeliveredAt.IsZero() || b.Counts.Delivered != 1 || len(deliveries(t, s)) != 0 {
					t.Errorf("after retry: %s (delivered at %v), delivered counter %d, %d deliveries; want delivered, stamped, 1, none recorded",
						c.EmailStatus, c.DeliveredAt, b.Counts.Delivered, len(deliveries(t, s)))
				}
			})
		})
	}
}

// TestDeliveryNotRecorded: a Delivery joined to its credential is not stored as a delivery
// record; it moves the email to delivered and stamps DeliveredAt with the service's clock.
// The same notification again writes nothing. A Delivery that is not its credential's
// (untagged, or to another address) is recorded as before. A resent email whose complaint
// overtook its Delivery gets the new delivery stamped alone.
func TestDeliveryNotRecorded(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := t.Context()
			s := fixture(t, be.Open, "recipient@example.com", credbatch.EmailSent)
			svc := newService(s)
			get := func() (credbatch.Credential, credbatch.Counts) {
				t.Helper()
				c, err := s.GetCredential(ctx, "c1")
				if err != nil {
					t.Fatal(err)
				}
				b, err := s.GetBatch(ctx, "b1")
				if err != nil {
					t.Fatal(err)
				}
				return c, b.Counts.Email()
			}
			handle := func(svc *feedback.Service, snsID, msg string) {
				t.Helper()
				if err := svc.HandleMessage(ctx, snsID, msg); err != nil {
					t.Fatalf("handle %s: %v", snsID, err)
				}
			}
			joined := sesMessage(t, "delivery", "c1", "b1", exampleMessageID, "recipient@example.com")
			handle(svc, "sns-1", joined)
			c, counts := get()
			if c.EmailStatus != credbatch.EmailDelivered || !c.DeliveredAt.Equal(now.Add(time.Second)) || counts.Delivered != 1 {
				t.Fatalf("after the delivery: %s, delivered at %v, counters %+v; want delivered at %v, counted once", c.EmailStatus, c.DeliveredAt, counts, now.Add(time.Second))
			}
			if ds := deliveries(t, s); len(ds) != 0 {
				t.Fatalf("deliveries %+v; want none recorded", ds)
			}

			handle(svc, "sns-1", joined) // SNS delivers at least once
			handle(svc, "sns-1b", joined)
			again, againCounts := get()
			if show(normalized(again)) != show(normalized(c)) || againCounts != counts || len(deliveries(t, s)) != 0 {
				t.Errorf("redelivered: %+v, %+v, %d deliveries; want nothing changed (%+v)", again, againCounts, len(deliveries(t, s)), c)
			}

			handle(svc, "sns-2", snsEvent(t, "delivery").Records[0].SNS.Message) // untagged
			handle(svc, "sns-3", sesMessage(t, "delivery", "c1", "b1", exampleMessageID, "other@example.com"))
			ds := deliveries(t, s)
			if len(ds) != 2 || ds[0].Event != credbatch.EventDelivery || ds[0].CredentialID != "" || ds[1].Event != credbatch.EventDelivery ||
				ds[1].CredentialID != "" || ds[1].BatchID != "b1" || ds[1].Email != "other@example.com" {
				t.Errorf("deliveries %+v; want the two Delivery events that are not c1's, recorded without a credential", ds)
			}
			if after, _ := get(); show(normalized(after)) != show(normalized(c)) {
				t.Errorf("c1 after others' deliveries: %+v; want unchanged", after)
			}

			// Resent: the new email's complaint arrives before its Delivery.
			if _, err := s.SetEmailStatus(ctx, "c1", []credbatch.EmailStatus{credbatch.EmailDelivered}, credbatch.EmailSending, credbatch.EmailChange{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.SetEmailStatus(ctx, "c1", []credbatch.EmailStatus{credbatch.EmailSending}, credbatch.EmailSent,
				credbatch.EmailChange{MessageID: "m2", SentAt: now.Add(10 * time.Minute)}); err != nil {
				t.Fatal(err)
			}
			later := now.Add(20 * time.Minute) // deliveries lists up to now + 1h
			svc2 := &feedback.Service{Store: s, Clock: func() time.Time { return later }, Log: svc.Log}
			handle(svc2, "sns-4", sesMessage(t, "complaint", "c1", "b1", "m2", "recipient@example.com"))
			if c, _ := get(); c.EmailStatus != credbatch.EmailComplained || !c.DeliveredAt.Equal(now.Add(time.Second)) {
				t.Fatalf("after the complaint: %s, delivered at %v; want complained, the first delivery's stamp kept", c.EmailStatus, c.DeliveredAt)
			}
			handle(svc2, "sns-5", sesMessage(t, "delivery", "c1", "b1", "m2", "recipient@example.com"))
			c, counts = get()
			if c.EmailStatus != credbatch.EmailComplained || !c.DeliveredAt.Equal(later) || counts.Delivered != 1 || counts.Complained != 1 {
				t.Errorf("after the resent email's delivery: %s, delivered at %v, counters %+v; want complained, stamped at %v, delivered 1, complained 1",
					c.EmailStatus, c.DeliveredAt, counts, later)
			}
			if ds := deliveries(t, s); len(ds) != 3 || ds[2].Event != credbatch.EventComplaint {
				t.Errorf("deliveries %+v; want the complaint recorded after the two others, no Delivery of c1", ds)
			}
		})
	}
}

// normalized is a credential with its times in UTC, for comparing reads of it.
func normalized(c credbatch.Credential) credbatch.Credential {
	c.SentAt, c.DeliveredAt, c.IssuedAt, c.UpdatedAt, c.RevokedAt = c.SentAt.UTC(), c.DeliveredAt.UTC(), c.IssuedAt.UTC(), c.UpdatedAt.UTC(), c.RevokedAt.UTC()
	return c
}

func TestParse(t *testing.T) {
	tests := []struct {
		fixture    string
		wantType   string
		wantStatus credbatch.EmailStatus
		wantSupp   string
		wantAt     string
		wantDiag   string
	}{
		{"bounce", "Bounce", credbatch.EmailBounced, "bounce", "2017-08-05T00:41:02.669Z", "smtp; 550 5.1.1 user unknown"},
		{"bounce-transient", "Bounce", credbatch.EmailSoftBounce, "", "2017-08-05T00:41:02.669Z", "smtp; 452 4.2.2 mailbox full"},
		{"complaint", "Complaint", credbatch.EmailComplained, "complaint", "2017-08-05T00:41:02.669Z", ""},
		{"delivery", "Delivery", credbatch.EmailDelivered, "", "2016-10-19T23:21:04.133Z", "250 2.6.0 Message received"},
		{"send", "Send", "", "", "2016-10-14T05:02:16.645Z", ""},
		{"reject", "Reject", credbatch.EmailRejected, "", "2016-10-14T17:38:15.211Z", ""},
		{"delivery-delay", "DeliveryDelay", credbatch.EmailDelayed, "", "2020-06-16T00:25:40.095Z", "smtp; 421 4.4.1 Unable to connect to remote host"},
		{"open", "Open", "", "", "2017-08-09T21:59:49.927Z", ""},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			e, err := feedback.Parse(snsEvent(t, tc.fixture).Records[0].SNS.Message)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			diag := ""
			if len(e.Recipients) > 0 {
				diag = e.Recipients[0].Diagnostic
			}
			got := []string{e.Type, string(e.Status()), e.Suppresses(), e.At.Format(time.RFC3339Nano), diag, e.MessageID}
			want := []string{tc.wantType, string(tc.wantStatus), tc.wantSupp, tc.wantAt, tc.wantDiag, exampleMessageID}
			if show(got) != show(want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestParseSuppressionBounces(t *testing.T) {
	tests := []struct {
		bounceType, subType string
		want                credbatch.EmailStatus
		wantSupp            string
	}{
		{"Permanent", "General", credbatch.EmailBounced, "bounce"},
		{"Permanent", "OnAccountSuppressionList", credbatch.EmailSuppressed, "bounce"},
		{"Permanent", "Suppressed", credbatch.EmailSuppressed, "bounce"},
		{"Undetermined", "Undetermined", credbatch.EmailSoftBounce, ""},
		{"Transient", "General", credbatch.EmailSoftBounce, ""},
	}
	for _, tc := range tests {
		t.Run(tc.bounceType+"/"+tc.subType, func(t *testing.T) {
			var buf bytes.Buffer
			_ = json.NewEncoder(&buf).Encode(map[string]any{"eventType": "Bounce", "mail": map[string]any{"messageId": "m"},
				"bounce": map[string]any{"bounceType": tc.bounceType, "bounceSubType": tc.subType,
					"bouncedRecipients": []any{map[string]string{"emailAddress": "a@example.com"}}}})
			e, err := feedback.Parse(buf.String())
			if err != nil {
				t.Fatal(err)
			}
			if e.Status() != tc.want || e.Suppresses() != tc.wantSupp {
				t.Errorf("status %s, suppresses %q; want %s, %q", e.Status(), e.Suppresses(), tc.want, tc.wantSupp)
			}
		})
	}
}
