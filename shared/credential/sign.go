package credential

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/statuslist"
)

// MediaType is the JWS "typ" of the legacy credentials (VC-JOSE-COSE "vc+jwt", EdDSA), which
// credbatch no longer issues but still verifies.
const MediaType = "vc+jwt"

// JWTType is the "typ" of the VC-JWTs credbatch issues: OB 3.0 §"JSON Web Token Proof
// Format" says typ, when present, MUST be "JWT".
const JWTType = "JWT"

// Signer secures credential documents with the active keys of a key set: an embedded Data
// Integrity proof (eddsa-rdfc-2022, the Ed25519 key) and a VC-JWT (ES256, the P-256 key
// derived from it). It also shuffles status list indexes with a secret of the set. It is safe
// for concurrent use.
type Signer struct {
	did      string
	ed       keys.Key
	es       keys.Key
	jwt      jose.Signer
	shuffle  *statuslist.Shuffle
	contexts *Loader
}

// NewSigner returns a signer for the set's active keys, under the issuer's did:web (the DID
// of the verification methods and JWT kids). KindInternal when the set has no usable active
// key.
func NewSigner(set keys.Set, did string) (*Signer, error) {
	ed, err := set.ActiveKey()
	if err != nil {
		return nil, fmt.Errorf("new signer: %w", err)
	}
	es, err := set.ActiveES256()
	if err != nil {
		return nil, fmt.Errorf("new signer: %w", err)
	}
	if did == "" {
		return nil, fmt.Errorf("new signer: no did:web for the verification methods")
	}
	opts := (&jose.SignerOptions{}).WithType(JWTType).WithHeader(jose.HeaderKey("kid"), keys.MethodID(did, es))
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: es.ECPrivate}, opts)
	if err != nil {
		return nil, fmt.Errorf("new signer with key %s: %w", es.ID, err)
	}
	secret, err := set.Secret("status list index shuffle")
	if err != nil {
		return nil, fmt.Errorf("new signer: %w", err)
	}
	shuffle, err := statuslist.NewShuffle(secret)
	if err != nil {
		return nil, fmt.Errorf("new signer: %w", err)
	}
	return &Signer{did: did, ed: ed, es: es, jwt: s, shuffle: shuffle, contexts: DefaultLoader()}, nil
}

// KeyID returns the kid that JWTs carry: the DID URL of the P-256 key.
func (s *Signer) KeyID() string { return keys.MethodID(s.did, s.es) }

// VerificationMethod returns the DID URL that Data Integrity proofs name: the Ed25519 key as
// a Multikey.
func (s *Signer) VerificationMethod() string { return keys.MethodID(s.did, s.ed) }

// StatusIndex returns the status index of the slot-th status entry handed out (see
// statuslist.Shuffle).
func (s *Signer) StatusIndex(slot int) int { return s.shuffle.Index(slot) }

// Claims are the JWT registered claims OB 3.0 requires, read from a credential document.
type Claims struct {
	Issuer    string `json:"iss"`
	ID        string `json:"jti"`
	NotBefore int64  `json:"nbf"`
	Subject   string `json:"sub"`
	Expires   int64  `json:"exp,omitempty"`
}

