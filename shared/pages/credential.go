package pages

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/credbatch/credbatch/shared/certificate"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
)

// credentialView is the public credential page.
type credentialView struct {
	ID          string
	URL         string
	Recipient   string
	Achievement string
	Description string
	Criteria    string
	Image       string
	IssuerName  string
	IssuerURL   string
	IssuerImage string // the issuer's logo
	IssueDate   string // YYYY-MM-DD
	ExpiryDate  string // YYYY-MM-DD, "" = never
	Attributes  []attrView

	Status        string // valid, expired, revoked, not_yet_valid, invalid
	StatusText    string
	RevokedReason string
	RevokedAt     string

	Verified     bool
	KeyID        string
	VerifyReason string

	JSONURL     string // the signed JSON-LD credential (Data Integrity proof): the primary download
	JSONName    string
	JWTURL      string // the same credential as an OB 3.0 VC-JWT
	JWTName     string
	PDFURL      string
	BadgeURL    string // "" when the badge is not offered (revoked, cannot be verified)
	LinkedInURL string

	Evidence *evidenceView // what the signed document lists as evidence (nil: none)
}

// statusLine is the status in one sentence, as the PDF prints it.
func (v credentialView) statusLine() string {
	switch v.Status {
	case "revoked":
		s := "Revoked"
		if v.RevokedAt != "" {
			s += " on " + humanDate(v.RevokedAt)
		}
		if v.RevokedReason != "" {
			s += ": " + v.RevokedReason
		}
		return s + "."
	case "expired":
		return "Expired on " + humanDate(v.ExpiryDate) + "."
	case "not_yet_valid":
		return "Valid from " + humanDate(v.IssueDate) + "."
	case "invalid":
		return "This credential cannot be verified."
	}
	return ""
}

type attrView struct {
	Name  string
	Value string
}

