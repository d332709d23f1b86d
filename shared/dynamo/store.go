package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// API is the subset of the DynamoDB client the store calls.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store is a credbatch.Store on one DynamoDB table.
type Store struct {
	db    API
	table string
	now   credbatch.Clock

	writers     int
	attempts    int
	baseBackoff time.Duration
	maxBackoff  time.Duration
	sleep       func(ctx context.Context, d time.Duration) error
	jitter      func(n int64) int64

	days sync.Map // delivery days already marked by this process
	// paceBusy: this process last found the send schedule ahead of now, so ReserveSends tries
	// the likely write first (one write per reservation in the steady state).
	paceBusy atomic.Bool
}

var _ credbatch.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock used for CreatedAt/UpdatedAt stamps (default time.Now).
func WithClock(c credbatch.Clock) Option { return func(s *Store) { s.now = c } }

// WithWriters sets how many BatchWriteItem requests PutRows and DeleteRows run in parallel
// (default 4).
func WithWriters(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.writers = n
		}
	}
}

// WithBackoff sets the retry policy of batch writes: at most attempts requests per group of
// 25 items, sleeping a random duration in [0, min(max, base·2^attempt)) between them
// (exponential backoff with full jitter). Defaults: 10 attempts, 25ms base, 2s max.
func WithBackoff(attempts int, base, max time.Duration) Option {
	return func(s *Store) {
		if attempts > 0 {
			s.attempts = attempts
		}
		if base > 0 {
			s.baseBackoff = base
		}
		if max > 0 {
			s.maxBackoff = max
		}
	}
}

// New returns a store on the table, using client for every call. The client comes from the
// composition root (its endpoint from AWS_ENDPOINT_URL_DYNAMODB when set); its standard
// retryer retries throttled requests a few times before the store's own batch-write retries.
func New(client API, table string, opts ...Option) *Store {
	s := &Store{
		db: client, table: table, now: time.Now,
		writers: 4, attempts: 10, baseBackoff: 25 * time.Millisecond, maxBackoff: 2 * time.Second,
		sleep: sleepCtx, jitter: randInt63n,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Store) stamp() time.Time { return s.now().UTC() }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Key attribute names.
const (
	attrPK     = "PK"
	attrSK     = "SK"
	attrGSI1PK = "GSI1PK"
	attrGSI1SK = "GSI1SK"
)

// Index names.
const (
	gsi1 = "GSI1"
)

// indexKeys lists the key attributes of the table (index "") and of each GSI, as they
// appear in a LastEvaluatedKey.
var indexKeys = map[string][]string{
	"":   {attrPK, attrSK},
	gsi1: {attrPK, attrSK, attrGSI1PK, attrGSI1SK},
}

const timeKeyLayout = "2006-01-02T15:04:05.000000000Z"

// timeKey formats t for a sort key: fixed width, UTC, so that string order is time order.
func timeKey(t time.Time) string { return t.UTC().Format(timeKeyLayout) }

// num zero-pads a row or version number so that string order is numeric order.
func num(n int) string { return fmt.Sprintf("%010d", n) }

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(sk)}
}

// marshal encodes v and adds the key attributes kv (name, value, name, value ...).
func marshal(v any, kv ...string) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMap(v)
	if err != nil {
		return nil, credbatch.Errorf(credbatch.KindInternal, "encode item: %v", err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		item[kv[i]] = str(kv[i+1])
	}
	return item, nil
}

func mustValue(v any) types.AttributeValue {
	av, err := attributevalue.Marshal(v)
	if err != nil {
		// Only the store's own fixed types reach here; they always encode.
		return &types.AttributeValueMemberNULL{Value: true}
	}
	return av
}

// ---- errors ----

// throttleCodes are error codes after which a request may be retried later.
var throttleCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"ThrottlingException":                    true,
	"RequestLimitExceeded":                   true,
	"InternalServerError":                    true,
	"ServiceUnavailable":                     true,
	"LimitExceededException":                 true,
	"TransactionInProgressException":         true,
}

