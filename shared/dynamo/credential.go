package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	docSK      = "DOC#"  // the SK prefix of a credential's signed-document item
	attrDocSK  = "DocSK" // the head's pointer to its document item
	attrJWT    = "JWT"
	attrDocGz  = "JWTgz"       // a document item's signed document, gzip-compressed (written before Docz1)
	attrJWTDet = "JWTDetached" // a document item's VC-JWT signed at issuance, payload detached (before Docz1)
)

func credKey(id string) map[string]types.AttributeValue { return key("CRED#"+id, credSK) }

// credItem encodes a credential's head with its key, outside GSI1: every email status move
// rewrites the head, and outside the index a move costs 1 write unit instead of 2. The
// recipient's index entry is the credential's pointer item in its batch (pointerItem).
// Heads stored before it carry GSI1 keys themselves (EMAIL#<lower>), and are read from the
// index as they are.
func credItem(c credbatch.Credential) (map[string]types.AttributeValue, error) {
	return marshal(c, attrPK, "CRED#"+c.ID, attrSK, credSK)
}

// credItems encodes a new credential as its head (credItem without the signed document, and
// the key of the document's item in DocSK) and its document item, PK=CRED#<id> SK=DOC#<random>,
// outside GSI1, the document and the VC-JWT signed at issuance (in detached form) compressed
// together with a preset dictionary (Docz1, docz.go: a 2.6 KB JSON-LD credential and its
// 230-byte VC-JWT in a 0.9 KB item, 1 write unit instead of 2 with gzip). The head is the
// item every status move rewrites, in GSI1: kept under 1 KB, a move costs 2 write units
// (table and index) instead of 6 with the 2.6 KB document in it. A document is written once,
// before its head, under a key of its own: a create that loses the race for the id (or fails
// before its head) leaves an unread item, never a document in place of the stored one. A
// credential without a document (none signed) is one item; credentials stored before the split
// keep theirs in the head, and are read as they are.
func credItems(c credbatch.Credential) (head, doc map[string]types.AttributeValue, err error) {
	if head, err = credItem(c); err != nil {
		return nil, nil, err
	}
	if c.JWT == "" {
		return head, nil, nil
	}
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, nil, credbatch.Errorf(credbatch.KindInternal, "document key: %v", err)
	}
	sk := docSK + hex.EncodeToString(nonce[:])
	delete(head, attrJWT)
	delete(head, attrJWTDet)
	head[attrDocSK] = str(sk)
	z, err := encodeDocz(c.JWT, c.JWTDetached)
	if err != nil {
		return nil, nil, err
	}
	doc = key("CRED#"+c.ID, sk)
	doc[attrDocz1] = &types.AttributeValueMemberB{Value: z}
	return head, doc, nil
}

// storedDoc is what a document item holds: the signed document and its detached VC-JWT
// (docz.go: storedDocOf reads one).
type storedDoc struct{ jwt, detached string }

// decodeCredentials decodes credential heads and reads the documents kept apart (credItems)
// with BatchGetItem, strongly consistent.
func (s *Store) decodeCredentials(ctx context.Context, op string, items []map[string]types.AttributeValue) ([]credbatch.Credential, error) {
	out, err := decodeAll[credbatch.Credential](op, items)
	if err != nil {
		return nil, err
	}
	var keys []map[string]types.AttributeValue
	for _, it := range items {
		if sk, ok := it[attrDocSK].(*types.AttributeValueMemberS); ok {
			keys = append(keys, key(it[attrPK].(*types.AttributeValueMemberS).Value, sk.Value))
		}
	}
	if len(keys) == 0 {
		return out, nil
	}
	docs, err := s.batchGet(ctx, op, keys)
	if err != nil {
		return nil, err
	}
	byKey := make(map[[2]string]storedDoc, len(docs))
	for _, d := range docs {
		v, ok, err := storedDocOf(d)
		if err != nil {
			return nil, err
		}
		if ok {
			byKey[[2]string{d[attrPK].(*types.AttributeValueMemberS).Value, d[attrSK].(*types.AttributeValueMemberS).Value}] = v
		}
	}
	for i, it := range items {
		if sk, ok := it[attrDocSK].(*types.AttributeValueMemberS); ok {
			v, found := byKey[[2]string{"CRED#" + out[i].ID, sk.Value}]
			if !found {
				return nil, credbatch.Errorf(credbatch.KindInternal, "%s: credential %s: its document %s is missing", op, out[i].ID, sk.Value)
			}
			out[i].JWT, out[i].JWTDetached = v.jwt, v.detached
		}
	}
	return out, nil
}

