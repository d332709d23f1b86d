package dynamo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/credbatch/credbatch/shared/credbatch"
)

const (
	batchSK  = "BATCH"
	countsSK = "BATCH#COUNTS" // begins with batchSK: one query reads both
)

func batchKey(id string) map[string]types.AttributeValue { return key(batchPK(id), batchSK) }

// countsKey is the key of a batch's email counters item: Counts.Sent, Delivered, Bounced,
// Complained and Suppressed, which every counted email status move adds to in the
// credential's transaction. The batch item is 1-2 KB and in GSI1, so adding there cost 4 write
// units (8 in a transaction); this item is under 1 KB and outside GSI1: 1 (2). A batch's
// email counters are the sum of both items' (only ADD moves them, never SET): a batch stored
// before the counters item has none and keeps adding in its batch item.
func countsKey(id string) map[string]types.AttributeValue { return key(batchPK(id), countsSK) }

// CreateBatch stores a new batch; KindConflict when the id exists.
func (s *Store) CreateBatch(ctx context.Context, b credbatch.Batch) error {
	if b.ID == "" {
		return invalid("batch id is empty")
	}
	if b.Status != credbatch.BatchReceived {
		return invalid("batch %s: a new batch must have status %q, not %q", b.ID, credbatch.BatchReceived, b.Status)
	}
	now := s.stamp()
	if b.CreatedAt.IsZero() {
		b.CreatedAt = now
	}
	if b.UpdatedAt.IsZero() {
		b.UpdatedAt = now
	}
	created := timeKey(b.CreatedAt) + "#" + b.ID
	item, err := marshal(b, attrPK, batchPK(b.ID), attrSK, batchSK,
		attrGSI1PK, "BATCHES", attrGSI1SK, created,
		"LabelLower", strings.ToLower(b.Label))
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if conditionFailed(err) {
		return credbatch.Conflict("batch %s exists already", b.ID)
	}
	if err != nil {
		return fail(fmt.Sprintf("create batch %s", b.ID), err)
	}
	// Its email counters start in their own item (never replaced: they may have moved). A
	// crash before this write leaves a batch that counts in its batch item.
	counts := countsKey(b.ID)
	counts["Counts"] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}} // ADD Counts.<field> needs the map
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: counts,
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if conditionFailed(err) {
		return nil
	}
	return fail(fmt.Sprintf("create the counters of batch %s", b.ID), err)
}

// withCounts adds the email counters of the batch's counters item (counts, nil when it has
// none) to the batch decoded from its item.
func withCounts(b credbatch.Batch, counts map[string]types.AttributeValue) (credbatch.Batch, error) {
	if counts == nil {
		return b, nil
	}
	var c struct {
		Counts    credbatch.Counts
		UpdatedAt time.Time
	}
	if err := attributevalue.UnmarshalMap(counts, &c); err != nil {
		return b, credbatch.Errorf(credbatch.KindInternal, "decode the counters of batch %s: %v", b.ID, err)
	}
	b.Counts.Sent += c.Counts.Sent
	b.Counts.Delivered += c.Counts.Delivered
	b.Counts.Bounced += c.Counts.Bounced
	b.Counts.Complained += c.Counts.Complained
	b.Counts.Suppressed += c.Counts.Suppressed
	if c.UpdatedAt.After(b.UpdatedAt) {
		b.UpdatedAt = c.UpdatedAt
	}
	return b, nil
}

// GetBatch returns a batch; KindNotFound. One strongly consistent query reads the batch item
// and its counters item.
func (s *Store) GetBatch(ctx context.Context, id string) (credbatch.Batch, error) {
	b, _, _, err := s.readBatch(ctx, "get batch", id)
	return b, err
}

// readBatch reads the batch item and its counters item (counts, nil when it has none) in
// one strongly consistent query, and the batch they make; KindNotFound.
func (s *Store) readBatch(ctx context.Context, op, id string) (b credbatch.Batch, head, counts map[string]types.AttributeValue, err error) {
	items, err := s.queryAll(ctx, op, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :batch)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(batchPK(id)), ":batch": str(batchSK)},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		return b, nil, nil, err
	}
	for _, it := range items {
		switch sk, _ := it[attrSK].(*types.AttributeValueMemberS); {
		case sk != nil && sk.Value == batchSK:
			head = it
		case sk != nil && sk.Value == countsSK:
			counts = it
		}
	}
	if head == nil {
		return b, nil, nil, credbatch.NotFound("batch", id)
	}
	if b, err = decodeOne[credbatch.Batch](head); err != nil {
		return b, nil, nil, fmt.Errorf("%s %s: %w", op, id, err)
	}
	b, err = withCounts(b, counts)
	return b, head, counts, err
}

