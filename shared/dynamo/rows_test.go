package dynamo_test

import (
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/credbatch/credbatch/shared/awsmeter"
	"github.com/credbatch/credbatch/shared/awstest"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dynamo"
)

// TestRowIndexUnits checks what a row's writes cost with only the exceptional statuses in
// GSI1 (DynamoDB Local's ConsumedCapacity): a valid row is ingested for 1 write unit, its
// moves to issuing and to issued cost 1 each, and it is listed by status from the batch
// partition; an invalid row and the move to revoked also write the index.
func TestRowIndexUnits(t *testing.T) {
	ctx := t.Context()
	s, client, table, meter := meteredStore(t)
	r := credbatch.Row{BatchID: "b1", Number: 2, DefinitionID: "course", Email: "ada@example.com", Status: credbatch.RowValid}
	meter.Reset()
	if err := s.PutRows(ctx, []credbatch.Row{r}); err != nil {
		t.Fatal(err)
	}
	if u := meter.Reset(); u.WriteUnits != 1 {
		t.Errorf("ingest of a valid row wrote %.0f units, want 1", u.WriteUnits)
	}
	bad := credbatch.Row{BatchID: "b1", Number: 3, Email: "nope", Status: credbatch.RowInvalid,
		Findings: []credbatch.Finding{{Row: 3, Code: credbatch.CodeInvalidEmail, Message: "fix it"}}}
	if err := s.PutRows(ctx, []credbatch.Row{bad}); err != nil {
		t.Fatal(err)
	}
	if u := meter.Reset(); u.WriteUnits != 2 {
		t.Errorf("ingest of an invalid row wrote %.0f units, want 2 (the row and its GSI1 entry)", u.WriteUnits)
	}
	listed := func(st credbatch.RowStatus) []int {
		t.Helper()
		p, err := s.ListRows(ctx, "b1", credbatch.RowFilter{Status: st})
		if err != nil {
			t.Fatal(err)
		}
		return numbers(p.Items)
	}
	steps := []struct {
		from, to credbatch.RowStatus
		units    float64
		indexed  bool
	}{
		{credbatch.RowValid, credbatch.RowIssuing, 1, false},
		{credbatch.RowIssuing, credbatch.RowIssued, 1, false},
		{credbatch.RowIssued, credbatch.RowRevoked, 2, true},
	}
	for _, step := range steps {
		next := r
		next.Status, next.CredentialID = step.to, "c1"
		meter.Reset()
		var err error
		if r, err = s.UpdateRow(ctx, next, step.from); err != nil {
			t.Fatal(err)
		}
		if u := meter.Reset(); u.WriteUnits != step.units {
			t.Errorf("%s -> %s wrote %.0f units, want %.0f", step.from, step.to, u.WriteUnits, step.units)
		}
		if got, old := listed(step.to), listed(step.from); fmt.Sprint(got) != "[2]" || len(old) != 0 {
			t.Errorf("after %s -> %s: listed as %s %v, as %s %v", step.from, step.to, step.to, got, step.from, old)
		}
		if _, in := rawItem(t, client, table, "BATCH#b1", "ROW#0000000002")["GSI1PK"]; in != step.indexed {
			t.Errorf("%s row in GSI1: %v, want %v", step.to, in, step.indexed)
		}
	}
	if got := listed(credbatch.RowInvalid); fmt.Sprint(got) != "[3]" {
		t.Errorf("invalid rows %v, want [3]", got)
	}
}

