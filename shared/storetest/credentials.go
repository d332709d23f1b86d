package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

var credentialTests = []namedTest{
	{"CreateAndGet", testCredentialCreateGet},
	{"CreateConflict", testCredentialConflict},
	{"GetMissing", testCredentialMissing},
	{"CorrectEmailCounts", testCorrectEmailCounts},
	{"ByEmail", testCredentialByEmail},
	{"ByBatch", testCredentialByBatch},
	{"FindActive", testCredentialFindActive},
	{"SetEmailStatus", testCredentialEmailStatus},
	{"SetEmailStatusRace", testCredentialEmailRace},
	{"EmailCounters", testCredentialEmailCounters},
	{"EmailCountersRace", testCredentialEmailCountersRace},
	{"Revoke", testCredentialRevoke},
	{"ListRevoked", testCredentialListRevoked},
	{"AllocateStatusIndexes", testAllocateIndexes},
	{"AllocateStatusIndexesConcurrent", testAllocateIndexesConcurrent},
	{"ReserveSends", testReserveSends},
	{"ReserveSendsConcurrent", testReserveSendsConcurrent},
	{"StatusLists", testStatusLists},
	{"StatusListsConcurrent", testStatusListsConcurrent},
}

func newCredential(id, batchID string, row int, email string, issued int) credbatch.Credential {
	return credbatch.Credential{
		ID:              id,
		BatchID:         batchID,
		RowNumber:       row,
		DefinitionID:    "course",
		DefinitionVer:   2,
		Email:           email,
		Name:            "Ada Lovelace",
		IssueDate:       "2025-03-01",
		ExpiryDate:      "2027-03-01",
		Attributes:      map[string]string{"Score": "97"},
		JWT:             "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZGEifQ.sig-" + id,
		JWTDetached:     "eyJhbGciOiJFUzI1NiJ9..sig-" + id,
		StatusListIndex: row * 10,
		Status:          credbatch.CredentialIssued,
		EmailStatus:     credbatch.EmailPending,
		IssuedAt:        at(issued),
	}
}

func mustCreateCredential(t *testing.T, s credbatch.Store, c credbatch.Credential) {
	t.Helper()
	if err := s.CreateCredential(t.Context(), c); err != nil {
		t.Fatalf("create credential %s: %v", c.ID, err)
	}
}

func credIDs(cs []credbatch.Credential) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func testCredentialCreateGet(t *testing.T, s credbatch.Store, _ Capabilities) {
	want := newCredential("c1", "b1", 2, "ada@example.com", 0)
	want.Attributes["Notes"] = longValue()
	want.Name = "Zoë Ñandú 日本 🎓"
	mustCreateCredential(t, s, want)
	got, err := s.GetCredential(t.Context(), "c1")
	must(t, err, "get")
	diff(t, "credential round trip", normCredential(got), normCredential(want))
	if got.JWT != want.JWT || got.JWTDetached != want.JWTDetached {
		t.Fatalf("jwt: got %q %q, want %q %q", got.JWT, got.JWTDetached, want.JWT, want.JWTDetached)
	}
	// A credential issued before its VC-JWT was stored reads with none, in every read.
	old := newCredential("c-old", "b-old", 2, "old@example.com", 0)
	old.JWTDetached = ""
	mustCreateCredential(t, s, old)
	got, err = s.GetCredential(t.Context(), old.ID)
	must(t, err, "get old")
	diff(t, "credential without a stored VC-JWT", normCredential(got), normCredential(old))
	page, err := s.ListCredentialsByBatch(t.Context(), "b1", "", 10)
	must(t, err, "list")
	if len(page.Items) != 1 || page.Items[0].JWT != want.JWT || page.Items[0].JWTDetached != want.JWTDetached {
		t.Fatalf("listed: %+v, want c1 with its document and VC-JWT", page.Items)
	}
}

