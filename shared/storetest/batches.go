package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

var batchTests = []namedTest{
	{"CreateAndGet", testBatchCreateGet},
	{"CreateConflict", testBatchCreateConflict},
	{"CreateNotReceived", testBatchCreateNotReceived},
	{"GetMissing", testBatchMissing},
	{"TransitionMatrix", testBatchTransitionMatrix},
	{"TransitionAppliesChange", testBatchTransitionChange},
	{"TransitionStale", testBatchTransitionStale},
	{"UpdateBatch", testBatchUpdate},
	{"AddCounts", testBatchAddCounts},
	{"AddCountsConcurrent", testBatchAddCountsConcurrent},
	{"ListNewestFirst", testBatchListOrder},
	{"ListFilters", testBatchListFilters},
	{"ListPaging", testBatchListPaging},
	{"ListPagingTies", testBatchListTies},
	{"RaceApprove", testBatchRaceApprove},
	{"RaceCreate", testBatchRaceCreate},
	{"UnicodeAndLargeValues", testBatchUnicode},
}

var allBatchStatuses = []credbatch.BatchStatus{
	credbatch.BatchReceived, credbatch.BatchParsed, credbatch.BatchNeedsMapping, credbatch.BatchRejected,
	credbatch.BatchAwaitingApproval, credbatch.BatchApproved, credbatch.BatchIssuing, credbatch.BatchPaused,
	credbatch.BatchCompleted, credbatch.BatchCompletedFailed, credbatch.BatchCancelled, credbatch.BatchExpired,
}

func newBatch(id string, created time.Time) credbatch.Batch {
	return credbatch.Batch{
		ID:    id,
		Label: "Spring cohort " + id,
		Source: credbatch.Source{Bucket: "uploads-bucket", Key: "uploads/" + id + ".xlsx",
			VersionID: "v1", ETag: "\"etag\""},
		Uploader: "alice@example.com",
		Status:   credbatch.BatchReceived,
		Format:   "xlsx",
		Options: credbatch.Options{DefinitionID: "course", DateOrder: credbatch.DateOrderDMY, Sheet: "Sheet1",
			Mapping: map[string]credbatch.Field{"E-mail": credbatch.FieldEmail, "Note": credbatch.FieldSkip}},
		Columns: []credbatch.Column{
			{Index: 0, Header: "First name", Field: credbatch.FieldFirstName},
			{Index: 1, Header: "E-mail", Field: credbatch.FieldEmail},
			{Index: 3, Header: "Score", Field: credbatch.AttributeField("Score")},
		},
		Definitions: map[string]int{"course": 3},
		Counts:      credbatch.Counts{Rows: 3, Valid: 2, Invalid: 1},
		Findings: []credbatch.Finding{{Row: 0, Column: "Extra", Code: credbatch.CodeUnknownColumns,
			Message: "column Extra is ignored", Severity: credbatch.SeverityWarning}},
		TaskToken: "task-token-1",
		CreatedAt: created,
		UpdatedAt: created,
	}
}

func mustCreateBatch(t *testing.T, s credbatch.Store, b credbatch.Batch) {
	t.Helper()
	if err := s.CreateBatch(t.Context(), b); err != nil {
		t.Fatalf("create batch %s: %v", b.ID, err)
	}
}

func testBatchCreateGet(t *testing.T, s credbatch.Store, _ Capabilities) {
	want := newBatch("b1", at(0))
	mustCreateBatch(t, s, want)
	got, err := s.GetBatch(t.Context(), "b1")
	must(t, err, "get")
	diff(t, "batch round trip", normBatch(got), normBatch(want))
	if got.TaskToken != "task-token-1" {
		t.Fatalf("task token: got %q, want it stored", got.TaskToken)
	}
}

func testBatchCreateConflict(t *testing.T, s credbatch.Store, _ Capabilities) {
	want := newBatch("b1", at(0))
	mustCreateBatch(t, s, want)
	other := newBatch("b1", at(5))
	other.Label = "other"
	wantKind(t, s.CreateBatch(t.Context(), other), credbatch.KindConflict, "second create")
	got, err := s.GetBatch(t.Context(), "b1")
	must(t, err, "get")
	diff(t, "first batch kept", normBatch(got), normBatch(want))
}

