package pages

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/mail"
)

// ConsolePatterns are the ServeMux patterns of the issuer console; an embedding API mounts
// the pages handler on each (site.New does).
var ConsolePatterns = []string{"GET /{$}", "/batches/", "/catalogue", "/catalogue/", "/upload", "/upload/", "/new-batch", "/approvals", "/approvals/"}

// consolePrefixes are the local paths a sign-in may return to.
var consolePrefixes = []string{"/batches/", "/catalogue", "/upload", "/new-batch", "/approvals", ReviewPrefix}

// localPage reports whether p is a console or review path (where /login may send people).
func localPage(p string) bool {
	if p == "/" {
		return true
	}
	for _, pre := range consolePrefixes {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// routes registers the console's pages.
func (h *handler) consoleRoutes() {
	h.mux.HandleFunc("GET /{$}", h.home)
	h.mux.HandleFunc("POST /approvals/confirm", h.confirmApprovals)
	h.mux.HandleFunc("POST /approvals", h.approveMany)
	h.mux.HandleFunc("GET /batches/{id}", h.batchPage)
	h.mux.HandleFunc("GET /batches/{id}/reconciliation.xlsx", h.reconciliation)
	h.mux.HandleFunc("POST /batches/{id}/{action}", h.batchAction)
	h.mux.HandleFunc("POST /batches/{id}/rows/{row}", h.amendRow)
	h.mux.HandleFunc("POST /batches/{id}/rows/{row}/evidence", h.attachEvidence)
	h.mux.HandleFunc("POST /batches/{id}/rows/{row}/evidence/presign", h.presignRowEvidence)
	h.mux.HandleFunc("POST /batches/{id}/rows/{row}/evidence/confirm", h.confirmRowEvidence)
	h.mux.HandleFunc("GET /catalogue", h.catalogue)
	h.mux.HandleFunc("GET /catalogue/template", h.combinedTemplate)
	h.mux.HandleFunc("GET /catalogue/new", h.newDefinitionForm)
	h.mux.HandleFunc("POST /catalogue/new", h.saveDefinition)
	h.mux.HandleFunc("GET /catalogue/{id}", h.definitionForm)
	h.mux.HandleFunc("GET /catalogue/{id}/edit", h.editDefinitionForm)
	h.mux.HandleFunc("POST /catalogue/{id}", h.saveDefinition)
	h.mux.HandleFunc("GET /catalogue/{id}/template", h.definitionTemplate)
	h.mux.HandleFunc("GET /upload", h.uploadForm)
	h.mux.HandleFunc("POST /upload", h.upload)
	h.mux.HandleFunc("POST /upload/presign", h.presignUpload)
	h.mux.HandleFunc("POST /upload/evidence-zip", h.presignEvidenceZip)
	h.mux.HandleFunc("GET /upload/done", h.uploadDone)
	h.mux.HandleFunc("GET /new-batch", h.manualForm)
	h.mux.HandleFunc("POST /new-batch", h.manual)
}

// Roles of the console's pages.
var (
	anyRole      = []auth.Role{auth.RoleIssuer, auth.RoleApprover}
	issuerRole   = []auth.Role{auth.RoleIssuer}
	approverRole = []auth.Role{auth.RoleApprover}
)

// requireRole authenticates a console request and checks one of the roles (admin always
// passes). Without a session a GET is redirected to /login (302) and comes back after; a
// form post without a session, a wrong role or a missing CSRF token is refused (403).
func (h *handler) requireRole(w http.ResponseWriter, r *http.Request, roles ...auth.Role) (caller, bool) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	s, err := h.authenticate(r)
	if err != nil {
		if !credbatch.IsKind(err, credbatch.KindUnauthorized) {
			h.fail(w, r, err)
			return s, false
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			http.Redirect(w, r, LoginPath+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
			return s, false
		}
		h.message(w, r, http.StatusForbidden, "Sign in first", "Your session has ended. Sign in again and repeat what you were doing.")
		return s, false
	}
	if err := s.Principal.Require(roles...); err != nil {
		h.message(w, r, http.StatusForbidden, "Not allowed",
			fmt.Sprintf("You are signed in as %s, whose role may not do this.", s.Principal.Name()))
		return s, false
	}
	if r.Method == http.MethodPost && !s.checkCSRF(r) {
		h.message(w, r, http.StatusForbidden, "Form expired",
			"This form was not sent from a console page (its security token is missing or wrong). Reload the page and try again.")
		return s, false
	}
	return s, true
}

// nav is the console's header: who is signed in and what they may open.
type nav struct {
	Session  caller
	Issuer   bool
	Approver bool
	Admin    bool
	Here     string
}

func navFor(s caller, here string) nav {
	return nav{Session: s, Issuer: s.Principal.Has(auth.RoleIssuer), Approver: s.Principal.Has(auth.RoleApprover),
		Admin: s.Principal.Has(auth.RoleAdmin), Here: here}
}

// notices are the outcomes a redirect names with ?done=, so no text travels in the URL.
var notices = map[string]string{
	"approved":         "Approved. The credentials are being issued.",
	"approved-many":    "The batches you confirmed were approved.",
	"rejected":         "Rejected. The issuer has been emailed the reason.",
	"changes":          "Sent back to the issuer for changes.",
	"submitted":        "Submitted. The batch goes to approval (or straight to issuing when its definitions need none).",
	"cancelled":        "The batch was cancelled.",
	"resumed":          "Issuing resumed.",
	"retried":          "The failed rows are being issued again.",
	"revoked":          "Revoked.",
	"resent":           "The email was sent again.",
	"amended":          "Row saved and validated again.",
	"evidence":         "Evidence file attached to the row.",
	"evidence-removed": "The evidence file was deleted. The credential keeps its digest; its page says the evidence was removed.",
	"evidence-gone":    "That evidence file had been removed already.",
	"mapped":           "The columns were assigned; the file is being read again as a new batch.",
	"uploaded":         "File uploaded. It is being read now.",
	"created":          "Batch created.",
	"definition-saved": "Definition saved as a new version.",
}

func notice(r *http.Request) string { return notices[r.URL.Query().Get("done")] }

// batchLink is a batch's console page.
func batchLink(id string) string { return "/batches/" + url.PathEscape(id) }

// homeView is the console's home page: the batch list.
type homeView struct {
	Nav      nav
	Notice   string
	Error    string
	Batches  []batchItem
	Label    string
	Status   string
	Def      string
	Mine     bool
	Cursor   string
	Next     string
	Statuses []credbatch.BatchStatus
	Defs     []credbatch.Definition
	NextLink string
}

type batchItem struct {
	credbatch.Batch
	Progress   int    // percent of valid rows done while issuing
	DefNames   string // the batch's definitions
	Approvable bool   // awaiting approval and the viewer may approve it
}

var listStatuses = []credbatch.BatchStatus{credbatch.BatchReceived, credbatch.BatchParsed, credbatch.BatchNeedsMapping,
	credbatch.BatchRejected, credbatch.BatchAwaitingApproval, credbatch.BatchApproved, credbatch.BatchIssuing,
	credbatch.BatchPaused, credbatch.BatchCompleted, credbatch.BatchCompletedFailed, credbatch.BatchCancelled, credbatch.BatchExpired}

// homePage is how many batches one page of the home list shows; homeScan bounds how many
// store pages a definition filter reads for one page.
const (
	homePage = 25
	homeScan = 20
)

// home serves GET /: batches newest first, searchable by label, filtered by status and
// definition, "awaiting my approval" for approvers, paged by the store's cursor.
func (h *handler) home(w http.ResponseWriter, r *http.Request) {
	s, ok := h.requireRole(w, r, anyRole...)
	if !ok {
		return
	}
	ctx := r.Context()
	q := r.URL.Query()
	v := homeView{Nav: navFor(s, "home"), Notice: notice(r), Label: strings.TrimSpace(q.Get("label")), Status: q.Get("status"),
		Def: q.Get("definition"), Mine: q.Get("mine") == "1", Cursor: q.Get("cursor"), Statuses: listStatuses}
	if v.Mine {
		v.Status = string(credbatch.BatchAwaitingApproval)
	}
	if v.Status != "" && !slices.Contains(listStatuses, credbatch.BatchStatus(v.Status)) {
		v.Status = ""
	}
	defs, err := h.d.Store.ListDefinitions(ctx, true)
	if err != nil {
		h.fail(w, r, fmt.Errorf("list definitions: %w", err))
		return
	}
	v.Defs = defs
	names := map[string]string{}
	for _, d := range defs {
		names[d.ID] = d.Name
	}
	f := credbatch.BatchFilter{Status: credbatch.BatchStatus(v.Status), Label: v.Label, Cursor: v.Cursor, Limit: homePage}
	for scans := 0; len(v.Batches) < homePage && scans < homeScan; scans++ {
		p, err := h.d.Store.ListBatches(ctx, f)
		if err != nil {
			h.fail(w, r, fmt.Errorf("list batches: %w", err))
			return
		}
		for _, b := range p.Items {
			if v.Def != "" && b.Options.DefinitionID != v.Def && b.Definitions[v.Def] == 0 {
				continue
			}
			if v.Mine && strings.EqualFold(b.Uploader, s.Principal.Name()) {
				continue // four-eyes: not one's own
			}
			v.Batches = append(v.Batches, h.item(b, names, s))
		}
		v.Next = p.Next
		if p.Next == "" || v.Def == "" && !v.Mine {
			break
		}
		f.Cursor = p.Next
	}
	if v.Next != "" {
		nq := url.Values{}
		for k, val := range map[string]string{"label": v.Label, "status": v.Status, "definition": v.Def, "cursor": v.Next} {
			if val != "" {
				nq.Set(k, val)
			}
		}
		if v.Mine {
			nq.Set("mine", "1")
			nq.Del("status")
		}
		v.NextLink = "/?" + nq.Encode()
	}
	h.render(w, r, http.StatusOK, "home", page{Title: "Batches · credbatch", Noindex: true, V: v})
}

func (h *handler) item(b credbatch.Batch, names map[string]string, s caller) batchItem {
	it := batchItem{Batch: b}
	if b.Counts.Valid > 0 {
		it.Progress = min(100, 100*(b.Counts.Issued+b.Counts.Failed+b.Counts.Revoked)/b.Counts.Valid)
	}
	var ds []string
	for id := range b.Definitions {
		ds = append(ds, orID(names[id], id))
	}
	if len(ds) == 0 && b.Options.DefinitionID != "" {
		ds = append(ds, orID(names[b.Options.DefinitionID], b.Options.DefinitionID))
	}
	slices.Sort(ds)
	it.DefNames = strings.Join(ds, ", ")
	it.Approvable = b.Status == credbatch.BatchAwaitingApproval && s.Principal.Has(auth.RoleApprover)
	return it
}

func orID(name, id string) string {
	if name == "" {
		return id
	}
	return name
}

// confirmView names the batches a bulk approval will approve.
type confirmView struct {
	Nav     nav
	Batches []credbatch.Batch
	Problem []string
}

// confirmApprovals serves POST /approvals/confirm: the confirmation that names the batches.
func (h *handler) confirmApprovals(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	s, ok := h.requireRole(w, r, approverRole...)
	if !ok {
		return
	}
	ids := r.PostForm["batch"]
	if len(ids) == 0 {
		h.message(w, r, http.StatusBadRequest, "Nothing selected", "Tick the batches to approve, then choose Approve selected.")
		return
	}
	if len(ids) > homePage {
		ids = ids[:homePage]
	}
	v := confirmView{Nav: navFor(s, "home")}
	for _, id := range ids {
		b, err := h.d.Store.GetBatch(r.Context(), id)
		if err != nil {
			v.Problem = append(v.Problem, fmt.Sprintf("%s: %s", id, credbatch.ErrorMessage(err)))
			continue
		}
		v.Batches = append(v.Batches, b)
	}
	h.render(w, r, http.StatusOK, "confirm", page{Title: "Confirm approval · credbatch", Noindex: true, V: v})
}

// approveMany serves POST /approvals: it approves each confirmed batch and reports any refusal.
func (h *handler) approveMany(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	s, ok := h.requireRole(w, r, approverRole...)
	if !ok {
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		h.message(w, r, http.StatusBadRequest, "Not confirmed", "Confirm the approval on the confirmation page.")
		return
	}
	var problems []string
	for _, id := range r.PostForm["batch"] {
		if _, err := h.d.Actions.Approve(r.Context(), id, s.Principal.Name()); err != nil {
			if httpapi.StatusOf(err) >= 500 {
				h.d.Log.ErrorContext(r.Context(), "bulk approve", "batch", id, "err", err)
			}
			problems = append(problems, fmt.Sprintf("%s: %s", id, credbatch.ErrorMessage(err)))
		}
	}
	if len(problems) > 0 {
		h.render(w, r, http.StatusConflict, "message", page{Title: "Some batches were not approved", Noindex: true,
			V: messageView{Heading: "Some batches were not approved", Text: strings.Join(problems, "; "), Link: "/", LinkText: "Back to the batches"}})
		return
	}
	http.Redirect(w, r, "/?done=approved-many", http.StatusSeeOther)
}

// parseForm reads a urlencoded form body (at most 1 MiB); false after writing a 400.
func (h *handler) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		h.message(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return false
	}
	return true
}

// policyOf is the approval policy of a batch (nil error when it cannot be derived yet).
func (h *handler) policyOf(ctx context.Context, b credbatch.Batch) issuance.Policy {
	p, err := issuance.PolicyOf(ctx, h.d.Store, b)
	if err != nil {
		h.d.Log.WarnContext(ctx, "approval policy", "batch", b.ID, "err", err)
	}
	return p
}

// words is the template function for durations in words.
var _ = mail.Duration
