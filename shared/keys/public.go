package keys

import (
	"context"
	"fmt"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Published is where the public key set (its JWKS: every key, current and retired, public
// halves only) is published for the public function, which cannot read the signing-key
// secret: on AWS the table (dynamo.Store, item KEYS#PUBLIC), written by the deploy-time keys
// function only.
type Published interface {
	PutPublicKeys(ctx context.Context, jwks []byte) error
	GetPublicKeys(ctx context.Context) ([]byte, error) // KindNotFound when none is published
}

// Publish writes the set's public halves (its JWKS). Writing the same set again changes
// nothing a reader sees; a rotated set replaces the published one.
func Publish(ctx context.Context, to Published, s Set) error {
	if err := to.PutPublicKeys(ctx, s.JWKS()); err != nil {
		return fmt.Errorf("publish the public keys: %w", err)
	}
	return nil
}

// FromPublished reads the set Publish wrote: it verifies credentials and gives the JWKS and
// the DID document, and cannot sign. KindInternal no_public_keys when nothing is published
// (the stack's SigningKeys custom resource publishes it at deploy time).
func FromPublished(ctx context.Context, from Published) (Set, error) {
	data, err := from.GetPublicKeys(ctx)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		return Set{}, credbatch.E(credbatch.KindInternal, "no_public_keys", "no public key set is published: the stack's "+
			"SigningKeys custom resource (functions/keys) publishes it at deploy time; deploy the stack, or run the keys function "+
			"once with a CloudFormation Update request")
	}
	if err != nil {
		return Set{}, fmt.Errorf("read the public keys: %w", err)
	}
	s, err := ParseJWKS(data)
	if err != nil {
		return Set{}, fmt.Errorf("the published public keys: %w", err)
	}
	if len(s.Keys) == 0 {
		return Set{}, credbatch.E(credbatch.KindInternal, "no_public_keys", "the published public key set holds no key")
	}
	return s, nil
}
