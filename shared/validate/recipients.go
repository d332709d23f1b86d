package validate

import (
	"context"
	"fmt"
	"slices"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Recipient is a definition and a lower-cased email address.
type Recipient struct {
	DefinitionID string
	Email        string
}

// Lookup answers the store-backed questions about a chunk of rows. Errors are the store's
// (KindUnavailable when it throttles or is down).
type Lookup interface {
	// ActiveCredentials reports which recipients hold an issued, unrevoked credential of the
	// definition; recipients absent from the map hold none.
	ActiveCredentials(ctx context.Context, keys []Recipient) (map[Recipient]bool, error)
	// Suppressed reports which addresses are on the suppression list.
	Suppressed(ctx context.Context, emails []string) (map[string]bool, error)
}

// CheckRecipients adds store-backed findings to a chunk of rows, in place: already_issued
// when the recipient holds an active credential of the row's definition (an error under the
// reject policy, a warning under allow and replace), and suppressed_recipient (a warning)
// when the address bounced or complained before. Rows without a definition or a valid email
// get neither finding; Status is updated for valid and invalid rows. The check is idempotent:
// findings of an earlier check are replaced, so a row may be checked again (after Revalidate,
// or on a retry). On a lookup error no row is changed.
func CheckRecipients(ctx context.Context, rows []credbatch.Row, defs map[string]credbatch.Definition, l Lookup) error {
	return checkRecipients(ctx, rows, defs, l, "Email")
}

// CheckRecipients is CheckRecipients with the file's definitions, naming the file's email
// column (as written) in the findings.
func (v *Validator) CheckRecipients(ctx context.Context, rows []credbatch.Row, l Lookup) error {
	return checkRecipients(ctx, rows, v.cfg.Definitions, l, v.header(v.idxEmail))
}

func checkRecipients(ctx context.Context, rows []credbatch.Row, defs map[string]credbatch.Definition, l Lookup, col string) error {
	var keys []Recipient
	var emails []string
	seenKey := map[Recipient]bool{}
	seenEmail := map[string]bool{}
	for i := range rows {
		r := &rows[i]
		if r.DefinitionID == "" || r.Email == "" {
			continue
		}
		k := Recipient{r.DefinitionID, r.Email}
		if !seenKey[k] {
			seenKey[k] = true
			keys = append(keys, k)
		}
		if !seenEmail[r.Email] {
			seenEmail[r.Email] = true
			emails = append(emails, r.Email)
		}
	}
	var active map[Recipient]bool
	var suppressed map[string]bool
	if len(keys) > 0 {
		var err error
		if active, err = l.ActiveCredentials(ctx, keys); err != nil {
			return fmt.Errorf("check recipients: active credentials of %d recipients: %w", len(keys), err)
		}
		if suppressed, err = l.Suppressed(ctx, emails); err != nil {
			return fmt.Errorf("check recipients: suppression of %d addresses: %w", len(emails), err)
		}
	}
	for i := range rows {
		r := &rows[i]
		r.Findings = slices.DeleteFunc(r.Findings, func(f credbatch.Finding) bool {
			return f.Code == credbatch.CodeAlreadyIssued || f.Code == credbatch.CodeSuppressedRecipient
		})
		if r.DefinitionID == "" || r.Email == "" {
			if r.Status == credbatch.RowValid || r.Status == credbatch.RowInvalid {
				r.Status = status(r.Findings)
			}
			continue
		}
		if active[Recipient{r.DefinitionID, r.Email}] {
			switch defs[r.DefinitionID].Duplicates {
			case credbatch.DuplicatesAllow:
				warn(r, col, credbatch.CodeAlreadyIssued, fmt.Sprintf(
					"%s already holds a %s credential; a second one will be issued", r.Email, r.DefinitionID))
			case credbatch.DuplicatesReplace:
				warn(r, col, credbatch.CodeAlreadyIssued, fmt.Sprintf(
					"%s already holds a %s credential; it will be revoked and replaced by this one", r.Email, r.DefinitionID))
			default:
				fail(r, col, credbatch.CodeAlreadyIssued, fmt.Sprintf(
					"%s already holds a %s credential; delete this row, or revoke the existing credential first", r.Email, r.DefinitionID))
			}
		}
		if suppressed[r.Email] {
			warn(r, col, credbatch.CodeSuppressedRecipient, fmt.Sprintf(
				"email to %s bounced or was marked as spam before, so it will not be sent; check the address or give another one", r.Email))
		}
		if r.Status == credbatch.RowValid || r.Status == credbatch.RowInvalid {
			r.Status = status(r.Findings)
		}
	}
	return nil
}
