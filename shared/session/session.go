// Package session keeps the browser sessions of credbatch's pages on the server: random ids in an HttpOnly cookie, expiry, logout, and CSRF tokens for the forms, including the login form.
package session

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/issuance"
)

// Cookie names. The session cookie holds the random session id; the login cookie holds the
// login form's CSRF token until the sign-in (double submit: another site can neither read it
// nor, with SameSite=Strict, make the browser send it).
const (
	Cookie      = "credbatch_session"
	LoginCookie = "credbatch_login"
)

// CSRFField is the name of the hidden form field that carries a CSRF token.
const CSRFField = "csrf"

// DefaultTTL is how long a session lasts from sign-in.
const DefaultTTL = 12 * time.Hour

// loginTTL is how long a login form stays usable.
const loginTTL = time.Hour

// Store is the part of credbatch.Store the sessions need.
type Store interface {
	CreateSession(ctx context.Context, s credbatch.Session) error
	GetSession(ctx context.Context, key string) (credbatch.Session, error)
	DeleteSession(ctx context.Context, key string) error
}

// Options configure a Manager; zero values take the defaults.
type Options struct {
	TTL    time.Duration   // default DefaultTTL
	Secure bool            // the Secure cookie attribute (set it when the pages are served over https)
	IDs    credbatch.IDs   // session ids and CSRF tokens; default issuance.NewID (the one ID generator)
	Clock  credbatch.Clock // default time.Now
}

// Manager starts, loads and ends sessions. It is safe for concurrent use and keeps no state
// of its own, so every instance of the API (every Lambda) sees the same sessions.
type Manager struct {
	store Store
	o     Options
}

// New returns a Manager over the store.
func New(st Store, o Options) *Manager {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.IDs == nil {
		o.IDs = issuance.NewID
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Manager{store: st, o: o}
}

// Session is a signed-in caller.
type Session struct {
	Principal auth.Principal
	CSRF      string // the token every form of the session carries in CSRFField
	ExpiresAt time.Time
	key       string
}

// CheckCSRF reports whether the (parsed) form carries the session's CSRF token.
func (s Session) CheckCSRF(r *http.Request) bool {
	return s.CSRF != "" && equal(r.PostFormValue(CSRFField), s.CSRF)
}

// hash is the store key of a session id: the store never holds a usable id.
func hash(id string) string {
	sum := sha256.Sum256([]byte("credbatch session\x00" + id))
	return hex.EncodeToString(sum[:])
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (m *Manager) now() time.Time { return m.o.Clock().UTC() }

// Start signs the principal in: a new session (a new random id, so an id planted before the
// sign-in is worthless) whose cookie is set on w. Any session the request carried is ended.
// Errors: the store's (KindUnavailable).
func (m *Manager) Start(w http.ResponseWriter, r *http.Request, p auth.Principal) (Session, error) {
	if c, err := r.Cookie(Cookie); err == nil && c.Value != "" {
		if err := m.store.DeleteSession(r.Context(), hash(c.Value)); err != nil {
			return Session{}, fmt.Errorf("end the previous session: %w", err)
		}
	}
	id := m.o.IDs()
	now := m.now().Truncate(time.Second)
	roles := make([]string, len(p.Roles))
	for i, role := range p.Roles {
		roles[i] = string(role)
	}
	rec := credbatch.Session{Key: hash(id), Subject: p.Subject, Email: p.Email, Roles: roles, CSRF: m.o.IDs(),
		CreatedAt: now, ExpiresAt: now.Add(m.o.TTL)}
	if err := m.store.CreateSession(r.Context(), rec); err != nil {
		return Session{}, fmt.Errorf("start session: %w", err)
	}
	m.setCookie(w, Cookie, id, "/", m.o.TTL)
	m.setCookie(w, LoginCookie, "", "/", -1)
	return Session{Principal: p, CSRF: rec.CSRF, ExpiresAt: rec.ExpiresAt, key: rec.Key}, nil
}

// Get returns the request's session. Errors: KindUnauthorized when the request has no
// session cookie or its session ended or expired; the store's (KindUnavailable).
func (m *Manager) Get(r *http.Request) (Session, error) {
	c, err := r.Cookie(Cookie)
	if err != nil || c.Value == "" {
		return Session{}, credbatch.E(credbatch.KindUnauthorized, "unauthorized", "sign in to continue")
	}
	key := hash(c.Value)
	rec, err := m.store.GetSession(r.Context(), key)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		return Session{}, credbatch.E(credbatch.KindUnauthorized, "session_ended", "your session has ended; sign in again")
	}
	if err != nil {
		return Session{}, fmt.Errorf("load session: %w", err)
	}
	if !m.now().Before(rec.ExpiresAt) {
		_ = m.store.DeleteSession(r.Context(), key) // best effort: it is refused either way
		return Session{}, credbatch.E(credbatch.KindUnauthorized, "session_ended", "your session has expired; sign in again")
	}
	roles := make([]auth.Role, len(rec.Roles))
	for i, role := range rec.Roles {
		roles[i] = auth.Role(role)
	}
	return Session{Principal: auth.Principal{Subject: rec.Subject, Email: rec.Email, Roles: roles},
		CSRF: rec.CSRF, ExpiresAt: rec.ExpiresAt, key: key}, nil
}

// End signs out: the request's session is deleted from the store (so the cookie no longer
// works anywhere, even if it was copied) and the cookie is cleared. No session is not an
// error. Errors: the store's (KindUnavailable).
func (m *Manager) End(w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(Cookie)
	if err != nil || c.Value == "" {
		return nil
	}
	if err := m.store.DeleteSession(r.Context(), hash(c.Value)); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	m.setCookie(w, Cookie, "", "/", -1)
	return nil
}

// LoginToken returns the CSRF token for a login form, setting the login cookie when the
// request has none.
func (m *Manager) LoginToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(LoginCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	tok := m.o.IDs()
	m.setCookie(w, LoginCookie, tok, "/", loginTTL)
	return tok
}

// ErrLoginCSRF is returned by CheckLogin for a login form that did not come from this site.
var ErrLoginCSRF = errors.New("the sign-in form was not sent from this site")

// CheckLogin checks a (parsed) login form against the login cookie, refusing a form another
// site made the browser post (login CSRF: signing a victim in as the attacker). It returns
// ErrLoginCSRF wrapped in a KindForbidden error.
func (m *Manager) CheckLogin(r *http.Request) error {
	c, err := r.Cookie(LoginCookie)
	got := r.PostFormValue(CSRFField)
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" || err != nil || c.Value == "" || got == "" || !equal(got, c.Value) {
		return &credbatch.Error{Kind: credbatch.KindForbidden, Code: "csrf",
			Message: "this sign-in form was not sent from this site's sign-in page; open the sign-in page and try again", Err: ErrLoginCSRF}
	}
	return nil
}

func (m *Manager) setCookie(w http.ResponseWriter, name, value, path string, ttl time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, Secure: m.o.Secure, SameSite: http.SameSiteStrictMode}
	if ttl < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(ttl / time.Second)
	}
	http.SetCookie(w, c)
}
