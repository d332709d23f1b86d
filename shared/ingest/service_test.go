package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/credbatch/credbatch/shared/awstest"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dirblob"
	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/externaltest"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/s3blob"
	"github.com/credbatch/credbatch/shared/sheet"
	"github.com/credbatch/credbatch/shared/sqlite"
	"github.com/credbatch/credbatch/shared/workbook"
)

// env is one pair of store and bucket backends.
type env struct {
	store  credbatch.Store
	blob   credbatch.Blob
	bucket string
}

// backends lists the backend pairs every ingest test runs against: the embedded default
// (SQLite and a directory) and the AWS adapters against DynamoDB Local and moto S3. The
// stores stamp CreatedAt/UpdatedAt with clock (nil: time.Now).
var backends = []struct {
	name string
	open func(t *testing.T, clock credbatch.Clock) env
}{
	{"sqlite+dir", func(t *testing.T, clock credbatch.Clock) env {
		t.Helper()
		var opts []sqlite.Option
		if clock != nil {
			opts = append(opts, sqlite.WithClock(clock))
		}
		st, err := sqlite.Open(context.Background(), t.TempDir()+"/credbatch.db", opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		b, err := dirblob.New(t.TempDir(), dirblob.WithBucket("local"))
		if err != nil {
			t.Fatal(err)
		}
		return env{store: st, blob: b, bucket: "local"}
	}},
	{"dynamodb+s3", func(t *testing.T, clock credbatch.Clock) env {
		t.Helper()
		ddbCfg := awstest.Config(t, "DYNAMODB")
		s3Cfg := awstest.Config(t, "S3")
		ctx := context.Background()
		ddb := dynamodb.NewFromConfig(ddbCfg)
		table := awstest.Name(t, "ingest")
		if err := dynamo.CreateTable(ctx, ddb, table); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table}) })
		client := s3.NewFromConfig(s3Cfg, func(o *s3.Options) { o.UsePathStyle = true })
		bucket := awstest.Name(t, "bkt")
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
			t.Fatal(err)
		}
		var opts []dynamo.Option
		if clock != nil {
			opts = append(opts, dynamo.WithClock(clock))
		}
		return env{store: dynamo.New(ddb, table, opts...), blob: s3blob.New(client, s3.NewPresignClient(client), bucket), bucket: bucket}
	}},
}

// forEachBackend runs the test body against every backend pair.
func forEachBackend(t *testing.T, body func(t *testing.T, e env)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { body(t, b.open(t, nil)) })
	}
}

