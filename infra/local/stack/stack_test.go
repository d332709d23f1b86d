package stack_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/credbatch/credbatch/infra/local/stack"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
)

func openStack(t *testing.T) *stack.Stack {
	t.Helper()
	ctx := context.Background()
	s, err := stack.Open(ctx, stack.Config{DataDir: t.TempDir(), Issuer: credential.Issuer{BaseURL: "http://127.0.0.1:0", Name: "Test Academy"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f, err := credbatch.ParseDefinitions(strings.NewReader(`{"definitions":[{"id":"member","name":"Membership",
		"attributes":[{"name":"Member Number","type":"text","required":true}],"expiry":{"policy":"optional"},"duplicates":"allow"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LoadDefinitions(ctx, f.Definitions); err != nil {
		t.Fatal(err)
	}
	if err := s.LoadDefinitions(ctx, f.Definitions); err != nil { // idempotent
		t.Fatal(err)
	}
	if d, _ := s.Store.GetDefinition(ctx, "member", 0); d.Version != 1 {
		t.Errorf("loading the same definitions twice made version %d", d.Version)
	}
	return s
}

const memberCSV = "First Name,Last Name,Email,Member Number\n" +
	"Ann,Lee,ann@example.com,M-1\n" +
	"Bo,Ng,bo@example.com,M-2\n" +
	"Cy,Oh,cy@example.com,M-3\n"

func TestDropFolderSlowCopyIngestedOnceAndIssued(t *testing.T) {
	s := openStack(t)
	ctx := context.Background()
	w := &stack.Watcher{Stack: s, Settle: 100 * time.Millisecond}
	dir := filepath.Join(s.Config.BucketDir(), "uploads", "member")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cohort.csv")
	half := len(memberCSV) / 2
	if err := os.WriteFile(path, []byte(memberCSV[:half]), 0o644); err != nil {
		t.Fatal(err)
	}
	scan := func() []credbatch.Batch {
		t.Helper()
		got, err := w.Scan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := scan(); len(got) != 0 {
		t.Fatalf("a file still being copied was ingested: %+v", got)
	}
	// The rest arrives a little later (a slow copy).
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(memberCSV[half:])
	f.Close()
	if got := scan(); len(got) != 0 {
		t.Fatalf("ingested before the file settled: %+v", got)
	}
	time.Sleep(150 * time.Millisecond)
	if got := scan(); len(got) != 1 {
		t.Fatalf("after settling: %d batches, want 1", len(got))
	}
	time.Sleep(150 * time.Millisecond)
	if got := scan(); len(got) != 0 {
		t.Fatalf("the same file was ingested again: %+v", got)
	}
	page, err := s.Store.ListBatches(ctx, credbatch.BatchFilter{})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("batches = %+v, %v", page.Items, err)
	}
	b := page.Items[0]
	if b.Counts.Rows != 3 || b.ExecutionID == "" {
		t.Fatalf("batch = %+v; want 3 rows and a started execution", b)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	status, out, err := s.Engine.Wait(wctx, b.ExecutionID)
	if err != nil {
		t.Fatal(err)
	}
	if status != "SUCCEEDED" {
		t.Fatalf("execution %s: %s", status, out)
	}
	b, _ = s.Store.GetBatch(ctx, b.ID)
	if b.Status != credbatch.BatchCompleted || b.Counts.Issued != 3 || b.Counts.Sent != 3 {
		t.Fatalf("batch = %s %+v", b.Status, b.Counts)
	}
	emls, _ := filepath.Glob(filepath.Join(s.Config.OutboxDir(), "*.eml"))
	if len(emls) != 3 {
		t.Errorf("outbox has %d messages, want 3", len(emls))
	}
}

// TestDropFolderRestartAfterACrashMidIngestCompletes: serve was killed while ingesting a
// file, leaving its batch in received with a fresh heartbeat. After the restart the
// watcher's first delivery meets that lease; it must not take the file as done (it did:
// the batch stayed in received until a second restart) but try again, and once the lease has
// expired the batch completes.
func TestDropFolderRestartAfterACrashMidIngestCompletes(t *testing.T) {
	s := openStack(t)
	ctx := context.Background()
	s.Ingest.Lease = 500 * time.Millisecond
	w := &stack.Watcher{Stack: s, Settle: 20 * time.Millisecond, RetryAfter: 50 * time.Millisecond}
	dir := filepath.Join(s.Config.BucketDir(), "uploads", "member")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cohort.csv"), []byte(memberCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	// What the killed process left: the batch in received, one row of three stored.
	key := "uploads/member/cohort.csv"
	head, err := s.Bucket.Head(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	src := credbatch.Source{Bucket: stack.Bucket, Key: key, ETag: head.ETag}
	id := credbatch.BatchIDFor(src)
	now := time.Now()
	if err := s.Store.CreateBatch(ctx, credbatch.Batch{ID: id, Source: src, Status: credbatch.BatchReceived,
		Label: "cohort.csv", Options: credbatch.Options{DefinitionID: "member"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.Store.PutRows(ctx, []credbatch.Row{{BatchID: id, Number: 2, Status: credbatch.RowValid, Email: "ann@example.com"}}); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(20 * time.Second)
	var got []credbatch.Batch
	for scans := 0; len(got) == 0; scans++ {
		if time.Now().After(deadline) {
			b, _ := s.Store.GetBatch(ctx, id)
			t.Fatalf("after %d scans the batch is %s; want it resumed once the lease expired", scans, b.Status)
		}
		if got, err = w.Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 && time.Since(now) < s.Ingest.Lease {
			t.Fatalf("ingested within the crashed delivery's lease: %+v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, err := s.Store.GetBatch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if b.Status == credbatch.BatchReceived || b.Counts.Rows != 3 || b.Counts.Valid != 3 || b.ExecutionID == "" {
		t.Fatalf("batch = %s %+v execution %q; want 3 valid rows and a started execution", b.Status, b.Counts, b.ExecutionID)
	}
	page, err := s.Store.ListRows(ctx, id, credbatch.RowFilter{})
	if err != nil || len(page.Items) != 3 {
		t.Fatalf("rows = %d, %v; want 3", len(page.Items), err)
	}
}

// TestSimulatedFeedbackSurvivesAKill: the process is killed after the batch's emails were
// sent but before their simulated SES events were delivered (its relay blocked, as a killed
// process's goroutines are gone). Those emails stayed sent forever; now the next process
// that opens the data directory delivers the events it finds in ses-events/, and every
// email ends delivered.
func TestSimulatedFeedbackSurvivesAKill(t *testing.T) {
	s := openStack(t)
	ctx := context.Background()
	dead := make(chan struct{})
	s.Relay.Handle = func(context.Context, events.SNSEvent) error { <-dead; return errors.New("killed") }
	t.Cleanup(func() { close(dead) }) // before openStack's Close, which waits for the relay
	w := &stack.Watcher{Stack: s, Settle: 10 * time.Millisecond}
	dir := filepath.Join(s.Config.BucketDir(), "uploads", "member")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cohort.csv"), []byte(memberCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	var b credbatch.Batch
	for deadline := time.Now().Add(20 * time.Second); b.ID == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the file was not ingested")
		}
		got, err := w.Scan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 {
			b = got[0]
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if status, out, err := s.Engine.Wait(wctx, b.ExecutionID); err != nil || status != "SUCCEEDED" {
		t.Fatalf("execution %s %s %v", status, out, err)
	}
	emails := func(st credbatch.Store) map[credbatch.EmailStatus]int {
		page, err := st.ListCredentialsByBatch(ctx, b.ID, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		n := map[credbatch.EmailStatus]int{}
		for _, c := range page.Items {
			n[c.EmailStatus]++
		}
		return n
	}
	if got := emails(s.Store); got[credbatch.EmailSent] != 3 {
		t.Fatalf("before the kill: %v, want 3 sent", got)
	}

	// The restart: a new process over the same data directory.
	s2, err := stack.Open(ctx, stack.Config{DataDir: s.Config.DataDir, Issuer: s.Config.Issuer})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s2.Relay.Wait()
	if got := emails(s2.Store); got[credbatch.EmailDelivered] != 3 {
		t.Errorf("after the restart: %v, want 3 delivered", got)
	}
	if left, _ := os.ReadDir(s.Config.SESEventsDir()); len(left) != 0 {
		t.Errorf("%d files left in ses-events/", len(left))
	}
}
