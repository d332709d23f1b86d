package credential

import (
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/credbatch/credbatch/shared/keys"
)

// MediaType is the JWS "typ" of a credential secured with JOSE (VC-JOSE-COSE, VC 2.0).
const MediaType = "vc+jwt"

// Signer signs credential documents with the active key of a key set. It is safe for
// concurrent use.
type Signer struct {
	kid    string
	signer jose.Signer
}

// NewSigner returns a signer for the set's active key; KindInternal when the set has no
// usable active key.
func NewSigner(set keys.Set) (*Signer, error) {
	k, err := set.ActiveKey()
	if err != nil {
		return nil, fmt.Errorf("new signer: %w", err)
	}
	opts := (&jose.SignerOptions{}).WithType(MediaType).WithHeader(jose.HeaderKey("kid"), k.ID)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: k.Private}, opts)
	if err != nil {
		return nil, fmt.Errorf("new signer with key %s: %w", k.ID, err)
	}
	return &Signer{kid: k.ID, signer: s}, nil
}

// KeyID returns the kid that signatures carry.
func (s *Signer) KeyID() string { return s.kid }

// Sign returns the compact JWS of a document (a Document, a statuslist.Document or any value
// that marshals to a JSON object): header {"alg":"EdDSA","kid":…,"typ":"vc+jwt"}, payload the
// document's JSON.
func (s *Signer) Sign(doc any) (string, error) {
	payload, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("sign: marshal document: %w", err)
	}
	if len(payload) == 0 || payload[0] != '{' {
		return "", fmt.Errorf("sign: the document must be a JSON object")
	}
	jws, err := s.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign with key %s: %w", s.kid, err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("sign with key %s: serialize: %w", s.kid, err)
	}
	return token, nil
}