func testCredentialConflict(t *testing.T, s credbatch.Store, c Capabilities) {
	ctx := t.Context()
	want := newCredential("c1", "b1", 2, "ada@example.com", 0)
	mustCreateCredential(t, s, want)
	other := newCredential("c1", "b2", 3, "bob@example.com", 1)
	wantKind(t, s.CreateCredential(ctx, other), credbatch.KindConflict, "second create")
	got, err := s.GetCredential(ctx, "c1")
	must(t, err, "get")
	diff(t, "first kept", normCredential(got), normCredential(want))

	errs := race(c.racers(), func(i int) error {
		return s.CreateCredential(ctx, newCredential("c2", "b1", i, "ada@example.com", 0))
	})
	oneWinner(t, "create race", errs)
}

func testCredentialMissing(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	mustCreateCredential(t, s, newCredential("c1", "b1", 2, "ada@example.com", 0))
	_, err := s.GetCredential(ctx, "nope")
	wantKind(t, err, credbatch.KindNotFound, "get")
	_, err = s.FindActiveCredential(ctx, "course", "nobody@example.com")
	wantKind(t, err, credbatch.KindNotFound, "find active")
	_, err = s.SetEmailStatus(ctx, "nope", []credbatch.EmailStatus{credbatch.EmailPending}, credbatch.EmailSending, credbatch.EmailChange{})
	wantKind(t, err, credbatch.KindNotFound, "set email status")
	_, err = s.RevokeCredential(ctx, "nope", "x", at(1))
	wantKind(t, err, credbatch.KindNotFound, "revoke")
}

// testCorrectEmailCounts: the repair of email counters left short (a crash between a move
// and its count) is a compare-and-swap: it applies only while the counters are as read,
// and keeps the other counters.
func testCorrectEmailCounts(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	b := newBatch("b1", at(0))
	mustCreateBatch(t, s, b)
	rows := credbatch.Counts{Rows: 3, Valid: 3, Issued: 2}
	_, err := s.UpdateBatch(ctx, "b1", credbatch.BatchChange{Counts: &rows})
	must(t, err, "set row counts")
	must(t, s.AddCounts(ctx, "b1", credbatch.Counts{Sent: 1}), "count one send")
	stored := rows.WithEmail(credbatch.Counts{Sent: 1})
	truth := credbatch.Counts{Sent: 2, Delivered: 1}
	steps := []struct {
		name         string
		stored, want credbatch.Counts
		ok           bool
	}{
		{"moved since read: nothing changes", credbatch.Counts{Sent: 3}, stored, false},
		{"as read: corrected", stored, rows.WithEmail(truth), true},
		{"again with the old read: nothing changes", stored, rows.WithEmail(truth), false},
		{"already true", truth, rows.WithEmail(truth), true},
	}
	for _, st := range steps {
		ok, err := s.CorrectEmailCounts(ctx, "b1", st.stored, truth)
		must(t, err, st.name)
		if ok != st.ok {
			t.Fatalf("%s: CorrectEmailCounts = %v, want %v", st.name, ok, st.ok)
		}
		got, err := s.GetBatch(ctx, "b1")
		must(t, err, "get batch")
		diff(t, st.name, got.Counts, st.want)
	}
	must(t, s.AddCounts(ctx, "b1", credbatch.Counts{Bounced: 1}), "count after the correction")
	got, err := s.GetBatch(ctx, "b1")
	must(t, err, "get batch")
	diff(t, "counting goes on from the corrected counters", got.Counts, rows.WithEmail(truth.Add(credbatch.Counts{Bounced: 1})))
	_, err = s.CorrectEmailCounts(ctx, "nope", stored, truth)
	wantKind(t, err, credbatch.KindNotFound, "no batch")
}

