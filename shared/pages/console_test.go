package pages_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
)

// newConsole is the local stack's whole handler (API, console, pages), as site.New builds it.
func newConsole(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.h = e.st.Handler(e.tokens)
	return e
}

// parsedBatch creates a batch of web-101 rows through the console's manual-entry path.
func (e *env) parsedBatch(t *testing.T, key string, emails ...string) credbatch.Batch {
	t.Helper()
	var rs []ingest.Recipient
	for i, em := range emails {
		rs = append(rs, ingest.Recipient{FirstName: "P" + string(rune('a'+i)), LastName: "Tester", Email: em, IssueDate: "2026-01-15",
			Attributes: map[string]string{"Score": "80"}})
	}
	svc := &ingest.Service{Store: e.st.Store, Blob: e.st.Bucket}
	b, _, err := svc.CreateBatch(context.Background(), ingest.NewBatch{IdempotencyKey: key, Uploader: "issuer@example.com",
		DefinitionID: "web-101", Label: "Matrix " + key, Recipients: rs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConsoleAuthorization is the authorization matrix: every console page and form for each
// role and without a session. Without a session a page redirects to /login (302) and a form
// is refused (403); another role's page or action is refused (403); a form without the
// session's CSRF token is refused (403).
func TestConsoleAuthorization(t *testing.T) {
	e := newConsole(t)
	b := e.parsedBatch(t, "matrix", "a@example.com", "b@example.com")
	bp := "/batches/" + b.ID
	all := []string{"issuer", "approver", "admin"}
	issuers := []string{"issuer", "admin"}
	approvers := []string{"approver", "admin"}
	tokens := map[string]string{"issuer": tokIssuer, "approver": tokApprover, "admin": tokAdmin}
	tests := []struct {
		method, path string
		allowed      []string
	}{
		{"GET", "/", all},
		{"GET", "/?status=parsed&label=Matrix&definition=web-101", all},
		{"GET", "/?mine=1", all},
		{"GET", "/catalogue", all},
		{"GET", "/catalogue/web-101", all},
		{"GET", "/catalogue/web-101?version=1", all},
		{"GET", "/catalogue/web-101/template", all},
		{"GET", "/catalogue/web-101/template?format=csv", all},
		{"GET", "/catalogue/template?ids=web-101", all},
		{"GET", "/upload", issuers},
		{"GET", "/new-batch", issuers},
		{"GET", bp, all},
		{"GET", bp + "?show=invalid", all},
		{"GET", bp + "?delivery=bounced", all},
		{"GET", bp + "/reconciliation.xlsx", all},
		{"POST", "/upload", issuers},
		{"POST", "/new-batch", issuers},
		{"POST", "/approvals/confirm", approvers},
		{"POST", "/approvals", approvers},
		{"POST", bp + "/rows/2", issuers},
		{"POST", bp + "/submit", issuers},
		{"POST", bp + "/submit-valid", issuers},
		{"POST", bp + "/cancel", issuers},
		{"POST", bp + "/resume", issuers},
		{"POST", bp + "/retry", issuers},
		{"POST", bp + "/revoke", issuers},
		{"POST", bp + "/revoke-one", issuers},
		{"POST", bp + "/resend", issuers},
		{"POST", bp + "/mapping", issuers},
		{"POST", bp + "/approve", approvers},
		{"POST", bp + "/reject", approvers},
		{"POST", bp + "/request-changes", approvers},
	}
	csrfOf := map[string]string{}
	for role, tok := range tokens {
		csrfOf[role] = csrf(t, e.do(t, request{path: "/", cookie: tok}).body)
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			form := func(csrf string) url.Values {
				if tt.method != "POST" {
					return nil
				}
				// A harmless body: the actions are refused by their use case, not by the console.
				return url.Values{"csrf": {csrf}, "reason": {"matrix"}, "batch": {"b_none"}}
			}
			got := e.do(t, request{method: tt.method, path: tt.path, form: form("")})
			switch {
			case tt.method == "GET" && (got.code != http.StatusFound || !strings.HasPrefix(got.hdr.Get("Location"), "/login?next=")):
				t.Errorf("no session: %d, Location %q; want 302 to /login", got.code, got.hdr.Get("Location"))
			case tt.method == "POST" && got.code != http.StatusForbidden:
				t.Errorf("no session: %d, want 403", got.code)
			}
			for _, role := range all {
				allowed := false
				for _, a := range tt.allowed {
					allowed = allowed || a == role
				}
				got := e.do(t, request{method: tt.method, path: tt.path, cookie: tokens[role], form: form(csrfOf[role])})
				refused := got.code == http.StatusForbidden || got.code == http.StatusFound || got.code == http.StatusUnauthorized
				if allowed && (refused || got.code >= 500) {
					t.Errorf("%s: %d, want it allowed\n%s", role, got.code, text(got.body))
				}
				if !allowed && got.code != http.StatusForbidden {
					t.Errorf("%s (another role's page): %d, want 403", role, got.code)
				}
				if allowed && tt.method == "GET" && got.code != http.StatusOK {
					t.Errorf("%s: %d, want 200\n%s", role, got.code, text(got.body))
				}
				if allowed && tt.method == "POST" {
					if got := e.do(t, request{method: tt.method, path: tt.path, cookie: tokens[role], form: form("forged")}); got.code != http.StatusForbidden {
						t.Errorf("%s without the CSRF token: %d, want 403", role, got.code)
					}
				}
			}
		})
	}
}
