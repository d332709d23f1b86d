package dynamo_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/keys"
)

// TestPublicKeys: the keys function's published set on DynamoDB Local: absent until
// published, read back as written, replaced by a later publication (a rotated set).
func TestPublicKeys(t *testing.T) {
	s := mustOpen(t)
	ctx := t.Context()
	if _, err := s.GetPublicKeys(ctx); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Fatalf("nothing published: %v, want KindNotFound", err)
	}
	if _, err := keys.FromPublished(ctx, s); credbatch.ErrorCode(err) != "no_public_keys" {
		t.Fatalf("nothing published: FromPublished %v, want no_public_keys", err)
	}
	set, err := keys.New(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		if round == 1 {
			if _, err := set.Rotate(time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC)); err != nil {
				t.Fatal(err)
			}
		}
		if err := keys.Publish(ctx, s, set); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetPublicKeys(ctx)
		if err != nil || !bytes.Equal(got, set.JWKS()) {
			t.Fatalf("round %d: got %s, %v; want %s", round, got, err, set.JWKS())
		}
		pub, err := keys.FromPublished(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(pub.Keys) != len(set.Keys) || !bytes.Equal(pub.DIDDocument("did:web:example.org"), set.DIDDocument("did:web:example.org")) {
			t.Errorf("round %d: the published set has %d keys and another DID document, want the set's %d", round, len(pub.Keys), len(set.Keys))
		}
	}
}
