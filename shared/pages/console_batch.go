package pages

import (
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/mail"
)

// batchView is a batch's console page: what it is, every finding in place, what can be
// done next, and (after issuing) each recipient's delivery.
type batchView struct {
	Nav        nav
	Notice     string
	Error      string
	Batch      credbatch.Batch
	Policy     issuance.Policy
	Progress   int
	Defs       []credbatch.Definition
	Columns    []columnView // column assignment (needs_mapping or unknown columns)
	Assign     bool         // show the column-assignment step
	Fields     []fieldChoice
	Rows       []rowView
	Show       string // rows filter: "" or "invalid"
	RowsNext   string
	Creds      []credView
	Delivery   string // credentials filter: "" or "bounced"
	CredNext   string
	Timeout    string // the approval window, in words
	Editable   bool   // rows can be amended
	IsIssuer   bool
	IsAdmin    bool // may remove a credential's evidence file
	CanApprove bool
	Replaced   string // the batch this one replaced
}

type columnView struct {
	Header  string
	Current credbatch.Field
}

type fieldChoice struct {
	Field credbatch.Field
	Label string
}

type credView struct {
	credbatch.Credential
	Problem  bool   // bounced, complained, suppressed, failed, rejected
	Evidence string // the name of the evidence file its document names ("" = none), for an administrator's removal
}

var problemEmails = []credbatch.EmailStatus{credbatch.EmailBounced, credbatch.EmailComplained, credbatch.EmailSuppressed,
	credbatch.EmailFailed, credbatch.EmailRejected, credbatch.EmailSoftBounce}

// batchPage serves GET /batches/{id}.
func (h *handler) batchPage(w http.ResponseWriter, r *http.Request) {
	s, ok := h.requireRole(w, r, anyRole...)
	if !ok {
		return
	}
	h.showBatch(w, r, s, http.StatusOK, "")
}

