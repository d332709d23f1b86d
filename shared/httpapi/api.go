// Package httpapi is credbatch's JSON HTTP API: definitions, templates, uploads, batches,
// approvals, credentials, verification and the public key and status-list documents.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/catalogue"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/sheet"
	"github.com/credbatch/credbatch/shared/statuslist"
)

// Deps is what the API needs. Store, Blob, Actions, Keys, Signer, Issuer and Auth are
// required; the rest have defaults.
type Deps struct {
	Store     credbatch.Store    // definitions, batches, rows, credentials, suppressions
	Blob      credbatch.Blob     // presigned upload and report URLs; error reports are written here
	Actions   *issuance.Actions  // submit, approve, reject, request changes, cancel, resume, retry
	Ingest    *ingest.Service    // batches from JSON rows, amending rows, error reports (default: one over Store and Blob)
	Flow      *issuance.Service  // resend and revoke (default: one over Store and Mailer)
	Catalogue *catalogue.Service // creating and changing definitions (default: one over Store)
	Keys      keys.Set           // published at /.well-known/jwks.json and did.json; verifies credentials
	Signer    *credential.Signer // signs the status list credential
	Issuer    credential.Issuer  // BaseURL (public URL of this API), issuer profile; ID() signs the status list
	Mailer    credbatch.Mailer   // resends credential emails; nil makes resend 503
	From      string             // sender of resent emails
	Auth      auth.Authenticator // identifies callers of /api/...
	DID       string             // did:web of the issuer (default Issuer.DID()); served at /.well-known/did.json and /did.json

	Clock  credbatch.Clock // default time.Now
	IDs    credbatch.IDs   // default issuance.NewID: upload keys and batch ids without Idempotency-Key
	Limits sheet.Limits    // file and row limits for validate and batches (default sheet.DefaultLimits)
	TmpDir string          // where /api/validate spools uploaded files (default os.TempDir)
	Log    *slog.Logger    // default slog.Default

	// Pages, when set, serves GET /credentials/{id} (with /pdf, /badge.png and /evidence/{n}) and /review/ (the HTML pages).
	Pages http.Handler
	// UploadTTL is how long a presigned upload URL works (default 15 minutes); ReportTTL the
	// same for error-report downloads (default 15 minutes).
	UploadTTL time.Duration
	ReportTTL time.Duration
	// StatusTTL is how long the signed status list is cached (default 1 minute); revocations
	// through this API clear the cache at once.
	StatusTTL time.Duration
	// StatusLists serves the revocation lists and checks credentials against them; share one
	// with the pages so a revocation clears both caches. Default: a new one over Store.
	StatusLists *statuslist.Lists
	// MaxBodyBytes bounds JSON request bodies (default 16 MiB); uploads to /api/validate are
	// bounded by Limits.MaxFileBytes.
	MaxBodyBytes int64
	// PublicOnly registers only the public routes, none of which signs (PublicRoutes),
	// and, of Pages, the credential pages: what the public function serves, with Keys the
	// published public halves (keys.FromPublished) and no Signer, Workflow or Mailer.
	PublicOnly bool
	// MaxHeavy is how many requests of the heavy routes (validate, JSON-row batches, verify)
	// run at once (default 4): each holds a file's or a body's worth of work, so this bounds
	// the memory of concurrent requests. One more is refused with 429 and Retry-After.
	MaxHeavy int
}

// API is the HTTP handler.
type API struct {
	d      Deps
	mux    *http.ServeMux
	ingest *ingest.Service
	heavy  chan struct{} // a slot per heavy request running

	status *statuslist.Lists
}

var _ http.Handler = (*API)(nil)

