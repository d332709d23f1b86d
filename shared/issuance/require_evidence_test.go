package issuance_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/issuance"
)

// startWorkflow counts the executions started.
type startWorkflow struct {
	credbatch.Workflow
	started *int
}

func (w startWorkflow) Start(context.Context, string, json.RawMessage) (string, error) {
	*w.started++
	return "exec-1", nil
}

// TestSubmitRequiresEvidence: a batch of a definition whose evidence is required is submitted
// only when every row has a stored file or a link (also with skip_invalid); the refusal is
// missing_evidence naming the rows, with one finding per row. Optional evidence never blocks.
func TestSubmitRequiresEvidence(t *testing.T) {
	stored := &credbatch.Evidence{File: &credbatch.EvidenceFile{Name: "a.png", Key: "evidence/b/2-x.png", MediaType: "image/png", Size: 3, Digest: "sha384-x"}}
	named := &credbatch.Evidence{Narrative: "Observed", File: &credbatch.EvidenceFile{Name: "a.png"}} // named, never stored
	link := &credbatch.Evidence{URL: "https://portfolio.example.org/ann"}
	tests := []struct {
		name      string
		policy    credbatch.EvidencePolicy
		status    credbatch.BatchStatus
		evidence  []*credbatch.Evidence // rows 2, 3, ...
		invalid   []bool
		wantRows  []int // rows named by missing_evidence; nil = submitted
		wantStart int
	}{
		{name: "every row has a file or a link", policy: credbatch.EvidenceRequired, status: credbatch.BatchParsed,
			evidence: []*credbatch.Evidence{stored, link}, wantStart: 1},
		{name: "one row without", policy: credbatch.EvidenceRequired, status: credbatch.BatchParsed,
			evidence: []*credbatch.Evidence{stored, nil, link}, wantRows: []int{3}},
		{name: "a file named but not stored, a narrative only", policy: credbatch.EvidenceRequired, status: credbatch.BatchParsed,
			evidence: []*credbatch.Evidence{named, {Narrative: "Observed"}}, wantRows: []int{2, 3}},
		{name: "skip_invalid does not skip the requirement", policy: credbatch.EvidenceRequired, status: credbatch.BatchRejected,
			evidence: []*credbatch.Evidence{stored, nil}, invalid: []bool{false, true}, wantRows: []int{3}},
		{name: "optional evidence never blocks", policy: credbatch.EvidenceOptional, status: credbatch.BatchParsed,
			evidence: []*credbatch.Evidence{nil, nil}, wantStart: 1},
	}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			st := s.open(t)
			ctx := context.Background()
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					def := credbatch.Definition{ID: fmt.Sprintf("site-%d", i), Name: "Site Induction", Evidence: credbatch.EvidenceSettings{Policy: tt.policy}}
					def.Normalize()
					d, err := st.PutDefinition(ctx, def)
					if err != nil {
						t.Fatal(err)
					}
					id := fmt.Sprintf("b%d", i)
					b := credbatch.Batch{ID: id, Status: credbatch.BatchReceived, Uploader: "issuer@example.com", Definitions: map[string]int{d.ID: d.Version},
						Options: credbatch.Options{DefinitionID: d.ID}, CreatedAt: time.Now()}
					if err := st.CreateBatch(ctx, b); err != nil {
						t.Fatal(err)
					}
					var rows []credbatch.Row
					var counts credbatch.Counts
					for j, e := range tt.evidence {
						r := credbatch.Row{BatchID: id, Number: j + 2, FirstName: "Ann", LastName: "Lee", Email: fmt.Sprintf("r%d@example.com", j),
							IssueDate: "2026-12-04", Evidence: e, Status: credbatch.RowValid}
						counts.Rows++
						if j < len(tt.invalid) && tt.invalid[j] {
							r.Status = credbatch.RowInvalid
							r.Findings = []credbatch.Finding{{Row: r.Number, Column: "Evidence File", Code: credbatch.CodeMissingEvidence, Severity: credbatch.SeverityError, Message: "x"}}
							counts.Invalid++
						} else {
							counts.Valid++
						}
						rows = append(rows, r)
					}
					if err := st.PutRows(ctx, rows); err != nil {
						t.Fatal(err)
					}
					if err := st.AddCounts(ctx, id, counts); err != nil {
						t.Fatal(err)
					}
					if _, err := st.TransitionBatch(ctx, id, credbatch.BatchReceived, tt.status, credbatch.BatchChange{}); err != nil {
						t.Fatal(err)
					}
					started := 0
					a := &issuance.Actions{Store: st, Workflow: startWorkflow{started: &started}}
					_, err = a.Submit(ctx, id, tt.status == credbatch.BatchRejected)
					if started != tt.wantStart {
						t.Errorf("%d executions started, want %d", started, tt.wantStart)
					}
					if tt.wantRows == nil {
						if err != nil {
							t.Fatalf("submit: %v", err)
						}
						return
					}
					var ce *credbatch.Error
					if !errors.As(err, &ce) || ce.Code != credbatch.CodeMissingEvidence || ce.Kind != credbatch.KindConflict {
						t.Fatalf("submit: %v, want a missing_evidence conflict", err)
					}
					var got []int
					details, _ := ce.Details.([]credbatch.Finding)
					for _, f := range details {
						if f.Code != credbatch.CodeMissingEvidence || f.Message == "" {
							t.Errorf("detail %+v", f)
						}
						got = append(got, f.Row)
					}
					if fmt.Sprint(got) != fmt.Sprint(tt.wantRows) {
						t.Errorf("rows %v, want %v", got, tt.wantRows)
					}
					for _, r := range tt.wantRows {
						if !strings.Contains(ce.Message, fmt.Sprint(r)) {
							t.Errorf("message %q does not name row %d", ce.Message, r)
						}
					}
					nb, _ := st.GetBatch(ctx, id)
					if nb.Status != tt.status || nb.SkipInvalid {
						t.Errorf("refused batch is %s (skip_invalid %v), want it left %s", nb.Status, nb.SkipInvalid, tt.status)
					}
				})
			}
		})
	}
}
