package dynamo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// fakeWriter is an API whose BatchWriteItem follows a script: call i (counting from 0)
// fails with errs[i] when set, otherwise writes every request except the last unproc[i]
// ones, which it hands back as UnprocessedItems. Other methods are not used.
type fakeWriter struct {
	API // nil: calling anything else panics the test

	mu      sync.Mutex
	calls   int
	errs    func(call int) error
	unproc  func(call int) int
	written map[string]int // "PK|SK" → times written
	deleted map[string]int
	// flaky hands an item back as unprocessed this many times before writing it, whatever
	// call it arrives in (a script that does not depend on how parallel writers interleave).
	flaky map[string]int
}

func (f *fakeWriter) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := f.calls
	f.calls++
	if f.errs != nil {
		if err := f.errs(call); err != nil {
			return nil, err
		}
	}
	reqs := in.RequestItems["t"]
	if len(reqs) > batchWriteMax {
		return nil, fmt.Errorf("call %d: %d requests, more than %d", call, len(reqs), batchWriteMax)
	}
	keep := 0
	if f.unproc != nil {
		keep = min(f.unproc(call), len(reqs))
	}
	done := reqs[:len(reqs)-keep]
	unprocessed := append([]types.WriteRequest(nil), reqs[len(reqs)-keep:]...)
	if f.flaky != nil {
		var write []types.WriteRequest
		for _, r := range done {
			if k := keyOf(r.PutRequest.Item); f.flaky[k] > 0 {
				f.flaky[k]--
				unprocessed = append(unprocessed, r)
				continue
			}
			write = append(write, r)
		}
		done = write
	}
	for _, r := range done {
		switch {
		case r.PutRequest != nil:
			f.written[keyOf(r.PutRequest.Item)]++
		case r.DeleteRequest != nil:
			f.deleted[keyOf(r.DeleteRequest.Key)]++
		}
	}
	out := &dynamodb.BatchWriteItemOutput{}
	if len(unprocessed) > 0 {
		out.UnprocessedItems = map[string][]types.WriteRequest{"t": unprocessed}
	}
	return out, nil
}

func keyOf(item map[string]types.AttributeValue) string {
	return item[attrPK].(*types.AttributeValueMemberS).Value + "|" + item[attrSK].(*types.AttributeValueMemberS).Value
}

func newFake() *fakeWriter {
	return &fakeWriter{written: map[string]int{}, deleted: map[string]int{}}
}

// fakeStore returns a store on f that records its backoff delays instead of sleeping.
func fakeStore(f *fakeWriter, opts ...Option) (*Store, *[]time.Duration) {
	s := New(f, "t", append([]Option{WithBackoff(8, 10*time.Millisecond, 80*time.Millisecond)}, opts...)...)
	var mu sync.Mutex
	var slept []time.Duration
	s.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		slept = append(slept, d)
		mu.Unlock()
		return ctx.Err()
	}
	s.jitter = func(n int64) int64 { return n - 1 } // the ceiling of each full-jitter draw
	return s, &slept
}

func testRows(batch string, n int) []credbatch.Row {
	rows := make([]credbatch.Row, n)
	for i := range rows {
		rows[i] = credbatch.Row{BatchID: batch, Number: i + 2, Status: credbatch.RowValid, Email: fmt.Sprintf("r%d@example.com", i)}
	}
	return rows
}

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: "slow down"} }

func TestPutRowsRetries(t *testing.T) {
	throttles := []error{
		&types.ProvisionedThroughputExceededException{Message: aws.String("slow down")},
		apiErr("ThrottlingException"),
		apiErr("RequestLimitExceeded"),
		// The SDK retryer's client-side quota ran out while DynamoDB kept throttling.
		fmt.Errorf("operation error DynamoDB: BatchWriteItem: %w", &retry.MaxAttemptsError{Attempt: 3, Err: &ratelimit.QuotaExceededError{}}),
	}
	// The scripts count calls across the whole store, so the writers run one at a time here:
	// with several, which group meets which scripted failure would change from run to run.
	// TestPutRowsParallel covers several writers.
	tests := []struct {
		name   string
		rows   int
		errs   func(call int) error
		unproc func(call int) int
	}{
		{"no trouble", 1000, nil, nil},
		{"one partial group", 10, nil, nil},
		{"unprocessed on every other call", 1000, nil, func(c int) int { return (c % 2) * 7 }},
		{"nothing processed at first", 100, nil, func(c int) int { return map[bool]int{true: 25}[c < 6] }},
		{"throttling errors", 500, func(c int) error {
			if c%3 == 0 {
				return throttles[(c/3)%len(throttles)]
			}
			return nil
		}, nil},
		{"throttling and unprocessed", 777, func(c int) error {
			if c%5 == 1 {
				return throttles[c%len(throttles)]
			}
			return nil
		}, func(c int) int { return c % 4 * 3 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.errs, f.unproc = tc.errs, tc.unproc
			s, _ := fakeStore(f, WithWriters(1))
			rows := testRows("b1", tc.rows)
			if err := s.PutRows(context.Background(), rows); err != nil {
				t.Fatalf("PutRows: %v", err)
			}
			if got, want := len(f.written), tc.rows; got != want {
				t.Errorf("distinct rows written = %d, want %d", got, want)
			}
			for _, r := range rows {
				k := batchPK(r.BatchID) + "|" + rowSK(r.Number)
				if got := f.written[k]; got != 1 {
					t.Errorf("row %d written %d times, want 1", r.Number, got)
				}
			}
		})
	}
}

