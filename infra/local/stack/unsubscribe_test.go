package stack_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/infra/local/stack"
	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/issuance"
)

// outboxHeaders reads the headers of every message in the outbox, by file.
func outboxHeaders(t *testing.T, s *stack.Stack) map[string]mail.Header {
	t.Helper()
	emls, err := filepath.Glob(filepath.Join(s.Config.OutboxDir(), "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]mail.Header{}
	for _, p := range emls {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[p] = m.Header
	}
	return out
}

// TestNotificationsOneClickUnsubscribe: in the local stack every notification (the batch
// summary, the delivery report) carries List-Unsubscribe and List-Unsubscribe-Post, no
// credential email does; the one-click POST to the stack's own handler stops the delivery
// report for that administrator, and the next report goes to the other one only.
func TestNotificationsOneClickUnsubscribe(t *testing.T) {
	ctx := context.Background()
	s, err := stack.Open(ctx, stack.Config{DataDir: t.TempDir(), Issuer: credential.Issuer{BaseURL: "http://127.0.0.1:0", Name: "Test Academy"},
		Flow: issuance.Config{Admins: []string{"ann@example.org", "bo@example.org"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f, err := credbatch.ParseDefinitions(strings.NewReader(`{"definitions":[{"id":"member","name":"Membership","expiry":{"policy":"none"},"duplicates":"allow"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LoadDefinitions(ctx, f.Definitions); err != nil {
		t.Fatal(err)
	}
	ingestFile(t, s, "uploads/member/a.csv", []byte("First Name,Last Name,Email\nAnn,Lee,bounce@simulator.amazonses.com\n"))
	if _, err := s.Report.Run(ctx); err != nil {
		t.Fatal(err)
	}
	reportLink := ""
	kinds := map[string]int{}
	for _, h := range outboxHeaders(t, s) {
		link, post := h.Get("List-Unsubscribe"), h.Get("List-Unsubscribe-Post")
		subject := h.Get("Subject")
		switch {
		case strings.Contains(subject, "Membership"):
			kinds["credential"]++
			if link != "" || post != "" {
				t.Errorf("credential email %q has List-Unsubscribe %q", subject, link)
			}
		default:
			kinds[subject]++
			if !strings.HasPrefix(link, "<http://127.0.0.1:0/unsubscribe/") || post != "List-Unsubscribe=One-Click" {
				t.Errorf("notification %q to %s: List-Unsubscribe %q, -Post %q", subject, h.Get("To"), link, post)
			}
			if strings.HasPrefix(subject, "Delivery report") && h.Get("To") == "ann@example.org" {
				reportLink = strings.Trim(link, "<>")
			}
		}
	}
	if kinds["credential"] != 1 || len(kinds) < 3 || reportLink == "" {
		t.Fatalf("outbox by subject %v; want the credential, a summary and a report to each admin", kinds)
	}

	srv := httptest.NewServer(s.Handler(auth.APIGateway{}))
	defer srv.Close()
	u, _ := url.Parse(reportLink)
	resp, err := http.PostForm(srv.URL+u.Path, url.Values{"List-Unsubscribe": {"One-Click"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("one-click POST through the stack's handler: %d", resp.StatusCode)
	}
	before := outboxHeaders(t, s)
	ingestFile(t, s, "uploads/member/b.csv", []byte("First Name,Last Name,Email\nBo,Ng,bounce+2@simulator.amazonses.com\n"))
	if _, err := s.Report.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var reports []string
	for p, h := range outboxHeaders(t, s) {
		if _, old := before[p]; !old && strings.HasPrefix(h.Get("Subject"), "Delivery report") {
			reports = append(reports, h.Get("To"))
		}
	}
	if len(reports) != 1 || reports[0] != "bo@example.org" {
		t.Errorf("next delivery report went to %v; want bo@example.org only", reports)
	}
}
