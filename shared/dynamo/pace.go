package dynamo

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// The send schedule is one item: Next, the Unix time in nanoseconds of its first free slot.
const (
	pacePK = "PACE#SEND"
	paceSK = "PACE"
)

// ReserveSends reserves n slots with one conditional UpdateItem in the steady state (three at
// most): "restart the idle schedule at now" (Next absent or <= now) or "append to the busy
// one" (now < Next <= latest). Next only grows, so a failed condition tells which state the
// schedule is in: there is no read-modify-write race and no retry loop, however many
// processes reserve at once.
func (s *Store) ReserveSends(ctx context.Context, n int, interval time.Duration, now, latest time.Time) (time.Time, error) {
	if n < 1 || interval <= 0 || latest.Before(now) {
		return time.Time{}, invalid("reserve %d sends %v apart between %v and %v: n must be at least 1, the interval positive and latest not before now",
			n, interval, now, latest)
	}
	d := int64(n) * int64(interval)
	t, last := now.UnixNano(), latest.UnixNano()
	busy := s.paceBusy.Load()
	ahead := false // an idle attempt failed: Next > now, for good
	for range 3 {
		var in *dynamodb.UpdateItemInput
		if busy {
			in = s.paceUpdate("SET #next = #next + :d", "#next > :now AND #next <= :latest", map[string]int64{":d": d, ":now": t, ":latest": last})
		} else {
			in = s.paceUpdate("SET #next = :end", "attribute_not_exists(#next) OR #next <= :now", map[string]int64{":end": t + d, ":now": t})
		}
		out, err := s.db.UpdateItem(ctx, in)
		switch {
		case err == nil && busy:
			s.paceBusy.Store(true)
			av, _ := out.Attributes["Next"].(*types.AttributeValueMemberN)
			if av == nil {
				return time.Time{}, credbatch.Errorf(credbatch.KindInternal, "reserve sends: no Next in the update's answer")
			}
			next, perr := strconv.ParseInt(av.Value, 10, 64)
			if perr != nil {
				return time.Time{}, fail("reserve sends", perr)
			}
			return time.Unix(0, next-d), nil
		case err == nil:
			s.paceBusy.Store(false)
			return now, nil
		case !conditionFailed(err):
			return time.Time{}, fail("reserve sends", err)
		case busy && ahead:
			s.paceBusy.Store(true)
			return time.Time{}, credbatch.Errorf(credbatch.KindBusy, "the send schedule is reserved beyond %v; send later", latest.UTC())
		}
		ahead = ahead || !busy
		busy = !busy
	}
	return time.Time{}, credbatch.Errorf(credbatch.KindBusy, "the send schedule is reserved beyond %v; send later", latest.UTC())
}

func (s *Store) paceUpdate(update, cond string, values map[string]int64) *dynamodb.UpdateItemInput {
	av := make(map[string]types.AttributeValue, len(values))
	for k, v := range values {
		av[k] = &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	return &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(pacePK, paceSK),
		UpdateExpression: aws.String(update), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: map[string]string{"#next": "Next"}, ExpressionAttributeValues: av,
		ReturnValues: types.ReturnValueUpdatedNew,
	}
}
