package report_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/externaltest"
	"github.com/credbatch/credbatch/shared/feedback"
	"github.com/credbatch/credbatch/shared/report"
	"github.com/credbatch/credbatch/shared/sesim"
	"github.com/credbatch/credbatch/shared/storetest/stores"
)

var t0 = time.Date(2025, 3, 4, 8, 0, 0, 0, time.UTC)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// mailbox is a Mailer that keeps what it sends, or fails while fail is set.
type mailbox struct {
	sent []credbatch.Message
	fail bool
}

func (m *mailbox) Send(_ context.Context, msg credbatch.Message) (string, error) {
	if m.fail {
		return "", credbatch.Errorf(credbatch.KindUnavailable, "mailer down")
	}
	m.sent = append(m.sent, msg)
	return "r", nil
}

// world is a store with batch b1 ("=Spring cohort", completed at t0+30m) and its credentials,
// plus a way to deliver simulated SES feedback at a given time.
type world struct {
	t     *testing.T
	store credbatch.Store
	n     int
}

func newWorld(t *testing.T, open func(*testing.T) credbatch.Store) *world {
	t.Helper()
	w := &world{t: t, store: open(t)}
	ctx := t.Context()
	if err := w.store.CreateBatch(ctx, credbatch.Batch{ID: "b1", Label: "=Spring cohort", Status: credbatch.BatchReceived, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	done := t0.Add(30 * time.Minute)
	if _, err := w.store.UpdateBatch(ctx, "b1", credbatch.BatchChange{CompletedAt: &done}); err != nil {
		t.Fatal(err)
	}
	return w
}

// send creates a credential at row `row` to addr whose email was sent, and feeds the
// simulator's events for it to the feedback service at time at.
func (w *world) send(row int, addr string, at time.Time) string {
	w.t.Helper()
	ctx := w.t.Context()
	w.n++
	id := fmt.Sprintf("c%02d", w.n)
	mid := id + "@credbatch.local"
	w.row(row)
	if err := w.store.CreateCredential(ctx, credbatch.Credential{ID: id, BatchID: "b1", RowNumber: row, Email: addr,
		EmailStatus: credbatch.EmailSent, MessageID: mid, IssuedAt: t0, SentAt: at}); err != nil {
		w.t.Fatal(err)
	}
	svc := &feedback.Service{Store: w.store, Clock: func() time.Time { return at }, Log: quiet}
	recs := sesim.Events(credbatch.Message{From: "noreply@example.org", To: []string{addr}, Tags: map[string]string{"credential_id": id, "batch_id": "b1"}}, mid, at)
	for _, r := range recs {
		if err := svc.HandleMessage(ctx, r.SNS.MessageID, r.SNS.Message); err != nil {
			w.t.Fatalf("feedback: %v", err)
		}
	}
	return id
}

// unsent creates a credential whose email was never sent (suppressed by us, or failed).
func (w *world) unsent(row int, addr string, status credbatch.EmailStatus, why string) string {
	w.t.Helper()
	w.n++
	w.row(row)
	id := fmt.Sprintf("c%02d", w.n)
	if err := w.store.CreateCredential(w.t.Context(), credbatch.Credential{ID: id, BatchID: "b1",
		RowNumber: row, Email: addr, EmailStatus: status, LastError: why, IssuedAt: t0}); err != nil {
		w.t.Fatal(err)
	}
	return id
}

// row stores row number n of b1 with a name ("Ada<n>", "=Lovelace" for row 3: a formula-like
// surname the workbook must neutralise).
func (w *world) row(n int) {
	w.t.Helper()
	last := "Lovelace"
	if n == 3 {
		last = "=Lovelace"
	}
	if err := w.store.PutRows(w.t.Context(), []credbatch.Row{{BatchID: "b1", Number: n, FirstName: fmt.Sprintf("Ada%d", n), LastName: last,
		Status: credbatch.RowIssued}}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) service(mb *mailbox, at time.Time) *report.Service {
	return &report.Service{Store: w.store, Mailer: mb, Clock: func() time.Time { return at }, Log: quiet,
		Config: report.Config{From: "reports@example.org", Admins: []string{"admin@example.org"}, BaseURL: "https://creds.example.org/", Lag: -1}}
}

// attachment reads the failed-recipients workbook back with openpyxl.
func attachment(t *testing.T, msg credbatch.Message) [][]externaltest.Cell {
	t.Helper()
	if len(msg.Attachments) != 1 || msg.Attachments[0].ContentType != report.XLSXType {
		t.Fatalf("attachments %d; want one workbook", len(msg.Attachments))
	}
	sheets := externaltest.Openpyxl(t, msg.Attachments[0].Data)
	rows, ok := sheets[report.FailedSheet]
	if !ok {
		t.Fatalf("no sheet %q in %v", report.FailedSheet, sheets)
	}
	return rows
}

// texts are the rows' cell values as text (trailing empty cells dropped).
func texts(rows [][]externaltest.Cell) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		for _, c := range r {
			out[i] = append(out[i], c.Text())
		}
		for len(out[i]) > 0 && out[i][len(out[i])-1] == "" {
			out[i] = out[i][:len(out[i])-1]
		}
	}
	return out
}

// column is the index of a header in the workbook's first row.
func column(t *testing.T, rows [][]externaltest.Cell, header string) int {
	t.Helper()
	for i, c := range rows[0] {
		if c.Text() == header {
			return i
		}
	}
	t.Fatalf("no column %q in %v", header, texts(rows[:1]))
	return -1
}

// bodies returns the text part and the HTML part reduced to its text, for checking that
// both say the same thing.
func bodies(msg credbatch.Message) (string, string) {
	h := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(msg.HTML, " ")
	return msg.Text, strings.Join(strings.Fields(html.UnescapeString(h)), " ")
}

func TestRunCountsAndAttachment(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			w := newWorld(t, be.Open)
			at := t0.Add(time.Hour)
			w.send(2, "success@simulator.amazonses.com", at)
			bounced := w.send(3, "bounce@simulator.amazonses.com", at)
			complained := w.send(4, "complaint@simulator.amazonses.com", at)
			sesSuppressed := w.send(5, "suppressionlist@simulator.amazonses.com", at)
			oldID := w.unsent(6, "old@example.com", credbatch.EmailSuppressed, "address is on the suppression list")
			badID := w.unsent(7, "bad@example.com", credbatch.EmailFailed, "address refused")
			w.n++
			if err := w.store.CreateCredential(t.Context(), credbatch.Credential{ID: "pending", BatchID: "b1",
				RowNumber: 8, Email: "slow@example.com", EmailStatus: credbatch.EmailSent, MessageID: "m8", IssuedAt: t0}); err != nil {
				t.Fatal(err)
			}
			mb := &mailbox{}
			rep, err := w.service(mb, t0.Add(2*time.Hour)).Run(t.Context())
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if !rep.Sent || len(mb.sent) != 1 || len(rep.Batches) != 1 {
				t.Fatalf("sent %v, %d emails, %d batches; want one email about one batch", rep.Sent, len(mb.sent), len(rep.Batches))
			}
			sum0 := rep.Batches[0]
			want := report.BatchSummary{BatchID: "b1", Label: "=Spring cohort", Status: credbatch.BatchReceived, Issued: 7, Sent: 4, // SES's suppression-list refusal counts as suppressed, as in the batch's counters
				Delivered: 2, Bounced: 1, Complained: 1, Suppressed: 2, Failed: 1, Pending: 1}
			gotCounts := []int{sum0.Issued, sum0.Sent, sum0.Delivered, sum0.Bounced, sum0.Complained, sum0.Suppressed, sum0.Failed, sum0.Pending}
			wantCounts := []int{want.Issued, want.Sent, want.Delivered, want.Bounced, want.Complained, want.Suppressed, want.Failed, want.Pending}
			if show(gotCounts) != show(wantCounts) {
				t.Errorf("issued,sent,delivered,bounced,complained,suppressed,failed,pending = %v, want %v", gotCounts, wantCounts)
			}
			if sum0.BounceRate != 0.25 || sum0.ComplaintRate != 0.25 || len(sum0.Warnings) != 2 {
				t.Errorf("rates %v/%v, warnings %q; want 0.25/0.25 and two warnings", sum0.BounceRate, sum0.ComplaintRate, sum0.Warnings)
			}
			if sum0.BounceTypes["Permanent/General"] != 1 || sum0.URL != "https://creds.example.org/batches/b1" {
				t.Errorf("bounce types %v, url %q", sum0.BounceTypes, sum0.URL)
			}
			msg := mb.sent[0]
			if want := "Delivery report, 4 March 2025: 5 recipients need attention, 2 warnings"; msg.Subject != want || msg.To[0] != "admin@example.org" {
				t.Errorf("subject %q to %v; want %q", msg.Subject, msg.To, want)
			}
			text, htmlText := bodies(msg)
			for _, want := range []string{
				"Delivery report: 3 March 2025, 10:00 to 4 March 2025, 10:00 UTC (1 day)",
				"5 recipients need attention",
				report.ProblemBadAddress.Title() + " (1)", "Next step: " + report.ProblemBadAddress.NextStep(),
				"Ada3 =Lovelace <bounce@simulator.amazonses.com>, row 3 of =Spring cohort",
				report.ProblemSuppressed.Title() + " (2)",
				"Ada5 Lovelace <suppressionlist@simulator.amazonses.com>, row 5 of =Spring cohort",
				"Ada6 Lovelace <old@example.com>, row 6 of =Spring cohort",
				report.ProblemNotSent.Title() + " (1)", "Ada7 Lovelace <bad@example.com>, row 7",
				report.ProblemComplaint.Title() + " (1)", "Next step: " + report.ProblemComplaint.NextStep(),
				"Ada4 Lovelace <complaint@simulator.amazonses.com>, row 4",
				"Batch =Spring cohort (b1): received",
				"7 credentials issued, 4 emails sent, 2 delivered, 1 bounced, 1 spam complaint, 2 on the suppression list, 1 refused by the mail service, 1 waiting for the mail service's answer.",
				"Bounce rate 25 %, complaint rate 25 %",
				"bounce rate 25 % is at or above SES's review threshold of 5 %",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("text part lacks %q:\n%s", want, text)
				}
				if !strings.Contains(htmlText, strings.Join(strings.Fields(want), " ")) {
					t.Errorf("HTML part lacks %q:\n%s", want, htmlText)
				}
			}
			if !strings.Contains(text, "Open the batch: https://creds.example.org/batches/b1") ||
				!strings.Contains(msg.HTML, `<a href="https://creds.example.org/batches/b1">Open the batch</a>`) {
				t.Errorf("no link to the console's batch page:\n%s\n%s", text, msg.HTML)
			}
			for _, bad := range []string{"(s)", "(es)", "h0m", "0s"} {
				if strings.Contains(msg.Subject+text+htmlText, bad) {
					t.Errorf("report says %q:\n%s", bad, text)
				}
			}
			rows := attachment(t, msg)
			wantRows := [][]string{
				report.Headers,
				{"b1", "'=Spring cohort", "3", "Ada3", "'=Lovelace", "bounce@simulator.amazonses.com", "",
					"Bounced: the address does not exist or refuses mail (Permanent/General)", report.ProblemBadAddress.NextStep(),
					sesim.BounceDiagnostic, bounced, "2025-03-04T09:00:01"},
				{"b1", "'=Spring cohort", "4", "Ada4", "Lovelace", "complaint@simulator.amazonses.com", "",
					"Marked as spam by the recipient", report.ProblemComplaint.NextStep(), "complaint: abuse", complained, "2025-03-04T09:00:03"},
				{"b1", "'=Spring cohort", "5", "Ada5", "Lovelace", "suppressionlist@simulator.amazonses.com", "",
					"Not delivered: the address is on the account's suppression list (Permanent/OnAccountSuppressionList)", report.ProblemSuppressed.NextStep(),
					sesim.SuppressionDiagnostic, sesSuppressed, "2025-03-04T09:00:00"},
				{"b1", "'=Spring cohort", "6", "Ada6", "Lovelace", "old@example.com", "",
					"Not sent: the address is on the suppression list (it bounced or complained before)", report.ProblemSuppressed.NextStep(),
					"address is on the suppression list", oldID},
				{"b1", "'=Spring cohort", "7", "Ada7", "Lovelace", "bad@example.com", "",
					"Not sent: the mail service refused the message", report.ProblemNotSent.NextStep(), "address refused", badID},
			}
			got := texts(rows)
			for i := 4; i < len(got); i++ {
				got[i] = got[i][:min(len(got[i]), 11)] // the time is the store's own (updated or issued)
			}
			if show(got) != show(wantRows) {
				t.Errorf("attachment rows\n got %q\nwant %q", got, wantRows)
			}
			rowCol, timeCol := column(t, rows, "Row"), column(t, rows, "Time (UTC)")
			for i, r := range rows[1:] {
				if r[rowCol].Type != "n" || r[timeCol].Value == nil || r[timeCol].Type != "d" && !r[timeCol].IsDate {
					t.Errorf("row %d: Row cell %+v, time cell %+v; want a number and a date", i+2, r[rowCol], r[timeCol])
				}
			}
			sum, err := w.service(mb, t0).Summary(t.Context(), "b1")
			if err != nil || sum.Sent != 4 || sum.Bounced != 1 || sum.Mismatch != nil {
				t.Errorf("Summary: %+v, %v", sum, err)
			}
			if _, err := w.service(mb, t0).Summary(t.Context(), "nope"); !credbatch.IsKind(err, credbatch.KindNotFound) {
				t.Errorf("Summary of a missing batch: %v; want not found", err)
			}
		})
	}
}

