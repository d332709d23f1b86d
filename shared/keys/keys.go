// Package keys holds a deployment's signing keys (Ed25519, and the P-256 keys derived from
// them) and publishes their public halves as a JWKS and a did:web document.
package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/mr-tron/base58"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Algorithms of the keys: EdDSA (Ed25519) signs the Data Integrity proofs (eddsa-rdfc-2022),
// ES256 (ECDSA P-256) signs the VC-JWTs.
const (
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
)

// Key is one signing key: Ed25519 (Alg EdDSA, Public/Private) or ECDSA P-256 (Alg ES256,
// ECPublic/ECPrivate). Its ID is the RFC 7638 JWK thumbprint of the public key, so the same
// key always has the same id. Every Ed25519 key of a set has a P-256 companion derived from
// its seed (Parent is the Ed25519 key's id), so the two rotate together and the key file and
// secret keep holding Ed25519 seeds only. The private halves are nil for a key read from a
// JWKS. A Key never prints or logs its private half (String, GoString and LogValue show the
// id only).
type Key struct {
	ID        string
	Alg       string // AlgEdDSA or AlgES256; "" means EdDSA
	Created   time.Time
	Public    ed25519.PublicKey
	Private   ed25519.PrivateKey
	ECPublic  *ecdsa.PublicKey
	ECPrivate *ecdsa.PrivateKey
	Parent    string // for a derived ES256 key: the id of the Ed25519 key it comes from
}

// IsES256 reports whether the key is a P-256 key.
func (k Key) IsES256() bool { return k.Alg == AlgES256 }

// String returns the key id only.
func (k Key) String() string { return "key " + k.ID }

// GoString returns the key id only, so %#v never prints key material.
func (k Key) GoString() string { return "keys.Key{ID:" + k.ID + "}" }

// LogValue keeps key material out of logs.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.ID), slog.Time("created", k.Created))
}

// Set is a key set: every key is published (so credentials signed with an older key still
// verify), one Ed25519 key is active and signs new credentials, with its derived P-256 key.
type Set struct {
	Keys   []Key
	Active string // id of the active Ed25519 key
}

// String lists the key ids only.
func (s Set) String() string {
	ids := make([]string, len(s.Keys))
	for i, k := range s.Keys {
		ids[i] = k.ID
	}
	return fmt.Sprintf("keys.Set{active:%s keys:[%s]}", s.Active, strings.Join(ids, " "))
}

// GoString is String, so %#v never prints key material.
func (s Set) GoString() string { return s.String() }

// LogValue keeps key material out of logs.
func (s Set) LogValue() slog.Value { return slog.StringValue(s.String()) }

// NewKey generates a key from the random source (crypto/rand when nil).
func NewKey(random io.Reader, created time.Time) (Key, error) {
	if random == nil {
		random = rand.Reader
	}
	pub, priv, err := ed25519.GenerateKey(random)
	if err != nil {
		return Key{}, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return Key{ID: Thumbprint(pub), Alg: AlgEdDSA, Created: created.UTC().Truncate(time.Second), Public: pub, Private: priv}, nil
}

// deriveES256 returns the P-256 companion of an Ed25519 key: the scalar is HKDF-SHA256 of
// the seed (48 bytes, reduced into [1, n-1] as FIPS 186-5 A.2.1 does), so it is fixed by the
// seed and needs no storage of its own.
func deriveES256(ed Key) (Key, error) {
	okm, err := hkdf.Key(sha256.New, ed.Private.Seed(), nil, "credbatch ES256 signing key v1", 48)
	if err != nil {
		return Key{}, fmt.Errorf("derive P-256 key of %s: %w", ed.ID, err)
	}
	n := new(big.Int).Sub(elliptic.P256().Params().N, big.NewInt(1))
	d := new(big.Int).Mod(new(big.Int).SetBytes(okm), n)
	d.Add(d, big.NewInt(1))
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d.FillBytes(make([]byte, 32)))
	if err != nil {
		return Key{}, fmt.Errorf("derive P-256 key of %s: %w", ed.ID, err)
	}
	return Key{ID: ECThumbprint(&priv.PublicKey), Alg: AlgES256, Created: ed.Created, ECPublic: &priv.PublicKey,
		ECPrivate: priv, Parent: ed.ID}, nil
}

// withDerived returns the Ed25519 key followed by its derived P-256 key.
func withDerived(ed Key) ([]Key, error) {
	ec, err := deriveES256(ed)
	if err != nil {
		return nil, err
	}
	return []Key{ed, ec}, nil
}

