package ingest

import (
	"context"
	"fmt"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/validate"
)

// evidenceRows applies the definitions' evidence policy to validated rows: a row's Evidence
// File is looked up among the files uploaded with it (files; nil when none were), checked and
// stored, and a row of a definition whose evidence is required gets missing_evidence when it
// has neither a stored file nor a link.
type evidenceRows struct {
	defs   map[string]credbatch.Definition
	files  *EvidenceFiles
	column string // the Evidence File column's header as written ("Evidence File" when the file has none)
	link   string // the Evidence URL column's header as written
}

func newEvidenceRows(defs map[string]credbatch.Definition, files *EvidenceFiles, v *validate.Validator) evidenceRows {
	return evidenceRowsFor(defs, files, v.Header(credbatch.FieldEvidenceFile), v.Header(credbatch.FieldEvidenceURL))
}

func evidenceRowsFor(defs map[string]credbatch.Definition, files *EvidenceFiles, column, link string) evidenceRows {
	if files != nil {
		files.column = column
	}
	return evidenceRows{defs: defs, files: files, column: column, link: link}
}

// row checks one row in place; the error is for failures that are not the row's fault.
func (e evidenceRows) row(ctx context.Context, r *credbatch.Row) error {
	d, ok := e.defs[r.DefinitionID]
	if !ok || d.Evidence.EffectivePolicy() == credbatch.EvidenceNone {
		return nil
	}
	if f := r.Evidence.FileNamed(); f != nil && !f.Stored() {
		if err := e.files.match(ctx, d, r, e.column); err != nil {
			return err
		}
	}
	e.require(d, r)
	r.Status = rowStatus(r.Findings)
	return nil
}

// require adds missing_evidence to a row of a required definition that has no evidence (and
// no finding about its evidence file or link already).
func (e evidenceRows) require(d credbatch.Definition, r *credbatch.Row) {
	if d.Evidence.EffectivePolicy() != credbatch.EvidenceRequired || r.Evidence.HasEvidence() {
		return
	}
	for _, f := range r.Findings {
		switch f.Code {
		case credbatch.CodeEvidenceFileNotFound, credbatch.CodeEvidenceWrongType, credbatch.CodeEvidenceTooLarge:
			return
		}
		if f.Severity != credbatch.SeverityWarning && (f.Column == e.column || f.Column == e.link) {
			return
		}
	}
	r.Findings = append(r.Findings, credbatch.Finding{Row: r.Number, Column: e.column, Code: credbatch.CodeMissingEvidence,
		Severity: credbatch.SeverityError, Message: fmt.Sprintf(
			"%s credentials need evidence: name the recipient's file in Evidence File and upload the files as a .zip with the spreadsheet, "+
				"give an Evidence URL, or attach the file to this row before submitting the batch", d.ID)})
}

func rowStatus(fs []credbatch.Finding) credbatch.RowStatus {
	if credbatch.HasErrors(fs) {
		return credbatch.RowInvalid
	}
	return credbatch.RowValid
}
