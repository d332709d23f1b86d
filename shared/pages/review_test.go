package pages_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/pages"
)

func TestReviewPageAccess(t *testing.T) {
	e := newEnv(t)
	b := e.awaitingBatch(t, "access", csvRows(3))
	path := "/review/" + b.ID
	tests := []struct {
		name     string
		rq       request
		wantCode int
		want     []string // in the page's text
		wantLoc  string
		cookie   bool // a session cookie is set
	}{
		{"no session shows the login form", request{path: path}, http.StatusUnauthorized,
			[]string{"Sign in to credbatch", "Access token"}, "", false},
		{"issuer-only token is refused", request{path: path, cookie: tokIssuer}, http.StatusForbidden,
			[]string{"You are signed in as issuer@example.com, who may not review batches"}, "", false},
		{"unknown session cookie", request{path: path, sid: tokApprover}, http.StatusUnauthorized,
			[]string{"Your session is no longer valid"}, "", false},
		{"approver cookie", request{path: path, cookie: tokApprover}, http.StatusOK,
			[]string{"Cohort access", "Signed in as approver@example.com", "Approve", "Reject", "Request changes"}, "", false},
		{"admin cookie", request{path: path, cookie: tokAdmin}, http.StatusOK, []string{"Signed in as admin@example.com"}, "", false},
		{"approver bearer header", request{path: path, bearer: tokApprover}, http.StatusOK, []string{"Approve"}, "", false},
		{"issuer bearer header", request{path: path, bearer: tokIssuer}, http.StatusForbidden, []string{"Not allowed"}, "", false},
		{"a link with a token does not sign in (login CSRF)", request{path: path + "?token=" + tokApprover + "&page=1"},
			http.StatusUnauthorized, []string{"Links do not sign you in"}, "", false},
		{"a link with a token keeps a signed-in session and cleans the URL", request{path: path + "?token=" + tokAdmin + "&page=1", cookie: tokApprover},
			http.StatusSeeOther, nil, path + "?page=1", false},
		{"cross-site navigation without the strict cookie reloads same-site", request{path: path,
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, http.StatusOK,
			[]string{"Opening the review page", "Continue to the review page"}, "", false},
		{"unknown batch", request{path: "/review/nope", cookie: tokApprover}, http.StatusNotFound, []string{"Batch not found"}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := e.do(t, tc.rq)
			if got.code != tc.wantCode {
				t.Fatalf("status = %d, want %d\n%s", got.code, tc.wantCode, text(got.body))
			}
			wantContains(t, text(got.body), tc.want...)
			if loc := got.hdr.Get("Location"); loc != tc.wantLoc {
				t.Errorf("Location = %q, want %q", loc, tc.wantLoc)
			}
			session := cookieOf(got, pages.SessionCookie)
			if (session != nil) != tc.cookie {
				t.Fatalf("session cookie set = %v, want %v", session != nil, tc.cookie)
			}
			if got.code != http.StatusSeeOther && got.hdr.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got.hdr.Get("Cache-Control"))
			}
		})
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name     string
		form     url.Values
		wantCode int
		wantLoc  string
		want     string
	}{
		{"good token goes back to the review page", url.Values{"token": {" " + tokApprover + " "}, "next": {"/review/b1?page=2"}},
			http.StatusSeeOther, "/review/b1?page=2", ""},
		{"bad token", url.Values{"token": {"wrong-token-wrong-token"}, "next": {"/review/b1"}}, http.StatusUnauthorized, "", "That token is not valid"},
		{"empty token", url.Values{"next": {"/review/b1"}}, http.StatusUnauthorized, "", "That token is not valid"},
		{"no open redirect: home instead", url.Values{"token": {tokApprover}, "next": {"https://evil.example/review/x"}}, http.StatusSeeOther, "/", ""},
		{"no scheme-relative redirect", url.Values{"token": {tokApprover}, "next": {"//evil.example/review/x"}}, http.StatusSeeOther, "/", ""},
		{"only console pages", url.Values{"token": {tokApprover}, "next": {"/api/batches"}}, http.StatusSeeOther, "/", ""},
		{"a console page", url.Values{"token": {tokApprover}, "next": {"/batches/b1?show=invalid"}}, http.StatusSeeOther, "/batches/b1?show=invalid", ""},
		{"sign out", url.Values{"logout": {"1"}}, http.StatusOK, "", "You are signed out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token := tc.form.Get("token")
			tc.form.Del("token")
			got := e.signIn(t, token, tc.form)
			if got.code != tc.wantCode {
				t.Fatalf("status = %d, want %d\n%s", got.code, tc.wantCode, text(got.body))
			}
			if loc := got.hdr.Get("Location"); loc != tc.wantLoc {
				t.Errorf("Location = %q, want %q", loc, tc.wantLoc)
			}
			wantContains(t, text(got.body), tc.want)
		})
	}
	got := e.do(t, request{path: pages.LoginPath + "?next=/review/b1"})
	if got.code != http.StatusOK {
		t.Fatalf("GET /login = %d", got.code)
	}
	wantContains(t, got.body, `<form method="post" action="/login"`, `name="next" value="/review/b1"`, `<label for="token">`, `name="csrf"`)
}

func TestReviewFormsNeedCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.awaitingBatch(t, "csrf", csvRows(2))
	page := e.do(t, request{path: "/review/" + b.ID, cookie: tokApprover})
	token := csrf(t, page.body)
	other := csrf(t, e.do(t, request{path: "/review/" + b.ID, cookie: tokAdmin}).body)
	if token == other {
		t.Fatal("two sessions got the same CSRF token")
	}
	tests := []struct {
		name   string
		action string
		form   url.Values
	}{
		{"approve without a token", "approve", url.Values{}},
		{"approve with another session's token", "approve", url.Values{"csrf": {other}}},
		{"approve with a truncated token", "approve", url.Values{"csrf": {token[:len(token)-1]}}},
		{"reject without a token", "reject", url.Values{"reason": {"no"}}},
		{"request changes without a token", "request-changes", url.Values{"reason": {"no"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := e.do(t, request{method: http.MethodPost, path: "/review/" + b.ID + "/" + tc.action, form: tc.form, cookie: tokApprover})
			if got.code != http.StatusForbidden {
				t.Fatalf("status = %d, want 403\n%s", got.code, text(got.body))
			}
			wantContains(t, text(got.body), "security token is missing or wrong")
			if now := e.waitBatch(t, b.ID, func(credbatch.Batch) bool { return true }); now.Status != credbatch.BatchAwaitingApproval {
				t.Fatalf("batch moved to %s", now.Status)
			}
		})
	}
	t.Run("without a session the form asks to sign in", func(t *testing.T) {
		got := e.do(t, request{method: http.MethodPost, path: "/review/" + b.ID + "/approve", form: url.Values{"csrf": {token}}})
		if got.code != http.StatusUnauthorized {
			t.Fatalf("status = %d, want 401", got.code)
		}
		wantContains(t, got.body, `name="next" value="/review/`+b.ID+`"`)
	})
}

func TestApproveThroughTheForm(t *testing.T) {
	e := newEnv(t)
	b := e.awaitingBatch(t, "approve", csvRows(3))
	path := "/review/" + b.ID
	post := func(t *testing.T, cookie, action string, form url.Values) response {
		t.Helper()
		page := e.do(t, request{path: path, cookie: cookie})
		form.Set("csrf", csrf(t, page.body))
		return e.do(t, request{method: http.MethodPost, path: path + "/" + action, form: form, cookie: cookie})
	}

	staleCSRF := csrf(t, e.do(t, request{path: path, cookie: tokApprover}).body)

	// The uploader may not approve their own batch (four-eyes): the refusal is on the page.
	got := post(t, tokUploader, "approve", url.Values{})
	if got.code != http.StatusForbidden {
		t.Fatalf("uploader's approval: status %d, want 403", got.code)
	}
	wantContains(t, text(got.body), "the uploader cannot approve their own batch", "Cohort approve", "Approve")
	wantLacks(t, got.body, `{"`)

	// A rejection needs a reason.
	got = post(t, tokApprover, "reject", url.Values{"reason": {"  "}})
	if got.code != http.StatusBadRequest {
		t.Fatalf("reject without a reason: status %d, want 400", got.code)
	}
	wantContains(t, text(got.body), "give a reason")

	got = post(t, tokApprover, "approve", url.Values{"page": {"1"}})
	if got.code != http.StatusSeeOther || got.hdr.Get("Location") != path {
		t.Fatalf("approve: status %d, Location %q; want 303 to %s\n%s", got.code, got.hdr.Get("Location"), path, text(got.body))
	}
	flash := cookieOf(got, "credbatch_flash")
	if flash == nil {
		t.Fatal("no flash cookie after approving")
	}
	done := e.waitBatch(t, b.ID, func(b credbatch.Batch) bool { return b.Status.Terminal() })
	if done.Status != credbatch.BatchCompleted || done.ApprovedBy != "approver@example.com" || done.Counts.Issued != 3 {
		t.Fatalf("batch = %s approved by %q, %d issued; want completed by approver@example.com, 3", done.Status, done.ApprovedBy, done.Counts.Issued)
	}

	// Back on the page (PRG): the flash message, no forms.
	r := request{path: path, cookie: tokApprover, flash: flash.Value}
	got = e.do(t, r)
	wantContains(t, text(got.body), "You approved this batch", "Approved by approver@example.com", "there is nothing to decide")
	wantLacks(t, got.body, `id="approve"`)

	// Deciding again (a form left open in another tab) is a conflict, shown on the page.
	got = e.do(t, request{method: http.MethodPost, path: path + "/reject", cookie: tokApprover,
		form: url.Values{"csrf": {staleCSRF}, "reason": {"too late"}}})
	if got.code != http.StatusConflict {
		t.Fatalf("reject after approval: status %d, want 409", got.code)
	}
	wantContains(t, text(got.body), "only a batch awaiting approval can be rejected")
}

