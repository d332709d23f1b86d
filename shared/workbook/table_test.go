package workbook

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

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

// TestErrorReportTypedCells reads an error report back with openpyxl: in date columns a
// serial or an ISO date is a date cell holding the row's parsed date (right for a 1904
// workbook too), in number columns plain decimals are number cells, everything else stays
// the text the user wrote, formula-like text neutralised; a finding still marks a date cell;
// the Batch sheet says the status in words and links to the batch that replaced it.
func TestErrorReportTypedCells(t *testing.T) {
	defs := map[string]credbatch.Definition{"web": {ID: "web", Attributes: []credbatch.Attribute{
		{Name: "Score", Type: credbatch.AttrNumber}, {Name: "Certificate Number", Type: credbatch.AttrText},
		{Name: "Award", Type: credbatch.AttrDate}}}}
	cols := TypedColumns([]credbatch.Column{{Header: "First Name", Field: credbatch.FieldFirstName},
		{Header: "Issue Date", Field: credbatch.FieldIssueDate}, {Header: "Score", Field: credbatch.AttributeField("Score")},
		{Header: "Certificate Number", Field: credbatch.AttributeField("Certificate Number")},
		{Header: "Award", Field: credbatch.AttributeField("Award")}, {Header: "Expiry", Field: credbatch.FieldExpiry}}, defs)
	rows := []credbatch.Row{
		{Number: 2, Status: credbatch.RowValid, IssueDate: "2026-11-02", ExpiryDate: "2028-11-02",
			Attributes: map[string]string{"Score": "91", "Award": "2026-05-01"},
			Cells:      []string{"Ana", "46328", "91", "00123", "2026-05-01", "2 years"}},
		// A 1904-system workbook: its serial is 1462 lower; the parsed date is what counts.
		{Number: 3, Status: credbatch.RowValid, IssueDate: "2026-11-02", Attributes: map[string]string{"Score": "-5"},
			Cells: []string{"=Bob", "44866", "-5", "-1+2", "", "46328"}},
		{Number: 4, Status: credbatch.RowInvalid, Attributes: map[string]string{"Award": "2026-05-01"},
			Cells: []string{"Cy", "2026-13-45", "=1+2", "@x", "2026-05-01", "03/04/2026"},
			Findings: []credbatch.Finding{{Row: 4, Column: "Award", Code: credbatch.CodeExpiryBeforeIssue, Message: "m"},
				{Row: 4, Column: "Issue Date", Code: credbatch.CodeInvalidDate, Message: "m"}}},
	}
	about := About{BatchID: "b1", Label: "=Spring", File: "spring.xlsx", Status: "needs fixing", Advice: "Fix the rows.",
		URL: "https://creds.example.org/batches/b1", ReplacedBy: "b2", ReplacedByURL: "https://creds.example.org/batches/b2"}
	var buf bytes.Buffer
	if err := ErrorReport(&buf, ErrorReportInput{Columns: cols, Rows: seq(rows, nil), About: about}); err != nil {
		t.Fatal(err)
	}
	sheets := externaltest.Openpyxl(t, buf.Bytes())
	got := sheets[RowsSheet]
	if len(got) != 4 {
		t.Fatalf("%d rows; want 4", len(got))
	}
	tests := []struct {
		row, col  int // 1-based row, column among the user's columns (after Status, Problems)
		wantValue any
		wantDate  bool
	}{
		{2, 1, "Ana", false},
		{2, 2, "2026-11-02T00:00:00", true},
		{2, 3, 91.0, false},
		{2, 4, "00123", false},
		{2, 5, "2026-05-01T00:00:00", true},
		{2, 6, "2 years", false},
		{3, 1, "'=Bob", false},
		{3, 2, "2026-11-02T00:00:00", true},
		{3, 3, -5.0, false},
		{3, 4, "'-1+2", false},
		{3, 6, "46328", false}, // no parsed expiry on this row: the serial stays as written
		{4, 2, "2026-13-45", false},
		{4, 3, "'=1+2", false},
		{4, 4, "'@x", false},
		{4, 5, "2026-05-01T00:00:00", true},
		{4, 6, "03/04/2026", false},
	}
	for _, tc := range tests {
		c := got[tc.row-1][len(ReportColumns)+tc.col-1]
		if c.Value != tc.wantValue || c.IsDate != tc.wantDate {
			t.Errorf("row %d column %d: %+v; want %v (date %v)", tc.row, tc.col, c, tc.wantValue, tc.wantDate)
		}
	}
	f, err := excelize.OpenReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fill := fillOf(t, f, RowsSheet, "G4"); !strings.EqualFold(fill, errorFill.fill) {
		t.Errorf("marked date cell G4 fill %q; want the error fill", fill)
	}
	batch := sheets[AboutSheet]
	lines := map[string]string{}
	for _, r := range batch {
		if len(r) >= 2 {
			lines[r[0].Text()] = r[1].Text()
		}
	}
	if lines["Status"] != "needs fixing" || lines["Replaced by"] != "b2" || lines["Label"] != "'=Spring" ||
		lines["Open the batch that replaced it"] != "https://creds.example.org/batches/b2" {
		t.Errorf("Batch sheet %q", lines)
	}
	link, url, err := f.GetCellHyperLink(AboutSheet, "B7")
	if err != nil || !link || url != "https://creds.example.org/batches/b1" {
		t.Errorf("B7 hyperlink %v %q %v", link, url, err)
	}
}
