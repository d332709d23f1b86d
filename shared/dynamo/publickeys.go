package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// PublicKeysPK is the partition key of the published public key set, the one item the keys
// function writes (its role may put only this partition key: dynamodb:LeadingKeys).
const PublicKeysPK = "KEYS#PUBLIC"

const publicKeysSK = "KEYS"

// PutPublicKeys stores the public key set (a JWKS, public halves only) that the public
// function reads instead of the signing-key secret (keys.Publish). It replaces the item.
func (s *Store) PutPublicKeys(ctx context.Context, jwks []byte) error {
	item := key(PublicKeysPK, publicKeysSK)
	item["JWKS"] = &types.AttributeValueMemberS{Value: string(jwks)}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item})
	return fail("put the public keys", err)
}

// GetPublicKeys returns the published public key set (a strongly consistent GetItem);
// KindNotFound when none is published.
func (s *Store) GetPublicKeys(ctx context.Context) ([]byte, error) {
	var v struct{ JWKS string }
	if err := s.get(ctx, "get the public keys", "public key set", PublicKeysPK, key(PublicKeysPK, publicKeysSK), &v); err != nil {
		return nil, err
	}
	return []byte(v.JWKS), nil
}