// ClaimsOf returns the registered claims of a credential's JSON: iss = issuer (its id),
// jti = id, nbf = validFrom, sub = credentialSubject.id, exp = validUntil when present.
func ClaimsOf(doc []byte) (Claims, error) {
	var d struct {
		ID         string          `json:"id"`
		Issuer     json.RawMessage `json:"issuer"`
		ValidFrom  string          `json:"validFrom"`
		ValidUntil string          `json:"validUntil"`
		Subject    struct {
			ID string `json:"id"`
		} `json:"credentialSubject"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return Claims{}, fmt.Errorf("read credential: %w", err)
	}
	var c Claims
	var iss struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(d.Issuer, &c.Issuer); err != nil {
		if err := json.Unmarshal(d.Issuer, &iss); err != nil {
			return Claims{}, fmt.Errorf("read credential: issuer is neither a string nor an object with an id")
		}
		c.Issuer = iss.ID
	}
	from, err := time.Parse(time.RFC3339, d.ValidFrom)
	if err != nil {
		return Claims{}, fmt.Errorf("read credential: validFrom %q is not an RFC 3339 time", d.ValidFrom)
	}
	c.ID, c.NotBefore, c.Subject = d.ID, from.Unix(), d.Subject.ID
	if d.ValidUntil != "" {
		until, err := time.Parse(time.RFC3339, d.ValidUntil)
		if err != nil {
			return Claims{}, fmt.Errorf("read credential: validUntil %q is not an RFC 3339 time", d.ValidUntil)
		}
		c.Expires = until.Unix()
	}
	if c.Issuer == "" || c.ID == "" || c.Subject == "" {
		return Claims{}, fmt.Errorf("read credential: a VC-JWT needs issuer, id and credentialSubject.id")
	}
	return c, nil
}

// JWTPayload returns the JWT payload of a credential document (without its proof): the
// document's own members, then the registered claims.
func JWTPayload(doc []byte) ([]byte, error) {
	doc = bytes.TrimSpace(doc)
	if len(doc) < 2 || doc[0] != '{' || doc[len(doc)-1] != '}' {
		return nil, fmt.Errorf("the document must be a JSON object")
	}
	c, err := ClaimsOf(doc)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(doc[:len(doc)-1])
	if len(bytes.TrimSpace(doc[1:len(doc)-1])) > 0 {
		b.WriteByte(',')
	}
	iss, _ := json.Marshal(c.Issuer)
	jti, _ := json.Marshal(c.ID)
	sub, _ := json.Marshal(c.Subject)
	fmt.Fprintf(&b, `"iss":%s,"jti":%s,"nbf":%s,"sub":%s`, iss, jti, strconv.FormatInt(c.NotBefore, 10), sub)
	if c.Expires != 0 {
		fmt.Fprintf(&b, `,"exp":%d`, c.Expires)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// SignJWT returns the VC-JWT of a document (a Document, a statuslist.Document or any value
// that marshals to a JSON object without a proof): header {"alg":"ES256","kid":<DID URL>,
// "typ":"JWT"}, payload JWTPayload.
func (s *Signer) SignJWT(doc any) (string, error) {
	data, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("sign: marshal document: %w", err)
	}
	payload, err := JWTPayload(data)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	jws, err := s.jwt.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign with key %s: %w", s.es.ID, err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("sign with key %s: serialize: %w", s.es.ID, err)
	}
	return token, nil
}

// SignStored returns the VC-JWT of a stored credential (JSON-LD with its Data Integrity
// proof, as Secure returns it) in detached form (RFC 7515 Appendix F, "<header>..<signature>"):
// what is kept beside the document so that the public routes, which hold no signing key,
// serve the VC-JWT with AttachJWT. The payload is StoredJWTPayload of the same bytes.
func (s *Signer) SignStored(secured []byte) (string, error) {
	payload, err := StoredJWTPayload(secured)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	jws, err := s.jwt.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign with key %s: %w", s.es.ID, err)
	}
	detached, err := jws.DetachedCompactSerialize()
	if err != nil {
		return "", fmt.Errorf("sign with key %s: serialize: %w", s.es.ID, err)
	}
	return detached, nil
}

// StoredJWTPayload returns the VC-JWT payload of a stored credential: the document without
// its proof, compacted, then the registered claims (JWTPayload). It depends on the stored
// bytes only, so the issuer that signs it and the route that serves it derive the same bytes.
func StoredJWTPayload(secured []byte) ([]byte, error) {
	doc, err := Unsecured(secured)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := json.Compact(&b, doc); err != nil {
		return nil, fmt.Errorf("read credential: %w", err)
	}
	return JWTPayload(b.Bytes())
}

// AttachJWT returns the compact VC-JWT of a stored credential from its detached form
// (SignStored): the header, the payload rebuilt from the stored document, the signature.
// It checks the form, not the signature.
func AttachJWT(secured []byte, detached string) (string, error) {
	header, sig, ok := strings.Cut(detached, "..")
	if !ok || header == "" || sig == "" || strings.Contains(sig, ".") || strings.Contains(header, ".") {
		return "", fmt.Errorf("the stored VC-JWT is not a detached compact JWS (<header>..<signature>)")
	}
	payload, err := StoredJWTPayload(secured)
	if err != nil {
		return "", err
	}
	return header + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + sig, nil
}
