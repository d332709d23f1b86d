package dynamo_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// pageAll follows cursors to the end, failing on a short page that is not the last.
func pageAll[T any](t *testing.T, limit int, list func(cursor string, limit int) (credbatch.Page[T], error)) []T {
	t.Helper()
	var all []T
	cursor := ""
	for range 100_000 {
		p, err := list(cursor, limit)
		if err != nil {
			t.Fatalf("list after %d items: %v", len(all), err)
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			return all
		}
		if len(p.Items) < limit {
			t.Fatalf("short page of %d (limit %d) with a next cursor", len(p.Items), limit)
		}
		cursor = p.Next
	}
	t.Fatal("too many pages")
	return nil
}

// TestDeliveriesAcrossDays checks the per-day partitions: windows spanning days, a zero
// since, and cursors that cross from one day to the next.
func TestDeliveriesAcrossDays(t *testing.T) {
	s := mustOpen(t)
	ctx := t.Context()
	day0 := time.Date(2025, 12, 30, 22, 0, 0, 0, time.UTC)
	var want []string
	for i := range 40 {
		at := day0.Add(time.Duration(i) * 3 * time.Hour) // five days, 8 a day
		id := fmt.Sprintf("d%02d", i)
		if ok, err := s.RecordDelivery(ctx, credbatch.Delivery{ID: id, MessageID: "m", Event: credbatch.EventDelivery, RecordedAt: at}); err != nil || !ok {
			t.Fatalf("record %s: %v, %v", id, ok, err)
		}
		want = append(want, id)
	}
	tests := []struct {
		name         string
		since, until time.Time
		limit        int
		want         []string
	}{
		{"zero since", time.Time{}, day0.Add(1000 * time.Hour), 7, want},
		{"page ends with a day", day0, day0.Add(1000 * time.Hour), 8, want},
		{"one at a time", day0, day0.Add(1000 * time.Hour), 1, want},
		{"middle window", day0.Add(6 * time.Hour), day0.Add(30 * time.Hour), 3, want[2:10]},
		{"window without events", day0.Add(1000 * time.Hour), day0.Add(2000 * time.Hour), 3, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := pageAll(t, tc.limit, func(c string, l int) (credbatch.Page[credbatch.Delivery], error) {
				return s.ListDeliveries(ctx, tc.since, tc.until, c, l)
			})
			var ids []string
			for _, d := range got {
				ids = append(ids, d.ID)
			}
			if strings.Join(ids, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %v, want %v", ids, tc.want)
			}
		})
	}
}

// TestLargeRows checks that a row with many 4 KB values fits in one item, and that a
// filtered listing (finding code) pages correctly when the matches are spread over many
// 1 MB query pages.
func TestLargeRows(t *testing.T) {
	s := mustOpen(t)
	ctx := t.Context()
	v4k := strings.Repeat("é", 2048) // 4096 bytes
	big := credbatch.Row{BatchID: "b1", Number: 2, Status: credbatch.RowValid, Attributes: map[string]string{}}
	for i := range 60 {
		big.Attributes[fmt.Sprintf("A%02d", i)] = v4k
		big.Cells = append(big.Cells, v4k)
	}
	rows := []credbatch.Row{big}
	var want []int
	for n := 3; n < 1500; n++ {
		r := credbatch.Row{BatchID: "b1", Number: n, Status: credbatch.RowValid, Cells: []string{v4k}}
		if n%97 == 0 {
			r.Status = credbatch.RowInvalid
			r.Findings = []credbatch.Finding{{Row: n, Code: credbatch.CodeInvalidEmail, Message: "fix it"}}
			want = append(want, n)
		}
		rows = append(rows, r)
	}
	if err := s.PutRows(ctx, rows); err != nil {
		t.Fatalf("PutRows: %v", err)
	}
	got, err := s.GetRow(ctx, "b1", 2)
	if err != nil {
		t.Fatalf("GetRow: %v", err)
	}
	if len(got.Attributes) != 60 || got.Attributes["A59"] != v4k || len(got.Cells) != 60 {
		t.Errorf("large row changed: %d attributes, %d cells", len(got.Attributes), len(got.Cells))
	}
	for _, f := range []credbatch.RowFilter{{Code: credbatch.CodeInvalidEmail}, {Code: credbatch.CodeInvalidEmail, Status: credbatch.RowInvalid}, {Status: credbatch.RowInvalid}} {
		t.Run(fmt.Sprintf("status=%s code=%s", f.Status, f.Code), func(t *testing.T) {
			rs := pageAll(t, 4, func(c string, l int) (credbatch.Page[credbatch.Row], error) {
				f.Cursor, f.Limit = c, l
				return s.ListRows(ctx, "b1", f)
			})
			var nums []int
			for _, r := range rs {
				nums = append(nums, r.Number)
			}
			if fmt.Sprint(nums) != fmt.Sprint(want) {
				t.Errorf("rows = %v, want %v", nums, want)
			}
		})
	}
	if err := s.DeleteRows(ctx, "b1"); err != nil {
		t.Fatalf("DeleteRows: %v", err)
	}
	p, err := s.ListRows(ctx, "b1", credbatch.RowFilter{})
	if err != nil || len(p.Items) != 0 {
		t.Errorf("after DeleteRows: %d rows, err %v", len(p.Items), err)
	}
}