// setup stores the test definitions and returns a service over the env.
func setup(t *testing.T, e env) *ingest.Service {
	t.Helper()
	for _, d := range testDefinitions(t) {
		if _, err := e.store.PutDefinition(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	return &ingest.Service{Store: e.store, Blob: e.blob, Limits: sheet.DefaultLimits(), TmpDir: t.TempDir(),
		Clock: func() time.Time { return time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) }}
}

// upload puts a file into the bucket and returns the S3 event that would announce it,
// decoded from the recorded event in testdata with the bucket, key, version and ETag filled in.
func upload(t *testing.T, e env, key string, content []byte, meta map[string]string) events.S3Event {
	t.Helper()
	info, err := e.blob.Put(context.Background(), key, bytes.NewReader(content), "text/csv", meta)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/s3-put-unicode.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.S3Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	r := &ev.Records[0]
	r.S3.Bucket.Name = e.bucket
	r.S3.Object.Key = encodeKey(key)
	r.S3.Object.ETag = info.ETag
	r.S3.Object.VersionID = info.VersionID
	return ev
}

// encodeKey encodes a key the way S3 events do (form encoding: spaces as '+').
func encodeKey(k string) string {
	var b strings.Builder
	for _, c := range []byte(k) {
		switch {
		case c == ' ':
			b.WriteByte('+')
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '/', c == '-', c == '_', c == '.':
			b.WriteByte(c)
		default:
			b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
		}
	}
	return b.String()
}

// onlyBatch returns the single batch in the store.
func onlyBatch(t *testing.T, st credbatch.Store) credbatch.Batch {
	t.Helper()
	page, err := st.ListBatches(context.Background(), credbatch.BatchFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 {
		t.Fatalf("got %d batches, want 1: %+v", len(page.Items), page.Items)
	}
	return page.Items[0]
}

func TestRecordedEventKeyDecoding(t *testing.T) {
	raw, err := os.ReadFile("testdata/s3-put-unicode.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.S3Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	got, err := ingest.KeyFromEvent(ev.Records[0].S3.Object.Key)
	if err != nil {
		t.Fatal(err)
	}
	if want := "uploads/web-101/Spring Cohort été 2026.csv"; got != want {
		t.Errorf("key = %q, want %q", got, want)
	}
}

const validCSV = hdr +
	"Ann,Lee,ann@example.com,2026-03-04,,85,C-1,Gold,\n" +
	"Bo,Ng,bo@example.com,2026-03-04,18 months,72,C-2,Silver,\n"

const invalidCSV = hdr +
	"Ann,Lee,ann@example.com,2026-03-04,,85,C-1,Gold,\n" +
	"Bo,Ng,bo.example.com,2026-03-04,,72,C-2,Silver,\n" +
	"Cy,Oh,cy@example.com,2026-03-04,,140,C-3,Tin,\n"

func TestIngestValidFileWithUnicodeKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e env) {
		svc := setup(t, e)
		ev := upload(t, e, "uploads/web-101/Spring Cohort été 2026.csv", []byte(validCSV), map[string]string{"label": "Spring cohort", "uploader": "staff@example.com"})
		if err := svc.HandleS3(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		b := onlyBatch(t, e.store)
		if b.Status != credbatch.BatchParsed || b.Counts.Rows != 2 || b.Counts.Valid != 2 {
			t.Fatalf("batch = %s %+v, want parsed with 2 valid rows", b.Status, b.Counts)
		}
		if b.Label != "Spring cohort" || b.Uploader != "staff@example.com" || b.Options.DefinitionID != "web-101" {
			t.Errorf("label/uploader/definition = %q/%q/%q", b.Label, b.Uploader, b.Options.DefinitionID)
		}
		if b.Source.Key != "uploads/web-101/Spring Cohort été 2026.csv" {
			t.Errorf("source key = %q", b.Source.Key)
		}
		r, err := e.store.GetRow(context.Background(), b.ID, 3)
		if err != nil {
			t.Fatal(err)
		}
		if r.Email != "bo@example.com" || r.ExpiryDate != "2027-09-04" || r.Attributes["Score"] != "72" {
			t.Errorf("row 3 = %+v", r)
		}
	})
}

func TestIngestDuplicateDeliveryGivesOneBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e env) {
		svc := setup(t, e)
		ev := upload(t, e, "uploads/web-101/cohort.csv", []byte(validCSV), nil)
		// Twice at once, then again later (a retried Lambda or a repeated S3 event).
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = svc.HandleS3(context.Background(), ev) }()
		}
		wg.Wait()
		// One of two at once may meet the other's lease: it fails so that it is retried
		// (CodeInProgress), the batch is not taken twice.
		failed := 0
		for _, err := range errs {
			if err != nil && credbatch.ErrorCode(err) != ingest.CodeInProgress {
				t.Fatal(err)
			}
			if err != nil {
				failed++
			}
		}
		if failed == 2 {
			t.Fatal("both concurrent deliveries failed; one must ingest the object")
		}
		if err := svc.HandleS3(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		b := onlyBatch(t, e.store)
		page, err := e.store.ListRows(context.Background(), b.ID, credbatch.RowFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 2 || b.Counts.Rows != 2 {
			t.Errorf("rows = %d, counts %+v; want 2", len(page.Items), b.Counts)
		}
	})
}

func TestIngestNewVersionGivesNewBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e env) {
		svc := setup(t, e)
		ctx := context.Background()
		ev1 := upload(t, e, "uploads/web-101/cohort.csv", []byte(validCSV), nil)
		if err := svc.HandleS3(ctx, ev1); err != nil {
			t.Fatal(err)
		}
		ev2 := upload(t, e, "uploads/web-101/cohort.csv", []byte(validCSV+"Cy,Oh,cy@example.com,2026-03-04,,60,,,\n"), nil)
		if err := svc.HandleS3(ctx, ev2); err != nil {
			t.Fatal(err)
		}
		page, err := e.store.ListBatches(ctx, credbatch.BatchFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 2 {
			t.Fatalf("got %d batches, want 2 (one per version)", len(page.Items))
		}
	})
}

func TestIngestInvalidRowsStoredWithCodesAndReport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e env) {
		svc := setup(t, e)
		ctx := context.Background()
		if err := svc.HandleS3(ctx, upload(t, e, "uploads/web-101/bad.csv", []byte(invalidCSV), nil)); err != nil {
			t.Fatal(err)
		}
		b := onlyBatch(t, e.store)
		if b.Status != credbatch.BatchRejected || b.Counts.Valid != 1 || b.Counts.Invalid != 2 {
			t.Fatalf("batch = %s %+v, want rejected 1 valid 2 invalid", b.Status, b.Counts)
		}
		want := map[int][]string{3: {credbatch.CodeInvalidEmail}, 4: {credbatch.CodeOutOfRange, credbatch.CodeInvalidChoice}}
		for n, codes := range want {
			r, err := e.store.GetRow(ctx, b.ID, n)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != credbatch.RowInvalid || strings.Join(r.Codes(), ",") != strings.Join(codes, ",") {
				t.Errorf("row %d = %s %v, want invalid %v", n, r.Status, r.Codes(), codes)
			}
		}
		invalid, err := e.store.ListRows(ctx, b.ID, credbatch.RowFilter{Code: credbatch.CodeOutOfRange})
		if err != nil || len(invalid.Items) != 1 || invalid.Items[0].Number != 4 {
			t.Errorf("rows with out_of_range = %+v, %v", invalid.Items, err)
		}
		if b.ReportKey != ingest.ReportKey(b.ID) {
			t.Fatalf("report key = %q", b.ReportKey)
		}
		info, err := e.blob.Head(ctx, b.ReportKey)
		if err != nil || info.Size == 0 {
			t.Fatalf("report object: %+v %v", info, err)
		}
	})
}

func TestIngestRejectedFileStoresNoRows(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e env) {
		svc := setup(t, e)
		svc.Limits.MaxRows = 1 // the second row exceeds the limit after the first was read
		ctx := context.Background()
		if err := svc.HandleS3(ctx, upload(t, e, "uploads/web-101/big.csv", []byte(validCSV), nil)); err != nil {
			t.Fatal(err)
		}
		b := onlyBatch(t, e.store)
		if b.Status != credbatch.BatchRejected || len(b.Findings) == 0 || b.Findings[len(b.Findings)-1].Code != credbatch.CodeTooManyRows {
			t.Fatalf("batch = %s %+v", b.Status, b.Findings)
		}
		page, err := e.store.ListRows(ctx, b.ID, credbatch.RowFilter{})
		if err != nil || len(page.Items) != 0 {
			t.Errorf("rows left behind: %d (%v)", len(page.Items), err)
		}
	})
}

