package credential

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// KeyResolver finds a public key by kid (keys.Set implements it). Errors: KindNotFound for
// an unknown kid; anything else means the keys could not be read.
type KeyResolver interface {
	PublicKey(kid string) (ed25519.PublicKey, error)
}

// StatusChecker reports whether the status list entry at index is set (revoked);
// statuslist.List implements it over a decoded list.
type StatusChecker interface {
	Revoked(ctx context.Context, index int) (bool, error)
}

// Status is the outcome of a verification.
type Status string

// Verification statuses.
const (
	StatusValid       Status = "valid"
	StatusExpired     Status = "expired"
	StatusRevoked     Status = "revoked"
	StatusNotYetValid Status = "not_yet_valid"
	StatusInvalid     Status = "invalid" // bad signature, unknown key, malformed document
)

// Result is what Verify found. Document is set whenever the signature verified.
type Result struct {
	Valid    bool
	Status   Status
	Reason   string // a human sentence when not valid
	KeyID    string
	Document Document
}

// Verifier checks credentials: signature against the published keys, dates and revocation.
type Verifier struct {
	keys   KeyResolver
	status StatusChecker
}

// NewVerifier returns a verifier. status may be nil, in which case revocation is not checked.
func NewVerifier(keys KeyResolver, status StatusChecker) *Verifier {
	return &Verifier{keys: keys, status: status}
}

// VerifySignature checks a compact JWS (alg EdDSA, typ vc+jwt, a kid the resolver knows)
// and returns its payload and kid. Errors: KindInvalid when the token is malformed, the key
// unknown or the signature wrong; other kinds when the keys could not be read.
func (v *Verifier) VerifySignature(token string) ([]byte, string, error) {
	invalid := func(msg string) error { return credbatch.E(credbatch.KindInvalid, "invalid_signature", msg) }
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, "", invalid("not a compact JWS signed with EdDSA: " + err.Error())
	}
	if len(jws.Signatures) != 1 {
		return nil, "", invalid("want exactly one signature")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != MediaType && typ != "application/"+MediaType {
		return nil, "", invalid(fmt.Sprintf("header typ %q, want %q", typ, MediaType))
	}
	if h.KeyID == "" {
		return nil, "", invalid("header has no kid")
	}
	pub, err := v.keys.PublicKey(h.KeyID)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		return nil, h.KeyID, invalid(fmt.Sprintf("signing key %s is not published by this issuer", h.KeyID))
	}
	if err != nil {
		return nil, h.KeyID, fmt.Errorf("look up key %s: %w", h.KeyID, err)
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return nil, h.KeyID, invalid("the signature does not match the content")
	}
	return payload, h.KeyID, nil
}

// Verify checks a credential JWS at time now. A credential that fails a check is not an
// error: the Result says why (Status invalid, revoked, expired or not_yet_valid, checked in
// that order). The error is only for failures to check (keys or status list unavailable).
func (v *Verifier) Verify(ctx context.Context, token string, now time.Time) (Result, error) {
	payload, kid, err := v.VerifySignature(token)
	if credbatch.IsKind(err, credbatch.KindInvalid) {
		return Result{Status: StatusInvalid, Reason: credbatch.ErrorMessage(err), KeyID: kid}, nil
	}
	if err != nil {
		return Result{}, err
	}
	res := Result{KeyID: kid}
	fail := func(s Status, reason string) (Result, error) {
		res.Status, res.Reason = s, reason
		return res, nil
	}
	if err := json.Unmarshal(payload, &res.Document); err != nil {
		return fail(StatusInvalid, "the payload is not a credential: "+err.Error())
	}
	doc := &res.Document
	if len(doc.Context) == 0 || doc.Context[0] != Contexts[0] {
		return fail(StatusInvalid, "the first @context is not "+Contexts[0])
	}
	if !slices.Contains(doc.Type, "VerifiableCredential") || !slices.Contains(doc.Type, "OpenBadgeCredential") {
		return fail(StatusInvalid, "the type is not VerifiableCredential, OpenBadgeCredential")
	}
	from, err := time.Parse(time.RFC3339, doc.ValidFrom)
	if err != nil {
		return fail(StatusInvalid, fmt.Sprintf("validFrom %q is not an RFC 3339 time", doc.ValidFrom))
	}
	var until time.Time
	if doc.ValidUntil != "" {
		if until, err = time.Parse(time.RFC3339, doc.ValidUntil); err != nil {
			return fail(StatusInvalid, fmt.Sprintf("validUntil %q is not an RFC 3339 time", doc.ValidUntil))
		}
	}
	if st := doc.CredentialStatus; st != nil && v.status != nil {
		if st.Type != "BitstringStatusListEntry" || st.StatusPurpose != "revocation" {
			return fail(StatusInvalid, fmt.Sprintf("unsupported credentialStatus %s/%s", st.Type, st.StatusPurpose))
		}
		index, err := st.Global()
		if err != nil {
			return fail(StatusInvalid, credbatch.ErrorMessage(err))
		}
		revoked, err := v.status.Revoked(ctx, index)
		if err != nil {
			return Result{}, fmt.Errorf("check status of %s: %w", doc.ID, err)
		}
		if revoked {
			return fail(StatusRevoked, "the issuer revoked this credential")
		}
	}
	if !until.IsZero() && now.After(until) {
		return fail(StatusExpired, "the credential expired on "+until.Format(time.DateOnly))
	}
	if now.Before(from) {
		return fail(StatusNotYetValid, "the credential is valid from "+from.Format(time.DateOnly))
	}
	res.Valid, res.Status = true, StatusValid
	return res, nil
}