func (h *handler) showBatch(w http.ResponseWriter, r *http.Request, s caller, status int, errText string) {
	ctx := r.Context()
	id := r.PathValue("id")
	b, err := h.d.Store.GetBatch(ctx, id)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		if d := r.URL.Query().Get("done"); d == "uploaded" || d == "mapped" {
			// Just uploaded: the bucket's event has not reached ingest yet. Follow it.
			w.Header().Set("Refresh", "1")
			h.message(w, r, http.StatusAccepted, "Reading the file", "The file is uploaded and waits to be read. This page opens the batch by itself in a moment.")
			return
		}
		h.message(w, r, http.StatusNotFound, "Batch not found", "There is no batch "+id+".")
		return
	}
	if err != nil {
		h.fail(w, r, fmt.Errorf("load batch %s: %w", id, err))
		return
	}
	q := r.URL.Query()
	v := batchView{Nav: navFor(s, "batch"), Notice: notice(r), Error: errText, Batch: b, Policy: h.policyOf(ctx, b),
		Show: q.Get("show"), Delivery: q.Get("delivery"), Timeout: mail.Duration(h.d.ApprovalTimeout),
		IsIssuer: s.Principal.Has(auth.RoleIssuer), IsAdmin: s.Principal.Has(), Replaced: b.Options.Replaces}
	v.Editable = v.IsIssuer && (b.Status == credbatch.BatchParsed || b.Status == credbatch.BatchRejected)
	v.CanApprove = b.Status == credbatch.BatchAwaitingApproval && s.Principal.Has(auth.RoleApprover)
	if b.Counts.Valid > 0 {
		v.Progress = min(100, 100*(b.Counts.Issued+b.Counts.Failed+b.Counts.Revoked)/b.Counts.Valid)
	}
	defs, err := h.d.Ingest.BatchDefinitions(ctx, b)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, id := range slices.Sorted(mapsKeys(defs)) {
		v.Defs = append(v.Defs, defs[id])
	}
	if err := h.assignment(r, &v, defs); err != nil {
		h.fail(w, r, err)
		return
	}
	if b.Status != credbatch.BatchReceived && b.Status != credbatch.BatchNeedsMapping {
		f := credbatch.RowFilter{Cursor: q.Get("rows"), Limit: RowsPerPage}
		if v.Show == "invalid" {
			f.Status = credbatch.RowInvalid
		}
		p, err := h.d.Store.ListRows(ctx, b.ID, f)
		if err != nil {
			h.fail(w, r, fmt.Errorf("list rows of %s: %w", b.ID, err))
			return
		}
		for _, row := range p.Items {
			def := defs[defOf(b, row)]
			rv := rowView{Row: row, Name: strings.TrimSpace(row.FirstName + " " + row.LastName),
				Invalid:    row.Status == credbatch.RowInvalid || row.Status == credbatch.RowSkipped || credbatch.HasErrors(row.Findings),
				Attributes: attributes(def, row.Attributes), Evidence: rowEvidence(b, row)}
			if v.Editable && def.Evidence.EffectivePolicy() != credbatch.EvidenceNone && (row.Status == credbatch.RowValid || row.Status == credbatch.RowInvalid) {
				rv.CanAttach, rv.Accept = true, acceptOf(def.Evidence)
			}
			v.Rows = append(v.Rows, rv)
		}
		v.RowsNext = p.Next
	}
	if b.Counts.Issued+b.Counts.Revoked+b.Counts.Failed > 0 || b.Status == credbatch.BatchIssuing {
		cursor := q.Get("creds")
		for scans := 0; scans < 20; scans++ {
			p, err := h.d.Store.ListCredentialsByBatch(ctx, b.ID, cursor, RowsPerPage)
			if err != nil {
				h.fail(w, r, fmt.Errorf("list credentials of %s: %w", b.ID, err))
				return
			}
			for _, c := range p.Items {
				cv := credView{Credential: c, Problem: slices.Contains(problemEmails, c.EmailStatus)}
				if v.IsAdmin {
					if ev, err := issuance.EvidenceOf(c); err == nil {
						cv.Evidence = ev.Name
					}
				}
				if v.Delivery == "bounced" && c.EmailStatus != credbatch.EmailBounced && c.EmailStatus != credbatch.EmailSoftBounce {
					continue
				}
				v.Creds = append(v.Creds, cv)
			}
			v.CredNext, cursor = p.Next, p.Next
			if p.Next == "" || v.Delivery == "" || len(v.Creds) >= RowsPerPage {
				break
			}
		}
	}
	if b.Status == credbatch.BatchReceived {
		// Follow the batch while the file is read.
		w.Header().Set("Refresh", "2")
	}
	title := orID(b.Label, b.ID)
	pg := page{Title: title + " · credbatch", Noindex: true, V: v}
	if slices.ContainsFunc(v.Rows, func(r rowView) bool { return r.CanAttach }) {
		pg.Script = h.evidenceJS
	}
	h.render(w, r, status, "batch", pg)
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// assignment prepares the column-assignment step: every header of the file with its current
// field (the synonyms' best guess when the file could not be mapped), for a batch that needs
// mapping or has columns nothing reads.
func (h *handler) assignment(r *http.Request, v *batchView, defs map[string]credbatch.Definition) error {
	b := v.Batch
	if !v.IsIssuer || (b.Status != credbatch.BatchNeedsMapping && b.Status != credbatch.BatchParsed && b.Status != credbatch.BatchRejected) || b.Source.Key == "" {
		return nil
	}
	unknown := slices.ContainsFunc(b.Columns, func(c credbatch.Column) bool { return c.Field == "" })
	if b.Status != credbatch.BatchNeedsMapping && !unknown {
		return nil
	}
	v.Assign = true
	v.Fields = fieldChoices(defs)
	if b.Status != credbatch.BatchNeedsMapping {
		for _, c := range b.Columns {
			f := c.Field
			if f == "" {
				f = guessField(c.Header, defs)
			}
			v.Columns = append(v.Columns, columnView{Header: c.Header, Current: f})
		}
		return nil
	}
	headers, err := h.d.Ingest.Headers(r.Context(), b)
	if err != nil {
		if httpapi.StatusOf(err) < 500 {
			v.Error = "The file's header row could not be read: " + credbatch.ErrorMessage(err)
			v.Assign = false
			return nil
		}
		return err
	}
	for _, hd := range headers {
		f := b.Options.Mapping[hd]
		if f == "" {
			f = guessField(hd, defs)
		}
		v.Columns = append(v.Columns, columnView{Header: hd, Current: f})
	}
	return nil
}

