package auth

import (
	"net/http"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"
)

// APIGateway reads the caller from the claims that API Gateway's JWT authorizer validated
// (HTTP API, payload 2.0, through httpadapter.NewV2). It checks no signature itself: the
// route must have the authorizer attached.
type APIGateway struct {
	// RolesClaim names the claim holding the roles ("cognito:groups", "roles", ...); its value
	// may be a JSON array string or names separated by spaces or commas. Default "roles".
	RolesClaim string
}

var _ Authenticator = APIGateway{}

// Authenticate implements Authenticator. KindUnauthorized when the request has no JWT
// authorizer context or no subject.
func (a APIGateway) Authenticate(r *http.Request) (Principal, error) {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.JWT == nil {
		return Principal{}, unauthorized("the request was not authenticated by the API Gateway JWT authorizer; send a bearer token")
	}
	claims := rc.Authorizer.JWT.Claims
	sub := claims["sub"]
	if sub == "" {
		return Principal{}, unauthorized("the token has no subject (sub) claim")
	}
	claim := a.RolesClaim
	if claim == "" {
		claim = "roles"
	}
	email := claims["email"]
	return Principal{Subject: sub, Email: email, Roles: ParseRoles(claims[claim])}, nil
}