func testCredentialByEmail(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	for i, email := range []string{"ada@example.com", "bob@example.com", "ada@example.com", "ada@example.com", "ada@example.org"} {
		mustCreateCredential(t, s, newCredential(fmt.Sprintf("c%d", i), "b1", i+2, email, i))
	}
	tests := []struct {
		name, email string
		limit       int
		want        []string
	}{
		{"newest first", "ada@example.com", 0, []string{"c3", "c2", "c0"}},
		{"any case", "ADA@Example.COM", 0, []string{"c3", "c2", "c0"}},
		{"paged", "ada@example.com", 1, []string{"c3", "c2", "c0"}},
		{"other", "bob@example.com", 2, []string{"c1"}},
		{"none", "zed@example.com", 0, []string{}},
	}
	// Credentials issued at the same instant (one batch) page without gaps or repeats.
	for i := range 7 {
		mustCreateCredential(t, s, newCredential(fmt.Sprintf("same%d", i), "b2", i+2, "tie@example.com", 50))
	}
	tests = append(tests, struct {
		name, email string
		limit       int
		want        []string
	}{"ties", "tie@example.com", 2, nil})
	for _, tc := range tests {
		got := collect(t, tc.name, tc.limit, func(cur string, l int) (credbatch.Page[credbatch.Credential], error) {
			return s.ListCredentialsByEmail(ctx, tc.email, cur, l)
		})
		if tc.want == nil { // ties: any order, each once
			ids := credIDs(got)
			slices.Sort(ids)
			diff(t, tc.name, ids, []string{"same0", "same1", "same2", "same3", "same4", "same5", "same6"})
			continue
		}
		diff(t, tc.name, credIDs(got), tc.want)
	}
}

func testCredentialByBatch(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	// Created out of row order, in two batches.
	for _, tc := range []struct {
		id, batch string
		row       int
	}{{"x5", "b1", 5}, {"x2", "b1", 2}, {"y3", "b2", 3}, {"x12", "b1", 12}, {"x3", "b1", 3}} {
		mustCreateCredential(t, s, newCredential(tc.id, tc.batch, tc.row, "ada@example.com", tc.row))
	}
	for _, limit := range []int{0, 1, 2} {
		got := collect(t, "by batch", limit, func(cur string, l int) (credbatch.Page[credbatch.Credential], error) {
			return s.ListCredentialsByBatch(ctx, "b1", cur, l)
		})
		diff(t, fmt.Sprintf("b1 in row order (limit %d)", limit), credIDs(got), []string{"x2", "x3", "x5", "x12"})
	}
	p, err := s.ListCredentialsByBatch(ctx, "b9", "", 0)
	must(t, err, "empty batch")
	diff(t, "no credentials", credIDs(p.Items), []string{})
}

func testCredentialFindActive(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	old := newCredential("c-old", "b1", 2, "ada@example.com", 0)
	mustCreateCredential(t, s, old)
	other := newCredential("c-other-def", "b1", 3, "bob@example.com", 1)
	other.DefinitionID = "badge"
	mustCreateCredential(t, s, other)
	got, err := s.FindActiveCredential(ctx, "course", "ada@example.com")
	must(t, err, "find")
	if got.ID != "c-old" {
		t.Fatalf("find: got %s, want c-old", got.ID)
	}
	got, err = s.FindActiveCredential(ctx, "course", "ADA@example.com")
	must(t, err, "find any case")
	if got.ID != "c-old" {
		t.Fatalf("find any case: got %s, want c-old", got.ID)
	}
	_, err = s.FindActiveCredential(ctx, "course", "bob@example.com")
	wantKind(t, err, credbatch.KindNotFound, "other definition")
	_, err = s.RevokeCredential(ctx, "c-old", "superseded", at(5))
	must(t, err, "revoke")
	_, err = s.FindActiveCredential(ctx, "course", "ada@example.com")
	wantKind(t, err, credbatch.KindNotFound, "only a revoked one")
	mustCreateCredential(t, s, newCredential("c-new", "b2", 2, "ada@example.com", 10))
	got, err = s.FindActiveCredential(ctx, "course", "ada@example.com")
	must(t, err, "find new")
	if got.ID != "c-new" {
		t.Fatalf("find after reissue: got %s, want c-new", got.ID)
	}
}

