package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
)

// tools are the independent verifiers of infra/testenv: node with the Digital Bazaar
// libraries (jsverify) and the venv's Python with jwcrypto and jsonschema (pyverify).
type tools struct {
	node, python, jsDir, pyDir string
}

// verifierTools finds the verifiers; it skips when they are not installed (run `make setup`)
// and fails under CI=true.
func verifierTools(t *testing.T) tools {
	t.Helper()
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	tl := tools{jsDir: filepath.Join(root, "infra", "testenv", "jsverify"), pyDir: filepath.Join(root, "infra", "testenv", "pyverify"),
		python: filepath.Join(root, ".venv", "bin", "python")}
	missing := func(what string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing; CI must run the independent verifiers (make setup)", what)
		}
		t.Skipf("%s is missing; run `make setup` to enable the independent verifiers", what)
	}
	if tl.node, err = exec.LookPath("node"); err != nil {
		missing("node")
	}
	for _, p := range []string{"@digitalbazaar/vc", "@digitalbazaar/eddsa-rdfc-2022-cryptosuite", "@digitalbazaar/vc-bitstring-status-list", "@digitalcredentials/verifier-core"} {
		if _, err := os.Stat(filepath.Join(tl.jsDir, "node_modules", p, "package.json")); err != nil {
			missing("infra/testenv/jsverify/node_modules/" + p)
		}
	}
	if out, err := exec.Command(tl.python, "-c", "import jwcrypto, jsonschema, rfc3339_validator").CombinedOutput(); err != nil {
		missing(".venv with jwcrypto, jsonschema and rfc3339-validator (" + strings.TrimSpace(string(out)) + ")")
	}
	return tl
}

// run runs a verifier with stdin and returns its JSON output and whether it accepted (exit 0).
func (tl tools) run(t *testing.T, stdin string, name string, args ...string) (map[string]any, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("%s %v: %v\n%s%s", name, args, err, stdout.String(), stderr.String())
	}
	var out map[string]any
	if jerr := json.Unmarshal(stdout.Bytes(), &out); jerr != nil {
		t.Fatalf("%s %v printed %q (%s): %v", name, args, stdout.String(), stderr.String(), jerr)
	}
	return out, err == nil
}

func (tl tools) dataIntegrity(t *testing.T, doc string) (map[string]any, bool) {
	t.Helper()
	return tl.run(t, doc, tl.node, filepath.Join(tl.jsDir, "verify-di.mjs"), "--http")
}