func TestIngestMissingColumnsNeedsMapping(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e env) {
		svc := setup(t, e)
		ctx := context.Background()
		if err := svc.HandleS3(ctx, upload(t, e, "uploads/web-101/cols.csv", []byte("Given,Family,Mail Adresse,Score\nAnn,Lee,ann@example.com,80\n"), nil)); err != nil {
			t.Fatal(err)
		}
		if b := onlyBatch(t, e.store); b.Status != credbatch.BatchNeedsMapping {
			t.Fatalf("status = %s, want needs_mapping", b.Status)
		}
		// The same file with a mapping in its metadata is read.
		mapping := `{"Given":"first_name","Family":"last_name","Mail Adresse":"email"}`
		ev := upload(t, e, "uploads/web-101/cols-mapped.csv", []byte("Given,Family,Mail Adresse,Score\nAnn,Lee,ann@example.com,80\n"), map[string]string{"mapping": mapping})
		if err := svc.HandleS3(ctx, ev); err != nil {
			t.Fatal(err)
		}
		page, _ := e.store.ListBatches(ctx, credbatch.BatchFilter{Status: credbatch.BatchParsed})
		if len(page.Items) != 1 {
			t.Fatalf("mapped upload not parsed: %+v", page.Items)
		}
	})
}

func TestIngestResumesAfterCrash(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e env) {
		svc := setup(t, e)
		ctx := context.Background()
		ev := upload(t, e, "uploads/web-101/crash.csv", []byte(validCSV), nil)
		// A first attempt stopped after creating the batch and writing its first row, and
		// has not sent a heartbeat for longer than the lease.
		src := credbatch.Source{Bucket: e.bucket, Key: "uploads/web-101/crash.csv", VersionID: ev.Records[0].S3.Object.VersionID, ETag: ev.Records[0].S3.Object.ETag}
		id := credbatch.BatchIDFor(src)
		stale := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
		if err := e.store.CreateBatch(ctx, credbatch.Batch{ID: id, Source: src, Status: credbatch.BatchReceived,
			Options: credbatch.Options{DefinitionID: "web-101"}, CreatedAt: stale, UpdatedAt: stale}); err != nil {
			t.Fatal(err)
		}
		if err := e.store.PutRows(ctx, []credbatch.Row{{BatchID: id, Number: 2, Status: credbatch.RowValid, Email: "ann@example.com"}}); err != nil {
			t.Fatal(err)
		}
		if err := svc.HandleS3(ctx, ev); err != nil {
			t.Fatal(err)
		}
		b := onlyBatch(t, e.store)
		page, err := e.store.ListRows(ctx, b.ID, credbatch.RowFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if b.Status != credbatch.BatchParsed || len(page.Items) != 2 || page.Items[1].Number != 3 || page.Items[0].FirstName != "Ann" {
			t.Fatalf("after resume: %s, rows %+v", b.Status, page.Items)
		}
	})
}

func TestIngestLeavesABatchInProgressAlone(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e env) {
		svc := setup(t, e)
		ctx := context.Background()
		ev := upload(t, e, "uploads/web-101/busy.csv", []byte(validCSV), nil)
		src := credbatch.Source{Bucket: e.bucket, Key: "uploads/web-101/busy.csv", VersionID: ev.Records[0].S3.Object.VersionID, ETag: ev.Records[0].S3.Object.ETag}
		now := svc.Clock()
		if err := e.store.CreateBatch(ctx, credbatch.Batch{ID: credbatch.BatchIDFor(src), Source: src, Status: credbatch.BatchReceived,
			CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		// The delivery fails (so that S3/Lambda retry it later) rather than succeed while
		// the batch may never finish.
		if err := svc.HandleS3(ctx, ev); credbatch.ErrorCode(err) != ingest.CodeInProgress {
			t.Fatalf("delivery during another's lease: err = %v, want code %s", err, ingest.CodeInProgress)
		}
		if b := onlyBatch(t, e.store); b.Status != credbatch.BatchReceived {
			t.Errorf("status = %s; a delivery must not take over a batch another one is working on", b.Status)
		}
	})
}