func TestRunWatermark(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := t.Context()
			w := newWorld(t, be.Open)
			mb := &mailbox{}
			w.send(2, "bounce+one@simulator.amazonses.com", t0.Add(time.Hour))
			run1 := t0.Add(2 * time.Hour)
			rep, err := w.service(mb, run1).Run(ctx)
			if err != nil || !rep.Sent || len(rep.Failed) != 1 || !rep.From.Equal(run1.Add(-24*time.Hour)) || !rep.To.Equal(run1) {
				t.Fatalf("first run: %+v, %v", rep, err)
			}
			// Same time again: nothing new, no email.
			rep, err = w.service(mb, run1).Run(ctx)
			if err != nil || rep.Sent || rep.Skipped == "" || len(mb.sent) != 1 {
				t.Fatalf("repeated run: %+v, %v; want skipped", rep, err)
			}
			// Newer events only in the second run.
			w.send(3, "bounce+two@simulator.amazonses.com", run1.Add(10*time.Minute))
			run2 := run1.Add(time.Hour)
			rep, err = w.service(mb, run2).Run(ctx)
			if err != nil || !rep.Sent || !rep.From.Equal(run1) {
				t.Fatalf("second run: %+v, %v", rep, err)
			}
			if len(rep.Failed) != 1 || rep.Failed[0].Email != "bounce+two@simulator.amazonses.com" || rep.Events != 2 {
				t.Errorf("second run failures %+v, %d events; want only bounce+two and its 2 events", rep.Failed, rep.Events)
			}
			// A concurrent run that read the old watermark loses the claim and sends nothing.
			stale := &staleMark{Store: w.store, mark: run1}
			s := w.service(mb, run2.Add(time.Minute))
			s.Store = stale
			rep, err = s.Run(ctx)
			if err != nil || rep.Sent || rep.Skipped == "" || len(mb.sent) != 2 {
				t.Errorf("losing concurrent run: %+v, %v (%d emails); want skipped without email", rep, err, len(mb.sent))
			}
			// Sending fails after the claim: the watermark moves back, the next run reports it.
			w.send(4, "bounce+three@simulator.amazonses.com", run2.Add(10*time.Minute))
			mb.fail = true
			run3 := run2.Add(time.Hour)
			if _, err := w.service(mb, run3).Run(ctx); err == nil {
				t.Fatal("run with a failing mailer: no error")
			}
			if m, err := w.store.GetMark(ctx, report.MarkName); err != nil || !m.Equal(run2) {
				t.Fatalf("watermark after a failed send: %v, %v; want %v", m, err, run2)
			}
			mb.fail = false
			rep, err = w.service(mb, run3.Add(time.Minute)).Run(ctx)
			if err != nil || !rep.Sent || len(rep.Failed) != 1 || rep.Failed[0].Email != "bounce+three@simulator.amazonses.com" {
				t.Errorf("run after the failure: %+v, %v; want bounce+three reported", rep, err)
			}
		})
	}
}

