package credential

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func TestBuildGolden(t *testing.T) {
	doc := mustBuild(t, testIssuer, testDefinition(), testCredential())
	got, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "openbadge.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update once): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Build output differs from %s:\n%s", path, got)
	}
}

func TestBuildFields(t *testing.T) {
	tests := []struct {
		name  string
		iss   func(*Issuer)
		def   func(*credbatch.Definition)
		cred  func(*credbatch.Credential)
		check func(t *testing.T, d Document)
	}{
		{
			name: "issuer id is the base URL with ISSUER_ID=url",
			iss:  func(i *Issuer) { i.URLID = true },
			check: func(t *testing.T, d Document) {
				if got, want := d.Issuer.ID, "https://creds.example.org"; got != want {
					t.Errorf("issuer.id = %q, want %q", got, want)
				}
			},
		},
		{
			name: "definition issuer overrides field by field",
			def: func(d *credbatch.Definition) {
				d.Issuer = &credbatch.Issuer{Name: "Example Hospital", Image: "https://hospital.example.org/logo.svg"}
			},
			check: func(t *testing.T, d Document) {
				got := d.Issuer
				if got.Name != "Example Hospital" || got.Image.ID != "https://hospital.example.org/logo.svg" ||
					got.URL != testIssuer.URL || got.Email != testIssuer.Email || got.ID != testDID {
					t.Errorf("issuer = %+v", got)
				}
			},
		},
		{
			name: "plain email",
			iss:  func(i *Issuer) { i.PlainEmail = true },
			cred: func(c *credbatch.Credential) { c.Email = " Ada.Lovelace@Example.com " },
			check: func(t *testing.T, d Document) {
				want := IdentityObject{Type: "IdentityObject", IdentityType: "emailAddress", IdentityHash: "ada.lovelace@example.com"}
				if got := d.CredentialSubject.Identifier[0]; got != want {
					t.Errorf("identifier = %+v, want %+v", got, want)
				}
			},
		},
		{
			name: "hashed email verifies with its salt",
			check: func(t *testing.T, d Document) {
				id := d.CredentialSubject.Identifier[0]
				if !id.Hashed || id.Salt == "" || id.IdentityHash != HashEmail("ADA.lovelace@example.com", id.Salt) {
					t.Errorf("identifier = %+v", id)
				}
				if strings.Contains(mustJSON(t, d), "ada.lovelace") {
					t.Error("the hashed credential contains the email address")
				}
			},
		},
		{
			name: "no expiry, no name, no attributes",
			cred: func(c *credbatch.Credential) { c.ExpiryDate, c.Name, c.Attributes = "", "", nil },
			check: func(t *testing.T, d Document) {
				if d.ValidUntil != "" || len(d.CredentialSubject.Identifier) != 1 || d.CredentialSubject.Result != nil {
					t.Errorf("validUntil %q, identifiers %d, results %v", d.ValidUntil, len(d.CredentialSubject.Identifier), d.CredentialSubject.Result)
				}
				if n := len(d.CredentialSubject.Achievement.ResultDescription); n != 3 {
					t.Errorf("%d result descriptions, want 3 (one per definition attribute)", n)
				}
			},
		},
		{
			name: "attribute unknown to the definition is kept",
			cred: func(c *credbatch.Credential) { c.Attributes = map[string]string{"Room": "B12"} },
			check: func(t *testing.T, d Document) {
				res := d.CredentialSubject.Result
				want := "https://creds.example.org/definitions/first-aid#attr-room"
				if len(res) != 1 || res[0].Value != "B12" || res[0].ResultDescription != want {
					t.Errorf("results = %+v", res)
				}
			},
		},
		{
			name: "criteria falls back to the description",
			def:  func(d *credbatch.Definition) { d.Criteria, d.Image = "", "" },
			check: func(t *testing.T, d Document) {
				a := d.CredentialSubject.Achievement
				if a.Criteria.Narrative != "Certifies basic first aid skills." || a.Image != nil || d.Image != nil {
					t.Errorf("achievement = %+v", a)
				}
			},
		},
		{
			name: "RFC 3339 issue time",
			cred: func(c *credbatch.Credential) { c.IssueDate, c.ExpiryDate = "2026-05-01T10:30:00+02:00", "" },
			check: func(t *testing.T, d Document) {
				if d.ValidFrom != "2026-05-01T08:30:00Z" {
					t.Errorf("validFrom = %s", d.ValidFrom)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss, def, c := testIssuer, testDefinition(), testCredential()
			if tc.iss != nil {
				tc.iss(&iss)
			}
			if tc.def != nil {
				tc.def(&def)
			}
			if tc.cred != nil {
				tc.cred(&c)
			}
			tc.check(t, mustBuild(t, iss, def, c))
		})
	}
}

func TestBuildDeterministic(t *testing.T) {
	a := mustJSON(t, mustBuild(t, testIssuer, testDefinition(), testCredential()))
	b := mustJSON(t, mustBuild(t, testIssuer, testDefinition(), testCredential()))
	if a != b {
		t.Error("building the same credential twice gives different documents")
	}
	other := testCredential()
	other.ID = "00000000000000000000000000000001"
	d := mustBuild(t, testIssuer, testDefinition(), other)
	first := mustBuild(t, testIssuer, testDefinition(), testCredential())
	if d.CredentialSubject.Identifier[0].IdentityHash == first.CredentialSubject.Identifier[0].IdentityHash {
		t.Error("two credentials of one recipient share an identity hash; the salt must differ")
	}
}

func TestBuildInvalid(t *testing.T) {
	tests := []struct {
		name string
		iss  func(*Issuer)
		def  func(*credbatch.Definition)
		cred func(*credbatch.Credential)
		want string
	}{
		{"no base URL", func(i *Issuer) { i.BaseURL = "" }, nil, nil, "base URL"},
		{"no id", nil, nil, func(c *credbatch.Credential) { c.ID = "" }, "no id"},
		{"no email", nil, nil, func(c *credbatch.Credential) { c.Email = " " }, "email"},
		{"no definition name", nil, func(d *credbatch.Definition) { d.Name = "" }, nil, "definition"},
		{"bad issue date", nil, nil, func(c *credbatch.Credential) { c.IssueDate = "01/05/2026" }, "issue date"},
		{"bad expiry", nil, nil, func(c *credbatch.Credential) { c.ExpiryDate = "soon" }, "expiry date"},
		{"expiry before issue", nil, nil, func(c *credbatch.Credential) { c.ExpiryDate = "2026-04-30" }, "before the issue date"},
		{"negative index", nil, nil, func(c *credbatch.Credential) { c.StatusListIndex = -1 }, "status list index"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss, def, c := testIssuer, testDefinition(), testCredential()
			if tc.iss != nil {
				tc.iss(&iss)
			}
			if tc.def != nil {
				tc.def(&def)
			}
			if tc.cred != nil {
				tc.cred(&c)
			}
			_, err := Build(iss, def, c)
			if credbatch.ErrorKind(err) != credbatch.KindInvalid || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Build err = %v, want kind invalid mentioning %q", err, tc.want)
			}
		})
	}
}

func TestHashEmail(t *testing.T) {
	// echo -n 'ada@example.comsalt' | sha256sum
	const want = "sha256$07bdac5427a74f79b9de75a5d6a9fefb694dcafbe33f4457be762538358f6fe0"
	if got := HashEmail(" ADA@example.com", "salt"); got != want {
		t.Errorf("HashEmail = %s, want %s", got, want)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
