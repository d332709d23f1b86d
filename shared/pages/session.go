package pages

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/session"
)

// Cookies. The session cookie holds a random session id (the session itself is kept by
// Deps.Sessions on the server); the flash cookie carries the outcome of a form across its
// redirect.
const (
	SessionCookie = session.Cookie
	flashCookie   = "credbatch_flash"
)

// caller is the authenticated caller of a review request: a browser session, or a client
// that sent an Authorization header (which carries no ambient credential, so its forms need
// no CSRF token).
type caller struct {
	session.Session
	bearer bool
}

// checkCSRF reports whether the form may be acted on: it carries the session's token, or
// the caller authenticated with a header.
func (c caller) checkCSRF(r *http.Request) bool { return c.bearer || c.CheckCSRF(r) }

// authenticate identifies the caller from the Authorization header or, for browsers, the
// session cookie. KindUnauthorized without either, or when the session ended.
func (h *handler) authenticate(r *http.Request) (caller, error) {
	if r.Header.Get("Authorization") != "" {
		p, err := h.d.Auth.Authenticate(r)
		if err != nil {
			return caller{}, err
		}
		return caller{Session: session.Session{Principal: p}, bearer: true}, nil
	}
	s, err := h.d.Sessions.Get(r)
	if err != nil {
		return caller{}, err
	}
	return caller{Session: s}, nil
}

// checkToken checks a pasted bearer token as Deps.Auth would in an Authorization header.
func (h *handler) checkToken(r *http.Request, tok string) (caller, error) {
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return caller{}, credbatch.E(credbatch.KindUnauthorized, "unauthorized", "paste your access token")
	}
	r2 := r.Clone(r.Context())
	r2.Header.Set("Authorization", "Bearer "+tok)
	p, err := h.d.Auth.Authenticate(r2)
	if err != nil {
		return caller{}, err
	}
	return caller{Session: session.Session{Principal: p}}, nil
}

// Flash messages, by the code the flash cookie carries.
var flashes = map[string]string{
	"approved":          "You approved this batch. Its credentials are being issued.",
	"rejected":          "You rejected this batch. It will not be issued, and the issuer has been told why.",
	"changes_requested": "You sent this batch back to the issuer for changes.",
}

func (h *handler) setFlash(w http.ResponseWriter, code string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: code, Path: ReviewPrefix, MaxAge: 60,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode})
}

// takeFlash returns the flash message of the request, clearing the cookie.
func (h *handler) takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: ReviewPrefix, MaxAge: -1,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode})
	return flashes[c.Value]
}

// loginView is the sign-in form.
type loginView struct {
	Next  string
	Error string
	CSRF  string
}

// loginPage renders the sign-in form with a status (401 when a page needed a session).
func (h *handler) loginPage(w http.ResponseWriter, r *http.Request, status int, next, errText string) {
	w.Header().Set("Cache-Control", "no-store")
	v := loginView{Next: safeNext(next), Error: errText, CSRF: h.d.Sessions.LoginToken(w, r)}
	h.render(w, r, status, "login", page{Title: "Sign in", Noindex: true, V: v})
}

// loginForm serves GET /login.
func (h *handler) loginForm(w http.ResponseWriter, r *http.Request) {
	h.loginPage(w, r, http.StatusOK, r.URL.Query().Get("next"), "")
}

// login serves POST /login: it checks the form's CSRF token and the pasted token and starts
// a server-side session, or signs out (logout=1), which ends the session on the server.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.message(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	if r.PostForm.Get("logout") != "" {
		h.logout(w, r)
		return
	}
	if err := h.d.Sessions.CheckLogin(r); err != nil {
		h.loginPage(w, r, http.StatusForbidden, next, "This sign-in form was not sent from this site. Sign in again on this page.")
		return
	}
	c, err := h.checkToken(r, r.PostForm.Get("token"))
	if err != nil {
		if httpapi.StatusOf(err) >= 500 {
			h.fail(w, r, err)
			return
		}
		h.loginPage(w, r, http.StatusUnauthorized, next, "That token is not valid. Paste the whole token, without spaces.")
		return
	}
	if _, err := h.d.Sessions.Start(w, r, c.Principal); err != nil {
		h.fail(w, r, err)
		return
	}
	if next == "" {
		next = "/" // the console's home
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session. The form carries the session's CSRF token, so another site
// cannot sign the approver out; a session that is already gone just clears the cookie.
func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	if s, err := h.d.Sessions.Get(r); err == nil && !s.CheckCSRF(r) {
		h.message(w, r, http.StatusForbidden, "Form expired",
			"This sign-out form was not sent from your review page. Reload the page and try again.")
		return
	}
	if err := h.d.Sessions.End(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	h.render(w, r, http.StatusOK, "message", page{Title: "Signed out", Noindex: true,
		V: messageView{Heading: "Signed out", Text: "You are signed out; the session has ended.", Link: LoginPath, LinkText: "Sign in again"}})
}

// safeNext keeps only a local console or review path (no open redirect); "" otherwise.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !localPage(u.Path) ||
		strings.Contains(next, "\\") || strings.HasPrefix(next, "//") {
		return ""
	}
	q := u.Query()
	q.Del("token")
	u.RawQuery = q.Encode()
	return u.String()
}
