package pages_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/credbatch/credbatch/shared/pages"
)

// TestLoginNeedsItsCSRFToken: a login form posted from another site (login CSRF: the victim
// signed in with the attacker's token) starts no session.
func TestLoginNeedsItsCSRFToken(t *testing.T) {
	e := newEnv(t)
	form := e.do(t, request{path: pages.LoginPath})
	login := cookieOf(form, "credbatch_login")
	tok := csrf(t, form.body)
	if login == nil || login.Value != tok || !login.HttpOnly || login.SameSite != http.SameSiteStrictMode || !login.Secure {
		t.Fatalf("login cookie %+v: want HttpOnly, Secure, SameSite=Strict, holding the form's token", login)
	}
	lc := &http.Cookie{Name: login.Name, Value: login.Value}
	tests := []struct {
		name     string
		form     url.Values
		cookie   *http.Cookie
		header   map[string]string
		wantCode int
	}{
		{"an attacker's form: no login cookie", url.Values{"token": {tokApprover}, "csrf": {tok}}, nil, nil, http.StatusForbidden},
		{"an attacker's form: no token", url.Values{"token": {tokApprover}}, lc, nil, http.StatusForbidden},
		{"a guessed token", url.Values{"token": {tokApprover}, "csrf": {tok[:len(tok)-1] + "x"}}, lc, nil, http.StatusForbidden},
		{"a cross-site post", url.Values{"token": {tokApprover}, "csrf": {tok}}, lc, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"the sign-in page's own form: on to the console", url.Values{"token": {tokApprover}, "csrf": {tok}}, lc, map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusSeeOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := e.do(t, request{method: http.MethodPost, path: pages.LoginPath, form: tc.form, login: tc.cookie, header: tc.header})
			if got.code != tc.wantCode {
				t.Fatalf("status = %d, want %d\n%s", got.code, tc.wantCode, text(got.body))
			}
			sess := cookieOf(got, pages.SessionCookie)
			if ok := tc.wantCode == http.StatusSeeOther; (sess != nil) != ok {
				t.Fatalf("session cookie %+v, want one only for the genuine form", sess)
			}
			if sess != nil && (sess.Value == tokApprover || len(sess.Value) < 32 || !sess.HttpOnly || !sess.Secure || sess.SameSite != http.SameSiteStrictMode) {
				t.Errorf("session cookie %+v: want a random id (not the token), HttpOnly, Secure, SameSite=Strict", sess)
			}
			if tc.wantCode == http.StatusForbidden {
				wantContains(t, text(got.body), "This sign-in form was not sent from this site")
			}
		})
	}
}

// TestLogoutEndsTheSession: after signing out, the old session cookie (also a copy of it
// kept elsewhere) no longer opens the review page.
func TestLogoutEndsTheSession(t *testing.T) {
	e := newEnv(t)
	b := e.awaitingBatch(t, "logout", csvRows(2))
	path := "/review/" + b.ID
	sid := e.session(t, tokApprover)
	page := e.do(t, request{path: path, sid: sid})
	if page.code != http.StatusOK {
		t.Fatalf("review page = %d", page.code)
	}
	token := csrf(t, page.body)

	// A sign-out form from another site (no CSRF token) is refused and the session lives on.
	got := e.do(t, request{method: http.MethodPost, path: pages.LoginPath, form: url.Values{"logout": {"1"}}, sid: sid})
	if got.code != http.StatusForbidden {
		t.Fatalf("logout without the CSRF token = %d, want 403", got.code)
	}
	if got := e.do(t, request{path: path, sid: sid}); got.code != http.StatusOK {
		t.Fatalf("the session ended on a forged sign-out: %d", got.code)
	}

	got = e.do(t, request{method: http.MethodPost, path: pages.LoginPath, form: url.Values{"logout": {"1"}, "csrf": {token}}, sid: sid})
	if got.code != http.StatusOK {
		t.Fatalf("logout = %d\n%s", got.code, text(got.body))
	}
	wantContains(t, text(got.body), "You are signed out")
	if c := cookieOf(got, pages.SessionCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("logout did not clear the cookie: %+v", c)
	}
	after := e.do(t, request{path: path, sid: sid})
	if after.code != http.StatusUnauthorized {
		t.Fatalf("the old session cookie after logout: %d, want 401", after.code)
	}
	wantContains(t, text(after.body), "Your session is no longer valid")
	// And it cannot act either.
	post := e.do(t, request{method: http.MethodPost, path: path + "/approve", form: url.Values{"csrf": {token}}, sid: sid})
	if post.code != http.StatusUnauthorized {
		t.Fatalf("approve with the ended session: %d, want 401", post.code)
	}
}
