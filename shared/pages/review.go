package pages

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/issuance"
)

// reviewView is the approver's review page.
type reviewView struct {
	Batch     credbatch.Batch
	Policy    issuance.Policy
	Defs      []defView
	Session   caller
	CanDecide bool
	Flash     string
	Error     string
	Reason    string // the reason typed into a refused form, shown again

	Rows      []rowView
	Page      int
	FirstRow  int // row numbers this page covers
	LastRow   int
	PrevPage  int // 0 = none
	NextPage  int
	Preview   *previewView
	PrevPrev  int // row number of the previous preview; 0 = none
	NextPrev  int
	PageLink  func(int) string
	PrevLink  func(int) string
	ReviewURL string
	Nav       nav // the console's header
}

type defView struct {
	ID      string
	Version int
	Name    string
}

type rowView struct {
	credbatch.Row
	Name       string
	Invalid    bool
	Attributes []attrView
	Evidence   *evidenceView // nil: the row carries none
	CanAttach  bool          // an evidence file may be attached (the batch page's form)
	Accept     string        // the file types the form takes (its accept attribute)
}

// previewView is a credential as it will be issued for one row.
type previewView struct {
	Row         int
	Recipient   string
	Email       string
	Achievement string
	Description string
	Criteria    string
	IssuerName  string
	IssueDate   string
	ExpiryDate  string
	Attributes  []attrView
	Evidence    *evidenceView // the row's evidence, as the credential will list it
	Problem     string        // why the credential could not be built
}

// review serves GET /review/{id}.
func (h *handler) review(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if r.URL.Query().Has("token") {
		h.reviewLink(w, r)
		return
	}
	s, ok := h.requireApprover(w, r)
	if !ok {
		return
	}
	v := reviewView{Session: s, Flash: h.takeFlash(w, r)}
	h.showReview(w, r, http.StatusOK, id, v)
}

// reviewLink handles a review link carrying ?token=. A link never signs anyone in: whoever
// sent it could otherwise sign the approver in as themselves (login CSRF). The token is
// dropped from the address and the sign-in form is shown, to come back to the clean URL.
func (h *handler) reviewLink(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	q.Del("token")
	clean := r.URL.Path
	if len(q) > 0 {
		clean += "?" + q.Encode()
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	if _, err := h.authenticate(r); err == nil {
		http.Redirect(w, r, clean, http.StatusSeeOther)
		return
	}
	h.loginPage(w, r, http.StatusUnauthorized, clean, "Links do not sign you in. Paste your access token to continue.")
}

// requireApprover authenticates the caller and checks the approver role; on failure it
// writes the login page (401) or a refusal (403) and returns false.
func (h *handler) requireApprover(w http.ResponseWriter, r *http.Request) (caller, bool) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	s, err := h.authenticate(r)
	if err != nil {
		switch {
		case credbatch.IsKind(err, credbatch.KindUnauthorized):
			_, cerr := r.Cookie(SessionCookie)
			hasCookie := cerr == nil
			if r.Method == http.MethodGet && !hasCookie && r.Header.Get("Sec-Fetch-Site") == "cross-site" {
				// A SameSite=Strict cookie is not sent on a navigation from another site (a
				// webmail link); reloading from this page makes the request same-site.
				h.render(w, r, http.StatusOK, "message", page{Title: "Opening the review page", Noindex: true, Refresh: r.URL.RequestURI(),
					V: messageView{Heading: "Opening the review page…", Link: r.URL.RequestURI(), LinkText: "Continue to the review page"}})
				return s, false
			}
			msg := ""
			if hasCookie {
				msg = "Your session is no longer valid. Sign in again."
			}
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet { // a form post: come back to the page, not the action
				next = ReviewPrefix + url.PathEscape(r.PathValue("id"))
			}
			h.loginPage(w, r, http.StatusUnauthorized, next, msg)
		default:
			h.fail(w, r, err)
		}
		return s, false
	}
	if err := s.Principal.Require(auth.RoleApprover); err != nil {
		h.message(w, r, http.StatusForbidden, "Not allowed",
			fmt.Sprintf("You are signed in as %s, who may not review batches. Sign in with an approver's token.", s.Principal.Name()))
		return s, false
	}
	return s, true
}

