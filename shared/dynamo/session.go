package dynamo

import (
	"context"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/credbatch/credbatch/shared/credbatch"
)

const sessionSK = "SESSION"

func sessionPK(key string) string { return "SESSION#" + key }

// CreateSession stores a new session; its ExpiresAt is written as epoch seconds into the
// table's time-to-live attribute, so DynamoDB deletes it some time after it expires.
// KindConflict when the key exists.
func (s *Store) CreateSession(ctx context.Context, sess credbatch.Session) error {
	if sess.Key == "" || sess.ExpiresAt.IsZero() {
		return invalid("a session needs a key and an expiry")
	}
	item, err := marshal(sess, attrPK, sessionPK(sess.Key), attrSK, sessionSK)
	if err != nil {
		return err
	}
	item[TTLAttribute] = &types.AttributeValueMemberN{Value: strconv.FormatInt(sess.ExpiresAt.Unix(), 10)}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(PK)")})
	if conditionFailed(err) {
		return credbatch.Conflict("a session with this key exists")
	}
	return fail("create session", err)
}

// GetSession returns a session, also an expired one that DynamoDB has not deleted yet
// (ExpiresAt has second precision); KindNotFound.
func (s *Store) GetSession(ctx context.Context, k string) (credbatch.Session, error) {
	var sess credbatch.Session
	err := s.get(ctx, "get session", "session", "", key(sessionPK(k), sessionSK), &sess)
	return sess, err
}

// DeleteSession ends a session; a missing one is not an error.
func (s *Store) DeleteSession(ctx context.Context, k string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(sessionPK(k), sessionSK)})
	return fail("delete session", err)
}