func testBatchCreateNotReceived(t *testing.T, s credbatch.Store, _ Capabilities) {
	b := newBatch("b1", at(0))
	b.Status = credbatch.BatchApproved
	wantKind(t, s.CreateBatch(t.Context(), b), credbatch.KindInvalid, "create approved batch")
	_, err := s.GetBatch(t.Context(), "b1")
	wantKind(t, err, credbatch.KindNotFound, "refused batch must not exist")
}

func testBatchMissing(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	_, err := s.GetBatch(ctx, "nope")
	wantKind(t, err, credbatch.KindNotFound, "get")
	_, err = s.TransitionBatch(ctx, "nope", credbatch.BatchReceived, credbatch.BatchParsed, credbatch.BatchChange{})
	wantKind(t, err, credbatch.KindNotFound, "transition")
	_, err = s.UpdateBatch(ctx, "nope", credbatch.BatchChange{})
	wantKind(t, err, credbatch.KindNotFound, "update")
	wantKind(t, s.AddCounts(ctx, "nope", credbatch.Counts{Sent: 1}), credbatch.KindNotFound, "add counts")
}

// pathTo returns the shortest chain of legal transitions from received to the status.
func pathTo(target credbatch.BatchStatus) []credbatch.BatchStatus {
	prev := map[credbatch.BatchStatus]credbatch.BatchStatus{}
	queue := []credbatch.BatchStatus{credbatch.BatchReceived}
	seen := map[credbatch.BatchStatus]bool{credbatch.BatchReceived: true}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == target {
			var path []credbatch.BatchStatus
			for s := cur; s != credbatch.BatchReceived; s = prev[s] {
				path = append([]credbatch.BatchStatus{s}, path...)
			}
			return path
		}
		for _, next := range allBatchStatuses {
			if !seen[next] && credbatch.CanTransition(cur, next) {
				seen[next] = true
				prev[next] = cur
				queue = append(queue, next)
			}
		}
	}
	return nil
}

// batchIn creates a batch and walks it through legal transitions to the status.
func batchIn(t *testing.T, s credbatch.Store, id string, status credbatch.BatchStatus) credbatch.Batch {
	t.Helper()
	b := newBatch(id, at(0))
	mustCreateBatch(t, s, b)
	from := credbatch.BatchReceived
	if status != from && pathTo(status) == nil {
		t.Fatalf("status %s is unreachable from received", status)
	}
	for _, to := range pathTo(status) {
		var err error
		b, err = s.TransitionBatch(t.Context(), id, from, to, credbatch.BatchChange{})
		if err != nil {
			t.Fatalf("walk %s: %s → %s: %v", id, from, to, err)
		}
		from = to
	}
	return b
}

func testBatchTransitionMatrix(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	n := 0
	for _, from := range allBatchStatuses {
		for _, to := range allBatchStatuses {
			n++
			id := fmt.Sprintf("m%03d", n)
			batchIn(t, s, id, from)
			legal := credbatch.CanTransition(from, to)
			got, err := s.TransitionBatch(ctx, id, from, to, credbatch.BatchChange{})
			after, gerr := s.GetBatch(ctx, id)
			must(t, gerr, "get after transition")
			if legal {
				if err != nil {
					t.Fatalf("%s → %s is legal: got %v", from, to, err)
				}
				if got.Status != to || after.Status != to {
					t.Fatalf("%s → %s: returned status %s, stored %s", from, to, got.Status, after.Status)
				}
				continue
			}
			wantKind(t, err, credbatch.KindConflict, fmt.Sprintf("illegal %s → %s", from, to))
			if after.Status != from {
				t.Fatalf("illegal %s → %s changed the status to %s", from, to, after.Status)
			}
		}
	}
}

