package pages

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/workbook"
)

// catalogueView lists the definitions with their versions and template downloads.
type catalogueView struct {
	Nav    nav
	Notice string
	Defs   []defVersions
}

type defVersions struct {
	credbatch.Definition
	Versions []int
	Timeout  string
}

// catalogue serves GET /catalogue.
func (h *handler) catalogue(w http.ResponseWriter, r *http.Request) {
	s, ok := h.requireRole(w, r, anyRole...)
	if !ok {
		return
	}
	defs, err := h.d.Store.ListDefinitions(r.Context(), false)
	if err != nil {
		h.fail(w, r, fmt.Errorf("list definitions: %w", err))
		return
	}
	v := catalogueView{Nav: navFor(s, "catalogue"), Notice: notice(r)}
	for _, d := range defs {
		dv := defVersions{Definition: d}
		for i := d.Version; i >= 1 && len(dv.Versions) < 10; i-- {
			dv.Versions = append(dv.Versions, i)
		}
		v.Defs = append(v.Defs, dv)
	}
	h.render(w, r, http.StatusOK, "catalogue", page{Title: "Catalogue · credbatch", Noindex: true, V: v})
}

// definitionForm serves GET /catalogue/{id} (a definition and one of its versions).
func (h *handler) definitionForm(w http.ResponseWriter, r *http.Request) {
	s, ok := h.requireRole(w, r, anyRole...)
	if !ok {
		return
	}
	id := r.PathValue("id")
	ver, _ := strconv.Atoi(r.URL.Query().Get("version"))
	d, err := h.d.Store.GetDefinition(r.Context(), id, ver)
	if err != nil {
		if httpapi.StatusOf(err) < 500 {
			h.message(w, r, httpapi.StatusOf(err), "Definition not found", credbatch.ErrorMessage(err))
			return
		}
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "definition", page{Title: d.Name + " · credbatch", Noindex: true,
		V: struct {
			Nav    nav
			Notice string
			Def    credbatch.Definition
		}{navFor(s, "catalogue"), notice(r), d}})
}

