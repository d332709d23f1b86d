package dynamo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/credbatch/credbatch/shared/credbatch"
)

const (
	credSK     = "CRED"
	revokedPK  = "REVOKED"
	counterPK  = "COUNTER#STATUSINDEX"
	counterSK  = "COUNTER"
	msgGSI2SK  = "CRED"
	emailGSIPK = "EMAIL#"
)

func credKey(id string) map[string]types.AttributeValue { return key("CRED#"+id, credSK) }

// credItem encodes a credential with its keys: GSI1 by recipient (newest first), GSI2 by
// SES message id once known, GSI3 by batch in row order.
func credItem(c credbatch.Credential) (map[string]types.AttributeValue, error) {
	kv := []string{attrPK, "CRED#" + c.ID, attrSK, credSK,
		attrGSI1PK, emailGSIPK + strings.ToLower(c.Email), attrGSI1SK, timeKey(c.IssuedAt) + "#" + c.ID,
		attrGSI3PK, "CBATCH#" + c.BatchID, attrGSI3SK, num(c.RowNumber) + "#" + c.ID}
	if c.MessageID != "" {
		kv = append(kv, attrGSI2PK, "MSG#"+c.MessageID, attrGSI2SK, msgGSI2SK)
	}
	return marshal(c, kv...)
}

// CreateCredential stores a new credential; KindConflict when the id exists.
func (s *Store) CreateCredential(ctx context.Context, c credbatch.Credential) error {
	if c.ID == "" {
		return invalid("credential id is empty")
	}
	now := s.stamp()
	if c.IssuedAt.IsZero() {
		c.IssuedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = now
	}
	if c.Status == "" {
		c.Status = credbatch.CredentialIssued
	}
	if c.EmailStatus == "" {
		c.EmailStatus = credbatch.EmailPending
	}
	item, err := credItem(c)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if conditionFailed(err) {
		return credbatch.Conflict("credential %s exists already", c.ID)
	}
	return fail(fmt.Sprintf("create credential %s", c.ID), err)
}

// GetCredential returns a credential; KindNotFound.
func (s *Store) GetCredential(ctx context.Context, id string) (credbatch.Credential, error) {
	var c credbatch.Credential
	err := s.get(ctx, "get credential", "credential", id, credKey(id), &c)
	return c, err
}

// GetCredentialByMessageID finds the credential through GSI2; KindNotFound.
func (s *Store) GetCredentialByMessageID(ctx context.Context, messageID string) (credbatch.Credential, error) {
	if messageID == "" {
		return credbatch.Credential{}, credbatch.NotFound("credential with message id", messageID)
	}
	items, _, err := s.query(ctx, "get credential by message id", &dynamodb.QueryInput{
		IndexName:                 aws.String(gsi2),
		KeyConditionExpression:    aws.String("GSI2PK = :pk AND GSI2SK = :sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("MSG#" + messageID), ":sk": str(msgGSI2SK)},
	}, "", 1)
	if err != nil {
		return credbatch.Credential{}, err
	}
	if len(items) == 0 {
		return credbatch.Credential{}, credbatch.NotFound("credential with message id", messageID)
	}
	return decodeOne[credbatch.Credential](items[0])
}

// ListCredentialsByEmail lists a recipient's credentials newest first (GSI1).
func (s *Store) ListCredentialsByEmail(ctx context.Context, email, cursor string, limit int) (credbatch.Page[credbatch.Credential], error) {
	return s.listCreds(ctx, "list credentials by email", &dynamodb.QueryInput{
		IndexName:                 aws.String(gsi1),
		KeyConditionExpression:    aws.String("GSI1PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(emailGSIPK + strings.ToLower(email))},
		ScanIndexForward:          aws.Bool(false),
	}, cursor, limit)
}

// ListCredentialsByBatch lists a batch's credentials in row order (GSI3).
func (s *Store) ListCredentialsByBatch(ctx context.Context, batchID, cursor string, limit int) (credbatch.Page[credbatch.Credential], error) {
	return s.listCreds(ctx, "list credentials by batch", &dynamodb.QueryInput{
		IndexName:                 aws.String(gsi3),
		KeyConditionExpression:    aws.String("GSI3PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("CBATCH#" + batchID)},
		ScanIndexForward:          aws.Bool(true),
	}, cursor, limit)
}

// ListRevoked lists the revoked credentials by id (the REVOKED partition).
func (s *Store) ListRevoked(ctx context.Context, cursor string, limit int) (credbatch.Page[credbatch.Credential], error) {
	return s.listCreds(ctx, "list revoked credentials", &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(revokedPK)},
		ConsistentRead:            aws.Bool(true),
	}, cursor, limit)
}

func (s *Store) listCreds(ctx context.Context, op string, in *dynamodb.QueryInput, cursor string, limit int) (credbatch.Page[credbatch.Credential], error) {
	items, next, err := s.query(ctx, op, in, cursor, limit)
	if err != nil {
		return credbatch.Page[credbatch.Credential]{}, err
	}
	cs, err := decodeAll[credbatch.Credential](op, items)
	return credbatch.Page[credbatch.Credential]{Items: cs, Next: next}, err
}

// FindActiveCredential returns the newest issued credential of the definition held by the
// email: the recipient's GSI1 partition filtered on definition and status.
func (s *Store) FindActiveCredential(ctx context.Context, definitionID, email string) (credbatch.Credential, error) {
	items, _, err := s.query(ctx, "find active credential", &dynamodb.QueryInput{
		IndexName:                 aws.String(gsi1),
		KeyConditionExpression:    aws.String("GSI1PK = :pk"),
		FilterExpression:          aws.String("DefinitionID = :def AND #st = :issued"),
		ExpressionAttributeNames:  map[string]string{"#st": "Status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(emailGSIPK + strings.ToLower(email)), ":def": str(definitionID), ":issued": str(string(credbatch.CredentialIssued))},
		ScanIndexForward:          aws.Bool(false),
	}, "", 1)
	if err != nil {
		return credbatch.Credential{}, err
	}
	if len(items) == 0 {
		return credbatch.Credential{}, credbatch.NotFound("active credential of "+definitionID+" for", email)
	}
	return decodeOne[credbatch.Credential](items[0])
}

// SetEmailStatus moves the email status in one conditional update.
func (s *Store) SetEmailStatus(ctx context.Context, id string, from []credbatch.EmailStatus, to credbatch.EmailStatus, ch credbatch.EmailChange) (credbatch.Credential, error) {
	if len(from) == 0 {
		return credbatch.Credential{}, credbatch.Conflict("email of credential %s: no status allows the move to %s", id, to)
	}
	u := newUpdate()
	u.set("EmailStatus", str(string(to)))
	u.set("UpdatedAt", mustValue(s.stamp()))
	if ch.MessageID != "" {
		u.set("MessageID", str(ch.MessageID))
		u.set(attrGSI2PK, str("MSG#"+ch.MessageID))
		u.set(attrGSI2SK, str(msgGSI2SK))
	}
	if ch.LastError != "" {
		u.set("LastError", str(ch.LastError))
	}
	if ch.BounceType != "" {
		u.set("BounceType", str(ch.BounceType))
	}
	if !ch.SentAt.IsZero() {
		u.set("SentAt", mustValue(ch.SentAt))
	}
	ph := make([]string, len(from))
	for i, f := range from {
		ph[i] = u.value(str(string(f)))
	}
	cond := "attribute_exists(PK) AND " + u.name("EmailStatus") + " IN (" + strings.Join(ph, ", ") + ")"
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: credKey(id),
		UpdateExpression: u.expr(), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.values,
		ReturnValues: types.ReturnValueAllNew,
	})
	if conditionFailed(err) {
		return credbatch.Credential{}, s.missingOr(ctx, "credential", id, credKey(id),
			credbatch.Conflict("email of credential %s is not %v", id, from))
	}
	if err != nil {
		return credbatch.Credential{}, fail(fmt.Sprintf("set email status of credential %s", id), err)
	}
	return decodeOne[credbatch.Credential](out.Attributes)
}

