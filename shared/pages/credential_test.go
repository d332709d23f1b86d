package pages_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/externaltest"
	"github.com/credbatch/credbatch/shared/keys"
)

// issue stores a signed credential of web-101 (signed by signer, or the stack's signer).
func (e *env) issue(t *testing.T, c credbatch.Credential, signer *credential.Signer) credbatch.Credential {
	t.Helper()
	if signer == nil {
		signer = e.st.Signer
	}
	return e.store(t, c, func(doc credential.Document) (string, string, error) {
		secured, err := signer.Secure(doc, time.Now())
		if err != nil {
			return "", "", err
		}
		detached, err := signer.SignStored(secured) // the VC-JWT, as the chunk worker stores it
		return string(secured), detached, err
	})
}

// issueES256 stores a credential of web-101 as the OB 3.0 VC-JWT alone (ES256, kid a DID
// URL), the third form a credential can be verified in.
func (e *env) issueES256(t *testing.T, c credbatch.Credential) credbatch.Credential {
	t.Helper()
	return e.store(t, c, func(doc credential.Document) (string, string, error) {
		token, err := e.st.Signer.SignJWT(doc)
		return token, "", err
	})
}

// store stores a credential of web-101 in the form seal gives its document (and its detached
// VC-JWT, if any).
func (e *env) store(t *testing.T, c credbatch.Credential, seal func(credential.Document) (string, string, error)) credbatch.Credential {
	t.Helper()
	ctx := context.Background()
	def, err := e.st.Store.GetDefinition(ctx, "web-101", 0)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := e.st.Store.AllocateStatusIndexes(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	c.BatchID, c.DefinitionID, c.DefinitionVer, c.StatusListIndex = "batch-1", def.ID, def.Version, idx
	c.Status, c.EmailStatus, c.IssuedAt = credbatch.CredentialIssued, credbatch.EmailSent, time.Now()
	doc, err := credential.Build(e.st.Config.Issuer, def, c)
	if err != nil {
		t.Fatal(err)
	}
	if c.JWT, c.JWTDetached, err = seal(doc); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Store.CreateCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// issueLegacy stores a credential of web-101 in the earlier format: an EdDSA JWS (typ vc+jwt)
// over the document, with the stack's active Ed25519 key.
func (e *env) issueLegacy(t *testing.T, c credbatch.Credential) credbatch.Credential {
	t.Helper()
	ctx := context.Background()
	def, err := e.st.Store.GetDefinition(ctx, "web-101", 0)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := e.st.Store.AllocateStatusIndexes(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	c.BatchID, c.DefinitionID, c.DefinitionVer, c.StatusListIndex = "batch-1", def.ID, def.Version, idx
	c.Status, c.EmailStatus, c.IssuedAt = credbatch.CredentialIssued, credbatch.EmailSent, time.Now()
	doc, err := credential.Build(e.st.Config.Issuer, def, c)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.st.Keys.ActiveKey()
	if err != nil {
		t.Fatal(err)
	}
	opts := (&jose.SignerOptions{}).WithHeader("kid", k.ID).WithHeader("typ", credential.MediaType)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: k.Private}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	if c.JWT, err = jws.CompactSerialize(); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Store.CreateCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCredentialPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	other, err := keys.New(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := credential.NewSigner(other, "did:web:creds.test")
	if err != nil {
		t.Fatal(err)
	}
	valid := e.issue(t, credbatch.Credential{ID: "0123456789abcdef0123456789abcdef", Email: "ann@example.com", Name: "Ann Lee",
		IssueDate: "2025-01-15", ExpiryDate: "2099-12-31", Attributes: map[string]string{"Score": "87"}}, nil)
	expired := e.issue(t, credbatch.Credential{ID: "1123456789abcdef0123456789abcdef", Email: "bo@example.com", Name: "Bo Ng",
		IssueDate: "2019-03-01", ExpiryDate: "2020-12-31", Attributes: map[string]string{"Score": "70"}}, nil)
	revoked := e.issue(t, credbatch.Credential{ID: "2123456789abcdef0123456789abcdef", Email: "cy@example.com", Name: "Cy Oh",
		IssueDate: "2025-02-01", Attributes: map[string]string{"Score": "90"}}, nil)
	// Revoked as issuance records it: "who: why" (the revoker's address must not be shown).
	if _, err := e.st.Store.RevokeCredential(ctx, revoked.ID, "staff.member@academy.test: Issued in error, see ops@academy.test", time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	forged := e.issue(t, credbatch.Credential{ID: "3123456789abcdef0123456789abcdef", Email: "dee@example.com", Name: "Dee Ray",
		IssueDate: "2025-02-01", Attributes: map[string]string{"Score": "99"}}, foreign)
	legacy := e.issueLegacy(t, credbatch.Credential{ID: "4123456789abcdef0123456789abcdef", Email: "eve@example.com", Name: "Eve Poe",
		IssueDate: "2025-01-15", ExpiryDate: "2099-12-31", Attributes: map[string]string{"Score": "80"}})
	es256 := e.issueES256(t, credbatch.Credential{ID: "5123456789abcdef0123456789abcdef", Email: "fay@example.com", Name: "Fay Orr",
		IssueDate: "2025-01-15", ExpiryDate: "2099-12-31", Attributes: map[string]string{"Score": "81"}})
	// Issued before VC-JWTs were stored at issuance: JSON-LD with its proof, no VC-JWT.
	before := e.store(t, credbatch.Credential{ID: "6123456789abcdef0123456789abcdef", Email: "gus@example.com", Name: "Gus Ray",
		IssueDate: "2025-01-15", ExpiryDate: "2099-12-31", Attributes: map[string]string{"Score": "82"}},
		func(doc credential.Document) (string, string, error) {
			secured, err := e.st.Signer.Secure(doc, time.Now())
			return string(secured), "", err
		})
	vm := e.st.Signer.VerificationMethod()
	kid := vm[strings.LastIndex(vm, "#")+1:] // the page shows the key's thumbprint
	esKid := e.st.Signer.KeyID()[strings.LastIndex(e.st.Signer.KeyID(), "#")+1:]

	og := []string{`<meta property="og:title"`, `<meta property="og:description"`, `<meta property="og:type" content="website">`,
		`<meta name="twitter:card" content="summary">`}
	tests := []struct {
		name     string
		id       string
		wantCode int
		want     []string // in the page's text
		wantHTML []string // in the markup
		lacks    []string // in the markup
	}{
		{"valid", valid.ID, http.StatusOK,
			[]string{"Test Academy certifies that", "Ann Lee earned Web Fundamentals", "Valid until 31 December 2099.",
				"Verified: the issuer's signature checks out (key " + kid, "Issued 15 January 2025", "Score 87", "Criteria Pass the final assessment.",
				"Download PDF", "Download badge", "Link to this page"},
			append([]string{`<meta property="og:url" content="` + baseURL + `/credentials/` + valid.ID + `">`,
				// The primary download is the JSON-LD credential with its proof; the VC-JWT comes second.
				`<a href="` + baseURL + `/credentials/` + valid.ID + `/json" download="Web Fundamentals - Ann Lee.json" type="application/vc+ld+json">Download the signed credential</a>`,
				`<a href="` + baseURL + `/credentials/` + valid.ID + `/jwt" download="Web Fundamentals - Ann Lee.jwt" type="application/vc+jwt">Download as a VC-JWT</a>`,
				`href="` + baseURL + `/credentials/` + valid.ID + `/pdf" download`, `href="` + baseURL + `/credentials/` + valid.ID + `/badge.png" download`,
				`<meta property="og:image" content="` + baseURL + `/credentials/` + valid.ID + `/badge.png">`,
				`<input id="share-url" type="text" value="` + baseURL + `/credentials/` + valid.ID + `" readonly>`,
				`href="https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME&amp;name=Web&#43;Fundamentals&amp;organizationName=Test&#43;Academy&amp;issueYear=2025&amp;issueMonth=1&amp;expirationYear=2099&amp;expirationMonth=12&amp;certUrl=https%3A%2F%2Fcreds.test%2Fcredentials%2F` + valid.ID + `&amp;certId=` + valid.ID + `"`},
				og...),
			[]string{"ann@example.com", "noindex", "jwks.json"}},
		{"earlier format (EdDSA JWS)", legacy.ID, http.StatusOK,
			[]string{"Verified: the issuer's signature checks out", "Eve Poe earned Web Fundamentals", "Download the signed credential (JWT)"},
			[]string{`<a href="` + baseURL + `/credentials/` + legacy.ID + `/jwt" download="Web Fundamentals - Eve Poe.jwt"`},
			[]string{"/json", "Download as a VC-JWT", "jwks.json"}},
		{"OB 3.0 VC-JWT (ES256)", es256.ID, http.StatusOK,
			[]string{"Verified: the issuer's signature checks out (key " + esKid, "Fay Orr earned Web Fundamentals", "Valid until 31 December 2099.",
				"Download the signed credential (JWT)"},
			[]string{`<a href="` + baseURL + `/credentials/` + es256.ID + `/jwt" download="Web Fundamentals - Fay Orr.jwt"`, "status-valid"},
			[]string{"/json", "Download as a VC-JWT", "jwks.json"}},
		{"issued before VC-JWTs were stored", before.ID, http.StatusOK,
			[]string{"Verified: the issuer's signature checks out (key " + kid, "Gus Ray earned Web Fundamentals", "Download the signed credential"},
			[]string{`<a href="` + baseURL + `/credentials/` + before.ID + `/json" download="Web Fundamentals - Gus Ray.json"`},
			[]string{"/jwt", "Download as a VC-JWT"}},
		{"expired", expired.ID, http.StatusOK,
			[]string{"Expired: this credential expired on 31 December 2020.", "Not valid: the signature is the issuer's (key " + kid + "), but the credential is expired.", "Bo Ng earned"},
			append([]string{"status-expired", "linkedin.com", "/badge.png"}, og...), []string{"<strong>Verified</strong>"}},
		{"revoked", revoked.ID, http.StatusOK,
			[]string{"Revoked: this credential was revoked on 4 March 2025 (Issued in error, see [address removed]). It no longer certifies this achievement.",
				"Not valid: the signature is the issuer's", "but the credential is revoked.", "Expires Never", "Download PDF"},
			append([]string{"status-revoked"}, og...), []string{"linkedin.com", "<strong>Verified</strong>", "staff.member", "@academy.test", "/badge.png"}},
		{"signed by a key the issuer does not publish", forged.ID, http.StatusOK,
			[]string{"Cannot be verified", "Not verified: signing key " + foreign.VerificationMethod() + " is not published by this issuer"},
			nil, []string{"Verified</strong>", "linkedin.com", "/badge.png"}},
		{"unknown", "ffffffffffffffffffffffffffffffff", http.StatusNotFound, []string{"Credential not found"}, []string{"noindex"},
			[]string{"og:title", "Web Fundamentals"}},
		{"malformed id", "..%2f..%2fetc", http.StatusNotFound, []string{"not found"}, nil, []string{"og:title"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := e.do(t, request{path: "/credentials/" + tc.id})
			if got.code != tc.wantCode {
				t.Fatalf("status = %d, want %d\n%s", got.code, tc.wantCode, got.body)
			}
			wantContains(t, text(got.body), tc.want...)
			wantContains(t, got.body, tc.wantHTML...)
			wantLacks(t, got.body, tc.lacks...)
			if ct := got.hdr.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			if csp := got.hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "style-src 'sha256-") {
				t.Errorf("Content-Security-Policy = %q", csp)
			}
		})
	}
}

func TestCredentialPageInlinesItsStyleAndScript(t *testing.T) {
	e := newEnv(t)
	c := e.issue(t, credbatch.Credential{ID: "4123456789abcdef0123456789abcdef", Email: "ann@example.com", Name: "Ann <b>Lee</b>",
		IssueDate: "2025-01-15", Attributes: map[string]string{"Score": "87"}}, nil)
	got := e.do(t, request{path: "/credentials/" + c.ID})
	if got.code != http.StatusOK {
		t.Fatalf("status %d", got.code)
	}
	wantLacks(t, got.body, "<b>Lee</b>", "<script src")
	wantContains(t, got.body, "Ann &lt;b&gt;Lee&lt;/b&gt;", "<style>:root{", `<html lang="en">`, "@media print")
	if n := strings.Count(got.body, "<script"); n != 1 {
		t.Errorf("%d scripts; want the one copy-link script", n)
	}
	// The inline stylesheet and script are allowed by their hashes in the Content-Security-Policy.
	for _, el := range []struct{ tag, directive string }{{"style", "style-src"}, {"script", "script-src"}} {
		start, end := strings.Index(got.body, "<"+el.tag+">"), strings.Index(got.body, "</"+el.tag+">")
		if start < 0 || end < start {
			t.Fatalf("no <%s> element", el.tag)
		}
		sum := sha256.Sum256([]byte(got.body[start+len(el.tag)+2 : end]))
		want := el.directive + " 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if csp := got.hdr.Get("Content-Security-Policy"); !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy = %q; want %q", csp, want)
		}
	}
}

// TestCredentialDownloads: the PDF reads back with pdftotext (recipient, achievement, URL,
// the status of a revoked credential), and the badge is a PNG that Pillow opens with the
// signed credential in its openbadgecredential chunk, which verifies.
func TestCredentialDownloads(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	valid := e.issue(t, credbatch.Credential{ID: "5123456789abcdef0123456789abcdef", Email: "ann@example.com", Name: "Ann Lee",
		IssueDate: "2025-01-15", ExpiryDate: "2099-12-31", Attributes: map[string]string{"Score": "87"}}, nil)
	revoked := e.issue(t, credbatch.Credential{ID: "6123456789abcdef0123456789abcdef", Email: "cy@example.com", Name: "Cy Oh",
		IssueDate: "2025-02-01", Attributes: map[string]string{"Score": "90"}}, nil)
	if _, err := e.st.Store.RevokeCredential(ctx, revoked.ID, "lead@academy.test: issued in error", time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	pdftotext := externaltest.Command(t, "pdftotext")
	py := externaltest.Python(t, "PIL")
	dir := t.TempDir()
	pdfText := func(t *testing.T, id string) string {
		t.Helper()
		got := e.do(t, request{path: "/credentials/" + id + "/pdf"})
		if got.code != http.StatusOK || got.hdr.Get("Content-Type") != "application/pdf" ||
			!strings.HasPrefix(got.hdr.Get("Content-Disposition"), "attachment; filename=") {
			t.Fatalf("pdf: %d %v", got.code, got.hdr)
		}
		p := filepath.Join(dir, id+".pdf")
		if err := os.WriteFile(p, []byte(got.body), 0o600); err != nil {
			t.Fatal(err)
		}
		return strings.Join(strings.Fields(externaltest.Run(t, pdftotext, p, "-")), " ")
	}
	t.Run("pdf valid", func(t *testing.T) {
		text := pdfText(t, valid.ID)
		wantContains(t, text, "Ann Lee", "Web Fundamentals", baseURL+"/credentials/"+valid.ID, "Issued 15 January 2025", "valid until 31 December 2099")
		wantLacks(t, text, "Revoked", "ann@example.com")
	})
	t.Run("pdf revoked", func(t *testing.T) {
		text := pdfText(t, revoked.ID)
		wantContains(t, text, "Cy Oh", "Web Fundamentals", baseURL+"/credentials/"+revoked.ID, "Revoked on 4 March 2025: issued in error.")
		wantLacks(t, text, "lead@academy.test")
	})
	t.Run("badge", func(t *testing.T) {
		got := e.do(t, request{path: "/credentials/" + valid.ID + "/badge.png"})
		if got.code != http.StatusOK || got.hdr.Get("Content-Type") != "image/png" {
			t.Fatalf("badge: %d %v", got.code, got.hdr)
		}
		p := filepath.Join(dir, "badge.png")
		if err := os.WriteFile(p, []byte(got.body), 0o600); err != nil {
			t.Fatal(err)
		}
		jwt := externaltest.Run(t, py, "-c", `import sys
from PIL import Image
im = Image.open(sys.argv[1]); im.load()
sys.stdout.write(im.text["openbadgecredential"])`, p)
		res, err := credential.NewVerifier(e.st.Keys, nil).Verify(ctx, jwt, time.Now())
		if err != nil || res.Status != credential.StatusValid || res.Document.ID != baseURL+"/credentials/"+valid.ID {
			t.Fatalf("baked credential: %+v, %v", res, err)
		}
	})
	t.Run("no badge for a revoked credential", func(t *testing.T) {
		got := e.do(t, request{path: "/credentials/" + revoked.ID + "/badge.png"})
		if got.code != http.StatusGone {
			t.Fatalf("status %d, want 410", got.code)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		for _, suffix := range []string{"/pdf", "/badge.png"} {
			if got := e.do(t, request{path: "/credentials/ffffffffffffffffffffffffffffffff" + suffix}); got.code != http.StatusNotFound {
				t.Errorf("%s: status %d, want 404", suffix, got.code)
			}
		}
	})
}
