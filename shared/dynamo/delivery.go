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
	deliverySK  = "DELIVERY"
	daysPK      = "DELIVDAYS"
	dayLayout   = "2006-01-02"
	suppSK      = "SUPP"
	markSK      = "MARK"
	deliveryGSI = "DELIV#"
)

// RecordDelivery stores an event once (attribute_not_exists(PK)) in its UTC day's GSI1
// partition, after making sure the day is listed in the DELIVDAYS partition.
func (s *Store) RecordDelivery(ctx context.Context, d credbatch.Delivery) (bool, error) {
	if d.ID == "" {
		return false, invalid("delivery id is empty")
	}
	if d.RecordedAt.IsZero() {
		d.RecordedAt = s.stamp()
	}
	day := d.RecordedAt.UTC().Format(dayLayout)
	if _, ok := s.days.Load(day); !ok {
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: key(daysPK, day)})
		if err != nil {
			return false, fail(fmt.Sprintf("mark delivery day %s", day), err)
		}
		s.days.Store(day, true)
	}
	item, err := marshal(d, attrPK, "DELIVERY#"+d.ID, attrSK, deliverySK,
		attrGSI1PK, deliveryGSI+day, attrGSI1SK, timeKey(d.RecordedAt)+"#"+d.ID)
	if err != nil {
		return false, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fail(fmt.Sprintf("record delivery %s", d.ID), err)
	}
	return true, nil
}

// ListDeliveries lists events with since <= RecordedAt < until, oldest first: the days
// with events come from DELIVDAYS, then each day's GSI1 partition is read in order. The
// cursor is the GSI1 key of the last event returned (its day is in GSI1PK).
func (s *Store) ListDeliveries(ctx context.Context, since, until time.Time, cursor string, limit int) (credbatch.Page[credbatch.Delivery], error) {
	var page credbatch.Page[credbatch.Delivery]
	start, err := decodeCursor(cursor, gsi1)
	if err != nil {
		return page, err
	}
	if limit, err = pageLimit(limit); err != nil {
		return page, err
	}
	if !since.Before(until) {
		return page, nil
	}
	from := since.UTC().Format(dayLayout)
	if start != nil {
		pk := start[attrGSI1PK].(*types.AttributeValueMemberS).Value
		if !strings.HasPrefix(pk, deliveryGSI) {
			return page, invalid("cursor %q is not a cursor of deliveries", cursor)
		}
		from = strings.TrimPrefix(pk, deliveryGSI)
	}
	dayItems, err := s.queryAll(ctx, "list delivery days", &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("PK = :pk AND SK BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(daysPK), ":from": str(from), ":to": str(until.UTC().Format(dayLayout))},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		return page, err
	}
	lo, hi := timeKey(since), timeKey(until)
	for i, it := range dayItems {
		day := it[attrSK].(*types.AttributeValueMemberS).Value
		c := ""
		if i == 0 && start != nil && day == from {
			c = cursor
		}
		items, next, err := s.query(ctx, "list deliveries", &dynamodb.QueryInput{
			IndexName:              aws.String(gsi1),
			KeyConditionExpression: aws.String("GSI1PK = :pk AND GSI1SK BETWEEN :lo AND :hi"),
			// GSI1SK is "<time>#<id>": an event at exactly `until` sorts above hi and is
			// left out, one at exactly `since` sorts above lo and is kept.
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(deliveryGSI + day), ":lo": str(lo), ":hi": str(hi)},
			ScanIndexForward:          aws.Bool(true),
		}, c, limit-len(page.Items))
		if err != nil {
			return page, err
		}
		ds, err := decodeAll[credbatch.Delivery]("list deliveries", items)
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, ds...)
		if len(page.Items) == limit {
			if next == "" && len(items) > 0 {
				// This day is done, but a later day may have more.
				if i < len(dayItems)-1 {
					next, err = encodeCursor(itemKey(items[len(items)-1], gsi1))
				}
			}
			page.Next = next
			if err != nil {
				return page, err
			}
			return page, nil
		}
	}
	return page, nil
}

func suppKey(email string) map[string]types.AttributeValue {
	return key("SUPP#"+strings.ToLower(strings.TrimSpace(email)), suppSK)
}

// PutSuppression adds or replaces an address (lower-cased).
func (s *Store) PutSuppression(ctx context.Context, sp credbatch.Suppression) error {
	sp.Email = strings.ToLower(strings.TrimSpace(sp.Email))
	if sp.Email == "" {
		return invalid("suppression: email is empty")
	}
	if sp.At.IsZero() {
		sp.At = s.stamp()
	}
	item, err := marshal(sp)
	if err != nil {
		return err
	}
	for k, v := range suppKey(sp.Email) {
		item[k] = v
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item})
	return fail(fmt.Sprintf("put suppression %s", sp.Email), err)
}

// GetSuppression returns the entry for an address; KindNotFound.
func (s *Store) GetSuppression(ctx context.Context, email string) (credbatch.Suppression, error) {
	var sp credbatch.Suppression
	err := s.get(ctx, "get suppression", "suppression", email, suppKey(email), &sp)
	return sp, err
}

// DeleteSuppression removes an address; KindNotFound.
func (s *Store) DeleteSuppression(ctx context.Context, email string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: suppKey(email),
		ConditionExpression: aws.String("attribute_exists(PK)"),
	})
	if conditionFailed(err) {
		return credbatch.NotFound("suppression", email)
	}
	return fail(fmt.Sprintf("delete suppression %s", email), err)
}

func markKey(name string) map[string]types.AttributeValue { return key("MARK#"+name, markSK) }

// GetMark returns a watermark; KindNotFound when never set.
func (s *Store) GetMark(ctx context.Context, name string) (time.Time, error) {
	var m struct{ At string }
	if err := s.get(ctx, "get mark", "mark", name, markKey(name), &m); err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, m.At)
	if err != nil {
		return time.Time{}, credbatch.Errorf(credbatch.KindInternal, "get mark %s: stored time %q: %v", name, m.At, err)
	}
	return t, nil
}

// SetMark moves a watermark from `from` to `to` with a conditional put on the stored value.
func (s *Store) SetMark(ctx context.Context, name string, from, to time.Time) error {
	in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: key("MARK#"+name, markSK)}
	in.Item["At"] = str(to.UTC().Format(time.RFC3339Nano))
	if from.IsZero() {
		in.ConditionExpression = aws.String("attribute_not_exists(PK)")
	} else {
		in.ConditionExpression = aws.String("#at = :from")
		in.ExpressionAttributeNames = map[string]string{"#at": "At"}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":from": str(from.UTC().Format(time.RFC3339Nano))}
	}
	_, err := s.db.PutItem(ctx, in)
	if conditionFailed(err) {
		return credbatch.Conflict("mark %s was moved by another writer (it is not at %s)", name, from.UTC().Format(time.RFC3339Nano))
	}
	return fail(fmt.Sprintf("set mark %s", name), err)
}
