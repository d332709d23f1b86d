package credential

import (
	"context"
	"crypto/ed25519"
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

func TestVerify(t *testing.T) {
	set := newKeys(t)
	signer := mustSigner(t, set)
	doc := mustBuild(t, testIssuer, testDefinition(), testCredential())
	good := mustSign(t, signer, doc)
	active, _ := set.ActiveKey()

	other := newKeys(t)
	otherKey, _ := other.ActiveKey()
	payload, _ := json.Marshal(doc)

	noExpiry := testCredential()
	noExpiry.ExpiryDate = ""
	// A credential in the second status list: global index 131072+42 is entry 42 of list 2.
	second := testCredential()
	second.StatusListIndex = 131072 + 42
	inSecond := mustSign(t, signer, mustBuild(t, testIssuer, testDefinition(), second))

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
		{"valid forever without expiry", mustSign(t, signer, mustBuild(t, testIssuer, testDefinition(), noExpiry)), &fakeStatus{}, during.AddDate(50, 0, 0), StatusValid, ""},
		{"expired", good, &fakeStatus{}, time.Date(2028, 5, 1, 0, 0, 0, 0, time.UTC), StatusExpired, "expired on 2028-04-30"},
		{"not yet valid", good, &fakeStatus{}, time.Date(2026, 4, 30, 23, 0, 0, 0, time.UTC), StatusNotYetValid, "valid from 2026-05-01"},
		{"revoked", good, &fakeStatus{revoked: map[int]bool{42: true}}, during, StatusRevoked, "revoked"},
		{"revoked in the second list", inSecond, &fakeStatus{revoked: map[int]bool{131072 + 42: true}}, during, StatusRevoked, "revoked"},
		{"same entry of another list", inSecond, &fakeStatus{revoked: map[int]bool{42: true}}, during, StatusValid, ""},
		{"revoked wins over expired", good, &fakeStatus{revoked: map[int]bool{42: true}}, during.AddDate(5, 0, 0), StatusRevoked, "revoked"},
		{"another index revoked", good, &fakeStatus{revoked: map[int]bool{41: true, 43: true}}, during, StatusValid, ""},
		{"tampered name", tamper(t, good, func(m map[string]any) { m["name"] = "Brain Surgeon Licence" }), &fakeStatus{}, during, StatusInvalid, "signature does not match"},
		{"tampered expiry", tamper(t, good, func(m map[string]any) { m["validUntil"] = "2099-12-31T23:59:59Z" }), &fakeStatus{}, during, StatusInvalid, "signature does not match"},
		{"tampered status index", tamper(t, good, func(m map[string]any) {
			m["credentialStatus"].(map[string]any)["statusListIndex"] = "7"
		}), &fakeStatus{revoked: map[int]bool{42: true}}, during, StatusInvalid, "signature does not match"},
		{"signed by an unpublished key", mustSign(t, mustSigner(t, other), doc), &fakeStatus{}, during, StatusInvalid, "not published"},
		{"wrong key claiming the published kid", signRaw(t, jose.EdDSA, otherKey.Private, map[string]any{"kid": active.ID, "typ": MediaType}, payload), &fakeStatus{}, during, StatusInvalid, "signature does not match"},
		{"alg none", b64([]byte(`{"alg":"none","typ":"vc+jwt","kid":"`+active.ID+`"}`)) + "." + b64(payload) + ".", &fakeStatus{}, during, StatusInvalid, "EdDSA"},
		{"HS256 with the public key as secret", signRaw(t, jose.HS256, []byte(active.Public), map[string]any{"kid": active.ID, "typ": MediaType}, payload), &fakeStatus{}, during, StatusInvalid, "EdDSA"},
		{"wrong typ", signRaw(t, jose.EdDSA, active.Private, map[string]any{"kid": active.ID, "typ": "JWT"}, payload), &fakeStatus{}, during, StatusInvalid, "typ"},
		{"no kid", signRaw(t, jose.EdDSA, active.Private, map[string]any{"typ": MediaType}, payload), &fakeStatus{}, during, StatusInvalid, "kid"},
		{"kid as a DID URL", signRaw(t, jose.EdDSA, active.Private, map[string]any{"kid": testIssuer.DID + "#" + active.ID, "typ": MediaType}, payload), &fakeStatus{}, during, StatusValid, ""},
		{"not a credential", signRaw(t, jose.EdDSA, active.Private, map[string]any{"kid": active.ID, "typ": MediaType}, []byte(`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"]}`)), &fakeStatus{}, during, StatusInvalid, "OpenBadgeCredential"},
		{"payload not JSON", signRaw(t, jose.EdDSA, active.Private, map[string]any{"kid": active.ID, "typ": MediaType}, []byte(`hello`)), &fakeStatus{}, during, StatusInvalid, "not a credential"},
		{"garbage", "not.a.jws", &fakeStatus{}, during, StatusInvalid, "compact JWS"},
		{"JSON serialization", `{"payload":"e30","signatures":[]}`, &fakeStatus{}, during, StatusInvalid, "compact JWS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
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
			if tc.want == StatusValid {
				if got.Document.ID != doc.ID || !strings.HasSuffix(got.KeyID, active.ID) {
					t.Errorf("document id %q, kid %q; want %q, %q", got.Document.ID, got.KeyID, doc.ID, active.ID)
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

func TestVerifyErrors(t *testing.T) {
	set := newKeys(t)
	token := mustSign(t, mustSigner(t, set), mustBuild(t, testIssuer, testDefinition(), testCredential()))

	_, err := NewVerifier(set, &fakeStatus{err: credbatch.E(credbatch.KindUnavailable, "unavailable", "store down")}).Verify(context.Background(), token, during)
	if credbatch.ErrorKind(err) != credbatch.KindUnavailable {
		t.Errorf("status checker down: err = %v, want kind unavailable", err)
	}
	_, err = NewVerifier(brokenKeys{}, nil).Verify(context.Background(), token, during)
	if err == nil || credbatch.IsKind(err, credbatch.KindInvalid) {
		t.Errorf("key store down: err = %v, want a non-invalid error", err)
	}
}

type brokenKeys struct{}

func (brokenKeys) PublicKey(string) (ed25519.PublicKey, error) {
	return nil, errors.New("secret unreachable")
}

func TestVerifyAfterRotation(t *testing.T) {
	set := newKeys(t)
	old := mustSign(t, mustSigner(t, set), mustBuild(t, testIssuer, testDefinition(), testCredential()))
	if _, err := set.Rotate(time.Now()); err != nil {
		t.Fatal(err)
	}
	signer := mustSigner(t, set)
	fresh := mustSign(t, signer, mustBuild(t, testIssuer, testDefinition(), testCredential()))
	if signer.KeyID() != set.Active {
		t.Errorf("signer kid %s, want the new active key %s", signer.KeyID(), set.Active)
	}
	// Verify against the published JWKS, as an outside verifier would.
	published, err := keys.ParseJWKS(set.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	for name, token := range map[string]string{"old key": old, "new key": fresh} {
		res, err := NewVerifier(published, nil).Verify(context.Background(), token, during)
		if err != nil || !res.Valid {
			t.Errorf("%s: %+v, %v; want valid", name, res, err)
		}
	}
}

func TestSignDeterministicAndHeader(t *testing.T) {
	set := newKeys(t)
	s := mustSigner(t, set)
	doc := mustBuild(t, testIssuer, testDefinition(), testCredential())
	a, b := mustSign(t, s, doc), mustSign(t, s, doc)
	if a != b {
		t.Error("signing the same document twice gives different tokens (Ed25519 is deterministic)")
	}
	hdr, err := base64.RawURLEncoding.DecodeString(strings.Split(a, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(hdr, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"alg": "EdDSA", "kid": set.Active, "typ": "vc+jwt"}
	if len(got) != len(want) || got["alg"] != want["alg"] || got["kid"] != want["kid"] || got["typ"] != want["typ"] {
		t.Errorf("header = %v, want %v", got, want)
	}
	if _, err := s.Sign([]string{"not", "an", "object"}); err == nil {
		t.Error("Sign(array) succeeded, want an error")
	}
	if _, err := NewSigner(keys.Set{}); err == nil {
		t.Error("NewSigner(empty set) succeeded, want an error")
	}
}

// TestSignatureWithCryptoEd25519 checks a token with crypto/ed25519 and a JWKS decoded with
// encoding/json only: a second path that shares no code with go-jose or package keys.
func TestSignatureWithCryptoEd25519(t *testing.T) {
	set := newKeys(t)
	token := mustSign(t, mustSigner(t, set), mustBuild(t, testIssuer, testDefinition(), testCredential()))
	var jwks struct {
		Keys []struct{ Kty, Crv, X, Kid, Alg, Use string }
	}
	if err := json.Unmarshal(set.JWKS(), &jwks); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(token, ".")
	var hdr struct{ Alg, Kid, Typ string }
	raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(raw, &hdr); err != nil {
		t.Fatal(err)
	}
	verify := func(token string) bool {
		parts := strings.Split(token, ".")
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			return false
		}
		for _, k := range jwks.Keys {
			if k.Kid == hdr.Kid && k.Kty == "OKP" && k.Crv == "Ed25519" && k.Alg == "EdDSA" && k.Use == "sig" {
				pub, err := base64.RawURLEncoding.DecodeString(k.X)
				return err == nil && ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig)
			}
		}
		return false
	}
	if !verify(token) {
		t.Error("crypto/ed25519 rejects the token")
	}
	if verify(tamper(t, token, func(m map[string]any) { m["id"] = "https://evil.example/credentials/1" })) {
		t.Error("crypto/ed25519 accepts a tampered token")
	}
}

func TestStatusListCredential(t *testing.T) {
	set := newKeys(t)
	signer := mustSigner(t, set)
	enc, err := statuslist.Encode([]int{42}, statuslist.Size)
	if err != nil {
		t.Fatal(err)
	}
	token := mustSign(t, signer, statuslist.Credential(testIssuer.ID(), testIssuer.StatusListURL(), enc, during))

	// A verifier that fetched the list credential: check its signature, decode the list,
	// then use it to check a credential.
	v := NewVerifier(set, nil)
	payload, kid, err := v.VerifySignature(token)
	if err != nil || kid != set.Active {
		t.Fatalf("VerifySignature(status list) = %q, %v", kid, err)
	}
	var listDoc statuslist.Document
	if err := json.Unmarshal(payload, &listDoc); err != nil {
		t.Fatal(err)
	}
	list, err := statuslist.FromDocument(listDoc)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		index int
		want  Status
	}{{42, StatusRevoked}, {43, StatusValid}}
	for _, tc := range tests {
		c := testCredential()
		c.StatusListIndex = tc.index
		doc := mustBuild(t, testIssuer, testDefinition(), c)
		if doc.CredentialStatus.StatusListCredential != listDoc.ID {
			t.Errorf("statusListCredential %s, want the list id %s", doc.CredentialStatus.StatusListCredential, listDoc.ID)
		}
		res, err := NewVerifier(set, list).Verify(context.Background(), mustSign(t, signer, doc), during)
		if err != nil || res.Status != tc.want {
			t.Errorf("index %d: %s, %v; want %s", tc.index, res.Status, err, tc.want)
		}
	}
	empty, err := statuslist.Encode(nil, statuslist.Size)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.VerifySignature(tamper(t, token, func(m map[string]any) {
		m["credentialSubject"].(map[string]any)["encodedList"] = empty // un-revoke everything
	})); credbatch.ErrorKind(err) != credbatch.KindInvalid {
		t.Errorf("tampered status list: err = %v, want invalid", err)
	}
}

func BenchmarkSign(b *testing.B) {
	signer := mustSigner(b, newKeys(b))
	doc := mustBuild(b, testIssuer, testDefinition(), testCredential())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := signer.Sign(doc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "credentials/s")
}

func BenchmarkBuildAndSign(b *testing.B) {
	signer := mustSigner(b, newKeys(b))
	def, c := testDefinition(), testCredential()
	b.ReportAllocs()
	for b.Loop() {
		doc, err := Build(testIssuer, def, c)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := signer.Sign(doc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "credentials/s")
}

func BenchmarkVerify(b *testing.B) {
	set := newKeys(b)
	token := mustSign(b, mustSigner(b, set), mustBuild(b, testIssuer, testDefinition(), testCredential()))
	v := NewVerifier(set, nil)
	for b.Loop() {
		if res, err := v.Verify(context.Background(), token, during); err != nil || !res.Valid {
			b.Fatal(res, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "credentials/s")
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
				var token string
				if token, err = signer.Sign(doc); err == nil {
					var res Result
					if res, err = v.Verify(context.Background(), token, during); err == nil && !res.Valid {
						err = errors.New(res.Reason)
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
