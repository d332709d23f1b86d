package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/keys"
)

// TestVerifyEveryForm: POST /verify accepts a credential in each of its three forms (the
// JSON-LD credential with its Data Integrity proof, the OB 3.0 VC-JWT signed ES256, and a
// JWS of the earlier format, EdDSA vc+jwt), sent in every way the route takes; each form
// tampered with is invalid.
func TestVerifyEveryForm(t *testing.T) {
	e := newEnv(t)
	b := e.setup(false, 1, 0)
	c := e.issue(b.ID, 2)
	ld := c.JWT
	es256 := e.call("GET", "/credentials/"+c.ID+"/jwt", "", nil).Body.String()
	legacy := legacyJWS(t, e, ld)
	url := baseURL + "/credentials/" + c.ID

	tamperedLD := strings.Replace(ld, `"name":"Course Certificate"`, `"name":"Brain Surgeon Licence"`, 1)
	if tamperedLD == ld {
		t.Fatal("the credential has no achievement name to tamper with")
	}
	tests := []struct {
		name   string
		body   any
		ctype  string // "" = application/json
		format credential.Format
		valid  bool
	}{
		{"JSON-LD as {credential}", map[string]json.RawMessage{"credential": json.RawMessage(ld)}, "", credential.FormatDataIntegrity, true},
		{"JSON-LD as application/vc+ld+json", ld, "application/vc+ld+json", credential.FormatDataIntegrity, true},
		{"JSON-LD as application/ld+json", ld, "application/ld+json", credential.FormatDataIntegrity, true},
		{"JSON-LD by its url", map[string]string{"url": url}, "", credential.FormatDataIntegrity, true},
		{"ES256 VC-JWT as {jwt}", map[string]string{"jwt": es256}, "", credential.FormatJWT, true},
		{"ES256 VC-JWT as application/vc+jwt", es256, "application/vc+jwt", credential.FormatJWT, true},
		{"ES256 VC-JWT as application/jwt", es256, "application/jwt", credential.FormatJWT, true},
		{"legacy JWS as {jwt}", map[string]string{"jwt": legacy}, "", credential.FormatLegacyJWS, true},
		{"legacy JWS as application/vc+jwt", legacy, "application/vc+jwt", credential.FormatLegacyJWS, true},
		{"legacy JWS as text/plain", legacy + "\n", "text/plain", credential.FormatLegacyJWS, true},
		{"JSON-LD tampered", tamperedLD, "application/vc+ld+json", "", false},
		{"ES256 VC-JWT tampered", tamperJWS(t, es256), "application/vc+jwt", "", false},
		{"legacy JWS tampered", tamperJWS(t, legacy), "application/vc+jwt", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var headers []string
			if tc.ctype != "" {
				headers = []string{"Content-Type", tc.ctype}
			}
			var got struct {
				Valid      bool
				Status     string
				Reason     string
				Format     credential.Format
				Credential map[string]any
			}
			must(t, e.call("POST", "/verify", "", tc.body, headers...), http.StatusOK, &got)
			if !tc.valid {
				if got.Valid || got.Status != string(credential.StatusInvalid) {
					t.Errorf("tampered credential: %+v; want invalid", got)
				}
				return
			}
			if !got.Valid || got.Status != string(credential.StatusValid) || got.Format != tc.format || got.Credential["id"] != url {
				t.Errorf("verify = %+v; want valid, format %s, credential %s", got, tc.format, url)
			}
		})
	}
}

// legacyJWS signs the credential (without its proof) as credbatch did before Data Integrity:
// EdDSA, typ vc+jwt, kid the bare thumbprint of the active Ed25519 key.
func legacyJWS(t *testing.T, e *env, secured string) string {
	t.Helper()
	doc, err := credential.Unsecured([]byte(secured))
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.keys.ActiveKey()
	if err != nil {
		t.Fatal(err)
	}
	opts := (&jose.SignerOptions{}).WithHeader("kid", k.ID).WithHeader("typ", credential.MediaType)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: k.Private}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(doc)
	if err != nil {
		t.Fatal(err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, f, err := credential.NewVerifier(e.keys, nil).VerifySignature(token); err != nil || f != credential.FormatLegacyJWS {
		t.Fatalf("the legacy JWS does not verify as one: %s, %v", f, err)
	}
	return token
}

// tamperJWS changes the achievement's name in a compact JWS's payload, keeping its signature.
func tamperJWS(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(payload), `"name":"Course Certificate"`, `"name":"Brain Surgeon Licence"`, 1)
	if changed == string(payload) {
		t.Fatal("the JWS payload has no achievement name to tamper with")
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(changed))
	return strings.Join(parts, ".")
}

