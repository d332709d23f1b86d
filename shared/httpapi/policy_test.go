package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// TestPolicyNeedsAdmin: the issuer alone cannot turn approval off (issue 14 item 1). Policy
// fields change only with the admin role, and every change is in the admins' audit trail.
func TestPolicyNeedsAdmin(t *testing.T) {
	e := newEnv(t)
	var v1 credbatch.Definition
	must(t, e.call("POST", "/api/definitions", "issuer", course(true)), http.StatusCreated, &v1)

	weaker := func(f func(*credbatch.Definition)) credbatch.Definition {
		d := v1
		f(&d)
		return d
	}
	tests := []struct {
		name   string
		method string
		path   string
		user   string
		body   credbatch.Definition
		want   int
	}{
		{"issuer turns approval and four eyes off", "PUT", "/api/definitions/course", "issuer",
			weaker(func(d *credbatch.Definition) { d.ApprovalRequired, d.FourEyes = false, false }), http.StatusForbidden},
		{"issuer turns four eyes off", "PUT", "/api/definitions/course", "issuer",
			weaker(func(d *credbatch.Definition) { d.FourEyes = false }), http.StatusForbidden},
		{"issuer allows duplicates", "PUT", "/api/definitions/course", "issuer",
			weaker(func(d *credbatch.Definition) { d.Duplicates = credbatch.DuplicatesAllow }), http.StatusForbidden},
		{"approver turns approval off", "PUT", "/api/definitions/course", "approver",
			weaker(func(d *credbatch.Definition) { d.ApprovalRequired, d.FourEyes = false, false }), http.StatusForbidden},
		{"issuer creates a definition without approval", "POST", "/api/definitions", "issuer",
			credbatch.Definition{ID: "web-102", Name: "Copy without approval"}, http.StatusForbidden},
		{"issuer creates a definition with approval but not four eyes", "POST", "/api/definitions", "issuer",
			credbatch.Definition{ID: "web-103", Name: "Copy", ApprovalRequired: true}, http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.call(tc.method, tc.path, tc.user, tc.body)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body.String())
			}
			if code := errorOf(t, w).Error.Code; tc.want == http.StatusForbidden && code != "policy_needs_admin" && code != "forbidden" {
				t.Errorf("code %q, want policy_needs_admin", code)
			}
		})
	}
	d, err := e.store.GetDefinition(t.Context(), "course", 0)
	if err != nil || d.Version != 1 || !d.ApprovalRequired || !d.FourEyes || d.Duplicates != credbatch.DuplicatesReject {
		t.Fatalf("after the refused changes the definition is %+v (%v); want version 1, unchanged", d, err)
	}
	if _, err := e.store.GetDefinition(t.Context(), "web-102", 0); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Fatalf("the refused definition web-102 was stored (%v)", err)
	}

	// The issuer may still change everything else; that is not a policy change.
	var v2 credbatch.Definition
	must(t, e.call("PUT", "/api/definitions/course", "issuer", weaker(func(d *credbatch.Definition) { d.Description = "New text" })), http.StatusOK, &v2)
	// The admin may change the policy.
	off := v2
	off.ApprovalRequired, off.FourEyes = false, false
	var v3 credbatch.Definition
	must(t, e.call("PUT", "/api/definitions/course", "admin", off), http.StatusOK, &v3)
	if v3.Version != 3 || v3.ApprovalRequired {
		t.Fatalf("admin change: %+v", v3)
	}

	for _, user := range []string{"issuer", "approver"} {
		if w := e.call("GET", "/api/audit", user, nil); w.Code != http.StatusForbidden {
			t.Errorf("GET /api/audit as %s: %d, want 403", user, w.Code)
		}
	}
	var audit credbatch.Page[credbatch.AuditEntry]
	must(t, e.call("GET", "/api/audit", "admin", nil), http.StatusOK, &audit)
	if len(audit.Items) != 2 {
		t.Fatalf("audit trail has %d entries, want 2 (creation, admin change): %+v", len(audit.Items), audit.Items)
	}
	got := audit.Items[0]
	want := credbatch.AuditEntry{ID: got.ID, At: v3.CreatedAt, Actor: "admin@localhost", Action: credbatch.AuditPolicyChanged,
		Target: "definition/course", Version: 3, Changes: []credbatch.Change{
			{Field: "approval_required", Old: "true", New: "false"}, {Field: "four_eyes", Old: "true", New: "false"}}}
	if got.ID == "" || !got.At.Equal(want.At) || got.Actor != want.Actor || got.Action != want.Action ||
		got.Target != want.Target || got.Version != want.Version || !equalChanges(got.Changes, want.Changes) {
		t.Fatalf("newest audit entry\n got  %+v\n want %+v", got, want)
	}
	first := audit.Items[1]
	if first.Action != credbatch.AuditDefinitionCreated || first.Actor != "issuer@localhost" || first.Version != 1 || len(first.Changes) != len(credbatch.PolicyFields) {
		t.Fatalf("creation entry %+v: want the issuer's initial policy at version 1", first)
	}
}

func equalChanges(a, b []credbatch.Change) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