// credInBatchKey is the key of the item that lists a credential in its batch's partition, in
// row order.
func credInBatchKey(c credbatch.Credential) map[string]types.AttributeValue {
	return key(batchPK(c.BatchID), "CRED#"+num(c.RowNumber)+"#"+c.ID)
}

// pointerItem is a credential's pointer item: it lists the credential in its batch's
// partition (credInBatchKey) and is its entry in GSI1 by recipient (newest first), with the
// credential id and its definition: one item, 2 write units with its index copy, for both
// lookups. It is written once, before the credential (so that whatever is stored can be
// found) and is idempotent; a pointer left by a create that then failed is harmless, as
// readers check the credential it leads to.
func pointerItem(c credbatch.Credential) map[string]types.AttributeValue {
	item := credInBatchKey(c)
	item["CredentialID"], item["DefinitionID"] = str(c.ID), str(c.DefinitionID)
	item[attrGSI1PK], item[attrGSI1SK] = str(emailGSIPK+strings.ToLower(c.Email)), str(timeKey(c.IssuedAt)+"#"+c.ID)
	return item
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
	item, doc, err := credItems(c)
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: pointerItem(c)}); err != nil {
		return fail(fmt.Sprintf("index credential %s", c.ID), err)
	}
	if doc != nil {
		if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: doc}); err != nil {
			return fail(fmt.Sprintf("store the document of credential %s", c.ID), err)
		}
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	if conditionFailed(err) {
		return credbatch.Conflict("credential %s exists already", c.ID)
	}
	if err != nil {
		return fail(fmt.Sprintf("create credential %s", c.ID), err)
	}
	// Its email counts in its batch (a suppressed address), by the writer that created it.
	s.countEmail(ctx, c.BatchID, credbatch.EmailCounts(c.EmailStatus), c.ID)
	return nil
}

// GetCredential returns a credential; KindNotFound. One strongly consistent query of the
// credential's partition reads the head and its document together.
func (s *Store) GetCredential(ctx context.Context, id string) (credbatch.Credential, error) {
	const op = "get credential"
	items, err := s.queryAll(ctx, op, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("CRED#" + id)},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		return credbatch.Credential{}, err
	}
	var head map[string]types.AttributeValue
	docs := map[string]storedDoc{}
	for _, it := range items {
		sk, _ := it[attrSK].(*types.AttributeValueMemberS)
		switch {
		case sk == nil:
		case sk.Value == credSK:
			head = it
		case strings.HasPrefix(sk.Value, docSK):
			v, ok, err := storedDocOf(it)
			if err != nil {
				return credbatch.Credential{}, err
			}
			if ok {
				docs[sk.Value] = v
			}
		}
	}
	if head == nil {
		return credbatch.Credential{}, credbatch.NotFound("credential", id)
	}
	c, err := decodeOne[credbatch.Credential](head)
	if err != nil {
		return c, fmt.Errorf("%s %s: %w", op, id, err)
	}
	if sk, ok := head[attrDocSK].(*types.AttributeValueMemberS); ok {
		d, found := docs[sk.Value]
		if !found {
			return c, credbatch.Errorf(credbatch.KindInternal, "%s: credential %s: its document %s is missing", op, id, sk.Value)
		}
		c.JWT, c.JWTDetached = d.jwt, d.detached
	}
	return c, nil
}