// batchCounts reads the counters items of the batches (BatchGetItem) and adds their email
// counters to each.
func (s *Store) batchCounts(ctx context.Context, op string, bs []credbatch.Batch) ([]credbatch.Batch, error) {
	if len(bs) == 0 {
		return bs, nil
	}
	keys := make([]map[string]types.AttributeValue, 0, len(bs))
	for _, b := range bs {
		keys = append(keys, countsKey(b.ID))
	}
	items, err := s.batchGet(ctx, op, keys)
	if err != nil {
		return nil, err
	}
	byPK := make(map[string]map[string]types.AttributeValue, len(items))
	for _, it := range items {
		if pk, ok := it[attrPK].(*types.AttributeValueMemberS); ok {
			byPK[pk.Value] = it
		}
	}
	for i, b := range bs {
		if bs[i], err = withCounts(b, byPK[batchPK(b.ID)]); err != nil {
			return nil, err
		}
	}
	return bs, nil
}

// TransitionBatch moves a batch from `from` to `to` in one conditional write.
func (s *Store) TransitionBatch(ctx context.Context, id string, from, to credbatch.BatchStatus, ch credbatch.BatchChange) (credbatch.Batch, error) {
	if !credbatch.CanTransition(from, to) {
		return credbatch.Batch{}, credbatch.Conflict("batch %s cannot move from %s to %s", id, from, to)
	}
	u := s.batchChange(ch)
	u.set("Status", str(string(to)))
	cond := "attribute_exists(PK) AND " + u.name("Status") + " = " + u.value(str(string(from)))
	b, err := s.updateBatch(ctx, id, u, cond)
	if credbatch.IsKind(err, credbatch.KindConflict) {
		return b, credbatch.Conflict("batch %s is not %s (another writer moved it first, or it never was)", id, from)
	}
	return b, err
}

// UpdateBatch applies ch without changing the status; KindNotFound.
func (s *Store) UpdateBatch(ctx context.Context, id string, ch credbatch.BatchChange) (credbatch.Batch, error) {
	return s.updateBatch(ctx, id, s.batchChange(ch), "attribute_exists(PK)")
}

func (s *Store) batchChange(ch credbatch.BatchChange) *update {
	u := newUpdate()
	u.set("UpdatedAt", mustValue(s.stamp()))
	strs := []struct {
		name string
		v    *string
	}{{"TaskToken", ch.TaskToken}, {"ExecutionID", ch.ExecutionID}, {"ApprovedBy", ch.ApprovedBy}, {"Reason", ch.Reason}, {"ReportKey", ch.ReportKey}}
	for _, f := range strs {
		if f.v != nil {
			u.set(f.name, str(*f.v))
		}
	}
	if ch.SkipInvalid != nil {
		u.set("SkipInvalid", mustValue(*ch.SkipInvalid))
	}
	if ch.Counts != nil {
		// The email counters stay as stored: only email status changes move them.
		for i, v := range countValues(*ch.Counts) {
			if !emailCounter[countFields[i]] {
				u.set("Counts."+countFields[i], mustValue(v))
			}
		}
	}
	if ch.Findings != nil {
		u.set("Findings", mustValue(*ch.Findings))
	}
	if ch.CompletedAt != nil {
		u.set("CompletedAt", mustValue(*ch.CompletedAt))
	}
	if ch.Columns != nil {
		u.set("Columns", mustValue(*ch.Columns))
	}
	if ch.Definitions != nil {
		u.set("Definitions", mustValue(*ch.Definitions))
	}
	if ch.Format != nil {
		u.set("Format", str(*ch.Format))
	}
	return u
}

// updateBatch runs u under cond: KindNotFound when the batch is missing, KindConflict when
// cond fails otherwise.
func (s *Store) updateBatch(ctx context.Context, id string, u *update, cond string) (credbatch.Batch, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: batchKey(id),
		UpdateExpression: u.expr(), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.values,
		ReturnValues: types.ReturnValueAllNew,
	})
	if conditionFailed(err) {
		return credbatch.Batch{}, s.missingOr(ctx, "batch", id, batchKey(id), credbatch.Conflict("batch %s changed concurrently", id))
	}
	if err != nil {
		return credbatch.Batch{}, fail(fmt.Sprintf("update batch %s", id), err)
	}
	var b credbatch.Batch
	if b, err = decodeOne[credbatch.Batch](out.Attributes); err != nil {
		return b, fmt.Errorf("update batch %s: %w", id, err)
	}
	bs, err := s.batchCounts(ctx, "update batch", []credbatch.Batch{b})
	if err != nil {
		return b, err
	}
	return bs[0], nil
}