// New returns a set with one fresh active key (and its P-256 companion).
func New(created time.Time) (Set, error) {
	k, err := NewKey(nil, created)
	if err != nil {
		return Set{}, err
	}
	ks, err := withDerived(k)
	if err != nil {
		return Set{}, err
	}
	return Set{Keys: ks, Active: k.ID}, nil
}

// Rotate adds a fresh key (and its P-256 companion) and makes it the active one; older keys
// stay published so that the credentials they signed still verify. It returns the new
// Ed25519 key.
func (s *Set) Rotate(created time.Time) (Key, error) {
	k, err := NewKey(nil, created)
	if err != nil {
		return Key{}, err
	}
	ks, err := withDerived(k)
	if err != nil {
		return Key{}, err
	}
	s.Keys = append(s.Keys, ks...)
	s.Active = k.ID
	return k, nil
}

// ActiveKey returns the Ed25519 signing key; KindInternal when the set has none or it has no
// private half (a set read from a JWKS cannot sign).
func (s Set) ActiveKey() (Key, error) {
	for _, k := range s.Keys {
		if k.ID == s.Active && !k.IsES256() {
			if len(k.Private) != ed25519.PrivateKeySize {
				return Key{}, credbatch.Errorf(credbatch.KindInternal, "active key %s has no private key", k.ID)
			}
			return k, nil
		}
	}
	return Key{}, credbatch.Errorf(credbatch.KindInternal, "key set has no active key (active %q)", s.Active)
}

// ActiveES256 returns the P-256 key derived from the active Ed25519 key, which signs
// VC-JWTs; KindInternal as ActiveKey.
func (s Set) ActiveES256() (Key, error) {
	if _, err := s.ActiveKey(); err != nil {
		return Key{}, err
	}
	for _, k := range s.Keys {
		if k.IsES256() && k.Parent == s.Active && k.ECPrivate != nil {
			return k, nil
		}
	}
	return Key{}, credbatch.Errorf(credbatch.KindInternal, "active key %s has no P-256 companion", s.Active)
}

// Secret returns a 32-byte secret for a purpose (such as shuffling status list indexes),
// derived with HKDF-SHA256 from the seed of the set's first Ed25519 key: it stays the same
// across rotations (retired keys are kept) and is as secret as the keys. KindInternal when
// the set holds no private Ed25519 key.
func (s Set) Secret(purpose string) ([]byte, error) {
	for _, k := range s.Keys {
		if !k.IsES256() && len(k.Private) == ed25519.PrivateKeySize {
			b, err := hkdf.Key(sha256.New, k.Private.Seed(), nil, "credbatch secret: "+purpose, 32)
			if err != nil {
				return nil, fmt.Errorf("derive secret: %w", err)
			}
			return b, nil
		}
	}
	return nil, credbatch.Errorf(credbatch.KindInternal, "key set has no private key to derive a secret from")
}

// Key returns the key with the id. The id may also be a DID URL ("did:web:host#<kid>"), in
// which case its fragment is looked up, with the fragments DIDDocument gives the other forms
// of a key ("<kid>-jwk", "<kid>-multikey"). KindNotFound when there is no such key.
func (s Set) Key(kid string) (Key, error) {
	if strings.HasPrefix(kid, "did:") {
		if i := strings.LastIndexByte(kid, '#'); i >= 0 {
			kid = kid[i+1:]
			kid = strings.TrimSuffix(strings.TrimSuffix(kid, jwkSuffix), multikeySuffix)
		}
	}
	for _, k := range s.Keys {
		if k.ID == kid {
			return k, nil
		}
	}
	return Key{}, credbatch.NotFound("key", kid)
}

// PublicKey returns the Ed25519 public key with the id (see Key); KindNotFound, also for a
// P-256 key.
func (s Set) PublicKey(kid string) (ed25519.PublicKey, error) {
	k, err := s.Key(kid)
	if err != nil {
		return nil, err
	}
	if k.IsES256() {
		return nil, credbatch.NotFound("Ed25519 key", kid)
	}
	return k.Public, nil
}

// Thumbprint returns the RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public
// key: the hash of {"crv":"Ed25519","kty":"OKP","x":"..."} with the members in that order.
func Thumbprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + b64(pub) + `"}`))
	return b64(sum[:])
}

// ECThumbprint returns the RFC 7638 thumbprint of a P-256 public key:
// {"crv":"P-256","kty":"EC","x":"...","y":"..."}.
func ECThumbprint(pub *ecdsa.PublicKey) string {
	x, y := ecXY(pub)
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + b64(x) + `","y":"` + b64(y) + `"}`))
	return b64(sum[:])
}

// ecXY returns the 32-byte big-endian coordinates of a P-256 point.
func ecXY(pub *ecdsa.PublicKey) (x, y []byte) {
	raw, err := pub.Bytes() // 0x04 || X || Y
	if err != nil || len(raw) != 65 {
		return nil, nil
	}
	return raw[1:33], raw[33:]
}

