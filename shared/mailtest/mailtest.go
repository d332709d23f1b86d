// Package mailtest is the contract suite that every credbatch.Mailer adapter passes.
package mailtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Capabilities are the ways mailers differ, as data.
type Capabilities struct {
	// VerifiedSenders: the mailer refuses a sender it may not send as (SES identities); the
	// outbox sends as anyone.
	VerifiedSenders bool
}

// Harness is one mailer under test and a view of what its backend holds.
type Harness struct {
	Mailer credbatch.Mailer
	// From is a sender the mailer may send as.
	From string
	// Sent returns what the backend holds for a message id (the raw message, or its subject
	// and bodies), and whether it holds it.
	Sent func(t *testing.T, id string) (string, bool)
	// Holds reports whether any message the backend holds contains text (the backend may be
	// shared with other tests, so refusals are checked by a marker, not by a count).
	Holds func(t *testing.T, text string) bool
	Caps  Capabilities
}

// Run runs the contract subtests; newHarness returns a harness for each subtest.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"TextAndHTML", testTextAndHTML},
		{"Attachment", testAttachment},
		{"ConcurrentSendsDistinctIDs", testConcurrent},
		{"Refusals", testRefusals},
		{"UnverifiedSender", testUnverifiedSender},
		{"CancelledContext", testCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newHarness(t)) })
	}
}

func unique(what string) string { return fmt.Sprintf("%s %d", what, time.Now().UnixNano()) }

// mustSend sends msg and checks that the backend holds it under the id returned.
func mustSend(t *testing.T, h Harness, msg credbatch.Message) (string, string) {
	t.Helper()
	id, err := h.Mailer.Send(context.Background(), msg)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if id == "" {
		t.Fatal("Send returned an empty message id")
	}
	got, ok := h.Sent(t, id)
	if !ok {
		t.Fatalf("the backend holds no message %s", id)
	}
	return id, got
}

func testTextAndHTML(t *testing.T, h Harness) {
	subject := unique("Your credential")
	_, got := mustSend(t, h, credbatch.Message{From: h.From, To: []string{"ada@example.com"}, Subject: subject,
		Text: "Hello Ada, text part", HTML: "<p>Hello Ada, html part</p>", Tags: map[string]string{"credential_id": "c1", "batch_id": "b1"}})
	if !strings.Contains(got, subject) {
		t.Errorf("stored message lacks the subject %q:\n%.400s", subject, got)
	}
	if !strings.Contains(got, "text part") && !strings.Contains(got, "html part") {
		t.Errorf("stored message lacks the body:\n%.400s", got)
	}
}

func testAttachment(t *testing.T, h Harness) {
	subject := unique("Delivery report")
	_, got := mustSend(t, h, credbatch.Message{From: h.From, To: []string{"admin@example.com"}, Subject: subject, Text: "attached",
		Attachments: []credbatch.Attachment{{Filename: "failed-recipients.csv", ContentType: "text/csv", Data: []byte("email\nbounce@example.com\n")}}})
	if !strings.Contains(got, subject) || !strings.Contains(got, "failed-recipients.csv") {
		t.Errorf("stored message lacks the subject or the attachment's name:\n%.600s", got)
	}
}

func testConcurrent(t *testing.T, h Harness) {
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = h.Mailer.Send(context.Background(), credbatch.Message{From: h.From, To: []string{fmt.Sprintf("r%d@example.com", i)},
				Subject: unique(fmt.Sprintf("Parallel %d", i)), Text: "x"})
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("send %d: %v", i, errs[i])
		}
		if ids[i] == "" || seen[ids[i]] {
			t.Errorf("send %d: id %q empty or repeated", i, ids[i])
		}
		seen[ids[i]] = true
		if _, ok := h.Sent(t, ids[i]); !ok {
			t.Errorf("send %d: the backend holds no message %s", i, ids[i])
		}
	}
}

// testRefusals: a malformed message is KindInvalid and nothing reaches the backend.
func testRefusals(t *testing.T, h Harness) {
	tests := []struct {
		name string
		msg  func(marker string) credbatch.Message
	}{
		{"no recipient", func(mk string) credbatch.Message {
			return credbatch.Message{From: h.From, Subject: mk, Text: mk}
		}},
		{"CR/LF in the subject (header injection)", func(mk string) credbatch.Message {
			return credbatch.Message{From: h.From, To: []string{"ada@example.com"}, Subject: "Hi\r\nBcc: all@evil.example", Text: mk}
		}},
		{"a recipient that is not an address", func(mk string) credbatch.Message {
			return credbatch.Message{From: h.From, To: []string{"not an address"}, Subject: mk, Text: mk}
		}},
		{"CR/LF in a recipient", func(mk string) credbatch.Message {
			return credbatch.Message{From: h.From, To: []string{"ada@example.com\r\nBcc: x@evil.example"}, Subject: mk, Text: mk}
		}},
		{"no body", func(mk string) credbatch.Message {
			return credbatch.Message{From: h.From, To: []string{"ada@example.com"}, Subject: mk}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			marker := unique("refused")
			id, err := h.Mailer.Send(context.Background(), tc.msg(marker))
			if !credbatch.IsKind(err, credbatch.KindInvalid) || id != "" {
				t.Errorf("Send = %q, %v (kind %s); want KindInvalid and no id", id, err, credbatch.ErrorKind(err))
			}
			if h.Holds(t, marker) {
				t.Error("the backend holds the refused message")
			}
		})
	}
}

func testUnverifiedSender(t *testing.T, h Harness) {
	msg := credbatch.Message{From: "someone@unverified.example.org", To: []string{"ada@example.com"}, Subject: unique("s"), Text: "t"}
	id, err := h.Mailer.Send(context.Background(), msg)
	switch {
	case h.Caps.VerifiedSenders && (!credbatch.IsKind(err, credbatch.KindInvalid) || id != ""):
		t.Errorf("unverified sender: %q, %v (kind %s); want KindInvalid", id, err, credbatch.ErrorKind(err))
	case !h.Caps.VerifiedSenders && err != nil:
		t.Errorf("a mailer without sender identities refused a sender: %v", err)
	}
}

// testCancelled: a send on an ended context is KindUnavailable (try again later) and sends
// nothing.
func testCancelled(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	marker := unique("cancelled")
	id, err := h.Mailer.Send(ctx, credbatch.Message{From: h.From, To: []string{"ada@example.com"}, Subject: marker, Text: marker})
	if !credbatch.IsKind(err, credbatch.KindUnavailable) || id != "" {
		t.Errorf("Send on a cancelled context = %q, %v (kind %s); want KindUnavailable", id, err, credbatch.ErrorKind(err))
	}
	if h.Holds(t, marker) {
		t.Error("the backend holds the message of a cancelled send")
	}
}
