package session_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/session"
	"github.com/credbatch/credbatch/shared/sqlite"
)

type fixture struct {
	st  *sqlite.Store
	m   *session.Manager
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	f.m = session.New(st, session.Options{TTL: time.Hour, Secure: true, Clock: func() time.Time { return f.now }})
	return f
}

var approver = auth.Principal{Subject: "approver", Email: "approver@example.com", Roles: []auth.Role{auth.RoleApprover}}

// start signs the principal in and returns the session cookie.
func (f *fixture) start(t *testing.T, cookies ...*http.Cookie) *http.Cookie {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/login", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	if _, err := f.m.Start(w, r, approver); err != nil {
		t.Fatal(err)
	}
	return cookie(t, w, session.Cookie)
}

func cookie(t *testing.T, w *httptest.ResponseRecorder, name string) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie set", name)
	return nil
}

func (f *fixture) get(c *http.Cookie) (session.Session, error) {
	r := httptest.NewRequest(http.MethodGet, "/review/b1", nil)
	if c != nil {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return f.m.Get(r)
}

func TestStartGivesRandomServerSideSessions(t *testing.T) {
	f := newFixture(t)
	a, b := f.start(t), f.start(t)
	if a.Value == b.Value || len(a.Value) < 32 {
		t.Fatalf("session ids %q and %q: want two different random ids of 128 bits or more", a.Value, b.Value)
	}
	if !a.HttpOnly || !a.Secure || a.SameSite != http.SameSiteStrictMode || a.MaxAge != 3600 || a.Path != "/" {
		t.Errorf("cookie %+v: want HttpOnly, Secure, SameSite=Strict, Max-Age 3600, Path /", a)
	}
	s, err := f.get(a)
	if err != nil {
		t.Fatal(err)
	}
	if s.Principal.Name() != "approver@example.com" || !s.Principal.Has(auth.RoleApprover) || s.Principal.Has(auth.RoleIssuer) {
		t.Errorf("principal %+v, want the approver", s.Principal)
	}
	sb, _ := f.get(b)
	if s.CSRF == "" || s.CSRF == sb.CSRF || s.CSRF == a.Value {
		t.Errorf("CSRF tokens %q / %q: want one per session, not the session id", s.CSRF, sb.CSRF)
	}
	// The store keeps a hash: the cookie value is not a key in it.
	if _, err := f.st.GetSession(t.Context(), a.Value); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Errorf("the store holds the session under its cookie value (err %v)", err)
	}
}

func TestGetRefuses(t *testing.T) {
	f := newFixture(t)
	live := f.start(t)
	tests := []struct {
		name   string
		cookie *http.Cookie
		code   string
	}{
		{"no cookie", nil, "unauthorized"},
		{"empty cookie", &http.Cookie{Name: session.Cookie, Value: ""}, "unauthorized"},
		{"made-up id", &http.Cookie{Name: session.Cookie, Value: strings.Repeat("a", 32)}, "session_ended"},
		{"a token instead of an id", &http.Cookie{Name: session.Cookie, Value: "approver-token-0123456789"}, "session_ended"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.get(tc.cookie)
			if !credbatch.IsKind(err, credbatch.KindUnauthorized) || credbatch.ErrorCode(err) != tc.code {
				t.Fatalf("got %v (code %s), want unauthorized %s", err, credbatch.ErrorCode(err), tc.code)
			}
		})
	}
	if _, err := f.get(live); err != nil {
		t.Fatalf("the live session: %v", err)
	}
}

func TestSessionsExpire(t *testing.T) {
	f := newFixture(t)
	c := f.start(t)
	f.now = f.now.Add(59 * time.Minute)
	if _, err := f.get(c); err != nil {
		t.Fatalf("a minute before expiry: %v", err)
	}
	f.now = f.now.Add(time.Minute)
	if _, err := f.get(c); !credbatch.IsKind(err, credbatch.KindUnauthorized) {
		t.Fatalf("at expiry: got %v, want unauthorized", err)
	}
	f.now = f.now.Add(-time.Minute) // even with the clock back, the expired session was deleted
	if _, err := f.get(c); !credbatch.IsKind(err, credbatch.KindUnauthorized) {
		t.Fatalf("after the expired session was seen: got %v, want unauthorized", err)
	}
}

func TestEndEndsTheSessionEverywhere(t *testing.T) {
	f := newFixture(t)
	c := f.start(t)
	other := f.start(t)
	r := httptest.NewRequest(http.MethodPost, "/login", nil)
	r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	w := httptest.NewRecorder()
	if err := f.m.End(w, r); err != nil {
		t.Fatal(err)
	}
	if cl := cookie(t, w, session.Cookie); cl.MaxAge >= 0 || cl.Value != "" {
		t.Errorf("logout cookie %+v: want it cleared", cl)
	}
	// A copy of the cookie (another browser, a stolen value) no longer works.
	if _, err := f.get(c); !credbatch.IsKind(err, credbatch.KindUnauthorized) {
		t.Fatalf("after logout: got %v, want unauthorized", err)
	}
	if _, err := f.get(other); err != nil {
		t.Fatalf("another session ended too: %v", err)
	}
}

func TestStartEndsAPlantedSession(t *testing.T) {
	f := newFixture(t)
	planted := f.start(t) // an attacker's session id planted in the victim's browser
	fresh := f.start(t, &http.Cookie{Name: planted.Name, Value: planted.Value})
	if fresh.Value == planted.Value {
		t.Fatal("sign-in kept the planted session id")
	}
	if _, err := f.get(planted); !credbatch.IsKind(err, credbatch.KindUnauthorized) {
		t.Fatalf("the planted session still works: %v", err)
	}
}

func TestCheckLogin(t *testing.T) {
	f := newFixture(t)
	w := httptest.NewRecorder()
	tok := f.m.LoginToken(w, httptest.NewRequest(http.MethodGet, "/login", nil))
	lc := cookie(t, w, session.LoginCookie)
	if lc.Value != tok || !lc.HttpOnly || lc.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login cookie %+v for token %q", lc, tok)
	}
	tests := []struct {
		name   string
		cookie string
		field  string
		site   string
		ok     bool
	}{
		{"form from the sign-in page", tok, tok, "same-origin", true},
		{"no fetch metadata (older browser)", tok, tok, "", true},
		{"no login cookie (a form on another site)", "", tok, "", false},
		{"no field", tok, "", "", false},
		{"another browser's token", tok, strings.Repeat("b", len(tok)), "", false},
		{"cross-site post", tok, tok, "cross-site", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"csrf": {tc.field}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: session.LoginCookie, Value: tc.cookie})
			}
			if tc.site != "" {
				r.Header.Set("Sec-Fetch-Site", tc.site)
			}
			err := f.m.CheckLogin(r)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckLogin = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !credbatch.IsKind(err, credbatch.KindForbidden) {
				t.Fatalf("kind %s, want forbidden", credbatch.ErrorKind(err))
			}
		})
	}
}
