package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/evidence/evidencetest"
	"github.com/credbatch/credbatch/shared/ingest"
)

// evidenceService stores the evidence definitions (site: required, at most 1 MiB; visit:
// optional; plain: none) and returns a service over the env.
func evidenceService(t *testing.T, e env) *ingest.Service {
	t.Helper()
	for _, d := range evidenceDefinitions(t) {
		if _, err := e.store.PutDefinition(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	return &ingest.Service{Store: e.store, Blob: e.blob, TmpDir: t.TempDir(),
		Clock: func() time.Time { return time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) }}
}

// evidenceBatch creates a batch of two recipients (rows 2 and 3) of definition def.
func evidenceBatch(t *testing.T, s *ingest.Service, def string) credbatch.Batch {
	t.Helper()
	b, _, err := s.CreateBatch(context.Background(), ingest.NewBatch{IdempotencyKey: t.Name(), Uploader: "issuer@example.org", DefinitionID: def,
		Recipients: []ingest.Recipient{
			{FirstName: "Ann", LastName: "Lee", Email: "ann@example.org"},
			{FirstName: "Bo", LastName: "Chan", Email: "bo@example.org"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAttachEvidence attaches and replaces rows' evidence files before submission: the row
// becomes valid and the batch parsed once every required row has its file, a replaced file
// is deleted from the bucket, a file sent again changes nothing, each change is audited, and
// every refusal has its code.
func TestAttachEvidence(t *testing.T) {
	real := evidencetest.Make(t)
	big := append(bytes.Clone(real.PNG), make([]byte, 1<<20)...) // a PNG over site's 1 MiB
	type step struct {
		row  int
		name string
		file []byte
		code string // "" = attached
	}
	tests := []struct {
		name       string
		def        string
		submit     bool // the batch is awaiting approval before the steps
		steps      []step
		wantBatch  credbatch.BatchStatus
		wantAudits int
	}{
		{name: "every required row gets its file", def: "site",
			steps:     []step{{row: 2, name: "site.png", file: real.PNG}, {row: 3, name: "report.pdf", file: real.PDF}},
			wantBatch: credbatch.BatchParsed, wantAudits: 2},
		{name: "one of two rows: still rejected", def: "site",
			steps:     []step{{row: 2, name: "site.jpg", file: real.JPEG}},
			wantBatch: credbatch.BatchRejected, wantAudits: 1},
		{name: "replaced: the first file is deleted", def: "site",
			steps: []step{{row: 2, name: "site.png", file: real.PNG}, {row: 2, name: "site.jpg", file: real.JPEG},
				{row: 3, name: "report.pdf", file: real.PDF}},
			wantBatch: credbatch.BatchParsed, wantAudits: 3},
		{name: "the same file again changes nothing", def: "visit",
			steps:     []step{{row: 2, name: "site.png", file: real.PNG}, {row: 2, name: "site.png", file: real.PNG}},
			wantBatch: credbatch.BatchParsed, wantAudits: 1},
		{name: "a file without a name is named after its row", def: "visit",
			steps:     []step{{row: 3, file: real.PDF}},
			wantBatch: credbatch.BatchParsed, wantAudits: 1},
		{name: "an extension that lies", def: "site",
			steps:     []step{{row: 2, name: "site.png", file: real.JPEG, code: credbatch.CodeEvidenceWrongType}},
			wantBatch: credbatch.BatchRejected},
		{name: "not a type the definition allows", def: "site",
			steps:     []step{{row: 2, name: "notes.txt", file: []byte("plain text, not a picture"), code: credbatch.CodeEvidenceWrongType}},
			wantBatch: credbatch.BatchRejected},
		{name: "empty file", def: "site",
			steps:     []step{{row: 2, name: "empty.pdf", code: credbatch.CodeEvidenceWrongType}},
			wantBatch: credbatch.BatchRejected},
		{name: "over the definition's limit", def: "site",
			steps:     []step{{row: 2, name: "big.png", file: big, code: credbatch.CodeEvidenceTooLarge}},
			wantBatch: credbatch.BatchRejected},
		{name: "a definition without evidence", def: "plain",
			steps:     []step{{row: 2, name: "site.png", file: real.PNG, code: credbatch.CodeEvidenceNotAllowed}},
			wantBatch: credbatch.BatchParsed},
		{name: "the header row", def: "visit",
			steps:     []step{{row: 1, name: "site.png", file: real.PNG, code: "invalid_row"}},
			wantBatch: credbatch.BatchParsed},
		{name: "no such row", def: "visit",
			steps:     []step{{row: 9, name: "site.png", file: real.PNG, code: string(credbatch.KindNotFound)}},
			wantBatch: credbatch.BatchParsed},
		{name: "after submission", def: "visit", submit: true,
			steps:     []step{{row: 2, name: "site.png", file: real.PNG, code: ingest.CodeBatchNotAmendable}},
			wantBatch: credbatch.BatchAwaitingApproval},
	}
	forEachBackend(t, func(t *testing.T, e env) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				s := evidenceService(t, e)
				b := evidenceBatch(t, s, tt.def)
				if tt.submit {
					var err error
					if b, err = e.store.TransitionBatch(ctx, b.ID, b.Status, credbatch.BatchAwaitingApproval, credbatch.BatchChange{}); err != nil {
						t.Fatal(err)
					}
				}
				keys := map[int]string{} // row → the key its file must be at
				var gone []string        // keys that must be deleted
				for i, st := range tt.steps {
					row, nb, err := s.AttachEvidence(ctx, b.ID, st.row, st.name, bytes.NewReader(st.file), "issuer@example.org")
					if st.code != "" {
						if credbatch.ErrorCode(err) != st.code {
							t.Fatalf("step %d: error %v (code %q), want code %s", i, err, credbatch.ErrorCode(err), st.code)
						}
						if credbatch.ErrorMessage(err) == "" {
							t.Errorf("step %d: the error has no message", i)
						}
						continue
					}
					if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					b = nb
					f := row.Evidence.FileNamed()
					if !f.Stored() || f.Digest != sri(st.file) || f.Size != int64(len(st.file)) || f.AddedBy != "issuer@example.org" {
						t.Fatalf("step %d: row evidence %+v, want the file stored with its digest", i, f)
					}
					if st.name != "" && f.Name != st.name || st.name == "" && f.Name != fmt.Sprintf("row-%d-evidence.pdf", st.row) {
						t.Errorf("step %d: file named %q", i, f.Name)
					}
					if row.Status != credbatch.RowValid || len(row.Findings) != 0 {
						t.Errorf("step %d: row %s with findings %+v, want valid", i, row.Status, row.Findings)
					}
					if k := keys[st.row]; k != "" && k != f.Key {
						gone = append(gone, k)
					}
					keys[st.row] = f.Key
				}
				b, err := e.store.GetBatch(ctx, b.ID)
				if err != nil {
					t.Fatal(err)
				}
				if b.Status != tt.wantBatch {
					t.Errorf("batch %s %+v, want %s", b.Status, b.Counts, tt.wantBatch)
				}
				valid := 0
				for r, err := range credbatch.BatchRows(ctx, e.store, b.ID, credbatch.RowFilter{}) {
					if err != nil {
						t.Fatal(err)
					}
					if r.Status == credbatch.RowValid {
						valid++
					}
					want := keys[r.Number]
					if got := r.Evidence.FileNamed(); want != "" && (got == nil || got.Key != want) {
						t.Errorf("stored row %d evidence %+v, want %s", r.Number, got, want)
					}
				}
				if b.Counts.Valid != valid || b.Counts.Invalid != 2-valid {
					t.Errorf("batch counts %+v, want %d valid of 2", b.Counts, valid)
				}
				for _, k := range keys {
					if _, err := e.blob.Head(ctx, k); err != nil {
						t.Errorf("the row's file %s: %v", k, err)
					}
				}
				for _, k := range gone {
					if _, err := e.blob.Head(ctx, k); !credbatch.IsKind(err, credbatch.KindNotFound) {
						t.Errorf("replaced file %s still stored (%v)", k, err)
					}
				}
				audits := 0
				for a, err := range credbatch.All(func(cur string) (credbatch.Page[credbatch.AuditEntry], error) {
					return e.store.ListAudit(ctx, cur, 100)
				}) {
					if err != nil {
						t.Fatal(err)
					}
					if a.Action == credbatch.AuditEvidenceAttached && strings.HasPrefix(a.Target, "batch/"+b.ID+"/row/") && a.Actor == "issuer@example.org" && len(a.Changes) == 1 {
						audits++
					}
				}
				if audits != tt.wantAudits {
					t.Errorf("%d evidence.attached audit entries, want %d", audits, tt.wantAudits)
				}
			})
		}
	})
}

// TestAttachEvidenceConcurrent: attachments racing on one row, some of them retries of the
// same file, leave the row naming one file that is stored with its bytes, every other file
// deleted, and the batch's counts right.
func TestAttachEvidenceConcurrent(t *testing.T) {
	real := evidencetest.Make(t)
	files := [][]byte{real.PNG, real.JPEG, real.PDF, append(bytes.Clone(real.PNG), "tail"...), real.PNG, real.JPEG, real.PDF}
	forEachBackend(t, func(t *testing.T, e env) {
		ctx := context.Background()
		s := evidenceService(t, e)
		b := evidenceBatch(t, s, "site")
		for round := range 3 {
			var wg sync.WaitGroup
			errs := make([]error, len(files))
			for i, f := range files {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _, errs[i] = s.AttachEvidence(ctx, b.ID, 2, fmt.Sprintf("f%d", i), bytes.NewReader(f), "issuer@example.org")
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d: attachment %d: %v", round, i, err)
				}
			}
			row, err := e.store.GetRow(ctx, b.ID, 2)
			if err != nil {
				t.Fatal(err)
			}
			got := row.Evidence.FileNamed()
			if !got.Stored() || row.Status != credbatch.RowValid {
				t.Fatalf("round %d: row %s evidence %+v", round, row.Status, got)
			}
			stored := 0
			for _, f := range files[:4] {
				m := map[string]string{"\x89PN": "image/png", "\xff\xd8\xff": "image/jpeg", "%PD": "application/pdf"}[string(f[:3])]
				key, err := credbatch.EvidenceKey(b.ID, 2, sri(f), m)
				if err != nil {
					t.Fatal(err)
				}
				rc, _, err := e.blob.Get(ctx, key)
				if credbatch.IsKind(err, credbatch.KindNotFound) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				content, _ := io.ReadAll(rc)
				rc.Close()
				stored++
				if key != got.Key || sri(content) != got.Digest {
					t.Errorf("round %d: %s is stored but the row names %s", round, key, got.Key)
				}
			}
			if stored != 1 {
				t.Errorf("round %d: %d of the files stored, want exactly the row's", round, stored)
			}
			nb, err := e.store.GetBatch(ctx, b.ID)
			if err != nil {
				t.Fatal(err)
			}
			if nb.Counts.Valid != 1 || nb.Counts.Invalid != 1 || nb.Status != credbatch.BatchRejected {
				t.Errorf("round %d: batch %s %+v, want row 2 valid, row 3 invalid", round, nb.Status, nb.Counts)
			}
		}
	})
}

// TestPresignEvidence: a presigned upload of a row's evidence file is refused at once when
// its declared size is over the definition's limit or negative, or the batch was submitted;
// otherwise it names a key under evidence-uploads/<batch>/<row>/ and the headers to send.
func TestPresignEvidence(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e env) {
		ctx := context.Background()
		s := evidenceService(t, e)
		b := evidenceBatch(t, s, "site") // site: at most 1 MiB
		tests := []struct {
			name   string
			row    int
			size   int64
			submit bool
			code   string
		}{
			{name: "size unknown", row: 2},
			{name: "at the limit", row: 3, size: 1 << 20},
			{name: "over the limit", row: 2, size: 1<<20 + 1, code: credbatch.CodeEvidenceTooLarge},
			{name: "negative size", row: 2, size: -1, code: "invalid_size"},
			{name: "the header row", row: 1, code: "invalid_row"},
			{name: "after submission", row: 2, submit: true, code: ingest.CodeBatchNotAmendable},
		}
		for _, tt := range tests {
			if tt.submit {
				if _, err := e.store.TransitionBatch(ctx, b.ID, credbatch.BatchRejected, credbatch.BatchAwaitingApproval, credbatch.BatchChange{}); err != nil {
					t.Fatal(err)
				}
			}
			up, err := s.PresignEvidence(ctx, b.ID, tt.row, tt.size)
			if tt.code != "" {
				if credbatch.ErrorCode(err) != tt.code {
					t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
				}
				continue
			}
			if err != nil || !strings.HasPrefix(up.Key, fmt.Sprintf("%s%s/%d/", credbatch.EvidenceUploadPrefix, b.ID, tt.row)) ||
				up.URL == "" || up.Method != "PUT" || up.Headers["Content-Type"] != up.ContentType {
				t.Errorf("%s: %+v, %v", tt.name, up, err)
			}
		}
	})
}