// definitionTemplate serves GET /catalogue/{id}/template?format=xlsx|csv.
func (h *handler) definitionTemplate(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.requireRole(w, r, anyRole...); !ok {
		return
	}
	d, err := h.d.Store.GetDefinition(r.Context(), r.PathValue("id"), 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.template(w, r, []credbatch.Definition{d}, d.ID)
}

// combinedTemplate serves GET /catalogue/template?ids=a&ids=b: one workbook with an ID column.
func (h *handler) combinedTemplate(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.requireRole(w, r, anyRole...); !ok {
		return
	}
	var defs []credbatch.Definition
	seen := map[string]bool{}
	for _, id := range r.URL.Query()["ids"] {
		if id = strings.TrimSpace(id); id == "" || seen[id] {
			continue
		}
		seen[id] = true
		d, err := h.d.Store.GetDefinition(r.Context(), id, 0)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		defs = append(defs, d)
	}
	if len(defs) == 0 {
		h.message(w, r, http.StatusBadRequest, "Nothing selected", "Tick the definitions to put in one template, then choose Download combined template.")
		return
	}
	name := "credbatch-template"
	if len(defs) == 1 {
		name = defs[0].ID
	}
	h.template(w, r, defs, name)
}

func (h *handler) template(w http.ResponseWriter, r *http.Request, defs []credbatch.Definition, name string) {
	var buf bytes.Buffer
	var ctype string
	switch r.URL.Query().Get("format") {
	case "csv":
		if err := workbook.TemplateCSV(&buf, defs); err != nil {
			h.fail(w, r, err)
			return
		}
		ctype, name = "text/csv; charset=utf-8", name+".csv"
	default:
		if err := workbook.TemplateXLSX(&buf, defs); err != nil {
			h.fail(w, r, err)
			return
		}
		ctype, name = ingest.ContentTypeXLSX, name+".xlsx"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}

// uploadView is the upload form.
type uploadView struct {
	Nav      nav
	Error    string
	Defs     []credbatch.Definition
	Def      string
	Label    string
	Order    string
	Sheet    string
	Replaces string
}

// uploadForm serves GET /upload (?replaces=<batch> for a corrected file).
func (h *handler) uploadForm(w http.ResponseWriter, r *http.Request) {
	s, ok := h.requireRole(w, r, issuerRole...)
	if !ok {
		return
	}
	q := r.URL.Query()
	h.showUpload(w, r, http.StatusOK, uploadView{Nav: navFor(s, "upload"), Def: q.Get("definition"), Replaces: q.Get("replaces"), Label: q.Get("label")})
}

func (h *handler) showUpload(w http.ResponseWriter, r *http.Request, status int, v uploadView) {
	defs, err := h.d.Store.ListDefinitions(r.Context(), false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v.Defs = defs
	h.render(w, r, status, "upload", page{Title: "Upload a file · credbatch", Noindex: true, Script: h.uploadJS, V: v})
}

// upload serves POST /upload (multipart): the file goes under uploads/ with its options as
// metadata, exactly as a presigned API upload does, and the browser follows the batch.
func (h *handler) upload(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, h.d.MaxUploadBytes+1<<20)
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.message(w, r, http.StatusRequestEntityTooLarge, "File too large", fmt.Sprintf("Upload files of at most %d MB here.", h.d.MaxUploadBytes>>20))
			return
		}
		if _, ok := h.requireRole(w, r, issuerRole...); ok {
			h.message(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		}
		return
	}
	defer r.MultipartForm.RemoveAll()
	s, ok := h.requireRole(w, r, issuerRole...)
	if !ok {
		return
	}
	f := r.MultipartForm
	v := uploadView{Nav: navFor(s, "upload"), Def: r.FormValue("definition"), Label: r.FormValue("label"),
		Order: r.FormValue("date_order"), Sheet: r.FormValue("sheet"), Replaces: r.FormValue("replaces")}
	files := f.File["file"]
	if len(files) == 0 {
		v.Error = "Choose a file (or drop one on the box)."
		h.showUpload(w, r, http.StatusBadRequest, v)
		return
	}
	file, err := files[0].Open()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer file.Close()
	up := ingest.Upload{Filename: files[0].Filename, DefinitionID: v.Def, Uploader: s.Principal.Name(),
		Label: v.Label, DateOrder: v.Order, Sheet: v.Sheet, Replaces: v.Replaces}
	if zips := f.File["evidence_zip"]; len(zips) > 0 && zips[0].Size > 0 {
		z, err := zips[0].Open()
		if err != nil {
			h.fail(w, r, err)
			return
		}
		defer z.Close()
		up.EvidenceZip = z // stored beside the file, before it
	}
	id, err := h.d.Ingest.PutUpload(r.Context(), up, file)
	if err != nil {
		if httpapi.StatusOf(err) >= 500 {
			h.fail(w, r, err)
			return
		}
		v.Error = credbatch.ErrorMessage(err)
		h.showUpload(w, r, httpapi.StatusOf(err), v)
		return
	}
	http.Redirect(w, r, batchLink(id)+"?done=uploaded", http.StatusSeeOther)
}

// presignResponse is what the upload page's script gets from POST /upload/presign: the
// presigned PUT (send every header, and exactly the declared size) and the page to open
// once the bucket has the file.
type presignResponse struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Key       string            `json:"key"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expires_at"`
	Next      string            `json:"next,omitempty"`
}