// TestPutRowsParallel: with several writers at once, items handed back unprocessed (up to
// three times each) are retried until every row is stored exactly once.
func TestPutRowsParallel(t *testing.T) {
	f := newFake()
	rows := testRows("b1", 2000)
	f.flaky = map[string]int{}
	for _, r := range rows {
		f.flaky[batchPK(r.BatchID)+"|"+rowSK(r.Number)] = r.Number % 4
	}
	s, _ := fakeStore(f, WithWriters(8))
	if err := s.PutRows(context.Background(), rows); err != nil {
		t.Fatalf("PutRows: %v", err)
	}
	for _, r := range rows {
		if got := f.written[batchPK(r.BatchID)+"|"+rowSK(r.Number)]; got != 1 {
			t.Errorf("row %d written %d times, want 1", r.Number, got)
		}
	}
}

func TestPutRowsGivesUp(t *testing.T) {
	tests := []struct {
		name      string
		errs      func(int) error
		unproc    func(int) int
		wantKind  credbatch.Kind
		wantCalls int
	}{
		{"always throttled", func(int) error { return apiErr("ProvisionedThroughputExceededException") }, nil, credbatch.KindUnavailable, 8},
		{"never processed", nil, func(int) int { return 25 }, credbatch.KindUnavailable, 8},
		{"validation error is not retried", func(int) error { return apiErr("ValidationException") }, nil, credbatch.KindInternal, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.errs, f.unproc = tc.errs, tc.unproc
			s, slept := fakeStore(f, WithWriters(1))
			err := s.PutRows(context.Background(), testRows("b1", 20))
			if got := credbatch.ErrorKind(err); got != tc.wantKind {
				t.Fatalf("kind = %s (%v), want %s", got, err, tc.wantKind)
			}
			if f.calls != tc.wantCalls {
				t.Errorf("BatchWriteItem calls = %d, want %d", f.calls, tc.wantCalls)
			}
			if len(*slept) != tc.wantCalls-1 {
				t.Errorf("backoff sleeps = %d, want %d", len(*slept), tc.wantCalls-1)
			}
		})
	}
}

func TestBackoffCeiling(t *testing.T) {
	f := newFake()
	f.unproc = func(int) int { return 25 }
	s, slept := fakeStore(f, WithWriters(1))
	_ = s.PutRows(context.Background(), testRows("b1", 25))
	ms := time.Millisecond
	want := []time.Duration{10*ms - 1, 20*ms - 1, 40*ms - 1, 80*ms - 1, 80*ms - 1, 80*ms - 1, 80*ms - 1}
	if fmt.Sprint(*slept) != fmt.Sprint(want) {
		t.Errorf("backoff delays = %v, want %v (exponential, capped, full jitter upper bounds)", *slept, want)
	}
}

func TestPutRowsDuplicatesLastWins(t *testing.T) {
	f := newFake()
	s, _ := fakeStore(f)
	rows := testRows("b1", 3)
	dup := rows[1]
	dup.Email = "last@example.com"
	if err := s.PutRows(context.Background(), append(rows, dup)); err != nil {
		t.Fatalf("PutRows: %v", err)
	}
	if got, want := len(f.written), 3; got != want {
		t.Errorf("distinct rows written = %d, want %d", got, want)
	}
}

func TestPutRowsInvalid(t *testing.T) {
	tests := []struct {
		name string
		row  credbatch.Row
	}{
		{"no batch", credbatch.Row{Number: 2, Status: credbatch.RowValid}},
		{"row zero", credbatch.Row{BatchID: "b", Status: credbatch.RowValid}},
		{"no status", credbatch.Row{BatchID: "b", Number: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			s, _ := fakeStore(f)
			err := s.PutRows(context.Background(), []credbatch.Row{tc.row})
			if got := credbatch.ErrorKind(err); got != credbatch.KindInvalid {
				t.Errorf("kind = %s (%v), want invalid", got, err)
			}
			if f.calls != 0 {
				t.Errorf("BatchWriteItem calls = %d, want 0", f.calls)
			}
		})
	}
}

func TestPutRowsCancelled(t *testing.T) {
	f := newFake()
	f.unproc = func(int) int { return 25 }
	s := New(f, "t", WithBackoff(100, time.Hour, time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := s.PutRows(ctx, testRows("b1", 100))
	if got := credbatch.ErrorKind(err); got != credbatch.KindUnavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v (kind %s), want unavailable wrapping the deadline", err, got)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	lek := map[string]types.AttributeValue{attrPK: str("BATCH#b"), attrSK: str("ROW#0000000002"), attrGSI1PK: str("RSTATUS#b#valid"), attrGSI1SK: str("0000000002")}
	c, err := encodeCursor(lek)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeCursor(c, gsi1)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if keyOf(got) != keyOf(lek) || got[attrGSI1SK].(*types.AttributeValueMemberS).Value != "0000000002" {
		t.Errorf("round trip = %v, want %v", got, lek)
	}
	for _, bad := range []string{"!!", "e30", c + "x"} {
		if _, err := decodeCursor(bad, gsi1); credbatch.ErrorKind(err) != credbatch.KindInvalid {
			t.Errorf("decodeCursor(%q) err = %v, want invalid", bad, err)
		}
	}
	if _, err := decodeCursor(c, ""); credbatch.ErrorKind(err) != credbatch.KindInvalid {
		t.Errorf("GSI1 cursor accepted for the table: err = %v", err)
	}
}