func TestRejectAndRequestChangesThroughTheForm(t *testing.T) {
	tests := []struct {
		action     string
		wantStatus credbatch.BatchStatus
		wantFlash  string
	}{
		{"reject", credbatch.BatchCancelled, "You rejected this batch"},
		{"request-changes", credbatch.BatchRejected, "You sent this batch back to the issuer"},
	}
	e := newEnv(t)
	for _, tc := range tests {
		t.Run(tc.action, func(t *testing.T) {
			b := e.awaitingBatch(t, tc.action, csvRows(2))
			path := "/review/" + b.ID
			page := e.do(t, request{path: path, cookie: tokApprover})
			got := e.do(t, request{method: http.MethodPost, path: path + "/" + tc.action, cookie: tokApprover,
				form: url.Values{"csrf": {csrf(t, page.body)}, "reason": {"Score column is wrong"}}})
			if got.code != http.StatusSeeOther {
				t.Fatalf("status %d, want 303\n%s", got.code, text(got.body))
			}
			now := e.waitBatch(t, b.ID, func(b credbatch.Batch) bool { return b.Status != credbatch.BatchAwaitingApproval })
			if now.Status != tc.wantStatus || !strings.Contains(now.Reason, "Score column is wrong") {
				t.Fatalf("batch = %s (%q), want %s with the reason", now.Status, now.Reason, tc.wantStatus)
			}
			flash := cookieOf(got, "credbatch_flash")
			if flash == nil {
				t.Fatal("no flash cookie")
			}
			got = e.do(t, request{path: path, cookie: tokApprover, flash: flash.Value})
			wantContains(t, text(got.body), tc.wantFlash, "Score column is wrong")
			if c := cookieOf(got, "credbatch_flash"); c == nil || c.MaxAge >= 0 {
				t.Errorf("the flash cookie was not cleared: %+v", c)
			}
		})
	}
}

func TestReviewRowsAndPreviews(t *testing.T) {
	e := newEnv(t)
	// 120 rows (spreadsheet rows 2..121); rows 3 and 4 and 60 are invalid.
	b := e.awaitingBatch(t, "paging", csvRows(120, 3, 4, 60))
	if b.Counts.Invalid != 3 || b.Counts.Valid != 117 {
		t.Fatalf("counts = %+v", b.Counts)
	}
	path := "/review/" + b.ID
	tests := []struct {
		name        string
		query       string
		want        []string // text
		wantHTML    []string
		lacks       []string
		wantPreview string
	}{
		{"first page", "", []string{"Page 1: spreadsheet rows 2 to 51", "120 rows: 117 valid, 3 invalid", "Web Fundamentals (web-101, version 1)", "Approval Needs a second person: the uploader may not approve it.",
			"out_of_range in “Score”"},
			[]string{`<tr class="invalid" id="row-3">`, `<tr class="invalid" id="row-4">`, `<tr class="" id="row-51">`, `id="next-page"`,
				`href="/review/` + b.ID + `?page=2&amp;preview=2#rows"`, `href="/review/` + b.ID + `?page=1&amp;preview=5#preview"`},
			[]string{`id="row-52"`, `id="prev-page"`, `id="prev-preview"`}, "2"},
		{"second page", "?page=2", []string{"Page 2: spreadsheet rows 52 to 101"},
			[]string{`id="row-52"`, `<tr class="invalid" id="row-60">`, `id="row-101"`, `id="prev-page"`, `id="next-page"`},
			[]string{`id="row-51"`, `id="row-102"`}, "2"},
		{"last page", "?page=3", []string{"Page 3: spreadsheet rows 102 to 151"},
			[]string{`id="row-121"`}, []string{`id="next-page"`, `id="row-122"`}, "2"},
		{"beyond the last page", "?page=9", []string{"No rows on this page"}, nil, []string{`id="next-page"`}, "2"},
		{"preview skips invalid rows forwards", "?preview=3", []string{"Person5 Tester earned Web Fundamentals", "person5@example.com"},
			[]string{`href="/review/` + b.ID + `?page=1&amp;preview=2#preview" rel="prev"`, `href="/review/` + b.ID + `?page=1&amp;preview=6#preview" rel="next"`},
			nil, "5"},
		{"preview before an invalid row", "?preview=61", nil,
			[]string{`preview=59#preview" rel="prev"`, `preview=62#preview" rel="next"`}, nil, "61"},
		{"last preview has no next", "?preview=121", []string{"Person121 Tester earned"}, []string{`rel="prev"`}, []string{`id="next-preview"`}, "121"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := e.do(t, request{path: path + tc.query, cookie: tokApprover})
			if got.code != http.StatusOK {
				t.Fatalf("status %d\n%s", got.code, text(got.body))
			}
			wantContains(t, text(got.body), tc.want...)
			wantContains(t, got.body, tc.wantHTML...)
			wantLacks(t, got.body, tc.lacks...)
			wantContains(t, got.body, `<strong id="preview-row">`+tc.wantPreview+`</strong>`)
		})
	}
	// The preview shows the credential as it will be issued.
	got := e.do(t, request{path: path + "?preview=2", cookie: tokApprover})
	wantContains(t, text(got.body), "Test Academy certifies that Person2 Tester earned Web Fundamentals",
		"Criteria Pass the final assessment.", "Issued 15 January 2026", "Expires Never", "Score 50")
}
