package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// provider is a minimal OpenID provider: discovery, JWKS, and a signer for tokens.
type provider struct {
	srv  *httptest.Server
	key  *ecdsa.PrivateKey
	kid  string
	hits int
}

func newProvider(t *testing.T) *provider {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{key: key, kid: "k1"}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.hits++
		json.NewEncoder(w).Encode(map[string]string{"issuer": p.srv.URL, "jwks_uri": p.srv.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: p.kid, Algorithm: "ES256", Use: "sig"}}})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// token signs claims with the provider's key (or another key).
func (p *provider) token(t *testing.T, key *ecdsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", p.kid).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOIDC(t *testing.T) {
	p := newProvider(t)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	o := &OIDC{Issuer: p.srv.URL, Audience: "client-1", RolesClaim: "cognito:groups", Now: func() time.Time { return now }}
	valid := map[string]any{"iss": p.srv.URL, "sub": "u1", "email": "ann@example.com", "client_id": "client-1",
		"exp": now.Add(time.Hour).Unix(), "cognito:groups": []string{"approver"}}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for key, val := range valid {
			c[key] = val
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name     string
		header   string
		wantKind credbatch.Kind
		wantRole Role
	}{
		{"valid Cognito access token", "Bearer " + p.token(t, p.key, valid), "", RoleApprover},
		{"no audience", "Bearer " + p.token(t, p.key, with("client_id", nil)), credbatch.KindUnauthorized, ""},
		{"aud claim", "Bearer " + p.token(t, p.key, with("aud", "client-1")), "", RoleApprover},
		{"expired", "Bearer " + p.token(t, p.key, with("exp", now.Add(-time.Hour).Unix())), credbatch.KindUnauthorized, ""},
		{"other issuer", "Bearer " + p.token(t, p.key, with("iss", "https://evil.example")), credbatch.KindUnauthorized, ""},
		{"other application", "Bearer " + p.token(t, p.key, with("client_id", "client-2")), credbatch.KindUnauthorized, ""},
		{"signed by another key", "Bearer " + p.token(t, other, valid), credbatch.KindUnauthorized, ""},
		{"not a JWT", "Bearer nonsense", credbatch.KindUnauthorized, ""},
		{"no header", "", credbatch.KindUnauthorized, ""},
		{"no subject", "Bearer " + p.token(t, p.key, with("sub", nil)), credbatch.KindUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/review/b1", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			got, err := o.Authenticate(r)
			if tt.wantKind != "" {
				if credbatch.ErrorKind(err) != tt.wantKind {
					t.Fatalf("err = %v, want kind %s", err, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != "u1" || got.Email != "ann@example.com" || !got.Has(tt.wantRole) {
				t.Errorf("principal = %+v", got)
			}
		})
	}
	if p.hits != 1 {
		t.Errorf("discovery fetched %d times, want once (keys cached)", p.hits)
	}
}

func TestOIDCProviderDown(t *testing.T) {
	p := newProvider(t)
	tok := p.token(t, p.key, map[string]any{"iss": p.srv.URL, "sub": "u1", "exp": time.Now().Add(time.Hour).Unix()})
	p.srv.Close()
	o := &OIDC{Issuer: p.srv.URL}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	if _, err := o.Authenticate(r); credbatch.ErrorKind(err) != credbatch.KindUnavailable {
		t.Errorf("err = %v, want unavailable", err)
	}
}
