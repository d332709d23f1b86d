package validate

import (
	"slices"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// TestEvidenceColumns: Evidence URL is checked like a url attribute, the narrative like
// text, the file name like a zip entry; a definition without evidence refuses the columns.
func TestEvidenceColumns(t *testing.T) {
	header := []string{"First Name", "Last Name", "Email", "Evidence URL", "Evidence Narrative", "Evidence File"}
	tests := []struct {
		name      string
		policy    credbatch.EvidencePolicy
		url, narr string
		file      string
		want      []string
		wantEv    *credbatch.Evidence
	}{
		{"all three", credbatch.EvidenceOptional, "https://portfolio.example.org/jane", "Practical, day 2", "scans/jane.pdf", []string{},
			&credbatch.Evidence{URL: "https://portfolio.example.org/jane", Narrative: "Practical, day 2", File: &credbatch.EvidenceFile{Name: "scans/jane.pdf"}}},
		{"none given", credbatch.EvidenceOptional, "", "", "", []string{}, nil},
		{"required, none given: decided when the files are matched", credbatch.EvidenceRequired, "", "", "", []string{}, nil},
		{"bad url", credbatch.EvidenceOptional, "javascript:alert(1)", "", "", []string{credbatch.CodeInvalidURL}, nil},
		{"url with space", credbatch.EvidenceOptional, "https://example.org/a b", "", "", []string{credbatch.CodeInvalidURL}, nil},
		{"narrative with a control character", credbatch.EvidenceOptional, "", "a\x07b", "", []string{credbatch.CodeUnsafeValue}, nil},
		{"multi-line narrative", credbatch.EvidenceOptional, "", "line 1\nline 2", "", []string{}, &credbatch.Evidence{Narrative: "line 1\nline 2"}},
		{"traversal name", credbatch.EvidenceOptional, "", "", "../etc/passwd", []string{credbatch.CodeUnsafeValue}, nil},
		{"absolute name", credbatch.EvidenceOptional, "", "", "/tmp/a.pdf", []string{credbatch.CodeUnsafeValue}, nil},
		{"windows name", credbatch.EvidenceOptional, "", "", `C:\scans\a.pdf`, []string{credbatch.CodeUnsafeValue}, nil},
		{"not allowed", credbatch.EvidenceNone, "https://example.org/", "n", "a.pdf",
			[]string{credbatch.CodeEvidenceNotAllowed, credbatch.CodeEvidenceNotAllowed, credbatch.CodeEvidenceNotAllowed}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := credbatch.Definition{ID: "site", Name: "Site Induction", Evidence: credbatch.EvidenceSettings{Policy: tc.policy}}
			d.Normalize()
			v, err := New(Config{Definitions: map[string]credbatch.Definition{"site": d}, Options: credbatch.Options{DefinitionID: "site"}, Today: "2025-03-04"}, header, 1)
			if err != nil {
				t.Fatal(err)
			}
			r := v.Row(2, []string{"Jane", "Doe", "jane@example.com", tc.url, tc.narr, tc.file})
			if got := codes(r.Findings); !slices.Equal(got, tc.want) {
				t.Fatalf("codes = %v, want %v (%v)", got, tc.want, r.Findings)
			}
			if (r.Evidence == nil) != (tc.wantEv == nil) {
				t.Fatalf("evidence = %+v, want %+v", r.Evidence, tc.wantEv)
			}
			if tc.wantEv != nil {
				if r.Evidence.URL != tc.wantEv.URL || r.Evidence.Narrative != tc.wantEv.Narrative || (r.Evidence.File == nil) != (tc.wantEv.File == nil) ||
					(r.Evidence.File != nil && r.Evidence.File.Name != tc.wantEv.File.Name) {
					t.Errorf("evidence = %+v, want %+v", r.Evidence, tc.wantEv)
				}
			}
			for _, f := range r.Findings {
				if f.Row != 2 || f.Column == "" || f.Message == "" {
					t.Errorf("finding without row, column or message: %+v", f)
				}
			}
		})
	}
}
