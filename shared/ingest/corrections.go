package ingest

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/validate"
	"github.com/credbatch/credbatch/shared/workbook"
)

// CodeUnknownCredential is the row-level code of a failed-recipients workbook row whose
// Credential ID names no credential that can be sent again (unknown, or revoked).
const CodeUnknownCredential = "unknown_credential"

// Corrector finds the recipient behind a row of a failed-recipients workbook: the credential
// and the upload row it was issued from. Errors: KindNotFound for an unknown credential (a
// missing row is not an error: Row is then zero).
type Corrector interface {
	Original(ctx context.Context, credentialID string) (credbatch.Credential, credbatch.Row, error)
}

// StoreCorrector is the Corrector over the store.
type StoreCorrector struct{ Store credbatch.Store }

var _ Corrector = StoreCorrector{}

// Original loads the credential and its upload row.
func (c StoreCorrector) Original(ctx context.Context, id string) (credbatch.Credential, credbatch.Row, error) {
	cred, err := c.Store.GetCredential(ctx, id)
	if err != nil {
		return cred, credbatch.Row{}, err
	}
	row, err := c.Store.GetRow(ctx, cred.BatchID, cred.RowNumber)
	if err != nil && !credbatch.IsKind(err, credbatch.KindNotFound) {
		return cred, row, fmt.Errorf("load row %d of batch %s: %w", cred.RowNumber, cred.BatchID, err)
	}
	return cred, row, nil
}

// corrections turns the rows of a failed-recipients workbook sent back with corrected
// addresses (the delivery report's attachment) into the rows of a new batch: one per row
// whose "Corrected email" is filled, carrying the original recipient (definition, names,
// dates, attributes of the credential's upload row) with the corrected address, validated
// like any upload. Rows left without a correction are not part of the batch.
type corrections struct {
	lookup        Corrector
	credCol, mail int            // columns of the workbook
	header        []string       // the new batch's columns
	attrs         []string       // attribute names among them
	seen          map[string]int // credential id → first row naming it
}

// correctionsHeader is the column of the corrected addresses in the new batch: named as in
// the workbook, so findings name the column the user typed in.
const correctionsHeader = workbook.CorrectedEmailHeader

// newCorrections recognises a failed-recipients workbook by its header (a Credential ID and
// a Corrected email column); nil for any other file.
func newCorrections(header []string, defs map[string]credbatch.Definition, lookup Corrector) *corrections {
	credCol, mailCol := -1, -1
	for i, h := range header {
		switch credbatch.NormalizeHeader(h) {
		case credbatch.NormalizeHeader(workbook.CredentialIDHeader):
			credCol = i
		case credbatch.NormalizeHeader(workbook.CorrectedEmailHeader):
			mailCol = i
		}
	}
	if credCol < 0 || mailCol < 0 {
		return nil
	}
	c := &corrections{lookup: lookup, credCol: credCol, mail: mailCol, seen: map[string]int{}}
	hdr := func(f credbatch.Field) string { b, _ := credbatch.Builtin(f); return b.Header }
	c.header = []string{hdr(credbatch.FieldDefinition), hdr(credbatch.FieldFirstName), hdr(credbatch.FieldLastName),
		correctionsHeader, hdr(credbatch.FieldIssueDate), hdr(credbatch.FieldExpiry)}
	ids := make([]string, 0, len(defs))
	for id := range defs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	keys := map[string]bool{}
	for _, h := range c.header {
		keys[credbatch.NormalizeHeader(h)] = true
	}
	for _, id := range ids {
		for _, a := range defs[id].Attributes {
			if k := credbatch.NormalizeHeader(a.Name); !keys[k] {
				keys[k] = true
				c.attrs = append(c.attrs, a.Name)
			}
		}
	}
	c.header = append(c.header, c.attrs...)
	return c
}

// options are the new batch's options: each row names its definition, and the corrected
// address is the email.
func (c *corrections) options(o credbatch.Options) credbatch.Options {
	o.DefinitionID = ""
	o.Mapping = map[string]credbatch.Field{correctionsHeader: credbatch.FieldEmail}
	return o
}

// row turns one workbook row into a row of the new batch; ok false when it has no correction.
func (c *corrections) row(ctx context.Context, v *validate.Validator, number int, cells []string) (credbatch.Row, bool, error) {
	cell := func(i int) string {
		if i < len(cells) {
			return strings.TrimSpace(workbook.Restore(cells[i]))
		}
		return ""
	}
	email, id := cell(c.mail), cell(c.credCol)
	if email == "" {
		return credbatch.Row{}, false, nil
	}
	invalid := func(column, code, msg string) credbatch.Row {
		rec := make([]string, len(c.header))
		rec[3] = email
		return credbatch.Row{Number: number, Email: email, Cells: rec, Status: credbatch.RowInvalid,
			Findings: []credbatch.Finding{{Row: number, Column: column, Code: code, Message: msg, Severity: credbatch.SeverityError}}}
	}
	if id == "" {
		return invalid(workbook.CredentialIDHeader, CodeUnknownCredential,
			"The Credential ID is empty. Keep the Credential ID the delivery report wrote in this row."), true, nil
	}
	cred, orig, err := c.lookup.Original(ctx, id)
	switch {
	case credbatch.IsKind(err, credbatch.KindNotFound):
		return invalid(workbook.CredentialIDHeader, CodeUnknownCredential,
			fmt.Sprintf("No credential has the id %q. Keep the Credential ID the delivery report wrote in this row.", id)), true, nil
	case err != nil:
		return credbatch.Row{}, false, err
	case cred.Status == credbatch.CredentialRevoked:
		return invalid(workbook.CredentialIDHeader, CodeUnknownCredential,
			fmt.Sprintf("Credential %s was revoked, so it is not sent again. Upload a normal file to issue a new one.", id)), true, nil
	}
	if first, ok := c.seen[id]; ok {
		return invalid(workbook.CredentialIDHeader, credbatch.CodeDuplicateRow,
			fmt.Sprintf("Row %d already corrects credential %s. Keep one of the two rows.", first, id)), true, nil
	}
	c.seen[id] = number
	first, last := orig.FirstName, orig.LastName
	if orig.Number == 0 { // the upload row is gone: the name as the credential holds it
		first, last, _ = strings.Cut(cred.Name, " ")
	}
	rec := []string{cred.DefinitionID, first, last, email, cred.IssueDate, cred.ExpiryDate}
	for _, a := range c.attrs {
		rec = append(rec, attribute(cred.Attributes, a))
	}
	r := v.Row(number, rec)
	if strings.EqualFold(email, cred.Email) {
		r.Findings = append(r.Findings, credbatch.Finding{Row: number, Column: correctionsHeader, Code: credbatch.CodeInvalidEmail,
			Severity: credbatch.SeverityError,
			Message:  fmt.Sprintf("%s is the address that failed. Type the corrected address, or leave the cell empty to skip the row.", email)})
		r.Status = credbatch.RowInvalid
	}
	return r, true, nil
}

// attribute is an attribute's value by name, exactly or up to case, spaces and punctuation.
func attribute(m map[string]string, name string) string {
	if v, ok := m[name]; ok {
		return v
	}
	key := credbatch.NormalizeHeader(name)
	for k, v := range m {
		if credbatch.NormalizeHeader(k) == key {
			return v
		}
	}
	return ""
}
