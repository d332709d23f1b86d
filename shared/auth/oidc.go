package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// OIDC verifies bearer JWTs itself, against the keys its OpenID provider publishes
// (discovery document → jwks_uri): for routes that API Gateway's authorizer does not cover,
// such as the review pages, whose browsers send the token in a cookie.
type OIDC struct {
	Issuer     string // the iss of valid tokens, e.g. https://cognito-idp.<region>.amazonaws.com/<pool-id>
	Audience   string // the client id: matched against aud, or client_id (Cognito access tokens)
	RolesClaim string // the claim with the roles (default "roles")
	HTTP       *http.Client
	Now        func() time.Time
	TTL        time.Duration // how long fetched keys are kept (default 1 hour)

	mu      sync.Mutex
	keys    jose.JSONWebKeySet
	fetched time.Time
}

var _ Authenticator = (*OIDC)(nil)

// algorithms accepted in tokens (never "none", never HMAC).
var algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.EdDSA}

// Authenticate implements Authenticator: KindUnauthorized for a missing, malformed, unsigned,
// expired or foreign token; KindUnavailable when the provider's keys cannot be fetched.
func (o *OIDC) Authenticate(r *http.Request) (Principal, error) {
	raw, err := bearer(r)
	if err != nil {
		return Principal{}, err
	}
	tok, err := jwt.ParseSigned(raw, algorithms)
	if err != nil || len(tok.Headers) != 1 {
		return Principal{}, unauthorized("the bearer token is not a signed JWT")
	}
	key, err := o.key(r.Context(), tok.Headers[0].KeyID)
	if err != nil {
		return Principal{}, err
	}
	var std jwt.Claims
	var extra map[string]any
	if err := tok.Claims(key, &std, &extra); err != nil {
		return Principal{}, unauthorized("the bearer token's signature does not verify")
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: o.Issuer, Time: now()}, time.Minute); err != nil {
		return Principal{}, unauthorized("the bearer token is not valid here: " + err.Error())
	}
	if o.Audience != "" && !std.Audience.Contains(o.Audience) && extra["client_id"] != o.Audience {
		return Principal{}, unauthorized("the bearer token was issued for another application")
	}
	if std.Subject == "" {
		return Principal{}, unauthorized("the token has no subject (sub) claim")
	}
	claim := o.RolesClaim
	if claim == "" {
		claim = "roles"
	}
	email, _ := extra["email"].(string)
	return Principal{Subject: std.Subject, Email: email, Roles: rolesOf(extra[claim])}, nil
}

// rolesOf reads a roles claim that is a JSON array or a string.
func rolesOf(v any) []Role {
	switch v := v.(type) {
	case string:
		return ParseRoles(v)
	case []any:
		var names []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				names = append(names, s)
			}
		}
		return ParseRoles(strings.Join(names, " "))
	}
	return nil
}

// key returns the provider's key with the id, fetching the key set when it is stale or does
// not know the id (the provider rotated its keys).
func (o *OIDC) key(ctx context.Context, kid string) (any, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ttl := o.TTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	fresh := time.Since(o.fetched) < ttl
	if k := o.keys.Key(kid); len(k) > 0 && fresh {
		return k[0].Key, nil
	}
	if err := o.fetch(ctx); err != nil {
		return nil, err
	}
	if k := o.keys.Key(kid); len(k) > 0 {
		return k[0].Key, nil
	}
	return nil, unauthorized(fmt.Sprintf("the bearer token's key %q is not published by %s", kid, o.Issuer))
}

// fetch reads the discovery document and then the key set. The caller holds mu.
func (o *OIDC) fetch(ctx context.Context) error {
	var disc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := o.getJSON(ctx, strings.TrimRight(o.Issuer, "/")+"/.well-known/openid-configuration", &disc); err != nil {
		return err
	}
	if disc.JWKSURI == "" {
		return credbatch.Errorf(credbatch.KindUnavailable, "the OpenID provider %s publishes no jwks_uri", o.Issuer)
	}
	var set jose.JSONWebKeySet
	if err := o.getJSON(ctx, disc.JWKSURI, &set); err != nil {
		return err
	}
	o.keys, o.fetched = set, time.Now()
	return nil
}

func (o *OIDC) getJSON(ctx context.Context, url string, v any) error {
	client := o.HTTP
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return &credbatch.Error{Kind: credbatch.KindUnavailable, Code: "auth_unavailable", Message: "the sign-in provider cannot be reached", Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return credbatch.Errorf(credbatch.KindUnavailable, "the sign-in provider answered %s for %s", resp.Status, url)
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(v); err != nil {
		return credbatch.Errorf(credbatch.KindUnavailable, "the sign-in provider sent unreadable JSON for %s", url)
	}
	return nil
}
