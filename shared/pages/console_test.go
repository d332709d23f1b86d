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
		want         int // status for an allowed GET (default 200)
	}{
		{"GET", "/", all, 0},
		{"GET", "/?status=parsed&label=Matrix&definition=web-101", all, 0},
		{"GET", "/?mine=1", all, 0},
		{"GET", "/catalogue", all, 0},
		{"GET", "/catalogue/web-101", all, 0},
		{"GET", "/catalogue/web-101?version=1", all, 0},
		{"GET", "/catalogue/web-101/template", all, 0},
		{"GET", "/catalogue/web-101/template?format=csv", all, 0},
		{"GET", "/catalogue/template?ids=web-101", all, 0},
		{"GET", "/catalogue/new", issuers, 0},
		{"GET", "/catalogue/web-101/edit", issuers, 0},
		{"POST", "/catalogue/new", issuers, 0},
		{"POST", "/catalogue/web-101", issuers, 0},
		{"GET", "/upload", issuers, 0},
		{"GET", "/upload/done?key=uploads/web-101/none.csv", issuers, http.StatusNotFound},
		{"GET", "/new-batch", issuers, 0},
		{"GET", bp, all, 0},
		{"GET", bp + "?show=invalid", all, 0},
		{"GET", bp + "?delivery=bounced", all, 0},
		{"GET", bp + "/reconciliation.xlsx", all, 0},
		{"POST", "/upload", issuers, 0},
		{"POST", "/upload/presign", issuers, 0},
		{"POST", "/upload/evidence-zip", issuers, 0},
		{"POST", "/new-batch", issuers, 0},
		{"POST", "/approvals/confirm", approvers, 0},
		{"POST", "/approvals", approvers, 0},
		{"POST", bp + "/rows/2", issuers, 0},
		{"POST", bp + "/rows/2/evidence", issuers, 0},
		{"POST", bp + "/rows/2/evidence/presign", issuers, 0},
		{"POST", bp + "/rows/2/evidence/confirm", issuers, 0},
		{"POST", bp + "/remove-evidence", []string{"admin"}, 0},
		{"GET", bp + "/rows/2/evidence", all, http.StatusNotFound},
		{"POST", bp + "/submit", issuers, 0},
		{"POST", bp + "/submit-valid", issuers, 0},
		{"POST", bp + "/cancel", issuers, 0},
		{"POST", bp + "/resume", issuers, 0},
		{"POST", bp + "/retry", issuers, 0},
		{"POST", bp + "/revoke", issuers, 0},
		{"POST", bp + "/revoke-one", issuers, 0},
		{"POST", bp + "/resend", issuers, 0},
		{"POST", bp + "/mapping", issuers, 0},
		{"POST", bp + "/approve", approvers, 0},
		{"POST", bp + "/reject", approvers, 0},
		{"POST", bp + "/request-changes", approvers, 0},
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
				want := tt.want
				if want == 0 {
					want = http.StatusOK
				}
				if allowed && tt.method == "GET" && got.code != want {
					t.Errorf("%s: %d, want %d\n%s", role, got.code, want, text(got.body))
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

// TestDefinitionForm: the catalogue's form creates and changes definitions through the same
// use case as the API: a new definition without the admin role gets the strictest policy,
// only an administrator changes a policy field (audited), a stale form is a conflict, and
// the email preview renders the templates with sample values.
func TestDefinitionForm(t *testing.T) {
	e := newConsole(t)
	ctx := context.Background()
	issuerCSRF := csrf(t, e.do(t, request{path: "/", cookie: tokIssuer}).body)
	adminCSRF := csrf(t, e.do(t, request{path: "/", cookie: tokAdmin}).body)

	got := e.do(t, request{path: "/catalogue/new", cookie: tokIssuer})
	if got.code != http.StatusOK || !strings.Contains(got.body, `id="d-approval" name="approval_required" value="1" checked disabled`) {
		t.Fatalf("new form for an issuer: %d; want the policy shown checked and disabled\n%s", got.code, text(got.body))
	}
	form := func(csrf string, kv ...string) url.Values {
		v := url.Values{"csrf": {csrf}, "name": {"UX Design"}, "description": {"Designs interfaces."}, "expiry_policy": {"optional"},
			"expiry_default": {"P2Y"}, "attr_count": {"2"}, "attr-0-name": {"Grade"}, "attr-0-type": {"choice"},
			"attr-0-choices": {"A, B, C"}, "attr-0-required": {"1"}, "attr-1-name": {""}, "attr-1-type": {"text"},
			"email_subject": {"Your {{.CredentialName}}, {{.FirstName}}"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	// "Add an attribute" and "Preview the email" redraw the form; nothing is stored.
	got = e.do(t, request{method: "POST", path: "/catalogue/new", cookie: tokIssuer, form: form(issuerCSRF, "id", "ux-201", "add_attribute", "1")})
	if got.code != http.StatusOK || !strings.Contains(got.body, `name="attr-2-name"`) || !strings.Contains(got.body, `value="Grade"`) {
		t.Errorf("add an attribute: %d\n%s", got.code, text(got.body))
	}
	got = e.do(t, request{method: "POST", path: "/catalogue/new", cookie: tokIssuer, form: form(issuerCSRF, "id", "ux-201", "preview", "1")})
	if got.code != http.StatusOK || !strings.Contains(got.body, `<dd id="preview-subject">Your UX Design, Ada</dd>`) {
		t.Errorf("preview: %d\n%s", got.code, text(got.body))
	}
	got = e.do(t, request{method: "POST", path: "/catalogue/new", cookie: tokIssuer, form: form(issuerCSRF, "id", "ux-201", "preview", "1", "email_subject", "{{.Nope}}")})
	if got.code != http.StatusBadRequest || !strings.Contains(got.body, "Nope") {
		t.Errorf("preview of a broken template: %d, want 400 naming the placeholder\n%s", got.code, text(got.body))
	}
	if _, err := e.st.Store.GetDefinition(ctx, "ux-201", 0); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Fatalf("redrawing the form stored the definition: %v", err)
	}

	// An issuer creates it: the strictest policy, whatever a crafted form says.
	got = e.do(t, request{method: "POST", path: "/catalogue/new", cookie: tokIssuer, form: form(issuerCSRF, "id", "ux-201", "save", "1", "approval_required", "")})
	if got.code != http.StatusSeeOther || got.hdr.Get("Location") != "/catalogue/ux-201?done=definition-saved" {
		t.Fatalf("create: %d %s\n%s", got.code, got.hdr.Get("Location"), text(got.body))
	}
	d, err := e.st.Store.GetDefinition(ctx, "ux-201", 0)
	if err != nil || d.Version != 1 || !d.ApprovalRequired || !d.FourEyes || d.Duplicates != credbatch.DuplicatesReject ||
		len(d.Attributes) != 1 || len(d.Attributes[0].Choices) != 3 || d.Expiry.Default != "P2Y" {
		t.Fatalf("created %+v, %v", d, err)
	}
	// The issuer may not relax a policy field; the administrator may, and it is audited.
	got = e.do(t, request{method: "POST", path: "/catalogue/ux-201", cookie: tokIssuer, form: form(issuerCSRF, "version", "1", "save", "1", "duplicates", "allow")})
	if got.code != http.StatusForbidden || !strings.Contains(got.body, "admin role") {
		t.Errorf("issuer relaxing duplicates: %d, want 403\n%s", got.code, text(got.body))
	}
	got = e.do(t, request{method: "POST", path: "/catalogue/ux-201", cookie: tokAdmin, form: form(adminCSRF, "version", "1", "save", "1", "duplicates", "allow", "four_eyes", "1")})
	if got.code != http.StatusSeeOther {
		t.Fatalf("admin change: %d\n%s", got.code, text(got.body))
	}
	d, _ = e.st.Store.GetDefinition(ctx, "ux-201", 0)
	if d.Version != 2 || d.ApprovalRequired || !d.FourEyes || d.Duplicates != credbatch.DuplicatesAllow {
		t.Errorf("after the admin's change: v%d approval %v four eyes %v duplicates %s", d.Version, d.ApprovalRequired, d.FourEyes, d.Duplicates)
	}
	audit, err := e.st.Store.ListAudit(ctx, "", 10)
	if err != nil || len(audit.Items) != 2 || audit.Items[0].Action != credbatch.AuditPolicyChanged || audit.Items[0].Actor != "admin@example.com" {
		t.Errorf("audit trail %+v, %v; want the creation and the admin's change", audit.Items, err)
	}
	// A form drawn from version 1 cannot overwrite version 2.
	got = e.do(t, request{method: "POST", path: "/catalogue/ux-201", cookie: tokIssuer, form: form(issuerCSRF, "version", "1", "save", "1")})
	if got.code != http.StatusConflict {
		t.Errorf("stale form: %d, want 409\n%s", got.code, text(got.body))
	}
	// The edit form shows the latest version.
	got = e.do(t, request{path: "/catalogue/ux-201/edit", cookie: tokIssuer})
	if got.code != http.StatusOK || !strings.Contains(got.body, "Save as version 3") || !strings.Contains(got.body, `value="A, B, C"`) {
		t.Errorf("edit form: %d\n%s", got.code, text(got.body))
	}
}
