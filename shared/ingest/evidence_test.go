package ingest_test

import (
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/sheet"
)

// evidenceDefinitions: site (evidence required, PDF/PNG/JPEG up to 1 MiB) and visit (optional).
func evidenceDefinitions(t testing.TB) map[string]credbatch.Definition {
	t.Helper()
	f, err := credbatch.ParseDefinitions(strings.NewReader(`{"definitions":[
	 {"id":"site","name":"Site Induction","evidence":{"policy":"required","max_bytes":1048576}},
	 {"id":"visit","name":"Site Visit","evidence":{"policy":"optional"}},
	 {"id":"plain","name":"Plain"}]}`))
	if err != nil {
		t.Fatalf("definitions: %v", err)
	}
	m := map[string]credbatch.Definition{}
	for _, d := range f.Definitions {
		m[d.ID] = d
	}
	return m
}

const evHdr = "ID,First Name,Last Name,Email,Evidence URL,Evidence Narrative,Evidence File\n"

type evidenceCase struct {
	name   string
	csv    string
	code   string // "" = no finding, row valid
	row    int
	column string
}

func runEvidenceCases(t *testing.T, tests []evidenceCase) {
	t.Helper()
	defs := evidenceDefinitions(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ingest.Input{Path: writeFile(t, "roster.csv", []byte(evHdr+tt.csv)), Name: "roster.csv", Definitions: defs,
				Today: "2026-11-02", Limits: sheet.DefaultLimits(), TmpDir: t.TempDir()}
			res := document(t, in, nil)
			if res.Error != nil {
				t.Fatalf("file rejected: %s: %s", res.Error.Code, res.Error.Message)
			}
			if tt.code == "" {
				if res.Invalid != 0 || len(res.Errors) != 0 {
					t.Fatalf("errors %+v, want none", res.Errors)
				}
				return
			}
			for _, f := range append(res.Errors, res.Warnings...) {
				if f.Code == tt.code && f.Row == tt.row && f.Column == tt.column {
					if f.Message == "" {
						t.Error("finding has no message")
					}
					return
				}
			}
			t.Fatalf("no %s finding at row %d column %q; got errors %+v warnings %+v", tt.code, tt.row, tt.column, res.Errors, res.Warnings)
		})
	}
}

// TestEvidenceCodesWithoutFiles: the evidence policy applied to rows when no files came
// with the spreadsheet.
func TestEvidenceCodesWithoutFiles(t *testing.T) {
	runEvidenceCases(t, []evidenceCase{
		{name: "required row without evidence", csv: "site,Ann,Lee,ann@example.com,,,\n", code: credbatch.CodeMissingEvidence, row: 2, column: "Evidence File"},
		{name: "required row without evidence, narrative only", csv: "site,Ann,Lee,ann@example.com,,Observed on site,\n", code: credbatch.CodeMissingEvidence, row: 2, column: "Evidence File"},
		{name: "required row with a link", csv: "site,Ann,Lee,ann@example.com,https://portfolio.example.org/ann,,\n"},
		{name: "optional row without evidence", csv: "visit,Ann,Lee,ann@example.com,,,\n"},
		{name: "file named, no zip", csv: "visit,Ann,Lee,ann@example.com,,,ann.pdf\n", code: credbatch.CodeEvidenceFileNotFound, row: 2, column: "Evidence File"},
		{name: "evidence on a definition without", csv: "plain,Ann,Lee,ann@example.com,https://example.org/,,\n", code: credbatch.CodeEvidenceNotAllowed, row: 2, column: "Evidence URL"},
		{name: "required row without evidence and a bad name", csv: "site,An\x07n,Lee,ann@example.com,,,\n", code: credbatch.CodeMissingEvidence, row: 2, column: "Evidence File"},
		{name: "bad link on a required row: its own code, not missing_evidence", csv: "site,Ann,Lee,ann@example.com,ftp://x,,\n", code: credbatch.CodeInvalidURL, row: 2, column: "Evidence URL"},
	})
}
