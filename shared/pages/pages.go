// Package pages serves credbatch's server-rendered HTML: the issuer console, the approver's review page and the public credential page.
package pages

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/catalogue"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/mail"
	"github.com/credbatch/credbatch/shared/session"
	"github.com/credbatch/credbatch/shared/statuslist"
)

//go:embed templates/*.html static/pages.css static/copy.js static/upload.js static/evidence.js
var files embed.FS

// Paths the handler serves. An embedding API mounts the handler on each of them:
// httpapi.Deps.Pages covers the first two; LoginPath must be mounted separately.
const (
	CredentialPattern      = "GET /credentials/{id}"
	CredentialPDFPattern   = "GET /credentials/{id}/pdf"       // the certificate as a PDF
	CredentialBadgePattern = "GET /credentials/{id}/badge.png" // the baked badge
	ReviewPrefix           = "/review/"
	LoginPath              = "/login"
)

// RowsPerPage is how many rows one page of the review table shows.
const RowsPerPage = 50

// Deps is what the pages need. Store, Actions, Keys, Issuer and Auth are required.
type Deps struct {
	Store   credbatch.Store
	Actions *issuance.Actions      // approve, reject, request changes (four-eyes is enforced there)
	Keys    credential.KeyResolver // the published keys (keys.Set) that verify credentials
	Issuer  credential.Issuer      // BaseURL (public URL of the pages) and the deployment's issuer profile
	Auth    auth.Authenticator     // checks the token an approver pastes into the sign-in form (and Authorization headers)
	Ingest  *ingest.Service        // the console's uploads, manual batches, row edits, column assignment
	Flow    *issuance.Service      // the console's resend and revoke
	// Catalogue creates and changes definitions (default: one over Store).
	Catalogue *catalogue.Service

	// ApprovalTimeout is how long a batch waits for approval (shown in words; default 7 days).
	ApprovalTimeout time.Duration
	// MaxUploadBytes bounds a console upload (default 50 MiB; an API upload goes to a
	// presigned URL instead).
	MaxUploadBytes int64
	// UploadTTL is how long the upload page's presigned URL works (default 15 minutes).
	UploadTTL time.Duration

	// StatusLists are the revocation lists credentials are checked against (share the API's,
	// so a revocation clears both caches). Default: new lists over Store, cached for StatusTTL.
	StatusLists *statuslist.Lists
	StatusTTL   time.Duration   // default 30 seconds
	Clock       credbatch.Clock // default time.Now
	Log         *slog.Logger    // default slog.Default
	// SecureCookies sets the Secure attribute on cookies; default: when Issuer.BaseURL is https.
	SecureCookies *bool
	// Sessions keeps the signed-in sessions; default: a session.Manager over Store (share one
	// with other pages, such as the console, so that one sign-in serves them all).
	Sessions *session.Manager
}

// handler serves the pages.
type handler struct {
	d        Deps
	mux      *http.ServeMux
	tmpl     map[string]*template.Template
	css      template.CSS
	copyJS   template.JS // the credential page's copy-link button (allowed by its hash)
	uploadJS template.JS // the upload page's direct-to-bucket upload (allowed by its hash)
	// evidenceJS is the batch page's direct-to-bucket evidence upload (allowed by its hash).
	evidenceJS template.JS
	csp        string
	secure     bool
}

// New returns the pages handler. It serves GET /credentials/{id}, GET /review/{id},
// POST /review/{id}/approve|reject|request-changes, and GET/POST /login.
func New(d Deps) http.Handler {
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.ApprovalTimeout <= 0 {
		d.ApprovalTimeout = 7 * 24 * time.Hour
	}
	if d.MaxUploadBytes <= 0 {
		d.MaxUploadBytes = 50 << 20
	}
	if d.UploadTTL <= 0 {
		d.UploadTTL = 15 * time.Minute
	}
	if d.StatusTTL == 0 {
		d.StatusTTL = 30 * time.Second
	}
	if d.StatusLists == nil {
		d.StatusLists = &statuslist.Lists{Store: d.Store, TTL: d.StatusTTL, Now: d.Clock}
	}
	h := &handler{d: d, mux: http.NewServeMux(), tmpl: map[string]*template.Template{}}
	if d.SecureCookies != nil {
		h.secure = *d.SecureCookies
	} else {
		h.secure = strings.HasPrefix(strings.ToLower(d.Issuer.BaseURL), "https://")
	}
	if d.Catalogue == nil {
		h.d.Catalogue = &catalogue.Service{Store: d.Store, IDs: issuance.NewID, Log: d.Log}
	}
	if d.Sessions == nil {
		h.d.Sessions = session.New(d.Store, session.Options{Secure: h.secure, Clock: d.Clock})
	}
	css, err := files.ReadFile("static/pages.css")
	if err != nil { // cannot happen: the file is embedded
		css = nil
	}
	h.css = template.CSS(css)
	copyJS, err := files.ReadFile("static/copy.js")
	if err != nil { // cannot happen: the file is embedded
		copyJS = nil
	}
	uploadJS, err := files.ReadFile("static/upload.js")
	if err != nil { // cannot happen: the file is embedded
		uploadJS = nil
	}
	evidenceJS, err := files.ReadFile("static/evidence.js")
	if err != nil { // cannot happen: the file is embedded
		evidenceJS = nil
	}
	h.copyJS, h.uploadJS, h.evidenceJS = template.JS(copyJS), template.JS(uploadJS), template.JS(evidenceJS)
	h.csp = contentSecurityPolicy(css, [][]byte{copyJS, uploadJS, evidenceJS}, uploadOrigin(d.Ingest))
	for _, name := range []string{"credential", "review", "login", "message", "home", "confirm", "batch", "catalogue", "definition", "definition_form", "upload", "manual"} {
		h.tmpl[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/nav.html", "templates/evidence.html", "templates/"+name+".html"))
	}
	h.mux.HandleFunc(CredentialPattern, h.credential)
	h.mux.HandleFunc(CredentialPDFPattern, h.credentialPDF)
	h.mux.HandleFunc(CredentialBadgePattern, h.credentialBadge)
	h.mux.HandleFunc(CredentialEvidencePattern, h.credentialEvidence)
	h.mux.HandleFunc(RowEvidencePattern, h.rowEvidenceFile)
	h.mux.HandleFunc("GET /review/{id}", h.review)
	h.mux.HandleFunc("POST /review/{id}/{action}", h.decide)
	h.mux.HandleFunc("GET "+LoginPath, h.loginForm)
	h.mux.HandleFunc("POST "+LoginPath, h.login)
	if d.Ingest != nil && d.Flow != nil {
		h.consoleRoutes()
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.message(w, r, http.StatusNotFound, "Page not found", "There is no page at this address.")
	})
	return h
}

