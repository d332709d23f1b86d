package credential

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/statuslist"
)

var day = 24 * time.Hour

// during is a time at which the test credential is within its dates.
var during = time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// tamper rewrites the payload of a token, keeping its header and signature.
func tamper(t *testing.T, token string, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	raw, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = b64(raw)
	return strings.Join(parts, ".")
}

// tamperLD rewrites a Data Integrity secured document, keeping its proof.
func tamperLD(t *testing.T, secured string, edit func(map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(secured), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// legacySign makes a credential of the earlier format: EdDSA, typ vc+jwt, kid the thumbprint.
func legacySign(t *testing.T, k keys.Key, doc any) string {
	t.Helper()
	payload, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return signRaw(t, jose.EdDSA, k.Private, map[string]any{"kid": k.ID, "typ": MediaType}, payload)
}

// signRaw signs a payload with any key and header values, to forge tokens.
func signRaw(t *testing.T, alg jose.SignatureAlgorithm, key any, header map[string]any, payload []byte) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	for k, v := range header {
		opts.WithHeader(jose.HeaderKey(k), v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

type fakeStatus struct {
	revoked map[int]bool
	err     error
	asked   []int
}

func (f *fakeStatus) Revoked(_ context.Context, i int) (bool, error) {
	f.asked = append(f.asked, i)
	return f.revoked[i], f.err
}

// form is one way a credential is secured, with how to tamper with it.
type form struct {
	name   string
	format Format
	sign   func(t *testing.T, doc any) string
	tamper func(t *testing.T, signed string, edit func(map[string]any)) string
	kid    string
}

func forms(t *testing.T, set keys.Set, signer *Signer) []form {
	ed, _ := set.ActiveKey()
	return []form{
		{"data integrity", FormatDataIntegrity, func(t *testing.T, doc any) string { return mustSecure(t, signer, doc) }, tamperLD, signer.VerificationMethod()},
		{"vc-jwt", FormatJWT, func(t *testing.T, doc any) string { return mustSign(t, signer, doc) }, tamper, signer.KeyID()},
		{"legacy", FormatLegacyJWS, func(t *testing.T, doc any) string { return legacySign(t, ed, doc) }, tamper, ed.ID},
	}
}

func TestVerify(t *testing.T) {
	set := newKeys(t)
	signer := mustSigner(t, set)
	other := newKeys(t)
	doc := mustBuild(t, testIssuer, testDefinition(), testCredential())
	noExpiry := testCredential()
	noExpiry.ExpiryDate = ""
	// A credential in the second status list: global index 131072+42 is entry 42 of list 2.
	second := testCredential()
	second.StatusListIndex = 131072 + 42

	for _, f := range forms(t, set, signer) {
		good := f.sign(t, doc)
		inSecond := f.sign(t, mustBuild(t, testIssuer, testDefinition(), second))
		otherForm := forms(t, other, mustSigner(t, other))
		var unpublished string
		for _, o := range otherForm {
			if o.name == f.name {
				unpublished = o.sign(t, doc)
			}
		}
		tests := []struct {
			name       string
			token      string
			status     *fakeStatus
			now        time.Time
			want       Status
			wantReason string
		}{
			{"valid", good, &fakeStatus{}, during, StatusValid, ""},
			{"valid without a status checker", good, nil, during, StatusValid, ""},
			{"valid on the first day", good, &fakeStatus{}, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), StatusValid, ""},
			{"valid on the last second of the expiry day", good, &fakeStatus{}, time.Date(2028, 4, 30, 23, 59, 59, 0, time.UTC), StatusValid, ""},
			{"valid forever without expiry", f.sign(t, mustBuild(t, testIssuer, testDefinition(), noExpiry)), &fakeStatus{}, during.AddDate(50, 0, 0), StatusValid, ""},
			{"expired", good, &fakeStatus{}, time.Date(2028, 5, 1, 0, 0, 0, 0, time.UTC), StatusExpired, "expired on 2028-04-30"},
			{"not yet valid", good, &fakeStatus{}, time.Date(2026, 4, 30, 23, 0, 0, 0, time.UTC), StatusNotYetValid, "valid from 2026-05-01"},
			{"revoked", good, &fakeStatus{revoked: map[int]bool{42: true}}, during, StatusRevoked, "revoked"},
			{"revoked in the second list", inSecond, &fakeStatus{revoked: map[int]bool{131072 + 42: true}}, during, StatusRevoked, "revoked"},
			{"same entry of another list", inSecond, &fakeStatus{revoked: map[int]bool{42: true}}, during, StatusValid, ""},
			{"revoked wins over expired", good, &fakeStatus{revoked: map[int]bool{42: true}}, during.AddDate(5, 0, 0), StatusRevoked, "revoked"},
			{"another index revoked", good, &fakeStatus{revoked: map[int]bool{41: true, 43: true}}, during, StatusValid, ""},
			{"tampered name", f.tamper(t, good, func(m map[string]any) { m["name"] = "Brain Surgeon Licence" }), &fakeStatus{}, during, StatusInvalid, "signature does not match"},
			{"tampered expiry", f.tamper(t, good, func(m map[string]any) { m["validUntil"] = "2099-12-31T23:59:59Z" }), &fakeStatus{}, during, StatusInvalid, ""},
			{"tampered status index", f.tamper(t, good, func(m map[string]any) {
				m["credentialStatus"].(map[string]any)["statusListIndex"] = "7"
			}), &fakeStatus{revoked: map[int]bool{42: true}}, during, StatusInvalid, "signature does not match"},
			{"signed by an unpublished key", unpublished, &fakeStatus{}, during, StatusInvalid, "not published"},
		}
		for _, tc := range tests {
			t.Run(f.name+"/"+tc.name, func(t *testing.T) {
				var status StatusChecker
				if tc.status != nil {
					status = tc.status
				}
				got, err := NewVerifier(set, status).Verify(context.Background(), tc.token, tc.now)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got.Status != tc.want || got.Valid != (tc.want == StatusValid) {
					t.Fatalf("status = %s (valid %v, reason %q), want %s", got.Status, got.Valid, got.Reason, tc.want)
				}
				if !strings.Contains(got.Reason, tc.wantReason) {
					t.Errorf("reason %q does not mention %q", got.Reason, tc.wantReason)
				}
				if got.Format != f.format {
					t.Errorf("format = %s, want %s", got.Format, f.format)
				}
				if tc.want == StatusValid {
					if got.Document.ID != doc.ID || got.KeyID != f.kid {
						t.Errorf("document id %q, kid %q; want %q, %q", got.Document.ID, got.KeyID, doc.ID, f.kid)
					}
					wantAsked := 42
					if tc.token == inSecond {
						wantAsked = 131072 + 42 // the global index: entry 42 of list 2
					}
					if tc.status != nil && (len(tc.status.asked) != 1 || tc.status.asked[0] != wantAsked) {
						t.Errorf("status indexes asked = %v, want [%d]", tc.status.asked, wantAsked)
					}
				}
			})
		}
	}
}

// TestVerifyForgeries: JWS tokens and proofs that must not verify.
func TestVerifyForgeries(t *testing.T) {
	set := newKeys(t)
	signer := mustSigner(t, set)
	doc := mustBuild(t, testIssuer, testDefinition(), testCredential())
	active, _ := set.ActiveKey()
	es, _ := set.ActiveES256()
	otherKey, _ := newKeys(t).ActiveKey()
	otherES, _ := newKeys(t).ActiveES256()
	legacyPayload, _ := json.Marshal(doc)
	docJSON, _ := json.Marshal(doc)
	jwtPayload, err := JWTPayload(docJSON)
	if err != nil {
		t.Fatal(err)
	}
	kid := signer.KeyID()
	withClaims := func(edit func(map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(jwtPayload, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, _ := json.Marshal(m)
		return b
	}
	es256 := func(header map[string]any, payload []byte) string {
		return signRaw(t, jose.ES256, es.ECPrivate, header, payload)
	}
	secured := mustSecure(t, signer, doc)
	tests := []struct{ name, token, wantReason string }{
		{"legacy: wrong key claiming the published kid", signRaw(t, jose.EdDSA, otherKey.Private, map[string]any{"kid": active.ID, "typ": MediaType}, legacyPayload), "signature does not match"},
		{"alg none", b64([]byte(`{"alg":"none","typ":"JWT","kid":"`+kid+`"}`)) + "." + b64(jwtPayload) + ".", "ES256 or EdDSA"},
		{"HS256 with the public key as secret", signRaw(t, jose.HS256, []byte(active.Public), map[string]any{"kid": active.ID, "typ": MediaType}, legacyPayload), "ES256 or EdDSA"},
		{"legacy: wrong typ", signRaw(t, jose.EdDSA, active.Private, map[string]any{"kid": active.ID, "typ": "JWT"}, legacyPayload), "typ"},
		{"legacy: no kid", signRaw(t, jose.EdDSA, active.Private, map[string]any{"typ": MediaType}, legacyPayload), "kid"},
		{"legacy: not a credential", signRaw(t, jose.EdDSA, active.Private, map[string]any{"kid": active.ID, "typ": MediaType}, []byte(`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"]}`)), "OpenBadgeCredential"},
		{"legacy: payload not JSON", signRaw(t, jose.EdDSA, active.Private, map[string]any{"kid": active.ID, "typ": MediaType}, []byte(`hello`)), "not a credential"},
		{"jwt: typ vc+jwt", es256(map[string]any{"kid": kid, "typ": MediaType}, jwtPayload), "MUST be"},
		{"jwt: extra header", es256(map[string]any{"kid": kid, "typ": "JWT", "cty": "vc"}, jwtPayload), "cty"},
		{"jwt: kid not a DID URL", es256(map[string]any{"kid": es.ID, "typ": "JWT"}, jwtPayload), "DID URL"},
		{"jwt: other key", signRaw(t, jose.ES256, otherES.ECPrivate, map[string]any{"kid": kid, "typ": "JWT"}, jwtPayload), "signature does not match"},
		{"jwt: Ed25519 kid", es256(map[string]any{"kid": signer.VerificationMethod(), "typ": "JWT"}, jwtPayload), "not a P-256 key"},
		{"jwt: no claims", es256(map[string]any{"kid": kid, "typ": "JWT"}, legacyPayload), "iss"},
		{"jwt: wrong iss", es256(map[string]any{"kid": kid}, withClaims(func(m map[string]any) { m["iss"] = "did:web:evil.example" })), "iss"},
		{"jwt: wrong jti", es256(map[string]any{"kid": kid}, withClaims(func(m map[string]any) { m["jti"] = "urn:uuid:1" })), "jti"},
		{"jwt: wrong nbf", es256(map[string]any{"kid": kid}, withClaims(func(m map[string]any) { m["nbf"] = 1 })), "nbf"},
		{"jwt: wrong sub", es256(map[string]any{"kid": kid}, withClaims(func(m map[string]any) { m["sub"] = "mailto:a@example.com" })), "sub"},
		{"jwt: no exp", es256(map[string]any{"kid": kid}, withClaims(func(m map[string]any) { delete(m, "exp") })), "exp"},
		{"ld: no proof", tamperLD(t, secured, func(m map[string]any) { delete(m, "proof") }), "no proof"},
		{"ld: two proofs", tamperLD(t, secured, func(m map[string]any) { m["proof"] = append(m["proof"].([]any), m["proof"].([]any)[0]) }), "2 proofs"},
		{"ld: other cryptosuite", tamperLD(t, secured, func(m map[string]any) { m["proof"].([]any)[0].(map[string]any)["cryptosuite"] = "ecdsa-rdfc-2019" }), "cryptosuite"},
		{"ld: other purpose", tamperLD(t, secured, func(m map[string]any) { m["proof"].([]any)[0].(map[string]any)["proofPurpose"] = "authentication" }), "proofPurpose"},
		{"ld: proof created changed", tamperLD(t, secured, func(m map[string]any) { m["proof"].([]any)[0].(map[string]any)["created"] = "2020-01-01T00:00:00Z" }), "signature does not match"},
		{"ld: P-256 method", tamperLD(t, secured, func(m map[string]any) { m["proof"].([]any)[0].(map[string]any)["verificationMethod"] = kid }), "not an Ed25519 key"},
		{"ld: unknown method", tamperLD(t, secured, func(m map[string]any) {
			m["proof"].([]any)[0].(map[string]any)["verificationMethod"] = "did:web:creds.example.org#nope"
		}), "not published"},
		{"ld: undefined term", tamperLD(t, secured, func(m map[string]any) { m["sneaky"] = "not in any context" }), "canonicalized"},
		{"ld: context swapped", tamperLD(t, secured, func(m map[string]any) { m["@context"] = []any{"https://www.w3.org/ns/credentials/v2"} }), ""},
		{"ld: remote context", tamperLD(t, secured, func(m map[string]any) {
			m["@context"] = []any{"https://www.w3.org/ns/credentials/v2", "https://evil.example/ctx.json"}
		}), "never fetched"},
		{"garbage", "not.a.jws", "compact JWS"},
		{"JSON serialization", `{"payload":"e30","signatures":[]}`, "no proof"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewVerifier(set, nil).Verify(context.Background(), tc.token, during)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Valid || got.Status != StatusInvalid {
				t.Fatalf("status = %s (valid %v), want invalid", got.Status, got.Valid)
			}
			if !strings.Contains(got.Reason, tc.wantReason) {
				t.Errorf("reason %q does not mention %q", got.Reason, tc.wantReason)
			}
		})
	}
	// The legacy format also accepted a DID URL as kid.
	didKid := signRaw(t, jose.EdDSA, active.Private, map[string]any{"kid": testDID + "#" + active.ID, "typ": MediaType}, legacyPayload)
	if res, err := NewVerifier(set, nil).Verify(context.Background(), didKid, during); err != nil || !res.Valid {
		t.Errorf("legacy token with a DID URL kid: %+v, %v", res, err)
	}
}

func TestVerifyErrors(t *testing.T) {
	set := newKeys(t)
	signer := mustSigner(t, set)
	doc := mustBuild(t, testIssuer, testDefinition(), testCredential())
	for _, token := range []string{mustSign(t, signer, doc), mustSecure(t, signer, doc)} {
		_, err := NewVerifier(set, &fakeStatus{err: credbatch.E(credbatch.KindUnavailable, "unavailable", "store down")}).Verify(context.Background(), token, during)
		if credbatch.ErrorKind(err) != credbatch.KindUnavailable {
			t.Errorf("status checker down: err = %v, want kind unavailable", err)
		}
		_, err = NewVerifier(brokenKeys{}, nil).Verify(context.Background(), token, during)
		if err == nil || credbatch.IsKind(err, credbatch.KindInvalid) {
			t.Errorf("key store down: err = %v, want a non-invalid error", err)
		}
	}
}

type brokenKeys struct{}

func (brokenKeys) Key(string) (keys.Key, error) {
	return keys.Key{}, errors.New("secret unreachable")
}

func TestVerifyAfterRotation(t *testing.T) {
	set := newKeys(t)
	oldSigner := mustSigner(t, set)
	doc := mustBuild(t, testIssuer, testDefinition(), testCredential())
	oldJWT, oldLD := mustSign(t, oldSigner, doc), mustSecure(t, oldSigner, doc)
	if _, err := set.Rotate(time.Now()); err != nil {
		t.Fatal(err)
	}
	signer := mustSigner(t, set)
	freshJWT, freshLD := mustSign(t, signer, doc), mustSecure(t, signer, doc)
	if signer.VerificationMethod() != testDID+"#"+set.Active {
		t.Errorf("verification method %s, want the new active key %s", signer.VerificationMethod(), set.Active)
	}
	// Verify against the published JWKS, as an outside verifier would.
	published, err := keys.ParseJWKS(set.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	for name, token := range map[string]string{"old jwt": oldJWT, "old ld": oldLD, "new jwt": freshJWT, "new ld": freshLD} {
		res, err := NewVerifier(published, nil).Verify(context.Background(), token, during)
		if err != nil || !res.Valid {
			t.Errorf("%s: %+v, %v; want valid", name, res, err)
		}
	}
}

func TestJWTHeaderAndClaims(t *testing.T) {
	set := newKeys(t)
	s := mustSigner(t, set)
	doc := mustBuild(t, testIssuer, testDefinition(), testCredential())
	token := mustSign(t, s, doc)
	parts := strings.Split(token, ".")
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(hdr, &got); err != nil {
		t.Fatal(err)
	}
	es, _ := set.ActiveES256()
	want := map[string]string{"alg": "ES256", "kid": testDID + "#" + es.ID, "typ": "JWT"}
	if len(got) != len(want) || got["alg"] != want["alg"] || got["kid"] != want["kid"] || got["typ"] != want["typ"] {
		t.Errorf("header = %v, want %v", got, want)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	wantClaims := map[string]any{"iss": testDID, "jti": doc.ID, "sub": doc.CredentialSubject.ID,
		"nbf": float64(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).Unix()),
		"exp": float64(time.Date(2028, 4, 30, 23, 59, 59, 0, time.UTC).Unix())}
	for k, v := range wantClaims {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if !strings.HasPrefix(doc.CredentialSubject.ID, "urn:uuid:") {
		t.Errorf("credentialSubject.id = %q, want a urn:uuid", doc.CredentialSubject.ID)
	}
	// The payload is the document (as /json serves it, without the proof) plus the claims.
	var ld map[string]any
	if err := json.Unmarshal([]byte(mustSecure(t, s, doc)), &ld); err != nil {
		t.Fatal(err)
	}
	delete(ld, "proof")
	for k := range wantClaims {
		delete(claims, k)
	}
	a, _ := json.Marshal(ld)
	b, _ := json.Marshal(claims)
	if string(a) != string(b) {
		t.Errorf("JWT payload without its claims differs from the JSON-LD document without its proof:\n%s\n%s", b, a)
	}
	if _, err := s.SignJWT([]string{"not", "an", "object"}); err == nil {
		t.Error("SignJWT(array) succeeded, want an error")
	}
	if _, err := NewSigner(keys.Set{}, testDID); err == nil {
		t.Error("NewSigner(empty set) succeeded, want an error")
	}
	if _, err := NewSigner(set, ""); err == nil {
		t.Error("NewSigner without a DID succeeded, want an error")
	}
}

// TestDataIntegrityDeterministic: Ed25519 and RDFC-1.0 are deterministic, so securing the
// same document at the same time twice gives the same bytes; the proof is what the
// eddsa-rdfc-2022 cryptosuite says.
func TestDataIntegrityDeterministic(t *testing.T) {
	s := mustSigner(t, newKeys(t))
	doc := mustBuild(t, testIssuer, testDefinition(), testCredential())
	a, b := mustSecure(t, s, doc), mustSecure(t, s, doc)
	if a != b {
		t.Error("securing the same document twice gives different bytes")
	}
	var m struct{ Proof []Proof }
	if err := json.Unmarshal([]byte(a), &m); err != nil || len(m.Proof) != 1 {
		t.Fatalf("proof is not a one-element array (the OB 3.0 schema wants one): %v", err)
	}
	p := m.Proof[0]
	if p.Type != "DataIntegrityProof" || p.Cryptosuite != "eddsa-rdfc-2022" || p.ProofPurpose != "assertionMethod" ||
		p.VerificationMethod != s.VerificationMethod() || p.Created != "2026-05-01T09:00:00Z" || !strings.HasPrefix(p.ProofValue, "z") || p.Context != nil {
		t.Errorf("proof = %+v", p)
	}
	if _, err := s.Secure(json.RawMessage(a), time.Now()); err == nil {
		t.Error("securing a document that has a proof succeeded")
	}
}

func TestStatusListCredential(t *testing.T) {
	set := newKeys(t)
	signer := mustSigner(t, set)
	enc, err := statuslist.Encode([]int{42}, statuslist.Size)
	if err != nil {
		t.Fatal(err)
	}
	listDoc := statuslist.Credential(testIssuer.ID(), testIssuer.StatusListURL(), enc, during)
	for _, f := range forms(t, set, signer)[:2] {
		t.Run(f.name, func(t *testing.T) {
			token := f.sign(t, listDoc)
			// A verifier that fetched the list credential: check its signature, decode the list,
			// then use it to check a credential.
			v := NewVerifier(set, nil)
			payload, kid, _, err := v.VerifySignature(token)
			if err != nil || kid != f.kid {
				t.Fatalf("VerifySignature(status list) = %q, %v", kid, err)
			}
			var got statuslist.Document
			if err := json.Unmarshal(payload, &got); err != nil {
				t.Fatal(err)
			}
			list, err := statuslist.FromDocument(got)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				index int
				want  Status
			}{{42, StatusRevoked}, {43, StatusValid}} {
				c := testCredential()
				c.StatusListIndex = tc.index
				doc := mustBuild(t, testIssuer, testDefinition(), c)
				if doc.CredentialStatus.StatusListCredential != got.ID {
					t.Errorf("statusListCredential %s, want the list id %s", doc.CredentialStatus.StatusListCredential, got.ID)
				}
				res, err := NewVerifier(set, list).Verify(context.Background(), f.sign(t, doc), during)
				if err != nil || res.Status != tc.want {
					t.Errorf("index %d: %s, %v; want %s", tc.index, res.Status, err, tc.want)
				}
			}
			empty, err := statuslist.Encode(nil, statuslist.Size)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := v.VerifySignature(f.tamper(t, token, func(m map[string]any) {
				m["credentialSubject"].(map[string]any)["encodedList"] = empty // un-revoke everything
			})); credbatch.ErrorKind(err) != credbatch.KindInvalid {
				t.Errorf("tampered status list: err = %v, want invalid", err)
			}
		})
	}
}

func BenchmarkSignJWT(b *testing.B) {
	signer := mustSigner(b, newKeys(b))
	doc := mustBuild(b, testIssuer, testDefinition(), testCredential())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := signer.SignJWT(doc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "credentials/s")
}

func BenchmarkSecure(b *testing.B) {
	signer := mustSigner(b, newKeys(b))
	def, c := testDefinition(), testCredential()
	b.ReportAllocs()
	for b.Loop() {
		doc, err := Build(testIssuer, def, c)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := signer.Secure(doc, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "credentials/s")
}

func BenchmarkVerify(b *testing.B) {
	set := newKeys(b)
	signer := mustSigner(b, set)
	doc := mustBuild(b, testIssuer, testDefinition(), testCredential())
	for _, tc := range []struct{ name, token string }{{"jwt", mustSign(b, signer, doc)}, {"data-integrity", string(must(b, func() ([]byte, error) { return signer.Secure(doc, time.Now()) }))}} {
		b.Run(tc.name, func(b *testing.B) {
			v := NewVerifier(set, nil)
			for b.Loop() {
				if res, err := v.Verify(context.Background(), tc.token, during); err != nil || !res.Valid {
					b.Fatal(res, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "credentials/s")
		})
	}
}

func must[T any](tb testing.TB, f func() (T, error)) T {
	tb.Helper()
	v, err := f()
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func TestSignConcurrent(t *testing.T) {
	set := newKeys(t)
	signer := mustSigner(t, set)
	v := NewVerifier(set, nil)
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			c := testCredential()
			c.StatusListIndex = w
			doc, err := Build(testIssuer, testDefinition(), c)
			if err == nil {
				for _, sign := range []func() (string, error){
					func() (string, error) { return signer.SignJWT(doc) },
					func() (string, error) { b, err := signer.Secure(doc, time.Now()); return string(b), err },
				} {
					var token string
					if token, err = sign(); err == nil {
						var res Result
						if res, err = v.Verify(context.Background(), token, during); err == nil && !res.Valid {
							err = errors.New(res.Reason)
						}
					}
					if err != nil {
						break
					}
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestCanonicalizeMatchesReference: the cached-context canonicalization gives json-gold's
// own output byte for byte, for credentials of every shape, status lists and proof
// configurations.
func TestCanonicalizeMatchesReference(t *testing.T) {
	l := DefaultLoader()
	var docs []any
	def := testDefinition()
	for i, edit := range []func(*credbatch.Credential, *credbatch.Definition){
		func(*credbatch.Credential, *credbatch.Definition) {},
		func(c *credbatch.Credential, _ *credbatch.Definition) { c.ExpiryDate = "" },
		func(c *credbatch.Credential, _ *credbatch.Definition) { c.Attributes = nil; c.Name = "" },
		func(c *credbatch.Credential, _ *credbatch.Definition) { c.Name = "Zoë 山田 \"quoted\"\n" },
		func(c *credbatch.Credential, d *credbatch.Definition) {
			d.Image = ""
			d.Issuer = &credbatch.Issuer{Name: "Other"}
		},
		func(c *credbatch.Credential, _ *credbatch.Definition) {
			c.Attributes = map[string]string{"Extra": "x", "Level": "Basic"}
		},
	} {
		c, d := testCredential(), def
		c.StatusListIndex = i * 1000
		edit(&c, &d)
		docs = append(docs, mustBuild(t, testIssuer, d, c))
	}
	plain := testIssuer
	plain.PlainEmail, plain.URLID = true, true
	docs = append(docs, mustBuild(t, plain, def, testCredential()))
	docs = append(docs, statuslist.Credential(testIssuer.ID(), testIssuer.StatusListURL(), "uH4sIAAAAAAAA", during))
	docs = append(docs, Proof{Context: Contexts, Type: ProofType, Cryptosuite: Cryptosuite, Created: "2026-05-01T09:00:00Z",
		VerificationMethod: testDID + "#k", ProofPurpose: ProofPurpose})
	for i, d := range docs {
		m, err := toJSONValue(d)
		if err != nil {
			t.Fatal(err)
		}
		want, err := l.CanonicalizeReference(m)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second run uses the cached context
			m, _ := toJSONValue(d)
			got, err := l.Canonicalize(m)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("document %d: canonical form differs from json-gold's reference:\n%s\nwant\n%s", i, got, want)
			}
		}
		if !strings.Contains(want, "_:c14n") && i < 6 {
			t.Errorf("document %d: no blank nodes, the test does not exercise labelling", i)
		}
	}
}