// RevokeCredential marks an issued credential revoked and adds it to the REVOKED partition
// in one transaction, then reads it back.
func (s *Store) RevokeCredential(ctx context.Context, id, reason string, at time.Time) (credbatch.Credential, error) {
	c, err := s.GetCredential(ctx, id)
	if err != nil {
		return c, err
	}
	if c.Status == credbatch.CredentialRevoked {
		return c, credbatch.Conflict("credential %s is revoked already", id)
	}
	c.Status = credbatch.CredentialRevoked
	c.RevokedReason = reason
	c.RevokedAt = at
	c.UpdatedAt = s.stamp()
	u := newUpdate()
	u.set("Status", str(string(c.Status)))
	u.set("RevokedReason", str(reason))
	u.set("RevokedAt", mustValue(at))
	u.set("UpdatedAt", mustValue(c.UpdatedAt))
	cond := "attribute_exists(PK) AND " + u.name("Status") + " = " + u.value(str(string(credbatch.CredentialIssued)))
	copyItem, err := marshal(c, attrPK, revokedPK, attrSK, id)
	if err != nil {
		return c, err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{TableName: aws.String(s.table), Key: credKey(id),
			UpdateExpression: u.expr(), ConditionExpression: aws.String(cond),
			ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.values}},
		{Put: &types.Put{TableName: aws.String(s.table), Item: copyItem}},
	}})
	if txConflict(err) {
		return c, credbatch.Conflict("credential %s is revoked already (or being revoked)", id)
	}
	if err != nil {
		return c, fail(fmt.Sprintf("revoke credential %s", id), err)
	}
	return s.GetCredential(ctx, id)
}

// AllocateStatusIndexes reserves n consecutive indexes with one ADD on a counter item.
func (s *Store) AllocateStatusIndexes(ctx context.Context, n int) (int, error) {
	if n < 1 {
		return 0, invalid("allocate %d status indexes: n must be at least 1", n)
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(counterPK, counterSK),
		UpdateExpression:          aws.String("ADD #next :n"),
		ExpressionAttributeNames:  map[string]string{"#next": "Next"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": mustValue(n)},
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, fail("allocate status indexes", err)
	}
	var v struct{ Next int }
	if v, err = decodeOne[struct{ Next int }](out.Attributes); err != nil {
		return 0, fmt.Errorf("allocate status indexes: %w", err)
	}
	return v.Next - n, nil
}
