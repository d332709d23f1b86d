package dynamo

import (
	"context"
	"fmt"
	"slices"
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
	emailGSIPK = "EMAIL#"
	msgSK      = "MSG"
)

// msgKey is the key of the item that points from an SES message id to its credential.
func msgKey(messageID string) map[string]types.AttributeValue { return key("MSG#"+messageID, msgSK) }

func credKey(id string) map[string]types.AttributeValue { return key("CRED#"+id, credSK) }

// credItem encodes a credential with its keys: GSI1 by recipient (newest first). A batch's
// credentials and the SES message id are found through pointer items (putPointer).
func credItem(c credbatch.Credential) (map[string]types.AttributeValue, error) {
	return marshal(c, attrPK, "CRED#"+c.ID, attrSK, credSK,
		attrGSI1PK, emailGSIPK+strings.ToLower(c.Email), attrGSI1SK, timeKey(c.IssuedAt)+"#"+c.ID)
}

// credInBatchKey is the key of the item that lists a credential in its batch's partition, in
// row order.
func credInBatchKey(c credbatch.Credential) map[string]types.AttributeValue {
	return key(batchPK(c.BatchID), "CRED#"+num(c.RowNumber)+"#"+c.ID)
}

// putPointer writes an item (key k) that points to a credential. Pointers are written before
// the credential or the field they index (so that whatever is stored can be found) and are
// idempotent; a pointer left by a write that then failed is harmless, as readers check the
// credential it leads to.
func (s *Store) putPointer(ctx context.Context, k map[string]types.AttributeValue, credentialID string) error {
	k["CredentialID"] = str(credentialID)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: k})
	return fail(fmt.Sprintf("index credential %s", credentialID), err)
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
	if err := s.putPointer(ctx, credInBatchKey(c), c.ID); err != nil {
		return err
	}
	if c.MessageID != "" {
		if err := s.putPointer(ctx, msgKey(c.MessageID), c.ID); err != nil {
			return err
		}
	}
	put := &types.Put{TableName: aws.String(s.table), Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)")}
	if delta := credbatch.EmailCounts(c.EmailStatus); delta != (credbatch.Counts{}) && c.BatchID != "" {
		// Its email counts in its batch from the same write.
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: put}, {Update: s.addCountsUpdate(c.BatchID, delta)}}})
		switch {
		case txFailed(err, 0):
			return credbatch.Conflict("credential %s exists already", c.ID)
		case txFailed(err, 1): // no batch stored: nothing to count
		case txConflict(err):
			return credbatch.Errorf(credbatch.KindUnavailable, "create credential %s: a concurrent write got in the way; retry", c.ID)
		default:
			return fail(fmt.Sprintf("create credential %s", c.ID), err)
		}
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: put.TableName, Item: item, ConditionExpression: put.ConditionExpression})
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

// GetCredentialByMessageID follows the message id's pointer item to the credential;
// KindNotFound.
func (s *Store) GetCredentialByMessageID(ctx context.Context, messageID string) (credbatch.Credential, error) {
	notFound := credbatch.NotFound("credential with message id", messageID)
	if messageID == "" {
		return credbatch.Credential{}, notFound
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: msgKey(messageID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return credbatch.Credential{}, fail(fmt.Sprintf("get credential by message id %s", messageID), err)
	}
	if len(out.Item) == 0 {
		return credbatch.Credential{}, notFound
	}
	var ptr struct{ CredentialID string }
	if ptr, err = decodeOne[struct{ CredentialID string }](out.Item); err != nil {
		return credbatch.Credential{}, err
	}
	c, err := s.GetCredential(ctx, ptr.CredentialID)
	if credbatch.IsKind(err, credbatch.KindNotFound) || err == nil && c.MessageID != messageID {
		return credbatch.Credential{}, notFound
	}
	return c, err
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

// ListCredentialsByBatch lists a batch's credentials in row order: a page of the pointers in
// the batch's partition, then the credentials themselves with BatchGetItem. A pointer whose
// credential was never written (a crash between the two writes) is skipped.
func (s *Store) ListCredentialsByBatch(ctx context.Context, batchID, cursor string, limit int) (credbatch.Page[credbatch.Credential], error) {
	const op = "list credentials by batch"
	ptrs, next, err := s.query(ctx, op, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :cred)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(batchPK(batchID)), ":cred": str("CRED#")},
		ConsistentRead:            aws.Bool(true),
	}, cursor, limit)
	if err != nil {
		return credbatch.Page[credbatch.Credential]{}, err
	}
	ids := make([]string, 0, len(ptrs))
	for _, p := range ptrs {
		if v, ok := p["CredentialID"].(*types.AttributeValueMemberS); ok {
			ids = append(ids, v.Value)
		}
	}
	found, err := s.getCredentials(ctx, op, ids)
	if err != nil {
		return credbatch.Page[credbatch.Credential]{}, err
	}
	out := make([]credbatch.Credential, 0, len(ids))
	for _, id := range ids {
		if c, ok := found[id]; ok && c.BatchID == batchID {
			out = append(out, c)
		}
	}
	return credbatch.Page[credbatch.Credential]{Items: out, Next: next}, nil
}

// batchGetMax is the most keys one BatchGetItem request may carry.
const batchGetMax = 100