// fieldChoices are the fields a column can be assigned to: the built-ins, each definition's
// attributes, and Skip.
func fieldChoices(defs map[string]credbatch.Definition) []fieldChoice {
	var out []fieldChoice
	for _, bf := range credbatch.BuiltinFields {
		out = append(out, fieldChoice{bf.Field, bf.Header})
	}
	seen := map[string]bool{}
	for _, id := range slices.Sorted(mapsKeys(defs)) {
		for _, a := range defs[id].Attributes {
			if !seen[a.Name] {
				seen[a.Name] = true
				out = append(out, fieldChoice{credbatch.AttributeField(a.Name), a.Name + " (attribute)"})
			}
		}
	}
	return append(out, fieldChoice{credbatch.FieldSkip, "Skip this column"})
}

// guessField is the synonyms' best guess for a header: a built-in field or an attribute
// whose name matches once case, spaces and punctuation are ignored; Skip otherwise.
func guessField(header string, defs map[string]credbatch.Definition) credbatch.Field {
	n := credbatch.NormalizeHeader(header)
	for _, bf := range credbatch.BuiltinFields {
		for _, syn := range bf.Headers {
			if credbatch.NormalizeHeader(syn) == n {
				return bf.Field
			}
		}
	}
	for _, d := range defs {
		for _, a := range d.Attributes {
			if credbatch.NormalizeHeader(a.Name) == n {
				return credbatch.AttributeField(a.Name)
			}
		}
	}
	return credbatch.FieldSkip
}

// batchActions are the form posts of the batch page and the roles each needs.
var batchActions = map[string][]auth.Role{
	"submit": issuerRole, "submit-valid": issuerRole, "cancel": issuerRole, "resume": issuerRole, "retry": issuerRole,
	"revoke": issuerRole, "revoke-one": issuerRole, "resend": issuerRole, "mapping": issuerRole,
	"approve": approverRole, "reject": approverRole, "request-changes": approverRole,
	"remove-evidence": nil, // administrators only
}

