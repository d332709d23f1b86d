package dynamo

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/credbatch/credbatch/shared/credbatch"
)

const statusListSK = "STATUSLIST"

func statusListKey(n int) map[string]types.AttributeValue {
	return key("STATUSLIST#"+num(n), statusListSK)
}

// GetStatusList returns the published status list n (a strongly consistent GetItem);
// KindNotFound.
func (s *Store) GetStatusList(ctx context.Context, n int) (credbatch.StatusList, error) {
	var l credbatch.StatusList
	err := s.get(ctx, fmt.Sprintf("get status list %d", n), "status list", strconv.Itoa(n), statusListKey(n), &l)
	return l, err
}

// PutStatusList publishes a list with a conditional PutItem: attribute_not_exists(PK) for
// version 1, Version = l.Version-1 after; KindConflict when the condition fails. The item
// holds both signed forms (a list with every entry set is about 22 KB encoded, so the item
// stays far below DynamoDB's 400 KB).
func (s *Store) PutStatusList(ctx context.Context, l credbatch.StatusList) error {
	op := fmt.Sprintf("put status list %d version %d", l.Number, l.Version)
	if l.Number < 1 || l.Version < 1 {
		return invalid("%s: the number and the version start at 1", op)
	}
	item, err := marshal(l)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	for k, v := range statusListKey(l.Number) {
		item[k] = v
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}
	if l.Version == 1 {
		in.ConditionExpression = aws.String("attribute_not_exists(PK)")
	} else {
		in.ConditionExpression = aws.String("#v = :prev")
		in.ExpressionAttributeNames = map[string]string{"#v": "Version"}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":prev": &types.AttributeValueMemberN{Value: strconv.Itoa(l.Version - 1)}}
	}
	_, err = s.db.PutItem(ctx, in)
	if conditionFailed(err) {
		return credbatch.Conflict("status list %d was published by another writer (it is not at version %d)", l.Number, l.Version-1)
	}
	return fail(op, err)
}
