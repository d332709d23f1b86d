package pages

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/evidence"
	"github.com/credbatch/credbatch/shared/issuance"
)

// CredentialEvidencePattern serves a credential's evidence file at the URL its document
// names (credential.EvidenceURL).
const CredentialEvidencePattern = "GET /credentials/{id}/evidence/{n}"

// MaxStreamedEvidence is the largest evidence file served through this handler. A larger one
// is answered with a redirect to a short-lived presigned URL of the bucket: on Lambda the
// response is buffered and base64-encoded into a 6 MB payload, so about 4.5 MB of file is
// the most that fits.
const MaxStreamedEvidence = 4 << 20

// EvidenceLinkTTL is how long the presigned URL of a large evidence file works.
const EvidenceLinkTTL = 5 * time.Minute

// evidenceCSP is the Content-Security-Policy of a served evidence file: nothing it holds may
// load or run anything, and only this site's pages may embed it (the credential page's
// preview).
const evidenceCSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"

// credentialEvidence serves GET /credentials/{id}/evidence/1: the credential's evidence
// file, as stored (its bytes hash to the document's digestSRI). A revoked credential's
// evidence is 410 for the public and reachable for signed-in staff; a removed file is 410
// with a page that says so.
func (h *handler) credentialEvidence(w http.ResponseWriter, r *http.Request) {
	if h.d.Flow == nil || r.PathValue("n") != "1" {
		h.noEvidence(w, r)
		return
	}
	ctx := r.Context()
	ev, err := h.d.Flow.Evidence(ctx, r.PathValue("id"))
	if credbatch.IsKind(err, credbatch.KindNotFound) || credbatch.IsKind(err, credbatch.KindInvalid) {
		h.noEvidence(w, r)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	staff := false
	if c, err := h.authenticate(r); err == nil && c.Principal.Has(anyRole...) {
		staff = true
	}
	if ev.Credential.Status == credbatch.CredentialRevoked && !staff {
		h.message(w, r, http.StatusGone, "Evidence not available",
			"This credential was revoked, so its evidence is no longer shown. The credential page says more.")
		return
	}
	cache := "public, max-age=300"
	if ev.Credential.Status == credbatch.CredentialRevoked {
		cache = "private, no-store"
	}
	rc, info, err := h.d.Flow.OpenEvidence(ctx, ev)
	if err != nil {
		h.evidenceFailed(w, r, err)
		return
	}
	defer rc.Close()
	etag := `"` + ev.Digest + `"`
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", cache)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if info.Size > MaxStreamedEvidence {
		u, err := h.d.Flow.EvidenceLink(ctx, ev, EvidenceLinkTTL)
		if err != nil {
			h.evidenceFailed(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "private, no-store")
		http.Redirect(w, r, u, http.StatusFound)
		return
	}
	w.Header().Set("ETag", etag)
	if err := sendEvidenceFile(w, r, rc, info.Size, ev, cache, ev.Credential.Status == credbatch.CredentialRevoked); err != nil {
		h.d.Log.WarnContext(ctx, "evidence response cut short", "credential", ev.Credential.ID, "err", err)
	}
}

// sendEvidenceFile answers with a stored evidence file (the body only for GET): its media
// type, inline under a safe name, a Content-Security-Policy that lets it load and run
// nothing, embeddable by this site only; noindex keeps it out of search engines.
func sendEvidenceFile(w http.ResponseWriter, r *http.Request, body io.Reader, size int64, ev issuance.CredentialEvidence, cache string, noindex bool) error {
	hd := w.Header()
	hd.Set("Content-Type", ev.MediaType)
	hd.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": evidenceFileName(ev)}))
	hd.Set("Content-Security-Policy", evidenceCSP)
	hd.Set("X-Frame-Options", "SAMEORIGIN")
	hd.Set("Cache-Control", cache)
	hd.Set("Content-Length", strconv.FormatInt(size, 10))
	if noindex {
		hd.Set("X-Robots-Tag", "noindex")
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := io.Copy(w, body)
	return err
}

// evidenceFailed answers an error opening an evidence file: a removed file is 410.
func (h *handler) evidenceFailed(w http.ResponseWriter, r *http.Request, err error) {
	if credbatch.ErrorCode(err) == issuance.CodeEvidenceRemoved {
		h.message(w, r, http.StatusGone, "Evidence removed",
			"The issuer removed this credential's evidence file. The credential still records the file's digest, so a copy kept elsewhere can be checked against it.")
		return
	}
	h.fail(w, r, err)
}

func (h *handler) noEvidence(w http.ResponseWriter, r *http.Request) {
	h.message(w, r, http.StatusNotFound, "Evidence not found", "There is no evidence file at this address.")
}

// evidenceFileName is the file's name as the credential gives it, without characters file
// systems or headers refuse, ending in its media type's extension.
func evidenceFileName(ev issuance.CredentialEvidence) string {
	name := strings.Map(func(r rune) rune {
		if strings.ContainsRune(`/\:*?"<>|;`, r) || unicode.IsControl(r) {
			return '-'
		}
		return r
	}, strings.ToValidUTF8(ev.Name, ""))
	name = strings.TrimSpace(name)
	if len(name) > 120 {
		name = strings.ToValidUTF8(name[:120], "")
	}
	m, ok := credbatch.LookupMediaType(ev.MediaType)
	if named, nok := credbatch.MediaTypeOfName(name); ok && (!nok || named.Type != m.Type) {
		name += m.Ext
	}
	if name == "" || strings.HasPrefix(name, ".") {
		name = "evidence" + name
	}
	return name
}

// evidenceSize says a file size in words: "812 KB", "3.4 MB".
func evidenceSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d bytes", n)
	case n < 1000*1000:
		return fmt.Sprintf("%d KB", (n+500)/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// RowEvidencePattern serves a row's stored evidence file to signed-in staff before the
// batch is issued (the batch and review pages' previews); the public reaches a file only
// through its credential (CredentialEvidencePattern).
const RowEvidencePattern = "GET /batches/{id}/rows/{row}/evidence"

// evidenceView is one credential's or row's evidence as a page lists it.
type evidenceView struct {
	FileName  string // "" = no file
	FileURL   string // where the file is served ("" = not stored: named but not uploaded yet)
	MediaType string
	TypeName  string // "PNG image", "PDF"
	Size      string // in words ("" when unknown)
	Genre     string
	Image     bool // preview inline (img)
	PDF       bool
	Removed   bool   // an administrator deleted the file; the credential keeps its digest
	Digest    string // digestSRI, on the credential page
	Narrative string
	Link      string // an external page (Evidence URL)
	Withheld  bool   // the credential was revoked: its file is no longer shown to the public
	// Credential is the page of the credential a row became: its file is shown there (and
	// may have been removed since), not from the row.
	Credential string
}

// rowEvidence is a row's evidence for the batch and review pages (nil when it has none).
func rowEvidence(b credbatch.Batch, r credbatch.Row) *evidenceView {
	e := r.Evidence
	if e.Empty() {
		return nil
	}
	v := &evidenceView{Narrative: e.Narrative, Link: e.URL}
	if f := e.File; f != nil {
		v.FileName = f.Name
		if f.Stored() {
			v.MediaType, v.TypeName, v.Size, v.Genre = f.MediaType, evidence.TypeName(f.MediaType), evidenceSize(f.Size), credential.EvidenceGenre(f.MediaType)
			if r.CredentialID != "" {
				v.Credential = "/credentials/" + url.PathEscape(r.CredentialID)
			} else {
				v.FileURL = batchLink(b.ID) + "/rows/" + strconv.Itoa(r.Number) + "/evidence"
				v.Image, v.PDF = strings.HasPrefix(f.MediaType, "image/"), f.MediaType == "application/pdf"
			}
		}
	}
	return v
}

// rowEvidenceFile serves GET /batches/{id}/rows/{row}/evidence: a row's stored evidence file,
// to signed-in staff only (private, not cached), with the same protective headers as a
// credential's.
func (h *handler) rowEvidenceFile(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.requireRole(w, r, anyRole...); !ok {
		return
	}
	ctx := r.Context()
	n, err := strconv.Atoi(r.PathValue("row"))
	if err != nil {
		h.noEvidence(w, r)
		return
	}
	row, err := h.d.Store.GetRow(ctx, r.PathValue("id"), n)
	if credbatch.IsKind(err, credbatch.KindNotFound) || credbatch.IsKind(err, credbatch.KindInvalid) {
		h.noEvidence(w, r)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f := row.Evidence.FileNamed()
	if !f.Stored() || h.d.Ingest == nil || h.d.Ingest.Blob == nil {
		h.noEvidence(w, r)
		return
	}
	blob := h.d.Ingest.Blob
	rc, info, err := blob.Get(ctx, f.Key)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		h.noEvidence(w, r)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer rc.Close()
	if info.Size > MaxStreamedEvidence {
		u, err := blob.PresignGet(ctx, f.Key, EvidenceLinkTTL)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "private, no-store")
		http.Redirect(w, r, u, http.StatusFound)
		return
	}
	if err := sendEvidenceFile(w, r, rc, info.Size, issuance.CredentialEvidence{Name: f.Name, MediaType: f.MediaType}, "private, no-store", true); err != nil {
		h.d.Log.WarnContext(ctx, "evidence response cut short", "batch", row.BatchID, "row", row.Number, "err", err)
	}
}

// acceptOf is the accept attribute of a definition's evidence file input: its media types
// and their extensions.
func acceptOf(e credbatch.EvidenceSettings) string {
	var out []string
	for _, t := range e.Types() {
		out = append(out, t)
		if m, ok := credbatch.LookupMediaType(t); ok {
			out = append(out, m.Exts...)
		}
	}
	return strings.Join(out, ",")
}

// credentialEvidenceView is the evidence a credential's signed document lists, for its page:
// the file (a preview of an image, a link to a PDF; removed or withheld when so), the
// external link and the narrative. nil when the document lists none.
func (h *handler) credentialEvidenceView(ctx context.Context, c credbatch.Credential, list []credential.Evidence, revoked bool) (*evidenceView, error) {
	if len(list) == 0 {
		return nil, nil
	}
	v := &evidenceView{}
	for _, e := range list {
		switch {
		case e.DigestSRI != "" && v.FileName == "":
			v.FileName, v.Genre, v.MediaType, v.TypeName, v.Digest = e.Name, e.Genre, e.MediaType, evidence.TypeName(e.MediaType), e.DigestSRI
			v.FileURL = e.ID
			v.Image, v.PDF = strings.HasPrefix(e.MediaType, "image/"), e.MediaType == "application/pdf"
			if v.FileName == "" {
				v.FileName = "evidence"
			}
			if revoked {
				v.Withheld, v.FileURL = true, ""
			}
			if h.d.Flow != nil {
				ev, err := issuance.EvidenceOf(c)
				if err == nil {
					stored, serr := h.d.Flow.EvidenceStored(ctx, ev)
					if serr != nil {
						return nil, serr
					}
					v.Removed = !stored
				}
			}
		case e.ID != "" && v.Link == "":
			v.Link = e.ID
		}
		if v.Narrative == "" {
			v.Narrative = e.Narrative
		}
	}
	return v, nil
}
