package sesim_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/feedback"
	"github.com/credbatch/credbatch/shared/outbox"
	"github.com/credbatch/credbatch/shared/sesim"
	"github.com/credbatch/credbatch/shared/sqlite"
)

var now = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)

func TestScenarioOf(t *testing.T) {
	tests := []struct {
		addr string
		want sesim.Scenario
	}{
		{"success@simulator.amazonses.com", sesim.Success},
		{"Bounce+row7@Simulator.AmazonSES.com", sesim.Bounce},
		{"Ada <ooto@simulator.amazonses.com>", sesim.OutOfOffice},
		{"complaint+x@simulator.amazonses.com", sesim.Complaint},
		{"suppressionlist@simulator.amazonses.com", sesim.SuppressionList},
		{"nobody@simulator.amazonses.com", sesim.Other},
		{"bounce@example.com", sesim.Other},
		{"not an address", sesim.Other},
	}
	for _, tc := range tests {
		if got := sesim.ScenarioOf(tc.addr); got != tc.want {
			t.Errorf("ScenarioOf(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

// summary describes a parsed event: type, bounce label, recipients.
func summary(e feedback.Event) string {
	var rs []string
	for _, r := range e.Recipients {
		rs = append(rs, r.Email)
	}
	s := e.Type
	if l := e.BounceLabel(); l != "" {
		s += "(" + l + ")"
	}
	return s + ":" + strings.Join(rs, ",")
}

func TestEvents(t *testing.T) {
	tests := []struct {
		to   []string
		want []string
	}{
		{[]string{"success@simulator.amazonses.com"}, []string{"Send:success@simulator.amazonses.com", "Delivery:success@simulator.amazonses.com"}},
		{[]string{"success+a1@simulator.amazonses.com"}, []string{"Send:success+a1@simulator.amazonses.com", "Delivery:success+a1@simulator.amazonses.com"}},
		{[]string{"bounce@simulator.amazonses.com"}, []string{"Send:bounce@simulator.amazonses.com", "Bounce(Permanent/General):bounce@simulator.amazonses.com"}},
		{[]string{"ooto@simulator.amazonses.com"}, []string{"Send:ooto@simulator.amazonses.com", "Delivery:ooto@simulator.amazonses.com"}},
		{[]string{"complaint@simulator.amazonses.com"}, []string{"Send:complaint@simulator.amazonses.com",
			"Delivery:complaint@simulator.amazonses.com", "Complaint:complaint@simulator.amazonses.com"}},
		{[]string{"suppressionlist@simulator.amazonses.com"}, []string{"Send:suppressionlist@simulator.amazonses.com",
			"Bounce(Permanent/OnAccountSuppressionList):suppressionlist@simulator.amazonses.com"}},
		{[]string{"Ada <ada@example.com>"}, []string{"Send:ada@example.com", "Delivery:ada@example.com"}},
		{[]string{"a@example.com", "bounce+1@simulator.amazonses.com", "bounce+2@simulator.amazonses.com"}, []string{
			"Send:a@example.com,bounce+1@simulator.amazonses.com,bounce+2@simulator.amazonses.com",
			"Delivery:a@example.com", "Bounce(Permanent/General):bounce+1@simulator.amazonses.com,bounce+2@simulator.amazonses.com"}},
		{nil, nil},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.to, ","), func(t *testing.T) {
			msg := credbatch.Message{From: "Issuer <noreply@example.org>", To: tc.to, Subject: "Your credential",
				Tags: map[string]string{"credential_id": "c1", "batch_id": "b1"}}
			recs := sesim.Events(msg, "m1@credbatch.local", now)
			var got []string
			ids := map[string]bool{}
			for _, r := range recs {
				e, err := feedback.Parse(r.SNS.Message)
				if err != nil {
					t.Fatalf("feedback cannot parse %s: %v", r.SNS.Message, err)
				}
				got = append(got, summary(e))
				if e.MessageID != "m1@credbatch.local" || e.CredentialID != "c1" || e.BatchID != "b1" || e.At.Before(now) {
					t.Errorf("event %+v: want message id, tags c1/b1 and a time from %v", e, now)
				}
				ids[r.SNS.MessageID] = true
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if len(ids) != len(recs) {
				t.Errorf("SNS message ids not unique: %v", ids)
			}
			again := sesim.Events(msg, "m1@credbatch.local", now.Add(time.Hour))
			for i := range again {
				if again[i].SNS.MessageID != recs[i].SNS.MessageID {
					t.Errorf("event %d: SNS id %s then %s; want the same for the same message", i, recs[i].SNS.MessageID, again[i].SNS.MessageID)
				}
			}
		})
	}
}

func TestEventsMailObject(t *testing.T) {
	recs := sesim.Events(credbatch.Message{From: "noreply@Example.org", To: []string{"bounce@simulator.amazonses.com"},
		Subject: "Hi", Tags: map[string]string{"batch_id": "b1"}}, "m2", now)
	var ev struct {
		Mail struct {
			Timestamp   string              `json:"timestamp"`
			Source      string              `json:"source"`
			MessageID   string              `json:"messageId"`
			Destination []string            `json:"destination"`
			Tags        map[string][]string `json:"tags"`
		} `json:"mail"`
		Bounce struct {
			BouncedRecipients []struct {
				Status, DiagnosticCode string
			} `json:"bouncedRecipients"`
		} `json:"bounce"`
	}
	if err := json.Unmarshal([]byte(recs[1].SNS.Message), &ev); err != nil {
		t.Fatal(err)
	}
	got := []string{ev.Mail.Timestamp, ev.Mail.Source, ev.Mail.MessageID, strings.Join(ev.Mail.Tags["batch_id"], ","),
		strings.Join(ev.Mail.Tags["ses:from-domain"], ","), strings.Join(ev.Mail.Tags["ses:configuration-set"], ","),
		ev.Bounce.BouncedRecipients[0].Status, ev.Bounce.BouncedRecipients[0].DiagnosticCode}
	want := []string{"2025-03-04T10:00:00.000Z", "noreply@Example.org", "m2", "b1", "example.org", sesim.ConfigurationSet,
		"5.1.1", sesim.BounceDiagnostic}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestRelayThroughOutbox wires the local stack's path: outbox OnSend → Relay → feedback, and
// checks the relay waits for the sender's "sent" write.
func TestRelayThroughOutbox(t *testing.T) {
	ctx := t.Context()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := &feedback.Service{Store: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	relay := &sesim.Relay{Handle: svc.Handle, Delay: 20 * time.Millisecond, Log: svc.Log}
	box, err := outbox.New(t.TempDir(), outbox.Options{OnSend: relay.OnSend})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateBatch(ctx, credbatch.Batch{ID: "b1", Status: credbatch.BatchReceived, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	want := map[string]credbatch.EmailStatus{
		"success@simulator.amazonses.com": credbatch.EmailDelivered, "bounce@simulator.amazonses.com": credbatch.EmailBounced,
		"complaint@simulator.amazonses.com": credbatch.EmailComplained, "ooto@simulator.amazonses.com": credbatch.EmailDelivered,
		"suppressionlist@simulator.amazonses.com": credbatch.EmailSuppressed,
	}
	i := 0
	for addr := range want {
		i++
		id := "c" + string(rune('0'+i))
		if err := store.CreateCredential(ctx, credbatch.Credential{ID: id, BatchID: "b1", RowNumber: i + 1, Email: addr,
			EmailStatus: credbatch.EmailSending, IssuedAt: now}); err != nil {
			t.Fatal(err)
		}
		mid, err := box.Send(ctx, credbatch.Message{From: "noreply@example.org", To: []string{addr}, Subject: "s", Text: "t",
			Tags: map[string]string{"credential_id": id, "batch_id": "b1"}})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond) // the relay's first call overtakes the sender's write
		if _, err := store.SetEmailStatus(ctx, id, []credbatch.EmailStatus{credbatch.EmailSending}, credbatch.EmailSent,
			credbatch.EmailChange{MessageID: mid, SentAt: now}); err != nil {
			t.Fatalf("sender's write: %v", err)
		}
	}
	relay.Wait()
	p, err := store.ListCredentialsByBatch(context.Background(), "b1", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Items {
		if c.EmailStatus != want[c.Email] {
			t.Errorf("%s: %s, want %s", c.Email, c.EmailStatus, want[c.Email])
		}
	}
	b, _ := store.GetBatch(ctx, "b1")
	got := credbatch.Counts{Delivered: b.Counts.Delivered, Bounced: b.Counts.Bounced, Complained: b.Counts.Complained, Suppressed: b.Counts.Suppressed}
	if wantCounts := (credbatch.Counts{Delivered: 3, Bounced: 1, Complained: 1, Suppressed: 1}); got != wantCounts {
		t.Errorf("counts %+v, want %+v", got, wantCounts)
	}
}