// dcc runs the DCC's verifier-core offline on doc: the DID document and the status list
// credential are the ones given (read from the server by the test), never fetched.
func (tl tools) dcc(t *testing.T, doc, didDoc, statusList string) (map[string]any, bool) {
	t.Helper()
	dir := t.TempDir()
	did, list := filepath.Join(dir, "did.json"), filepath.Join(dir, "status.json")
	if err := os.WriteFile(did, []byte(didDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(list, []byte(statusList), 0o600); err != nil {
		t.Fatal(err)
	}
	out, ok := tl.run(t, doc, tl.node, filepath.Join(tl.jsDir, "verify-dcc.mjs"), "--did", did, "--status-list", list)
	if refused, _ := out["refused"].([]any); len(refused) > 0 {
		t.Errorf("verifier-core tried to fetch %v; it must run offline", refused)
	}
	return out, ok
}

func (tl tools) jwt(t *testing.T, token string) (map[string]any, bool) {
	t.Helper()
	return tl.run(t, token, tl.python, filepath.Join(tl.pyDir, "pyverify.py"), "jwt", "--http")
}

func (tl tools) schema(t *testing.T, doc string) (map[string]any, bool) {
	t.Helper()
	return tl.run(t, doc, tl.python, filepath.Join(tl.pyDir, "pyverify.py"), "schema")
}

func get(t *testing.T, url, accept string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", url, resp.StatusCode, body)
	}
	return string(body)
}

func editJSON(t *testing.T, doc string, edit func(map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ := json.Marshal(m)
	return string(b)
}

// TestIndependentVerifiers issues credentials through the real flow (the local stack and
// its engine running the ASL) and checks every one, and the status list before and after a
// revocation, with verifiers nobody here wrote: @digitalbazaar/vc with
// @digitalbazaar/data-integrity and eddsa-rdfc-2022 (the embedded proof, the did:web
// resolved from the server, the Bitstring Status List), jwcrypto (the OB 3.0 VC-JWT, its key
// dereferenced from kid through the DID document), the DCC's verifier-core (offline: the DID
// document and status list given from the issued data) and the official OB 3.0 JSON Schema.
func TestIndependentVerifiers(t *testing.T) {
	tl := verifierTools(t)
	raw, err := os.ReadFile(filepath.Join(tl.pyDir, "ob_v3p0_achievementcredential_schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != "859e405b592d93c3261fe899362f4128801140d4d20c01502a066b3540483d95" {
		t.Fatalf("the OB 3.0 schema copy is not the official one (sha256 %x)", sum)
	}
	s := startServer(t)
	ctx := context.Background()
	b := s.awaitingBatch(t)
	if _, err := s.st.Actions.Approve(ctx, b.ID, "approver@example.com"); err != nil {
		t.Fatal(err)
	}
	b = s.waitBatch(t, b.ID, "completion", func(b credbatch.Batch) bool { return b.Status.Terminal() })
	creds, err := s.st.Store.ListCredentialsByBatch(ctx, b.ID, "", 10)
	if err != nil || len(creds.Items) != 4 {
		t.Fatalf("credentials = %d, %v (batch %s %+v)", len(creds.Items), err, b.Status, b.Counts)
	}

	didDoc := get(t, s.url+"/.well-known/did.json", "")
	// The list served is the one signed and stored where the revocation happened (the
	// public routes sign nothing), in both forms.
	statusList := func(t *testing.T, want string) string {
		t.Helper()
		stored, err := s.st.Store.GetStatusList(ctx, 1)
		if err != nil {
			t.Fatalf("%s: stored status list: %v", want, err)
		}
		list := get(t, s.url+"/status/1", "application/vc+ld+json")
		if list != stored.JSONLD {
			t.Errorf("%s: the status list served is not the stored, signed one:\n%.200s\nstored\n%.200s", want, list, stored.JSONLD)
		}
		if out, ok := tl.dataIntegrity(t, list); !ok {
			t.Errorf("%s: the status list credential's proof does not verify: %v", want, out)
		}
		if out, ok := tl.dcc(t, list, didDoc, list); !ok || out["signature"] != true || out["expired"] != false {
			t.Errorf("%s: verifier-core on the status list credential: %v", want, out)
		}
		token := get(t, s.url+"/status/1", "application/vc+jwt")
		if token != stored.JWT {
			t.Errorf("%s: the status list VC-JWT served is not the stored one", want)
		}
		if out, ok := tl.jwt(t, token); !ok {
			t.Errorf("%s: the status list VC-JWT does not verify: %v", want, out)
		}
		return list
	}
	list := statusList(t, "before the revocation")

	for _, c := range creds.Items {
		doc := get(t, s.url+"/credentials/"+c.ID+"/json", "")
		if out, ok := tl.dataIntegrity(t, doc); !ok || out["revoked"] != false {
			t.Errorf("%s: Data Integrity = %v, accepted %v; want verified, not revoked", c.ID, out, ok)
		}
		if out, ok := tl.dcc(t, doc, didDoc, list); !ok || out["signature"] != true || out["expired"] != false ||
			out["revoked"] != false || out["schema"] != true {
			t.Errorf("%s: verifier-core = %v, accepted %v; want signature valid, not expired, not revoked, schema valid", c.ID, out, ok)
		}
		if out, ok := tl.schema(t, doc); !ok {
			t.Errorf("%s: OB 3.0 schema: %v", c.ID, out)
		}
		token := get(t, s.url+"/credentials/"+c.ID+"/jwt", "")
		// The VC-JWT served is the one the chunk worker signed, byte for byte: its stored
		// header and signature around the payload rebuilt from the stored document.
		if signed, err := credential.AttachJWT([]byte(c.JWT), c.JWTDetached); err != nil || token != signed {
			t.Errorf("%s: the VC-JWT served is not the one signed at issuance (%v):\n%.120s\n%.120s", c.ID, err, token, signed)
		}
		if out, ok := tl.jwt(t, token); !ok {
			t.Errorf("%s: VC-JWT: %v", c.ID, out)
		}
		if out, ok := tl.schema(t, string(jwtPayload(t, token))); !ok {
			t.Errorf("%s: OB 3.0 schema on the JWT payload: %v", c.ID, out)
		}
	}

	// Tampering is caught by each verifier.
	c := creds.Items[0]
	doc := get(t, s.url+"/credentials/"+c.ID+"/json", "")
	tampered := editJSON(t, doc, func(m map[string]any) { m["name"] = "Brain Surgeon Licence" })
	if out, ok := tl.dataIntegrity(t, tampered); ok {
		t.Errorf("a tampered credential verifies: %v", out)
	}
	if out, ok := tl.dcc(t, tampered, didDoc, list); ok || out["signature"] != false {
		t.Errorf("verifier-core accepts a tampered credential: %v", out)
	}
	tamperedList := editJSON(t, list, func(m map[string]any) { m["validFrom"] = "2020-01-01T00:00:00Z" })
	if out, ok := tl.dcc(t, tamperedList, didDoc, list); ok {
		t.Errorf("verifier-core accepts a tampered status list credential: %v", out)
	}
	if out, _ := tl.dcc(t, doc, didDoc, tamperedList); out["revoked"] != nil {
		t.Errorf("verifier-core reads the status from a tampered status list: %v; want the revocation step in error", out)
	}
	token := get(t, s.url+"/credentials/"+c.ID+"/jwt", "")
	parts := strings.Split(token, ".")
	parts[1] = b64(editJSON(t, string(jwtPayload(t, token)), func(m map[string]any) { m["name"] = "Brain Surgeon Licence" }))
	if out, ok := tl.jwt(t, strings.Join(parts, ".")); ok {
		t.Errorf("a tampered VC-JWT verifies: %v", out)
	}
	if out, ok := tl.schema(t, editJSON(t, doc, func(m map[string]any) { m["validFrom"] = "yesterday" })); ok {
		t.Errorf("the schema accepts validFrom \"yesterday\": %v", out)
	}

	// Revoke one through the API; the verifier reads it from the status list.
	req, _ := http.NewRequest(http.MethodPost, s.url+"/api/credentials/"+c.ID+"/revoke", strings.NewReader(`{"reason":"issued in error"}`))
	req.Header.Set("Authorization", "Bearer "+issuerToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke = %d", resp.StatusCode)
	}
	list = statusList(t, "after the revocation")
	if out, ok := tl.dataIntegrity(t, doc); !ok || out["revoked"] != true {
		t.Errorf("revoked credential: %v, accepted %v; want its proof verified and revoked", out, ok)
	}
	if out, ok := tl.dcc(t, doc, didDoc, list); !ok || out["signature"] != true || out["revoked"] != true {
		t.Errorf("verifier-core on the revoked credential: %v, accepted %v; want its signature valid and revoked", out, ok)
	}
	if out, ok := tl.dcc(t, get(t, s.url+"/credentials/"+creds.Items[1].ID+"/json", ""), didDoc, list); !ok || out["revoked"] != false {
		t.Errorf("verifier-core on another credential after the revocation: %v; want not revoked", out)
	}
	if out, ok := tl.dataIntegrity(t, get(t, s.url+"/credentials/"+creds.Items[1].ID+"/json", "")); !ok || out["revoked"] != false {
		t.Errorf("another credential after the revocation: %v; want verified, not revoked", out)
	}
}

func jwtPayload(t *testing.T, token string) []byte {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %.40s", token)
	}
	raw, err := decodeB64(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeB64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