func testCredentialEmailStatus(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	want := newCredential("c1", "b1", 2, "ada@example.com", 0)
	mustCreateCredential(t, s, want)
	type es = []credbatch.EmailStatus
	steps := []struct {
		name    string
		from    es
		to      credbatch.EmailStatus
		ch      credbatch.EmailChange
		wantErr credbatch.Kind
		mutate  func(*credbatch.Credential)
	}{
		{"pending → sending", es{credbatch.EmailPending}, credbatch.EmailSending, credbatch.EmailChange{}, "",
			func(c *credbatch.Credential) { c.EmailStatus = credbatch.EmailSending }},
		{"stale: not pending", es{credbatch.EmailPending}, credbatch.EmailSending, credbatch.EmailChange{}, credbatch.KindConflict, nil},
		{"not in list", es{credbatch.EmailPending, credbatch.EmailSent}, credbatch.EmailDelivered, credbatch.EmailChange{}, credbatch.KindConflict, nil},
		{"sending → sent", es{credbatch.EmailPending, credbatch.EmailSending}, credbatch.EmailSent,
			credbatch.EmailChange{MessageID: "msg-1", SentAt: at(3)}, "",
			func(c *credbatch.Credential) {
				c.EmailStatus, c.MessageID, c.SentAt = credbatch.EmailSent, "msg-1", at(3)
			}},
		{"sent → delivered stamps DeliveredAt", es{credbatch.EmailSent}, credbatch.EmailDelivered,
			credbatch.EmailChange{DeliveredAt: at(4)}, "",
			func(c *credbatch.Credential) { c.EmailStatus, c.DeliveredAt = credbatch.EmailDelivered, at(4) }},
		{"delivered → bounced keeps message id and DeliveredAt", es{credbatch.EmailSent, credbatch.EmailDelivered}, credbatch.EmailBounced,
			credbatch.EmailChange{BounceType: "Permanent", LastError: "mailbox unknown"}, "",
			func(c *credbatch.Credential) {
				c.EmailStatus, c.BounceType, c.LastError = credbatch.EmailBounced, "Permanent", "mailbox unknown"
			}},
		{"same status replaces DeliveredAt alone", es{credbatch.EmailBounced}, credbatch.EmailBounced,
			credbatch.EmailChange{DeliveredAt: at(6)}, "",
			func(c *credbatch.Credential) { c.DeliveredAt = at(6) }},
		{"empty from list", es{}, credbatch.EmailComplained, credbatch.EmailChange{}, credbatch.KindConflict, nil},
	}
	for _, st := range steps {
		got, err := s.SetEmailStatus(ctx, "c1", st.from, st.to, st.ch)
		if st.wantErr != "" {
			wantKind(t, err, st.wantErr, st.name)
		} else {
			must(t, err, st.name)
			st.mutate(&want)
			bare := want
			bare.JWT, bare.JWTDetached = "", "" // a move returns the credential without its document
			diff(t, st.name+": returned", normCredential(got), normCredential(bare))
		}
		stored, err := s.GetCredential(ctx, "c1")
		must(t, err, "get")
		diff(t, st.name+": stored", normCredential(stored), normCredential(want))
	}
}

func testCredentialEmailRace(t *testing.T, s credbatch.Store, c Capabilities) {
	ctx := t.Context()
	for round := range 5 {
		id := fmt.Sprintf("c%d", round)
		mustCreateCredential(t, s, newCredential(id, "b1", round+2, "ada@example.com", 0))
		errs := race(c.racers(), func(i int) error {
			_, err := s.SetEmailStatus(ctx, id, []credbatch.EmailStatus{credbatch.EmailPending}, credbatch.EmailSending,
				credbatch.EmailChange{LastError: fmt.Sprintf("racer-%d", i)})
			return err
		})
		w := oneWinner(t, "pending → sending", errs)
		got, err := s.GetCredential(ctx, id)
		must(t, err, "get")
		if got.EmailStatus != credbatch.EmailSending || got.LastError != fmt.Sprintf("racer-%d", w) {
			t.Fatalf("after race: %s %q, want sending by racer-%d", got.EmailStatus, got.LastError, w)
		}
	}
}

func testCredentialRevoke(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	want := newCredential("c1", "b1", 2, "ada@example.com", 0)
	mustCreateCredential(t, s, want)
	got, err := s.RevokeCredential(ctx, "c1", "issued in error", at(9))
	must(t, err, "revoke")
	want.Status, want.RevokedReason, want.RevokedAt = credbatch.CredentialRevoked, "issued in error", at(9)
	diff(t, "returned", normCredential(got), normCredential(want))
	stored, err := s.GetCredential(ctx, "c1")
	must(t, err, "get")
	diff(t, "stored", normCredential(stored), normCredential(want))
	_, err = s.RevokeCredential(ctx, "c1", "again", at(10))
	wantKind(t, err, credbatch.KindConflict, "revoke twice")
	stored, err = s.GetCredential(ctx, "c1")
	must(t, err, "get")
	if stored.RevokedReason != "issued in error" {
		t.Fatalf("second revoke overwrote the reason: %q", stored.RevokedReason)
	}
}