// TestRowsIndexedBefore checks rows written while every status was in GSI1: a valid or
// issued row stored with its GSI1 keys is listed once by status (from the batch partition,
// among rows written since), pages of one cross old and new rows, a cursor handed out by
// the old GSI1 listing continues in the partition, and the row's next move leaves GSI1.
func TestRowsIndexedBefore(t *testing.T) {
	ctx := t.Context()
	s, client, table, _ := meteredStore(t)
	var rows []credbatch.Row
	for n := 10; n < 20; n++ {
		st := credbatch.RowValid
		if n%5 == 0 {
			st = credbatch.RowInvalid
		}
		rows = append(rows, credbatch.Row{BatchID: "b1", Number: n, Email: fmt.Sprintf("r%d@example.com", n), Status: st})
	}
	rows = append(rows, credbatch.Row{BatchID: "b1", Number: 20, Email: "i@example.com", Status: credbatch.RowIssued, CredentialID: "c20"})
	if err := s.PutRows(ctx, rows); err != nil {
		t.Fatal(err)
	}
	// The even rows as the earlier code wrote them: in GSI1 under their status.
	for _, r := range rows {
		if r.Number%2 != 0 || r.Status == credbatch.RowInvalid {
			continue
		}
		_, err := client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(table), Key: rowKey(r.Number),
			UpdateExpression: aws.String("SET GSI1PK = :pk, GSI1SK = :sk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": &types.AttributeValueMemberS{Value: "RSTATUS#b1#" + string(r.Status)},
				":sk": &types.AttributeValueMemberS{Value: fmt.Sprintf("%010d", r.Number)},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	oldCursor := func(st credbatch.RowStatus, n int) string {
		return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil,
			`{"GSI1PK":"RSTATUS#b1#%s","GSI1SK":"%010d","PK":"BATCH#b1","SK":"ROW#%010d"}`, st, n, n))
	}
	tests := []struct {
		name   string
		f      credbatch.RowFilter
		limit  int
		want   []int
		errors bool
	}{
		{"valid", credbatch.RowFilter{Status: credbatch.RowValid}, 100, []int{11, 12, 13, 14, 16, 17, 18, 19}, false},
		{"valid one a page", credbatch.RowFilter{Status: credbatch.RowValid}, 1, []int{11, 12, 13, 14, 16, 17, 18, 19}, false},
		{"valid three a page, a range", credbatch.RowFilter{Status: credbatch.RowValid, FromNumber: 12, ToNumber: 19}, 3, []int{12, 13, 14, 16, 17, 18}, false},
		{"issued", credbatch.RowFilter{Status: credbatch.RowIssued}, 1, []int{20}, false},
		{"invalid", credbatch.RowFilter{Status: credbatch.RowInvalid}, 1, []int{10, 15}, false},
		{"all", credbatch.RowFilter{}, 4, []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, false},
		{"an old GSI1 cursor", credbatch.RowFilter{Status: credbatch.RowValid, Cursor: oldCursor(credbatch.RowValid, 14)}, 2, []int{16, 17, 18, 19}, false},
		{"an old cursor of another status", credbatch.RowFilter{Status: credbatch.RowValid, Cursor: oldCursor(credbatch.RowIssued, 14)}, 2, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.errors {
				f := tc.f
				f.Limit = tc.limit
				if _, err := s.ListRows(ctx, "b1", f); !credbatch.IsKind(err, credbatch.KindInvalid) {
					t.Errorf("ListRows: %v, want invalid", err)
				}
				return
			}
			first := true
			got := pageAll(t, tc.limit, func(c string, l int) (credbatch.Page[credbatch.Row], error) {
				f := tc.f
				if !first {
					f.Cursor = c
				}
				first = false
				f.Limit = l
				return s.ListRows(ctx, "b1", f)
			})
			if fmt.Sprint(numbers(got)) != fmt.Sprint(tc.want) {
				t.Errorf("rows %v, want %v", numbers(got), tc.want)
			}
		})
	}
	// An old-style valid row's move to issuing takes it out of GSI1.
	r, err := s.GetRow(ctx, "b1", 12)
	if err != nil {
		t.Fatal(err)
	}
	r.Status = credbatch.RowIssuing
	if _, err := s.UpdateRow(ctx, r, credbatch.RowValid); err != nil {
		t.Fatal(err)
	}
	if _, in := rawItem(t, client, table, "BATCH#b1", "ROW#0000000012")["GSI1PK"]; in {
		t.Error("an old-style row moved to issuing is still in GSI1")
	}
}

// meteredStore is a store on a fresh table whose client counts DynamoDB's consumed units.
func meteredStore(t *testing.T) (*dynamo.Store, *dynamodb.Client, string, *awsmeter.Meter) {
	t.Helper()
	cfg := awstest.Config(t, "DYNAMODB")
	meter := awsmeter.New()
	meter.Instrument(&cfg)
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true })
	table := newTable(t, client)
	return dynamo.New(client, table), client, table, meter
}

func rowKey(n int) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "BATCH#b1"},
		"SK": &types.AttributeValueMemberS{Value: fmt.Sprintf("ROW#%010d", n)},
	}
}

func numbers(rows []credbatch.Row) []int {
	out := make([]int, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.Number)
	}
	return out
}
