package httpapi_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/httpapi"
)

// TestAPIGatewayV2Events feeds recorded HTTP API (payload 2.0, $default stage) events through
// httpadapter.NewV2, with the roles read from the JWT authorizer's claims: each reaches its
// own route (a REST-API adapter would route everything to "/").
func TestAPIGatewayV2Events(t *testing.T) {
	e := newEnv(t, func(d *httpapi.Deps) { d.Auth = auth.APIGateway{RolesClaim: "cognito:groups"} })
	d := course(false)
	d.Normalize()
	if _, err := e.store.PutDefinition(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	adapter := httpadapter.NewV2(e.api)
	tests := []struct {
		file       string
		wantStatus int
		wantBody   string
		wantType   string
	}{
		{"apigw-v2-get-definition.json", 200, `"id":"course"`, "application/json"},
		{"apigw-v2-post-definition-forbidden.json", 403, `"code":"forbidden"`, "application/json"},
		{"apigw-v2-healthz.json", 200, `"status":"ok"`, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile("testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(data, &ev); err != nil {
				t.Fatal(err)
			}
			resp, err := adapter.ProxyWithContext(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus || !strings.Contains(resp.Body, tt.wantBody) {
				t.Errorf("got %d %s, want %d containing %s", resp.StatusCode, resp.Body, tt.wantStatus, tt.wantBody)
			}
			if got := resp.Headers["Content-Type"]; got != tt.wantType {
				t.Errorf("content type %q, want %q", got, tt.wantType)
			}
		})
	}
	if _, err := e.store.GetDefinition(context.Background(), "badge", 0); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Errorf("the forbidden request stored a definition: %v", err)
	}
}