func testCredentialListRevoked(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	var want []string
	for i := range 25 {
		id := fmt.Sprintf("c%02d", i)
		mustCreateCredential(t, s, newCredential(id, "b1", i+2, "ada@example.com", i))
		if i%3 == 0 {
			_, err := s.RevokeCredential(ctx, id, "r", at(100+i))
			must(t, err, "revoke")
			want = append(want, id)
		}
	}
	for _, limit := range []int{0, 1, 4} {
		got := collect(t, "revoked", limit, func(cur string, l int) (credbatch.Page[credbatch.Credential], error) {
			return s.ListRevoked(ctx, cur, l)
		})
		gotIDs := credIDs(got)
		for _, c := range got {
			if c.Status != credbatch.CredentialRevoked {
				t.Fatalf("listed %s with status %s", c.ID, c.Status)
			}
		}
		slices.Sort(gotIDs)
		diff(t, fmt.Sprintf("revoked (limit %d)", limit), gotIDs, want)
	}
}

func testAllocateIndexes(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	type span struct{ first, n int }
	var spans []span
	for _, n := range []int{1, 5, 100, 1, 37} {
		first, err := s.AllocateStatusIndexes(ctx, n)
		must(t, err, "allocate")
		if first < 0 {
			t.Fatalf("allocate %d: negative first index %d", n, first)
		}
		spans = append(spans, span{first, n})
	}
	for i := 1; i < len(spans); i++ {
		if prev := spans[i-1]; spans[i].first < prev.first+prev.n {
			t.Fatalf("allocation %d [%d,+%d) overlaps [%d,+%d)", i, spans[i].first, spans[i].n, prev.first, prev.n)
		}
	}
	for _, n := range []int{0, -3} {
		_, err := s.AllocateStatusIndexes(ctx, n)
		wantKind(t, err, credbatch.KindInvalid, fmt.Sprintf("allocate %d", n))
	}
}

func testAllocateIndexesConcurrent(t *testing.T, s credbatch.Store, c Capabilities) {
	ctx := t.Context()
	var mu sync.Mutex
	used := map[int]int{}
	const each = 10
	errs := race(c.racers(), func(i int) error {
		for j := range each {
			n := 1 + (i+j)%7
			first, err := s.AllocateStatusIndexes(ctx, n)
			if err != nil {
				return err
			}
			mu.Lock()
			for k := first; k < first+n; k++ {
				if prev, ok := used[k]; ok {
					mu.Unlock()
					return fmt.Errorf("index %d given to racer %d and racer %d", k, prev, i)
				}
				used[k] = i
			}
			mu.Unlock()
		}
		return nil
	})
	for i, err := range errs {
		must(t, err, fmt.Sprintf("racer %d", i))
	}
}

