package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/issuance"
)

// rowsService returns a service over the backend with one definition "course" (a required
// Score number attribute) stored.
func rowsService(t *testing.T, e env, approval bool) *ingest.Service {
	t.Helper()
	ctx := context.Background()
	d := credbatch.Definition{ID: "course", Name: "Course", ApprovalRequired: approval, FourEyes: approval,
		Attributes: []credbatch.Attribute{{Name: "Score", Type: credbatch.AttrNumber, Required: true}}}
	d.Normalize()
	if _, err := e.store.PutDefinition(ctx, d); err != nil {
		t.Fatal(err)
	}
	return &ingest.Service{Store: e.store, Blob: e.blob, TmpDir: t.TempDir(),
		Clock: func() time.Time { return time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC) }}
}

func TestIngestRows(t *testing.T) {
	header := []string{"First Name", "Last Name", "Email", "Issue Date", "Score"}
	good := []string{"Ada", "Lovelace", "ada@example.org", "2025-04-30", "97"}
	bad := []string{"Alan", "Turing", "not-an-email", "2025-04-30", "x"}
	tests := []struct {
		name       string
		header     []string
		records    [][]string
		wantStatus credbatch.BatchStatus
		wantCounts credbatch.Counts
		wantReport bool
		wantCode   string // a file-level finding on the batch
	}{
		{"all valid", header, [][]string{good}, credbatch.BatchParsed, credbatch.Counts{Rows: 1, Valid: 1}, false, ""},
		{"one invalid", header, [][]string{good, bad}, credbatch.BatchRejected, credbatch.Counts{Rows: 2, Valid: 1, Invalid: 1}, true, ""},
		{"missing column", []string{"First Name", "Last Name", "Score"}, [][]string{{"A", "B", "1"}}, credbatch.BatchNeedsMapping, credbatch.Counts{}, false, credbatch.CodeMissingColumns},
		{"no rows", header, nil, credbatch.BatchRejected, credbatch.Counts{}, false, credbatch.CodeEmptyFile},
	}
	forEachBackend(t, func(t *testing.T, e env) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := rowsService(t, e, false)
				id := credbatch.BatchIDFor(credbatch.Source{IdempotencyKey: t.Name()})
				b := credbatch.Batch{ID: id, Label: "api", Source: credbatch.Source{IdempotencyKey: t.Name()},
					Options: credbatch.Options{DefinitionID: "course"}, Uploader: "issuer@x.org"}
				got, err := s.IngestRows(context.Background(), b, tt.header, tt.records)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != tt.wantStatus || got.Counts != tt.wantCounts {
					t.Errorf("status %s counts %+v, want %s %+v", got.Status, got.Counts, tt.wantStatus, tt.wantCounts)
				}
				if (got.ReportKey != "") != tt.wantReport {
					t.Errorf("report key %q, want report %v", got.ReportKey, tt.wantReport)
				}
				if tt.wantCode != "" && !hasFinding(got.Findings, tt.wantCode) {
					t.Errorf("findings %+v, want code %s", got.Findings, tt.wantCode)
				}
				if got.Format != "json" {
					t.Errorf("format %q, want json", got.Format)
				}
				// The same id again returns the same batch and writes nothing new.
				again, err := s.IngestRows(context.Background(), b, tt.header, append(tt.records, good))
				if err != nil {
					t.Fatal(err)
				}
				if again.ID != got.ID || again.Counts != got.Counts {
					t.Errorf("second call: %s %+v, want %s %+v", again.ID, again.Counts, got.ID, got.Counts)
				}
			})
		}
	})
}

func TestIngestRowsApprovalFromDefinition(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e env) {
		s := rowsService(t, e, true)
		b := credbatch.Batch{ID: "b_approval", Options: credbatch.Options{DefinitionID: "course"}}
		got, err := s.IngestRows(context.Background(), b, []string{"First Name", "Last Name", "Email", "Score"},
			[][]string{{"Ada", "Lovelace", "ada@example.org", "1"}})
		if err != nil {
			t.Fatal(err)
		}
		pol, err := issuance.PolicyOf(context.Background(), e.store, got)
		if err != nil {
			t.Fatal(err)
		}
		if !pol.ApprovalRequired || !pol.FourEyes {
			t.Errorf("approval %v four eyes %v, want both (from the definition the batch was validated against)", pol.ApprovalRequired, pol.FourEyes)
		}
	})
}

func hasFinding(fs []credbatch.Finding, code string) bool {
	for _, f := range fs {
		if f.Code == code {
			return true
		}
	}
	return false
}
