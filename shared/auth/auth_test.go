package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
)

func TestParseRoles(t *testing.T) {
	tests := []struct {
		in   string
		want []auth.Role
	}{
		{`["issuer","admin"]`, []auth.Role{"issuer", "admin"}},
		{"[issuer approver]", []auth.Role{"issuer", "approver"}},
		{"issuer, Approver", []auth.Role{"issuer", "approver"}},
		{"admin admin", []auth.Role{"admin"}},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := auth.ParseRoles(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseRoles(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestPrincipalRequire(t *testing.T) {
	tests := []struct {
		name  string
		roles []auth.Role
		need  []auth.Role
		want  credbatch.Kind
	}{
		{"issuer as issuer", []auth.Role{auth.RoleIssuer}, []auth.Role{auth.RoleIssuer}, ""},
		{"issuer as approver", []auth.Role{auth.RoleIssuer}, []auth.Role{auth.RoleApprover}, credbatch.KindForbidden},
		{"admin as approver", []auth.Role{auth.RoleAdmin}, []auth.Role{auth.RoleApprover}, ""},
		{"approver needs admin", []auth.Role{auth.RoleApprover}, nil, credbatch.KindForbidden},
		{"one of two", []auth.Role{auth.RoleApprover}, []auth.Role{auth.RoleIssuer, auth.RoleApprover}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := auth.Principal{Subject: "x", Roles: tt.roles}.Require(tt.need...)
			var got credbatch.Kind
			if err != nil {
				got = credbatch.ErrorKind(err)
			}
			if got != tt.want {
				t.Errorf("Require = %v (kind %q), want kind %q", err, got, tt.want)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "tokens.json")
	_, created, err := auth.LoadTokens(path)
	if err != nil || !created {
		t.Fatalf("LoadTokens first run = %v, created %v", err, created)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("tokens file mode = %v, want 0600", info.Mode().Perm())
	}
	again, created, err := auth.LoadTokens(path)
	if err != nil || created {
		t.Fatalf("LoadTokens second run = %v, created %v", err, created)
	}
	file, err := auth.GenerateTokens()
	if err != nil {
		t.Fatal(err)
	}
	if len(file.Tokens) != 3 {
		t.Fatalf("GenerateTokens made %d tokens, want 3", len(file.Tokens))
	}
	tk, err := auth.NewTokens(file.Tokens)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		header   string
		wantSub  string
		wantKind credbatch.Kind
	}{
		{"issuer", "Bearer " + file.Tokens[0].Token, "issuer", ""},
		{"admin lower-case scheme", "bearer " + file.Tokens[2].Token, "admin", ""},
		{"no header", "", "", credbatch.KindUnauthorized},
		{"wrong scheme", "Basic " + file.Tokens[0].Token, "", credbatch.KindUnauthorized},
		{"unknown token", "Bearer " + file.Tokens[0].Token + "x", "", credbatch.KindUnauthorized},
		{"empty token", "Bearer ", "", credbatch.KindUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/batches", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			p, err := tk.Authenticate(r)
			if tt.wantKind != "" {
				if credbatch.ErrorKind(err) != tt.wantKind {
					t.Fatalf("Authenticate = %v, want kind %s", err, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Subject != tt.wantSub {
				t.Errorf("subject = %q, want %q", p.Subject, tt.wantSub)
			}
		})
	}
	// A token from another file is refused by the one written on first run.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+file.Tokens[0].Token)
	if _, err := again.Authenticate(r); credbatch.ErrorKind(err) != credbatch.KindUnauthorized {
		t.Errorf("foreign token: %v, want unauthorized", err)
	}
}

func TestNewTokensRefusesBadLists(t *testing.T) {
	tests := []struct {
		name string
		list []auth.Token
	}{
		{"short", []auth.Token{{Token: "abc", Subject: "a"}}},
		{"no subject", []auth.Token{{Token: "0123456789abcdef0123"}}},
		{"repeated", []auth.Token{{Token: "0123456789abcdef0123", Subject: "a"}, {Token: "0123456789abcdef0123", Subject: "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := auth.NewTokens(tt.list); credbatch.ErrorKind(err) != credbatch.KindInvalid {
				t.Errorf("NewTokens = %v, want invalid", err)
			}
		})
	}
}

func TestAPIGateway(t *testing.T) {
	withClaims := func(claims map[string]string) *http.Request {
		t.Helper()
		rc := events.APIGatewayV2HTTPRequestContext{}
		if claims != nil {
			rc.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims}}
		}
		ra := core.RequestAccessorV2{}
		req, err := ra.EventToRequestWithContext(context.Background(), events.APIGatewayV2HTTPRequest{
			RawPath: "/api/batches", RequestContext: withMethod(rc)})
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	tests := []struct {
		name     string
		claim    string
		claims   map[string]string
		want     auth.Principal
		wantKind credbatch.Kind
	}{
		{"cognito groups", "cognito:groups", map[string]string{"sub": "u1", "email": "a@x.org", "cognito:groups": "[issuer approver]"},
			auth.Principal{Subject: "u1", Email: "a@x.org", Roles: []auth.Role{"issuer", "approver"}}, ""},
		{"default roles claim", "", map[string]string{"sub": "u2", "roles": `["admin"]`},
			auth.Principal{Subject: "u2", Roles: []auth.Role{"admin"}}, ""},
		{"no authorizer", "", nil, auth.Principal{}, credbatch.KindUnauthorized},
		{"no subject", "", map[string]string{"roles": "admin"}, auth.Principal{}, credbatch.KindUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.APIGateway{RolesClaim: tt.claim}.Authenticate(withClaims(tt.claims))
			if tt.wantKind != "" {
				if credbatch.ErrorKind(err) != tt.wantKind {
					t.Fatalf("Authenticate = %v, want kind %s", err, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func withMethod(rc events.APIGatewayV2HTTPRequestContext) events.APIGatewayV2HTTPRequestContext {
	rc.HTTP.Method = http.MethodGet
	rc.HTTP.Path = "/api/batches"
	return rc
}