func TestRunEmpty(t *testing.T) {
	tests := []struct {
		name      string
		sendEmpty bool
		wantSent  bool
	}{
		{"no email when nothing happened", false, false},
		{"SendEmpty sends anyway", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := stores.SQLite(t)
			mb := &mailbox{}
			s := &report.Service{Store: store, Mailer: mb, Clock: func() time.Time { return t0 }, Log: quiet,
				Config: report.Config{From: "r@example.org", Admins: []string{"a@example.org"}, SendEmpty: tc.sendEmpty}}
			rep, err := s.Run(t.Context())
			if err != nil || rep.Sent != tc.wantSent || (len(mb.sent) == 1) != tc.wantSent {
				t.Fatalf("run: %+v, %v, %d emails; want sent=%v", rep, err, len(mb.sent), tc.wantSent)
			}
			if !rep.To.Equal(t0.Add(-report.DefaultLag)) {
				t.Errorf("window end %v; want now less the default lag", rep.To)
			}
			if tc.wantSent && len(mb.sent[0].Attachments) != 0 {
				t.Errorf("empty report has an attachment")
			}
			if m, err := store.GetMark(t.Context(), report.MarkName); err != nil || !m.Equal(rep.To) {
				t.Errorf("watermark %v, %v; want %v", m, err, rep.To)
			}
		})
	}
}