// New returns the API with every route of Routes registered.
func New(d Deps) *API {
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.IDs == nil {
		d.IDs = issuance.NewID
	}
	if d.Limits == (sheet.Limits{}) {
		d.Limits = sheet.DefaultLimits()
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.UploadTTL <= 0 {
		d.UploadTTL = 15 * time.Minute
	}
	if d.ReportTTL <= 0 {
		d.ReportTTL = 15 * time.Minute
	}
	if d.StatusTTL <= 0 {
		d.StatusTTL = time.Minute
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 16 << 20
	}
	if d.MaxHeavy <= 0 {
		d.MaxHeavy = 4
	}
	if d.DID == "" {
		d.DID, _ = d.Issuer.DID() // "" (404) only when the base URL gives none
	}
	a := &API{d: d, mux: http.NewServeMux(), status: d.StatusLists, heavy: make(chan struct{}, d.MaxHeavy)}
	if a.status == nil {
		a.status = &statuslist.Lists{Store: d.Store, TTL: d.StatusTTL, Now: d.Clock}
	}
	a.ingest = d.Ingest
	if a.ingest == nil {
		a.ingest = &ingest.Service{Store: d.Store, Blob: d.Blob, Clock: d.Clock, IDs: d.IDs, Limits: d.Limits, TmpDir: d.TmpDir, Log: d.Log}
	}
	if a.d.Catalogue == nil {
		a.d.Catalogue = &catalogue.Service{Store: d.Store, IDs: d.IDs, Log: d.Log}
	}
	if a.d.Flow == nil {
		a.d.Flow = &issuance.Service{Store: d.Store, Mailer: d.Mailer, Blob: d.Blob, Signer: d.Signer, Clock: d.Clock, Log: d.Log,
			Config: issuance.Config{Issuer: d.Issuer, From: d.From}}
	}
	if a.d.Flow.StatusCache == nil {
		a.d.Flow.StatusCache = a.status
	}
	for _, rt := range a.routes() {
		if d.PublicOnly && !rt.Public {
			continue
		}
		a.mux.Handle(rt.Method+" "+rt.Path, a.wrap(rt))
	}
	if d.Pages != nil {
		for _, p := range CredentialPagePatterns {
			a.mux.Handle(p, d.Pages)
		}
		if !d.PublicOnly {
			a.mux.Handle("/review/", d.Pages)
		}
	}
	return a
}

// Handle mounts an extra handler (for example the HTML pages) on a ServeMux pattern.
func (a *API) Handle(pattern string, h http.Handler) { a.mux.Handle(pattern, h) }

// ServeHTTP implements http.Handler. It logs each request once, with its request id.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		if v := recover(); v != nil {
			a.d.Log.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
			if !sw.wrote {
				a.writeError(sw, r, fmt.Errorf("panic: %v", v))
			}
		}
		a.d.Log.Info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"ms", time.Since(start).Milliseconds(), "request_id", requestID(r))
	}()
	a.mux.ServeHTTP(sw, r)
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func requestID(r *http.Request) string {
	for _, h := range []string{"X-Request-Id", "X-Amzn-Trace-Id"} {
		if v := r.Header.Get(h); v != "" {
			return v
		}
	}
	return ""
}

// Route is one endpoint: a method, a ServeMux path pattern, and who may call it.
type Route struct {
	Method string
	Path   string
	Public bool        // no authentication
	Roles  []auth.Role // any one of them (admin always); empty with !Public = admin only
	Heavy  bool        // counts against Deps.MaxHeavy
	h      handlerFunc
}

// CredentialPagePatterns are the patterns of Deps.Pages that show a credential (its page,
// certificate, baked badge and evidence): public, and signing nothing.
var CredentialPagePatterns = []string{"GET /credentials/{id}", "GET /credentials/{id}/pdf", "GET /credentials/{id}/badge.png",
	"GET /credentials/{id}/evidence/{n}"}