// getCredentials reads credentials by id with BatchGetItem (strongly consistent), retrying
// UnprocessedKeys with backoff; missing ids are absent from the result.
func (s *Store) getCredentials(ctx context.Context, op string, ids []string) (map[string]credbatch.Credential, error) {
	found := make(map[string]credbatch.Credential, len(ids))
	for lo := 0; lo < len(ids); lo += batchGetMax {
		keys := make([]map[string]types.AttributeValue, 0, batchGetMax)
		for _, id := range ids[lo:min(lo+batchGetMax, len(ids))] {
			keys = append(keys, credKey(id))
		}
		for attempt := 0; len(keys) > 0; attempt++ {
			if attempt >= s.attempts {
				return nil, &credbatch.Error{Kind: credbatch.KindUnavailable, Code: string(credbatch.KindUnavailable), Op: op,
					Message: fmt.Sprintf("DynamoDB is throttling: %d credentials still unread after %d attempts; retry later", len(keys), s.attempts)}
			}
			if attempt > 0 {
				if err := s.sleep(ctx, s.backoff(attempt-1)); err != nil {
					return nil, fail(op, err)
				}
			}
			out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
				s.table: {Keys: keys, ConsistentRead: aws.Bool(true)},
			}})
			if err != nil {
				if !retryable(err) || ctx.Err() != nil {
					return nil, fail(op, err)
				}
				continue
			}
			for _, it := range out.Responses[s.table] {
				c, err := decodeOne[credbatch.Credential](it)
				if err != nil {
					return nil, err
				}
				found[c.ID] = c
			}
			keys = out.UnprocessedKeys[s.table].Keys
		}
	}
	return found, nil
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

// SetEmailStatus moves the email status in one conditional update; when the move changes
// the batch's email counters, the update and the counters go in one transaction conditioned
// on the exact status read just before (re-read and retried when another writer moved it).
func (s *Store) SetEmailStatus(ctx context.Context, id string, from []credbatch.EmailStatus, to credbatch.EmailStatus, ch credbatch.EmailChange) (credbatch.Credential, error) {
	if len(from) == 0 {
		return credbatch.Credential{}, credbatch.Conflict("email of credential %s: no status allows the move to %s", id, to)
	}
	if ch.MessageID != "" {
		if err := s.putPointer(ctx, msgKey(ch.MessageID), id); err != nil {
			return credbatch.Credential{}, err
		}
	}
	counted := false
	for _, f := range from {
		counted = counted || credbatch.EmailDelta(f, to) != (credbatch.Counts{})
	}
	if !counted {
		return s.setEmail(ctx, id, from, to, ch)
	}
	for attempt := 0; attempt < maxEmailAttempts; attempt++ {
		cur, err := s.GetCredential(ctx, id)
		if err != nil {
			return cur, err
		}
		if !slices.Contains(from, cur.EmailStatus) {
			return cur, credbatch.Conflict("email of credential %s is %s, not %v", id, cur.EmailStatus, from)
		}
		delta := credbatch.EmailDelta(cur.EmailStatus, to)
		if delta == (credbatch.Counts{}) || cur.BatchID == "" {
			return s.setEmail(ctx, id, []credbatch.EmailStatus{cur.EmailStatus}, to, ch)
		}
		u, cond := s.emailUpdate([]credbatch.EmailStatus{cur.EmailStatus}, to, ch)
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{TableName: aws.String(s.table), Key: credKey(id),
				UpdateExpression: u.expr(), ConditionExpression: aws.String(cond),
				ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.values}},
			{Update: s.addCountsUpdate(cur.BatchID, delta)},
		}})
		switch {
		case err == nil:
			return s.GetCredential(ctx, id)
		case txFailed(err, 1) && !txFailed(err, 0): // no batch stored: nothing to count
			return s.setEmail(ctx, id, []credbatch.EmailStatus{cur.EmailStatus}, to, ch)
		case txConflict(err): // moved by another writer since the read: read again
		default:
			return cur, fail(fmt.Sprintf("set email status of credential %s", id), err)
		}
	}
	return credbatch.Credential{}, credbatch.Errorf(credbatch.KindUnavailable, "email of credential %s: changed concurrently %d times; retry", id, maxEmailAttempts)
}

// maxEmailAttempts bounds the re-reads of a counted email status move under contention.
const maxEmailAttempts = 8

// emailUpdate is the update expression and condition of an email status move.
func (s *Store) emailUpdate(from []credbatch.EmailStatus, to credbatch.EmailStatus, ch credbatch.EmailChange) (*update, string) {
	u := newUpdate()
	u.set("EmailStatus", str(string(to)))
	u.set("UpdatedAt", mustValue(s.stamp()))
	if ch.MessageID != "" {
		u.set("MessageID", str(ch.MessageID))
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
	return u, "attribute_exists(PK) AND " + u.name("EmailStatus") + " IN (" + strings.Join(ph, ", ") + ")"
}

// setEmail is an email status move that changes no counter: one conditional update.
func (s *Store) setEmail(ctx context.Context, id string, from []credbatch.EmailStatus, to credbatch.EmailStatus, ch credbatch.EmailChange) (credbatch.Credential, error) {
	u, cond := s.emailUpdate(from, to, ch)
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
