package pages

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/httpapi"
)

// Cookies. The session cookie holds the bearer token the approver pasted or followed a
// link with; the flash cookie carries the outcome of a form across its redirect.
const (
	SessionCookie = "credbatch_session"
	flashCookie   = "credbatch_flash"
	sessionMaxAge = 12 * time.Hour
)

// session is the authenticated caller of a review request.
type session struct {
	Principal auth.Principal
	token     string // the bearer token; the CSRF token is derived from it
}

// CSRF returns the form token of the session: an HMAC of the session's bearer token, so
// it needs no server-side state, differs per session, and cannot be computed without the
// token (which the HttpOnly cookie keeps from scripts and other sites).
func (s session) CSRF() string {
	if s.token == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(s.token))
	m.Write([]byte("credbatch review form"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether the form carries the session's CSRF token (constant time).
func (s session) checkCSRF(r *http.Request) bool {
	want := s.CSRF()
	got := r.PostFormValue("csrf")
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// authenticate identifies the caller from the Authorization header or, for browsers, the
// session cookie (passed to Deps.Auth as a bearer token). KindUnauthorized without either.
func (h *handler) authenticate(r *http.Request) (session, error) {
	if hdr := r.Header.Get("Authorization"); hdr != "" {
		p, err := h.d.Auth.Authenticate(r)
		if err != nil {
			return session{}, err
		}
		_, tok, _ := strings.Cut(hdr, " ")
		return session{Principal: p, token: strings.TrimSpace(tok)}, nil
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return session{}, credbatch.E(credbatch.KindUnauthorized, "unauthorized", "sign in to review batches")
	}
	return h.authenticateToken(r, c.Value)
}

// authenticateToken checks a bearer token as Deps.Auth would in an Authorization header.
func (h *handler) authenticateToken(r *http.Request, tok string) (session, error) {
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return session{}, credbatch.E(credbatch.KindUnauthorized, "unauthorized", "paste your access token")
	}
	r2 := r.Clone(r.Context())
	r2.Header.Set("Authorization", "Bearer "+tok)
	p, err := h.d.Auth.Authenticate(r2)
	if err != nil {
		return session{}, err
	}
	return session{Principal: p, token: tok}, nil
}

func (h *handler) setSession(w http.ResponseWriter, tok string) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: tok, Path: "/", MaxAge: int(sessionMaxAge / time.Second),
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode})
}

func (h *handler) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode})
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
}

// loginPage renders the sign-in form with a status (401 when a page needed a session).
func (h *handler) loginPage(w http.ResponseWriter, r *http.Request, status int, next, errText string) {
	w.Header().Set("Cache-Control", "no-store")
	h.render(w, r, status, "login", page{Title: "Sign in", Noindex: true, V: loginView{Next: safeNext(next), Error: errText}})
}

// loginForm serves GET /login.
func (h *handler) loginForm(w http.ResponseWriter, r *http.Request) {
	h.loginPage(w, r, http.StatusOK, r.URL.Query().Get("next"), "")
}

// login serves POST /login: it checks the pasted token and sets the session cookie, or
// signs out (logout=1).
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.message(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	if r.PostForm.Get("logout") != "" {
		h.clearSession(w)
		w.Header().Set("Cache-Control", "no-store")
		h.render(w, r, http.StatusOK, "message", page{Title: "Signed out", Noindex: true,
			V: messageView{Heading: "Signed out", Text: "You are signed out on this browser."}})
		return
	}
	s, err := h.authenticateToken(r, r.PostForm.Get("token"))
	if err != nil {
		if httpapi.StatusOf(err) >= 500 {
			h.fail(w, r, err)
			return
		}
		h.loginPage(w, r, http.StatusUnauthorized, next, "That token is not valid. Paste the whole token, without spaces.")
		return
	}
	h.setSession(w, s.token)
	if next == "" {
		w.Header().Set("Cache-Control", "no-store")
		h.render(w, r, http.StatusOK, "message", page{Title: "Signed in", Noindex: true,
			V: messageView{Heading: "Signed in", Text: "You are signed in as " + s.Principal.Name() + ". Open the review link from your approval email."}})
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// safeNext keeps only a local review path (no open redirect); "" otherwise.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, ReviewPrefix) ||
		strings.Contains(next, "\\") || strings.HasPrefix(next, "//") {
		return ""
	}
	q := u.Query()
	q.Del("token")
	u.RawQuery = q.Encode()
	return u.String()
}