// staleMark is a store whose GetMark returns an old value, as a concurrent run would see it.
type staleMark struct {
	credbatch.Store
	mark time.Time
}

func (s *staleMark) GetMark(context.Context, string) (time.Time, error) { return s.mark, nil }

func show(v any) string { return fmt.Sprintf("%q", v) }

// TestRunReconciles: a batch whose stored counters drifted from its credentials (a crash
// between a status move and its count) is flagged in the report (a warning naming both
// figures), its figures are the credentials', and once its credentials have been quiet for
// credbatch.QuietPeriod the counters are corrected.
func TestRunReconciles(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			w := newWorld(t, be.Open)
			at := t0.Add(time.Hour)
			w.send(2, "success@simulator.amazonses.com", at)
			w.send(3, "success@simulator.amazonses.com", at)
			mb := &mailbox{}
			sum, err := w.service(mb, t0).Summary(t.Context(), "b1")
			if err != nil || sum.Mismatch != nil || sum.Delivered != 2 {
				t.Fatalf("before the drift: %+v, %v", sum, err)
			}
			// The drift the issue reports: a lost update left delivered one short.
			if err := w.store.AddCounts(t.Context(), "b1", credbatch.Counts{Delivered: -1}); err != nil {
				t.Fatal(err)
			}
			rep, err := w.service(mb, t0.Add(2*time.Hour)).Run(t.Context())
			if err != nil || len(rep.Batches) != 1 {
				t.Fatalf("run: %+v, %v", rep, err)
			}
			got := rep.Batches[0]
			if got.Mismatch == nil || got.Mismatch.Stored.Delivered != 1 || got.Mismatch.Truth.Delivered != 2 || got.Delivered != 2 {
				t.Fatalf("mismatch %+v, delivered %d; want stored 1, credentials 2", got.Mismatch, got.Delivered)
			}
			if !strings.Contains(mb.sent[0].Text, "counts check failed") || !strings.Contains(mb.sent[0].Text, "delivered 1") {
				t.Errorf("report text does not flag the difference:\n%s", mb.sent[0].Text)
			}
			// Corrected only once the credentials have been quiet for QuietPeriod: before
			// that, the difference may be a move whose count is still being written.
			var changed time.Time
			for c, err := range credbatch.BatchCredentials(t.Context(), w.store, "b1") {
				if err != nil {
					t.Fatal(err)
				}
				if c.UpdatedAt.After(changed) {
					changed = c.UpdatedAt
				}
			}
			if got.Mismatch.Corrected && t0.Add(2*time.Hour).Sub(changed) < credbatch.QuietPeriod {
				t.Fatalf("corrected %v after the last change; want a quiet period of %v first", t0.Add(2*time.Hour).Sub(changed), credbatch.QuietPeriod)
			}
			for _, tc := range []struct {
				name          string
				at            time.Time
				wantMismatch  bool
				wantCorrected bool
			}{
				{"just before the quiet period ends", changed.Add(credbatch.QuietPeriod - time.Second), true, false},
				{"after it", changed.Add(credbatch.QuietPeriod), true, true},
				{"then", changed.Add(credbatch.QuietPeriod + time.Hour), false, false},
			} {
				sum, err := w.service(mb, tc.at).Summary(t.Context(), "b1")
				if err != nil || (sum.Mismatch != nil) != tc.wantMismatch || (sum.Mismatch != nil && sum.Mismatch.Corrected != tc.wantCorrected) || sum.Delivered != 2 {
					t.Fatalf("%s: mismatch %+v, delivered %d, %v; want mismatch %v corrected %v", tc.name, sum.Mismatch, sum.Delivered, err, tc.wantMismatch, tc.wantCorrected)
				}
			}
			b, err := w.store.GetBatch(t.Context(), "b1")
			if err != nil || b.Counts.Delivered != 2 {
				t.Fatalf("stored delivered %d, %v after the correction; want 2", b.Counts.Delivered, err)
			}
		})
	}
}

