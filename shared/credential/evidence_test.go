package credential

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

func sri(b []byte) string {
	sum := sha512.Sum384(b)
	return "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
}

// TestBuildEvidence: a row's file, link and narrative become OB 3.0 Evidence; the file's
// entry has the stable URL under the credential, its media type and its SRI digest; every
// term is defined by the pinned contexts (safe-mode canonicalization would refuse an
// undefined one) and the signed document verifies, also after the templated signer.
func TestBuildEvidence(t *testing.T) {
	file := &credbatch.EvidenceFile{Name: "scans/ada-practical.pdf", MediaType: "application/pdf", Digest: sri([]byte("%PDF-1.7 ...")),
		Key: "evidence/b-1/2-00.pdf", Size: 12}
	credURL := testIssuer.CredentialURL(testCredential().ID)
	tests := []struct {
		name string
		ev   *credbatch.Evidence
		want []Evidence
	}{
		{"none", nil, nil},
		{"empty", &credbatch.Evidence{}, nil},
		{"file and narrative", &credbatch.Evidence{Narrative: "Practical assessment, signed by the assessor.", File: file},
			[]Evidence{{ID: credURL + "/evidence/1", Type: []string{"Evidence"}, Name: "ada-practical.pdf", Narrative: "Practical assessment, signed by the assessor.",
				Genre: "Document", MediaType: "application/pdf", DigestSRI: file.Digest}}},
		{"link only", &credbatch.Evidence{URL: "https://portfolio.example.org/ada"},
			[]Evidence{{ID: "https://portfolio.example.org/ada", Type: []string{"Evidence"}, Genre: "Web page"}}},
		{"file, link and narrative", &credbatch.Evidence{URL: "https://portfolio.example.org/ada", Narrative: "n", File: &credbatch.EvidenceFile{
			Name: "a.png", MediaType: "image/png", Digest: file.Digest, Key: "k"}},
			[]Evidence{{ID: credURL + "/evidence/1", Type: []string{"Evidence"}, Name: "a.png", Narrative: "n", Genre: "Image", MediaType: "image/png", DigestSRI: file.Digest},
				{ID: "https://portfolio.example.org/ada", Type: []string{"Evidence"}, Genre: "Web page"}}},
		{"narrative only", &credbatch.Evidence{Narrative: "Observed on site."}, []Evidence{{Type: []string{"Evidence"}, Narrative: "Observed on site."}}},
		{"file named but not stored", &credbatch.Evidence{File: &credbatch.EvidenceFile{Name: "x.pdf"}}, nil},
	}
	set := newKeys(t)
	signer := mustSigner(t, set)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testCredential()
			c.Evidence = tc.ev
			doc := mustBuild(t, testIssuer, testDefinition(), c)
			got, _ := json.Marshal(doc.Evidence)
			want, _ := json.Marshal(tc.want)
			if string(got) != string(want) {
				t.Fatalf("evidence = %s\nwant       %s", got, want)
			}
			quads, err := DefaultLoader().CanonicalizeReference(toMap(t, doc))
			if err != nil {
				t.Fatalf("canonicalize: %v", err)
			}
			for _, e := range tc.want {
				if e.DigestSRI != "" && !strings.Contains(quads, `"`+e.DigestSRI+`"^^<https://www.w3.org/2018/credentials#sriString>`) {
					t.Errorf("the digest is not signed as a typed sriString:\n%s", quads)
				}
				if e.MediaType != "" && !strings.Contains(quads, `<https://schema.org/encodingFormat> "`+e.MediaType+`"`) {
					t.Errorf("the media type is not in the signed quads")
				}
			}
			secured := mustSecure(t, signer, doc)
			res, err := NewVerifier(set, nil).Verify(context.Background(), secured, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
			if err != nil || !res.Valid {
				t.Fatalf("verify = %+v, %v", res, err)
			}
			if len(tc.want) > 0 {
				tampered := strings.Replace(secured, tc.want[0].Type[0]+`"]`, `Evidence"],"name":"swapped"`, 1)
				if tc.want[0].DigestSRI != "" {
					tampered = strings.Replace(secured, tc.want[0].DigestSRI, sri([]byte("another file")), 1)
				}
				if res, err := NewVerifier(set, nil).Verify(context.Background(), tampered, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)); err != nil || res.Valid {
					t.Errorf("a credential with changed evidence verifies: %+v, %v", res, err)
				}
			}
		})
	}
}

func toMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