// Multibase returns the key's publicKeyMultibase (Multikey): "z" + base58btc of the
// multicodec header (ed25519-pub 0xed01, p256-pub 0x8024) and the public key (P-256
// compressed).
func (k Key) Multibase() string {
	if k.IsES256() {
		raw, err := k.ECPublic.Bytes()
		if err != nil || len(raw) != 65 {
			return ""
		}
		comp := append([]byte{0x80, 0x24, 0x02 | raw[64]&1}, raw[1:33]...)
		return "z" + base58.Encode(comp)
	}
	return "z" + base58.Encode(append([]byte{0xed, 0x01}, k.Public...))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// JWK is a JSON Web Key for an Ed25519 key (RFC 8037) or a P-256 key (RFC 7518). D, the
// private seed, is only set in key files and secrets, never in a published JWKS; P-256
// keys are derived, so they are never in a key file.
type JWK struct {
	Kty     string `json:"kty"`
	Crv     string `json:"crv"`
	X       string `json:"x"`
	Y       string `json:"y,omitempty"`
	D       string `json:"d,omitempty"`
	Kid     string `json:"kid"`
	Alg     string `json:"alg"`
	Use     string `json:"use"`
	Created string `json:"created,omitempty"` // only in key files
}

// JWK returns the public JWK of the key.
func (k Key) JWK() JWK { return k.jwk(false) }

func (k Key) jwk(private bool) JWK {
	if k.IsES256() {
		x, y := ecXY(k.ECPublic)
		return JWK{Kty: "EC", Crv: "P-256", X: b64(x), Y: b64(y), Kid: k.ID, Alg: AlgES256, Use: "sig"}
	}
	j := JWK{Kty: "OKP", Crv: "Ed25519", X: b64(k.Public), Kid: k.ID, Alg: AlgEdDSA, Use: "sig"}
	if private {
		j.D = b64(k.Private.Seed())
		j.Created = k.Created.UTC().Format(time.RFC3339)
	}
	return j
}

// JWKS returns the public JSON Web Key Set ({"keys":[...]}) that /.well-known/jwks.json
// serves: every key of the set, public halves only.
func (s Set) JWKS() []byte {
	jwks := struct {
		Keys []JWK `json:"keys"`
	}{Keys: make([]JWK, 0, len(s.Keys))}
	for _, k := range s.Keys {
		jwks.Keys = append(jwks.Keys, k.jwk(false))
	}
	b, _ := json.Marshal(jwks) // cannot fail: strings only
	return b
}

// ParseJWKS reads a public JWKS into a set that can verify but not sign; keys that are
// neither Ed25519 nor P-256 are skipped. KindInvalid when the JSON or a key is malformed.
func ParseJWKS(data []byte) (Set, error) {
	var jwks struct {
		Keys []JWK `json:"keys"`
	}
	if err := json.Unmarshal(data, &jwks); err != nil {
		return Set{}, &credbatch.Error{Kind: credbatch.KindInvalid, Code: "invalid_jwks", Message: "parse JWKS: " + err.Error(), Err: err}
	}
	var s Set
	for i, j := range jwks.Keys {
		if j.Kty == "EC" && j.Crv == "P-256" {
			pub, err := parseECJWK(j)
			if err != nil {
				return Set{}, credbatch.E(credbatch.KindInvalid, "invalid_jwks", fmt.Sprintf("JWKS key %d (%s): %v", i, j.Kid, err))
			}
			kid := j.Kid
			if kid == "" {
				kid = ECThumbprint(pub)
			}
			s.Keys = append(s.Keys, Key{ID: kid, Alg: AlgES256, ECPublic: pub})
			continue
		}
		if j.Kty != "OKP" || j.Crv != "Ed25519" {
			continue
		}
		pub, err := base64.RawURLEncoding.DecodeString(j.X)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return Set{}, credbatch.E(credbatch.KindInvalid, "invalid_jwks", fmt.Sprintf("JWKS key %d (%s): x is not a base64url Ed25519 public key", i, j.Kid))
		}
		kid := j.Kid
		if kid == "" {
			kid = Thumbprint(pub)
		}
		s.Keys = append(s.Keys, Key{ID: kid, Alg: AlgEdDSA, Public: pub})
	}
	return s, nil
}

// parseECJWK reads the public point of a P-256 JWK.
func parseECJWK(j JWK) (*ecdsa.PublicKey, error) {
	x, errX := base64.RawURLEncoding.DecodeString(j.X)
	y, errY := base64.RawURLEncoding.DecodeString(j.Y)
	if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
		return nil, fmt.Errorf("x and y must be base64url 32-byte coordinates")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, fmt.Errorf("not a P-256 point")
	}
	return pub, nil
}

