package credbatch

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PolicyField is a definition setting that decides what must happen before credentials go
// out (approval, four eyes, what to do with duplicates). Only an administrator may change
// one, and every change is recorded in the audit trail. A new policy setting is one more
// entry in PolicyFields: it is then guarded and audited like the others.
type PolicyField struct {
	Name   string                  // the JSON name of the field
	Strict string                  // the strictest value: what a definition created without the admin role must have
	Value  func(Definition) string // the field's value as text, for comparing and for the audit trail
}

// PolicyFields lists the policy settings of a definition.
var PolicyFields = []PolicyField{
	{Name: "approval_required", Strict: "true", Value: func(d Definition) string { return strconv.FormatBool(d.ApprovalRequired) }},
	{Name: "four_eyes", Strict: "true", Value: func(d Definition) string { return strconv.FormatBool(d.FourEyes) }},
	{Name: "duplicates", Strict: string(DuplicatesReject), Value: func(d Definition) string { return string(d.Duplicates) }},
	// Evidence files are published under the issuer's name: the strictest setting is none
	// (nothing uploaded is published), with the default types and size limit.
	{Name: "evidence.policy", Strict: string(EvidenceNone), Value: func(d Definition) string { p, _, _ := d.Evidence.policyText(); return p }},
	{Name: "evidence.media_types", Strict: "application/pdf,image/jpeg,image/png", Value: func(d Definition) string { _, t, _ := d.Evidence.policyText(); return t }},
	{Name: "evidence.max_bytes", Strict: strconv.Itoa(DefaultEvidenceMaxBytes), Value: func(d Definition) string { _, _, l := d.Evidence.policyText(); return l }},
}

// Change is one field's value before and after a change ("" Old: the field was set when the
// thing was created).
type Change struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// Audit actions.
const (
	AuditDefinitionCreated = "definition.created" // the initial policy of a new definition
	AuditPolicyChanged     = "definition.policy_changed"
	AuditEvidenceAttached  = "evidence.attached" // a row's evidence file attached or replaced before approval (target batch/<id>/row/<n>)
	AuditEvidenceRemoved   = "evidence.removed"  // an administrator deleted a credential's evidence file (target credential/<id>)
)

// AuditEntry records who changed what, when, from which value to which.
type AuditEntry struct {
	ID      string    `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`  // the principal's name (email, or subject)
	Action  string    `json:"action"` // one of the Audit* actions
	Target  string    `json:"target"` // what was changed, e.g. "definition/web-101"
	Version int       `json:"version,omitempty"`
	Changes []Change  `json:"changes"`
}

// PolicyChanges compares the policy fields of a definition's latest version (nil: there is
// none yet) with the version about to be stored.
func PolicyChanges(old *Definition, next Definition) []Change {
	var out []Change
	for _, f := range PolicyFields {
		nv := f.Value(next)
		if old == nil {
			out = append(out, Change{Field: f.Name, New: nv})
			continue
		}
		if ov := f.Value(*old); ov != nv {
			out = append(out, Change{Field: f.Name, Old: ov, New: nv})
		}
	}
	return out
}

// PolicyAudit checks who may store the definition next over old (nil: a new definition) and
// returns the audit entry the change needs, or nil when it changes no policy field. An
// administrator may do anything. Anyone else may change no policy field, and may create a
// definition only with every policy field at its strictest value (so an issuer can never
// make a definition that skips approval). Errors: KindForbidden naming the fields.
func PolicyAudit(old *Definition, next Definition, actor string, admin bool) (*AuditEntry, error) {
	changes := PolicyChanges(old, next)
	if !admin {
		var bad []string
		for _, f := range PolicyFields {
			v := f.Value(next)
			switch {
			case old == nil && v != f.Strict:
				bad = append(bad, fmt.Sprintf("%s must be %s", f.Name, f.Strict))
			case old != nil && f.Value(*old) != v:
				bad = append(bad, fmt.Sprintf("%s (%s → %s)", f.Name, f.Value(*old), v))
			}
		}
		if len(bad) > 0 {
			msg := "changing a definition's policy needs the admin role: " + strings.Join(bad, ", ") +
				"; keep the current values or ask an administrator"
			if old == nil {
				msg = "a definition created without the admin role must use the strictest policy: " + strings.Join(bad, ", ") +
					"; an administrator can relax it afterwards"
			}
			return nil, &Error{Kind: KindForbidden, Code: "policy_needs_admin", Message: msg, Details: bad}
		}
	}
	if len(changes) == 0 {
		return nil, nil
	}
	e := &AuditEntry{Actor: actor, Action: AuditPolicyChanged, Target: "definition/" + next.ID, Changes: changes}
	if old == nil {
		e.Action = AuditDefinitionCreated
	}
	return e, nil
}
