package dynamo

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/keys"
)

// sampleDeployment is one deployment of testdata/docsamples.json: its issuer, definitions and
// recipients' names.
type sampleDeployment struct {
	BaseURL string `json:"base_url"`
	Issuer  struct {
		Name       string `json:"name"`
		URL        string `json:"url"`
		Email      string `json:"email"`
		Image      string `json:"image"`
		PlainEmail bool   `json:"plain_email"`
	} `json:"issuer"`
	Names       [][2]string            `json:"names"`
	Definitions []credbatch.Definition `json:"definitions"`
	Code        string                 `json:"code"`      // its certificate numbers' prefix
	Narrative   string                 `json:"narrative"` // its evidence narrative
	LongText    string                 `json:"long_text"` // a long text attribute value

}

func sampleDeployments(tb testing.TB) []sampleDeployment {
	tb.Helper()
	raw, err := os.ReadFile("testdata/docsamples.json")
	if err != nil {
		tb.Fatal(err)
	}
	var f struct{ Deployments []sampleDeployment }
	if err := json.Unmarshal(raw, &f); err != nil {
		tb.Fatal(err)
	}
	return f.Deployments
}

// sampleDoc is a credential's document as the issue function stores it.
type sampleDoc struct {
	name string // what it was built from
	doc  storedDoc
}

// sampleDocs builds and signs n credentials of deployment dep like the issue function
// (credential.Build, Signer.Secure, Signer.SignStored, with keys of its own): its definitions in
// turn, its recipients' names (short, long, non-ASCII), attributes set or left out, with and
// without expiry, and for definitions with evidence a PDF with a narrative, a link, an image
// or none. seed sets the ids (and so the hashes and salts) and the keys: the same seed gives the
// same documents but for the VC-JWTs' signatures (ES256 is randomized).
func sampleDocs(tb testing.TB, dep, n int, seed string) []sampleDoc {
	tb.Helper()
	return sampleDocsWith(tb, dep, n, seed, nil)
}

// sampleDocsWith is sampleDocs with change applied to each credential before it is built.
func sampleDocsWith(tb testing.TB, dep, n int, seed string, change func(*credbatch.Credential)) []sampleDoc {
	tb.Helper()
	d := sampleDeployments(tb)[dep]
	iss := credential.Issuer{BaseURL: d.BaseURL, Name: d.Issuer.Name, URL: d.Issuer.URL, Email: d.Issuer.Email, Image: d.Issuer.Image,
		PlainEmail: d.Issuer.PlainEmail}
	created := time.Date(2026, time.Month(3+dep*2), 20-dep, 9+dep, 0, 0, 0, time.UTC)
	// Keys from a seed, so that the dictionary made from samples (TestDocDictGenerate) is the
	// same every time: Ed25519 proofs are deterministic; the ES256 VC-JWT signatures are not,
	// and the dictionary takes their headers only.
	keySeed := sha256.Sum256(fmt.Appendf(nil, "%s/%d/key", seed, dep))
	set, err := keys.Parse(fmt.Appendf(nil, `{"keys":[{"kty":"OKP","crv":"Ed25519","d":%q,"created":%q}]}`,
		base64.RawURLEncoding.EncodeToString(keySeed[:]), created.Format(time.RFC3339)))
	if err != nil {
		tb.Fatal(err)
	}
	did, err := iss.DID()
	if err != nil {
		tb.Fatal(err)
	}
	sg, err := credential.NewSigner(set, did)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]sampleDoc, 0, n)
	for i := range n {
		def := d.Definitions[i%len(d.Definitions)]
		nm := d.Names[(i/len(d.Definitions)+i)%len(d.Names)]
		id := sha256.Sum256(fmt.Appendf(nil, "%s/%d/%d", seed, dep, i))
		c := credbatch.Credential{ID: hex.EncodeToString(id[:16]), BatchID: "b1", RowNumber: i + 2, DefinitionID: def.ID, DefinitionVer: 1,
			Email:     strings.ToLower(fmt.Sprintf("%s.%s%d@mail.example.com", nm[0], strings.ReplaceAll(nm[1], " ", ""), i)),
			Name:      nm[0] + " " + nm[1],
			IssueDate: fmt.Sprintf("20%d-%02d-%02d", 23+dep, 1+(i+dep)%12, 1+(i+dep*7)%28), StatusListIndex: (i*7919 + dep*131) % 400000, Attributes: map[string]string{}}
		if def.Expiry.Policy == credbatch.ExpiryRequired || (def.Expiry.Policy == credbatch.ExpiryOptional && i%2 == 0) {
			c.ExpiryDate = fmt.Sprintf("20%d-%02d-%02d", 28+dep, 1+(i+dep)%12, 1+(i+dep*7)%28)
		}
		for j, a := range def.Attributes {
			if (i+j)%4 == 3 && !a.Required {
				continue
			}
			var v string
			switch a.Type {
			case credbatch.AttrNumber:
				v = fmt.Sprint(int(*a.Max) * (50 + i%51) / 100)
			case credbatch.AttrChoice:
				v = a.Choices[i%len(a.Choices)]
			case credbatch.AttrDate:
				v = fmt.Sprintf("20%d-%02d-%02d", 22+dep, 1+(i+3+dep)%12, 1+(i+5+dep*5)%28)
			case credbatch.AttrURL:
				v = fmt.Sprintf("%s/p/%d", iss.URL, 1000+i*37)
			case credbatch.AttrEmail:
				v = strings.ToLower(fmt.Sprintf("%s@%s", d.Names[(i+1)%len(d.Names)][1], strings.TrimPrefix(iss.URL, "https://")))
			default:
				other := d.Names[(i+j+2)%len(d.Names)]
				v = []string{fmt.Sprintf("%s-%06d", d.Code, 4000+i*13), other[0] + " " + other[1], d.LongText}[(i+j)%3]
			}
			c.Attributes[a.Name] = v
		}
		if def.Evidence.Policy == credbatch.EvidenceOptional || def.Evidence.Policy == credbatch.EvidenceRequired {
			digest := sha512.Sum384(id[:])
			file := &credbatch.EvidenceFile{Name: fmt.Sprintf("scans/%s-%d.pdf", strings.ToLower(nm[0]), i), MediaType: "application/pdf",
				Key: fmt.Sprintf("evidence/b1/%d-00.pdf", i+2), Size: 123456, Digest: "sha384-" + base64.StdEncoding.EncodeToString(digest[:])}
			switch i % 4 {
			case 0:
				c.Evidence = &credbatch.Evidence{Narrative: d.Narrative, File: file}
			case 1:
				c.Evidence = &credbatch.Evidence{URL: fmt.Sprintf("%s/portfolio/%s-%d", iss.URL, strings.ToLower(nm[0]), i)}
			case 2:
				file.MediaType, file.Name = "image/png", strings.TrimSuffix(file.Name, ".pdf")+".png"
				c.Evidence = &credbatch.Evidence{File: file}
			}
		}
		if change != nil {
			change(&c)
		}
		doc, err := credential.Build(iss, def, c)
		if err != nil {
			tb.Fatal(err)
		}
		secured, err := sg.Secure(doc, created.Add(time.Duration(i)*time.Minute))
		if err != nil {
			tb.Fatal(err)
		}
		det, err := sg.SignStored(secured)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, sampleDoc{name: fmt.Sprintf("%s %s %s", d.BaseURL, def.ID, c.Name), doc: storedDoc{jwt: string(secured), detached: det}})
	}
	return out
}
