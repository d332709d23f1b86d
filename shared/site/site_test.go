package site_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/dirblob"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/pages"
	"github.com/credbatch/credbatch/shared/site"
	"github.com/credbatch/credbatch/shared/sqlite"
	"github.com/credbatch/credbatch/shared/unsubscribe"
)

// TestPublicHandler: the handler the public function serves (Public, the published public
// keys only, no Signer, Workflow or Mailer) has the credential pages and the public routes
// (the VC-JWT as signed at issuance among them), and none of the console, sign-in, review,
// unsubscribe or /api routes.
func TestPublicHandler(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/credbatch.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blob, err := dirblob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	full, err := keys.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := keys.ParseJWKS(full.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	tf, err := auth.GenerateTokens()
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.NewTokens(tf.Tokens)
	if err != nil {
		t.Fatal(err)
	}
	h := site.New(site.Deps{Public: true, Store: st, Blob: blob, Keys: pub, Issuer: credential.Issuer{BaseURL: "https://creds.example.org"},
		DID: "did:web:creds.example.org", PageAuth: authn, TmpDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	get := func(method, path string) *httptest.ResponseRecorder {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
		return w
	}
	unrouted := func(w *httptest.ResponseRecorder) bool {
		return w.Code == http.StatusNotFound && w.Body.String() == "404 page not found\n" // ServeMux: no pattern matched
	}
	// Mounted: an unknown credential is the pages' own 404 page, not the mux's.
	for _, path := range []string{"/credentials/nope", "/credentials/nope/pdf", "/credentials/nope/badge.png", "/credentials/nope/evidence/1"} {
		if w := get("GET", path); unrouted(w) || !strings.Contains(w.Header().Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %d %q, want the credential pages' answer", path, w.Code, w.Header().Get("Content-Type"))
		}
	}
	if w := get("GET", "/.well-known/jwks.json"); w.Code != 200 || w.Body.String() != string(full.JWKS()) {
		t.Errorf("JWKS: %d %s, want the set's", w.Code, w.Body)
	}
	if w := get("GET", "/.well-known/did.json"); w.Code != 200 || w.Body.String() != string(full.DIDDocument("did:web:creds.example.org")) {
		t.Errorf("DID document: %d %s, want the set's", w.Code, w.Body)
	}
	// The VC-JWT signed at issuance (as the chunk worker does), served without the signer.
	signer, err := credential.NewSigner(full, "did:web:creds.example.org")
	if err != nil {
		t.Fatal(err)
	}
	c := credbatch.Credential{ID: "c1", BatchID: "b1", RowNumber: 2, DefinitionID: "d1", DefinitionVer: 1, Email: "ada@example.org",
		Name: "Ada Lovelace", IssueDate: "2026-05-01", Status: credbatch.CredentialIssued, EmailStatus: credbatch.EmailSent}
	doc, err := credential.Build(credential.Issuer{BaseURL: "https://creds.example.org", Name: "Example"},
		credbatch.Definition{ID: "d1", Version: 1, Name: "Course", Description: "A course.", Criteria: "Passed."}, c)
	if err != nil {
		t.Fatal(err)
	}
	secured, err := signer.Secure(doc, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	c.JWT = string(secured)
	if c.JWTDetached, err = signer.SignStored(secured); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	w := get("GET", "/credentials/c1/jwt")
	if res, err := credential.NewVerifier(pub, nil).Verify(ctx, w.Body.String(), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)); w.Code != 200 || err != nil || !res.Valid {
		t.Errorf("GET /credentials/c1/jwt: %d %.60s (%+v, %v), want the VC-JWT signed at issuance", w.Code, w.Body, res, err)
	}
	notServed := []string{"GET " + pages.LoginPath, "POST " + pages.LoginPath, "GET /review/b1", "GET /api/definitions",
		"GET " + strings.Replace(unsubscribe.Pattern, "{token}", "t1", 1)}
	for _, p := range pages.ConsolePatterns { // "GET /{$}" is the home page "/"; a prefix gets a segment
		path := strings.TrimPrefix(strings.ReplaceAll(p, "{$}", ""), "GET ")
		if strings.HasSuffix(path, "/") && path != "/" {
			path += "x1"
		}
		notServed = append(notServed, "GET "+path)
	}
	for _, rt := range notServed {
		method, path, _ := strings.Cut(rt, " ")
		if w := get(method, path); !unrouted(w) {
			t.Errorf("%s %s: %d, want no such route on the public handler", method, path, w.Code)
		}
	}
}