// testCredentialEmailCounters: creating a credential and every email status move change its
// batch's email counters in the same write (credbatch.EmailCounts), BatchChange.Counts leaves
// them alone, and a credential whose batch is not stored still moves.
func testCredentialEmailCounters(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	b := newBatch("b1", at(0))
	mustCreateBatch(t, s, b)
	emailCounts := func(want credbatch.Counts, step string) {
		t.Helper()
		got, err := s.GetBatch(ctx, "b1")
		must(t, err, "get batch")
		diff(t, step, got.Counts, b.Counts.WithEmail(want))
	}
	sent := newCredential("c1", "b1", 2, "ada@example.com", 0)
	sent.EmailStatus, sent.MessageID = credbatch.EmailSent, "m-1"
	mustCreateCredential(t, s, sent)
	emailCounts(credbatch.Counts{Sent: 1}, "after creating a sent credential")
	mustCreateCredential(t, s, newCredential("c2", "b1", 3, "bob@example.com", 0))
	emailCounts(credbatch.Counts{Sent: 1}, "after creating a pending credential")
	steps := []struct {
		id       string
		from, to credbatch.EmailStatus
		want     credbatch.Counts
	}{
		{"c2", credbatch.EmailPending, credbatch.EmailSending, credbatch.Counts{Sent: 1}},
		{"c2", credbatch.EmailSending, credbatch.EmailSent, credbatch.Counts{Sent: 2}},
		{"c1", credbatch.EmailSent, credbatch.EmailDelivered, credbatch.Counts{Sent: 2, Delivered: 1}},
		{"c1", credbatch.EmailDelivered, credbatch.EmailComplained, credbatch.Counts{Sent: 2, Delivered: 1, Complained: 1}},
		{"c2", credbatch.EmailSent, credbatch.EmailBounced, credbatch.Counts{Sent: 2, Delivered: 1, Complained: 1, Bounced: 1}},
	}
	for _, st := range steps {
		_, err := s.SetEmailStatus(ctx, st.id, []credbatch.EmailStatus{st.from}, st.to, credbatch.EmailChange{})
		must(t, err, fmt.Sprintf("move %s %s → %s", st.id, st.from, st.to))
		emailCounts(st.want, fmt.Sprintf("after %s %s → %s", st.id, st.from, st.to))
	}
	// A refused move counts nothing.
	_, err := s.SetEmailStatus(ctx, "c2", []credbatch.EmailStatus{credbatch.EmailSent}, credbatch.EmailDelivered, credbatch.EmailChange{})
	wantKind(t, err, credbatch.KindConflict, "move from a status it is not in")
	final := credbatch.Counts{Sent: 2, Delivered: 1, Complained: 1, Bounced: 1}
	emailCounts(final, "after a refused move")
	// Replacing the counters keeps the email ones.
	rows := credbatch.Counts{Rows: 9, Valid: 9, Issued: 2, Sent: 100, Delivered: 100}
	got, err := s.UpdateBatch(ctx, "b1", credbatch.BatchChange{Counts: &rows})
	must(t, err, "update counts")
	diff(t, "replaced counters", got.Counts, rows.WithEmail(final))
	// A credential whose batch is not stored moves without counting.
	orphan := newCredential("c3", "no-batch", 2, "cy@example.com", 0)
	orphan.EmailStatus, orphan.MessageID = credbatch.EmailSent, "m-3"
	mustCreateCredential(t, s, orphan)
	c, err := s.SetEmailStatus(ctx, "c3", []credbatch.EmailStatus{credbatch.EmailSent}, credbatch.EmailDelivered, credbatch.EmailChange{})
	must(t, err, "move a credential of no stored batch")
	if c.EmailStatus != credbatch.EmailDelivered {
		t.Fatalf("orphan credential: email %s, want delivered", c.EmailStatus)
	}
	if _, err := s.GetBatch(ctx, "no-batch"); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Fatalf("counting an orphan credential created its batch: %v", err)
	}
}

// testCredentialEmailCountersRace: racers move the same credentials through competing
// statuses; the batch's counters end equal to the sum over the credentials.
func testCredentialEmailCountersRace(t *testing.T, s credbatch.Store, c Capabilities) {
	ctx := t.Context()
	mustCreateBatch(t, s, newBatch("b1", at(0)))
	const creds = 6
	for i := range creds {
		cr := newCredential(fmt.Sprintf("c%d", i), "b1", i+2, fmt.Sprintf("r%d@example.com", i), 0)
		cr.EmailStatus, cr.MessageID = credbatch.EmailSent, fmt.Sprintf("m-%d", i)
		mustCreateCredential(t, s, cr)
	}
	targets := []credbatch.EmailStatus{credbatch.EmailDelayed, credbatch.EmailDelivered, credbatch.EmailBounced, credbatch.EmailComplained}
	all := []credbatch.EmailStatus{credbatch.EmailSent, credbatch.EmailDelayed, credbatch.EmailSoftBounce, credbatch.EmailDelivered,
		credbatch.EmailBounced, credbatch.EmailRejected, credbatch.EmailComplained}
	errs := race(c.racers(), func(r int) error {
		for i := range creds {
			to := targets[(r+i)%len(targets)]
			var from []credbatch.EmailStatus
			for _, f := range all {
				if credbatch.EmailAdvances(f, to) {
					from = append(from, f)
				}
			}
			_, err := s.SetEmailStatus(ctx, fmt.Sprintf("c%d", i), from, to, credbatch.EmailChange{})
			if err != nil && !credbatch.IsKind(err, credbatch.KindConflict) {
				return err
			}
		}
		return nil
	})
	for i, err := range errs {
		must(t, err, fmt.Sprintf("racer %d", i))
	}
	truth, err := credbatch.EmailTruth(ctx, s, "b1")
	must(t, err, "sum the credentials")
	got, err := s.GetBatch(ctx, "b1")
	must(t, err, "get batch")
	diff(t, "email counters against the credentials", got.Counts.Email(), truth)
	if truth.Sent != creds {
		t.Fatalf("truth %+v: want every one of %d credentials sent", truth, creds)
	}
}