// contentSecurityPolicy allows the embedded stylesheet and scripts by their hashes, scripts
// to connect only to this site and to the bucket the uploads go to, and frames (a PDF
// evidence file's preview; a large one is redirected to the bucket) from the same two.
func contentSecurityPolicy(css []byte, scripts [][]byte, bucket string) string {
	hash := func(b []byte) string {
		sum := sha256.Sum256(b)
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	connect := "'self'"
	if bucket != "" {
		connect += " " + bucket
	}
	var js []string
	for _, b := range scripts {
		js = append(js, hash(b))
	}
	return "default-src 'none'; style-src " + hash(css) + "; script-src " + strings.Join(js, " ") + "; connect-src " + connect + "; " +
		"img-src 'self' https: data:; frame-src " + connect + "; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// uploadOrigin is the origin (scheme://host) of the bucket's presigned URLs, where the
// upload page's script sends files: on AWS the S3 endpoint, locally this server. Presigning
// is local computation, so a probe URL tells it without a request. "" when there is none.
func uploadOrigin(ing *ingest.Service) string {
	if ing == nil || ing.Blob == nil {
		return ""
	}
	raw, err := ing.Blob.PresignPut(context.Background(), ingest.UploadsPrefix+"origin-probe.csv", "text/csv", time.Minute)
	if err != nil {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	h.mux.ServeHTTP(w, r)
}

// page is what every template gets: the layout's needs and the page's own view.
type page struct {
	Title   string
	CSS     template.CSS
	Noindex bool
	Refresh string // a local URL to reload at once (meta refresh)
	Meta    []metaTag
	Script  template.JS // an inline script (its hash is in the Content-Security-Policy)
	V       any
}

type metaTag struct {
	Property string // og:… (property attribute)
	Name     string // twitter:… (name attribute)
	Content  string
}

// render writes a template with a status, buffering so a template error becomes a 500 page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.CSS = h.css
	var buf bytes.Buffer
	if err := h.tmpl[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		h.d.Log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		if err := h.tmpl["message"].ExecuteTemplate(&buf, "layout", page{Title: "Something went wrong", CSS: h.css, Noindex: true,
			V: messageView{Heading: "Something went wrong", Text: "The page could not be shown. Try again in a moment."}}); err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type messageView struct {
	Heading  string
	Text     string
	Link     string
	LinkText string
}

// message renders a short page with a heading and a sentence.
func (h *handler) message(w http.ResponseWriter, r *http.Request, status int, heading, text string) {
	h.render(w, r, status, "message", page{Title: heading, Noindex: true, V: messageView{Heading: heading, Text: text}})
}

// fail renders the page for an error: its kind picks the status, and internal errors are
// logged and shown only as "something went wrong".
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := httpapi.StatusOf(err)
	if status >= 500 {
		h.d.Log.ErrorContext(r.Context(), "page failed", "path", r.URL.Path, "err", err)
		h.message(w, r, status, "Something went wrong", "The page could not be shown. Try again in a moment.")
		return
	}
	h.message(w, r, status, http.StatusText(status), credbatch.ErrorMessage(err))
}

// statusChecker returns the revocation lists (global status indexes).
func (h *handler) statusChecker(context.Context) (credential.StatusChecker, error) {
	return h.d.StatusLists, nil
}

var funcs = template.FuncMap{
	"date":  humanDate,
	"label": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	// batchStatus says a batch's status in words: "needs fixing", not "rejected", for rows to fix.
	"batchStatus": credbatch.StatusWords,
	"add":         func(a, b int) int { return a + b },
	"words":       mail.Duration,
	"cell": func(cells []string, i int) string {
		if i < len(cells) {
			return cells[i]
		}
		return ""
	},
	"when": func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") },
}

// humanDate turns YYYY-MM-DD into "2 January 2006"; anything else is returned as is.
func humanDate(s string) string {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return s
	}
	return t.Format("2 January 2006")
}
