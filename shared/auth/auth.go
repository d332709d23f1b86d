// Package auth identifies the caller of the HTTP API and checks its roles.
package auth

import (
	"net/http"
	"slices"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Role is what a principal may do.
type Role string

// Roles. An admin may do everything an issuer and an approver may, plus manage the
// suppression list.
const (
	RoleIssuer   Role = "issuer"   // defines credential types, uploads, creates and amends batches
	RoleApprover Role = "approver" // approves, rejects or sends back batches
	RoleAdmin    Role = "admin"
)

// Principal is an authenticated caller.
type Principal struct {
	Subject string `json:"subject"`
	Email   string `json:"email,omitempty"`
	Roles   []Role `json:"roles"`
}

// Name is how the principal is recorded on batches (uploader, approver): the email when
// known, else the subject.
func (p Principal) Name() string {
	if p.Email != "" {
		return p.Email
	}
	return p.Subject
}

// Has reports whether the principal holds one of the roles; an admin holds every role.
func (p Principal) Has(roles ...Role) bool {
	if slices.Contains(p.Roles, RoleAdmin) {
		return true
	}
	for _, r := range roles {
		if slices.Contains(p.Roles, r) {
			return true
		}
	}
	return false
}

// Require returns nil when the principal holds one of the roles (or is an admin), else a
// KindForbidden error naming them.
func (p Principal) Require(roles ...Role) error {
	if p.Has(roles...) {
		return nil
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	if len(names) == 0 {
		names = []string{string(RoleAdmin)}
	}
	return credbatch.E(credbatch.KindForbidden, "forbidden",
		"this needs the "+strings.Join(names, " or ")+" role; ask an administrator to grant it")
}

// Authenticator identifies the caller of a request. Errors: KindUnauthorized when the
// request carries no credentials or bad ones; KindUnavailable when the identity source
// cannot be read.
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// ParseRoles reads roles from a claim value: a JSON array string (`["issuer","admin"]`), or
// names separated by spaces or commas. Unknown names are kept (they grant nothing).
func ParseRoles(v string) []Role {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "[")
	v = strings.TrimSuffix(v, "]")
	var out []Role
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		f = strings.Trim(f, `"'`)
		if f == "" {
			continue
		}
		r := Role(strings.ToLower(f))
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func unauthorized(msg string) error {
	return credbatch.E(credbatch.KindUnauthorized, "unauthorized", msg)
}