// testReserveSends: an idle schedule starts at now; a busy one appends; idle time earns no
// burst; a schedule reserved beyond latest refuses and reserves nothing.
func testReserveSends(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	const iv = 100 * time.Millisecond
	far := t0.Add(time.Hour)
	steps := []struct {
		name   string
		n      int
		now    time.Time
		latest time.Time
		want   time.Time // zero: KindBusy
	}{
		{"idle schedule starts now", 3, t0, far, t0},
		{"busy schedule appends", 2, t0, far, t0.Add(3 * iv)},
		{"caught up a little", 1, t0.Add(iv), far, t0.Add(5 * iv)},
		{"free slot after latest", 1, t0.Add(iv), t0.Add(5 * iv), time.Time{}},
		{"free slot exactly at latest", 1, t0.Add(iv), t0.Add(6 * iv), t0.Add(6 * iv)},
		{"refusal reserved nothing", 1, t0.Add(7 * iv), t0.Add(7 * iv), t0.Add(7 * iv)},
		{"idle again: no credit", 4, t0.Add(time.Minute), t0.Add(time.Minute), t0.Add(time.Minute)},
		{"busy after idle", 1, t0.Add(time.Minute), far, t0.Add(time.Minute + 4*iv)},
	}
	for _, st := range steps {
		got, err := s.ReserveSends(ctx, st.n, iv, st.now, st.latest)
		if st.want.IsZero() {
			wantKind(t, err, credbatch.KindBusy, st.name)
			continue
		}
		must(t, err, st.name)
		if !got.Equal(st.want) {
			t.Errorf("%s: ReserveSends(%d, %v, %v, %v) = %v, want %v", st.name, st.n, iv, st.now, st.latest, utc(got), st.want)
		}
	}
	for _, bad := range []struct {
		n      int
		iv     time.Duration
		latest time.Time
	}{{0, iv, far}, {-1, iv, far}, {1, 0, far}, {1, -iv, far}, {1, iv, t0.Add(-time.Second)}} {
		_, err := s.ReserveSends(ctx, bad.n, bad.iv, t0, bad.latest)
		wantKind(t, err, credbatch.KindInvalid, fmt.Sprintf("reserve %d sends %v apart until %v", bad.n, bad.iv, bad.latest))
	}
}

// testReserveSendsConcurrent: racers reserving at the same moment get disjoint, gapless spans.
func testReserveSendsConcurrent(t *testing.T, s credbatch.Store, c Capabilities) {
	ctx := t.Context()
	const iv = 10 * time.Millisecond
	type span struct {
		first time.Time
		n     int
	}
	var mu sync.Mutex
	var spans []span
	const each = 5
	errs := race(c.racers(), func(i int) error {
		for j := range each {
			n := 1 + (i+j)%3
			first, err := s.ReserveSends(ctx, n, iv, t0, t0.Add(time.Hour))
			if err != nil {
				return err
			}
			mu.Lock()
			spans = append(spans, span{first, n})
			mu.Unlock()
		}
		return nil
	})
	for i, err := range errs {
		must(t, err, fmt.Sprintf("racer %d", i))
	}
	slices.SortFunc(spans, func(a, b span) int { return a.first.Compare(b.first) })
	next := t0
	for _, sp := range spans {
		if !sp.first.Equal(next) {
			t.Fatalf("span of %d starts at %v, want %v (spans must not overlap or leave gaps)", sp.n, utc(sp.first), utc(next))
		}
		next = next.Add(time.Duration(sp.n) * iv)
	}
}