// retryable reports whether err is a throttling or transient server error (also after the
// SDK's retryer gave up on it).
func retryable(err error) bool {
	var q *ratelimit.QuotaExceededError
	if errors.As(err, &q) {
		return true
	}
	var me *retry.MaxAttemptsError
	if errors.As(err, &me) {
		return retryable(me.Err)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return throttleCodes[ae.ErrorCode()]
	}
	return false
}

func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// txConflict reports whether a transaction was cancelled by a failed condition or a
// concurrent transaction on the same items.
func txConflict(err error) bool {
	var tc *types.TransactionCanceledException
	if !errors.As(err, &tc) {
		return false
	}
	for _, r := range tc.CancellationReasons {
		if c := aws.ToString(r.Code); c == "ConditionalCheckFailed" || c == "TransactionConflict" {
			return true
		}
	}
	return false
}

// txFailed reports whether a transaction was cancelled by the failed condition of its i-th item.
func txFailed(err error, i int) bool {
	var tc *types.TransactionCanceledException
	if !errors.As(err, &tc) || i >= len(tc.CancellationReasons) {
		return false
	}
	return aws.ToString(tc.CancellationReasons[i].Code) == "ConditionalCheckFailed"
}

// fail classifies an SDK error as a *credbatch.Error with op as context.
func fail(op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *credbatch.Error
	if errors.As(err, &ce) {
		return fmt.Errorf("%s: %w", op, err)
	}
	kind := credbatch.KindInternal
	var ae smithy.APIError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		kind = credbatch.KindUnavailable
	case conditionFailed(err), txConflict(err):
		kind = credbatch.KindConflict
	case retryable(err):
		kind = credbatch.KindUnavailable
	case errors.As(err, &ae):
		kind = credbatch.KindInternal
	default:
		// Not an answer from DynamoDB: the connection failed.
		kind = credbatch.KindUnavailable
	}
	return &credbatch.Error{Kind: kind, Code: string(kind), Op: op, Message: err.Error(), Err: err}
}

func invalid(format string, args ...any) error {
	return credbatch.Errorf(credbatch.KindInvalid, format, args...)
}

// ---- cursors ----

// encodeCursor turns a LastEvaluatedKey (string attributes only) into an opaque cursor.
func encodeCursor(lek map[string]types.AttributeValue) (string, error) {
	if len(lek) == 0 {
		return "", nil
	}
	m := make(map[string]string, len(lek))
	for k, v := range lek {
		sv, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return "", credbatch.Errorf(credbatch.KindInternal, "cursor: key attribute %s is not a string", k)
		}
		m[k] = sv.Value
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", credbatch.Errorf(credbatch.KindInternal, "cursor: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// decodeCursor checks a cursor against the keys of the index it must resume; "" is nil.
func decodeCursor(cursor, index string) (map[string]types.AttributeValue, error) {
	if cursor == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	var m map[string]string
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil || len(m) != len(indexKeys[index]) {
		return nil, invalid("cursor %q is not valid here: pass the next value of the previous page unchanged", cursor)
	}
	out := make(map[string]types.AttributeValue, len(m))
	for _, k := range indexKeys[index] {
		v, ok := m[k]
		if !ok {
			return nil, invalid("cursor %q is not valid here: pass the next value of the previous page unchanged", cursor)
		}
		out[k] = str(v)
	}
	return out, nil
}

// itemKey extracts the LastEvaluatedKey an index would give after item.
func itemKey(item map[string]types.AttributeValue, index string) map[string]types.AttributeValue {
	out := map[string]types.AttributeValue{}
	for _, k := range indexKeys[index] {
		if v, ok := item[k]; ok {
			out[k] = v
		}
	}
	return out
}

func pageLimit(limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, invalid("limit %d: must not be negative", limit)
	case limit == 0:
		return credbatch.DefaultPageSize, nil
	case limit > credbatch.MaxPageSize:
		return credbatch.MaxPageSize, nil
	}
	return limit, nil
}

