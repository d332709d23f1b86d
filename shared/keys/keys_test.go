package keys

import (
	"bytes"
	"context"
	"crypto/ed25519"
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
	if got.Active != s.Active || len(got.Keys) != 2 {
		t.Fatalf("got %v, want %v", got, s)
	}
	for i := range s.Keys {
		if !got.Keys[i].Private.Equal(s.Keys[i].Private) || got.Keys[i].ID != s.Keys[i].ID || !got.Keys[i].Created.Equal(s.Keys[i].Created) {
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
	if len(jwks.Keys) != 2 {
		t.Errorf("JWKS has %d keys after rotation, want 2 (old keys stay published)", len(jwks.Keys))
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
	if len(got.Keys) != 1 || fmt.Sprint(got.Keys[0]) != fmt.Sprint(want) {
		t.Errorf("JWKS keys = %v, want [%v]", got.Keys, want)
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
	if bytes.Contains(raw, []byte(rfcD)) {
		t.Fatal("DID document contains the private key")
	}
	var doc struct {
		Context            []string `json:"@context"`
		ID                 string
		VerificationMethod []struct {
			ID, Type, Controller string
			PublicKeyJwk         JWK
		}
		AssertionMethod []string
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	vmID := did + "#" + rfcThumbprint
	if doc.ID != did || len(doc.VerificationMethod) != 1 || doc.Context[0] != "https://www.w3.org/ns/did/v1" {
		t.Fatalf("doc = %s", raw)
	}
	vm := doc.VerificationMethod[0]
	if vm.ID != vmID || vm.Type != "JsonWebKey" || vm.Controller != did || vm.PublicKeyJwk.X != rfcX || vm.PublicKeyJwk.Kid != rfcThumbprint {
		t.Errorf("verification method = %+v", vm)
	}
	if len(doc.AssertionMethod) != 1 || doc.AssertionMethod[0] != vmID {
		t.Errorf("assertionMethod = %v, want [%s]", doc.AssertionMethod, vmID)
	}
}

func TestDIDWeb(t *testing.T) {
	tests := []struct{ url, want string }{
		{"https://example.org", "did:web:example.org"},
		{"https://example.org/", "did:web:example.org"},
		{"https://example.org:8443/issuer/one", "did:web:example.org%3A8443:issuer:one"},
		{"http://127.0.0.1:8080", "did:web:127.0.0.1%3A8080"},
	}
	for _, tc := range tests {
		got, err := DIDWeb(tc.url)
		if err != nil || got != tc.want {
			t.Errorf("DIDWeb(%q) = %q, %v; want %q", tc.url, got, err, tc.want)
		}
	}
	if _, err := DIDWeb("https://"); credbatch.ErrorKind(err) != credbatch.KindInvalid {
		t.Errorf("DIDWeb without host: err = %v, want invalid", err)
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
	if len(rotated.Keys) != 2 || rotated.Active != again.Active || rotated.Active == first.Active {
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
		{"empty", &secretsmanager.GetSecretValueOutput{}, nil, credbatch.KindInvalid},
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
