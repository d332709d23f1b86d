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

// TestRecipientEntries checks that a credential's head is outside GSI1 and its pointer item
// in its batch is its entry there: creating it writes the pointer (2 units with its index
// copy), the document (1) and the head (1); an email status move writes 1; a head stored
// before (its own GSI1 entry) still lists and is found beside new ones; an entry whose head
// was never written is skipped; a revoked credential is not the active one.
func TestRecipientEntries(t *testing.T) {
	ctx := t.Context()
	s, client, table, meter := meteredStore(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cred := func(id string, row int, at time.Time) credbatch.Credential {
		c := testCredential(id, row)
		c.Email, c.IssuedAt, c.UpdatedAt = "Ada@Example.com", at, at
		return c
	}
	// A head stored by an earlier version: in GSI1 itself, no recipient item.
	old := cred("old", 1, t0)
	item, err := attributevalue.MarshalMap(old)
	if err != nil {
		t.Fatal(err)
	}
	item["PK"], item["SK"] = &types.AttributeValueMemberS{Value: "CRED#old"}, &types.AttributeValueMemberS{Value: "CRED"}
	item["GSI1PK"], item["GSI1SK"] = &types.AttributeValueMemberS{Value: "EMAIL#ada@example.com"}, &types.AttributeValueMemberS{Value: t0.Format("2006-01-02T15:04:05.000000000Z") + "#old"}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"c1", "c2"} {
		c := cred(id, i+2, t0.Add(time.Duration(i+1)*time.Hour))
		c.JWT = `{"@context":["https://www.w3.org/ns/credentials/v2"],"id":"urn:uuid:` + id + `"}`
		meter.Reset()
		if err := s.CreateCredential(ctx, c); err != nil {
			t.Fatal(err)
		}
		if u := meter.Reset(); u.WriteUnits != 4 {
			t.Errorf("creating %s wrote %.0f units, want 4 (pointer 2 with its GSI1 copy, document 1, head 1)", id, u.WriteUnits)
		}
	}
	// An entry whose head was never written (a crash between the two writes).
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "BATCH#b1"}, "SK": &types.AttributeValueMemberS{Value: "CRED#0000000009#ghost"},
		"GSI1PK": &types.AttributeValueMemberS{Value: "EMAIL#ada@example.com"}, "GSI1SK": &types.AttributeValueMemberS{Value: "3000-01-01T00:00:00.000000000Z#ghost"},
		"CredentialID": &types.AttributeValueMemberS{Value: "ghost"}, "DefinitionID": &types.AttributeValueMemberS{Value: "course"}}}); err != nil {
		t.Fatal(err)
	}
	if _, inIndex := rawItem(t, client, table, "CRED#c1", "CRED")["GSI1PK"]; inIndex {
		t.Error("a new credential's head is in GSI1")
	}
	meter.Reset()
	if _, err := s.SetEmailStatus(ctx, "c2", []credbatch.EmailStatus{credbatch.EmailPending}, credbatch.EmailSending, credbatch.EmailChange{}); err != nil {
		t.Fatal(err)
	}
	if u := meter.Reset(); u.WriteUnits != 1 {
		t.Errorf("an uncounted email status move wrote %.0f units, want 1 (the head, outside GSI1)", u.WriteUnits)
	}
	for _, limit := range []int{1, 2, 10} {
		var got []string
		cursor := ""
		for {
			p, err := s.ListCredentialsByEmail(ctx, "ADA@example.com", cursor, limit)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range p.Items {
				got = append(got, c.ID)
			}
			if cursor = p.Next; cursor == "" {
				break
			}
		}
		if want := []string{"c2", "c1", "old"}; !equal(got, want) {
			t.Errorf("limit %d: credentials of ada = %v, want %v", limit, got, want)
		}
	}
	active := func(want string) {
		t.Helper()
		c, err := s.FindActiveCredential(ctx, "course", "ada@EXAMPLE.com")
		switch {
		case want == "" && !credbatch.IsKind(err, credbatch.KindNotFound):
			t.Errorf("active: %s, %v; want none", c.ID, err)
		case want != "" && (err != nil || c.ID != want):
			t.Errorf("active: %s, %v; want %s", c.ID, err, want)
		}
	}
	active("c2")
	for _, id := range []string{"c2", "c1"} {
		if _, err := s.RevokeCredential(ctx, id, "test", t0); err != nil {
			t.Fatal(err)
		}
	}
	active("old")
	if _, err := s.RevokeCredential(ctx, "old", "test", t0); err != nil {
		t.Fatal(err)
	}
	active("")
	if c, err := s.GetCredential(ctx, "c1"); err != nil || c.Email != "ada@example.com" && c.Email != "Ada@Example.com" {
		t.Errorf("get c1: %+v, %v", c, err)
	}
}
