package dynamo

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/credbatch/credbatch/shared/credbatch"
)

const batchSK = "BATCH"

func batchKey(id string) map[string]types.AttributeValue { return key(batchPK(id), batchSK) }

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
	return fail(fmt.Sprintf("create batch %s", b.ID), err)
}

// GetBatch returns a batch; KindNotFound.
func (s *Store) GetBatch(ctx context.Context, id string) (credbatch.Batch, error) {
	var b credbatch.Batch
	err := s.get(ctx, "get batch", "batch", id, batchKey(id), &b)
	return b, err
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
	return b, nil
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

// addCountsUpdate is the transaction item that adds delta to a batch's counters (the batch
// must exist).
func (s *Store) addCountsUpdate(batchID string, delta credbatch.Counts) *types.Update {
	u := newUpdate()
	var adds []string
	for i, v := range countValues(delta) {
		if v != 0 {
			adds = append(adds, u.name("Counts."+countFields[i])+" "+u.value(mustValue(v)))
		}
	}
	u.set("UpdatedAt", mustValue(s.stamp()))
	return &types.Update{TableName: aws.String(s.table), Key: batchKey(batchID),
		UpdateExpression:    aws.String("SET " + strings.Join(u.sets, ", ") + " ADD " + strings.Join(adds, ", ")),
		ConditionExpression: aws.String("attribute_exists(PK)"), ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.values}
}

// AddCounts atomically adds delta to the batch's counters (ADD on each non-zero field).
func (s *Store) AddCounts(ctx context.Context, id string, delta credbatch.Counts) error {
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
		TableName: aws.String(s.table), Key: batchKey(id),
		UpdateExpression: aws.String(expr), ConditionExpression: aws.String("attribute_exists(PK)"),
		ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.values,
	})
	if conditionFailed(err) {
		return credbatch.NotFound("batch", id)
	}
	return fail(fmt.Sprintf("add counts to batch %s", id), err)
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
	return credbatch.Page[credbatch.Batch]{Items: bs, Next: next}, err
}