func testBatchTransitionChange(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	b := batchIn(t, s, "b1", credbatch.BatchIssuing)
	str := func(v string) *string { return &v }
	yes := true
	counts := credbatch.Counts{Rows: 3, Valid: 3, Issued: 3, Sent: 3}
	findings := []credbatch.Finding{{Row: 2, Column: "Email", Code: credbatch.CodeInvalidEmail, Message: "bad", Severity: credbatch.SeverityError}}
	done := at(30)
	ch := credbatch.BatchChange{
		TaskToken: str("token-2"), ExecutionID: str("exec-1"), ApprovedBy: str("bob@example.com"),
		Reason: str("all good"), ReportKey: str("reports/b1.xlsx"), SkipInvalid: &yes,
		Counts: &counts, Findings: &findings, CompletedAt: &done,
	}
	got, err := s.TransitionBatch(ctx, "b1", credbatch.BatchIssuing, credbatch.BatchCompleted, ch)
	must(t, err, "transition")
	want := b
	want.Status = credbatch.BatchCompleted
	want.TaskToken, want.ExecutionID, want.ApprovedBy, want.Reason, want.ReportKey = "token-2", "exec-1", "bob@example.com", "all good", "reports/b1.xlsx"
	want.SkipInvalid = true
	want.Counts = counts.WithEmail(b.Counts) // email counters move only with email statuses
	want.Findings = findings
	want.CompletedAt = done
	diff(t, "returned batch", normBatch(got), normBatch(want))
	stored, err := s.GetBatch(ctx, "b1")
	must(t, err, "get")
	diff(t, "stored batch", normBatch(stored), normBatch(want))
	if stored.TaskToken != "token-2" {
		t.Fatalf("task token: got %q, want token-2", stored.TaskToken)
	}
	if stored.UpdatedAt.Before(b.UpdatedAt) || stored.UpdatedAt.IsZero() {
		t.Fatalf("updated_at went from %v to %v", b.UpdatedAt, stored.UpdatedAt)
	}
	// A change with nil fields leaves every field alone.
	got, err = s.UpdateBatch(ctx, "b1", credbatch.BatchChange{})
	must(t, err, "empty update")
	diff(t, "empty change", normBatch(got), normBatch(want))
}

func testBatchTransitionStale(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	batchIn(t, s, "b1", credbatch.BatchAwaitingApproval)
	reason := "should not be written"
	// Legal move, but the batch is no longer in `from`.
	_, err := s.TransitionBatch(ctx, "b1", credbatch.BatchParsed, credbatch.BatchApproved, credbatch.BatchChange{Reason: &reason})
	wantKind(t, err, credbatch.KindConflict, "stale from")
	got, err := s.GetBatch(ctx, "b1")
	must(t, err, "get")
	if got.Status != credbatch.BatchAwaitingApproval || got.Reason != "" {
		t.Fatalf("stale transition wrote: status %s reason %q", got.Status, got.Reason)
	}
}

