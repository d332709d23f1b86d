package dynamo_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// TestBatchEmailCountersApart checks that a batch's email counters move in an item of their
// own (outside GSI1), not in the batch item: a counted email status move is the conditional
// update of the credential's head (1 write unit: the head is outside GSI1), then an ADD to
// that item (1), and no transaction (which would bill both twice: 4). Every read of the batch
// gives the counters; a batch stored before the counters item counts in its batch item, and
// reads the sum.
func TestBatchEmailCountersApart(t *testing.T) {
	ctx := t.Context()
	s, client, table, meter := meteredStore(t)
	if err := s.CreateBatch(ctx, credbatch.Batch{ID: "b1", Status: credbatch.BatchReceived, Label: "spring"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"c1", "c2"} {
		if err := s.CreateCredential(ctx, testCredential(id, rowOf[id])); err != nil {
			t.Fatal(err)
		}
	}
	meter.Reset()
	if _, err := s.SetEmailStatus(ctx, "c1", []credbatch.EmailStatus{credbatch.EmailPending}, credbatch.EmailSent,
		credbatch.EmailChange{MessageID: "m1", SentAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if u := meter.Reset(); u.TransactWriteUnits != 0 || u.WriteUnits != 2 {
		t.Errorf("a counted email status move wrote %.0f units (%.0f in transactions), want 2 (the head, outside GSI1, then the counters item) and none in a transaction",
			u.WriteUnits+u.TransactWriteUnits, u.TransactWriteUnits)
	}
	if err := s.AddCounts(ctx, "b1", credbatch.Counts{Delivered: 1, Issued: 2}); err != nil {
		t.Fatal(err)
	}
	var raw struct{ Counts credbatch.Counts }
	if err := attributevalue.UnmarshalMap(rawItem(t, client, table, "BATCH#b1", "BATCH"), &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Counts.Sent != 0 || raw.Counts.Delivered != 0 || raw.Counts.Issued != 2 {
		t.Errorf("batch item counts %+v, want only Issued 2 (the email counters apart)", raw.Counts)
	}
	want := func(name string, b credbatch.Batch, sent, delivered, issued int) {
		t.Helper()
		if b.Counts.Sent != sent || b.Counts.Delivered != delivered || b.Counts.Issued != issued {
			t.Errorf("%s: %s counts sent %d, delivered %d, issued %d; want %d, %d, %d", name, b.ID,
				b.Counts.Sent, b.Counts.Delivered, b.Counts.Issued, sent, delivered, issued)
		}
	}
	b, err := s.GetBatch(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	want("GetBatch", b, 1, 1, 2)
	p, err := s.ListBatches(ctx, credbatch.BatchFilter{Limit: 10})
	if err != nil || len(p.Items) != 1 {
		t.Fatalf("ListBatches: %+v, %v", p, err)
	}
	want("ListBatches", p.Items[0], 1, 1, 2)
	moved, err := s.TransitionBatch(ctx, "b1", credbatch.BatchReceived, credbatch.BatchParsed, credbatch.BatchChange{})
	if err != nil {
		t.Fatal(err)
	}
	want("TransitionBatch", moved, 1, 1, 2)

	// A batch stored before the counters item: its counters stay in the batch item.
	legacy := credbatch.Batch{ID: "old", Status: credbatch.BatchIssuing, Counts: credbatch.Counts{Sent: 5, Issued: 5}}
	item, err := attributevalue.MarshalMap(legacy)
	if err != nil {
		t.Fatal(err)
	}
	item["PK"], item["SK"] = &types.AttributeValueMemberS{Value: "BATCH#old"}, &types.AttributeValueMemberS{Value: "BATCH"}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
	c := testCredential("c9", 9)
	c.BatchID = "old"
	if err := s.CreateCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetEmailStatus(ctx, "c9", []credbatch.EmailStatus{credbatch.EmailPending}, credbatch.EmailSent,
		credbatch.EmailChange{MessageID: "m9", SentAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCounts(ctx, "old", credbatch.Counts{Sent: 1}); err != nil {
		t.Fatal(err)
	}
	if b, err = s.GetBatch(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	want("a batch stored before the counters item", b, 7, 0, 5)
	if err := s.AddCounts(ctx, "nope", credbatch.Counts{Sent: 1}); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Errorf("AddCounts on no batch: %v, want not found", err)
	}
}