// PublicRoutes are the public routes of Routes (none signs: the VC-JWT and the status lists
// are signed where credentials are issued and revoked, and stored), with
// CredentialPagePatterns the whole of what the public function serves (Deps.PublicOnly).
func PublicRoutes() []Route {
	var out []Route
	for _, rt := range Routes() {
		if rt.Public {
			out = append(out, rt)
		}
	}
	return out
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

// Routes lists every endpoint the API serves (without the optional Pages).
func Routes() []Route {
	rs := (&API{}).routes()
	for i := range rs {
		rs[i].h = nil
	}
	return rs
}

var (
	readers   = []auth.Role{auth.RoleIssuer, auth.RoleApprover}
	issuers   = []auth.Role{auth.RoleIssuer}
	approvers = []auth.Role{auth.RoleApprover}
	adminOnly = []auth.Role{}
)

func (a *API) routes() []Route {
	return []Route{
		{Method: "GET", Path: "/api/definitions", Roles: readers, h: a.listDefinitions},
		{Method: "POST", Path: "/api/definitions", Roles: issuers, h: a.createDefinition},
		{Method: "GET", Path: "/api/definitions/{id}", Roles: readers, h: a.getDefinition},
		{Method: "PUT", Path: "/api/definitions/{id}", Roles: issuers, h: a.updateDefinition},
		{Method: "DELETE", Path: "/api/definitions/{id}", Roles: issuers, h: a.archiveDefinition},
		{Method: "GET", Path: "/api/definitions/{id}/template", Roles: readers, h: a.definitionTemplate},
		{Method: "GET", Path: "/api/templates", Roles: readers, h: a.combinedTemplate},
		{Method: "POST", Path: "/api/uploads", Roles: issuers, h: a.createUpload},
		{Method: "POST", Path: "/api/uploads/evidence-zip", Roles: issuers, h: a.createEvidenceZipUpload},
		{Method: "POST", Path: "/api/batches", Roles: issuers, Heavy: true, h: a.createBatch},
		{Method: "GET", Path: "/api/batches", Roles: readers, h: a.listBatches},
		{Method: "GET", Path: "/api/batches/{id}", Roles: readers, h: a.getBatch},
		{Method: "GET", Path: "/api/batches/{id}/rows", Roles: readers, h: a.listRows},
		{Method: "PATCH", Path: "/api/batches/{id}/rows/{row}", Roles: issuers, h: a.amendRow},
		{Method: "PUT", Path: "/api/batches/{id}/rows/{row}/evidence", Roles: issuers, h: a.attachEvidence},
		{Method: "POST", Path: "/api/batches/{id}/rows/{row}/evidence/upload", Roles: issuers, h: a.presignEvidence},
		{Method: "POST", Path: "/api/batches/{id}/rows/{row}/evidence/confirm", Roles: issuers, h: a.confirmEvidence},
		{Method: "GET", Path: "/api/batches/{id}/report", Roles: readers, h: a.batchReport},
		{Method: "GET", Path: "/api/batches/{id}/delivery", Roles: readers, h: a.batchDelivery},
		{Method: "POST", Path: "/api/batches/{id}/submit", Roles: issuers, h: a.submitBatch},
		{Method: "POST", Path: "/api/batches/{id}/approve", Roles: approvers, h: a.approveBatch},
		{Method: "POST", Path: "/api/batches/{id}/reject", Roles: approvers, h: a.rejectBatch},
		{Method: "POST", Path: "/api/batches/{id}/request-changes", Roles: approvers, h: a.requestChanges},
		{Method: "POST", Path: "/api/batches/{id}/cancel", Roles: issuers, h: a.cancelBatch},
		{Method: "POST", Path: "/api/batches/{id}/resume", Roles: issuers, h: a.resumeBatch},
		{Method: "POST", Path: "/api/batches/{id}/revoke", Roles: issuers, h: a.revokeBatch},
		{Method: "POST", Path: "/api/batches/{id}/retry", Roles: issuers, h: a.retryBatch},
		{Method: "GET", Path: "/api/credentials", Roles: readers, h: a.listCredentials},
		{Method: "GET", Path: "/api/credentials/{id}", Roles: readers, h: a.getCredential},
		{Method: "POST", Path: "/api/credentials/{id}/revoke", Roles: issuers, h: a.revokeCredential},
		{Method: "POST", Path: "/api/credentials/{id}/resend", Roles: issuers, h: a.resendCredential},
		{Method: "DELETE", Path: "/api/credentials/{id}/evidence/1", Roles: adminOnly, h: a.removeEvidence},
		{Method: "POST", Path: "/api/validate", Roles: issuers, Heavy: true, h: a.validate},
		{Method: "GET", Path: "/api/suppressions/{email}", Roles: adminOnly, h: a.getSuppression},
		{Method: "DELETE", Path: "/api/suppressions/{email}", Roles: adminOnly, h: a.deleteSuppression},
		{Method: "GET", Path: "/api/audit", Roles: adminOnly, h: a.listAudit},

		{Method: "GET", Path: "/credentials/{id}/jwt", Public: true, h: a.credentialJWT},
		{Method: "GET", Path: "/credentials/{id}/json", Public: true, h: a.credentialJSON},
		{Method: "POST", Path: "/verify", Public: true, Heavy: true, h: a.verify},
		{Method: "GET", Path: "/.well-known/jwks.json", Public: true, h: a.jwks},
		{Method: "GET", Path: "/.well-known/did.json", Public: true, h: a.didDocument},
		{Method: "GET", Path: "/did.json", Public: true, h: a.didDocument},
		{Method: "GET", Path: "/status/{n}", Public: true, h: a.statusList},
		{Method: "GET", Path: "/openapi.json", Public: true, h: a.openAPI},
		{Method: "GET", Path: "/healthz", Public: true, h: a.healthz},
	}
}

// wrap authenticates and authorises a route, then maps its error.
func (a *API) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p auth.Principal
		if !rt.Public {
			var err error
			if p, err = a.d.Auth.Authenticate(r); err != nil {
				if credbatch.ErrorKind(err) == credbatch.KindInternal {
					err = fmt.Errorf("authenticate: %w", err)
				}
				a.writeError(w, r, err)
				return
			}
			if err := p.Require(rt.Roles...); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		if rt.Heavy {
			select {
			case a.heavy <- struct{}{}:
				defer func() { <-a.heavy }()
			default:
				a.writeError(w, r, credbatch.E(credbatch.KindBusy, "too_many_requests", fmt.Sprintf(
					"%d requests like this one are running; send it again in %d seconds", cap(a.heavy), busyRetryAfter)))
				return
			}
		}
		if err := rt.h(w, r, p); err != nil {
			a.writeError(w, r, err)
		}
	})
}