// showReview loads the batch and renders the review page.
func (h *handler) showReview(w http.ResponseWriter, r *http.Request, status int, id string, v reviewView) {
	ctx := r.Context()
	v.Nav = navFor(v.Session, "review")
	b, err := h.d.Store.GetBatch(ctx, id)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		h.message(w, r, http.StatusNotFound, "Batch not found", "There is no batch "+id+". Check the link in your email.")
		return
	}
	if err != nil {
		h.fail(w, r, fmt.Errorf("load batch %s: %w", id, err))
		return
	}
	v.Batch = b
	v.CanDecide = b.Status == credbatch.BatchAwaitingApproval
	v.ReviewURL = ReviewPrefix + url.PathEscape(b.ID)
	defs, err := h.definitions(ctx, b)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if v.Policy, err = issuance.PolicyOf(ctx, h.d.Store, b); err != nil {
		h.fail(w, r, fmt.Errorf("approval policy of %s: %w", b.ID, err))
		return
	}
	for _, id := range sortedKeys(b.Definitions) {
		d := defs[id]
		v.Defs = append(v.Defs, defView{ID: id, Version: b.Definitions[id], Name: d.Name})
	}
	q := r.URL.Query()
	pageN, _ := strconv.Atoi(q.Get("page"))
	preview, _ := strconv.Atoi(q.Get("preview"))
	if r.Method != http.MethodGet { // a refused form: show the page it came from
		pageN, _ = strconv.Atoi(r.PostFormValue("page"))
		preview, _ = strconv.Atoi(r.PostFormValue("preview"))
	}
	if pageN < 1 {
		pageN = 1
	}
	if err := h.loadRows(ctx, &v, b, defs, pageN); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.loadPreview(ctx, &v, b, defs, preview); err != nil {
		h.fail(w, r, err)
		return
	}
	v.PageLink = func(n int) string { return link(v.ReviewURL, n, v.Preview) }
	v.PrevLink = func(n int) string { return fmt.Sprintf("%s?page=%d&preview=%d#preview", v.ReviewURL, v.Page, n) }
	title := "Review " + b.ID
	if b.Label != "" {
		title = "Review " + b.Label
	}
	h.render(w, r, status, "review", page{Title: title, Noindex: true, V: v})
}

func link(base string, page int, p *previewView) string {
	s := fmt.Sprintf("%s?page=%d", base, page)
	if p != nil {
		s += fmt.Sprintf("&preview=%d", p.Row)
	}
	return s + "#rows"
}

