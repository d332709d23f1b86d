package storetest

import (
	"fmt"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

var rowTests = []namedTest{
	{"PutAndGet", testRowPutGet},
	{"PutIdempotent", testRowPutIdempotent},
	{"PutManyBatches", testRowPutManyBatches},
	{"GetMissing", testRowMissing},
	{"DeleteRows", testRowDelete},
	{"ListFilters", testRowListFilters},
	{"ListPagingLarge", testRowPagingLarge},
	{"ListLimits", testRowListLimits},
	{"UpdateRow", testRowUpdate},
	{"UpdateRowIllegal", testRowUpdateIllegal},
	{"UpdateRowEvidence", testRowUpdateEvidence},
	{"UnicodeAndLargeValues", testRowUnicode},
}

var allRowStatuses = []credbatch.RowStatus{
	credbatch.RowValid, credbatch.RowInvalid, credbatch.RowIssuing, credbatch.RowIssued,
	credbatch.RowFailed, credbatch.RowRevoked, credbatch.RowSkipped,
}

func newRow(batchID string, number int) credbatch.Row {
	return credbatch.Row{
		BatchID:      batchID,
		Number:       number,
		DefinitionID: "course",
		FirstName:    "Ada",
		LastName:     fmt.Sprintf("Lovelace %d", number),
		Email:        fmt.Sprintf("ada%d@example.com", number),
		IssueDate:    "2025-03-01",
		ExpiryDate:   "2027-03-01",
		Attributes:   map[string]string{"Score": "97", "Level": "Advanced"},
		Cells:        []string{"Ada", fmt.Sprintf("ada%d@example.com", number), "", "97"},
		Status:       credbatch.RowValid,
	}
}

// invalidRow returns a row with blocking findings of the codes.
func invalidRow(batchID string, number int, codes ...string) credbatch.Row {
	r := newRow(batchID, number)
	r.Status = credbatch.RowInvalid
	for _, c := range codes {
		r.Findings = append(r.Findings, credbatch.Finding{Row: number, Column: "Email", Code: c,
			Message: "fix " + c, Severity: credbatch.SeverityError})
	}
	return r
}

func mustPutRows(t *testing.T, s credbatch.Store, rows []credbatch.Row) {
	t.Helper()
	if err := s.PutRows(t.Context(), rows); err != nil {
		t.Fatalf("put %d rows: %v", len(rows), err)
	}
}

func rowNumbers(rs []credbatch.Row) []int {
	out := []int{}
	for _, r := range rs {
		out = append(out, r.Number)
	}
	return out
}

func testRowPutGet(t *testing.T, s credbatch.Store, _ Capabilities) {
	mustCreateBatch(t, s, newBatch("b1", at(0)))
	want := []credbatch.Row{newRow("b1", 2), invalidRow("b1", 3, credbatch.CodeInvalidEmail, credbatch.CodeMissingValue)}
	want[1].Findings = append(want[1].Findings, credbatch.Finding{Row: 3, Column: "Notes",
		Code: credbatch.CodeSuppressedRecipient, Message: "warn", Severity: credbatch.SeverityWarning})
	want[0].CredentialID, want[0].Error, want[0].Attempts = "cred-1", "timeout", 2
	mustPutRows(t, s, want)
	for _, w := range want {
		got, err := s.GetRow(t.Context(), "b1", w.Number)
		must(t, err, "get row")
		diff(t, fmt.Sprintf("row %d", w.Number), normRow(got), normRow(w))
	}
}

func testRowPutIdempotent(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	mustCreateBatch(t, s, newBatch("b1", at(0)))
	var rows []credbatch.Row
	for n := 2; n < 12; n++ {
		rows = append(rows, newRow("b1", n))
	}
	mustPutRows(t, s, rows)
	mustPutRows(t, s, rows) // a retried write
	// Re-put replaces: row 5 becomes invalid, loses its attributes.
	re := invalidRow("b1", 5, credbatch.CodeInvalidDate)
	re.Attributes = nil
	re.FirstName = "Grace"
	mustPutRows(t, s, []credbatch.Row{re})

	p, err := s.ListRows(ctx, "b1", credbatch.RowFilter{})
	must(t, err, "list")
	diff(t, "no duplicates", rowNumbers(p.Items), []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	got, err := s.GetRow(ctx, "b1", 5)
	must(t, err, "get")
	diff(t, "replaced row", normRow(got), normRow(re))
	mustPutRows(t, s, nil) // nothing to write is not an error
}

func testRowPutManyBatches(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	mustCreateBatch(t, s, newBatch("b1", at(0)))
	mustCreateBatch(t, s, newBatch("b2", at(1)))
	rows := []credbatch.Row{newRow("b2", 3), newRow("b1", 2), newRow("b2", 2), newRow("b1", 3), newRow("b1", 4)}
	mustPutRows(t, s, rows)
	tests := []struct {
		batch string
		want  []int
	}{
		{"b1", []int{2, 3, 4}},
		{"b2", []int{2, 3}},
		{"b3", []int{}},
	}
	for _, tc := range tests {
		p, err := s.ListRows(ctx, tc.batch, credbatch.RowFilter{})
		must(t, err, "list "+tc.batch)
		diff(t, "rows of "+tc.batch, rowNumbers(p.Items), tc.want)
		for _, r := range p.Items {
			if r.BatchID != tc.batch {
				t.Fatalf("rows of %s: got a row of %s", tc.batch, r.BatchID)
			}
		}
	}
}

func testRowMissing(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	mustCreateBatch(t, s, newBatch("b1", at(0)))
	mustPutRows(t, s, []credbatch.Row{newRow("b1", 2)})
	for _, tc := range []struct {
		batch string
		n     int
	}{{"b1", 3}, {"b2", 2}} {
		_, err := s.GetRow(ctx, tc.batch, tc.n)
		wantKind(t, err, credbatch.KindNotFound, fmt.Sprintf("get %s/%d", tc.batch, tc.n))
	}
	r := newRow("b1", 9)
	r.Status = credbatch.RowIssuing
	_, err := s.UpdateRow(ctx, r, credbatch.RowValid)
	wantKind(t, err, credbatch.KindNotFound, "update missing row")
}

func testRowDelete(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	mustCreateBatch(t, s, newBatch("b1", at(0)))
	mustCreateBatch(t, s, newBatch("b2", at(1)))
	var rows []credbatch.Row
	for n := 2; n < 60; n++ {
		rows = append(rows, newRow("b1", n), newRow("b2", n))
	}
	mustPutRows(t, s, rows)
	must(t, s.DeleteRows(ctx, "b1"), "delete")
	must(t, s.DeleteRows(ctx, "b1"), "delete again")
	must(t, s.DeleteRows(ctx, "nope"), "delete rows of a missing batch")
	p, err := s.ListRows(ctx, "b1", credbatch.RowFilter{})
	must(t, err, "list b1")
	diff(t, "b1 rows after delete", rowNumbers(p.Items), []int{})
	_, err = s.GetRow(ctx, "b1", 2)
	wantKind(t, err, credbatch.KindNotFound, "get deleted row")
	all := collect(t, "b2", 0, func(c string, l int) (credbatch.Page[credbatch.Row], error) {
		return s.ListRows(ctx, "b2", credbatch.RowFilter{Cursor: c, Limit: l})
	})
	if len(all) != 58 {
		t.Fatalf("b2 rows after deleting b1: got %d, want 58", len(all))
	}
	_, err = s.GetBatch(ctx, "b1")
	must(t, err, "DeleteRows keeps the batch")
}

func testRowListFilters(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	mustCreateBatch(t, s, newBatch("b1", at(0)))
	rows := []credbatch.Row{
		newRow("b1", 2),
		invalidRow("b1", 3, credbatch.CodeInvalidEmail),
		invalidRow("b1", 4, credbatch.CodeMissingValue, credbatch.CodeInvalidEmail),
		newRow("b1", 5),
		invalidRow("b1", 6, credbatch.CodeInvalidDate),
		newRow("b1", 7),
	}
	rows[5].Findings = []credbatch.Finding{{Row: 7, Column: "Email", Code: credbatch.CodeSuppressedRecipient,
		Message: "suppressed", Severity: credbatch.SeverityWarning}}
	// Another batch with the same codes must not leak in.
	mustCreateBatch(t, s, newBatch("b2", at(1)))
	rows = append(rows, invalidRow("b2", 3, credbatch.CodeInvalidEmail))
	mustPutRows(t, s, rows)
	tests := []struct {
		name string
		f    credbatch.RowFilter
		want []int
	}{
		{"all", credbatch.RowFilter{}, []int{2, 3, 4, 5, 6, 7}},
		{"valid", credbatch.RowFilter{Status: credbatch.RowValid}, []int{2, 5, 7}},
		{"invalid", credbatch.RowFilter{Status: credbatch.RowInvalid}, []int{3, 4, 6}},
		{"issued", credbatch.RowFilter{Status: credbatch.RowIssued}, []int{}},
		{"code invalid_email", credbatch.RowFilter{Code: credbatch.CodeInvalidEmail}, []int{3, 4}},
		{"code missing_value", credbatch.RowFilter{Code: credbatch.CodeMissingValue}, []int{4}},
		{"warning code", credbatch.RowFilter{Code: credbatch.CodeSuppressedRecipient}, []int{7}},
		{"code not a prefix", credbatch.RowFilter{Code: "invalid"}, []int{}},
		{"status and code", credbatch.RowFilter{Status: credbatch.RowValid, Code: credbatch.CodeInvalidEmail}, []int{}},
		{"code paged", credbatch.RowFilter{Code: credbatch.CodeInvalidEmail, Limit: 1}, []int{3, 4}},
		{"status paged", credbatch.RowFilter{Status: credbatch.RowValid, Limit: 2}, []int{2, 5, 7}},
		{"range", credbatch.RowFilter{FromNumber: 3, ToNumber: 6}, []int{3, 4, 5}},
		{"range open end", credbatch.RowFilter{FromNumber: 5}, []int{5, 6, 7}},
		{"range open start", credbatch.RowFilter{ToNumber: 4}, []int{2, 3}},
		{"range and status", credbatch.RowFilter{FromNumber: 3, ToNumber: 8, Status: credbatch.RowValid}, []int{5, 7}},
		{"range paged", credbatch.RowFilter{FromNumber: 3, ToNumber: 7, Limit: 1}, []int{3, 4, 5, 6}},
		{"empty range", credbatch.RowFilter{FromNumber: 8, ToNumber: 20}, []int{}},
	}
	for _, tc := range tests {
		got := collect(t, tc.name, tc.f.Limit, func(c string, l int) (credbatch.Page[credbatch.Row], error) {
			f := tc.f
			f.Cursor = c
			return s.ListRows(ctx, "b1", f)
		})
		diff(t, tc.name, rowNumbers(got), tc.want)
	}
	_, err := s.ListRows(ctx, "b1", credbatch.RowFilter{Cursor: "%%%garbage"})
	wantKind(t, err, credbatch.KindInvalid, "bad cursor")
}

func testRowPagingLarge(t *testing.T, s credbatch.Store, c Capabilities) {
	ctx := t.Context()
	mustCreateBatch(t, s, newBatch("big", at(0)))
	mustCreateBatch(t, s, newBatch("other", at(1)))
	n := c.manyRows()
	rows := make([]credbatch.Row, 0, n+10)
	for i := range n {
		r := newRow("big", i+2)
		if i%7 == 0 {
			r = invalidRow("big", i+2, credbatch.CodeInvalidEmail)
		}
		rows = append(rows, r)
	}
	for i := range 10 {
		rows = append(rows, newRow("other", i+2))
	}
	mustPutRows(t, s, rows)

	check := func(name string, f credbatch.RowFilter, keep func(i int) bool) {
		t.Helper()
		got := collect(t, name, f.Limit, func(cur string, l int) (credbatch.Page[credbatch.Row], error) {
			f.Cursor = cur
			return s.ListRows(ctx, "big", f)
		})
		want := 0
		next := 0
		for _, r := range got {
			for next < n && !keep(next) {
				next++
			}
			if r.BatchID != "big" || r.Number != next+2 {
				t.Fatalf("%s: got row %s/%d, want big/%d (gap, repeat or order)", name, r.BatchID, r.Number, next+2)
			}
			next++
			want++
		}
		total := 0
		for i := range n {
			if keep(i) {
				total++
			}
		}
		if want != total {
			t.Fatalf("%s: got %d rows, want %d", name, want, total)
		}
	}
	check("all by 500", credbatch.RowFilter{Limit: 500}, func(int) bool { return true })
	check("invalid by 500", credbatch.RowFilter{Status: credbatch.RowInvalid, Limit: 500}, func(i int) bool { return i%7 == 0 })
	check("code by 333", credbatch.RowFilter{Code: credbatch.CodeInvalidEmail, Limit: 333}, func(i int) bool { return i%7 == 0 })
}

func testRowListLimits(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	mustCreateBatch(t, s, newBatch("b1", at(0)))
	var rows []credbatch.Row
	for n := 2; n < 2+credbatch.MaxPageSize+50; n++ {
		rows = append(rows, newRow("b1", n))
	}
	mustPutRows(t, s, rows)
	tests := []struct {
		limit, want int
	}{
		{0, credbatch.DefaultPageSize},
		{7, 7},
		{credbatch.MaxPageSize, credbatch.MaxPageSize},
		{credbatch.MaxPageSize * 5, credbatch.MaxPageSize},
	}
	for _, tc := range tests {
		p, err := s.ListRows(ctx, "b1", credbatch.RowFilter{Limit: tc.limit})
		must(t, err, "list")
		if len(p.Items) != tc.want || p.Next == "" {
			t.Fatalf("limit %d: got %d items (next %q), want %d and a next cursor", tc.limit, len(p.Items), p.Next, tc.want)
		}
	}
}

func testRowUpdate(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	mustCreateBatch(t, s, newBatch("b1", at(0)))
	mustPutRows(t, s, []credbatch.Row{newRow("b1", 2)})
	steps := []struct {
		from   credbatch.RowStatus
		mutate func(*credbatch.Row)
	}{
		{credbatch.RowValid, func(r *credbatch.Row) { r.Status = credbatch.RowIssuing; r.Attempts = 1 }},
		{credbatch.RowIssuing, func(r *credbatch.Row) { r.Status = credbatch.RowFailed; r.Error = "signer down" }},
		{credbatch.RowFailed, func(r *credbatch.Row) { r.Status = credbatch.RowIssuing; r.Attempts = 2 }},
		{credbatch.RowIssuing, func(r *credbatch.Row) {
			r.Status, r.Error, r.CredentialID = credbatch.RowIssued, "", "cred-1"
		}},
		{credbatch.RowIssued, func(r *credbatch.Row) { r.Status = credbatch.RowRevoked }},
	}
	want := newRow("b1", 2)
	for _, st := range steps {
		st.mutate(&want)
		got, err := s.UpdateRow(ctx, want, st.from)
		must(t, err, fmt.Sprintf("%s → %s", st.from, want.Status))
		diff(t, "returned row", normRow(got), normRow(want))
		stored, err := s.GetRow(ctx, "b1", 2)
		must(t, err, "get")
		diff(t, "stored row", normRow(stored), normRow(want))
	}
	// Stale from: the row is revoked now.
	r := want
	r.Status = credbatch.RowIssued
	_, err := s.UpdateRow(ctx, r, credbatch.RowIssuing)
	wantKind(t, err, credbatch.KindConflict, "stale from")
}

func testRowUpdateIllegal(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	mustCreateBatch(t, s, newBatch("b1", at(0)))
	n := 1
	for _, from := range allRowStatuses {
		for _, to := range allRowStatuses {
			n++
			r := newRow("b1", n)
			r.Status = from
			mustPutRows(t, s, []credbatch.Row{r})
			r.Status = to
			r.Error = "changed"
			_, err := s.UpdateRow(ctx, r, from)
			stored, gerr := s.GetRow(ctx, "b1", n)
			must(t, gerr, "get")
			if credbatch.CanTransitionRow(from, to) {
				must(t, err, fmt.Sprintf("legal %s → %s", from, to))
				if stored.Status != to || stored.Error != "changed" {
					t.Fatalf("legal %s → %s: stored %s %q", from, to, stored.Status, stored.Error)
				}
				continue
			}
			wantKind(t, err, credbatch.KindConflict, fmt.Sprintf("illegal %s → %s", from, to))
			if stored.Status != from || stored.Error != "" {
				t.Fatalf("illegal %s → %s wrote: %s %q", from, to, stored.Status, stored.Error)
			}
		}
	}
	// Racing writers: exactly one moves the row valid → issuing.
	r := newRow("b1", 1000)
	mustPutRows(t, s, []credbatch.Row{r})
	errs := race(8, func(i int) error {
		r := r
		r.Status, r.Attempts = credbatch.RowIssuing, i+1
		_, err := s.UpdateRow(ctx, r, credbatch.RowValid)
		return err
	})
	w := oneWinner(t, "row valid → issuing", errs)
	got, err := s.GetRow(ctx, "b1", 1000)
	must(t, err, "get")
	if got.Attempts != w+1 {
		t.Fatalf("after race: attempts %d, want %d", got.Attempts, w+1)
	}
}

func testRowUnicode(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	mustCreateBatch(t, s, newBatch("b1", at(0)))
	long := longValue()
	r := newRow("b1", 2)
	r.FirstName, r.LastName = "Zoë", "Ñandú 日本 🎓"
	r.Attributes = map[string]string{"Notes": long, "Prénom 名": "ü", "Empty": ""}
	r.Cells = []string{long, "", "Zoë", "🎓"}
	r.Findings = []credbatch.Finding{{Row: 2, Column: "Prénom", Code: credbatch.CodeValueTooLong, Message: long, Severity: credbatch.SeverityError}}
	r.Status = credbatch.RowInvalid
	mustPutRows(t, s, []credbatch.Row{r})
	got, err := s.GetRow(ctx, "b1", 2)
	must(t, err, "get")
	diff(t, "unicode row", normRow(got), normRow(r))
	if got.Attributes["Notes"] != long {
		t.Fatalf("4 KB value changed: got %d bytes, want %d", len(got.Attributes["Notes"]), len(long))
	}
}

// testRowUpdateEvidence: UpdateRowEvidence writes only while the row's evidence lock is the
// one named (none on a row without evidence, with a link, with a file; a taken lock), and of
// racing writers that read the same lock exactly one wins.
func testRowUpdateEvidence(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	mustCreateBatch(t, s, newBatch("b1", at(0)))
	named := newRow("b1", 3)
	named.Evidence = &credbatch.Evidence{File: &credbatch.EvidenceFile{Name: "site.png"}} // named in the sheet, not stored
	linked := newRow("b1", 4)
	linked.Evidence = &credbatch.Evidence{URL: "https://example.org/ann"}
	mustPutRows(t, s, []credbatch.Row{newRow("b1", 2), named, linked})
	withLock := func(r credbatch.Row, lock string) credbatch.Row {
		e := credbatch.Evidence{}
		if r.Evidence != nil {
			e = *r.Evidence
		}
		e.Lock = lock
		r.Evidence = &e
		return r
	}
	for _, n := range []int{2, 3, 4} {
		r, err := s.GetRow(ctx, "b1", n)
		must(t, err, "get")
		steps := []struct {
			expect, to string
			ok         bool
		}{
			{"t0 2026-12-04T18:00:00Z", "t1 2026-12-04T18:01:00Z", false}, // it has no lock
			{"", "t1 2026-12-04T18:01:00Z", true},
			{"", "t2 2026-12-04T18:01:00Z", false}, // t1 holds it
			{"t1 2026-12-04T18:01:00Z", "t1 2026-12-04T18:01:00Z", true},
			{"t1 2026-12-04T18:01:00Z", "", true}, // released
			{"t1 2026-12-04T18:01:00Z", "", false},
		}
		for _, st := range steps {
			next := withLock(r, st.to)
			got, err := s.UpdateRowEvidence(ctx, next, credbatch.RowValid, st.expect)
			stored, gerr := s.GetRow(ctx, "b1", n)
			must(t, gerr, "get")
			what := fmt.Sprintf("row %d: lock %q → %q", n, st.expect, st.to)
			if !st.ok {
				wantKind(t, err, credbatch.KindConflict, what)
				continue
			}
			must(t, err, what)
			diff(t, "returned row", normRow(got), normRow(next))
			if stored.Evidence == nil || stored.Evidence.Lock != st.to {
				t.Fatalf("%s: stored evidence %+v", what, stored.Evidence)
			}
			if n == 4 && stored.Evidence.URL != "https://example.org/ann" || n == 3 && stored.Evidence.FileNamed() == nil {
				t.Fatalf("%s: stored evidence %+v lost its link or file", what, stored.Evidence)
			}
		}
		_, err = s.UpdateRowEvidence(ctx, r, credbatch.RowIssuing, "")
		wantKind(t, err, credbatch.KindConflict, "wrong status")
	}
	_, err := s.UpdateRowEvidence(ctx, newRow("b1", 99), credbatch.RowValid, "")
	wantKind(t, err, credbatch.KindNotFound, "missing row")

	// Racing writers that read the row unlocked: exactly one takes the lock.
	r := newRow("b1", 1000)
	mustPutRows(t, s, []credbatch.Row{r})
	errs := race(8, func(i int) error {
		_, err := s.UpdateRowEvidence(ctx, withLock(r, fmt.Sprintf("w%d", i)), credbatch.RowValid, "")
		return err
	})
	w := oneWinner(t, "lock the row", errs)
	got, err := s.GetRow(ctx, "b1", 1000)
	must(t, err, "get")
	if got.Evidence == nil || got.Evidence.Lock != fmt.Sprintf("w%d", w) {
		t.Fatalf("stored evidence %+v, want the winner's lock w%d", got.Evidence, w)
	}
}
