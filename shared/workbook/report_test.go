package workbook

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/xuri/excelize/v2"
)

func seq[T any](items []T, err error) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for _, it := range items {
			if !yield(it, nil) {
				return
			}
		}
		if err != nil {
			var zero T
			yield(zero, err)
		}
	}
}

var dimension = regexp.MustCompile(`<dimension ref="([^"]+)"`)

// dimensions returns the declared dimension of each worksheet part, read from the zip XML
// (what openpyxl's read-only mode trusts).
func dimensions(t *testing.T, data []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("open zip: %v", err)
	}
	out := map[string]string{}
	for _, zf := range zr.File {
		if !strings.HasPrefix(zf.Name, "xl/worksheets/sheet") {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if m := dimension.FindSubmatch(b); m != nil {
			out[zf.Name] = string(m[1])
		} else {
			out[zf.Name] = ""
		}
	}
	return out
}

func open(t *testing.T, data []byte) *excelize.File {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("open workbook: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func fillOf(t *testing.T, f *excelize.File, sheet, cell string) string {
	t.Helper()
	id, err := f.GetCellStyle(sheet, cell)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.GetStyle(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Fill.Color) == 0 {
		return ""
	}
	return st.Fill.Color[0]
}

func TestErrorReport(t *testing.T) {
	columns := []string{"First Name", "Last Name", "Email", "Score"}
	rows := []credbatch.Row{
		{Number: 2, Status: credbatch.RowValid, Cells: []string{"Ana", "Lopez", "ana@example.org", "90"}},
		{Number: 3, Status: credbatch.RowInvalid, Cells: []string{"=HYPERLINK(\"http://x\")", "+1", "bad@", "-5"},
			Findings: []credbatch.Finding{
				{Row: 3, Column: "Email", Code: credbatch.CodeInvalidEmail, Message: `"bad@" is not an email address`, Severity: credbatch.SeverityError},
				{Row: 3, Column: "score", Code: credbatch.CodeOutOfRange, Message: "use 0 to 100", Severity: credbatch.SeverityWarning},
			}},
		// Row 4 was blank in the upload; row 5 has a trailing empty cell the reader dropped.
		{Number: 5, Status: credbatch.RowInvalid, Cells: []string{"@Bob", "\tTab", "bob@example.org"},
			Findings: []credbatch.Finding{
				{Row: 5, Column: "Score", Code: credbatch.CodeMissingValue, Message: "give a score"},
				{Row: 5, Column: "Email", Code: credbatch.CodeSuppressedRecipient, Message: "bounced before", Severity: credbatch.SeverityWarning},
				{Row: 5, Column: "Nickname", Code: credbatch.CodeUnsafeValue, Message: "not a column of the file"},
			}},
		{Number: 5, Cells: []string{"\rCR", "Dup", "dup@example.org", "1"}}, // out of order: goes below
	}
	file := []credbatch.Finding{{Row: 1, Column: "Nick", Code: credbatch.CodeUnknownColumns, Message: "column ignored", Severity: credbatch.SeverityWarning}}
	var buf bytes.Buffer
	if err := ErrorReport(&buf, ErrorReportInput{Columns: TextColumns(columns), Rows: seq(rows, nil), FileFindings: file}); err != nil {
		t.Fatalf("ErrorReport: %v", err)
	}
	f := open(t, buf.Bytes())
	if got, want := f.GetSheetList(), []string{RowsSheet, FindingsSheet}; !slices.Equal(got, want) {
		t.Fatalf("sheets = %q, want %q", got, want)
	}
	got, err := f.GetRows(RowsSheet)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"Status", "Problems", "First Name", "Last Name", "Email", "Score"},
		{"valid", "", "Ana", "Lopez", "ana@example.org", "90"},
		{"invalid", `Email: "bad@" is not an email address; score: use 0 to 100`, `'=HYPERLINK("http://x")`, "'+1", "bad@", "-5"},
		nil,
		{"invalid", "Score: give a score; Email: bounced before; Nickname: not a column of the file", "'@Bob", "'\tTab", "bob@example.org"},
		{"valid", "", "'\rCR", "Dup", "dup@example.org", "1"},
	}
	if len(got) != len(want) {
		t.Fatalf("rows = %q, want %q", got, want)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("row %d = %q, want %q", i+1, got[i], want[i])
		}
	}
	fills := []struct {
		cell, want string
	}{
		{"E3", errorFill.fill},   // Email error
		{"F3", warningFill.fill}, // score warning, matched case-insensitively
		{"C3", ""},
		{"F5", errorFill.fill}, // missing value: an empty cell, highlighted
		{"E5", warningFill.fill},
		{"A2", goodFill.fill},
		{"A3", errorFill.fill},
		{"A6", goodFill.fill},
	}
	for _, tt := range fills {
		if got := fillOf(t, f, RowsSheet, tt.cell); !strings.EqualFold(got, tt.want) {
			t.Errorf("fill of %s = %q, want %q", tt.cell, got, tt.want)
		}
	}
	findings, err := f.GetRows(FindingsSheet)
	if err != nil {
		t.Fatal(err)
	}
	wantFindings := [][]string{
		{"Row", "Column", "Code", "Severity", "Message"},
		{"1", "Nick", "unknown_columns", "warning", "column ignored"},
		{"3", "Email", "invalid_email", "error", `"bad@" is not an email address`},
		{"3", "score", "out_of_range", "warning", "use 0 to 100"},
		{"5", "Score", "missing_value", "error", "give a score"},
		{"5", "Email", "suppressed_recipient", "warning", "bounced before"},
		{"5", "Nickname", "unsafe_value", "error", "not a column of the file"},
	}
	if !slices.EqualFunc(findings, wantFindings, slices.Equal) {
		t.Errorf("findings = %q, want %q", findings, wantFindings)
	}
	for sheet, ref := range map[string]string{"xl/worksheets/sheet1.xml": "A1:F6", "xl/worksheets/sheet2.xml": "A1:E7"} {
		if got := dimensions(t, buf.Bytes())[sheet]; got != ref {
			t.Errorf("dimension of %s = %q, want %q", sheet, got, ref)
		}
	}
	for _, sheet := range []string{RowsSheet, FindingsSheet} {
		panes, err := f.GetPanes(sheet)
		if err != nil || !panes.Freeze || panes.YSplit != 1 {
			t.Errorf("%s panes = %+v (%v), want header frozen", sheet, panes, err)
		}
	}
}

