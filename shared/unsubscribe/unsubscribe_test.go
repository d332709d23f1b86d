package unsubscribe_test

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/storetest/stores"
	"github.com/credbatch/credbatch/shared/unsubscribe"
)

type mailbox struct {
	mu   sync.Mutex
	sent []credbatch.Message
}

func (m *mailbox) Send(_ context.Context, msg credbatch.Message) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg)
	return "id", nil
}

func (m *mailbox) take() []credbatch.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.sent
	m.sent = nil
	return out
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestOneClickUnsubscribe: a notification to two administrators goes out as one message each
// with its own List-Unsubscribe link; a credential email passes unchanged; a mail client's
// one-click POST stops that kind for that address only; GET only asks; a link this deployment
// did not issue is refused.
func TestOneClickUnsubscribe(t *testing.T) {
	for _, be := range stores.All {
		t.Run(be.Name, func(t *testing.T) {
			ctx := t.Context()
			links := &unsubscribe.Service{Store: be.Open(t), BaseURL: "https://creds.example.org/", Log: quiet}
			mb := &mailbox{}
			m := unsubscribe.Wrap(mb, links)
			summary := credbatch.Message{From: "noreply@example.org", To: []string{"Ann <ann@example.org>", "bo@example.org"},
				Subject: "Batch b1: completed", Text: "done", Tags: map[string]string{"kind": "summary", "batch_id": "b1"}}
			if _, err := m.Send(ctx, summary); err != nil {
				t.Fatal(err)
			}
			sent := mb.take()
			if len(sent) != 2 || len(sent[0].To) != 1 || len(sent[1].To) != 1 {
				t.Fatalf("sent %+v; want one message per recipient", sent)
			}
			byTo := map[string]string{}
			for _, s := range sent {
				if !strings.HasPrefix(s.Unsubscribe, "https://creds.example.org"+unsubscribe.Path) {
					t.Errorf("message to %v has unsubscribe link %q", s.To, s.Unsubscribe)
				}
				byTo[s.To[0]] = s.Unsubscribe
			}
			if byTo["Ann <ann@example.org>"] == byTo["bo@example.org"] {
				t.Errorf("both recipients got the same link")
			}
			cred := credbatch.Message{From: "noreply@example.org", To: []string{"ada@example.org"}, Subject: "Your credential", Text: "x",
				Tags: map[string]string{"credential_id": "c1", "batch_id": "b1"}}
			if _, err := m.Send(ctx, cred); err != nil {
				t.Fatal(err)
			}
			if got := mb.take(); len(got) != 1 || got[0].Unsubscribe != "" {
				t.Errorf("credential email %+v; want it unchanged, without an unsubscribe link", got)
			}

			srv := httptest.NewServer(links.Handler())
			defer srv.Close()
			path := strings.TrimPrefix(byTo["Ann <ann@example.org>"], "https://creds.example.org")
			// A GET (a link scanner, or a person) only asks.
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Stop emailing batch summaries to ann@example.org?") ||
				!strings.Contains(string(body), `<form method="post"`) {
				t.Errorf("GET: %d\n%s", resp.StatusCode, body)
			}
			if out, err := links.Unsubscribed(ctx, "summary", "ann@example.org"); err != nil || out {
				t.Fatalf("after GET: unsubscribed %v, %v; want not yet", out, err)
			}
			// RFC 8058 one-click: POST with List-Unsubscribe=One-Click, twice.
			for range 2 {
				resp, err := http.PostForm(srv.URL+path, url.Values{"List-Unsubscribe": {"One-Click"}})
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("one-click POST: %d", resp.StatusCode)
				}
			}
			if _, err := m.Send(ctx, summary); err != nil {
				t.Fatal(err)
			}
			if got := mb.take(); len(got) != 1 || got[0].To[0] != "bo@example.org" {
				t.Errorf("after Ann unsubscribed: %+v; want only bo", got)
			}
			other := summary
			other.Tags = map[string]string{"kind": "delivery-report"}
			if _, err := m.Send(ctx, other); err != nil {
				t.Fatal(err)
			}
			if got := mb.take(); len(got) != 2 {
				t.Errorf("another kind after Ann unsubscribed from summaries: %d messages; want both", len(got))
			}
			// A token of the right shape that was never issued.
			forged := base64.RawURLEncoding.EncodeToString([]byte("delivery-report\nbo@example.org\n00112233445566778899aabbccddeeff"))
			resp, err = http.PostForm(srv.URL+unsubscribe.Path+forged, url.Values{"List-Unsubscribe": {"One-Click"}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("forged link: %d; want 404", resp.StatusCode)
			}
			if out, _ := links.Unsubscribed(ctx, "delivery-report", "bo@example.org"); out {
				t.Error("a forged link unsubscribed bo")
			}
		})
	}
}
