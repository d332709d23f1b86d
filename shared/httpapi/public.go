package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
)

// ContentTypeVCJWT is the media type of a signed credential (VC-JOSE-COSE).
const ContentTypeVCJWT = "application/" + credential.MediaType

//go:embed openapi.json
var openAPIDoc []byte

// credentialJWT serves the credential as an OB 3.0 VC-JWT (ES256), signed when it was issued
// and stored detached: the header and signature as stored, the payload rebuilt from the
// stored document (credential.AttachJWT). Nothing is signed here. A credential of the earlier
// format is served as the JWS it was issued as; one issued before the VC-JWT was stored gets
// 404 jwt_not_stored, pointing to its JSON-LD form.
func (a *API) credentialJWT(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	c, err := a.d.Store.GetCredential(r.Context(), r.PathValue("id"))
	if err != nil {
		return fmt.Errorf("load credential %s: %w", r.PathValue("id"), err)
	}
	token, err := storedJWT(c)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ContentTypeVCJWT)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write([]byte(token))
	return nil
}

// storedJWT returns the VC-JWT of a stored credential (see credentialJWT).
func storedJWT(c credbatch.Credential) (string, error) {
	if !strings.HasPrefix(c.JWT, "{") {
		return c.JWT, nil
	}
	if c.JWTDetached == "" {
		return "", credbatch.E(credbatch.KindNotFound, "jwt_not_stored", fmt.Sprintf(
			"credential %s was issued before VC-JWTs were signed at issuance, so it has none; get it as JSON-LD with its Data Integrity proof at /credentials/%s/json (it verifies the same way), or ask the issuer to re-issue it", c.ID, c.ID))
	}
	token, err := credential.AttachJWT([]byte(c.JWT), c.JWTDetached)
	if err != nil {
		return "", fmt.Errorf("credential %s as a JWT: %w", c.ID, internal(err))
	}
	return token, nil
}