// batchAction serves POST /batches/{id}/{action}: each calls one use case and comes back
// to the batch page with its outcome.
func (h *handler) batchAction(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	roles, known := batchActions[action]
	if !known {
		h.message(w, r, http.StatusNotFound, "Page not found", "There is no page at this address.")
		return
	}
	if !h.parseForm(w, r) {
		return
	}
	s, ok := h.requireRole(w, r, roles...)
	if !ok {
		return
	}
	ctx := r.Context()
	id := r.PathValue("id")
	by := s.Principal.Name()
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	var (
		err  error
		done string
		to   = batchLink(id)
	)
	switch action {
	case "submit", "submit-valid":
		_, err = h.d.Actions.Submit(ctx, id, action == "submit-valid")
		done = "submitted"
	case "cancel":
		if reason == "" {
			reason = "cancelled"
		}
		_, err = h.d.Actions.Cancel(ctx, id, by+": "+reason)
		done = "cancelled"
	case "resume":
		_, err = h.d.Actions.Resume(ctx, id)
		done = "resumed"
	case "retry":
		_, err = h.d.Actions.Retry(ctx, id)
		done = "retried"
	case "revoke":
		_, _, err = h.d.Flow.RevokeBatch(ctx, id, by, reason)
		done = "revoked"
	case "revoke-one":
		_, err = h.d.Flow.Revoke(ctx, r.PostForm.Get("credential"), by, reason)
		done = "revoked"
	case "resend":
		_, err = h.d.Flow.Resend(ctx, r.PostForm.Get("credential"), r.PostForm.Get("email"))
		done = "resent"
	case "remove-evidence":
		var removed bool
		_, removed, err = h.d.Flow.RemoveEvidence(ctx, r.PostForm.Get("credential"), by, reason)
		done = "evidence-removed"
		if !removed {
			done = "evidence-gone"
		}
	case "approve":
		_, err = h.d.Actions.Approve(ctx, id, by)
		done = "approved"
	case "reject":
		_, err = h.d.Actions.Reject(ctx, id, by, reason)
		done = "rejected"
	case "request-changes":
		_, err = h.d.Actions.RequestChanges(ctx, id, by, reason)
		done = "changes"
	case "mapping":
		mapping := map[string]credbatch.Field{}
		for i := 0; ; i++ {
			hd, ok := r.PostForm["header-"+strconv.Itoa(i)]
			if !ok || len(hd) == 0 {
				break
			}
			mapping[hd[0]] = credbatch.Field(r.PostForm.Get("field-" + strconv.Itoa(i)))
		}
		var next string
		next, err = h.d.Ingest.Remap(ctx, id, by, mapping)
		done, to = "mapped", batchLink(next)
	}
	if err != nil {
		if httpapi.StatusOf(err) >= 500 {
			h.fail(w, r, fmt.Errorf("%s batch %s: %w", action, id, err))
			return
		}
		h.d.Log.InfoContext(ctx, "console action refused", "batch", id, "action", action, "code", credbatch.ErrorCode(err))
		h.showBatch(w, r, s, httpapi.StatusOf(err), credbatch.ErrorMessage(err))
		return
	}
	h.d.Log.InfoContext(ctx, "console action", "batch", id, "action", action, "by", s.Principal.Subject)
	http.Redirect(w, r, to+"?done="+done, http.StatusSeeOther)
}

// rowOf is the spreadsheet row number a row page's path names; false (answered 404) when
// it names none.
func (h *handler) rowOf(w http.ResponseWriter, r *http.Request) (int, bool) {
	number, err := strconv.Atoi(r.PathValue("row"))
	if err != nil {
		h.message(w, r, http.StatusNotFound, "Page not found", "There is no such row.")
		return 0, false
	}
	return number, true
}

// amendRow serves POST /batches/{id}/rows/{row}: the inline edit of a row, validated again.
func (h *handler) amendRow(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	s, ok := h.requireRole(w, r, issuerRole...)
	if !ok {
		return
	}
	id := r.PathValue("id")
	number, ok := h.rowOf(w, r)
	if !ok {
		return
	}
	values := map[string]string{}
	for i := 0; ; i++ {
		hd, ok := r.PostForm["header-"+strconv.Itoa(i)]
		if !ok || len(hd) == 0 {
			break
		}
		values[hd[0]] = r.PostForm.Get("cell-" + strconv.Itoa(i))
	}
	if _, _, err := h.d.Ingest.AmendRow(r.Context(), id, number, values); err != nil {
		if httpapi.StatusOf(err) >= 500 {
			h.fail(w, r, err)
			return
		}
		h.showBatch(w, r, s, httpapi.StatusOf(err), fmt.Sprintf("Row %d was not saved: %s", number, credbatch.ErrorMessage(err)))
		return
	}
	back := url.Values{"done": {"amended"}}
	if sh := r.PostForm.Get("show"); sh == "invalid" {
		back.Set("show", sh)
	}
	http.Redirect(w, r, batchLink(id)+"?"+back.Encode()+"#row-"+strconv.Itoa(number), http.StatusSeeOther)
}

