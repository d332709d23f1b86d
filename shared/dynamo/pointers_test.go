package dynamo_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dynamo"
)

// unprocessedGets is DynamoDB Local with BatchGetItem handing every key back unprocessed on
// its first calls, as DynamoDB does when it throttles a batch read.
type unprocessedGets struct {
	*dynamodb.Client
	refuse int32 // calls to refuse
	calls  atomic.Int32
}

func (u *unprocessedGets) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if u.calls.Add(1) <= u.refuse {
		return &dynamodb.BatchGetItemOutput{UnprocessedKeys: in.RequestItems}, nil
	}
	return u.Client.BatchGetItem(ctx, in, opts...)
}

// rowOf places the test credentials in their batch (created out of row order).
var rowOf = map[string]int{"c1": 2, "c2": 4, "c3": 6}

func testCredential(id string, row int) credbatch.Credential {
	return credbatch.Credential{ID: id, BatchID: "b1", RowNumber: row, DefinitionID: "course", Email: id + "@example.com",
		Status: credbatch.CredentialIssued, EmailStatus: credbatch.EmailPending}
}

// TestPointerItems checks the pointer items that stand in for a secondary index: a batch's
// credentials. Each pointer is written before what it points to, so a crash can leave a
// pointer to nothing; readers must skip it.
func TestPointerItems(t *testing.T) {
	tests := []struct {
		name   string
		refuse int32 // BatchGetItem calls answered with every key unprocessed
		// setup writes raw items after c1..c3 are created
		setup     func(t *testing.T, client *dynamodb.Client, table string)
		wantBatch []string
	}{
		{name: "plain", wantBatch: []string{"c1", "c2", "c3"}},
		{name: "unprocessed keys are retried", refuse: 2, wantBatch: []string{"c1", "c2", "c3"}},
		{name: "pointer to a credential never written", wantBatch: []string{"c1", "c2", "c3"},
			setup: func(t *testing.T, client *dynamodb.Client, table string) {
				putRaw(t, client, table, "BATCH#b1", "CRED#0000000003#ghost", "ghost")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			client := newClient(t)
			table := newTable(t, client)
			api := &unprocessedGets{Client: client, refuse: tt.refuse}
			s := dynamo.New(api, table, dynamo.WithBackoff(5, time.Millisecond, 5*time.Millisecond))
			for _, id := range []string{"c3", "c1", "c2"} {
				if err := s.CreateCredential(ctx, testCredential(id, rowOf[id])); err != nil {
					t.Fatal(err)
				}
			}
			if tt.setup != nil {
				tt.setup(t, client, table)
			}
			var got []string
			for _, limit := range []int{1, 2, 100} {
				got = got[:0]
				cursor := ""
				for {
					p, err := s.ListCredentialsByBatch(ctx, "b1", cursor, limit)
					if err != nil {
						t.Fatalf("limit %d: %v", limit, err)
					}
					for _, c := range p.Items {
						got = append(got, c.ID)
					}
					if cursor = p.Next; cursor == "" {
						break
					}
				}
				if !equal(got, tt.wantBatch) {
					t.Errorf("limit %d: credentials of b1 = %v, want %v", limit, got, tt.wantBatch)
				}
			}
			if tt.refuse > 0 && api.calls.Load() <= tt.refuse {
				t.Errorf("%d BatchGetItem calls; the unprocessed keys were not retried", api.calls.Load())
			}
		})
	}
}

// TestBatchGetGivesUp checks that reads stop with KindUnavailable when the keys stay
// unprocessed.
func TestBatchGetGivesUp(t *testing.T) {
	client := newClient(t)
	table := newTable(t, client)
	s := dynamo.New(&unprocessedGets{Client: client, refuse: 1000}, table, dynamo.WithBackoff(3, time.Millisecond, time.Millisecond))
	if err := s.CreateCredential(t.Context(), testCredential("c1", rowOf["c1"])); err != nil {
		t.Fatal(err)
	}
	_, err := s.ListCredentialsByBatch(t.Context(), "b1", "", 10)
	if credbatch.ErrorKind(err) != credbatch.KindUnavailable {
		t.Errorf("err = %v, want unavailable", err)
	}
}

func putRaw(t *testing.T, client *dynamodb.Client, table, pk, sk, credentialID string) {
	t.Helper()
	_, err := client.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk},
		"CredentialID": &types.AttributeValueMemberS{Value: credentialID},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