// TestDIDDocumentServed: for a host-only base URL and one with a path, the did:web document
// of the base is served where a did:web resolver fetches it (keys.DIDDocumentPath: host-only
// /.well-known/did.json, else <base>/did.json, the API seeing the path under its base), its
// @context starts with the DID v1 context, it names the signer's keys in assertionMethod, and
// after a rotation it still lists the retired keys, so a credential they signed verifies.
func TestDIDDocumentServed(t *testing.T) {
	for _, tc := range []struct{ base, did, path string }{
		{"https://creds.example.org", "did:web:creds.example.org", "/.well-known/did.json"},
		{"https://example.org:8443/academy/badges", "did:web:example.org%3A8443:academy:badges", "/did.json"},
	} {
		t.Run(tc.base, func(t *testing.T) {
			if did, err := keys.DIDWeb(tc.base); err != nil || did != tc.did || keys.DIDDocumentPath(tc.base) != tc.path {
				t.Fatalf("DIDWeb(%s) = %s, %v, path %s", tc.base, did, err, keys.DIDDocumentPath(tc.base))
			}
			set, err := keys.New(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			retiredSigner, err := credential.NewSigner(set, tc.did)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := set.Rotate(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
				t.Fatal(err)
			}
			signer, err := credential.NewSigner(set, tc.did)
			if err != nil {
				t.Fatal(err)
			}
			issuer := credential.Issuer{BaseURL: tc.base, Name: "Example Academy"}
			e := newEnv(t, func(d *httpapi.Deps) { d.Keys, d.Signer, d.Issuer, d.DID = set, signer, issuer, tc.did })
			e.keys, e.signer, e.issuer = set, signer, issuer
			var doc struct {
				Context            []string `json:"@context"`
				ID                 string
				VerificationMethod []struct{ ID, Type, Controller string }
				AssertionMethod    []string
			}
			w := e.call("GET", tc.path, "", nil)
			must(t, w, http.StatusOK, &doc)
			if ct := w.Header().Get("Content-Type"); ct != "application/did+json" {
				t.Errorf("Content-Type %s", ct)
			}
			if doc.ID != tc.did || len(doc.Context) == 0 || doc.Context[0] != "https://www.w3.org/ns/did/v1" {
				t.Errorf("document id %s, @context %v; want %s, starting with the DID v1 context", doc.ID, doc.Context, tc.did)
			}
			methods := map[string]string{}
			for _, m := range doc.VerificationMethod {
				methods[m.ID] = m.Type
				if m.Controller != tc.did {
					t.Errorf("%s: controller %s", m.ID, m.Controller)
				}
			}
			for _, want := range []struct{ id, typ string }{
				{signer.VerificationMethod(), "Multikey"}, {signer.KeyID(), "JsonWebKey"},
				{retiredSigner.VerificationMethod(), "Multikey"}, {retiredSigner.KeyID(), "JsonWebKey"},
			} {
				if methods[want.id] != want.typ || !slices.Contains(doc.AssertionMethod, want.id) {
					t.Errorf("%s: %q in the document, in assertionMethod %v; want a %s", want.id, methods[want.id], slices.Contains(doc.AssertionMethod, want.id), want.typ)
				}
			}
			if retiredSigner.VerificationMethod() == signer.VerificationMethod() {
				t.Fatal("the rotation did not change the signing key")
			}
			// A credential signed before the rotation, under this base, still verifies.
			b := e.setup(false, 1, 0)
			c := e.issue(b.ID, 2)
			cred, err := credential.Build(issuer, course(false), c)
			if err != nil {
				t.Fatal(err)
			}
			if cred.Issuer.ID != tc.did {
				t.Errorf("issuer id %s, want %s", cred.Issuer.ID, tc.did)
			}
			old, err := retiredSigner.Secure(cred, e.now)
			if err != nil {
				t.Fatal(err)
			}
			oldJWT, err := retiredSigner.SignJWT(cred)
			if err != nil {
				t.Fatal(err)
			}
			for name, body := range map[string]any{"JSON-LD": map[string]json.RawMessage{"credential": old}, "VC-JWT": map[string]string{"jwt": oldJWT}} {
				var got struct {
					Valid bool
					KeyID string `json:"kid"`
				}
				must(t, e.call("POST", "/verify", "", body), http.StatusOK, &got)
				if !got.Valid {
					t.Errorf("%s signed by the retired key: %+v; want valid", name, got)
				}
			}
		})
	}
}