// attachEvidence serves POST /batches/{id}/rows/{row}/evidence (multipart, the file in
// "file"): the row's evidence file attached or replaced (ingest.Service.AttachEvidence),
// before the batch is submitted.
func (h *handler) attachEvidence(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, credbatch.MaxEvidenceMaxBytes+1<<20)
	err := r.ParseMultipartForm(8 << 20)
	if errors.Is(err, http.ErrNotMultipart) {
		err = r.ParseForm() // a form without its file: refused below
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.message(w, r, http.StatusRequestEntityTooLarge, "File too large", fmt.Sprintf("Evidence files are at most %d MB.", credbatch.MaxEvidenceMaxBytes>>20))
			return
		}
		if _, ok := h.requireRole(w, r, issuerRole...); ok {
			h.message(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		}
		return
	}
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	s, ok := h.requireRole(w, r, issuerRole...)
	if !ok {
		return
	}
	id := r.PathValue("id")
	number, ok := h.rowOf(w, r)
	if !ok {
		return
	}
	var files []*multipart.FileHeader
	if r.MultipartForm != nil {
		files = r.MultipartForm.File["file"]
	}
	if len(files) == 0 {
		h.showBatch(w, r, s, http.StatusBadRequest, fmt.Sprintf("Row %d: choose the evidence file to attach.", number))
		return
	}
	f, err := files[0].Open()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	_, _, err = h.d.Ingest.AttachEvidence(r.Context(), id, number, files[0].Filename, f, s.Principal.Name())
	h.evidenceAttached(w, r, s, id, number, err)
}

// presignRowEvidence serves POST /batches/{id}/rows/{row}/evidence/presign (csrf, size): the
// presigned PUT the batch page's script sends a row's evidence file to, bound to its size
// (ingest.Service.PresignEvidence); JSON, as POST /upload/presign.
func (h *handler) presignRowEvidence(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.requireRole(w, r, issuerRole...); !ok {
		return
	}
	number, err := strconv.Atoi(r.PathValue("row"))
	if err != nil {
		h.jsonError(w, r, credbatch.E(credbatch.KindInvalid, "invalid_row", "the row is its spreadsheet row number (2 or more)"))
		return
	}
	size, err := strconv.ParseInt(r.FormValue("size"), 10, 64)
	if err != nil {
		h.jsonError(w, r, credbatch.E(credbatch.KindInvalid, "invalid_size", "give the file's size in bytes"))
		return
	}
	up, err := h.d.Ingest.PresignEvidence(r.Context(), r.PathValue("id"), number, size)
	if err != nil {
		h.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, up)
}

// confirmRowEvidence serves POST /batches/{id}/rows/{row}/evidence/confirm (csrf, key, name):
// the file the script sent to the presigned URL is checked and attached to the row
// (ingest.Service.ConfirmEvidence), and the browser comes back to the batch page.
func (h *handler) confirmRowEvidence(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	s, ok := h.requireRole(w, r, issuerRole...)
	if !ok {
		return
	}
	id := r.PathValue("id")
	number, ok := h.rowOf(w, r)
	if !ok {
		return
	}
	_, _, err := h.d.Ingest.ConfirmEvidence(r.Context(), id, number, r.PostForm.Get("key"), r.PostForm.Get("name"), s.Principal.Name())
	h.evidenceAttached(w, r, s, id, number, err)
}

// evidenceAttached answers an evidence form: back to the row on the batch page, or the page
// with the reason the file was refused.
func (h *handler) evidenceAttached(w http.ResponseWriter, r *http.Request, s caller, id string, number int, err error) {
	if err != nil {
		if httpapi.StatusOf(err) >= 500 {
			h.fail(w, r, err)
			return
		}
		h.showBatch(w, r, s, httpapi.StatusOf(err), fmt.Sprintf("Row %d: the evidence file was not attached: %s", number, credbatch.ErrorMessage(err)))
		return
	}
	back := url.Values{"done": {"evidence"}}
	if sh := r.PostForm.Get("show"); sh == "invalid" {
		back.Set("show", sh)
	}
	http.Redirect(w, r, batchLink(id)+"?"+back.Encode()+"#row-"+strconv.Itoa(number), http.StatusSeeOther)
}
