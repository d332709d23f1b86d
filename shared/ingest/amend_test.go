package ingest_test

import (
	"context"
	"slices"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
)

// TestAmendRowDuplicates checks that an amended row is validated against the rest of its
// batch: it becomes a duplicate_row when it takes another row's recipient, and the row that
// was the duplicate of its old recipient is released.
func TestAmendRowDuplicates(t *testing.T) {
	type step struct {
		row        int
		email      string
		wantStatus map[int]credbatch.RowStatus
		wantDup    []int // rows carrying duplicate_row after the step
		wantBatch  credbatch.BatchStatus
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"take another row's recipient", []step{
			{3, "ada@example.org", map[int]credbatch.RowStatus{2: credbatch.RowValid, 3: credbatch.RowInvalid}, []int{3, 4}, credbatch.BatchRejected},
			{3, "alan@example.org", map[int]credbatch.RowStatus{3: credbatch.RowValid}, []int{4}, credbatch.BatchRejected},
			{4, "barbara@example.org", map[int]credbatch.RowStatus{4: credbatch.RowValid}, nil, credbatch.BatchParsed},
		}},
		{"the first holder moves away: the duplicate is released", []step{
			{2, "grace@example.org", map[int]credbatch.RowStatus{2: credbatch.RowValid, 4: credbatch.RowValid}, nil, credbatch.BatchParsed},
		}},
	}
	forEachBackend(t, func(t *testing.T, e env) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				s := rowsService(t, e, false)
				header := []string{"First Name", "Last Name", "Email", "Issue Date", "Score"}
				records := [][]string{
					{"Ada", "Lovelace", "ada@example.org", "2025-04-30", "97"},
					{"Alan", "Turing", "alan@example.org", "2025-04-30", "90"},
					{"Ada", "Again", "ada@example.org", "2025-04-30", "80"}, // row 4: duplicate of row 2
				}
				b, _, err := s.CreateBatch(ctx, ingest.NewBatch{IdempotencyKey: t.Name(), Uploader: "issuer@x.org", DefinitionID: "course",
					Recipients: recipients(header, records)})
				if err != nil {
					t.Fatal(err)
				}
				if b.Status != credbatch.BatchRejected || b.Counts.Invalid != 1 {
					t.Fatalf("batch %s %+v, want rejected with row 4 a duplicate", b.Status, b.Counts)
				}
				for i, st := range tt.steps {
					_, b, err = s.AmendRow(ctx, b.ID, st.row, map[string]string{"Email": st.email})
					if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					var dups []int
					invalid := 0
					for r, err := range credbatch.BatchRows(ctx, e.store, b.ID, credbatch.RowFilter{}) {
						if err != nil {
							t.Fatal(err)
						}
						if slices.ContainsFunc(r.Findings, func(f credbatch.Finding) bool { return f.Code == credbatch.CodeDuplicateRow }) {
							dups = append(dups, r.Number)
						}
						if want, ok := st.wantStatus[r.Number]; ok && r.Status != want {
							t.Errorf("step %d: row %d is %s, want %s", i, r.Number, r.Status, want)
						}
						if r.Status == credbatch.RowInvalid {
							invalid++
						}
					}
					if !slices.Equal(dups, st.wantDup) {
						t.Errorf("step %d: duplicate rows %v, want %v", i, dups, st.wantDup)
					}
					if b.Status != st.wantBatch || b.Counts.Invalid != invalid || b.Counts.Valid != 3-invalid {
						t.Errorf("step %d: batch %s %+v, want %s with %d invalid", i, b.Status, b.Counts, st.wantBatch, invalid)
					}
				}
			})
		}
	})
}

func recipients(header []string, records [][]string) []ingest.Recipient {
	out := make([]ingest.Recipient, len(records))
	for i, r := range records {
		out[i] = ingest.Recipient{FirstName: r[0], LastName: r[1], Email: r[2], IssueDate: r[3], Attributes: map[string]string{header[4]: r[4]}}
	}
	return out
}