// busyRetryAfter is the Retry-After (seconds) of a request refused because MaxHeavy are
// running.
const busyRetryAfter = 2

// errorBody is the one error shape of the API.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// StatusOf is the one mapping of error kinds to HTTP statuses, used by the API and the pages.
func StatusOf(err error) int {
	switch credbatch.ErrorKind(err) {
	case credbatch.KindInvalid:
		return http.StatusBadRequest
	case credbatch.KindUnauthorized:
		return http.StatusUnauthorized
	case credbatch.KindForbidden:
		return http.StatusForbidden
	case credbatch.KindNotFound:
		return http.StatusNotFound
	case credbatch.KindConflict:
		return http.StatusConflict
	case credbatch.KindUnavailable:
		return http.StatusServiceUnavailable
	case credbatch.KindBusy:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// writeError is the one place errors become responses: the kind gives the status, internal
// errors are logged and shown as "internal error".
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	kind := credbatch.ErrorKind(err)
	body := errorBody{Error: errorDetail{Code: credbatch.ErrorCode(err), Message: credbatch.ErrorMessage(err)}}
	var e *credbatch.Error
	if kind != credbatch.KindInternal && errors.As(err, &e) {
		body.Error.Details = e.Details
	}
	switch kind {
	case credbatch.KindInternal:
		body.Error.Code = string(credbatch.KindInternal)
		a.d.Log.Error("internal error", "method", r.Method, "path", r.URL.Path, "request_id", requestID(r), "err", err)
	case credbatch.KindUnavailable:
		a.d.Log.Warn("dependency unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
	case credbatch.KindBusy:
		w.Header().Set("Retry-After", strconv.Itoa(busyRetryAfter))
	case credbatch.KindUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="credbatch"`)
	}
	writeJSON(w, StatusOf(err), body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	jsonHeader(w, code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// jsonHeader starts a JSON response.
func jsonHeader(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
}

// decode reads a JSON body strictly (unknown fields are refused, so a typo is not ignored).
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := a.body(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return credbatch.E(credbatch.KindInvalid, "invalid_json", "the request needs a JSON body")
	}
	return strictJSON(data, v)
}

// decodeOptional is decode for bodies that may be empty (v is then left as it is).
func (a *API) decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := a.body(w, r)
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return err
	}
	return strictJSON(data, v)
}

func (a *API) body(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.d.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, credbatch.E(credbatch.KindInvalid, "body_too_large", fmt.Sprintf("the request body is over %d bytes", tooBig.Limit))
	}
	if err != nil {
		return nil, credbatch.E(credbatch.KindInvalid, "invalid_body", "the request body could not be read")
	}
	return data, nil
}

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &credbatch.Error{Kind: credbatch.KindInvalid, Code: "invalid_json",
			Message: "the request body is not valid JSON for this endpoint: " + err.Error(), Err: err}
	}
	if dec.More() {
		return credbatch.E(credbatch.KindInvalid, "invalid_json", "the request body holds more than one JSON value")
	}
	return nil
}

// pageParams reads cursor and limit; KindInvalid for a bad limit.
func pageParams(r *http.Request) (string, int, error) {
	q := r.URL.Query()
	limit := 0
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > credbatch.MaxPageSize {
			return "", 0, credbatch.E(credbatch.KindInvalid, "invalid_limit",
				fmt.Sprintf("limit must be a whole number from 1 to %d", credbatch.MaxPageSize))
		}
		limit = n
	}
	return q.Get("cursor"), limit, nil
}

func (a *API) now() time.Time { return a.d.Clock().UTC() }

func (a *API) ctx(r *http.Request) context.Context { return r.Context() }

func trim(s string) string { return strings.TrimSpace(s) }
