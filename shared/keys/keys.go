// Package keys holds a deployment's Ed25519 signing keys and publishes their public halves.
package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Key is one Ed25519 key. Its ID is the RFC 7638 JWK thumbprint of the public key, so the
// same key always has the same id. Private is nil for a key read from a JWKS. A Key never
// prints or logs its private half (String, GoString and LogValue show the id only).
type Key struct {
	ID      string
	Created time.Time
	Public  ed25519.PublicKey
	Private ed25519.PrivateKey
}

// String returns the key id only.
func (k Key) String() string { return "key " + k.ID }

// GoString returns the key id only, so %#v never prints key material.
func (k Key) GoString() string { return "keys.Key{ID:" + k.ID + "}" }

// LogValue keeps key material out of logs.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.ID), slog.Time("created", k.Created))
}

// Set is a key set: every key is published (so credentials signed with an older key still
// verify), one is active and signs new credentials.
type Set struct {
	Keys   []Key
	Active string // id of the signing key
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
	return Key{ID: Thumbprint(pub), Created: created.UTC().Truncate(time.Second), Public: pub, Private: priv}, nil
}

// New returns a set with one fresh active key.
func New(created time.Time) (Set, error) {
	k, err := NewKey(nil, created)
	if err != nil {
		return Set{}, err
	}
	return Set{Keys: []Key{k}, Active: k.ID}, nil
}

// Rotate adds a fresh key and makes it the active one; older keys stay published so that
// the credentials they signed still verify. It returns the new key.
func (s *Set) Rotate(created time.Time) (Key, error) {
	k, err := NewKey(nil, created)
	if err != nil {
		return Key{}, err
	}
	s.Keys = append(s.Keys, k)
	s.Active = k.ID
	return k, nil
}

// ActiveKey returns the signing key; KindInternal when the set has none or it has no private
// half (a set read from a JWKS cannot sign).
func (s Set) ActiveKey() (Key, error) {
	for _, k := range s.Keys {
		if k.ID == s.Active {
			if len(k.Private) != ed25519.PrivateKeySize {
				return Key{}, credbatch.Errorf(credbatch.KindInternal, "active key %s has no private key", k.ID)
			}
			return k, nil
		}
	}
	return Key{}, credbatch.Errorf(credbatch.KindInternal, "key set has no active key (active %q)", s.Active)
}

// Key returns the key with the id. The id may also be a DID URL ("did:web:host#<kid>"), in
// which case its fragment is looked up. KindNotFound when there is no such key.
func (s Set) Key(kid string) (Key, error) {
	if strings.HasPrefix(kid, "did:") {
		if i := strings.LastIndexByte(kid, '#'); i >= 0 {
			kid = kid[i+1:]
		}
	}
	for _, k := range s.Keys {
		if k.ID == kid {
			return k, nil
		}
	}
	return Key{}, credbatch.NotFound("key", kid)
}

// PublicKey returns the public key with the id (see Key); KindNotFound.
func (s Set) PublicKey(kid string) (ed25519.PublicKey, error) {
	k, err := s.Key(kid)
	if err != nil {
		return nil, err
	}
	return k.Public, nil
}

// Thumbprint returns the RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public
// key: the hash of {"crv":"Ed25519","kty":"OKP","x":"..."} with the members in that order.
func Thumbprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + b64(pub) + `"}`))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// JWK is a JSON Web Key for an Ed25519 key (RFC 8037). D, the private seed, is only set in
// key files and secrets, never in a published JWKS.
type JWK struct {
	Kty     string `json:"kty"`
	Crv     string `json:"crv"`
	X       string `json:"x"`
	D       string `json:"d,omitempty"`
	Kid     string `json:"kid"`
	Alg     string `json:"alg"`
	Use     string `json:"use"`
	Created string `json:"created,omitempty"` // only in key files
}

func (k Key) jwk(private bool) JWK {
	j := JWK{Kty: "OKP", Crv: "Ed25519", X: b64(k.Public), Kid: k.ID, Alg: "EdDSA", Use: "sig"}
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

// ParseJWKS reads a public JWKS into a set that can verify but not sign; keys that are not
// Ed25519 are skipped. KindInvalid when the JSON or a key is malformed.
func ParseJWKS(data []byte) (Set, error) {
	var jwks struct {
		Keys []JWK `json:"keys"`
	}
	if err := json.Unmarshal(data, &jwks); err != nil {
		return Set{}, &credbatch.Error{Kind: credbatch.KindInvalid, Code: "invalid_jwks", Message: "parse JWKS: " + err.Error(), Err: err}
	}
	var s Set
	for i, j := range jwks.Keys {
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
		s.Keys = append(s.Keys, Key{ID: kid, Public: pub})
	}
	return s, nil
}

// DIDDocument returns the did:web document (served at /.well-known/did.json) for the DID:
// every key as a JsonWebKey verification method "<did>#<kid>", all of them usable for
// assertionMethod and authentication.
func (s Set) DIDDocument(did string) []byte {
	type method struct {
		ID           string `json:"id"`
		Type         string `json:"type"`
		Controller   string `json:"controller"`
		PublicKeyJwk JWK    `json:"publicKeyJwk"`
	}
	doc := struct {
		Context            []string `json:"@context"`
		ID                 string   `json:"id"`
		VerificationMethod []method `json:"verificationMethod"`
		AssertionMethod    []string `json:"assertionMethod"`
		Authentication     []string `json:"authentication"`
	}{
		Context:            []string{"https://www.w3.org/ns/did/v1", "https://w3id.org/security/jwk/v1"},
		ID:                 did,
		VerificationMethod: []method{},
		AssertionMethod:    []string{},
		Authentication:     []string{},
	}
	for _, k := range s.Keys {
		id := did + "#" + k.ID
		doc.VerificationMethod = append(doc.VerificationMethod, method{ID: id, Type: "JsonWebKey", Controller: did, PublicKeyJwk: k.jwk(false)})
		doc.AssertionMethod = append(doc.AssertionMethod, id)
		doc.Authentication = append(doc.Authentication, id)
	}
	b, _ := json.Marshal(doc) // cannot fail: strings only
	return b
}

// DIDWeb returns the did:web DID for a base URL ("https://example.org:8443/issuer" →
// "did:web:example.org%3A8443:issuer"). KindInvalid when the URL has no host.
func DIDWeb(baseURL string) (string, error) {
	rest := baseURL
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	rest = strings.TrimRight(rest, "/")
	host, path, _ := strings.Cut(rest, "/")
	if host == "" {
		return "", credbatch.Errorf(credbatch.KindInvalid, "base URL %q has no host for a did:web", baseURL)
	}
	did := "did:web:" + strings.ReplaceAll(host, ":", "%3A")
	if path != "" {
		did += ":" + strings.ReplaceAll(path, "/", ":")
	}
	return did, nil
}
