package credential

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/statuslist"
)

// jsVerifier returns a function that runs infra/testenv/jsverify/verify.mjs (the jose
// library on node) on a token and a JWKS, returning its stdout and whether it accepted.
// It skips when node or the installed jose package is missing, and fails under CI=true.
func jsVerifier(t *testing.T) func(token string, jwks []byte) (string, bool) {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing; CI must run the independent verifier (run npm ci in infra/testenv/jsverify)", what)
		}
		t.Skipf("%s is missing; run `npm ci` in infra/testenv/jsverify to enable this test", what)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node")
	}
	root := repoRoot(t)
	dir := filepath.Join(root, "infra", "testenv", "jsverify")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "jose", "package.json")); err != nil {
		missing("infra/testenv/jsverify/node_modules/jose")
	}
	return func(token string, jwks []byte) (string, bool) {
		t.Helper()
		jwksPath := filepath.Join(t.TempDir(), "jwks.json")
		if err := os.WriteFile(jwksPath, jwks, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "verify.mjs"), "--jwks", jwksPath, "--jwt", "-")
		cmd.Stdin = strings.NewReader(token)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ctx.Err() != nil {
			t.Fatalf("verify.mjs timed out: %s", stderr.String())
		}
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
			t.Fatalf("verify.mjs failed to run: %v: %s", err, stderr.String())
		}
		if err != nil {
			t.Logf("verify.mjs: %s", strings.TrimSpace(stderr.String()))
		}
		return stdout.String(), err == nil
	}
}

// repoRoot walks up from the test's working directory to the directory holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// TestIndependentVerification checks credentials of the legacy format (EdDSA vc+jwt) with the
// jose library on node, against the published JWKS only: the credentials issued before the
// Data Integrity proof stay verifiable by other software. (The Data Integrity proofs and the
// ES256 VC-JWTs are checked by infra/testenv's verifiers on credentials issued through the
// flow.)
func TestIndependentVerification(t *testing.T) {
	verify := jsVerifier(t)
	set := newKeys(t)
	doc := mustBuild(t, testIssuer, testDefinition(), testCredential())
	active, _ := set.ActiveKey()
	good := legacySign(t, active, doc)
	enc, err := statuslist.Encode([]int{42}, statuslist.Size)
	if err != nil {
		t.Fatal(err)
	}
	list := legacySign(t, active, statuslist.Credential(testIssuer.ID(), testIssuer.StatusListURL(), enc, during))

	other := newKeys(t)
	otherKey, _ := other.ActiveKey()
	payload, _ := json.Marshal(doc)

	rotated := newKeys(t)
	oldToken := legacySign(t, mustKey(t, rotated), doc)
	if _, err := rotated.Rotate(time.Now()); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		token  string
		jwks   []byte
		accept bool
		want   any // the payload printed on success
	}{
		{"credential", good, set.JWKS(), true, doc},
		{"status list credential", list, set.JWKS(), true, statuslist.Credential(testIssuer.ID(), testIssuer.StatusListURL(), enc, during)},
		{"old key after rotation", oldToken, rotated.JWKS(), true, doc},
		{"tampered payload", tamper(t, good, func(m map[string]any) { m["validUntil"] = "2099-12-31T23:59:59Z" }), set.JWKS(), false, nil},
		{"unpublished key", legacySign(t, otherKey, doc), set.JWKS(), false, nil},
		{"wrong key claiming the published kid", signRaw(t, jose.EdDSA, otherKey.Private, map[string]any{"kid": set.Active, "typ": MediaType}, payload), set.JWKS(), false, nil},
		{"wrong typ", signRaw(t, jose.EdDSA, mustActive(t, set), map[string]any{"kid": set.Active, "typ": "JWT"}, payload), set.JWKS(), false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, ok := verify(tc.token, tc.jwks)
			if ok != tc.accept {
				t.Fatalf("jose accepted = %v, want %v (output %q)", ok, tc.accept, out)
			}
			if !tc.accept {
				return
			}
			var got, want any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("verify.mjs printed %q: %v", out, err)
			}
			raw, _ := json.Marshal(tc.want)
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(want)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("payload printed by jose =\n%s\nwant\n%s", gotJSON, wantJSON)
			}
		})
	}
}

func mustKey(t *testing.T, s keys.Set) keys.Key {
	t.Helper()
	k, err := s.ActiveKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustActive(t *testing.T, s keys.Set) ed25519.PrivateKey {
	t.Helper()
	k, err := s.ActiveKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.Private
}
