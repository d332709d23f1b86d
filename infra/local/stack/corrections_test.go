package stack_test

import (
	"bytes"
	"context"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/credbatch/credbatch/infra/local/stack"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/externaltest"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/report"
)

// ingestFile puts a file under uploads/ and ingests it, waiting for its execution to end.
func ingestFile(t *testing.T, s *stack.Stack, key string, data []byte) credbatch.Batch {
	t.Helper()
	ctx := t.Context()
	info, err := s.Bucket.Put(ctx, key, bytes.NewReader(data), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Ingest.Ingest(ctx, ingest.Object{Bucket: stack.Bucket, Key: key, ETag: info.ETag})
	if err != nil {
		t.Fatalf("ingest %s: %v", key, err)
	}
	if b.ExecutionID != "" {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if status, out, err := s.Engine.Wait(wctx, b.ExecutionID); err != nil || status != "SUCCEEDED" {
			t.Fatalf("execution of %s: %s %s %v", b.ID, status, out, err)
		}
	}
	s.Relay.Wait()
	if b, err = s.Store.GetBatch(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	return b
}

// credentialMails counts the outbox's credential emails by recipient.
func credentialMails(t *testing.T, s *stack.Stack) map[string]int {
	t.Helper()
	emls, err := filepath.Glob(filepath.Join(s.Config.OutboxDir(), "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, p := range emls {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if strings.Contains(m.Header.Get("X-SES-MESSAGE-TAGS")+m.Header.Get("Subject"), "Membership") {
			out[m.Header.Get("To")]++
		}
	}
	return out
}

// TestFailedRecipientsRoundTrip: two recipients bounce; the delivery report's workbook gets
// a corrected address for one of them in openpyxl (as a user's spreadsheet application saves
// it) and is uploaded back: a new batch sends that recipient's credential, with the original
// name and attributes, to the corrected address only. The same upload again sends nothing;
// a correction that is not an address is refused on the workbook's row and column.
func TestFailedRecipientsRoundTrip(t *testing.T) {
	s := openStack(t)
	ctx := t.Context()
	csv := "First Name,Last Name,Email,Member Number\n" +
		"Ann,Lee,success@simulator.amazonses.com,M-1\n" +
		"Bo,Ng,bounce+bo@simulator.amazonses.com,M-2\n" +
		"Cy,Oh,bounce+cy@simulator.amazonses.com,M-3\n"
	first := ingestFile(t, s, "uploads/member/cohort.csv", []byte(csv))
	if first.Counts.Bounced != 2 {
		t.Fatalf("first batch %s %+v; want two bounces", first.Status, first.Counts)
	}
	rep, err := s.Report.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.Report.Message(rep)
	if err != nil || len(msg.Attachments) != 1 {
		t.Fatalf("report message: %d attachments, %v", len(msg.Attachments), err)
	}
	failed := msg.Attachments[0].Data
	rows := externaltest.Openpyxl(t, failed)[report.FailedSheet]
	if len(rows) != 3 {
		t.Fatalf("failed-recipients workbook has %d rows; want header + 2", len(rows))
	}
	col := func(header string) int {
		for i, c := range rows[0] {
			if c.Text() == header {
				return i
			}
		}
		t.Fatalf("no column %q", header)
		return 0
	}
	emailCol, fixCol := col("Email"), col(report.CorrectedEmailHeader)
	ref := func(email string) string {
		t.Helper()
		for i, r := range rows {
			if r[emailCol].Text() == email {
				cell, _ := excelize.CoordinatesToCellName(fixCol+1, i+1)
				return cell
			}
		}
		t.Fatalf("%s is not in the workbook", email)
		return ""
	}
	before := credentialMails(t, s)
	if len(before) != 3 {
		t.Fatalf("credential emails before the correction: %v; want one to each of the three", before)
	}
	fixed := externaltest.OpenpyxlFill(t, failed, report.FailedSheet, map[string]string{
		ref("bounce+bo@simulator.amazonses.com"): "Success+Bo@simulator.amazonses.com"})

	second := ingestFile(t, s, "uploads/failed-recipients-fixed.xlsx", fixed)
	if second.Status != credbatch.BatchCompleted || second.Counts.Rows != 1 || second.Counts.Issued != 1 || second.Counts.Delivered != 1 {
		t.Fatalf("corrections batch %s %+v; want one row issued and delivered", second.Status, second.Counts)
	}
	creds, err := s.Store.ListCredentialsByBatch(ctx, second.ID, "", 10)
	if err != nil || len(creds.Items) != 1 {
		t.Fatalf("credentials of the corrections batch: %+v, %v", creds.Items, err)
	}
	c := creds.Items[0]
	if c.Email != "success+bo@simulator.amazonses.com" || c.Name != "Bo Ng" || c.DefinitionID != "member" || c.Attributes["Member Number"] != "M-2" {
		t.Errorf("corrected credential %+v; want Bo Ng's membership M-2 at the corrected address", c)
	}
	after := credentialMails(t, s)
	for to, n := range after {
		want := before[to]
		if strings.Contains(to, "success+bo@") {
			want++
		}
		if n != want {
			t.Errorf("%s has %d credential emails; want %d", to, n, want)
		}
	}
	if after["success+bo@simulator.amazonses.com"] != 1 {
		t.Errorf("the corrected address got %d emails; want 1 (outbox %v)", after["success+bo@simulator.amazonses.com"], after)
	}

	// The same object delivered again: the same batch, nothing sent.
	info, _ := s.Bucket.Head(ctx, "uploads/failed-recipients-fixed.xlsx")
	again, err := s.Ingest.Ingest(ctx, ingest.Object{Bucket: stack.Bucket, Key: "uploads/failed-recipients-fixed.xlsx", ETag: info.ETag})
	if err != nil || again.ID != second.ID {
		t.Fatalf("repeated ingest: %s, %v; want batch %s", again.ID, err, second.ID)
	}
	s.Relay.Wait()
	if got := credentialMails(t, s); len(got) != len(after) || got["success+bo@simulator.amazonses.com"] != 1 {
		t.Errorf("repeated ingest sent again: %v", got)
	}

	// A correction that is not an address, and one that is the address that failed.
	bad := externaltest.OpenpyxlFill(t, failed, report.FailedSheet, map[string]string{
		ref("bounce+bo@simulator.amazonses.com"): "bo at example",
		ref("bounce+cy@simulator.amazonses.com"): "bounce+cy@simulator.amazonses.com"})
	third := ingestFile(t, s, "uploads/failed-recipients-bad.xlsx", bad)
	if third.Counts.Rows != 2 || third.Counts.Invalid != 2 || third.Counts.Issued != 0 {
		t.Fatalf("bad corrections batch %s %+v; want two invalid rows, none issued", third.Status, third.Counts)
	}
	for _, email := range []string{"bounce+bo@simulator.amazonses.com", "bounce+cy@simulator.amazonses.com"} {
		cell := ref(email)
		_, n, _ := excelize.CellNameToCoordinates(cell)
		r, err := s.Store.GetRow(ctx, third.ID, n)
		if err != nil {
			t.Fatalf("row %d: %v", n, err)
		}
		if len(r.Findings) == 0 || r.Findings[0].Code != credbatch.CodeInvalidEmail || r.Findings[0].Column != report.CorrectedEmailHeader || r.Findings[0].Row != n {
			t.Errorf("row %d findings %+v; want invalid_email in %q at row %d", n, r.Findings, report.CorrectedEmailHeader, n)
		}
	}
	if got := credentialMails(t, s); len(got) != len(after) {
		t.Errorf("invalid corrections sent email: %v", got)
	}
}
