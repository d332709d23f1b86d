package dynamo_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dynamo"
)

// failingCounts is DynamoDB Local with the first writes to a batch's counters item failing
// with err: before (not applied) or, with applied, after DynamoDB applied them (a response
// lost on the way back).
type failingCounts struct {
	*dynamodb.Client
	err     error
	applied bool
	fail    atomic.Int32 // writes still to fail
	calls   atomic.Int32 // writes to the counters item
}

func (f *failingCounts) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	sk, _ := in.Key["SK"].(*types.AttributeValueMemberS)
	if sk == nil || sk.Value != "BATCH#COUNTS" {
		return f.Client.UpdateItem(ctx, in, opts...)
	}
	f.calls.Add(1)
	if f.fail.Add(-1) < 0 {
		return f.Client.UpdateItem(ctx, in, opts...)
	}
	if f.applied {
		if _, err := f.Client.UpdateItem(ctx, in, opts...); err != nil {
			return nil, err
		}
	}
	return nil, f.err
}

func serviceErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: "injected"} }

// TestCountEmailNeverTwice: a status move's count is a second write, retried only when
// DynamoDB surely did not apply it. Throttled first: retried, counted once. Failed in a way
// that leaves it unknown (applied or not): not retried, and the move still succeeds; counted
// at most once, and CorrectEmailCounts sets the counters to the credentials' truth.
func TestCountEmailNeverTwice(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		applied   bool
		fails     int32
		wantSent  int // the counters after the move
		wantCalls int32
	}{
		{"throttled twice, then counted", serviceErr("ThrottlingException"), false, 2, 1, 3},
		{"server error, not applied: not retried, short", serviceErr("InternalServerError"), false, 1, 0, 1},
		{"response lost after it was applied: not retried, counted once", errors.New("connection reset"), true, 1, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			client := newClient(t)
			table := newTable(t, client)
			api := &failingCounts{Client: client, err: tt.err, applied: tt.applied}
			s := dynamo.New(api, table, dynamo.WithBackoff(5, time.Millisecond, 5*time.Millisecond))
			if err := s.CreateBatch(ctx, credbatch.Batch{ID: "b1", Status: credbatch.BatchReceived}); err != nil {
				t.Fatal(err)
			}
			c := testCredential("c1", 2)
			c.EmailStatus = credbatch.EmailSending
			if err := s.CreateCredential(ctx, c); err != nil {
				t.Fatal(err)
			}
			api.fail.Store(tt.fails)
			moved, err := s.SetEmailStatus(ctx, "c1", []credbatch.EmailStatus{credbatch.EmailSending}, credbatch.EmailSent, credbatch.EmailChange{MessageID: "m1", SentAt: time.Now()})
			if err != nil || moved.EmailStatus != credbatch.EmailSent {
				t.Fatalf("move: %s, %v; want sent, nil (the count's failure does not undo the move)", moved.EmailStatus, err)
			}
			b, err := s.GetBatch(ctx, "b1")
			if err != nil {
				t.Fatal(err)
			}
			if b.Counts.Sent != tt.wantSent || api.calls.Load() != tt.wantCalls {
				t.Fatalf("sent counter %d after %d writes, want %d after %d", b.Counts.Sent, api.calls.Load(), tt.wantSent, tt.wantCalls)
			}
			truth, err := credbatch.EmailTruth(ctx, s, "b1")
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := s.CorrectEmailCounts(ctx, "b1", b.Counts, truth); err != nil || !ok {
				t.Fatalf("correct: %v, %v", ok, err)
			}
			if b, err = s.GetBatch(ctx, "b1"); err != nil || b.Counts.Sent != 1 {
				t.Fatalf("after the correction: sent %d, %v; want 1", b.Counts.Sent, err)
			}
		})
	}
}