// missingOr returns KindNotFound when the item is absent, otherwise other.
func (s *Store) missingOr(ctx context.Context, thing, id string, k map[string]types.AttributeValue, other error) error {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: k, ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("PK")})
	if err != nil {
		return fail(fmt.Sprintf("check %s %s", thing, id), err)
	}
	if len(out.Item) == 0 {
		return credbatch.NotFound(thing, id)
	}
	return other
}

// countFields names the Counts fields as stored.
var countFields = []string{"Rows", "Valid", "Invalid", "Issued", "Failed", "Revoked", "Sent", "Delivered", "Bounced", "Complained", "Suppressed",
	"SentAtResume", "BouncedAtResume"}

// emailCounter marks the counters that credbatch.EmailCounts adds up.
var emailCounter = map[string]bool{"Sent": true, "Delivered": true, "Bounced": true, "Complained": true, "Suppressed": true}

func countValues(c credbatch.Counts) []int {
	return []int{c.Rows, c.Valid, c.Invalid, c.Issued, c.Failed, c.Revoked, c.Sent, c.Delivered, c.Bounced, c.Complained, c.Suppressed,
		c.SentAtResume, c.BouncedAtResume}
}

// countEmail adds an email status move's change (delta) to its batch's email counters: in
// the counters item, or, for a batch stored before those, in the batch item; nothing when
// the batch is not stored (or delta is zero). It runs once the move's conditional write has
// succeeded, in a second write: a DynamoDB transaction of both would bill each twice.
// Counting never happens twice: the SDK's retryer is off for it, and only an error after
// which DynamoDB surely did not apply the write (throttling) is retried, with the store's
// backoff. A crash between the move and this write, or an error that leaves it unknown
// whether DynamoDB applied it, leaves the counters short of the credentials; that is
// logged, and the report run's reconciliation (and Finalize) corrects it
// (CorrectEmailCounts). The move is never undone for it: the caller is told it succeeded.
func (s *Store) countEmail(ctx context.Context, batchID string, delta credbatch.Counts, credentialID string) {
	if batchID == "" || delta == (credbatch.Counts{}) {
		return
	}
	ctx = context.WithoutCancel(ctx)
	var err error
	for attempt := 0; attempt < s.attempts; attempt++ {
		if attempt > 0 {
			if err = s.sleep(ctx, s.backoff(attempt)); err != nil {
				break
			}
		}
		err = s.addCounts(ctx, countsKey(batchID), delta, noRetry)
		if conditionFailed(err) { // a batch stored before its counters item
			err = s.addCounts(ctx, batchKey(batchID), delta, noRetry)
		}
		if conditionFailed(err) { // no batch stored: nothing to count
			return
		}
		if err == nil || !notApplied(err) {
			break
		}
	}
	if err != nil {
		slog.Default().Error("batch email counters not moved; the report run's reconciliation corrects them",
			"batch_id", batchID, "credential_id", credentialID, "delta", delta, "err", err)
	}
}

// noRetry turns the SDK's retryer off for one call (a write that must not be applied twice).
func noRetry(o *dynamodb.Options) { o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 1) }

// notApplied reports whether DynamoDB refused a request without applying it (throttled).
func notApplied(err error) bool {
	var me *retry.MaxAttemptsError
	if errors.As(err, &me) {
		return notApplied(me.Err)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded":
			return true
		}
	}
	return false
}

// CorrectEmailCounts sets the batch's email counters to truth's when they still are stored's:
// it reads the batch item and its counters item, and when their sum is stored it adds the
// difference to the counters item (the batch item for a batch stored before it),
// conditioned on that item's counters being what was read (a compare-and-swap).
func (s *Store) CorrectEmailCounts(ctx context.Context, id string, stored, truth credbatch.Counts) (bool, error) {
	const op = "correct email counters"
	b, head, counts, err := s.readBatch(ctx, op, id)
	if err != nil {
		return false, err
	}
	if b.Counts.Email() != stored.Email() {
		return false, nil
	}
	delta := truth.Email().Sub(stored.Email())
	if delta == (credbatch.Counts{}) {
		return true, nil
	}
	target, k := head, batchKey(id)
	if counts != nil {
		target, k = counts, countsKey(id)
	}
	var now struct{ Counts credbatch.Counts }
	if err := attributevalue.UnmarshalMap(target, &now); err != nil {
		return false, credbatch.Errorf(credbatch.KindInternal, "%s %s: %v", op, id, err)
	}
	u := newUpdate()
	var adds []string
	conds := []string{"attribute_exists(PK)"}
	deltas, vals := countValues(delta), countValues(now.Counts)
	for i, f := range countFields {
		if !emailCounter[f] {
			continue
		}
		name := u.name("Counts." + f)
		if deltas[i] != 0 {
			adds = append(adds, name+" "+u.value(mustValue(deltas[i])))
		}
		if v := u.value(mustValue(vals[i])); vals[i] == 0 {
			conds = append(conds, "(attribute_not_exists("+name+") OR "+name+" = "+v+")")
		} else {
			conds = append(conds, name+" = "+v)
		}
	}
	u.set("UpdatedAt", mustValue(s.stamp()))
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: k,
		UpdateExpression:    aws.String("SET " + strings.Join(u.sets, ", ") + " ADD " + strings.Join(adds, ", ")),
		ConditionExpression: aws.String(strings.Join(conds, " AND ")), ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.values})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fail(fmt.Sprintf("%s of batch %s", op, id), err)
	}
	return true, nil
}