// TestReportNamesFailedRecipients: the body names the first report.BodyNames failed
// recipients, grouped by problem, and points to the workbook for the rest, which lists all;
// counts are said with their plurals.
func TestReportNamesFailedRecipients(t *testing.T) {
	tests := []struct {
		name        string
		failed      int
		wantSubject string
		wantMore    string
	}{
		{"one", 1, "Delivery report, 4 March 2025: 1 recipient needs attention", ""},
		{"more than the body names", report.BodyNames + 5, "Delivery report, 4 March 2025: 25 recipients need attention", "5 more in the attached workbook"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, stores.SQLite)
			for i := range tc.failed {
				w.unsent(i+2, fmt.Sprintf("r%02d@example.com", i), credbatch.EmailFailed, "refused")
			}
			mb := &mailbox{}
			rep, err := w.service(mb, t0.Add(2*time.Hour)).Run(t.Context())
			if err != nil || !rep.Sent {
				t.Fatalf("run: %+v, %v", rep, err)
			}
			msg := mb.sent[0]
			if msg.Subject != tc.wantSubject {
				t.Errorf("subject %q; want %q", msg.Subject, tc.wantSubject)
			}
			text, htmlText := bodies(msg)
			named := strings.Count(text, "  - ")
			if want := min(tc.failed, report.BodyNames); named != want {
				t.Errorf("text names %d recipients; want %d:\n%s", named, want, text)
			}
			if !strings.Contains(text, fmt.Sprintf("%s (%d)", report.ProblemNotSent.Title(), tc.failed)) {
				t.Errorf("group heading does not count %d:\n%s", tc.failed, text)
			}
			if tc.wantMore != "" && (!strings.Contains(text, tc.wantMore) || !strings.Contains(htmlText, tc.wantMore)) {
				t.Errorf("no %q in both parts:\n%s\n%s", tc.wantMore, text, htmlText)
			}
			if tc.wantMore == "" && strings.Contains(text, "more in the attached") {
				t.Errorf("says more than there are:\n%s", text)
			}
			if rows := attachment(t, msg); len(rows) != tc.failed+1 {
				t.Errorf("workbook has %d rows; want the header and %d", len(rows), tc.failed)
			}
		})
	}
}