// credential serves GET /credentials/{id}: the recipient's public page.
func (h *handler) credential(w http.ResponseWriter, r *http.Request) {
	_, v, ok := h.load(w, r)
	if !ok {
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Referrer-Policy", "strict-origin-when-cross-origin")
	title := v.Achievement + " — " + v.Recipient
	desc := fmt.Sprintf("%s earned %s from %s on %s.", v.Recipient, v.Achievement, v.IssuerName, humanDate(v.IssueDate))
	if v.Description != "" {
		desc += " " + v.Description
	}
	meta := []metaTag{
		{Property: "og:title", Content: title},
		{Property: "og:description", Content: desc},
		{Property: "og:url", Content: v.URL},
		{Property: "og:type", Content: "website"},
		{Property: "og:site_name", Content: v.IssuerName},
		{Name: "twitter:card", Content: "summary"},
		{Name: "twitter:title", Content: title},
		{Name: "twitter:description", Content: desc},
		{Name: "description", Content: desc},
	}
	// The preview image: the achievement's own (when it is a web address), else the badge.
	img := v.Image
	if !strings.HasPrefix(img, "https://") {
		img = v.BadgeURL
	}
	if img != "" {
		meta = append(meta, metaTag{Property: "og:image", Content: img}, metaTag{Property: "og:image:alt", Content: "Badge of " + v.Achievement},
			metaTag{Name: "twitter:image", Content: img})
	}
	h.render(w, r, http.StatusOK, "credential", page{Title: title, Meta: meta, V: v, Script: h.copyJS})
}

// load reads a credential and builds its view; it writes the error page and returns false
// when it cannot.
func (h *handler) load(w http.ResponseWriter, r *http.Request) (credbatch.Credential, credentialView, bool) {
	ctx := r.Context()
	id := r.PathValue("id")
	c, err := h.d.Store.GetCredential(ctx, id)
	if credbatch.IsKind(err, credbatch.KindNotFound) || credbatch.IsKind(err, credbatch.KindInvalid) {
		h.notFound(w, r)
		return c, credentialView{}, false
	}
	if err != nil {
		h.fail(w, r, fmt.Errorf("load credential %s: %w", id, err))
		return c, credentialView{}, false
	}
	v, err := h.credentialView(ctx, c)
	if err != nil {
		h.fail(w, r, err)
		return c, v, false
	}
	return c, v, true
}

// credentialPDF serves GET /credentials/{id}/pdf: the certificate as a PDF, with its status
// as of now and a QR code to the page.
func (h *handler) credentialPDF(w http.ResponseWriter, r *http.Request) {
	c, v, ok := h.load(w, r)
	if !ok {
		return
	}
	expires := ""
	if v.ExpiryDate != "" {
		expires = humanDate(v.ExpiryDate)
	}
	data, err := certificate.PDF(certificate.View{Recipient: v.Recipient, Achievement: v.Achievement, Description: v.Description,
		IssuerName: v.IssuerName, Issued: humanDate(v.IssueDate), Expires: expires, Status: v.Status, StatusText: v.statusLine(),
		URL: v.URL, ID: c.ID, Created: h.d.Clock()})
	if err != nil {
		h.fail(w, r, fmt.Errorf("certificate of %s: %w", c.ID, err))
		return
	}
	download(w, "application/pdf", fileName(v, ".pdf"), data)
}

// credentialBadge serves GET /credentials/{id}/badge.png: the badge baked with the signed
// credential (OB 3.0 §5.3), for a credential that is valid or expired.
func (h *handler) credentialBadge(w http.ResponseWriter, r *http.Request) {
	c, v, ok := h.load(w, r)
	if !ok {
		return
	}
	if v.BadgeURL == "" {
		h.message(w, r, http.StatusGone, "Badge not available",
			"This credential was revoked or cannot be verified, so its badge is no longer offered. The credential page says more.")
		return
	}
	img, err := certificate.BadgeImage(v.Image, v.Achievement, v.IssuerName)
	if err == nil {
		img, err = certificate.Bake(img, c.JWT)
	}
	if err != nil {
		h.fail(w, r, fmt.Errorf("badge of %s: %w", c.ID, err))
		return
	}
	download(w, "image/png", fileName(v, ".png"), img)
}

// download writes a file the browser saves (inline for a preview crawler).
func download(w http.ResponseWriter, contentType, name string, data []byte) {
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// fileName is "<achievement> - <recipient><ext>" without characters file systems refuse.
func fileName(v credentialView, ext string) string {
	name := strings.Map(func(r rune) rune {
		if strings.ContainsRune(`/\:*?"<>|`, r) || unicode.IsControl(r) {
			return '-'
		}
		return r
	}, v.Achievement+" - "+v.Recipient)
	if len(name) > 120 {
		name = name[:120]
	}
	return strings.TrimSpace(strings.ToValidUTF8(name, "")) + ext
}

// emailAddress matches what looks like an email address in free text.
var emailAddress = regexp.MustCompile(`[^\s<>()@:,;]+@[^\s<>()@:,;]+\.[^\s<>()@:,;]+`)

// publicReason is a revocation reason as the public may read it: without the revoker
// ("who: why", as issuance records it) and without any email address.
func publicReason(reason string) string {
	if who, why, ok := strings.Cut(reason, ": "); ok && who != "" && !strings.ContainsAny(who, " \t") {
		reason = why
	}
	return strings.TrimSpace(emailAddress.ReplaceAllString(reason, "[address removed]"))
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.message(w, r, http.StatusNotFound, "Credential not found",
		"There is no credential at this address. Check that the link is complete, or ask the issuer for a new one.")
}

// credentialView verifies the credential and gathers what its page shows.
func (h *handler) credentialView(ctx context.Context, c credbatch.Credential) (credentialView, error) {
	iss := h.d.Issuer
	v := credentialView{
		ID: c.ID, URL: iss.CredentialURL(c.ID), Recipient: c.Name,
		IssueDate: c.IssueDate, ExpiryDate: c.ExpiryDate,
		JWTURL: iss.CredentialURL(c.ID) + "/jwt", JSONURL: iss.CredentialURL(c.ID) + "/json",
		PDFURL: iss.CredentialURL(c.ID) + "/pdf",
	}
	def, derr := h.d.Store.GetDefinition(ctx, c.DefinitionID, c.DefinitionVer)
	if derr != nil && !credbatch.IsKind(derr, credbatch.KindNotFound) {
		return v, fmt.Errorf("load definition %s v%d: %w", c.DefinitionID, c.DefinitionVer, derr)
	}
	if derr == nil {
		iss = iss.For(def)
		v.Achievement, v.Description, v.Criteria, v.Image = def.Name, def.Description, def.Criteria, def.Image
		v.Attributes = attributes(def, c.Attributes)
	}
	v.IssuerName, v.IssuerURL, v.IssuerImage = iss.Name, iss.URL, iss.Image

	now := h.d.Clock()
	res, err := h.verify(ctx, c.JWT, now)
	if err != nil {
		return v, err
	}
	if res.Status != credential.StatusInvalid {
		// The signature verified: show what was signed.
		doc := res.Document
		a := doc.CredentialSubject.Achievement
		v.Achievement, v.Description, v.Criteria = a.Name, a.Description, a.Criteria.Narrative
		if a.Image != nil {
			v.Image = a.Image.ID
		}
		if doc.Issuer.Name != "" {
			v.IssuerName, v.IssuerURL = doc.Issuer.Name, doc.Issuer.URL
		}
		if doc.Issuer.Image != nil {
			v.IssuerImage = doc.Issuer.Image.ID
		}
		v.Verified, v.KeyID = true, keyID(res.KeyID)
	} else {
		v.VerifyReason = res.Reason
	}
	if derr != nil && !v.Verified {
		v.Achievement = c.DefinitionID
	}

	switch {
	case c.Status == credbatch.CredentialRevoked || res.Status == credential.StatusRevoked:
		v.Status, v.StatusText = "revoked", "Revoked"
		v.RevokedReason = publicReason(c.RevokedReason)
		if !c.RevokedAt.IsZero() {
			v.RevokedAt = c.RevokedAt.UTC().Format(time.DateOnly)
		}
	case res.Status == credential.StatusExpired || (c.ExpiryDate != "" && c.ExpiryDate < now.UTC().Format(time.DateOnly)):
		v.Status, v.StatusText = "expired", "Expired"
	case res.Status == credential.StatusNotYetValid:
		v.Status, v.StatusText = "not_yet_valid", "Not yet valid"
	case res.Status == credential.StatusInvalid:
		v.Status, v.StatusText = "invalid", "Cannot be verified"
	default:
		v.Status, v.StatusText = "valid", "Valid"
	}
	if res.Status != credential.StatusInvalid {
		if v.Evidence, err = h.credentialEvidenceView(ctx, c, res.Document.Evidence, v.Status == "revoked"); err != nil {
			return v, err
		}
	}
	if v.Status == "valid" || v.Status == "expired" {
		v.LinkedInURL = linkedInURL(v, c.ID)
		v.BadgeURL = v.URL + "/badge.png"
	}
	// The primary download is the JSON-LD credential with its Data Integrity proof (what
	// wallets import), then its VC-JWT when one was stored at issuance (credentials issued
	// before that have none); a credential of the earlier format has only its JWS.
	v.JWTName = fileName(v, ".jwt")
	if strings.HasPrefix(c.JWT, "{") {
		v.JSONName = fileName(v, ".json")
		if c.JWTDetached == "" {
			v.JWTURL, v.JWTName = "", ""
		}
	}
	return v, nil
}

// verify checks the credential against the published keys and the status list; when the
// status list cannot be read, it still checks the signature and dates (the store's own
// revocation flag is shown either way).
func (h *handler) verify(ctx context.Context, token string, now time.Time) (credential.Result, error) {
	status, err := h.statusChecker(ctx)
	if err != nil {
		h.d.Log.WarnContext(ctx, "status list unavailable; verifying without it", "err", err)
		status = nil
	}
	res, err := credential.NewVerifier(h.d.Keys, status).Verify(ctx, token, now)
	if err != nil {
		return res, fmt.Errorf("verify credential: %w", err)
	}
	return res, nil
}

// keyID strips a DID URL down to its fragment, the key's thumbprint.
func keyID(kid string) string {
	if i := strings.LastIndex(kid, "#"); i >= 0 {
		return kid[i+1:]
	}
	return kid
}

// attributes lists a credential's attribute values in definition order.
func attributes(d credbatch.Definition, values map[string]string) []attrView {
	var out []attrView
	for _, a := range d.Attributes {
		if val := values[a.Name]; val != "" {
			if a.Type == credbatch.AttrDate {
				val = humanDate(val)
			}
			out = append(out, attrView{Name: a.Name, Value: val})
		}
	}
	return out
}

// linkedInURL is LinkedIn's "Add to profile" link for a certification.
func linkedInURL(v credentialView, id string) string {
	q := []string{
		"startTask=CERTIFICATION_NAME",
		"name=" + url.QueryEscape(v.Achievement),
		"organizationName=" + url.QueryEscape(v.IssuerName),
	}
	if t, err := time.Parse(time.DateOnly, v.IssueDate); err == nil {
		q = append(q, fmt.Sprintf("issueYear=%d", t.Year()), fmt.Sprintf("issueMonth=%d", int(t.Month())))
	}
	if t, err := time.Parse(time.DateOnly, v.ExpiryDate); err == nil {
		q = append(q, fmt.Sprintf("expirationYear=%d", t.Year()), fmt.Sprintf("expirationMonth=%d", int(t.Month())))
	}
	q = append(q, "certUrl="+url.QueryEscape(v.URL), "certId="+url.QueryEscape(id))
	return "https://www.linkedin.com/profile/add?" + strings.Join(q, "&")
}