func testBatchUpdate(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	b := batchIn(t, s, "b1", credbatch.BatchAwaitingApproval)
	str := func(v string) *string { return &v }
	no := false
	tests := []struct {
		name   string
		ch     credbatch.BatchChange
		mutate func(*credbatch.Batch)
	}{
		{"task token", credbatch.BatchChange{TaskToken: str("tok-9")}, func(b *credbatch.Batch) { b.TaskToken = "tok-9" }},
		{"reason and report", credbatch.BatchChange{Reason: str("changes requested"), ReportKey: str("reports/r.xlsx")},
			func(b *credbatch.Batch) { b.Reason, b.ReportKey = "changes requested", "reports/r.xlsx" }},
		{"skip invalid false", credbatch.BatchChange{SkipInvalid: &no}, func(b *credbatch.Batch) { b.SkipInvalid = false }},
		{"counts replace", credbatch.BatchChange{Counts: &credbatch.Counts{Rows: 10, Valid: 10}},
			func(b *credbatch.Batch) { b.Counts = credbatch.Counts{Rows: 10, Valid: 10} }},
		{"findings cleared", credbatch.BatchChange{Findings: &[]credbatch.Finding{}}, func(b *credbatch.Batch) { b.Findings = nil }},
		{"clear reason", credbatch.BatchChange{Reason: str("")}, func(b *credbatch.Batch) { b.Reason = "" }},
		{"header learned", credbatch.BatchChange{
			Columns:     &[]credbatch.Column{{Index: 0, Header: "E-mail", Field: credbatch.FieldEmail}, {Index: 2, Header: "Punkte", Field: "attribute:Score"}},
			Definitions: &map[string]int{"web-101": 3, "first-aid": 1}, Format: str("xlsx")},
			func(b *credbatch.Batch) {
				b.Columns = []credbatch.Column{{Index: 0, Header: "E-mail", Field: credbatch.FieldEmail}, {Index: 2, Header: "Punkte", Field: "attribute:Score"}}
				b.Definitions, b.Format = map[string]int{"web-101": 3, "first-aid": 1}, "xlsx"
			}},
	}
	want := b
	for _, tc := range tests {
		tc.mutate(&want)
		got, err := s.UpdateBatch(ctx, "b1", tc.ch)
		must(t, err, tc.name)
		diff(t, tc.name+": returned", normBatch(got), normBatch(want))
		stored, err := s.GetBatch(ctx, "b1")
		must(t, err, tc.name+": get")
		diff(t, tc.name+": stored", normBatch(stored), normBatch(want))
		if stored.TaskToken != want.TaskToken {
			t.Fatalf("%s: task token %q, want %q", tc.name, stored.TaskToken, want.TaskToken)
		}
		if stored.Status != credbatch.BatchAwaitingApproval {
			t.Fatalf("%s: update changed the status to %s", tc.name, stored.Status)
		}
	}
}

func testBatchAddCounts(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	b := newBatch("b1", at(0))
	mustCreateBatch(t, s, b)
	delta := credbatch.Counts{Rows: 1, Valid: 2, Invalid: 3, Issued: 4, Failed: 5, Revoked: 6, Sent: 7,
		Delivered: 8, Bounced: 9, Complained: 10, Suppressed: 11}
	must(t, s.AddCounts(ctx, "b1", delta), "add")
	must(t, s.AddCounts(ctx, "b1", credbatch.Counts{Sent: -2}), "add negative")
	got, err := s.GetBatch(ctx, "b1")
	must(t, err, "get")
	want := b.Counts.Add(delta).Add(credbatch.Counts{Sent: -2})
	diff(t, "counts", got.Counts, want)
}

func testBatchAddCountsConcurrent(t *testing.T, s credbatch.Store, c Capabilities) {
	ctx := t.Context()
	mustCreateBatch(t, s, newBatch("b1", at(0)))
	const each = 5
	n := c.racers()
	errs := race(n, func(int) error {
		for range each {
			if err := s.AddCounts(ctx, "b1", credbatch.Counts{Issued: 1, Sent: 2}); err != nil {
				return err
			}
		}
		return nil
	})
	for i, err := range errs {
		must(t, err, fmt.Sprintf("racer %d", i))
	}
	got, err := s.GetBatch(ctx, "b1")
	must(t, err, "get")
	want := credbatch.Counts{Rows: 3, Valid: 2, Invalid: 1, Issued: n * each, Sent: 2 * n * each}
	diff(t, "concurrent counts", got.Counts, want)
}

func ids(bs []credbatch.Batch) []string {
	out := []string{}
	for _, b := range bs {
		out = append(out, b.ID)
	}
	return out
}

func testBatchListOrder(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	// Created out of order; listed by CreatedAt, newest first.
	for _, tc := range []struct {
		id  string
		min int
	}{{"b2", 2}, {"b1", 1}, {"b4", 4}, {"b3", 3}} {
		mustCreateBatch(t, s, newBatch(tc.id, at(tc.min)))
	}
	p, err := s.ListBatches(ctx, credbatch.BatchFilter{})
	must(t, err, "list")
	diff(t, "newest first", ids(p.Items), []string{"b4", "b3", "b2", "b1"})
	if p.Next != "" {
		t.Fatalf("next: got %q, want no more pages", p.Next)
	}
}

