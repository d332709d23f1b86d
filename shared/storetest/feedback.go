package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

var deliveryTests = []namedTest{
	{"RecordIdempotent", testDeliveryIdempotent},
	{"ListWindow", testDeliveryWindow},
}

var suppressionTests = []namedTest{
	{"PutGetDelete", testSuppression},
}

var markTests = []namedTest{
	{"GetSetConditional", testMarks},
	{"SetRace", testMarkRace},
}

func newDelivery(id string, recorded time.Time) credbatch.Delivery {
	return credbatch.Delivery{
		ID: id, CredentialID: "c1", BatchID: "b1", MessageID: "msg-1", Email: "ada@example.com",
		Event: credbatch.EventBounce, BounceType: "Permanent", BounceSubType: "General",
		Diagnostic: "smtp; 550 5.1.1 user unknown — ñ", At: recorded.Add(-time.Second), RecordedAt: recorded,
	}
}

func testDeliveryIdempotent(t *testing.T, s credbatch.Store, c Capabilities) {
	ctx := t.Context()
	d := newDelivery("sns-1/ada@example.com", at(0))
	ok, err := s.RecordDelivery(ctx, d)
	must(t, err, "record")
	if !ok {
		t.Fatal("first record: got false, want true")
	}
	dup := d
	dup.Event = credbatch.EventDelivery
	ok, err = s.RecordDelivery(ctx, dup)
	must(t, err, "record again")
	if ok {
		t.Fatal("second record: got true, want false")
	}
	p, err := s.ListDeliveries(ctx, at(-1), at(1), "", 0)
	must(t, err, "list")
	diff(t, "recorded once, first kept", mapSlice(p.Items, normDelivery), []credbatch.Delivery{normDelivery(d)})

	// Racing records of one event: exactly one reports true.
	var wins int
	results := make([]bool, c.racers())
	errs := race(c.racers(), func(i int) error {
		var err error
		results[i], err = s.RecordDelivery(ctx, newDelivery("sns-2/ada@example.com", at(0)))
		return err
	})
	for i, err := range errs {
		must(t, err, fmt.Sprintf("racer %d", i))
		if results[i] {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("racing records: %d reported new, want 1", wins)
	}
}

func testDeliveryWindow(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	// Recorded out of order; several share an instant.
	mins := []int{5, 1, 3, 3, 0, 9, 7, 3, 10}
	for i, m := range mins {
		_, err := s.RecordDelivery(ctx, newDelivery(fmt.Sprintf("d%d", i), at(m)))
		must(t, err, "record")
	}
	minutes := func(ds []credbatch.Delivery) []int {
		out := []int{}
		for _, d := range ds {
			out = append(out, int(d.RecordedAt.Sub(t0)/time.Minute))
		}
		return out
	}
	tests := []struct {
		name         string
		since, until int
		limit        int
		want         []int
	}{
		{"all", -1, 11, 0, []int{0, 1, 3, 3, 3, 5, 7, 9, 10}},
		{"since inclusive, until exclusive", 3, 9, 0, []int{3, 3, 3, 5, 7}},
		{"paged through ties", 0, 11, 2, []int{0, 1, 3, 3, 3, 5, 7, 9, 10}},
		{"one at a time", 3, 4, 1, []int{3, 3, 3}},
		{"empty window", 11, 20, 0, []int{}},
		{"until before since", 9, 3, 0, []int{}},
	}
	for _, tc := range tests {
		got := collect(t, tc.name, tc.limit, func(cur string, l int) (credbatch.Page[credbatch.Delivery], error) {
			return s.ListDeliveries(ctx, at(tc.since), at(tc.until), cur, l)
		})
		diff(t, tc.name, minutes(got), tc.want)
		seen := map[string]bool{}
		for _, d := range got {
			if seen[d.ID] {
				t.Fatalf("%s: %s listed twice", tc.name, d.ID)
			}
			seen[d.ID] = true
		}
	}
	_, err := s.ListDeliveries(ctx, at(0), at(11), "not-a-cursor!", 0)
	wantKind(t, err, credbatch.KindInvalid, "bad cursor")
}

func testSuppression(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	_, err := s.GetSuppression(ctx, "ada@example.com")
	wantKind(t, err, credbatch.KindNotFound, "get before put")
	wantKind(t, s.DeleteSuppression(ctx, "ada@example.com"), credbatch.KindNotFound, "delete before put")

	must(t, s.PutSuppression(ctx, credbatch.Suppression{Email: "Ada@Example.com", Reason: "bounce", MessageID: "m1", At: at(1)}), "put")
	want := credbatch.Suppression{Email: "ada@example.com", Reason: "bounce", MessageID: "m1", At: at(1)}
	for _, q := range []string{"ada@example.com", "ADA@EXAMPLE.COM", "Ada@Example.com"} {
		got, err := s.GetSuppression(ctx, q)
		must(t, err, "get "+q)
		diff(t, "get "+q, normSuppression(got), want)
	}
	// Replace (complaint after bounce), under another spelling.
	must(t, s.PutSuppression(ctx, credbatch.Suppression{Email: "ADA@example.com", Reason: "complaint", At: at(2)}), "replace")
	got, err := s.GetSuppression(ctx, "ada@example.com")
	must(t, err, "get replaced")
	diff(t, "replaced", normSuppression(got), credbatch.Suppression{Email: "ada@example.com", Reason: "complaint", At: at(2)})
	_, err = s.GetSuppression(ctx, "bob@example.com")
	wantKind(t, err, credbatch.KindNotFound, "other address")

	must(t, s.DeleteSuppression(ctx, "aDa@example.COM"), "delete")
	_, err = s.GetSuppression(ctx, "ada@example.com")
	wantKind(t, err, credbatch.KindNotFound, "get after delete")
	wantKind(t, s.DeleteSuppression(ctx, "ada@example.com"), credbatch.KindNotFound, "delete twice")
}

func testMarks(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	_, err := s.GetMark(ctx, "report")
	wantKind(t, err, credbatch.KindNotFound, "get unset")
	steps := []struct {
		name     string
		from, to time.Time
		wantErr  credbatch.Kind
		want     time.Time
	}{
		{"set from never", time.Time{}, at(1), "", at(1)},
		{"again from never", time.Time{}, at(2), credbatch.KindConflict, at(1)},
		{"stale from", at(0), at(2), credbatch.KindConflict, at(1)},
		{"advance", at(1), at(2), "", at(2)},
		{"advance sub-second", at(2), at(2).Add(1500 * time.Millisecond), "", at(2).Add(1500 * time.Millisecond)},
	}
	for _, st := range steps {
		err := s.SetMark(ctx, "report", st.from, st.to)
		if st.wantErr != "" {
			wantKind(t, err, st.wantErr, st.name)
		} else {
			must(t, err, st.name)
		}
		got, err := s.GetMark(ctx, "report")
		must(t, err, st.name+": get")
		if !got.Equal(st.want) {
			t.Fatalf("%s: mark %v, want %v", st.name, got, st.want)
		}
	}
	_, err = s.GetMark(ctx, "other")
	wantKind(t, err, credbatch.KindNotFound, "marks are separate")
}

func testMarkRace(t *testing.T, s credbatch.Store, c Capabilities) {
	ctx := t.Context()
	must(t, s.SetMark(ctx, "m", time.Time{}, at(0)), "set")
	errs := race(c.racers(), func(i int) error {
		return s.SetMark(ctx, "m", at(0), at(i+1))
	})
	w := oneWinner(t, "advance mark", errs)
	got, err := s.GetMark(ctx, "m")
	must(t, err, "get")
	if !got.Equal(at(w + 1)) {
		t.Fatalf("mark %v, want the winner's %v", got, at(w+1))
	}
}