// definitions loads the definition versions the batch was validated against.
func (h *handler) definitions(ctx context.Context, b credbatch.Batch) (map[string]credbatch.Definition, error) {
	out := map[string]credbatch.Definition{}
	for id, ver := range b.Definitions {
		d, err := h.d.Store.GetDefinition(ctx, id, ver)
		if credbatch.IsKind(err, credbatch.KindNotFound) {
			out[id] = credbatch.Definition{ID: id, Name: id}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("load definition %s v%d: %w", id, ver, err)
		}
		out[id] = d
	}
	return out, nil
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// firstRow is the number of the batch's first row (2 for a file: the header is row 1).
func (h *handler) firstRow(ctx context.Context, id string) (int, bool, error) {
	p, err := h.d.Store.ListRows(ctx, id, credbatch.RowFilter{Limit: 1})
	if err != nil {
		return 0, false, fmt.Errorf("list rows of %s: %w", id, err)
	}
	if len(p.Items) == 0 {
		return 0, false, nil
	}
	return p.Items[0].Number, true, nil
}

// loadRows reads page n: the rows numbered [first+(n-1)*RowsPerPage, first+n*RowsPerPage).
// Pages are ranges of row numbers, so any page is one query however deep it is.
func (h *handler) loadRows(ctx context.Context, v *reviewView, b credbatch.Batch, defs map[string]credbatch.Definition, n int) error {
	first, ok, err := h.firstRow(ctx, b.ID)
	if err != nil || !ok {
		v.Page = 1
		return err
	}
	from := first + (n-1)*RowsPerPage
	to := from + RowsPerPage
	p, err := h.d.Store.ListRows(ctx, b.ID, credbatch.RowFilter{FromNumber: from, ToNumber: to, Limit: RowsPerPage})
	if err != nil {
		return fmt.Errorf("list rows of %s: %w", b.ID, err)
	}
	v.Page, v.FirstRow, v.LastRow = n, from, to-1
	for _, row := range p.Items {
		v.Rows = append(v.Rows, rowView{Row: row, Name: strings.TrimSpace(row.FirstName + " " + row.LastName),
			Invalid:    row.Status == credbatch.RowInvalid || row.Status == credbatch.RowSkipped || credbatch.HasErrors(row.Findings),
			Attributes: attributes(defs[defOf(b, row)], row.Attributes), Evidence: rowEvidence(b, row)})
	}
	if n > 1 {
		v.PrevPage = n - 1
	}
	more, err := h.d.Store.ListRows(ctx, b.ID, credbatch.RowFilter{FromNumber: to, Limit: 1})
	if err != nil {
		return fmt.Errorf("list rows of %s: %w", b.ID, err)
	}
	if len(more.Items) > 0 {
		v.NextPage = n + 1
	}
	return nil
}

func defOf(b credbatch.Batch, r credbatch.Row) string {
	if r.DefinitionID != "" {
		return r.DefinitionID
	}
	return b.Options.DefinitionID
}

// previewable reports whether a row becomes a credential (it is not invalid or skipped).
func previewable(r credbatch.Row) bool {
	return r.Status != credbatch.RowInvalid && r.Status != credbatch.RowSkipped
}

// maxScan bounds how many rows the preview links look through for the next valid one.
const maxScan = 2000

// loadPreview builds the credential preview of the valid row at or after row number n (the
// first valid row when n is 0) and finds its previous and next valid rows.
func (h *handler) loadPreview(ctx context.Context, v *reviewView, b credbatch.Batch, defs map[string]credbatch.Definition, n int) error {
	cur, ok, err := h.nextPreviewable(ctx, b.ID, n)
	if err != nil || !ok {
		return err
	}
	v.Preview = h.preview(b, defs, cur)
	next, ok, err := h.nextPreviewable(ctx, b.ID, cur.Number+1)
	if err != nil {
		return err
	}
	if ok {
		v.NextPrev = next.Number
	}
	prev, ok, err := h.prevPreviewable(ctx, b.ID, cur.Number)
	if err != nil {
		return err
	}
	if ok {
		v.PrevPrev = prev.Number
	}
	return nil
}

// nextPreviewable returns the first valid row numbered from or later.
func (h *handler) nextPreviewable(ctx context.Context, id string, from int) (credbatch.Row, bool, error) {
	f := credbatch.RowFilter{FromNumber: from, Limit: 100}
	for scanned := 0; scanned < maxScan; {
		p, err := h.d.Store.ListRows(ctx, id, f)
		if err != nil {
			return credbatch.Row{}, false, fmt.Errorf("list rows of %s: %w", id, err)
		}
		for _, r := range p.Items {
			if previewable(r) {
				return r, true, nil
			}
		}
		scanned += len(p.Items)
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	return credbatch.Row{}, false, nil
}

// prevPreviewable returns the last valid row numbered before `before`, reading back in
// windows of row numbers.
func (h *handler) prevPreviewable(ctx context.Context, id string, before int) (credbatch.Row, bool, error) {
	first, ok, err := h.firstRow(ctx, id)
	if err != nil || !ok {
		return credbatch.Row{}, false, err
	}
	const window = 100
	for hi, scanned := before, 0; hi > first && scanned < maxScan; scanned += window {
		lo := max(first, hi-window)
		p, err := h.d.Store.ListRows(ctx, id, credbatch.RowFilter{FromNumber: lo, ToNumber: hi, Limit: window})
		if err != nil {
			return credbatch.Row{}, false, fmt.Errorf("list rows of %s: %w", id, err)
		}
		for i := len(p.Items) - 1; i >= 0; i-- {
			if previewable(p.Items[i]) {
				return p.Items[i], true, nil
			}
		}
		hi = lo
	}
	return credbatch.Row{}, false, nil
}

// preview builds the credential a row will become, as the issue worker will.
func (h *handler) preview(b credbatch.Batch, defs map[string]credbatch.Definition, r credbatch.Row) *previewView {
	def := defs[defOf(b, r)]
	p := &previewView{Row: r.Number, Recipient: strings.TrimSpace(r.FirstName + " " + r.LastName), Email: r.Email,
		IssueDate: r.IssueDate, ExpiryDate: r.ExpiryDate, Attributes: attributes(def, r.Attributes), Evidence: rowEvidence(b, r)}
	iss := h.d.Issuer.For(def)
	p.Achievement, p.Description, p.Criteria, p.IssuerName = def.Name, def.Description, def.Criteria, iss.Name
	id := r.CredentialID
	if id == "" {
		id = "preview"
	}
	c := credbatch.Credential{ID: id, BatchID: b.ID, RowNumber: r.Number, DefinitionID: def.ID, DefinitionVer: def.Version,
		Email: strings.ToLower(r.Email), Name: p.Recipient, IssueDate: r.IssueDate, ExpiryDate: r.ExpiryDate,
		Attributes: r.Attributes, Evidence: r.Evidence, Status: credbatch.CredentialIssued}
	doc, err := credential.Build(iss, def, c)
	if err != nil {
		p.Problem = credbatch.ErrorMessage(err)
		return p
	}
	a := doc.CredentialSubject.Achievement
	p.Achievement, p.Description, p.Criteria, p.IssuerName = a.Name, a.Description, a.Criteria.Narrative, doc.Issuer.Name
	return p
}

// decide serves POST /review/{id}/approve|reject|request-changes.
func (h *handler) decide(w http.ResponseWriter, r *http.Request) {
	id, action := r.PathValue("id"), r.PathValue("action")
	if action != "approve" && action != "reject" && action != "request-changes" {
		h.message(w, r, http.StatusNotFound, "Page not found", "There is no page at this address.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.message(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	s, ok := h.requireApprover(w, r)
	if !ok {
		return
	}
	if !s.checkCSRF(r) {
		h.message(w, r, http.StatusForbidden, "Form expired",
			"This form was not sent from your review page (its security token is missing or wrong). Reload the review page and try again.")
		return
	}
	ctx := r.Context()
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	var (
		err   error
		flash string
	)
	switch action {
	case "approve":
		_, err = h.d.Actions.Approve(ctx, id, s.Principal.Name())
		flash = "approved"
	case "reject":
		_, err = h.d.Actions.Reject(ctx, id, s.Principal.Name(), reason)
		flash = "rejected"
	default:
		_, err = h.d.Actions.RequestChanges(ctx, id, s.Principal.Name(), reason)
		flash = "changes_requested"
	}
	if err != nil {
		status := httpapi.StatusOf(err)
		if status >= 500 {
			h.fail(w, r, fmt.Errorf("%s batch %s: %w", action, id, err))
			return
		}
		h.d.Log.InfoContext(ctx, "review action refused", "batch", id, "action", action, "code", credbatch.ErrorCode(err))
		h.showReview(w, r, status, id, reviewView{Session: s, Error: credbatch.ErrorMessage(err), Reason: reason})
		return
	}
	h.d.Log.InfoContext(ctx, "review action", "batch", id, "action", action, "by", s.Principal.Subject)
	h.setFlash(w, flash)
	back := ReviewPrefix + url.PathEscape(id)
	if p, err := strconv.Atoi(r.PostForm.Get("page")); err == nil && p > 1 {
		back += "?page=" + strconv.Itoa(p)
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