// query runs in (whose ExclusiveStartKey comes from cursor) until limit items are found or
// the key range ends, and returns the raw items and the cursor of the next page. Without a
// filter each request asks for one item more than still needed, so that Next is "" exactly
// when nothing follows; with a filter the pages are read whole and trimmed.
func (s *Store) query(ctx context.Context, op string, in *dynamodb.QueryInput, cursor string, limit int) ([]map[string]types.AttributeValue, string, error) {
	index := aws.ToString(in.IndexName)
	start, err := decodeCursor(cursor, index)
	if err != nil {
		return nil, "", err
	}
	if limit, err = pageLimit(limit); err != nil {
		return nil, "", err
	}
	in.TableName = aws.String(s.table)
	in.ExclusiveStartKey = start
	var items []map[string]types.AttributeValue
	for {
		if in.FilterExpression == nil {
			in.Limit = aws.Int32(int32(limit - len(items) + 1))
		}
		out, err := s.db.Query(ctx, in)
		if err != nil {
			var ae smithy.APIError
			if in.ExclusiveStartKey != nil && errors.As(err, &ae) && ae.ErrorCode() == "ValidationException" {
				return nil, "", invalid("cursor is not valid for this listing: %s", ae.ErrorMessage())
			}
			return nil, "", fail(op, err)
		}
		items = append(items, out.Items...)
		if len(items) > limit {
			items = items[:limit]
			next, err := encodeCursor(itemKey(items[limit-1], index))
			return items, next, err
		}
		if len(out.LastEvaluatedKey) == 0 {
			return items, "", nil
		}
		if len(items) == limit {
			// Full, and something may follow: peek at most one more page.
			if in.FilterExpression == nil {
				next, err := encodeCursor(out.LastEvaluatedKey)
				return items, next, err
			}
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// queryAll reads every item of a key range (small ranges only: definitions, days).
func (s *Store) queryAll(ctx context.Context, op string, in *dynamodb.QueryInput) ([]map[string]types.AttributeValue, error) {
	in.TableName = aws.String(s.table)
	var items []map[string]types.AttributeValue
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fail(op, err)
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			return items, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// get reads one item with a strongly consistent read; KindNotFound names thing and id.
func (s *Store) get(ctx context.Context, op, thing, id string, k map[string]types.AttributeValue, v any) error {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fail(op, err)
	}
	if len(out.Item) == 0 {
		return credbatch.NotFound(thing, id)
	}
	if err := attributevalue.UnmarshalMap(out.Item, v); err != nil {
		return credbatch.Errorf(credbatch.KindInternal, "%s: decode %s %s: %v", op, thing, id, err)
	}
	return nil
}

func decodeAll[T any](op string, items []map[string]types.AttributeValue) ([]T, error) {
	out := make([]T, 0, len(items))
	for _, it := range items {
		var v T
		if err := attributevalue.UnmarshalMap(it, &v); err != nil {
			return nil, credbatch.Errorf(credbatch.KindInternal, "%s: decode item: %v", op, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// update is a small builder of SET update expressions with placeholder names.
type update struct {
	sets   []string
	names  map[string]string
	values map[string]types.AttributeValue
	n      int
}

func newUpdate() *update {
	return &update{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

// name returns a placeholder for an attribute path like "Counts.Rows".
func (u *update) name(path string) string {
	parts := strings.Split(path, ".")
	for i, p := range parts {
		ph := "#" + p
		u.names[ph] = p
		parts[i] = ph
	}
	return strings.Join(parts, ".")
}

// value returns a placeholder for v.
func (u *update) value(v types.AttributeValue) string {
	u.n++
	ph := fmt.Sprintf(":v%d", u.n)
	u.values[ph] = v
	return ph
}

func (u *update) set(path string, v types.AttributeValue) {
	u.sets = append(u.sets, u.name(path)+" = "+u.value(v))
}

func (u *update) expr() *string { return aws.String("SET " + strings.Join(u.sets, ", ")) }

// randInt63n returns a random number in [0, n), 0 when n <= 0.
func randInt63n(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return rand.Int64N(n)
}

func decodeOne[T any](item map[string]types.AttributeValue) (T, error) {
	var v T
	if err := attributevalue.UnmarshalMap(item, &v); err != nil {
		return v, credbatch.Errorf(credbatch.KindInternal, "decode item: %v", err)
	}
	return v, nil
}
