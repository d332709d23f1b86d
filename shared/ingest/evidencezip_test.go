package ingest_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/evidence/evidencetest"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/zipguard"
)

var (
	evFilesOnce sync.Once
	evFiles     evidencetest.Files
)

// realFiles makes the PNG, JPEG (Pillow) and PDF (LibreOffice) once for every test here.
func realFiles(t *testing.T) evidencetest.Files {
	t.Helper()
	evFilesOnce.Do(func() { evFiles = evidencetest.Make(t) })
	if evFiles.PDF == nil {
		t.Fatal("the evidence files could not be made (see the first test that asked)")
	}
	return evFiles
}

// zipEntry is one entry of a test zip; deflate compresses it (else it is stored).
type zipEntry struct {
	name    string
	data    []byte
	deflate bool
}

func makeZip(t *testing.T, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		m := zip.Store
		if e.deflate {
			m = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: m})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// evidenceSetup stores the evidence definitions (site: required, up to 1 MiB; visit:
// optional) and returns a service over the env.
func evidenceSetup(t *testing.T, e env) *ingest.Service {
	t.Helper()
	svc := setup(t, e)
	for _, d := range evidenceDefinitions(t) {
		if _, err := e.store.PutDefinition(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	return svc
}

func handle(t *testing.T, svc *ingest.Service, ev events.S3Event) {
	t.Helper()
	if err := svc.HandleS3(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

func sri(b []byte) string {
	h := sha512.Sum384(b)
	return "sha384-" + base64.StdEncoding.EncodeToString(h[:])
}

func rowFindings(t *testing.T, st credbatch.Store, batchID string, n int) (credbatch.Row, []string) {
	t.Helper()
	r, err := st.GetRow(context.Background(), batchID, n)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, f := range r.Findings {
		codes = append(codes, f.Code+"@"+f.Column)
	}
	return r, codes
}

// storedFile checks that row n carries the file want, stored under the batch with its
// digest, media type and name.
func storedFile(t *testing.T, e env, batchID string, n int, name, mediaType string, want []byte) {
	t.Helper()
	r, codes := rowFindings(t, e.store, batchID, n)
	f := r.Evidence.FileNamed()
	if !f.Stored() {
		t.Fatalf("row %d: no stored file (%+v), findings %v", n, r.Evidence, codes)
	}
	if f.Name != name || f.MediaType != mediaType || f.Digest != sri(want) || f.Size != int64(len(want)) {
		t.Errorf("row %d file = %+v, want %s %s %s", n, f, name, mediaType, sri(want))
	}
	if !strings.HasPrefix(f.Key, credbatch.EvidencePrefix+batchID+"/") {
		t.Errorf("row %d key %s is not under the batch", n, f.Key)
	}
	rc, info, err := e.blob.Get(context.Background(), f.Key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, want) || info.ContentType != mediaType {
		t.Errorf("row %d stored object: %d bytes of %s, want %d of %s", n, len(got), info.ContentType, len(want), mediaType)
	}
	if r.Status != credbatch.RowValid {
		t.Errorf("row %d is %s (%v), want valid", n, r.Status, codes)
	}
}

func hasCode(t *testing.T, st credbatch.Store, batchID string, n int, code, column string) {
	t.Helper()
	r, codes := rowFindings(t, st, batchID, n)
	for _, f := range r.Findings {
		if f.Code == code && f.Column == column && f.Row == n && f.Message != "" {
			if r.Status != credbatch.RowInvalid {
				t.Errorf("row %d with %s is %s", n, code, r.Status)
			}
			return
		}
	}
	t.Errorf("row %d: no %s finding in %q; got %v", n, code, column, codes)
}

func batchFinding(t *testing.T, b credbatch.Batch, code, mentions string) {
	t.Helper()
	for _, f := range b.Findings {
		if f.Code == code && f.Row == 0 && f.Column == "Evidence File" && strings.Contains(f.Message, mentions) {
			return
		}
	}
	t.Errorf("batch has no %s finding naming %q: %+v", code, mentions, b.Findings)
}

// TestEvidenceZip: a spreadsheet with its .zip (real PNG, JPEG and PDF files) through the
// recorded S3 event: matched files stored under the batch with their digests, an extension
// that lies, a file too large, a named file missing, a required row without evidence and an
// unmatched entry each with its code; a duplicate event changes nothing.
func TestEvidenceZip(t *testing.T) {
	files := realFiles(t)
	big := append(append([]byte{}, files.PNG[:64]...), make([]byte, 2<<20)...)
	rand.Read(big[64:])
	forEachBackend(t, func(t *testing.T, e env) {
		svc := evidenceSetup(t, e)
		const key = "uploads/roster.csv"
		zipEv := upload(t, e, key+".zip", makeZip(t,
			zipEntry{name: "ann.pdf", data: files.PDF, deflate: true},
			zipEntry{name: "Photos/", data: nil},
			zipEntry{name: "Photos/Bo.PNG", data: files.PNG},
			zipEntry{name: "cy.jpg", data: files.JPEG, deflate: true},
			zipEntry{name: "di.pdf", data: files.PNG}, // the extension lies
			zipEntry{name: "big.png", data: big},
			zipEntry{name: "stray.pdf", data: files.PDF},
			zipEntry{name: "__MACOSX/._ann.pdf", data: []byte("resource fork")},
			zipEntry{name: ".DS_Store", data: []byte("finder")},
		), map[string]string{"uploader": "staff@example.com"})
		handle(t, svc, zipEv) // before its spreadsheet: nothing yet
		if page, _ := e.store.ListBatches(context.Background(), credbatch.BatchFilter{}); len(page.Items) != 0 {
			t.Fatalf("a zip alone made batches: %+v", page.Items)
		}
		ev := upload(t, e, key, []byte(evHdr+
			"site,Ann,Lee,ann@example.com,,Observed on site,ann.pdf\n"+
			"site,Bo,Ng,bo@example.com,,,photos/bo.png\n"+
			"visit,Cy,Oh,cy@example.com,,,CY.JPG\n"+
			"site,Di,Fo,di@example.com,,,di.pdf\n"+
			"site,Ed,Gu,ed@example.com,,,ed.pdf\n"+
			"site,Fa,Hu,fa@example.com,,,\n"+
			"site,Gi,Iv,gi@example.com,,,big.png\n"), map[string]string{"uploader": "staff@example.com"})
		handle(t, svc, ev)
		b := onlyBatch(t, e.store)
		if b.Status != credbatch.BatchRejected || b.Counts.Rows != 7 || b.Counts.Valid != 3 || b.Counts.Invalid != 4 {
			t.Fatalf("batch = %s %+v, want rejected with 3 valid and 4 invalid rows", b.Status, b.Counts)
		}
		storedFile(t, e, b.ID, 2, "ann.pdf", "application/pdf", files.PDF)
		storedFile(t, e, b.ID, 3, "photos/bo.png", "image/png", files.PNG)
		storedFile(t, e, b.ID, 4, "CY.JPG", "image/jpeg", files.JPEG)
		hasCode(t, e.store, b.ID, 5, credbatch.CodeEvidenceWrongType, "Evidence File")
		hasCode(t, e.store, b.ID, 6, credbatch.CodeEvidenceFileNotFound, "Evidence File")
		hasCode(t, e.store, b.ID, 7, credbatch.CodeMissingEvidence, "Evidence File")
		hasCode(t, e.store, b.ID, 8, credbatch.CodeEvidenceTooLarge, "Evidence File")
		batchFinding(t, b, credbatch.CodeUnmatchedEvidence, "stray.pdf")
		for _, f := range b.Findings {
			if strings.Contains(f.Message, "._ann") || strings.Contains(f.Message, "DS_Store") || strings.Contains(f.Message, "Photos/\"") {
				t.Errorf("finding about an ignored entry: %+v", f)
			}
		}
		r2, _ := rowFindings(t, e.store, b.ID, 2)
		if r2.Evidence.Narrative != "Observed on site" || r2.Evidence.File.AddedBy != "staff@example.com" {
			t.Errorf("row 2 evidence = %+v", r2.Evidence)
		}

		// The same events again (a retried delivery): the same batch, the same files.
		handle(t, svc, ev)
		handle(t, svc, zipEv)
		again := onlyBatch(t, e.store)
		if again.ID != b.ID || again.Status != b.Status || again.Counts != b.Counts || len(again.Findings) != len(b.Findings) {
			t.Errorf("after the repeated events: %s %+v %d findings, was %s %+v %d", again.Status, again.Counts, len(again.Findings), b.Status, b.Counts, len(b.Findings))
		}
		r2again, _ := rowFindings(t, e.store, b.ID, 2)
		if r2again.Evidence.File.Key != r2.Evidence.File.Key {
			t.Errorf("row 2 key %s, was %s", r2again.Evidence.File.Key, r2.Evidence.File.Key)
		}
	})
}

// TestEvidenceZipAfterItsSpreadsheet: the zip's event comes after the spreadsheet's (S3
// events come in any order): the rows that named a missing file are checked again, the
// batch moves from rejected to parsed; a duplicate zip event changes nothing, and a later
// zip does not replace a row's stored file.
func TestEvidenceZipAfterItsSpreadsheet(t *testing.T) {
	files := realFiles(t)
	forEachBackend(t, func(t *testing.T, e env) {
		svc := evidenceSetup(t, e)
		const key = "uploads/site/late.csv"
		handle(t, svc, upload(t, e, key, []byte(evHdr+
			"site,Ann,Lee,ann@example.com,,,ann.pdf\n"+
			"visit,Bo,Ng,bo@example.com,,,bo.png\n"+
			"visit,Cy,Oh,cy@example.com,,,\n"), map[string]string{"uploader": "staff@example.com"}))
		b := onlyBatch(t, e.store)
		if b.Status != credbatch.BatchRejected || b.Counts.Invalid != 2 {
			t.Fatalf("before the zip: %s %+v, want rejected with 2 invalid rows", b.Status, b.Counts)
		}
		hasCode(t, e.store, b.ID, 2, credbatch.CodeEvidenceFileNotFound, "Evidence File")
		zipEv := upload(t, e, key+".zip", makeZip(t,
			zipEntry{name: "ann.pdf", data: files.PDF},
			zipEntry{name: "bo.png", data: files.PNG},
			zipEntry{name: "extra.jpg", data: files.JPEG}), nil)
		handle(t, svc, zipEv)
		b = onlyBatch(t, e.store)
		if b.Status != credbatch.BatchParsed || b.Counts.Valid != 3 || b.Counts.Invalid != 0 {
			t.Fatalf("after the zip: %s %+v, want parsed with 3 valid rows", b.Status, b.Counts)
		}
		storedFile(t, e, b.ID, 2, "ann.pdf", "application/pdf", files.PDF)
		storedFile(t, e, b.ID, 3, "bo.png", "image/png", files.PNG)
		batchFinding(t, b, credbatch.CodeUnmatchedEvidence, "extra.jpg")
		handle(t, svc, zipEv)
		if again := onlyBatch(t, e.store); again.Status != b.Status || again.Counts != b.Counts || len(again.Findings) != len(b.Findings) {
			t.Errorf("after a duplicate zip event: %s %+v %+v", again.Status, again.Counts, again.Findings)
		}
		// Another zip: rows keep their stored files; its findings replace the first zip's
		// (extra.jpg is no longer in it, ann.pdf is row 2's).
		handle(t, svc, upload(t, e, key+".zip", makeZip(t, zipEntry{name: "ann.pdf", data: files.JPEG}), nil))
		storedFile(t, e, b.ID, 2, "ann.pdf", "application/pdf", files.PDF)
		if again := onlyBatch(t, e.store); len(again.Findings) != 0 || again.Status != credbatch.BatchParsed {
			t.Errorf("after the second zip: %s, findings %+v", again.Status, again.Findings)
		}
	})
}

// TestEvidenceZipRefused: a zip that cannot be used at all is a batch finding with its own
// code and no file of it is read; the rows that name files get evidence_file_not_found.
func TestEvidenceZipRefused(t *testing.T) {
	files := realFiles(t)
	tests := []struct {
		name string
		zip  func(t *testing.T) []byte
		lim  zipguard.Limits
		code string
		says string
	}{
		{"traversal name", func(t *testing.T) []byte {
			return makeZip(t, zipEntry{name: "ann.pdf", data: files.PDF}, zipEntry{name: "../../evidence/x/2-evil.pdf", data: files.PDF})
		}, zipguard.Limits{}, credbatch.CodeUnsafeZipEntry, "../../evidence/x/2-evil.pdf"},
		{"backslash traversal", func(t *testing.T) []byte {
			return makeZip(t, zipEntry{name: `..\ann.pdf`, data: files.PDF})
		}, zipguard.Limits{}, credbatch.CodeUnsafeZipEntry, `..\\ann.pdf`},
		{"zip bomb", func(t *testing.T) []byte {
			return makeZip(t, zipEntry{name: "ann.pdf", data: files.PDF}, zipEntry{name: "zeros.pdf", data: make([]byte, 64<<20), deflate: true})
		}, zipguard.Limits{}, credbatch.CodeZipTooLarge, "zip bomb"},
		{"too many entries", func(t *testing.T) []byte {
			return makeZip(t, zipEntry{name: "ann.pdf", data: files.PDF}, zipEntry{name: "b.pdf", data: files.PDF}, zipEntry{name: "c.pdf", data: files.PDF})
		}, zipguard.Limits{MaxTotal: 1 << 30, MaxEntries: 2, SafeNames: true}, credbatch.CodeZipTooLarge, "more than 2 entries"},
		{"duplicate names", func(t *testing.T) []byte {
			return makeZip(t, zipEntry{name: "ann.pdf", data: files.PDF}, zipEntry{name: "ANN.pdf", data: files.PNG})
		}, zipguard.Limits{}, credbatch.CodeUnsafeZipEntry, "two entries"},
		{"not a zip", func(t *testing.T) []byte { return files.PDF }, zipguard.Limits{}, credbatch.CodeCorruptFile, "not a zip"},
	}
	forEachBackend(t, func(t *testing.T, e env) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				svc := evidenceSetup(t, e)
				svc.EvidenceZip = tt.lim
				key := "uploads/site/" + strings.ReplaceAll(tt.name, " ", "-") + ".csv"
				upload(t, e, key+".zip", tt.zip(t), nil)
				handle(t, svc, upload(t, e, key, []byte(evHdr+"site,Ann,Lee,ann@example.com,,,ann.pdf\n"), nil))
				b, err := e.store.GetBatch(context.Background(), credbatch.BatchIDFor(credbatch.Source{Bucket: e.bucket, Key: key,
					ETag: headETag(t, e, key)}))
				if err != nil {
					t.Fatal(err)
				}
				if b.Status != credbatch.BatchRejected || b.Counts.Invalid != 1 {
					t.Fatalf("batch %s %+v, want rejected with its row invalid", b.Status, b.Counts)
				}
				batchFinding(t, b, tt.code, tt.says)
				hasCode(t, e.store, b.ID, 2, credbatch.CodeEvidenceFileNotFound, "Evidence File")
				r, _ := rowFindings(t, e.store, b.ID, 2)
				if r.Evidence.FileNamed().Stored() {
					t.Errorf("a file of a refused zip was stored: %+v", r.Evidence.File)
				}
			})
		}
	})
}