func TestIngestStoreBackedCodes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e env) {
		svc := setup(t, e)
		ctx := context.Background()
		if err := e.store.CreateCredential(ctx, credbatch.Credential{ID: "c1", BatchID: "old", DefinitionID: "web-101",
			Email: "ann@example.com", Status: credbatch.CredentialIssued, EmailStatus: credbatch.EmailSent, IssuedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := e.store.PutSuppression(ctx, credbatch.Suppression{Email: "bo@example.com", Reason: "bounce", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := svc.HandleS3(ctx, upload(t, e, "uploads/web-101/again.csv", []byte(validCSV), nil)); err != nil {
			t.Fatal(err)
		}
		b := onlyBatch(t, e.store)
		ann, _ := e.store.GetRow(ctx, b.ID, 2)
		bo, _ := e.store.GetRow(ctx, b.ID, 3)
		if ann.Status != credbatch.RowInvalid || strings.Join(ann.Codes(), ",") != credbatch.CodeAlreadyIssued {
			t.Errorf("ann = %s %+v, want invalid already_issued", ann.Status, ann.Findings)
		}
		if bo.Status != credbatch.RowValid || len(bo.Findings) != 1 || bo.Findings[0].Code != credbatch.CodeSuppressedRecipient {
			t.Errorf("bo = %s %+v, want valid with a suppressed_recipient warning", bo.Status, bo.Findings)
		}
	})
}

func TestIngestIgnoresOtherEvents(t *testing.T) {
	raw, err := os.ReadFile("testdata/s3-delete.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.S3Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	e := backends[0].open(t, nil)
	svc := setup(t, e)
	if err := svc.HandleS3(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	page, _ := e.store.ListBatches(context.Background(), credbatch.BatchFilter{})
	if len(page.Items) != 0 {
		t.Errorf("a delete event created %d batches", len(page.Items))
	}
}

// recordingMailer keeps every message.
type recordingMailer struct{ sent []credbatch.Message }

func (m *recordingMailer) Send(_ context.Context, msg credbatch.Message) (string, error) {
	m.sent = append(m.sent, msg)
	return "m1", nil
}

func TestIngestEmailsTheUploaderAboutRejectedRows(t *testing.T) {
	tests := []struct {
		name, file, content string
		want                []string
	}{
		{"invalid rows", "bad.csv", invalidCSV, []string{"2 of the 3 rows", "row 3, Email", "reports/", "issue only the valid rows", "link valid for 7 days", "https://creds.test/batches/b_"}},
		{"rejected file", "cols.csv", "Given,Family\nAnn,Lee\n", []string{"was not accepted", "missing_columns", "assign the columns there", "https://creds.test/batches/b_"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := backends[0].open(t, nil)
			svc := setup(t, e)
			m := &recordingMailer{}
			svc.Notifier = &ingest.MailNotifier{Mailer: m, Blob: e.blob, Store: e.store, From: "certs@example.com", BaseURL: "https://creds.test/"}
			ev := upload(t, e, "uploads/web-101/"+tt.file, []byte(tt.content), map[string]string{"uploader": "staff@example.com"})
			if err := svc.HandleS3(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			if len(m.sent) != 1 || m.sent[0].To[0] != "staff@example.com" {
				t.Fatalf("sent %+v", m.sent)
			}
			for _, w := range tt.want {
				if !strings.Contains(m.sent[0].Text, w) {
					t.Errorf("email does not mention %q:\n%s", w, m.sent[0].Text)
				}
			}
		})
	}
}

// TestErrorReportRealCellsAndReplacement reads a batch's error report back with openpyxl:
// the user's dates and numbers are real cells, formula-like text is neutralised, the Batch
// sheet says "needs fixing" with the batch's console link; once another upload replaces the
// batch, its report names and links the batch that replaced it.
func TestErrorReportRealCellsAndReplacement(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e env) {
		svc := setup(t, e)
		svc.BaseURL = "https://creds.example.org/"
		ctx := context.Background()
		data := xlsxFile(t, [][]any{
			{"First Name", "Last Name", "Email", "Issue Date", "Score", "Level"},
			{"Ana", "Lopez", "ana@example.org", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), 91, "Gold"},
			{"Bo", "=Ng", "bo@example.org", "2026-05-02", 150, "Gold"},
			{"Cy", "Oh", "cy@", "03/05/2026", "-1+2", "Gold"},
		})
		if err := svc.HandleS3(ctx, upload(t, e, "uploads/web-101/cohort.xlsx", data, nil)); err != nil {
			t.Fatal(err)
		}
		b := onlyBatch(t, e.store)
		if b.ReportKey == "" || credbatch.StatusWords(b) != "needs fixing" {
			t.Fatalf("batch %s %+v report %q; want needs fixing with a report", b.Status, b.Counts, b.ReportKey)
		}
		report := func() map[string][][]externaltest.Cell {
			t.Helper()
			rc, _, err := e.blob.Get(ctx, b.ReportKey)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			raw, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			return externaltest.Openpyxl(t, raw)
		}
		sheets := report()
		rows := sheets[workbook.RowsSheet]
		cell := func(row int, header string) externaltest.Cell {
			t.Helper()
			for i, h := range rows[0] {
				if h.Text() == header {
					return rows[row-1][i]
				}
			}
			t.Fatalf("no column %q", header)
			return externaltest.Cell{}
		}
		tests := []struct {
			row       int
			header    string
			wantValue any
			wantDate  bool
		}{
			{2, "Issue Date", "2026-05-01T00:00:00", true},
			{2, "Score", 91.0, false},
			{3, "Issue Date", "2026-05-02T00:00:00", true},
			{3, "Score", 150.0, false},
			{3, "Last Name", "'=Ng", false},
			{4, "Issue Date", "03/05/2026", false},
			{4, "Score", "'-1+2", false},
			{4, "Email", "cy@", false},
		}
		for _, tc := range tests {
			if c := cell(tc.row, tc.header); c.Value != tc.wantValue || c.IsDate != tc.wantDate {
				t.Errorf("row %d %s: %+v; want %v (date %v)", tc.row, tc.header, c, tc.wantValue, tc.wantDate)
			}
		}
		about := func(sheets map[string][][]externaltest.Cell) map[string]string {
			out := map[string]string{}
			for _, r := range sheets[workbook.AboutSheet] {
				if len(r) >= 2 {
					out[r[0].Text()] = r[1].Text()
				}
			}
			return out
		}
		if a := about(sheets); a["Status"] != "needs fixing" || a["Open the batch"] != "https://creds.example.org/batches/"+b.ID ||
			!strings.Contains(a["What to do"], "2 of the 3 rows need fixing") {
			t.Errorf("Batch sheet %q", a)
		}

		// The corrected file uploaded to replace it.
		fixed := xlsxFile(t, [][]any{{"First Name", "Last Name", "Email", "Score", "Level"}, {"Ana", "Lopez", "ana@example.org", 91, "Gold"}})
		if err := svc.HandleS3(ctx, upload(t, e, "uploads/web-101/cohort-fixed.xlsx", fixed, map[string]string{ingest.MetaReplaces: b.ID})); err != nil {
			t.Fatal(err)
		}
		old, err := e.store.GetBatch(ctx, b.ID)
		if err != nil || old.Status != credbatch.BatchCancelled {
			t.Fatalf("replaced batch %s, %v; want cancelled", old.Status, err)
		}
		page, err := e.store.ListBatches(ctx, credbatch.BatchFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var by string
		for _, x := range page.Items {
			if x.ID != b.ID {
				by = x.ID
			}
		}
		if a := about(report()); a["Status"] != "replaced" || a["Replaced by"] != by ||
			a["Open the batch that replaced it"] != "https://creds.example.org/batches/"+by {
			t.Errorf("Batch sheet after the replacement %q; want replaced by %s", a, by)
		}
	})
}
