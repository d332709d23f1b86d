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

	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/keys"
)

// TestPublicOnly: the API the public function serves (PublicOnly, with the published public
// keys only and no Signer) answers every public route that signs nothing exactly as the full
// API does, verifies credentials in both forms, and serves no other route: not the VC-JWT
// (it signs), not /api, not the review pages.
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
		if rt.Public && !rt.Signs {
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