func headETag(t *testing.T, e env, key string) string {
	t.Helper()
	info, err := e.blob.Head(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return info.ETag
}

func TestSheetKeyOfZip(t *testing.T) {
	tests := []struct {
		key, want string
		ok        bool
	}{
		{"uploads/roster.xlsx.zip", "uploads/roster.xlsx", true},
		{"uploads/site/01J-roster.CSV.zip", "uploads/site/01J-roster.CSV", true},
		{"uploads/roster.zip", "", false},
		{"uploads/roster.xlsx.ZIP", "", false},
		{"reports/roster.xlsx.zip", "", false},
		{"uploads/roster.xlsx", "", false},
	}
	for _, tt := range tests {
		got, ok := ingest.SheetKeyOfZip(tt.key)
		if got != tt.want || ok != tt.ok {
			t.Errorf("SheetKeyOfZip(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

// TestEvidenceZipOfAnotherUploader: a zip uploaded (through the API or the console, so with
// its uploader) by someone other than the spreadsheet's uploader gives no row a file, in
// either order; one put into the bucket without an uploader (the drop folder) is read.
func TestEvidenceZipOfAnotherUploader(t *testing.T) {
	files := realFiles(t)
	forEachBackend(t, func(t *testing.T, e env) {
		svc := evidenceSetup(t, e)
		zipOf := func() []byte { return makeZip(t, zipEntry{name: "ann.pdf", data: files.PDF}) }
		row := []byte(evHdr + "site,Ann,Lee,ann@example.com,,,ann.pdf\n")
		staff := map[string]string{"uploader": "staff@example.com"}
		for _, tc := range []struct {
			name            string
			sheetBy, zipBy  map[string]string
			zipAfter, taken bool
		}{
			{"another uploader's zip first", staff, map[string]string{"uploader": "mallory@example.com"}, false, false},
			{"another uploader's zip after", staff, map[string]string{"uploader": "mallory@example.com"}, true, false},
			{"a presigned zip beside a dropped spreadsheet", nil, map[string]string{"uploader": "mallory@example.com"}, false, false},
			{"a dropped zip beside a presigned spreadsheet", staff, nil, false, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key := "uploads/site/" + strings.ReplaceAll(tc.name, " ", "-") + ".csv"
				if !tc.zipAfter {
					upload(t, e, key+".zip", zipOf(), tc.zipBy)
				}
				handle(t, svc, upload(t, e, key, row, tc.sheetBy))
				if tc.zipAfter {
					handle(t, svc, upload(t, e, key+".zip", zipOf(), tc.zipBy))
				}
				b, err := e.store.GetBatch(context.Background(), credbatch.BatchIDFor(credbatch.Source{Bucket: e.bucket, Key: key, ETag: headETag(t, e, key)}))
				if err != nil {
					t.Fatal(err)
				}
				if tc.taken {
					storedFile(t, e, b.ID, 2, "ann.pdf", "application/pdf", files.PDF)
					return
				}
				if b.Status != credbatch.BatchRejected {
					t.Fatalf("batch %s, want rejected", b.Status)
				}
				batchFinding(t, b, credbatch.CodeZipOtherUploader, "mallory@example.com")
				hasCode(t, e.store, b.ID, 2, credbatch.CodeEvidenceFileNotFound, "Evidence File")
				if r, _ := rowFindings(t, e.store, b.ID, 2); r.Evidence.FileNamed().Stored() {
					t.Errorf("a file of another uploader's zip was stored: %+v", r.Evidence.File)
				}
			})
		}
	})
}

// failingEvidencePuts is a blob whose PUTs under evidence/ fail after the first ok of them.
type failingEvidencePuts struct {
	credbatch.Blob
	mu sync.Mutex
	ok int
}

func (f *failingEvidencePuts) Put(ctx context.Context, key string, r io.Reader, contentType string, meta map[string]string) (credbatch.ObjectInfo, error) {
	if strings.HasPrefix(key, credbatch.EvidencePrefix) {
		f.mu.Lock()
		fail := f.ok <= 0
		f.ok--
		f.mu.Unlock()
		if fail {
			return credbatch.ObjectInfo{}, credbatch.Errorf(credbatch.KindUnavailable, "the bucket is busy")
		}
	}
	return f.Blob.Put(ctx, key, r, contentType, meta)
}

// TestEvidenceZipStoredBeforeTheBatchMovesOn: the spreadsheet's ingest stores the zip's
// files while it reads on (several at once); when one of them cannot be stored the ingest
// fails and the batch stays in received, so no row names a file that is not there; the
// retry stores them all and the batch moves on.
func TestEvidenceZipStoredBeforeTheBatchMovesOn(t *testing.T) {
	files := realFiles(t)
	forEachBackend(t, func(t *testing.T, e env) {
		svc := evidenceSetup(t, e)
		const key = "uploads/site/many.csv"
		var entries []zipEntry
		csv := evHdr
		for i := range 30 {
			name := fmt.Sprintf("f%02d.png", i)
			entries = append(entries, zipEntry{name: name, data: append(append([]byte{}, files.PNG...), byte(i))})
			csv += fmt.Sprintf("site,A%02d,B,a%02d@example.com,,,%s\n", i, i, name)
		}
		upload(t, e, key+".zip", makeZip(t, entries...), nil)
		ev := upload(t, e, key, []byte(csv), nil)
		flaky := *svc
		flaky.Blob = &failingEvidencePuts{Blob: e.blob, ok: 12}
		if err := flaky.HandleS3(context.Background(), ev); err == nil || !strings.Contains(err.Error(), "busy") {
			t.Fatalf("ingest with a failing PUT: %v, want the PUT's error", err)
		}
		if b := onlyBatch(t, e.store); b.Status != credbatch.BatchReceived {
			t.Fatalf("after the failed ingest the batch is %s, want received", b.Status)
		}
		svc.Clock = func() time.Time { return time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC) } // past the lease
		handle(t, svc, ev)
		b := onlyBatch(t, e.store)
		if b.Status != credbatch.BatchParsed || b.Counts.Valid != 30 {
			t.Fatalf("after the retry: %s %+v, want parsed with 30 valid rows", b.Status, b.Counts)
		}
		for i := range 30 {
			storedFile(t, e, b.ID, i+2, fmt.Sprintf("f%02d.png", i), "image/png", entries[i].data)
		}
	})
}

// flakyMailer fails its first fail sends, then records.
type flakyMailer struct {
	fail int
	sent []credbatch.Message
}

func (m *flakyMailer) Send(_ context.Context, msg credbatch.Message) (string, error) {
	if m.fail > 0 {
		m.fail--
		return "", errors.New("SES is down")
	}
	m.sent = append(m.sent, msg)
	return "m1", nil
}

// TestEvidenceZipAfterSubmit: a zip that arrives after its batch was submitted attaches
// nothing, and the uploader is told once per zip: a repeated event sends nothing more, a
// failed email is sent by the event's retry, another zip is told again.
func TestEvidenceZipAfterSubmit(t *testing.T) {
	files := realFiles(t)
	forEachBackend(t, func(t *testing.T, e env) {
		svc := evidenceSetup(t, e)
		m := &flakyMailer{}
		svc.Notifier = &ingest.MailNotifier{Mailer: m, Blob: e.blob, Store: e.store, From: "certs@example.com", BaseURL: "https://creds.test/"}
		ctx := context.Background()
		const key = "uploads/site/after.csv"
		handle(t, svc, upload(t, e, key, []byte(evHdr+"visit,Ann,Lee,ann@example.com,,,\n"), map[string]string{"uploader": "staff@example.com"}))
		b := onlyBatch(t, e.store)
		if _, err := e.store.TransitionBatch(ctx, b.ID, b.Status, credbatch.BatchAwaitingApproval, credbatch.BatchChange{}); err != nil {
			t.Fatal(err)
		}
		zip := func(name string) events.S3Event {
			return upload(t, e, key+".zip", makeZip(t, zipEntry{name: name, data: files.PDF}), nil)
		}
		m.fail = 1
		first := zip("ann.pdf")
		if err := svc.HandleS3(ctx, first); err == nil {
			t.Fatal("a failed email was not reported: the event would not be retried")
		}
		handle(t, svc, first) // the event's retry
		handle(t, svc, first) // a repeated delivery
		if len(m.sent) != 1 || m.sent[0].To[0] != "staff@example.com" {
			t.Fatalf("sent %d emails (%+v), want 1 to the uploader", len(m.sent), m.sent)
		}
		for _, want := range []string{key + ".zip", "none of its files were attached", "awaiting approval", "https://creds.test/batches/" + b.ID} {
			if !strings.Contains(m.sent[0].Text, want) {
				t.Errorf("email does not say %q:\n%s", want, m.sent[0].Text)
			}
		}
		if r, err := e.store.GetRow(ctx, b.ID, 2); err != nil || r.Evidence.FileNamed() != nil && r.Evidence.FileNamed().Key != "" {
			t.Errorf("row 2 after the late zip: %+v, %v; want no file attached", r.Evidence, err)
		}
		handle(t, svc, zip("other.pdf")) // another zip (another ETag) is news again
		if len(m.sent) != 2 {
			t.Errorf("after another zip: %d emails, want 2", len(m.sent))
		}
	})
}

// TestAmendRenamingEvidenceFileDeletesTheOldFile: an amendment that keeps the row's Evidence
// File keeps its stored file; one that names another file leaves no orphan behind: the file
// stored for the old name is deleted.
func TestAmendRenamingEvidenceFileDeletesTheOldFile(t *testing.T) {
	files := realFiles(t)
	forEachBackend(t, func(t *testing.T, e env) {
		svc := evidenceSetup(t, e)
		ctx := context.Background()
		const key = "uploads/site/rename.csv"
		handle(t, svc, upload(t, e, key+".zip", makeZip(t, zipEntry{name: "ann.pdf", data: files.PDF}), nil))
		handle(t, svc, upload(t, e, key, []byte(evHdr+"site,Ann,Lee,ann@example.com,,,ann.pdf\n"), map[string]string{"uploader": "staff@example.com"}))
		b := onlyBatch(t, e.store)
		storedFile(t, e, b.ID, 2, "ann.pdf", "application/pdf", files.PDF)
		r, _ := rowFindings(t, e.store, b.ID, 2)
		oldKey := r.Evidence.FileNamed().Key
		if _, _, err := svc.AmendRow(ctx, b.ID, 2, map[string]string{"Last Name": "Leigh"}); err != nil {
			t.Fatal(err)
		}
		storedFile(t, e, b.ID, 2, "ann.pdf", "application/pdf", files.PDF) // the same name: kept
		if _, _, err := svc.AmendRow(ctx, b.ID, 2, map[string]string{"Evidence File": "ann-final.pdf"}); err != nil {
			t.Fatal(err)
		}
		if r, _ = rowFindings(t, e.store, b.ID, 2); r.Evidence.FileNamed().Stored() {
			t.Errorf("row 2 after naming another file: %+v, want it unstored (attach it or upload the zip)", r.Evidence.FileNamed())
		}
		if _, _, err := e.blob.Get(ctx, oldKey); !credbatch.IsKind(err, credbatch.KindNotFound) {
			t.Errorf("the file stored for the old name (%s) is still there: %v", oldKey, err)
		}
	})
}