// splitCounts separates the email counters (counted in the counters item) from the others.
func splitCounts(c credbatch.Counts) (email, other credbatch.Counts) {
	email = credbatch.Counts{Sent: c.Sent, Delivered: c.Delivered, Bounced: c.Bounced, Complained: c.Complained, Suppressed: c.Suppressed}
	other = c
	other.Sent, other.Delivered, other.Bounced, other.Complained, other.Suppressed = 0, 0, 0, 0, 0
	return email, other
}

// AddCounts atomically adds delta to the batch's counters (ADD on each non-zero field): the
// email counters in the counters item (or the batch item of a batch stored before it), the
// others in the batch item.
func (s *Store) AddCounts(ctx context.Context, id string, delta credbatch.Counts) error {
	email, other := splitCounts(delta)
	if email != (credbatch.Counts{}) {
		err := s.addCounts(ctx, countsKey(id), email)
		if conditionFailed(err) {
			err = s.addCounts(ctx, batchKey(id), email)
		}
		if conditionFailed(err) {
			return credbatch.NotFound("batch", id)
		}
		if err != nil {
			return fail(fmt.Sprintf("add counts to batch %s", id), err)
		}
		if other == (credbatch.Counts{}) {
			return nil
		}
	}
	err := s.addCounts(ctx, batchKey(id), other)
	if conditionFailed(err) {
		return credbatch.NotFound("batch", id)
	}
	return fail(fmt.Sprintf("add counts to batch %s", id), err)
}

// addCounts adds delta to the counters of item k (which must exist); with a zero delta it
// only moves UpdatedAt.
func (s *Store) addCounts(ctx context.Context, k map[string]types.AttributeValue, delta credbatch.Counts, opts ...func(*dynamodb.Options)) error {
	u := newUpdate()
	var adds []string
	for i, v := range countValues(delta) {
		if v != 0 {
			adds = append(adds, u.name("Counts."+countFields[i])+" "+u.value(mustValue(v)))
		}
	}
	u.set("UpdatedAt", mustValue(s.stamp()))
	expr := "SET " + strings.Join(u.sets, ", ")
	if len(adds) > 0 {
		expr += " ADD " + strings.Join(adds, ", ")
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: k,
		UpdateExpression: aws.String(expr), ConditionExpression: aws.String("attribute_exists(PK)"),
		ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.values,
	}, opts...)
	return err
}

// ListBatches lists batches newest first (GSI1), with the status and the label prefix as
// filters.
func (s *Store) ListBatches(ctx context.Context, f credbatch.BatchFilter) (credbatch.Page[credbatch.Batch], error) {
	in := &dynamodb.QueryInput{
		ScanIndexForward:          aws.Bool(false),
		IndexName:                 aws.String(gsi1),
		KeyConditionExpression:    aws.String("GSI1PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("BATCHES")},
	}
	var filters []string
	if f.Status != "" {
		filters = append(filters, "#st = :st")
		in.ExpressionAttributeNames = map[string]string{"#st": "Status"}
		in.ExpressionAttributeValues[":st"] = str(string(f.Status))
	}
	if f.Label != "" {
		filters = append(filters, "begins_with(LabelLower, :label)")
		in.ExpressionAttributeValues[":label"] = str(strings.ToLower(f.Label))
	}
	if len(filters) > 0 {
		in.FilterExpression = aws.String(strings.Join(filters, " AND "))
	}
	items, next, err := s.query(ctx, "list batches", in, f.Cursor, f.Limit)
	if err != nil {
		return credbatch.Page[credbatch.Batch]{}, err
	}
	bs, err := decodeAll[credbatch.Batch]("list batches", items)
	if err != nil {
		return credbatch.Page[credbatch.Batch]{}, err
	}
	bs, err = s.batchCounts(ctx, "list batches", bs)
	return credbatch.Page[credbatch.Batch]{Items: bs, Next: next}, err
}
