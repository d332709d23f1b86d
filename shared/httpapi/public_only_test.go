package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/keys"
)

// TestPublicOnly: the API the public function serves (PublicOnly, with the published public
// keys only and no Signer) answers every public route exactly as the full API does (the
// VC-JWT too: it was signed at issuance), verifies credentials in both forms, and serves no
// other route: not /api, not the review pages.
func TestPublicOnly(t *testing.T) {
	e := newEnv(t)
	b := e.setup(false, 1, 0)
	c := e.issue(b.ID, 2)
	es256 := e.call("GET", "/credentials/"+c.ID+"/jwt", "", nil).Body.String()
	pub, err := keys.ParseJWKS(e.keys.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	public := httpapi.New(httpapi.Deps{Store: e.store, Keys: pub, Issuer: e.issuer, DID: "did:web:creds.example.org",
		Clock: func() time.Time { return e.now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), PublicOnly: true})
	call := func(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	unrouted := func(w *httptest.ResponseRecorder) bool {
		return w.Code == http.StatusNotFound && w.Body.String() == "404 page not found\n" // ServeMux: no pattern matched
	}

	for _, rt := range httpapi.PublicRoutes() {
		path := strings.NewReplacer("{id}", c.ID, "{n}", "1").Replace(rt.Path)
		body := ""
		if rt.Method == "POST" {
			body = `{"jwt":"` + es256 + `"}`
		}
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			got, want := call(public, rt.Method, path, body), call(e.api, rt.Method, path, body)
			if unrouted(got) {
				t.Fatalf("not served by the public API")
			}
			if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
				t.Errorf("public API: %d %s\nfull API:   %d %s", got.Code, got.Body, want.Code, want.Body)
			}
		})
	}
	for _, body := range []string{`{"jwt":"` + es256 + `"}`, `{"credential":` + c.JWT + `}`} {
		var v struct {
			Valid bool   `json:"valid"`
			KeyID string `json:"kid"`
		}
		w := call(public, "POST", "/verify", body)
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || w.Code != 200 || !v.Valid {
			t.Errorf("POST /verify %.40s...: %d %s, want valid", body, w.Code, w.Body)
		}
	}
	for _, rt := range httpapi.Routes() {
		if rt.Public {
			continue
		}
		path := strings.NewReplacer("{id}", c.ID, "{n}", "1", "{row}", "2", "{email}", "a@example.org").Replace(rt.Path)
		if w := call(public, rt.Method, path, ""); !unrouted(w) {
			t.Errorf("%s %s: %d %s, want no such route on the public API", rt.Method, rt.Path, w.Code, w.Body)
		}
	}
	if w := call(public, "GET", "/review/"+b.ID, ""); !unrouted(w) {
		t.Errorf("GET /review/{id}: %d, want no such route on the public API", w.Code)
	}
}

// TestCredentialJWTStored: GET /credentials/{id}/jwt on the public API (no Signer) serves the
// VC-JWT signed at issuance: the stored header and signature around the payload rebuilt from
// the stored document, byte for byte the same on every call, verifying with the published
// keys. A credential issued before the VC-JWT was stored gets 404 jwt_not_stored naming its
// /json form; a legacy JWS is served as issued.
func TestCredentialJWTStored(t *testing.T) {
	e := newEnv(t)
	b := e.setup(false, 3, 0)
	c := e.issue(b.ID, 2)
	pub, err := keys.ParseJWKS(e.keys.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	public := httpapi.New(httpapi.Deps{Store: e.store, Keys: pub, Issuer: e.issuer, DID: "did:web:creds.example.org",
		Clock: func() time.Time { return e.now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), PublicOnly: true})
	get := func(id string) *httptest.ResponseRecorder {
		t.Helper()
		w := httptest.NewRecorder()
		public.ServeHTTP(w, httptest.NewRequest("GET", "/credentials/"+id+"/jwt", nil))
		return w
	}

	want, err := credential.AttachJWT([]byte(c.JWT), c.JWTDetached)
	if err != nil {
		t.Fatal(err)
	}
	w := get(c.ID)
	if w.Code != 200 || w.Header().Get("Content-Type") != httpapi.ContentTypeVCJWT || w.Body.String() != want {
		t.Fatalf("GET jwt: %d %s %q\nwant 200 %q", w.Code, w.Header().Get("Content-Type"), w.Body, want)
	}
	parts := strings.Split(w.Body.String(), ".")
	if len(parts) != 3 || parts[0]+".."+parts[2] != c.JWTDetached {
		t.Errorf("served header and signature %q, stored %q", parts, c.JWTDetached)
	}
	if again := get(c.ID).Body.String(); again != want {
		t.Errorf("second GET differs: %q", again)
	}
	res, err := credential.NewVerifier(pub, nil).Verify(t.Context(), w.Body.String(), e.now)
	if err != nil || !res.Valid || res.Format != credential.FormatJWT {
		t.Errorf("served VC-JWT: %+v, %v; want valid %s", res, err, credential.FormatJWT)
	}

	old := c
	old.ID, old.RowNumber, old.MessageID, old.JWTDetached = "c-before", 3, "", ""
	legacy := c
	legacy.ID, legacy.RowNumber, legacy.MessageID, legacy.JWT, legacy.JWTDetached = "c-legacy", 4, "", "eyJhbGciOiJFZERTQSJ9.e30.c2ln", ""
	for _, cr := range []credbatch.Credential{old, legacy} {
		if err := e.store.CreateCredential(t.Context(), cr); err != nil {
			t.Fatal(err)
		}
	}
	w = get(old.ID)
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 404 || body.Error.Code != "jwt_not_stored" ||
		!strings.Contains(body.Error.Message, "/credentials/c-before/json") {
		t.Errorf("credential without a stored VC-JWT: %d %s; want 404 jwt_not_stored naming its /json", w.Code, w.Body)
	}
	if w = get(legacy.ID); w.Code != 200 || w.Body.String() != legacy.JWT {
		t.Errorf("legacy JWS: %d %s; want it as issued", w.Code, w.Body)
	}
}