// credentialJSON serves the signed document: the JSON-LD credential with its Data Integrity
// proof (for a credential of the earlier format, the payload of its JWS).
func (a *API) credentialJSON(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	c, err := a.d.Store.GetCredential(r.Context(), r.PathValue("id"))
	if err != nil {
		return fmt.Errorf("load credential %s: %w", r.PathValue("id"), err)
	}
	payload, _, _, err := credential.NewVerifier(a.d.Keys, nil).VerifySignature(c.JWT)
	if err != nil {
		return fmt.Errorf("read credential %s: %w", c.ID, internal(err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(payload)
	return nil
}

// internal turns any error into an internal one (a stored credential that does not verify
// is our fault, not the caller's).
func internal(err error) error {
	if credbatch.ErrorKind(err) == credbatch.KindInternal {
		return err
	}
	return &credbatch.Error{Kind: credbatch.KindInternal, Message: err.Error(), Err: err}
}

type verifyRequest struct {
	JWT        string          `json:"jwt,omitempty"`
	URL        string          `json:"url,omitempty"`
	Credential json.RawMessage `json:"credential,omitempty"`
}

type verifyResponse struct {
	Valid      bool                 `json:"valid"`
	Status     credential.Status    `json:"status"`
	Reason     string               `json:"reason,omitempty"`
	KeyID      string               `json:"kid,omitempty"`
	Format     credential.Format    `json:"format,omitempty"`
	Credential *credential.Document `json:"credential,omitempty"`
}

// verify checks a credential in any of its three forms: a JSON-LD credential with its Data
// Integrity proof (the body as application/vc+ld+json or application/ld+json, or
// {"credential": {...}}), a VC-JWT or legacy JWS ({"jwt"} or the raw application/vc+jwt),
// or the URL of a credential of this deployment ({"url"}).
func (a *API) verify(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	ctx := r.Context()
	data, err := a.body(w, r)
	if err != nil {
		return err
	}
	var token string
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case ContentTypeVCJWT, "application/jwt", "text/plain":
		token = strings.TrimSpace(string(data))
	case credential.MediaTypeLD, "application/ld+json", "application/vc":
		token = strings.TrimSpace(string(data))
	default:
		var req verifyRequest
		if err := strictJSON(data, &req); err != nil {
			return err
		}
		given := 0
		for _, set := range []bool{req.JWT != "", req.URL != "", len(req.Credential) > 0} {
			if set {
				given++
			}
		}
		switch {
		case given > 1:
			return credbatch.E(credbatch.KindInvalid, "invalid_request", `send one of "jwt", "credential" or "url"`)
		case len(req.Credential) > 0:
			token = strings.TrimSpace(string(req.Credential))
		case req.JWT != "":
			token = strings.TrimSpace(req.JWT)
		case req.URL != "":
			id, err := a.credentialIDFromURL(req.URL)
			if err != nil {
				return err
			}
			c, err := a.d.Store.GetCredential(ctx, id)
			if err != nil {
				return fmt.Errorf("load credential %s: %w", id, err)
			}
			token = c.JWT
		}
	}
	if token == "" {
		return credbatch.E(credbatch.KindInvalid, "invalid_request", `send {"credential": <JSON-LD credential>}, {"jwt": "<compact JWS>"}, {"url": "<credential page URL>"}, or the credential itself as application/vc+ld+json or application/vc+jwt`)
	}
	list, err := a.currentStatusList(ctx)
	if err != nil {
		return err
	}
	res, err := credential.NewVerifier(a.d.Keys, list).Verify(ctx, token, a.now())
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	out := verifyResponse{Valid: res.Valid, Status: res.Status, Reason: res.Reason, KeyID: res.KeyID, Format: res.Format}
	if res.Document.ID != "" {
		doc := res.Document
		out.Credential = &doc
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// credentialIDFromURL accepts <base>/credentials/<id>[/jwt|/json] of this deployment.
func (a *API) credentialIDFromURL(raw string) (string, error) {
	bad := credbatch.E(credbatch.KindInvalid, "invalid_url",
		fmt.Sprintf("%q is not a credential of this issuer; give a URL like %s", raw, a.d.Issuer.CredentialURL("<id>")))
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", bad
	}
	base, err := url.Parse(a.d.Issuer.BaseURL)
	if err != nil || !strings.EqualFold(u.Host, base.Host) {
		return "", bad
	}
	rest, ok := strings.CutPrefix(u.Path, strings.TrimRight(base.Path, "/")+"/credentials/")
	if !ok {
		return "", bad
	}
	id, _, _ := strings.Cut(rest, "/")
	if id == "" {
		return "", bad
	}
	return id, nil
}

func (a *API) jwks(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(a.d.Keys.JWKS())
	return nil
}

// didDocument serves the did:web document, at /.well-known/did.json (what a resolver fetches
// for a base URL without a path) and at /did.json (<base>/did.json, for one with a path).
func (a *API) didDocument(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	if a.d.DID == "" {
		return credbatch.E(credbatch.KindNotFound, "no_did", "this deployment publishes no did:web document")
	}
	w.Header().Set("Content-Type", "application/did+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(a.d.Keys.DIDDocument(a.d.DID))
	return nil
}

// statusList serves status list n as it was signed and stored where revocations and
// issuance changed it (statuslist.Publisher): the BitstringStatusListCredential as JSON-LD
// with its Data Integrity proof (application/vc+ld+json when asked for, else
// application/json), or its VC-JWT when the client asks for application/vc+jwt. Nothing is
// signed here: the public routes hold no signing key.
func (a *API) statusList(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 || n > maxStatusLists {
		return credbatch.E(credbatch.KindNotFound, "not_found", fmt.Sprintf("status list %q does not exist", r.PathValue("n")))
	}
	pub, err := a.status.Published(r.Context(), n)
	if err != nil {
		return err
	}
	body, ct := []byte(pub.JSONLD), "application/json"
	switch accepted(r, ContentTypeVCJWT, credential.MediaTypeLD) {
	case ContentTypeVCJWT:
		body, ct = []byte(pub.JWT), ContentTypeVCJWT
	case credential.MediaTypeLD:
		ct = credential.MediaTypeLD
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Vary", "Accept")
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(a.d.StatusTTL.Seconds())))
	_, _ = w.Write(body)
	return nil
}

// accepted returns the first of the offered media types that the request's Accept header
// names with a non-zero quality, or "" (any other Accept, or none).
func accepted(r *http.Request, offered ...string) string {
	best, bestQ := "", 0.0
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		for _, o := range offered {
			if mt == o && q > bestQ {
				best, bestQ = o, q
			}
		}
	}
	return best
}

// maxStatusLists bounds the list numbers served (131,072 credentials each).
const maxStatusLists = 100_000

// currentStatusList is the revocation checker of verifications (global status indexes).
func (a *API) currentStatusList(context.Context) (credential.StatusChecker, error) {
	return a.status, nil
}

// clearStatus drops the cached lists after a revocation through this API.
func (a *API) clearStatus() { a.status.Forget() }

func (a *API) openAPI(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPIDoc)
	return nil
}

func (a *API) healthz(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}