// testStatusLists: a list is published at version 1, then moved one version at a time; a
// stale version conflicts and leaves the stored list as it was; lists are independent.
func testStatusLists(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	_, err := s.GetStatusList(ctx, 1)
	wantKind(t, err, credbatch.KindNotFound, "get a list never published")
	list := func(n, v int, enc string) credbatch.StatusList {
		return credbatch.StatusList{Number: n, Version: v, EncodedList: enc, JSONLD: `{"id":"` + enc + `"}`, JWT: "h." + enc + ".s", UpdatedAt: at(v)}
	}
	must(t, s.PutStatusList(ctx, list(1, 1, "uA")), "publish list 1")
	wantKind(t, s.PutStatusList(ctx, list(1, 1, "uB")), credbatch.KindConflict, "publish list 1 at version 1 again")
	must(t, s.PutStatusList(ctx, list(1, 2, "uC")), "publish list 1 version 2")
	wantKind(t, s.PutStatusList(ctx, list(1, 2, "uD")), credbatch.KindConflict, "publish list 1 version 2 again")
	wantKind(t, s.PutStatusList(ctx, list(1, 4, "uE")), credbatch.KindConflict, "publish list 1 version 4 after 2")
	must(t, s.PutStatusList(ctx, list(2, 1, "uF")), "publish list 2")
	for _, inv := range []credbatch.StatusList{list(1, 0, "uG"), list(0, 1, "uH")} {
		wantKind(t, s.PutStatusList(ctx, inv), credbatch.KindInvalid, fmt.Sprintf("publish list %d version %d", inv.Number, inv.Version))
	}
	got, err := s.GetStatusList(ctx, 1)
	must(t, err, "get list 1")
	if want := list(1, 2, "uC"); got != want {
		t.Errorf("list 1 = %+v, want %+v", got, want)
	}
	if got, err := s.GetStatusList(ctx, 2); err != nil || got.EncodedList != "uF" || got.Version != 1 {
		t.Errorf("list 2 = %+v, %v", got, err)
	}
}

// testStatusListsConcurrent: racers read, bump and put one list; every version is won by
// exactly one racer (the compare-and-swap publishers rely on).
func testStatusListsConcurrent(t *testing.T, s credbatch.Store, c Capabilities) {
	ctx := t.Context()
	must(t, s.PutStatusList(ctx, credbatch.StatusList{Number: 3, Version: 1, EncodedList: "u0", UpdatedAt: at(0)}), "publish")
	const each = 5
	var mu sync.Mutex
	won := map[int]int{}
	errs := race(c.racers(), func(i int) error {
		for done := 0; done < each; {
			cur, err := s.GetStatusList(ctx, 3)
			if err != nil {
				return err
			}
			next := credbatch.StatusList{Number: 3, Version: cur.Version + 1, EncodedList: fmt.Sprintf("u%d", i), UpdatedAt: at(cur.Version)}
			switch err := s.PutStatusList(ctx, next); {
			case credbatch.IsKind(err, credbatch.KindConflict):
				continue
			case err != nil:
				return err
			}
			mu.Lock()
			if prev, ok := won[next.Version]; ok {
				mu.Unlock()
				return fmt.Errorf("version %d won by racer %d and racer %d", next.Version, prev, i)
			}
			won[next.Version] = i
			mu.Unlock()
			done++
		}
		return nil
	})
	for i, err := range errs {
		must(t, err, fmt.Sprintf("racer %d", i))
	}
	got, err := s.GetStatusList(ctx, 3)
	must(t, err, "get")
	if want := 1 + c.racers()*each; got.Version != want {
		t.Errorf("version = %d after %d successful puts, want %d", got.Version, c.racers()*each, want)
	}
}