func TestErrorReportEmpty(t *testing.T) {
	var buf bytes.Buffer
	file := []credbatch.Finding{{Code: credbatch.CodeEmptyFile, Message: "the file has no rows"}}
	if err := ErrorReport(&buf, ErrorReportInput{Columns: TextColumns([]string{"Email"}), Rows: seq[credbatch.Row](nil, nil), FileFindings: file}); err != nil {
		t.Fatal(err)
	}
	dims := dimensions(t, buf.Bytes())
	if got := dims["xl/worksheets/sheet1.xml"]; got != "A1:C1" {
		t.Errorf("rows dimension = %q, want A1:C1", got)
	}
	f := open(t, buf.Bytes())
	rows, err := f.GetRows(FindingsSheet)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"", "", "empty_file", "error", "the file has no rows"}; len(rows) != 2 || !slices.Equal(rows[1], want) {
		t.Errorf("findings = %q, want the file finding %q", rows, want)
	}
}

func TestIteratorErrors(t *testing.T) {
	boom := errors.New("store down")
	tests := []struct {
		name string
		run  func() error
	}{
		{"error report", func() error {
			return ErrorReport(io.Discard, ErrorReportInput{Columns: TextColumns([]string{"Email"}), Rows: seq([]credbatch.Row{{Number: 2}}, boom), FileFindings: nil})
		}},
		{"table", func() error {
			return Table(io.Discard, "Export", []string{"A"}, seq([][]string{{"x"}}, boom))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); !errors.Is(err, boom) {
				t.Errorf("err = %v, want it to wrap %v", err, boom)
			}
		})
	}
}