// TestFailuresLatestPerCredential: a credential is listed once, with its latest failure, and
// not at all once its email is no longer failing (resent and delivered).
func TestFailuresLatestPerCredential(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := t.Context()
			w := newWorld(t, be.Open)
			at := t0.Add(time.Hour)
			creds := []credbatch.Credential{
				{ID: "twice", BatchID: "b1", RowNumber: 2, Email: "twice@example.com", EmailStatus: credbatch.EmailBounced, MessageID: "m2", IssuedAt: t0},
				{ID: "fixed", BatchID: "b1", RowNumber: 3, Email: "fixed@example.com", EmailStatus: credbatch.EmailDelivered, MessageID: "m3b", IssuedAt: t0},
			}
			for _, c := range creds {
				w.row(c.RowNumber)
				if err := w.store.CreateCredential(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			for i, d := range []credbatch.Delivery{
				{CredentialID: "twice", MessageID: "m2", Email: "twice@example.com", Event: credbatch.EventBounce, BounceType: "Transient", BounceSubType: "MailboxFull", At: at},
				{CredentialID: "twice", MessageID: "m2", Email: "twice@example.com", Event: credbatch.EventBounce, BounceType: "Permanent", BounceSubType: "General", At: at.Add(time.Minute)},
				{CredentialID: "fixed", MessageID: "m3", Email: "fixed@example.com", Event: credbatch.EventBounce, BounceType: "Permanent", BounceSubType: "General", At: at},
			} {
				d.ID, d.BatchID, d.RecordedAt = fmt.Sprintf("d%d", i), "b1", d.At
				if _, err := w.store.RecordDelivery(ctx, d); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := w.service(&mailbox{}, t0.Add(2*time.Hour)).Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Failed) != 1 || rep.Failed[0].CredentialID != "twice" || rep.Failed[0].Problem != report.ProblemBadAddress ||
				rep.Failed[0].FirstName != "Ada2" {
				t.Errorf("failed %+v; want only credential twice, as a wrong address, with its name", rep.Failed)
			}
		})
	}
}

