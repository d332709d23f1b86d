package dynamo_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dynamo"
)

// TestCredentialDocumentApart checks that a credential's signed document is stored in an item
// of its own, outside GSI1, so that the head every status move rewrites stays under 1 KB: an
// email status move writes 1 unit (the head, outside GSI1) whatever the document's size.
// Every read gives the document (and the VC-JWT with it) back; a credential stored with its document in the head (before
// the split) reads as it is; a create that loses the race for the id leaves the stored
// document in place.
func TestCredentialDocumentApart(t *testing.T) {
	ctx := t.Context()
	s, client, table, meter := meteredStore(t)
	doc := `{"@context":["https://www.w3.org/ns/credentials/v2"],"proof":[{"proofValue":"z` + strings.Repeat("x", 2600) + `"}]}`
	c := testCredential("c1", 2)
	c.JWT = doc
	c.JWTDetached = "eyJhbGciOiJFUzI1NiJ9.." + strings.Repeat("s", 86) // its VC-JWT, payload detached
	if err := s.CreateCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	head := rawItem(t, client, table, "CRED#c1", "CRED")
	if _, ok := head["JWT"]; ok {
		t.Error("the head item keeps the document")
	}
	if _, ok := head["JWTDetached"]; ok {
		t.Error("the head item keeps the VC-JWT")
	}
	sk, ok := head["DocSK"].(*types.AttributeValueMemberS)
	if !ok || !strings.HasPrefix(sk.Value, "DOC#") {
		t.Fatalf("head DocSK = %v, want DOC#...", head["DocSK"])
	}
	if size := dynamo.ItemBytes(head); size >= 1024 {
		t.Errorf("head item %d bytes, want under 1 KB", size)
	}
	docItem := rawItem(t, client, table, "CRED#c1", sk.Value)
	if v, ok := docItem["Docz1"].(*types.AttributeValueMemberB); !ok || len(v.Value) >= len(doc)/2 {
		t.Errorf("document item Docz1 = %v, want the document and VC-JWT compressed", docItem["Docz1"])
	}
	for _, a := range []string{"JWT", "JWTgz", "JWTDetached"} {
		if _, ok := docItem[a]; ok {
			t.Errorf("document item has %s beside Docz1", a)
		}
	}
	if _, ok := docItem["GSI1PK"]; ok {
		t.Error("the document item is in GSI1")
	}

	meter.Reset()
	moved, err := s.SetEmailStatus(ctx, "c1", []credbatch.EmailStatus{credbatch.EmailPending}, credbatch.EmailSending, credbatch.EmailChange{})
	if err != nil {
		t.Fatal(err)
	}
	if u := meter.Reset(); u.WriteUnits != 1 || u.ReadUnits != 0 {
		t.Errorf("an email status move wrote %.0f units and read %.1f, want 1 (the head, outside GSI1) and none (the document is not read)", u.WriteUnits, u.ReadUnits)
	}
	if moved.ID != "c1" || moved.EmailStatus != credbatch.EmailSending || moved.JWT != "" || moved.JWTDetached != "" {
		t.Errorf("SetEmailStatus returned %s %s with a %d-byte document; want c1 sending without its document", moved.ID, moved.EmailStatus, len(moved.JWT))
	}

	reads := map[string]func() (credbatch.Credential, error){
		"GetCredential": func() (credbatch.Credential, error) { return s.GetCredential(ctx, "c1") },
		"FindActiveCredential": func() (credbatch.Credential, error) {
			return s.FindActiveCredential(ctx, "course", "c1@example.com")
		},
		"ListCredentialsByBatch": func() (credbatch.Credential, error) {
			p, err := s.ListCredentialsByBatch(ctx, "b1", "", 10)
			if err != nil || len(p.Items) != 1 {
				return credbatch.Credential{}, err
			}
			return p.Items[0], nil
		},
		"ListCredentialsByEmail": func() (credbatch.Credential, error) {
			p, err := s.ListCredentialsByEmail(ctx, "c1@example.com", "", 10)
			if err != nil || len(p.Items) != 1 {
				return credbatch.Credential{}, err
			}
			return p.Items[0], nil
		},
	}
	for name, read := range reads {
		got, err := read()
		if err != nil || got.ID != "c1" || got.JWT != doc || got.JWTDetached != c.JWTDetached {
			t.Errorf("%s: %s with a %d-byte document, VC-JWT %q, %v; want c1 with its document and VC-JWT", name, got.ID, len(got.JWT), got.JWTDetached, err)
		}
	}

	other := testCredential("c1", 2)
	other.JWT = "another document"
	if err := s.CreateCredential(ctx, other); !credbatch.IsKind(err, credbatch.KindConflict) {
		t.Fatalf("second create: %v, want a conflict", err)
	}
	if got, err := s.GetCredential(ctx, "c1"); err != nil || got.JWT != doc {
		t.Errorf("after the lost race: %d-byte document, %v; want the stored one", len(got.JWT), err)
	}

	legacy := testCredential("old", 3)
	legacy.JWT = "eyJhbGciOiJFZERTQSJ9.e30.sig"
	legacy.IssuedAt = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	item, err := attributevalue.MarshalMap(legacy)
	if err != nil {
		t.Fatal(err)
	}
	item["PK"], item["SK"] = &types.AttributeValueMemberS{Value: "CRED#old"}, &types.AttributeValueMemberS{Value: "CRED"}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetCredential(ctx, "old"); err != nil || got.JWT != legacy.JWT {
		t.Errorf("a credential stored before the split: %q, %v; want its document", got.JWT, err)
	}
}

func rawItem(t *testing.T, client *dynamodb.Client, table, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := client.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Item) == 0 {
		t.Fatalf("no item %s / %s", pk, sk)
	}
	return out.Item
}
