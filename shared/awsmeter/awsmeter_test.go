package awsmeter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/credbatch/credbatch/shared/awsmeter"
	"github.com/credbatch/credbatch/shared/awstest"
)

func item(pk string, size int) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk},
		"body": &ddbtypes.AttributeValueMemberS{Value: strings.Repeat("x", size)}}
}

// TestMeterDynamoDB runs requests through a metered client against DynamoDB Local: each is
// counted by operation, asks for its consumed capacity, and the units are the ones DynamoDB
// bills (1 write unit per KB written, 0.5 read unit per 4 KB read eventually consistent,
// twice the units for an item written in a transaction); transactions are also summed apart.
func TestMeterDynamoDB(t *testing.T) {
	cfg := awstest.Config(t, "DYNAMODB")
	ctx := context.Background()
	m := awsmeter.New()
	m.Instrument(&cfg)
	db := dynamodb.NewFromConfig(cfg)
	table := awstest.Name(t, "meter")
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	m.Reset()
	steps := []struct {
		name      string
		do        func() error
		call      string
		read, wrt float64
	}{
		{"put 100 B", func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item("a", 100)})
			return err
		}, "DynamoDB.PutItem", 0, 1},
		{"put 2.5 KB", func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item("b", 2500)})
			return err
		}, "DynamoDB.PutItem", 0, 3},
		{"get eventually consistent", func() error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "a"}}})
			return err
		}, "DynamoDB.GetItem", 0.5, 0},
		{"get consistent", func() error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
				Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "a"}}})
			return err
		}, "DynamoDB.GetItem", 1, 0},
		{"batch write of two", func() error {
			_, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{table: {
				{PutRequest: &ddbtypes.PutRequest{Item: item("c", 10)}}, {PutRequest: &ddbtypes.PutRequest{Item: item("d", 10)}}}}})
			return err
		}, "DynamoDB.BatchWriteItem", 0, 2},
		{"transaction of two", func() error {
			_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
				{Put: &ddbtypes.Put{TableName: aws.String(table), Item: item("e", 10)}}, {Put: &ddbtypes.Put{TableName: aws.String(table), Item: item("f", 2500)}}}})
			return err
		}, "DynamoDB.TransactWriteItems", 0, 8}, // twice 1 + 3, as DynamoDB bills it (items of equal units would count once in DynamoDB Local)
	}
	for _, s := range steps {
		before := m.Snapshot()
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		after := m.Snapshot()
		if got := after.Calls[s.call] - before.Calls[s.call]; got != 1 {
			t.Errorf("%s: %s counted %d times, want 1", s.name, s.call, got)
		}
		if r, w := after.ReadUnits-before.ReadUnits, after.WriteUnits-before.WriteUnits; r != s.read || w != s.wrt {
			t.Errorf("%s: %.1f read and %.1f write units, want %.1f and %.1f", s.name, r, w, s.read, s.wrt)
		}
	}
	u := m.Snapshot()
	if u.Unmeasured != 0 {
		t.Errorf("%d responses without capacity", u.Unmeasured)
	}
	if u.TransactWriteUnits != 8 || u.TransactReadUnits != 0 {
		t.Errorf("transaction units %.1f read, %.1f write; want 0 and 8", u.TransactReadUnits, u.TransactWriteUnits)
	}
}

// TestMeterS3AndHandler counts S3 requests on moto and checks the line Handler logs per
// invocation, after which the meter starts from zero.
func TestMeterS3AndHandler(t *testing.T) {
	cfg := awstest.Config(t, "S3")
	ctx := context.Background()
	m := awsmeter.New()
	m.Instrument(&cfg)
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := awstest.Name(t, "meter")
	var logs bytes.Buffer
	h := m.Handler(slog.New(slog.NewJSONHandler(&logs, nil)), func(ctx context.Context, key string) (string, error) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("x")}); err != nil {
			return "", err
		}
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		return "ok", err
	})
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"a"`, `"b"`} {
		out, err := h.Invoke(ctx, []byte(key))
		if err != nil || string(out) != `"ok"` {
			t.Fatalf("invoke: %s %v", out, err)
		}
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want one per invocation: %s", len(lines), logs.String())
	}
	want := []map[string]int{{"S3.CreateBucket": 1, "S3.PutObject": 1, "S3.GetObject": 1}, {"S3.PutObject": 1, "S3.GetObject": 1}}
	for i, l := range lines {
		var rec struct {
			Msg   string         `json:"msg"`
			Calls map[string]int `json:"calls"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Msg != awsmeter.UsageMessage || len(rec.Calls) != len(want[i]) {
			t.Errorf("invocation %d logged %s, want %v", i+1, l, want[i])
		}
		for k, v := range want[i] {
			if rec.Calls[k] != v {
				t.Errorf("invocation %d: %s = %d, want %d (%s)", i+1, k, rec.Calls[k], v, l)
			}
		}
	}
	if u := m.Snapshot(); len(u.Calls) != 0 {
		t.Errorf("meter not reset after the invocation: %v", u.Calls)
	}
}