func TestErrorReportRowBeyondSheet(t *testing.T) {
	err := ErrorReport(io.Discard, ErrorReportInput{Columns: TextColumns(nil), Rows: seq([]credbatch.Row{{Number: maxRows + 1}}, nil), FileFindings: nil})
	if credbatch.ErrorKind(err) != credbatch.KindInvalid {
		t.Errorf("err = %v, want KindInvalid", err)
	}
}

func TestTable(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		rows    [][]string
		wantDim string
		want    [][]string
	}{
		{"safe cells", []string{"Email", "Reason"},
			[][]string{{"a@example.org", "=1+1"}, {"@b", "-3"}, {"c@example.org", "bounced", "extra"}},
			"A1:C4",
			[][]string{{"Email", "Reason"}, {"a@example.org", "'=1+1"}, {"'@b", "-3"}, {"c@example.org", "bounced", "extra"}}},
		{"header only", []string{"Email"}, nil, "A1:A1", [][]string{{"Email"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Table(&buf, "Failed recipients", tt.headers, seq(tt.rows, nil)); err != nil {
				t.Fatal(err)
			}
			if got := dimensions(t, buf.Bytes())["xl/worksheets/sheet1.xml"]; got != tt.wantDim {
				t.Errorf("dimension = %q, want %q", got, tt.wantDim)
			}
			f := open(t, buf.Bytes())
			got, err := f.GetRows("Failed recipients")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("rows = %q, want %q", got, tt.want)
			}
			id, err := f.GetCellStyle("Failed recipients", "A1")
			if err != nil {
				t.Fatal(err)
			}
			if st, err := f.GetStyle(id); err != nil || st.Font == nil || !st.Font.Bold {
				t.Errorf("header style = %+v (%v), want bold", st, err)
			}
		})
	}
}

func TestTableBadSheetName(t *testing.T) {
	err := Table(io.Discard, "a/b", []string{"x"}, seq[[]string](nil, nil))
	if credbatch.ErrorKind(err) != credbatch.KindInvalid {
		t.Errorf("err = %v, want KindInvalid", err)
	}
}

// reportRows yields n rows of 8 cells, every tenth invalid with two findings.
func reportRows(n int) iter.Seq2[credbatch.Row, error] {
	return func(yield func(credbatch.Row, error) bool) {
		for i := range n {
			num := i + 2
			r := credbatch.Row{Number: num, Status: credbatch.RowValid, Cells: []string{
				"First" + fmt.Sprint(i), "Last", fmt.Sprintf("user%d@example.org", i), "2025-03-04", "2 years", "85", "Basic", "Note"}}
			if i%10 == 0 {
				r.Status = credbatch.RowInvalid
				r.Findings = []credbatch.Finding{
					{Row: num, Column: "Email", Code: credbatch.CodeInvalidEmail, Message: "not an email address"},
					{Row: num, Column: "Score", Code: credbatch.CodeOutOfRange, Message: "use 0 to 100", Severity: credbatch.SeverityWarning},
				}
			}
			if !yield(r, nil) {
				return
			}
		}
	}
}

var benchColumns = []string{"First Name", "Last Name", "Email", "Issue Date", "Expiration Date/Duration", "Score", "Level", "Notes"}

func TestErrorReportLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large report")
	}
	const n = 20_000
	var buf bytes.Buffer
	if err := ErrorReport(&buf, ErrorReportInput{Columns: TextColumns(benchColumns), Rows: reportRows(n), FileFindings: nil}); err != nil {
		t.Fatal(err)
	}
	dims := dimensions(t, buf.Bytes())
	if got, want := dims["xl/worksheets/sheet1.xml"], fmt.Sprintf("A1:J%d", n+1); got != want {
		t.Errorf("rows dimension = %q, want %q", got, want)
	}
	if got, want := dims["xl/worksheets/sheet2.xml"], fmt.Sprintf("A1:E%d", 1+2*n/10); got != want {
		t.Errorf("findings dimension = %q, want %q", got, want)
	}
}

func BenchmarkErrorReport100k(b *testing.B) {
	for b.Loop() {
		if err := ErrorReport(io.Discard, ErrorReportInput{Columns: TextColumns(benchColumns), Rows: reportRows(100_000), FileFindings: nil}); err != nil {
			b.Fatal(err)
		}
	}
}