// Fragments of the other forms of a key in the DID document: "<kid>" is the Ed25519 key as
// a Multikey and the P-256 key as a JsonWebKey; "<kid>-jwk" and "<kid>-multikey" the other way.
const (
	jwkSuffix      = "-jwk"
	multikeySuffix = "-multikey"
)

// DIDContexts are the @context of the DID document: DID v1 first (what resolvers and the
// verifier libraries pin), then the contexts of Multikey and JsonWebKey.
var DIDContexts = []string{"https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1", "https://www.w3.org/ns/cid/v1"}

// VerificationMethod is one entry of the DID document's verificationMethod.
type VerificationMethod struct {
	Context            string `json:"@context,omitempty"`
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Controller         string `json:"controller"`
	PublicKeyMultibase string `json:"publicKeyMultibase,omitempty"`
	PublicKeyJwk       *JWK   `json:"publicKeyJwk,omitempty"`
}

// MethodID returns the DID URL of the key's main verification method: "<did>#<kid>" (the
// Multikey of an Ed25519 key, the JsonWebKey of a P-256 key).
func MethodID(did string, k Key) string { return did + "#" + k.ID }

// Methods returns the key's verification methods under the DID, main one first: an Ed25519
// key as Multikey "#<kid>" and JsonWebKey "#<kid>-jwk", a P-256 key as JsonWebKey "#<kid>"
// and Multikey "#<kid>-multikey".
func (k Key) Methods(did string) []VerificationMethod {
	jwk := k.jwk(false)
	multi := VerificationMethod{Type: "Multikey", Controller: did, PublicKeyMultibase: k.Multibase()}
	asJWK := VerificationMethod{Type: "JsonWebKey", Controller: did, PublicKeyJwk: &jwk}
	if k.IsES256() {
		asJWK.ID, multi.ID = MethodID(did, k), MethodID(did, k)+multikeySuffix
		return []VerificationMethod{asJWK, multi}
	}
	multi.ID, asJWK.ID = MethodID(did, k), MethodID(did, k)+jwkSuffix
	return []VerificationMethod{multi, asJWK}
}

// DIDDocument returns the did:web document of the DID: every key, current and retired, in
// every form Methods gives, all of them in assertionMethod (they sign credentials; none
// authenticates).
func (s Set) DIDDocument(did string) []byte {
	doc := struct {
		Context            []string             `json:"@context"`
		ID                 string               `json:"id"`
		VerificationMethod []VerificationMethod `json:"verificationMethod"`
		AssertionMethod    []string             `json:"assertionMethod"`
	}{
		Context:            DIDContexts,
		ID:                 did,
		VerificationMethod: []VerificationMethod{},
		AssertionMethod:    []string{},
	}
	for _, k := range s.Keys {
		for _, m := range k.Methods(did) {
			doc.VerificationMethod = append(doc.VerificationMethod, m)
			doc.AssertionMethod = append(doc.AssertionMethod, m.ID)
		}
	}
	b, _ := json.Marshal(doc) // cannot fail: strings only
	return b
}

// DIDWeb returns the did:web DID for a base URL, as the did:web method encodes it: the host
// (lower-cased, IDNA as given), a port percent-encoded ("%3A"), each path segment a
// colon-separated part, percent-encoded. "https://example.org:8443/issuer" →
// "did:web:example.org%3A8443:issuer". A resolver fetches <base>/did.json for a DID with a
// path and https://host/.well-known/did.json otherwise (DIDDocumentPath). KindInvalid when
// the URL has no host, or has a query, fragment or user info.
func DIDWeb(baseURL string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return "", credbatch.Errorf(credbatch.KindInvalid, "base URL %q has no host for a did:web", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", credbatch.Errorf(credbatch.KindInvalid, "base URL %q has a query, fragment or user: a did:web cannot carry them", baseURL)
	}
	did := "did:web:" + strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" {
		did += "%3A" + p
	}
	for _, seg := range strings.Split(strings.Trim(u.Path, "/"), "/") {
		if seg != "" {
			did += ":" + url.PathEscape(seg)
		}
	}
	return did, nil
}

// DIDDocumentPath returns the path, under the base URL, where the did:web document of
// DIDWeb(baseURL) is resolved: "/.well-known/did.json" for a base URL without a path, else
// "/did.json" (so <base>/did.json).
func DIDDocumentPath(baseURL string) string {
	if u, err := url.Parse(baseURL); err == nil && strings.Trim(u.Path, "/") != "" {
		return "/did.json"
	}
	return "/.well-known/did.json"
}
