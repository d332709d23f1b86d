package credential

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/keys"
)

// KeyResolver finds a public key by kid, thumbprint or DID URL (keys.Set implements it).
// Errors: KindNotFound for an unknown key; anything else means the keys could not be read.
type KeyResolver interface {
	Key(kid string) (keys.Key, error)
}

// Format is how a credential was secured.
type Format string

// The three forms Verify accepts.
const (
	FormatDataIntegrity Format = "data-integrity" // JSON-LD with an eddsa-rdfc-2022 proof
	FormatJWT           Format = "vc-jwt"         // OB 3.0 VC-JWT, ES256
	FormatLegacyJWS     Format = "legacy-jws"     // credbatch's earlier EdDSA vc+jwt
)

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
	KeyID    string // the JWT kid or the proof's verificationMethod
	Format   Format
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

// VerifySignature checks a signed credential in any of the three forms (a JSON-LD document
// with a Data Integrity proof, an ES256 VC-JWT, a legacy EdDSA vc+jwt) and returns the
// credential's JSON (for a JWT, its payload), the key id and the form. Errors: KindInvalid
// when the input is malformed, the key unknown or the signature wrong; other kinds when the
// keys could not be read.
func (v *Verifier) VerifySignature(signed string) ([]byte, string, Format, error) {
	signed = strings.TrimSpace(signed)
	if strings.HasPrefix(signed, "{") {
		proof, err := VerifyProof([]byte(signed), v.keys, DefaultLoader())
		if err != nil {
			return nil, proof.VerificationMethod, FormatDataIntegrity, err
		}
		return []byte(signed), proof.VerificationMethod, FormatDataIntegrity, nil
	}
	payload, kid, format, err := v.verifyJWS(signed)
	return payload, kid, format, err
}

func (v *Verifier) verifyJWS(token string) ([]byte, string, Format, error) {
	invalid := func(msg string) error { return credbatch.E(credbatch.KindInvalid, "invalid_signature", msg) }
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA})
	if err != nil {
		return nil, "", FormatJWT, invalid("neither a JSON-LD credential nor a compact JWS signed with ES256 or EdDSA: " + err.Error())
	}
	if len(jws.Signatures) != 1 {
		return nil, "", FormatJWT, invalid("want exactly one signature")
	}
	sig := jws.Signatures[0]
	h := sig.Protected
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	format := FormatJWT
	if h.Algorithm == string(jose.EdDSA) {
		format = FormatLegacyJWS
		if typ != MediaType && typ != "application/"+MediaType {
			return nil, h.KeyID, format, invalid(fmt.Sprintf("header typ %q, want %q", typ, MediaType))
		}
	} else {
		if typ != "" && typ != JWTType {
			return nil, h.KeyID, format, invalid(fmt.Sprintf("header typ %q: OB 3.0 says it MUST be %q", typ, JWTType))
		}
		if extra := otherHeaders(token); len(extra) > 0 {
			return nil, h.KeyID, format, invalid("header has members other than alg, kid and typ: " + strings.Join(extra, ", "))
		}
		if !strings.HasPrefix(h.KeyID, "did:") || !strings.Contains(h.KeyID, "#") {
			return nil, h.KeyID, format, invalid(fmt.Sprintf("header kid %q is not a DID URL", h.KeyID))
		}
	}
	if h.KeyID == "" {
		return nil, "", format, invalid("header has no kid")
	}
	k, err := v.keys.Key(h.KeyID)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		return nil, h.KeyID, format, invalid(fmt.Sprintf("signing key %s is not published by this issuer", h.KeyID))
	}
	if err != nil {
		return nil, h.KeyID, format, fmt.Errorf("look up key %s: %w", h.KeyID, err)
	}
	var pub any = k.Public
	if format == FormatJWT {
		if !k.IsES256() {
			return nil, h.KeyID, format, invalid(fmt.Sprintf("key %s is not a P-256 key", h.KeyID))
		}
		pub = k.ECPublic
	} else if k.IsES256() || len(k.Public) != ed25519.PublicKeySize {
		return nil, h.KeyID, format, invalid(fmt.Sprintf("key %s is not an Ed25519 key", h.KeyID))
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return nil, h.KeyID, format, invalid("the signature does not match the content")
	}
	if format == FormatJWT {
		if err := checkClaims(payload); err != nil {
			return nil, h.KeyID, format, invalid(err.Error())
		}
	}
	return payload, h.KeyID, format, nil
}

// otherHeaders lists the protected header members of a compact JWS besides alg, kid and
// typ (OB 3.0 allows no others).
func otherHeaders(token string) []string {
	seg, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	var h map[string]json.RawMessage
	if err != nil || json.Unmarshal(raw, &h) != nil {
		return []string{"(unreadable header)"}
	}
	var extra []string
	for name := range h {
		if name != "alg" && name != "kid" && name != "typ" {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	return extra
}

// checkClaims checks the OB 3.0 registered claims of a VC-JWT payload against the
// credential in it: iss, jti, nbf, sub and (with validUntil) exp.
func checkClaims(payload []byte) error {
	want, err := ClaimsOf(payload)
	if err != nil {
		return err
	}
	var got struct {
		Iss *string `json:"iss"`
		Jti *string `json:"jti"`
		Nbf *int64  `json:"nbf"`
		Sub *string `json:"sub"`
		Exp *int64  `json:"exp"`
	}
	if err := json.Unmarshal(payload, &got); err != nil {
		return fmt.Errorf("the JWT claims are malformed: %v", err)
	}
	switch {
	case got.Iss == nil || *got.Iss != want.Issuer:
		return fmt.Errorf("claim iss must be the issuer id %s", want.Issuer)
	case got.Jti == nil || *got.Jti != want.ID:
		return fmt.Errorf("claim jti must be the credential id %s", want.ID)
	case got.Nbf == nil || *got.Nbf != want.NotBefore:
		return fmt.Errorf("claim nbf must be validFrom")
	case got.Sub == nil || *got.Sub != want.Subject:
		return fmt.Errorf("claim sub must be credentialSubject.id %s", want.Subject)
	case want.Expires != 0 && (got.Exp == nil || *got.Exp != want.Expires):
		return fmt.Errorf("claim exp must be validUntil")
	case want.Expires == 0 && got.Exp != nil:
		return fmt.Errorf("claim exp without validUntil")
	}
	return nil
}

// Verify checks a signed credential in any of the three forms (see VerifySignature) at time
// now. A credential that fails a check is not an error: the Result says why (Status invalid,
// revoked, expired or not_yet_valid, checked in that order). The error is only for failures
// to check (keys or status list unavailable).
func (v *Verifier) Verify(ctx context.Context, signed string, now time.Time) (Result, error) {
	payload, kid, format, err := v.VerifySignature(signed)
	if credbatch.IsKind(err, credbatch.KindInvalid) {
		return Result{Status: StatusInvalid, Reason: credbatch.ErrorMessage(err), KeyID: kid, Format: format}, nil
	}
	if err != nil {
		return Result{}, err
	}
	res := Result{KeyID: kid, Format: format}
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