// presignUpload serves POST /upload/presign (the upload form's fields without the file,
// plus filename and size): a presigned PUT straight into uploads/, bound to the key, the
// content type, the options as metadata, the uploader and the file's exact size, so that a
// file of any allowed size skips the api function (its payload limit is about 6 MB). It
// takes the session cookie and the form's CSRF token, which the API's authorizer does not.
// With key (the one an earlier answer gave) it signs that upload again, once its evidence
// zip is there (ingest.RenewUpload): the script asks again after sending the zip.
func (h *handler) presignUpload(w http.ResponseWriter, r *http.Request) {
	s, ok := h.requireRole(w, r, issuerRole...)
	if !ok {
		return
	}
	size, err := strconv.ParseInt(r.FormValue("size"), 10, 64)
	switch {
	case err != nil:
		h.jsonError(w, r, credbatch.E(credbatch.KindInvalid, "invalid_size", "give the file's size in bytes"))
		return
	case size == 0:
		h.jsonError(w, r, credbatch.E(credbatch.KindInvalid, credbatch.CodeEmptyFile, "the file is empty; choose the filled-in file"))
		return
	}
	u := ingest.Upload{Filename: r.FormValue("filename"), DefinitionID: r.FormValue("definition"),
		Uploader: s.Principal.Name(), Label: r.FormValue("label"), DateOrder: r.FormValue("date_order"), Sheet: r.FormValue("sheet"),
		Replaces: r.FormValue("replaces"), Size: size}
	var up ingest.Presigned
	if key := r.FormValue("key"); key != "" {
		up, err = h.d.Ingest.RenewUpload(r.Context(), u, key, h.d.UploadTTL) // the spreadsheet after its zip
	} else {
		up, err = h.d.Ingest.PresignUpload(r.Context(), u, issuance.NewID(), h.d.UploadTTL)
	}
	if err != nil {
		h.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, presignResponse{URL: up.URL, Method: http.MethodPut, Key: up.Key, Headers: up.Headers,
		ExpiresAt: up.ExpiresAt, Next: "/upload/done?key=" + url.QueryEscape(up.Key)})
}

// presignEvidenceZip serves POST /upload/evidence-zip (csrf, key: the spreadsheet's, as
// POST /upload/presign gave it, size): a presigned PUT of the spreadsheet's evidence zip
// (its key plus .zip), which the upload page's script sends before the spreadsheet.
func (h *handler) presignEvidenceZip(w http.ResponseWriter, r *http.Request) {
	s, ok := h.requireRole(w, r, issuerRole...)
	if !ok {
		return
	}
	size, err := strconv.ParseInt(r.FormValue("size"), 10, 64)
	switch {
	case err != nil:
		h.jsonError(w, r, credbatch.E(credbatch.KindInvalid, "invalid_size", "give the zip's size in bytes"))
		return
	case size == 0:
		h.jsonError(w, r, credbatch.E(credbatch.KindInvalid, credbatch.CodeEmptyFile, "the zip is empty; choose the zip of the evidence files"))
		return
	}
	up, err := h.d.Ingest.PresignEvidenceZip(r.Context(), r.FormValue("key"), s.Principal.Name(), size, h.d.UploadTTL)
	if err != nil {
		h.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, presignResponse{URL: up.URL, Method: http.MethodPut, Key: up.Key, Headers: up.Headers, ExpiresAt: up.ExpiresAt})
}

// uploadDone serves GET /upload/done?key=: where the script goes once its PUT succeeded.
// It sends the uploader to the batch the object becomes (404 for an object that is not
// there or that someone else uploaded).
func (h *handler) uploadDone(w http.ResponseWriter, r *http.Request) {
	s, ok := h.requireRole(w, r, issuerRole...)
	if !ok {
		return
	}
	id, err := h.d.Ingest.UploadedBatch(r.Context(), r.URL.Query().Get("key"), s.Principal.Name())
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		h.message(w, r, http.StatusNotFound, "Upload not found", "No file of yours arrived under this name. Upload it again.")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, batchLink(id)+"?done=uploaded", http.StatusSeeOther)
}

