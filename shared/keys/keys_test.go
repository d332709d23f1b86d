package keys

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// RFC 8037 appendix A.1-A.3: an Ed25519 key and its RFC 7638 thumbprint.
const (
	rfcD          = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	rfcX          = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	rfcThumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func rfcSetJSON() string {
	return `{"active":"` + rfcThumbprint + `","keys":[{"kty":"OKP","crv":"Ed25519","x":"` + rfcX + `","d":"` + rfcD + `","created":"2026-01-02T03:04:05Z"}]}`
}

func mustNew(t *testing.T) Set {
	t.Helper()
	s, err := New(t0)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestThumbprintRFC8037(t *testing.T) {
	s, err := Parse([]byte(rfcSetJSON()))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := s.Keys[0].ID, rfcThumbprint; got != want {
		t.Errorf("kid = %s, want %s", got, want)
	}
	if got, want := b64(s.Keys[0].Public), rfcX; got != want {
		t.Errorf("x = %s, want %s", got, want)
	}
	if !s.Keys[0].Created.Equal(t0) {
		t.Errorf("created = %v, want %v", s.Keys[0].Created, t0)
	}
}

func TestParseInvalid(t *testing.T) {
	other := mustNew(t).Keys[0]
	tests := []struct {
		name, json, want string
	}{
		{"not json", `{"keys":`, "not valid JSON"},
		{"no keys", `{"active":"a","keys":[]}`, `"keys" is empty`},
		{"wrong curve", `{"keys":[{"kty":"EC","crv":"P-256","d":"` + rfcD + `"}]}`, "only OKP Ed25519"},
		{"short seed", `{"keys":[{"kty":"OKP","crv":"Ed25519","d":"AAAA"}]}`, "32-byte Ed25519 seed"},
		{"x mismatch", `{"keys":[{"kty":"OKP","crv":"Ed25519","d":"` + rfcD + `","x":"` + b64(other.Public) + `"}]}`, "x does not match d"},
		{"unknown active", `{"active":"nope","keys":[{"kty":"OKP","crv":"Ed25519","d":"` + rfcD + `"}]}`, "active key nope is not in the set"},
		{"duplicate", `{"keys":[{"kty":"OKP","crv":"Ed25519","d":"` + rfcD + `"},{"kty":"OKP","crv":"Ed25519","d":"` + rfcD + `"}]}`, "used twice"},
		{"bad created", `{"keys":[{"kty":"OKP","crv":"Ed25519","d":"` + rfcD + `","created":"yesterday"}]}`, "created is not"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.json))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if got := credbatch.ErrorKind(err); got != credbatch.KindInvalid {
				t.Errorf("kind = %s, want invalid", got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), rfcD) {
				t.Errorf("error %q leaks the private key", err)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	s := mustNew(t)
	if _, err := s.Rotate(t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(Marshal): %v", err)
	}
	if got.Active != s.Active || len(got.Keys) != 4 {
		t.Fatalf("got %v, want %v", got, s)
	}
	for i := range s.Keys {
		if !got.Keys[i].Private.Equal(s.Keys[i].Private) || got.Keys[i].ID != s.Keys[i].ID || !got.Keys[i].Created.Equal(s.Keys[i].Created) ||
			(s.Keys[i].IsES256() && !got.Keys[i].ECPrivate.Equal(s.Keys[i].ECPrivate)) {
			t.Errorf("key %d differs after round trip", i)
		}
	}
}

func TestRotate(t *testing.T) {
	s := mustNew(t)
	first := s.Active
	k, err := s.Rotate(t0.Add(24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if s.Active != k.ID || k.ID == first {
		t.Errorf("active = %s, want the new key %s (old %s)", s.Active, k.ID, first)
	}
	active, err := s.ActiveKey()
	if err != nil || active.ID != k.ID {
		t.Errorf("ActiveKey = %v, %v; want %s", active, err, k.ID)
	}
	for _, kid := range []string{first, k.ID} {
		if _, err := s.PublicKey(kid); err != nil {
			t.Errorf("PublicKey(%s) after rotation: %v", kid, err)
		}
	}
	var jwks struct{ Keys []JWK }
	if err := json.Unmarshal(s.JWKS(), &jwks); err != nil {
		t.Fatal(err)
	}
	if len(jwks.Keys) != 4 {
		t.Errorf("JWKS has %d keys after rotation, want 4 (old keys stay published, Ed25519 and P-256)", len(jwks.Keys))
	}
	es, err := s.ActiveES256()
	if err != nil || es.Parent != k.ID || es.Alg != AlgES256 {
		t.Errorf("ActiveES256 = %v, %v; want the P-256 key of %s", es, err, k.ID)
	}
}

func TestKeyLookup(t *testing.T) {
	s, err := Parse([]byte(rfcSetJSON()))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kid  string
		want credbatch.Kind // "" = found
	}{
		{rfcThumbprint, ""},
		{"did:web:example.org#" + rfcThumbprint, ""},
		{"did:web:example.org%3A8443:issuer#" + rfcThumbprint, ""},
		{"other", credbatch.KindNotFound},
		{"did:web:example.org#other", credbatch.KindNotFound},
		{"", credbatch.KindNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.kid, func(t *testing.T) {
			pub, err := s.PublicKey(tc.kid)
			if tc.want == "" {
				if err != nil || b64(pub) != rfcX {
					t.Errorf("PublicKey = %s, %v; want %s", b64(pub), err, rfcX)
				}
				return
			}
			if got := credbatch.ErrorKind(err); err == nil || got != tc.want {
				t.Errorf("err = %v (kind %s), want kind %s", err, got, tc.want)
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	s, err := Parse([]byte(rfcSetJSON()))
	if err != nil {
		t.Fatal(err)
	}
	raw := s.JWKS()
	if bytes.Contains(raw, []byte(rfcD)) || bytes.Contains(raw, []byte(`"d"`)) {
		t.Fatalf("JWKS contains private key material: %s", raw)
	}
	var got struct{ Keys []map[string]string }
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"kty": "OKP", "crv": "Ed25519", "x": rfcX, "kid": rfcThumbprint, "alg": "EdDSA", "use": "sig"}
	if len(got.Keys) != 2 || fmt.Sprint(got.Keys[0]) != fmt.Sprint(want) {
		t.Fatalf("JWKS keys = %v, want [%v, its P-256 key]", got.Keys, want)
	}
	if ec := got.Keys[1]; ec["kty"] != "EC" || ec["crv"] != "P-256" || ec["alg"] != "ES256" || ec["kid"] != s.Keys[1].ID {
		t.Errorf("JWKS P-256 key = %v", ec)
	}
	pub, err := ParseJWKS(raw)
	if err != nil {
		t.Fatalf("ParseJWKS: %v", err)
	}
	if k, err := pub.PublicKey(rfcThumbprint); err != nil || b64(k) != rfcX {
		t.Errorf("ParseJWKS lookup = %s, %v", b64(k), err)
	}
	if _, err := pub.ActiveKey(); err == nil {
		t.Error("a set read from a JWKS can sign; want an error")
	}
	if k, err := pub.Key(s.Keys[1].ID); err != nil || !k.ECPublic.Equal(s.Keys[1].ECPublic) {
		t.Errorf("ParseJWKS P-256 lookup = %v, %v", k, err)
	}
}

func TestParseJWKSInvalid(t *testing.T) {
	tests := []struct{ name, json string }{
		{"not json", `[`},
		{"bad x", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"!!"}]}`},
		{"short x", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseJWKS([]byte(tc.json)); credbatch.ErrorKind(err) != credbatch.KindInvalid {
				t.Errorf("ParseJWKS error = %v, want kind invalid", err)
			}
		})
	}
}

func TestDIDDocument(t *testing.T) {
	s, err := Parse([]byte(rfcSetJSON()))
	if err != nil {
		t.Fatal(err)
	}
	did := "did:web:example.org"
	raw := s.DIDDocument(did)
	if bytes.Contains(raw, []byte(rfcD)) || bytes.Contains(raw, []byte(`"d"`)) {
		t.Fatal("DID document contains a private key")
	}
	var doc struct {
		Context            []string `json:"@context"`
		ID                 string
		VerificationMethod []struct {
			ID, Type, Controller, PublicKeyMultibase string
			PublicKeyJwk                             *JWK
		}
		AssertionMethod []string
		Authentication  []string
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ID != did || doc.Context[0] != "https://www.w3.org/ns/did/v1" || len(doc.VerificationMethod) != 4 {
		t.Fatalf("doc = %s", raw)
	}
	ec := s.Keys[1].ID
	// The RFC 8032 test key 1 as a Multikey (ed25519-pub 0xed01, base58btc).
	wantMulti := "z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw"
	want := []struct{ id, typ, x, multi string }{
		{did + "#" + rfcThumbprint, "Multikey", "", wantMulti},
		{did + "#" + rfcThumbprint + "-jwk", "JsonWebKey", rfcX, ""},
		{did + "#" + ec, "JsonWebKey", s.Keys[1].JWK().X, ""},
		{did + "#" + ec + "-multikey", "Multikey", "", s.Keys[1].Multibase()},
	}
	for i, w := range want {
		vm := doc.VerificationMethod[i]
		x := ""
		if vm.PublicKeyJwk != nil {
			x = vm.PublicKeyJwk.X
		}
		if vm.ID != w.id || vm.Type != w.typ || vm.Controller != did || x != w.x || vm.PublicKeyMultibase != w.multi {
			t.Errorf("verification method %d = %+v, want %+v", i, vm, w)
		}
		if doc.AssertionMethod[i] != w.id {
			t.Errorf("assertionMethod[%d] = %s, want %s", i, doc.AssertionMethod[i], w.id)
		}
	}
	if len(doc.Authentication) != 0 {
		t.Errorf("authentication = %v, want none (the keys only sign credentials)", doc.Authentication)
	}
	if !strings.HasPrefix(s.Keys[1].Multibase(), "zDn") {
		t.Errorf("P-256 multibase %s does not start zDn (p256-pub, compressed)", s.Keys[1].Multibase())
	}
	for _, id := range doc.AssertionMethod {
		if _, err := s.Key(id); err != nil {
			t.Errorf("Key(%s): %v", id, err)
		}
	}
}

func TestDerivedES256(t *testing.T) {
	a, err := Parse([]byte(rfcSetJSON()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte(rfcSetJSON()))
	if err != nil {
		t.Fatal(err)
	}
	ka, err := a.ActiveES256()
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := b.ActiveES256()
	if !ka.ECPrivate.Equal(kb.ECPrivate) || ka.ID != ECThumbprint(ka.ECPublic) {
		t.Fatal("the P-256 key is not fixed by the Ed25519 seed")
	}
	other := mustNew(t)
	ko, _ := other.ActiveES256()
	if ko.ECPrivate.Equal(ka.ECPrivate) {
		t.Fatal("two seeds gave the same P-256 key")
	}
	// A signature made with the derived key verifies with its published half.
	sum := sha256.Sum256([]byte("credential"))
	sig, err := ecdsa.SignASN1(rand.Reader, ka.ECPrivate, sum[:])
	if err != nil || !ecdsa.VerifyASN1(ka.ECPublic, sum[:], sig) {
		t.Fatalf("sign/verify with the derived key: %v", err)
	}
	if _, err := a.PublicKey(ka.ID); credbatch.ErrorKind(err) != credbatch.KindNotFound {
		t.Errorf("PublicKey(P-256 kid) err = %v, want not found (it is not an Ed25519 key)", err)
	}
	sa, err := a.Secret("status")
	if err != nil || len(sa) != 32 {
		t.Fatalf("Secret = %x, %v", sa, err)
	}
	if _, err := a.Rotate(t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if sb, _ := a.Secret("status"); !bytes.Equal(sa, sb) {
		t.Error("Secret changed on rotation")
	}
	if sc, _ := a.Secret("other"); bytes.Equal(sa, sc) {
		t.Error("two purposes share a secret")
	}
}

func TestDIDWeb(t *testing.T) {
	tests := []struct{ url, want, docPath string }{
		{"https://example.org", "did:web:example.org", "/.well-known/did.json"},
		{"https://example.org/", "did:web:example.org", "/.well-known/did.json"},
		{"https://Example.ORG", "did:web:example.org", "/.well-known/did.json"},
		{"https://example.org:8443/issuer/one", "did:web:example.org%3A8443:issuer:one", "/did.json"},
		{"https://example.org/a%20b/", "did:web:example.org:a%20b", "/did.json"},
		{"http://127.0.0.1:8080", "did:web:127.0.0.1%3A8080", "/.well-known/did.json"},
	}
	for _, tc := range tests {
		got, err := DIDWeb(tc.url)
		if err != nil || got != tc.want {
			t.Errorf("DIDWeb(%q) = %q, %v; want %q", tc.url, got, err, tc.want)
		}
		if p := DIDDocumentPath(tc.url); p != tc.docPath {
			t.Errorf("DIDDocumentPath(%q) = %q, want %q", tc.url, p, tc.docPath)
		}
	}
	for _, bad := range []string{"https://", "https://example.org/?q=1", "https://u:p@example.org", "not a url"} {
		if _, err := DIDWeb(bad); credbatch.ErrorKind(err) != credbatch.KindInvalid {
			t.Errorf("DIDWeb(%q): err = %v, want invalid", bad, err)
		}
	}
}

func TestLoadFileCreatesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "keys.json")
	first, err := LoadFile(path)
	if err != nil {
		t.Fatalf("LoadFile (create): %v", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode = %o, want 600", got)
	}
	again, err := LoadFile(path)
	if err != nil {
		t.Fatalf("LoadFile (read): %v", err)
	}
	if again.Active != first.Active || !again.Keys[0].Private.Equal(first.Keys[0].Private) {
		t.Errorf("second load returned a different key: %v vs %v", again, first)
	}

	if _, err := again.Rotate(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := SaveFile(path, again); err != nil {
		t.Fatalf("SaveFile: %v", err)
	}
	rotated, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated.Keys) != 4 || rotated.Active != again.Active || rotated.Active == first.Active {
		t.Errorf("after rotate+save: %v, want 2 keys with active %s", rotated, again.Active)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("saved key file mode = %o, want 600", info.Mode().Perm())
	}
}

func TestLoadFileCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); credbatch.ErrorKind(err) != credbatch.KindInvalid {
		t.Errorf("LoadFile(corrupt) err = %v, want kind invalid", err)
	}
}

func TestNoKeyMaterialInLogs(t *testing.T) {
	s, err := Parse([]byte(rfcSetJSON()))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("loaded", "keys", s, "key", s.Keys[0])
	fmt.Fprintf(&buf, "%v %+v %#v %s", s, s.Keys[0], s, s.Keys[0])
	seed := b64(s.Keys[0].Private.Seed())
	if strings.Contains(buf.String(), seed) || strings.Contains(buf.String(), fmt.Sprint([]byte(s.Keys[0].Private))) {
		t.Errorf("key material printed: %s", buf.String())
	}
	if !strings.Contains(buf.String(), rfcThumbprint) {
		t.Errorf("the key id should be printed: %s", buf.String())
	}
}

type fakeSecrets struct {
	out *secretsmanager.GetSecretValueOutput
	err error
	ids []string
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.ids = append(f.ids, *in.SecretId)
	return f.out, f.err
}

func TestFromSecret(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		name     string
		out      *secretsmanager.GetSecretValueOutput
		err      error
		wantKind credbatch.Kind // "" = success
	}{
		{"string", &secretsmanager.GetSecretValueOutput{SecretString: str(rfcSetJSON())}, nil, ""},
		{"binary", &secretsmanager.GetSecretValueOutput{SecretBinary: []byte(rfcSetJSON())}, nil, ""},
		{"empty", &secretsmanager.GetSecretValueOutput{}, nil, credbatch.KindInternal}, // no_key_set: the deployment creates it
		{"placeholder", &secretsmanager.GetSecretValueOutput{SecretString: str("{}")}, nil, credbatch.KindInternal},
		{"not a key set", &secretsmanager.GetSecretValueOutput{SecretString: str(`{"password":"x"}`)}, nil, credbatch.KindInvalid},
		{"not found", nil, &smtypes.ResourceNotFoundException{Message: str("no such secret")}, credbatch.KindNotFound},
		{"throttled", nil, &smithy.GenericAPIError{Code: "ThrottlingException"}, credbatch.KindUnavailable},
		{"access denied", nil, &smithy.GenericAPIError{Code: "AccessDeniedException"}, credbatch.KindInternal},
		{"network", nil, errors.New("dial tcp: connection refused"), credbatch.KindUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := &fakeSecrets{out: tc.out, err: tc.err}
			s, err := FromSecret(context.Background(), client, "credbatch/keys")
			if len(client.ids) != 1 || client.ids[0] != "credbatch/keys" {
				t.Errorf("secret ids asked = %v", client.ids)
			}
			if tc.wantKind == "" {
				if err != nil {
					t.Fatalf("FromSecret: %v", err)
				}
				if s.Active != rfcThumbprint || !bytes.Equal(s.Keys[0].Public, mustPub(t, rfcX)) {
					t.Errorf("set = %v", s)
				}
				return
			}
			if got := credbatch.ErrorKind(err); err == nil || got != tc.wantKind {
				t.Errorf("err = %v (kind %s), want kind %s", err, got, tc.wantKind)
			}
		})
	}
}

func mustPub(t *testing.T, x string) ed25519.PublicKey {
	t.Helper()
	s, err := ParseJWKS([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `"}]}`))
	if err != nil || len(s.Keys) != 1 {
		t.Fatalf("ParseJWKS: %v", err)
	}
	return s.Keys[0].Public
}
