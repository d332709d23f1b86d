// Package catalogue creates and changes credential definitions: validated, versioned, with
// their policy fields changed only by administrators and recorded in the audit trail.
package catalogue

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/mail"
	"github.com/credbatch/credbatch/shared/validate"
)

// Service is the catalogue's use cases, called by the JSON API and the console alike.
type Service struct {
	Store credbatch.Store
	IDs   credbatch.IDs // audit entry ids
	Log   *slog.Logger
}

// Check normalises and validates a definition and its email templates (KindInvalid).
func Check(d *credbatch.Definition) error {
	d.Normalize()
	if err := d.Validate(); err != nil {
		return err
	}
	if d.Issuer != nil && d.Issuer.Email != "" {
		if p := validate.EmailProblem(d.Issuer.Email); p != "" {
			return credbatch.E(credbatch.KindInvalid, "invalid_definition",
				fmt.Sprintf("definition %q: issuer.email %q %s; use the form name@example.org", d.ID, d.Issuer.Email, p))
		}
	}
	return mail.Check(d.Email, AttributeNames(*d)...)
}

// AttributeNames are the names of a definition's attributes, in order.
func AttributeNames(d credbatch.Definition) []string {
	names := make([]string, len(d.Attributes))
	for i, at := range d.Attributes {
		names[i] = at.Name
	}
	return names
}

// Create stores a new definition (version 1). Errors: KindInvalid for a bad definition or a
// version set; KindConflict when the id exists; KindForbidden when someone without the admin
// role relaxes a policy field (credbatch.PolicyAudit).
func (s *Service) Create(ctx context.Context, p auth.Principal, d credbatch.Definition) (credbatch.Definition, error) {
	if d.Version != 0 {
		return d, credbatch.E(credbatch.KindInvalid, "invalid_definition", "a new definition has no version; change an existing one instead")
	}
	d.Archived = false
	if err := Check(&d); err != nil {
		return d, err
	}
	if _, err := s.Store.GetDefinition(ctx, d.ID, 0); err == nil {
		return d, credbatch.E(credbatch.KindConflict, "definition_exists", fmt.Sprintf("definition %q exists; change it instead", d.ID))
	} else if !credbatch.IsKind(err, credbatch.KindNotFound) {
		return d, fmt.Errorf("load definition %s: %w", d.ID, err)
	}
	return s.put(ctx, p, nil, d)
}

// Update stores a new version of a definition; d.Version must be the latest stored one, so a
// concurrent change is never overwritten (KindConflict). Policy fields change only with the
// admin role (KindForbidden), and each change is audited in the same write.
func (s *Service) Update(ctx context.Context, p auth.Principal, d credbatch.Definition) (credbatch.Definition, error) {
	if d.Version < 1 {
		return d, credbatch.E(credbatch.KindInvalid, "missing_version",
			"send the version you changed (the latest), so that a concurrent change is not overwritten")
	}
	if err := Check(&d); err != nil {
		return d, err
	}
	cur, err := s.Store.GetDefinition(ctx, d.ID, 0)
	if err != nil {
		return d, fmt.Errorf("load definition %s: %w", d.ID, err)
	}
	return s.put(ctx, p, &cur, d)
}

// put stores d over cur (nil: a new definition) when the principal may make its policy
// changes, with their audit entry in the same write.
func (s *Service) put(ctx context.Context, p auth.Principal, cur *credbatch.Definition, d credbatch.Definition) (credbatch.Definition, error) {
	entry, err := credbatch.PolicyAudit(cur, d, p.Name(), p.Has(auth.RoleAdmin))
	if err != nil {
		return d, err
	}
	var audit []credbatch.AuditEntry
	if entry != nil {
		entry.ID = s.IDs()
		audit = append(audit, *entry)
	}
	saved, err := s.Store.PutDefinition(ctx, d, audit...)
	if err != nil {
		return d, fmt.Errorf("store definition %s: %w", d.ID, err)
	}
	if entry != nil {
		s.log().InfoContext(ctx, "definition policy changed", "definition", d.ID, "version", saved.Version, "by", p.Subject)
	}
	return saved, nil
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}