// jsonError answers a script's request with the error's status and {"code","error"};
// internal errors are logged and say only "internal error".
func (h *handler) jsonError(w http.ResponseWriter, r *http.Request, err error) {
	status := httpapi.StatusOf(err)
	body := map[string]string{"code": credbatch.ErrorCode(err), "error": credbatch.ErrorMessage(err)}
	if status >= 500 {
		h.d.Log.ErrorContext(r.Context(), "console request", "path", r.URL.Path, "err", err)
		body = map[string]string{"code": "internal", "error": "Something went wrong. Try again in a moment."}
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// manualView is the manual entry form: one block of fields per recipient.
type manualView struct {
	Nav        nav
	Error      string
	Findings   []credbatch.Finding
	Defs       []credbatch.Definition
	Def        credbatch.Definition
	Label      string
	Key        string
	Recipients []manualRecipient
}

type manualRecipient struct {
	N          int
	First      string
	Last       string
	Email      string
	IssueDate  string
	Expiry     string
	Attributes []attrView
}

// manualForm serves GET /new-batch?definition=<id>.
func (h *handler) manualForm(w http.ResponseWriter, r *http.Request) {
	s, ok := h.requireRole(w, r, issuerRole...)
	if !ok {
		return
	}
	v := manualView{Nav: navFor(s, "manual"), Key: "console-" + newKey()}
	h.showManual(w, r, http.StatusOK, v, r.URL.Query().Get("definition"), 1)
}

func (h *handler) showManual(w http.ResponseWriter, r *http.Request, status int, v manualView, defID string, n int) {
	defs, err := h.d.Store.ListDefinitions(r.Context(), false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v.Defs = defs
	for _, d := range defs {
		if d.ID == defID || (defID == "" && v.Def.ID == "") {
			v.Def = d
		}
	}
	for len(v.Recipients) < n {
		rc := manualRecipient{N: len(v.Recipients)}
		for _, a := range v.Def.Attributes {
			rc.Attributes = append(rc.Attributes, attrView{Name: a.Name})
		}
		v.Recipients = append(v.Recipients, rc)
	}
	h.render(w, r, status, "manual", page{Title: "New batch · credbatch", Noindex: true, V: v})
}

// manual serves POST /new-batch: "add another recipient" redraws the form with one more
// block; "create" creates the batch through the JSON API's path, the form's idempotency key
// making a double submit one batch.
func (h *handler) manual(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	s, ok := h.requireRole(w, r, issuerRole...)
	if !ok {
		return
	}
	f := r.PostForm
	v := manualView{Nav: navFor(s, "manual"), Label: f.Get("label"), Key: f.Get("key")}
	if v.Key == "" {
		v.Key = "console-" + newKey()
	}
	defID := f.Get("definition")
	count, _ := strconv.Atoi(f.Get("count"))
	count = max(1, min(count, 200))
	var recs []ingest.Recipient
	for i := range count {
		p := strconv.Itoa(i) + "-"
		mr := manualRecipient{N: i, First: f.Get(p + "first"), Last: f.Get(p + "last"), Email: f.Get(p + "email"),
			IssueDate: f.Get(p + "issue"), Expiry: f.Get(p + "expiry")}
		rec := ingest.Recipient{FirstName: mr.First, LastName: mr.Last, Email: mr.Email, IssueDate: mr.IssueDate, Expiry: mr.Expiry,
			Attributes: map[string]string{}}
		for j := 0; ; j++ {
			name, ok := f[p+"attr-name-"+strconv.Itoa(j)]
			if !ok || len(name) == 0 {
				break
			}
			val := f.Get(p + "attr-" + strconv.Itoa(j))
			mr.Attributes = append(mr.Attributes, attrView{Name: name[0], Value: val})
			rec.Attributes[name[0]] = val
		}
		v.Recipients = append(v.Recipients, mr)
		recs = append(recs, rec)
	}
	if f.Get("add") != "" || f.Get("definition-changed") != "" {
		n := count + 1
		if f.Get("definition-changed") != "" {
			v.Recipients, n = nil, count
		}
		h.showManual(w, r, http.StatusOK, v, defID, n)
		return
	}
	b, _, err := h.d.Ingest.CreateBatch(r.Context(), ingest.NewBatch{IdempotencyKey: v.Key, Uploader: s.Principal.Name(), Label: v.Label,
		Via: "Manual entry", DefinitionID: defID, Recipients: recs})
	if err != nil {
		if httpapi.StatusOf(err) >= 500 {
			h.fail(w, r, err)
			return
		}
		v.Error = credbatch.ErrorMessage(err)
		h.showManual(w, r, httpapi.StatusOf(err), v, defID, count)
		return
	}
	http.Redirect(w, r, batchLink(b.ID)+"?done=created", http.StatusSeeOther)
}

// reconciliation serves GET /batches/{id}/reconciliation.xlsx: every row → credential →
// delivery, as a workbook.
func (h *handler) reconciliation(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.requireRole(w, r, anyRole...); !ok {
		return
	}
	id := r.PathValue("id")
	if _, err := h.d.Store.GetBatch(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := workbook.Cells(&buf, "Reconciliation", issuance.ReconciliationHeaders, issuance.Reconciliation(r.Context(), h.d.Store, id)); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ingest.ContentTypeXLSX)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": id + "-reconciliation.xlsx"}))
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}

// newKey is a fresh idempotency key for a form.
func newKey() string { return strings.ToLower(rand.Text()) }
