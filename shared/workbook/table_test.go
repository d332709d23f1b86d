package workbook

import (
	"bytes"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/externaltest"
)

// TestCells reads a typed table back with openpyxl: numbers are number cells, dates date
// cells, and text starting like a formula stays neutralised.
func TestCells(t *testing.T) {
	at := time.Date(2026, 12, 3, 17, 4, 5, 0, time.FixedZone("CET", 3600))
	rows := [][]any{
		{"=1+2", 42, 2.5, at, Day(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)), nil},
		{"-5", -7, -0.25, time.Time{}, Day{}, "@SUM(A1)"},
	}
	var buf bytes.Buffer
	if err := Cells(&buf, "Typed", []string{"Text", "Int", "Float", "When", "Day", "More"}, seq(rows, nil)); err != nil {
		t.Fatal(err)
	}
	got := externaltest.Openpyxl(t, buf.Bytes())["Typed"]
	if len(got) != 3 {
		t.Fatalf("%d rows; want 3", len(got))
	}
	tests := []struct {
		row, col   int
		wantValue  any
		wantType   string
		wantIsDate bool
	}{
		{1, 0, "'=1+2", "s", false},
		{1, 1, 42.0, "n", false},
		{1, 2, 2.5, "n", false},
		{1, 3, "2026-12-03T16:04:05", "d", true},
		{1, 4, "2026-11-30T00:00:00", "d", true},
		{2, 0, "-5", "s", false},
		{2, 1, -7.0, "n", false},
		{2, 2, -0.25, "n", false},
		{2, 3, nil, "", false},
		{2, 4, nil, "", false},
		{2, 5, "'@SUM(A1)", "s", false},
	}
	for _, tc := range tests {
		r := got[tc.row]
		var c externaltest.Cell
		if tc.col < len(r) {
			c = r[tc.col]
		}
		if c.Value != tc.wantValue || (tc.wantType != "" && c.Type != tc.wantType) || c.IsDate != tc.wantIsDate {
			t.Errorf("row %d column %d: %+v; want %v (%s, date %v)", tc.row+1, tc.col+1, c, tc.wantValue, tc.wantType, tc.wantIsDate)
		}
	}
	if f := got[1][3].Format; f != DateTimeFormat {
		t.Errorf("date-time format %q; want %q", f, DateTimeFormat)
	}
	if f := got[1][4].Format; f != DayFormat {
		t.Errorf("day format %q; want %q", f, DayFormat)
	}
}

func TestCellsBadType(t *testing.T) {
	var buf bytes.Buffer
	err := Cells(&buf, "T", []string{"A"}, seq([][]any{{struct{}{}}}, nil))
	if !credbatch.IsKind(err, credbatch.KindInvalid) {
		t.Errorf("a struct cell: %v; want KindInvalid", err)
	}
}
