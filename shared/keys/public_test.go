package keys

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// published is the published set in memory (dynamo's TestPublicKeys runs the same on
// DynamoDB Local).
type published struct{ jwks []byte }

func (p *published) PutPublicKeys(_ context.Context, jwks []byte) error {
	p.jwks = append([]byte(nil), jwks...)
	return nil
}

func (p *published) GetPublicKeys(context.Context) ([]byte, error) {
	if p.jwks == nil {
		return nil, credbatch.NotFound("public key set", "")
	}
	return p.jwks, nil
}

// TestPublishedKeys: the published set gives the same JWKS and DID document as the set in
// the secret, current and retired keys alike, and holds no private half.
func TestPublishedKeys(t *testing.T) {
	ctx := context.Background()
	pub0 := &published{}
	if _, err := FromPublished(ctx, pub0); credbatch.ErrorCode(err) != "no_public_keys" || !strings.Contains(err.Error(), "functions/keys") {
		t.Fatalf("nothing published: err = %v, want no_public_keys naming functions/keys", err)
	}
	full := mustNew(t)
	if _, err := full.Rotate(t0.AddDate(0, 6, 0)); err != nil {
		t.Fatal(err)
	}
	for range 2 { // publishing again changes nothing
		if err := Publish(ctx, pub0, full); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := FromPublished(ctx, pub0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pub.Keys) != len(full.Keys) || len(full.Keys) != 4 {
		t.Fatalf("published %d keys, the set has %d (want 4: two Ed25519, two derived P-256)", len(pub.Keys), len(full.Keys))
	}
	if !bytes.Equal(pub.JWKS(), full.JWKS()) {
		t.Errorf("JWKS differs:\n published %s\n secret    %s", pub.JWKS(), full.JWKS())
	}
	did := "did:web:example.org"
	if !bytes.Equal(pub.DIDDocument(did), full.DIDDocument(did)) {
		t.Errorf("DID document differs:\n published %s\n secret    %s", pub.DIDDocument(did), full.DIDDocument(did))
	}
	for _, k := range pub.Keys {
		if k.Private != nil || k.ECPrivate != nil {
			t.Errorf("published key %s has a private half", k.ID)
		}
		if _, err := pub.PublicKey(k.ID); k.Alg != AlgES256 && err != nil {
			t.Errorf("published Ed25519 key %s: %v", k.ID, err)
		}
	}
	if _, err := pub.ActiveKey(); err == nil {
		t.Error("the published set can sign")
	}
}

func TestPublishedKeysInvalid(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, body, code string }{
		{"not JSON", "{", "invalid_jwks"},
		{"no key", `{"keys":[]}`, "no_public_keys"},
		{"bad key", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}`, "invalid_jwks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := FromPublished(ctx, &published{jwks: []byte(tc.body)}); credbatch.ErrorCode(err) != tc.code {
				t.Errorf("err = %v (code %q), want %s", err, credbatch.ErrorCode(err), tc.code)
			}
		})
	}
}