// ListCredentialsByEmail lists a recipient's credentials newest first: GSI1's recipient
// entries (recipientCredentials).
func (s *Store) ListCredentialsByEmail(ctx context.Context, email, cursor string, limit int) (credbatch.Page[credbatch.Credential], error) {
	const op = "list credentials by email"
	items, next, err := s.query(ctx, op, &dynamodb.QueryInput{
		IndexName:                 aws.String(gsi1),
		KeyConditionExpression:    aws.String("GSI1PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(emailGSIPK + strings.ToLower(email))},
		ScanIndexForward:          aws.Bool(false),
	}, cursor, limit)
	if err != nil {
		return credbatch.Page[credbatch.Credential]{}, err
	}
	cs, err := s.recipientCredentials(ctx, op, items)
	return credbatch.Page[credbatch.Credential]{Items: cs, Next: next}, err
}

// recipientCredentials resolves GSI1 recipient entries, in order: a pointer item leads to its
// credential (read with BatchGetItem; one whose head was never written is skipped), a head
// stored before pointer items were its entries is its own.
func (s *Store) recipientCredentials(ctx context.Context, op string, items []map[string]types.AttributeValue) ([]credbatch.Credential, error) {
	var ids []string
	var heads []map[string]types.AttributeValue
	for _, it := range items {
		if isPointer(it) {
			if v, ok := it["CredentialID"].(*types.AttributeValueMemberS); ok {
				ids = append(ids, v.Value)
			}
			continue
		}
		heads = append(heads, it)
	}
	found, err := s.getCredentials(ctx, op, ids)
	if err != nil {
		return nil, err
	}
	legacy, err := s.decodeCredentials(ctx, op, heads)
	if err != nil {
		return nil, err
	}
	out := make([]credbatch.Credential, 0, len(items))
	for _, it := range items {
		if isPointer(it) {
			if v, ok := it["CredentialID"].(*types.AttributeValueMemberS); ok {
				if c, ok := found[v.Value]; ok {
					out = append(out, c)
				}
			}
			continue
		}
		out = append(out, legacy[0])
		legacy = legacy[1:]
	}
	return out, nil
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

// getCredentials reads credentials by id with BatchGetItem (strongly consistent); missing
// ids are absent from the result.
func (s *Store) getCredentials(ctx context.Context, op string, ids []string) (map[string]credbatch.Credential, error) {
	keys := make([]map[string]types.AttributeValue, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, credKey(id))
	}
	items, err := s.batchGet(ctx, op, keys)
	if err != nil {
		return nil, err
	}
	cs, err := s.decodeCredentials(ctx, op, items)
	if err != nil {
		return nil, err
	}
	found := make(map[string]credbatch.Credential, len(cs))
	for _, c := range cs {
		found[c.ID] = c
	}
	return found, nil
}

// batchGet reads items by key with BatchGetItem (strongly consistent, 100 keys a request),
// retrying UnprocessedKeys with backoff; missing items are absent from the result.
func (s *Store) batchGet(ctx context.Context, op string, all []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	var found []map[string]types.AttributeValue
	for lo := 0; lo < len(all); lo += batchGetMax {
		keys := all[lo:min(lo+batchGetMax, len(all))]
		for attempt := 0; len(keys) > 0; attempt++ {
			if attempt >= s.attempts {
				return nil, &credbatch.Error{Kind: credbatch.KindUnavailable, Code: string(credbatch.KindUnavailable), Op: op,
					Message: fmt.Sprintf("DynamoDB is throttling: %d items still unread after %d attempts; retry later", len(keys), s.attempts)}
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
			found = append(found, out.Responses[s.table]...)
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
	cs, err := s.decodeCredentials(ctx, op, items)
	return credbatch.Page[credbatch.Credential]{Items: cs, Next: next}, err
}

// isPointer reports whether a GSI1 recipient entry is a pointer item (in a batch's partition)
// rather than a credential head.
func isPointer(it map[string]types.AttributeValue) bool {
	pk, _ := it[attrPK].(*types.AttributeValueMemberS)
	return pk != nil && strings.HasPrefix(pk.Value, batchPK(""))
}

// FindActiveCredential returns the newest issued credential of the definition held by the
// email: the recipient's GSI1 entries filtered on the definition, newest first, until one
// leads to a credential that is issued (revocation moves the head, not the entry).
func (s *Store) FindActiveCredential(ctx context.Context, definitionID, email string) (credbatch.Credential, error) {
	const op = "find active credential"
	cursor := ""
	for {
		items, next, err := s.query(ctx, op, &dynamodb.QueryInput{
			IndexName:                 aws.String(gsi1),
			KeyConditionExpression:    aws.String("GSI1PK = :pk"),
			FilterExpression:          aws.String("DefinitionID = :def"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(emailGSIPK + strings.ToLower(email)), ":def": str(definitionID)},
			ScanIndexForward:          aws.Bool(false),
		}, cursor, credbatch.MaxPageSize)
		if err != nil {
			return credbatch.Credential{}, err
		}
		cs, err := s.recipientCredentials(ctx, op, items)
		if err != nil {
			return credbatch.Credential{}, err
		}
		for _, c := range cs {
			if c.Status == credbatch.CredentialIssued && c.DefinitionID == definitionID {
				return c, nil
			}
		}
		if cursor = next; cursor == "" {
			return credbatch.Credential{}, credbatch.NotFound("active credential of "+definitionID+" for", email)
		}
	}
}

// SetEmailStatus moves the email status in one conditional update, then adds the move's
// change of the batch's email counters (credbatch.EmailDelta) to them (countEmail): only
// the writer whose conditional move succeeded counts it, so the counters follow the
// statuses exactly however many writers race, and no transaction doubles the cost of both
// writes. When the statuses in from would change the counters differently, the current
// status is read first and the move is conditioned on exactly it (read again and retried
// when another writer moved it meanwhile).
func (s *Store) SetEmailStatus(ctx context.Context, id string, from []credbatch.EmailStatus, to credbatch.EmailStatus, ch credbatch.EmailChange) (credbatch.Credential, error) {
	if len(from) == 0 {
		return credbatch.Credential{}, credbatch.Conflict("email of credential %s: no status allows the move to %s", id, to)
	}
	same := true
	for _, f := range from[1:] {
		same = same && credbatch.EmailDelta(f, to) == credbatch.EmailDelta(from[0], to)
	}
	if same {
		c, err := s.setEmail(ctx, id, from, to, ch)
		if err == nil && !ch.Uncounted {
			s.countEmail(ctx, c.BatchID, credbatch.EmailDelta(from[0], to), id)
		}
		return c, err
	}
	for attempt := 0; attempt < maxEmailAttempts; attempt++ {
		cur, err := s.emailStatus(ctx, id)
		if err != nil {
			return credbatch.Credential{}, err
		}
		if !slices.Contains(from, cur) {
			return credbatch.Credential{}, credbatch.Conflict("email of credential %s is %s, not %v", id, cur, from)
		}
		c, err := s.setEmail(ctx, id, []credbatch.EmailStatus{cur}, to, ch)
		if err == nil {
			if !ch.Uncounted {
				s.countEmail(ctx, c.BatchID, credbatch.EmailDelta(cur, to), id)
			}
			return c, nil
		}
		if !credbatch.IsKind(err, credbatch.KindConflict) {
			return c, err
		}
		// Moved by another writer since the read: read again.
	}
	return credbatch.Credential{}, credbatch.Errorf(credbatch.KindUnavailable, "email of credential %s: changed concurrently %d times; retry", id, maxEmailAttempts)
}

// emailStatus reads a credential's email status alone (strongly consistent); KindNotFound.
func (s *Store) emailStatus(ctx context.Context, id string) (credbatch.EmailStatus, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: credKey(id), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("#es"), ExpressionAttributeNames: map[string]string{"#es": "EmailStatus"}})
	if err != nil {
		return "", fail(fmt.Sprintf("get email status of credential %s", id), err)
	}
	v, ok := out.Item["EmailStatus"].(*types.AttributeValueMemberS)
	if !ok {
		return "", credbatch.NotFound("credential", id)
	}
	return credbatch.EmailStatus(v.Value), nil
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
	if !ch.DeliveredAt.IsZero() {
		u.set("DeliveredAt", mustValue(ch.DeliveredAt.UTC()))
	}
	ph := make([]string, len(from))
	for i, f := range from {
		ph[i] = u.value(str(string(f)))
	}
	return u, "attribute_exists(PK) AND " + u.name("EmailStatus") + " IN (" + strings.Join(ph, ", ") + ")"
}

// setEmail is the conditional update of an email status move (counting is the caller's).
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
	// The head alone: the signed document (its own item) is not read for a move.
	c, err := decodeOne[credbatch.Credential](out.Attributes)
	if err != nil {
		return c, fmt.Errorf("set email status of credential %s: %w", id, err)
	}
	c.JWT, c.JWTDetached = "", "" // a head stored with its document before the split
	return c, nil
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
