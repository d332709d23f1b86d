package credential

import (
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/keys"
)

var testIssuer = Issuer{
	BaseURL: "https://creds.example.org/",
	Name:    "Example Academy",
	URL:     "https://academy.example.org",
	Email:   "registrar@academy.example.org",
	Image:   "https://academy.example.org/logo.png",
}

const testDID = "did:web:creds.example.org"

func ptr(f float64) *float64 { return &f }

func testDefinition() credbatch.Definition {
	return credbatch.Definition{
		ID:          "first-aid",
		Version:     3,
		Name:        "First Aid Certificate",
		Description: "Certifies basic first aid skills.",
		Criteria:    "Completed the 16-hour course and passed the practical assessment.",
		Image:       "https://academy.example.org/badges/first-aid.png",
		Attributes: []credbatch.Attribute{
			{Name: "Score", Type: credbatch.AttrNumber, Min: ptr(0), Max: ptr(100)},
			{Name: "Level", Type: credbatch.AttrChoice, Choices: []string{"Basic", "Advanced"}},
			{Name: "Instructor Name", Type: credbatch.AttrText},
		},
		Expiry: credbatch.Expiry{Policy: credbatch.ExpiryOptional, Default: "P2Y"},
	}
}

func testCredential() credbatch.Credential {
	return credbatch.Credential{
		ID:              "7f3c1e0a9b2d4c6e8f1a2b3c4d5e6f70",
		BatchID:         "b-1",
		RowNumber:       2,
		DefinitionID:    "first-aid",
		Email:           "ada.lovelace@example.com",
		Name:            "Ada Lovelace",
		IssueDate:       "2026-05-01",
		ExpiryDate:      "2028-04-30",
		Attributes:      map[string]string{"Score": "92", "Level": "Advanced"},
		StatusListIndex: 42,
		Status:          credbatch.CredentialIssued,
	}
}

// newKeys returns a fresh key set.
func newKeys(t testing.TB) keys.Set {
	t.Helper()
	s, err := keys.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatalf("keys.New: %v", err)
	}
	return s
}

func mustSigner(t testing.TB, s keys.Set) *Signer {
	t.Helper()
	sg, err := NewSigner(s, testDID)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return sg
}

func mustBuild(t testing.TB, iss Issuer, d credbatch.Definition, c credbatch.Credential) Document {
	t.Helper()
	doc, err := Build(iss, d, c)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return doc
}

func mustSign(t testing.TB, s *Signer, doc any) string {
	t.Helper()
	token, err := s.SignJWT(doc)
	if err != nil {
		t.Fatalf("SignJWT: %v", err)
	}
	return token
}

// mustSecure returns the document with its Data Integrity proof.
func mustSecure(t testing.TB, s *Signer, doc any) string {
	t.Helper()
	out, err := s.Secure(doc, time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatalf("Secure: %v", err)
	}
	return string(out)
}