func testBatchListFilters(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	fixtures := []struct {
		id, label string
		status    credbatch.BatchStatus
	}{
		{"b1", "Spring Cohort 2025", credbatch.BatchReceived},
		{"b2", "spring cohort 2024", credbatch.BatchParsed},
		{"b3", "Autumn intake", credbatch.BatchParsed},
		{"b4", "SPRING-cohort", credbatch.BatchCancelled},
		{"b5", "Ünïcode Spring", credbatch.BatchReceived},
		{"b6", "100%_done", credbatch.BatchReceived},
	}
	for i, f := range fixtures {
		b := newBatch(f.id, at(i))
		b.Label = f.label
		mustCreateBatch(t, s, b)
		for _, to := range pathTo(f.status) {
			_, err := s.TransitionBatch(ctx, f.id, b.Status, to, credbatch.BatchChange{})
			must(t, err, "walk")
			b.Status = to
		}
	}
	tests := []struct {
		name string
		f    credbatch.BatchFilter
		want []string
	}{
		{"all", credbatch.BatchFilter{}, []string{"b6", "b5", "b4", "b3", "b2", "b1"}},
		{"status parsed", credbatch.BatchFilter{Status: credbatch.BatchParsed}, []string{"b3", "b2"}},
		{"status expired", credbatch.BatchFilter{Status: credbatch.BatchExpired}, []string{}},
		{"label prefix any case", credbatch.BatchFilter{Label: "sPrInG"}, []string{"b4", "b2", "b1"}},
		{"label longer prefix", credbatch.BatchFilter{Label: "spring cohort 20"}, []string{"b2", "b1"}},
		{"label not infix", credbatch.BatchFilter{Label: "cohort"}, []string{}},
		{"label unicode case", credbatch.BatchFilter{Label: "ÜNÏ"}, []string{"b5"}},
		{"label wildcard chars are literal", credbatch.BatchFilter{Label: "100%_"}, []string{"b6"}},
		{"label percent literal", credbatch.BatchFilter{Label: "%"}, []string{}},
		{"label and status", credbatch.BatchFilter{Label: "spring", Status: credbatch.BatchReceived}, []string{"b1"}},
	}
	for _, tc := range tests {
		p, err := s.ListBatches(ctx, tc.f)
		must(t, err, tc.name)
		diff(t, tc.name, ids(p.Items), tc.want)
	}
}

func testBatchListPaging(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	const n = 23
	var want []string
	for i := n - 1; i >= 0; i-- {
		want = append(want, fmt.Sprintf("b%02d", i))
	}
	for i := range n {
		b := newBatch(fmt.Sprintf("b%02d", i), at(i))
		if i%2 == 1 {
			b.Label = "Odd batch"
		}
		mustCreateBatch(t, s, b)
	}
	tests := []struct {
		name  string
		f     credbatch.BatchFilter
		limit int
		want  []string
	}{
		{"page of 5", credbatch.BatchFilter{}, 5, want},
		{"page of 1", credbatch.BatchFilter{}, 1, want},
		{"default page", credbatch.BatchFilter{}, 0, want},
		{"label filter paged", credbatch.BatchFilter{Label: "odd"}, 4, filterStrings(want, func(id string) bool {
			var i int
			fmt.Sscanf(id, "b%d", &i)
			return i%2 == 1
		})},
	}
	for _, tc := range tests {
		got := collect(t, tc.name, tc.limit, func(cursor string, limit int) (credbatch.Page[credbatch.Batch], error) {
			f := tc.f
			f.Cursor, f.Limit = cursor, limit
			return s.ListBatches(ctx, f)
		})
		diff(t, tc.name, ids(got), tc.want)
	}
	_, err := s.ListBatches(ctx, credbatch.BatchFilter{Cursor: "not a cursor!"})
	wantKind(t, err, credbatch.KindInvalid, "bad cursor")
}

