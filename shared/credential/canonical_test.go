package credential

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/statuslist"
)

// checkTemplated compares the templated canonical form of a document (twice: building the
// template, then filling it) with json-gold's own Normalize, errors included.
func checkTemplated(t testing.TB, l *Loader, name string, doc map[string]any) {
	t.Helper()
	ref, _ := toJSONValue(doc)
	want, wantErr := l.CanonicalizeReference(ref)
	// Canonicalize is stricter than json-gold's Normalize in one way: safe mode makes a
	// term no context defines an error, where Normalize drops it.
	plain, _ := toJSONValue(doc)
	if _, err := l.Canonicalize(plain); err != nil {
		wantErr = err
	}
	for i := range 2 {
		m, _ := toJSONValue(doc)
		got, err := l.canonicalizeTemplated(m)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%s (run %d): err = %v, want %v", name, i, err, wantErr)
		}
		if err == nil && got != want {
			t.Fatalf("%s (run %d): templated canonical form differs from json-gold's reference:\n%s\nwant\n%s", name, i, got, want)
		}
	}
}

func docOf(t testing.TB, v any) map[string]any {
	t.Helper()
	m, err := toJSONValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestTemplatedMatchesReference: signing's canonicalization (expansion templates, IRI
// checks remembered across documents) gives json-gold's output byte for byte, for
// credentials whose values are chosen to trip the template rules, and it does reuse one
// template for the credentials of one shape.
func TestTemplatedMatchesReference(t *testing.T) {
	l := &Loader{}
	def := testDefinition()
	// One shape, many values: one template, filled each time.
	for i := range 20 {
		c := testCredential()
		c.ID, c.Email, c.StatusListIndex = fmt.Sprintf("%032x", 500+i), fmt.Sprintf("r%d@example.com", i), 3*i
		c.Name = []string{"Ada Lovelace", "Zoë 山田 \"quoted\"\n\t\\", "Grace Hopper", "O'Brien"}[i%4]
		c.IssueDate = fmt.Sprintf("2026-%02d-01", 1+i%12)
		c.Attributes = map[string]string{"Score": fmt.Sprint(i), "Level": []string{"Basic", "Advanced"}[i%2], "Instructor Name": "Dr " + fmt.Sprint(i)}
		checkTemplated(t, l, fmt.Sprintf("credential %d", i), docOf(t, mustBuild(t, testIssuer, def, c)))
	}
	if built, hits := l.templates.stats.built.Load(), l.templates.stats.hits.Load(); built > 4 || hits != 40 {
		t.Errorf("20 credentials of one shape: %d templates built, %d hits; want at most 4 (one per pattern of equal values) and 40", built, hits)
	}
	// Values chosen to trip the rules.
	values := []string{
		"Ada Lovelace", "Zoë 山田 \"quoted\"\n\t\\", "", " ", "https://evil.example/x", "http://", "https://a b",
		"urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8", "urn:uuid:NOT-A-UUID", "did:example:123", "_:b0", "@id", "@type",
		"mailto:ada@example.com", "relative/path", "#frag", "92", "Basic", "\u0000cbfake#1", "ab:", "javascript:alert(1)",
	}
	for i, v := range values {
		c := testCredential()
		c.ID = fmt.Sprintf("%032x", i+1)
		c.Name = v
		c.Attributes = map[string]string{"Score": fmt.Sprint(i), "Level": "Basic", "Instructor Name": v}
		c.StatusListIndex = 7 * i
		checkTemplated(t, l, fmt.Sprintf("credential with %q", v), docOf(t, mustBuild(t, testIssuer, def, c)))
	}

	// Other shapes: the status list, proof configurations, other issuers and definitions.
	plain := testIssuer
	plain.PlainEmail, plain.URLID = true, true
	other := def
	other.Image, other.Issuer = "", &credbatch.Issuer{Name: "Other", URL: "https://other.example"}
	noExpiry := testCredential()
	noExpiry.ExpiryDate = ""
	for name, doc := range map[string]any{
		"plain email, URL issuer": mustBuild(t, plain, def, testCredential()),
		"other definition":        mustBuild(t, testIssuer, other, testCredential()),
		"no expiry":               mustBuild(t, testIssuer, def, noExpiry),
		"status list":             statuslist.Credential(testIssuer.ID(), testIssuer.StatusListURL(), "uH4sIAAAAAAAA", during),
		"status list 2":           statuslist.Credential(testIssuer.ID(), testIssuer.StatusListURL()+"/2", "uH4sIAAAAAAAB", during.Add(time.Hour)),
		"proof config": Proof{Context: Contexts, Type: ProofType, Cryptosuite: Cryptosuite, Created: "2026-05-01T09:00:00Z",
			VerificationMethod: testDID + "#k", ProofPurpose: ProofPurpose},
		"proof config 2": Proof{Context: Contexts, Type: ProofType, Cryptosuite: Cryptosuite, Created: "2027-01-01T00:00:00Z",
			VerificationMethod: testDID + "#other", ProofPurpose: ProofPurpose},
	} {
		checkTemplated(t, l, name, docOf(t, doc))
	}

	// Documents the rules send back to json-gold: an @id that is not an http(s) or urn:uuid
	// IRI, an inline context, a placeholder-looking value.
	base := docOf(t, mustBuild(t, testIssuer, def, testCredential()))
	edits := map[string]func(m map[string]any){
		"relative subject id": func(m map[string]any) { m["credentialSubject"].(map[string]any)["id"] = "relative" },
		"fragment subject id": func(m map[string]any) { m["credentialSubject"].(map[string]any)["id"] = "#me" },
		"blank subject id":    func(m map[string]any) { m["credentialSubject"].(map[string]any)["id"] = "_:me" },
		"odd urn subject id":  func(m map[string]any) { m["credentialSubject"].(map[string]any)["id"] = "urn:uuid:x" },
		"spaced http id":      func(m map[string]any) { m["id"] = "https://creds.example.org/a b" },
		"bare scheme id":      func(m map[string]any) { m["id"] = "https:" },
		"inline context": func(m map[string]any) {
			m["@context"] = append(m["@context"].([]any), map[string]any{"nick": "https://example.org/nick"})
			m["nick"] = "x"
		},
		"nonce in a value": func(m map[string]any) { m["name"] = "x" + l.templates.nonce },
		"number value": func(m map[string]any) {
			m["credentialSubject"].(map[string]any)["result"].([]any)[0].(map[string]any)["value"] = 92.5
		},
		"unknown term": func(m map[string]any) { m["nickname"] = "x" },
	}
	before := l.templates.stats.rejected.Load() + l.templates.stats.skipped.Load()
	for name, edit := range edits {
		m := docOf(t, base)
		edit(m)
		checkTemplated(t, l, name, m)
	}
	if fellBack := l.templates.stats.rejected.Load() + l.templates.stats.skipped.Load() - before; fellBack < 4 {
		t.Errorf("only %d of the documents outside the rules were expanded by json-gold itself", fellBack)
	}
}

// TestSecureUsesTemplates: signing fills templates, and what it signs verifies (the
// verifier canonicalizes without them).
func TestSecureUsesTemplates(t *testing.T) {
	set := newKeys(t)
	signer := mustSigner(t, set)
	l := signer.contexts
	if err := l.load(); err != nil {
		t.Fatal(err)
	}
	if !l.templates.safe {
		t.Fatal("the embedded contexts define a term that rules expansion templates out")
	}
	before := l.templates.stats.hits.Load()
	v := NewVerifier(set, nil)
	for i := range 5 {
		c := testCredential()
		c.ID, c.Name, c.StatusListIndex = fmt.Sprintf("%032x", 100+i), fmt.Sprintf("Recipient %d", i), 1000+i
		secured := mustSecure(t, signer, mustBuild(t, testIssuer, testDefinition(), c))
		if res, err := v.Verify(t.Context(), secured, during); err != nil || !res.Valid {
			t.Fatalf("credential %d: %+v, %v", i, res, err)
		}
	}
	if got := l.templates.stats.hits.Load() - before; got != 10 { // document and proof configuration
		t.Errorf("%d template hits signing 5 credentials, want 10", got)
	}
}

// FuzzTemplated: for any values in a credential's string fields, the templated canonical
// form is json-gold's.
func FuzzTemplated(f *testing.F) {
	f.Add("Ada Lovelace", "92", "https://creds.example.org/credentials/1", "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	f.Add("@id", "_:b0", "https://a b", "urn:uuid:x")
	f.Add("https://x", "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8", "http://", "relative")
	f.Add("\u0000", "did:x:y", "https:", "#frag")
	l := &Loader{}
	base := docOf(f, mustBuild(f, testIssuer, testDefinition(), testCredential()))
	f.Fuzz(func(t *testing.T, name, value, id, subject string) {
		m := docOf(t, base)
		m["name"] = name
		m["id"] = id
		cs := m["credentialSubject"].(map[string]any)
		cs["id"] = subject
		cs["result"].([]any)[0].(map[string]any)["value"] = value
		cs["identifier"].([]any)[1].(map[string]any)["identityHash"] = strings.ToUpper(name)
		checkTemplated(t, l, "fuzzed credential", m)
	})
}

// TestSecureMatchesReference: for 300 varied credentials (every attribute type, unicode,
// quotes, escapes, control characters, empty and missing values, equal values in different
// fields, with and without expiry, two issuer forms), what Secure signs is json-gold's own
// Normalize of the document and of the proof configuration, byte for byte, and the proof
// value is the Ed25519 signature of that reference hash (Ed25519 is deterministic, so the
// signatures are identical too).
func TestSecureMatchesReference(t *testing.T) {
	set := newKeys(t)
	signer := mustSigner(t, set)
	k, err := set.ActiveKey()
	if err != nil {
		t.Fatal(err)
	}
	def := testDefinition()
	def.Attributes = append(def.Attributes,
		credbatch.Attribute{Name: "Completed On", Type: credbatch.AttrDate},
		credbatch.Attribute{Name: "Contact", Type: credbatch.AttrEmail},
		credbatch.Attribute{Name: "Portfolio", Type: credbatch.AttrURL})
	plain := testIssuer
	plain.PlainEmail, plain.URLID = true, true
	texts := []string{"Ada Lovelace", "Zoë 山田 👩🏽‍⚕️", `"quoted" 'single' \back\slash`, "line\nbreak\ttab\r", "\u0000\u001f\u007f\u2028",
		"", " ", "<b>&amp;</b>", "Basic", "92", "2026-05-01", "https://academy.example.org/badges/first-aid.png",
		"https://creds.example.org/", "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8", "did:web:creds.example.org", "_:b0", "@id", "\\u0041"}
	pick := func(i, salt int) string { return texts[(i*7+salt*13+i/len(texts))%len(texts)] }
	created := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	for i := range 300 {
		c := testCredential()
		c.ID = fmt.Sprintf("%032x", 1000+i)
		c.Email = fmt.Sprintf("r%d+%s@example.com", i, []string{"a", "ü", "o'b"}[i%3])
		c.Name = pick(i, 0)
		c.StatusListIndex = (i * 7919) % 131072
		c.IssueDate = fmt.Sprintf("20%02d-%02d-%02d", 20+i%10, 1+i%12, 1+i%28)
		c.ExpiryDate = fmt.Sprintf("20%02d-%02d-%02d", 31+i%10, 1+i%12, 1+i%28)
		if i%4 == 0 {
			c.ExpiryDate = ""
		}
		c.Attributes = map[string]string{
			"Score":           []string{"0", "100", "92.5", "-1", "1e3", "007", pick(i, 1)}[i%7],
			"Level":           []string{"Basic", "Advanced", pick(i, 2)}[i%3],
			"Instructor Name": pick(i, 3),
			"Completed On":    []string{"2026-01-31", "1999-12-31", pick(i, 4)}[i%3],
			"Contact":         []string{"ops@academy.example.org", c.Email, pick(i, 5)}[i%3],
			"Portfolio":       []string{"https://ex.example/p?q=1&r=ü#x", "https://a b", "http://", "https://academy.example.org", pick(i, 6)}[i%5],
		}
		if i%6 == 5 {
			delete(c.Attributes, "Portfolio")
			delete(c.Attributes, "Instructor Name")
		}
		iss := testIssuer
		if i%5 == 4 {
			iss = plain
		}
		doc := mustBuild(t, iss, def, c)
		secured, err := signer.Secure(doc, created)
		if err != nil {
			t.Fatalf("credential %d: %v", i, err)
		}
		m := docOf(t, doc)
		wantDoc, err := signer.contexts.CanonicalizeReference(m)
		if err != nil {
			t.Fatal(err)
		}
		gotDoc, err := signer.contexts.canonicalizeTemplated(docOf(t, doc))
		if err != nil || gotDoc != wantDoc {
			t.Fatalf("credential %d (name %q): templated N-Quads differ from json-gold's (%v):\n%s\nwant\n%s", i, c.Name, err, gotDoc, wantDoc)
		}
		cfg := Proof{Context: m["@context"], Type: ProofType, Cryptosuite: Cryptosuite, Created: created.Format(time.RFC3339),
			VerificationMethod: signer.VerificationMethod(), ProofPurpose: ProofPurpose}
		wantCfg, err := signer.contexts.CanonicalizeReference(docOf(t, cfg))
		if err != nil {
			t.Fatal(err)
		}
		h1, h2 := sha256.Sum256([]byte(wantCfg)), sha256.Sum256([]byte(wantDoc))
		want := "z" + base58.Encode(ed25519.Sign(k.Private, append(h1[:], h2[:]...)))
		var got struct{ Proof []Proof }
		if err := json.Unmarshal(secured, &got); err != nil || len(got.Proof) != 1 {
			t.Fatalf("credential %d: %s: %v", i, secured, err)
		}
		if got.Proof[0].ProofValue != want {
			t.Fatalf("credential %d (name %q): proofValue %s, want %s (json-gold's reference)", i, c.Name, got.Proof[0].ProofValue, want)
		}
	}
	if hits := signer.contexts.templates.stats.hits.Load(); hits < 300 {
		t.Errorf("only %d of 600 canonicalizations filled a template", hits)
	}
}

// TestCanonicalNQuadsMatchesJSONGold: the join that replaces json-gold's last step gives its
// output byte for byte, also for what credentials do not have: named graphs (an IRI and a
// blank node), a quad repeated in two graphs, literals with newlines, language tags and
// datatypes, and blank nodes that need the hash-related step.
func TestCanonicalNQuadsMatchesJSONGold(t *testing.T) {
	l := &Loader{}
	ctx := map[string]any{"@vocab": "https://example.org/v#", "knows": map[string]any{"@type": "@id"},
		"when": map[string]any{"@type": "http://www.w3.org/2001/XMLSchema#dateTime"}, "proof": map[string]any{"@container": "@graph"}}
	docs := map[string]any{
		"empty":       map[string]any{"@context": ctx},
		"one literal": map[string]any{"@context": ctx, "@id": "urn:a", "name": "Ada\nLovelace \"q\" \\"},
		"typed and tagged": map[string]any{"@context": ctx, "@id": "urn:a", "when": "2026-01-01T00:00:00Z",
			"title": map[string]any{"@value": "Dr", "@language": "en-GB"}},
		"blank cycle": map[string]any{"@context": ctx, "knows": map[string]any{"@id": "_:b1", "knows": map[string]any{"@id": "_:b2", "knows": "_:b1"}}},
		"blank graph": map[string]any{"@context": ctx, "@id": "urn:c", "name": "c",
			"proof": map[string]any{"type": "P", "name": "inside", "knows": map[string]any{"name": "n"}}},
		"iri graph": map[string]any{"@context": ctx, "@graph": []any{
			map[string]any{"@id": "urn:g1", "@graph": []any{map[string]any{"@id": "urn:x", "name": "x"}, map[string]any{"name": "anon"}}},
			map[string]any{"@id": "urn:g2", "@graph": []any{map[string]any{"@id": "urn:x", "name": "x"}}},
			map[string]any{"@id": "urn:x", "name": "x"}}},
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			want, err := l.CanonicalizeReference(doc)
			if err != nil {
				t.Fatal(err)
			}
			got, err := l.Canonicalize(doc.(map[string]any))
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("canonical N-Quads differ from json-gold's:\n%s\nwant\n%s", got, want)
			}
			if name != "empty" && want == "" {
				t.Fatalf("json-gold gave nothing for %s: the case tests nothing", name)
			}
		})
	}
}