// TestWindowCountsCredentialEmailsOnly: events of notifications tagged with the batch (its
// approval request, its summary) are not counted as the batch's sends and deliveries (the
// "Delivery 18 / Send 19 for 14 sent" of issue 16), and a bounced notification is not listed
// among the failed recipients.
func TestWindowCountsCredentialEmailsOnly(t *testing.T) {
	w := newWorld(t, stores.SQLite)
	ctx := t.Context()
	at := t0.Add(time.Hour)
	w.send(2, "success@simulator.amazonses.com", at)
	svc := &feedback.Service{Store: w.store, Clock: func() time.Time { return at }, Log: quiet}
	for i, to := range []string{"success+admin@simulator.amazonses.com", "bounce+admin@simulator.amazonses.com"} {
		summary := credbatch.Message{From: "noreply@example.org", To: []string{to}, Tags: map[string]string{"batch_id": "b1", "kind": "summary"}}
		for _, r := range sesim.Events(summary, fmt.Sprintf("summary-%d@credbatch.local", i), at) {
			if err := svc.HandleMessage(ctx, r.SNS.MessageID, r.SNS.Message); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep, err := w.service(&mailbox{}, t0.Add(2*time.Hour)).Run(ctx)
	if err != nil || len(rep.Batches) != 1 {
		t.Fatalf("run: %+v, %v", rep, err)
	}
	if got := rep.Batches[0].Window; got[credbatch.EventSend] != 1 || got[credbatch.EventDelivery] != 1 {
		t.Errorf("window %v; want the one credential email's send and delivery", got)
	}
	if rep.Events != 6 {
		t.Errorf("%d events; want all 6 (the notifications' too)", rep.Events)
	}
	if len(rep.Failed) != 0 {
		t.Errorf("failed %+v; a bounced notification is not a recipient to correct", rep.Failed)
	}
}

// TestWindowSendsFromCredentials: the configuration set publishes no Send events, so a
// batch's sends in the window are its credentials' SentAt in it; a Send event (from a stack
// deployed before) is not counted on top.
func TestWindowSendsFromCredentials(t *testing.T) {
	w := newWorld(t, stores.SQLite)
	ctx := t.Context()
	in, before := t0.Add(time.Hour), t0.Add(-48*time.Hour) // the first report covers the 24 hours before it
	svc := &feedback.Service{Store: w.store, Clock: func() time.Time { return in }, Log: quiet}
	for i, sent := range []time.Time{in, in, before} {
		w.row(i + 2)
		id := fmt.Sprintf("s%d", i)
		mid := id + "@credbatch.local"
		if err := w.store.CreateCredential(ctx, credbatch.Credential{ID: id, BatchID: "b1", RowNumber: i + 2, Email: "success@simulator.amazonses.com",
			EmailStatus: credbatch.EmailSent, MessageID: mid, IssuedAt: t0, SentAt: sent}); err != nil {
			t.Fatal(err)
		}
		for _, r := range sesim.Events(credbatch.Message{From: "noreply@example.org", To: []string{"success@simulator.amazonses.com"},
			Tags: map[string]string{"credential_id": id, "batch_id": "b1"}}, mid, in) {
			if i < 2 && strings.Contains(r.SNS.Message, `"eventType":"Send"`) {
				continue // not published; the third's is (as by a stack deployed before), for a send before the window
			}
			if err := svc.HandleMessage(ctx, r.SNS.MessageID, r.SNS.Message); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep, err := w.service(&mailbox{}, t0.Add(2*time.Hour)).Run(ctx)
	if err != nil || len(rep.Batches) != 1 {
		t.Fatalf("run: %+v, %v", rep, err)
	}
	if got := rep.Batches[0].Window; got[credbatch.EventSend] != 2 || got[credbatch.EventDelivery] != 3 {
		t.Errorf("window %v; want 2 sends (the credentials sent in it) and 3 deliveries", got)
	}
}

// TestReportPeriodInZone: the period and the subject's day are written in the schedule's zone.
func TestReportPeriodInZone(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	s := &report.Service{Config: report.Config{From: "r@example.org", Admins: []string{"a@example.org"}, Location: paris}}
	msg, err := s.Message(report.Report{From: time.Date(2025, 3, 3, 23, 30, 0, 0, time.UTC), To: time.Date(2025, 3, 4, 23, 30, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if want := "Delivery report: 4 March 2025, 00:30 to 5 March 2025, 00:30 CET (1 day)"; !strings.Contains(msg.Text, want) {
		t.Errorf("text lacks %q:\n%s", want, msg.Text)
	}
	if !strings.HasPrefix(msg.Subject, "Delivery report, 5 March 2025:") {
		t.Errorf("subject %q; want the day in Paris", msg.Subject)
	}
}

// TestWindowDeliveriesFromCredentials: feedback stamps a credential with its Delivery event
// (DeliveredAt) instead of recording the event, so a window's deliveries are counted from the
// credentials, and a batch whose only activity in a window was deliveries is still in that
// window's report (its counters moved in it): here the sends are in one window and the
// deliveries in the next, on the real clock the stores stamp UpdatedAt with. A Delivery
// recorded before DeliveredAt existed still counts once; the next, quiet window is empty.
func TestWindowDeliveriesFromCredentials(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := t.Context()
			store := be.Open(t)
			start := time.Now().UTC()
			if err := store.CreateBatch(ctx, credbatch.Batch{ID: "b2", Label: "Autumn", Status: credbatch.BatchReceived, CreatedAt: start, UpdatedAt: start}); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for i := range 3 {
				id := fmt.Sprintf("d%d", i)
				ids = append(ids, id)
				if err := store.CreateCredential(ctx, credbatch.Credential{ID: id, BatchID: "b2", RowNumber: i + 2, Email: "success@simulator.amazonses.com",
					EmailStatus: credbatch.EmailSent, MessageID: id + "@credbatch.local", IssuedAt: start, SentAt: start}); err != nil {
					t.Fatal(err)
				}
			}
			mb := &mailbox{}
			run := func(at time.Time) report.Report {
				t.Helper()
				s := &report.Service{Store: store, Mailer: mb, Clock: func() time.Time { return at }, Log: quiet,
					Config: report.Config{From: "reports@example.org", Admins: []string{"admin@example.org"}, Lag: -1}}
				rep, err := s.Run(ctx)
				if err != nil {
					t.Fatalf("run at %v: %v", at, err)
				}
				return rep
			}
			later := func() time.Time { time.Sleep(2 * time.Millisecond); return time.Now().UTC() }

			run1 := later()
			rep := run(run1)
			if len(rep.Batches) != 1 || show(rep.Batches[0].Window) != show(map[credbatch.EventType]int{credbatch.EventSend: 3}) {
				t.Fatalf("first window: batches %+v; want b2 with its 3 sends", rep.Batches)
			}

			// The deliveries, after the first window: two stamped by feedback, one recorded
			// as feedback did before DeliveredAt (no stamp; its status moved then).
			time.Sleep(2 * time.Millisecond)
			svc := &feedback.Service{Store: store, Log: quiet}
			for _, id := range ids[:2] {
				for _, r := range sesim.Events(credbatch.Message{From: "noreply@example.org", To: []string{"success@simulator.amazonses.com"},
					Tags: map[string]string{"credential_id": id, "batch_id": "b2"}}, id+"@credbatch.local", time.Now()) {
					if strings.Contains(r.SNS.Message, `"eventType":"Send"`) {
						continue // the configuration set publishes no Send events
					}
					if err := svc.HandleMessage(ctx, r.SNS.MessageID, r.SNS.Message); err != nil {
						t.Fatal(err)
					}
				}
			}
			if _, err := store.SetEmailStatus(ctx, ids[2], []credbatch.EmailStatus{credbatch.EmailSent}, credbatch.EmailDelivered, credbatch.EmailChange{}); err != nil {
				t.Fatal(err)
			}
			if _, err := store.RecordDelivery(ctx, credbatch.Delivery{ID: "legacy", CredentialID: ids[2], BatchID: "b2", MessageID: ids[2] + "@credbatch.local",
				Email: "success@simulator.amazonses.com", Event: credbatch.EventDelivery, At: time.Now().UTC(), RecordedAt: time.Now().UTC()}); err != nil {
				t.Fatal(err)
			}
			if ds, err := store.ListDeliveries(ctx, run1, time.Now().Add(time.Hour), "", 0); err != nil || len(ds.Items) != 1 {
				t.Fatalf("deliveries recorded %+v, %v; want only the legacy one", ds.Items, err)
			}

			run2 := later()
			rep = run(run2)
			if rep.Empty() || !rep.Sent || rep.Events != 3 {
				t.Fatalf("second window: empty %v, sent %v, %d events; want a report of 3 deliveries", rep.Empty(), rep.Sent, rep.Events)
			}
			if len(rep.Batches) != 1 || rep.Batches[0].BatchID != "b2" || show(rep.Batches[0].Window) != show(map[credbatch.EventType]int{credbatch.EventDelivery: 3}) ||
				rep.Batches[0].Delivered != 3 || rep.Batches[0].Sent != 3 {
				t.Fatalf("second window: batches %+v; want b2 with 3 deliveries in it (3 sent, 3 delivered in all)", rep.Batches)
			}
			text, htmlText := bodies(mb.sent[len(mb.sent)-1])
			for _, want := range []string{"In this period: 3 deliveries.", "3 feedback events from the mail service in this period."} {
				if !strings.Contains(text, want) || !strings.Contains(htmlText, want) {
					t.Errorf("report lacks %q:\n%s", want, text)
				}
			}

			rep = run(later())
			if !rep.Empty() || rep.Sent {
				t.Errorf("third window: %+v; want empty, no email", rep)
			}
		})
	}
}