func filterStrings(in []string, keep func(string) bool) []string {
	out := []string{}
	for _, s := range in {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

func testBatchRaceApprove(t *testing.T, s credbatch.Store, c Capabilities) {
	ctx := t.Context()
	for round := range 5 {
		id := fmt.Sprintf("b%d", round)
		batchIn(t, s, id, credbatch.BatchAwaitingApproval)
		errs := race(c.racers(), func(i int) error {
			by := fmt.Sprintf("approver-%d", i)
			_, err := s.TransitionBatch(ctx, id, credbatch.BatchAwaitingApproval, credbatch.BatchApproved,
				credbatch.BatchChange{ApprovedBy: &by})
			return err
		})
		w := oneWinner(t, "approve "+id, errs)
		got, err := s.GetBatch(ctx, id)
		must(t, err, "get")
		if got.Status != credbatch.BatchApproved || got.ApprovedBy != fmt.Sprintf("approver-%d", w) {
			t.Fatalf("after race: status %s approved by %q, want approved by approver-%d", got.Status, got.ApprovedBy, w)
		}
	}
}

func testBatchRaceCreate(t *testing.T, s credbatch.Store, c Capabilities) {
	ctx := t.Context()
	for round := range 5 {
		id := fmt.Sprintf("b%d", round)
		errs := race(c.racers(), func(i int) error {
			b := newBatch(id, at(0))
			b.Label = fmt.Sprintf("racer-%d", i)
			return s.CreateBatch(ctx, b)
		})
		w := oneWinner(t, "create "+id, errs)
		got, err := s.GetBatch(ctx, id)
		must(t, err, "get")
		if got.Label != fmt.Sprintf("racer-%d", w) {
			t.Fatalf("after race: label %q, want racer-%d", got.Label, w)
		}
	}
}

func testBatchUnicode(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	b := newBatch("b1", at(0))
	long := longValue()
	b.Label = "Zoë's “batch” 日本語 🎓"
	b.Reason = long
	b.Options.Mapping = map[string]credbatch.Field{"Prénom": credbatch.FieldFirstName, long[:100]: credbatch.FieldSkip}
	b.Columns = append(b.Columns, credbatch.Column{Index: 9, Header: "Prénom 名", Field: credbatch.FieldFirstName})
	b.Findings[0].Message = long
	mustCreateBatch(t, s, b)
	got, err := s.GetBatch(ctx, "b1")
	must(t, err, "get")
	diff(t, "unicode batch", normBatch(got), normBatch(b))
	p, err := s.ListBatches(ctx, credbatch.BatchFilter{Label: strings.ToUpper("zoë's")})
	must(t, err, "list by unicode label")
	diff(t, "unicode label search", ids(p.Items), []string{"b1"})
}

// testBatchListTies pages through batches created at the same instant: the cursor must
// break ties so that none is skipped or repeated.
func testBatchListTies(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	const n = 12
	want := map[string]bool{}
	for i := range n {
		id := fmt.Sprintf("t%02d", i)
		mustCreateBatch(t, s, newBatch(id, at(i/4))) // 3 instants, 4 batches each
		want[id] = true
	}
	for _, limit := range []int{1, 2, 3, 5} {
		got := collect(t, "ties", limit, func(cursor string, l int) (credbatch.Page[credbatch.Batch], error) {
			return s.ListBatches(ctx, credbatch.BatchFilter{Cursor: cursor, Limit: l})
		})
		seen := map[string]bool{}
		for i, b := range got {
			if seen[b.ID] {
				t.Fatalf("limit %d: %s listed twice", limit, b.ID)
			}
			seen[b.ID] = true
			if i > 0 && b.CreatedAt.After(got[i-1].CreatedAt) {
				t.Fatalf("limit %d: %s (%v) after %s (%v): not newest first", limit, b.ID, b.CreatedAt, got[i-1].ID, got[i-1].CreatedAt)
			}
		}
		diff(t, fmt.Sprintf("limit %d: every batch once", limit), seen, want)
	}
}
