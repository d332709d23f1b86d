package workbook

import (
	"fmt"
	"io"
	"iter"
	"strings"
	"unicode/utf8"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/xuri/excelize/v2"
)

// ReportColumns are the columns an error report adds before the uploaded ones. A fixed report
// may be uploaded again: the validator should skip these headers rather than report them as
// unknown columns.
var ReportColumns = []string{"Status", "Problems"}

// Sheet names of an error report.
const (
	RowsSheet     = "Rows"     // the uploaded rows with their status and problems
	FindingsSheet = "Findings" // one line per finding, file-level ones first
)

// maxRows is the last row number of a worksheet.
const maxRows = 1_048_576

// Cell colours: Excel's "Bad", "Neutral" and "Good" styles.
var (
	errorFill   = cellColours{fill: "FFC7CE", font: "9C0006"}
	warningFill = cellColours{fill: "FFEB9C", font: "9C5700"}
	goodFill    = cellColours{fill: "C6EFCE", font: "006100"}
)

type cellColours struct{ fill, font string }

// ErrorReportInput is what an error report shows.
type ErrorReportInput struct {
	Columns      []ReportColumn // the upload's columns, in order
	Rows         iter.Seq2[credbatch.Row, error]
	FileFindings []credbatch.Finding
	About        About // the batch (zero: no Batch sheet)
}

// ErrorReport writes the error report of an upload as .xlsx. The first sheet, Rows, holds
// the uploaded rows (Row.Cells in the order of columns, under the original headers) after a
// Status column (the row's status) and a Problems column (its findings' messages); a cell
// that a finding names (Finding.Column equal to its header, else equal up to case, spaces
// and punctuation) is filled light red for an error and light yellow for a warning. Each row
// is written at its own row number (Row.Number) when numbers ascend, so "row 57" in a
// message is row 57 of the report. The second sheet, Findings, lists row, column, code,
// severity and message of every finding, the file-level ones first. A third sheet, Batch,
// says which batch it is, its status in words ("needs fixing"), what to do, and links to the
// batch and to the batch that replaced it.
//
// Cells keep the values the user gave, as real cells where the column's type says so: in a
// date column a date serial or an ISO date becomes a date cell (the row's parsed value, so a
// 1904-system workbook's dates stay right), in a number column a plain decimal becomes a
// number cell; anything else stays text as written, through Safe.
//
// Rows may run to hundreds of thousands: they are spooled to a temporary file, then
// streamed into the workbook with a declared dimension, so memory stays flat. Every string
// cell goes through Safe. The error is the iterator's (wrapped), KindInvalid when a row
// number is beyond the sheet, or an I/O error.
func ErrorReport(w io.Writer, in ErrorReportInput) error {
	columns := make([]string, len(in.Columns))
	for i, c := range in.Columns {
		columns[i] = c.Header
	}
	rows, fileFindings := in.Rows, in.FileFindings
	sp, err := newSpool()
	if err != nil {
		return fmt.Errorf("error report: %w", err)
	}
	defer sp.close()
	nCols := len(columns)
	widths := make([]int, 0, nCols+8)
	for _, c := range columns {
		widths = append(widths, utf8.RuneCountInString(c)+2)
	}
	last, count, nFindings := 1, 0, len(fileFindings)
	for r, err := range rows {
		if err != nil {
			return fmt.Errorf("error report: read rows: %w", err)
		}
		n := r.Number
		if n <= last {
			n = last + 1
		}
		if n > maxRows {
			return credbatch.Errorf(credbatch.KindInvalid, "error report: row %d is beyond the last row of a worksheet (%d)", n, maxRows)
		}
		last = n
		count++
		sp.putInt(n)
		sp.putString(rowStatus(r))
		sp.putInt(len(r.Cells))
		for i, c := range r.Cells {
			var col ReportColumn
			if i < len(in.Columns) {
				col = in.Columns[i]
			}
			width, err := sp.putCell(col.cell(r, c))
			if err != nil {
				return fmt.Errorf("error report: row %d: %w", n, err)
			}
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], width)
		}
		nCols = max(nCols, len(r.Cells))
		sp.putInt(len(r.Findings))
		for _, f := range r.Findings {
			sp.putInt(f.Row)
			sp.putString(f.Column)
			sp.putString(f.Code)
			sp.putString(string(f.Severity))
			sp.putString(f.Message)
		}
		nFindings += len(r.Findings)
	}
	if err := sp.rewind(); err != nil {
		return fmt.Errorf("error report: %w", err)
	}

	f := excelize.NewFile()
	defer f.Close()
	st, err := newStyles(f)
	if err != nil {
		return fmt.Errorf("error report: %w", err)
	}
	if err := f.SetSheetName("Sheet1", RowsSheet); err != nil {
		return fmt.Errorf("error report: %w", err)
	}
	if _, err := f.NewSheet(FindingsSheet); err != nil {
		return fmt.Errorf("error report: %w", err)
	}
	rowsWidths := append([]int{10, 60}, widths...)
	rowsSW, err := openStream(f, RowsSheet, len(ReportColumns)+nCols, last, rowsWidths, st.text)
	if err != nil {
		return fmt.Errorf("error report: %w", err)
	}
	findSW, err := openStream(f, FindingsSheet, 5, 1+nFindings, []int{8, 24, 22, 10, 80}, 0)
	if err != nil {
		return fmt.Errorf("error report: %w", err)
	}
	header := append(append([]string(nil), ReportColumns...), columns...)
	if err := writeHeader(rowsSW, header, st.header); err != nil {
		return fmt.Errorf("error report: %w", err)
	}
	if err := writeHeader(findSW, []string{"Row", "Column", "Code", "Severity", "Message"}, st.header); err != nil {
		return fmt.Errorf("error report: %w", err)
	}
	fw := findingWriter{sw: findSW, row: 1, st: st}
	for _, fd := range fileFindings {
		if err := fw.write(fd, 0); err != nil {
			return fmt.Errorf("error report: %w", err)
		}
	}
	index := columnIndex(columns)
	cells := make([]any, 0, len(ReportColumns)+nCols)
	var findings []credbatch.Finding
	var problems strings.Builder
	for range count {
		n, err := sp.int()
		if err != nil {
			return fmt.Errorf("error report: %w", err)
		}
		status, err := sp.string()
		if err != nil {
			return fmt.Errorf("error report: %w", err)
		}
		nc, err := sp.int()
		if err != nil {
			return fmt.Errorf("error report: %w", err)
		}
		cells = cells[:0]
		cells = append(cells, nil, nil)
		for range nc {
			v, err := sp.cell(st) // text through Safe; a date is a Cell with its style
			if err != nil {
				return fmt.Errorf("error report: %w", err)
			}
			cells = append(cells, v) // wrapped in a Cell when a finding styles it
		}
		nf, err := sp.int()
		if err != nil {
			return fmt.Errorf("error report: %w", err)
		}
		findings = findings[:0]
		problems.Reset()
		worst := ""
		for range nf {
			var fd credbatch.Finding
			if fd.Row, err = sp.int(); err == nil {
				if fd.Column, err = sp.string(); err == nil {
					if fd.Code, err = sp.string(); err == nil {
						var sev string
						if sev, err = sp.string(); err == nil {
							fd.Severity = credbatch.Severity(sev)
							fd.Message, err = sp.string()
						}
					}
				}
			}
			if err != nil {
				return fmt.Errorf("error report: %w", err)
			}
			findings = append(findings, fd)
			if problems.Len() > 0 {
				problems.WriteString("; ")
			}
			if fd.Column != "" {
				problems.WriteString(fd.Column)
				problems.WriteString(": ")
			}
			problems.WriteString(fd.Message)
			sev := severity(fd)
			if worst != string(credbatch.SeverityError) {
				worst = string(sev)
			}
			if i, ok := index.find(fd.Column); ok {
				pos := len(ReportColumns) + i
				for len(cells) <= pos {
					cells = append(cells, nil)
				}
				c, ok := cells[pos].(excelize.Cell)
				if !ok {
					c.Value = cells[pos] // a string, a number, or nil for a cell the row does not reach
				}
				if sev == credbatch.SeverityError || !st.isError(c.StyleID) {
					c.StyleID = st.marked(sev, c.StyleID)
				}
				cells[pos] = c
			}
			if err := fw.write(fd, n); err != nil {
				return fmt.Errorf("error report: %w", err)
			}
		}
		statusStyle := st.good
		switch {
		case worst == string(credbatch.SeverityError) || status == string(credbatch.RowInvalid) || status == string(credbatch.RowFailed):
			statusStyle = st.errorCell
		case worst == string(credbatch.SeverityWarning):
			statusStyle = st.warningCell
		}
		cells[0] = excelize.Cell{Value: Safe(status), StyleID: statusStyle}
		cells[1] = Safe(problems.String())
		cell, err := excelize.CoordinatesToCellName(1, n)
		if err != nil {
			return fmt.Errorf("error report: %w", err)
		}
		if err := rowsSW.SetRow(cell, cells); err != nil {
			return fmt.Errorf("error report: row %d: %w", n, err)
		}
	}
	if err := rowsSW.Flush(); err != nil {
		return fmt.Errorf("error report: %w", err)
	}
	if err := findSW.Flush(); err != nil {
		return fmt.Errorf("error report: %w", err)
	}
	if err := in.About.write(f, st); err != nil {
		return fmt.Errorf("error report: %w", err)
	}
	if err := f.Write(w); err != nil {
		return fmt.Errorf("error report: write: %w", err)
	}
	return nil
}

// rowStatus is the Status cell of a row: its status, or valid/invalid from its findings.
func rowStatus(r credbatch.Row) string {
	if r.Status != "" {
		return string(r.Status)
	}
	if credbatch.HasErrors(r.Findings) {
		return string(credbatch.RowInvalid)
	}
	return string(credbatch.RowValid)
}

// severity is a finding's severity; none means error.
func severity(f credbatch.Finding) credbatch.Severity {
	if f.Severity == credbatch.SeverityWarning {
		return credbatch.SeverityWarning
	}
	return credbatch.SeverityError
}

// findingWriter writes the lines of the Findings sheet.
type findingWriter struct {
	sw    *excelize.StreamWriter
	row   int
	st    styles
	cells [5]any
}

func (w *findingWriter) write(f credbatch.Finding, row int) error {
	w.row++
	if f.Row > 0 {
		row = f.Row
	}
	w.cells[0] = nil
	if row > 0 {
		w.cells[0] = row
	}
	sev := severity(f)
	w.cells[1] = Safe(f.Column)
	w.cells[2] = Safe(f.Code)
	w.cells[3] = excelize.Cell{Value: string(sev), StyleID: w.st.cell(sev)}
	w.cells[4] = Safe(f.Message)
	cell, err := excelize.CoordinatesToCellName(1, w.row)
	if err != nil {
		return err
	}
	return w.sw.SetRow(cell, w.cells[:])
}

// columnIndex finds a finding's column among the uploaded headers.
type columnIndex []string

func (c columnIndex) find(header string) (int, bool) {
	if header == "" {
		return 0, false
	}
	for i, h := range c {
		if h == header {
			return i, true
		}
	}
	key := credbatch.NormalizeHeader(header)
	for i, h := range c {
		if credbatch.NormalizeHeader(h) == key {
			return i, true
		}
	}
	return 0, false
}

// styles are the cell styles of reports and tables.
type styles struct {
	header, text, errorCell, warningCell, good int
	day, dateTime                              int // date and date-time cells
	errorDay, warningDay                       int // date cells a finding marks
	link                                       int
}

func newStyles(f *excelize.File) (styles, error) {
	var s styles
	var err error
	if s.header, err = f.NewStyle(&excelize.Style{
		Font:   &excelize.Font{Bold: true},
		Fill:   excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
		Border: []excelize.Border{{Type: "bottom", Color: "8EA9DB", Style: 1}},
		NumFmt: 49,
	}); err != nil {
		return s, err
	}
	if s.text, err = f.NewStyle(&excelize.Style{NumFmt: 49}); err != nil {
		return s, err
	}
	day, dateTime := DayFormat, DateTimeFormat
	if s.day, err = f.NewStyle(&excelize.Style{CustomNumFmt: &day}); err != nil {
		return s, err
	}
	if s.dateTime, err = f.NewStyle(&excelize.Style{CustomNumFmt: &dateTime}); err != nil {
		return s, err
	}
	for _, x := range []struct {
		id     *int
		c      cellColours
		format *string
	}{{&s.errorCell, errorFill, nil}, {&s.warningCell, warningFill, nil}, {&s.good, goodFill, nil},
		{&s.errorDay, errorFill, &day}, {&s.warningDay, warningFill, &day}} {
		style := &excelize.Style{
			Font:   &excelize.Font{Color: x.c.font},
			Fill:   excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{x.c.fill}},
			NumFmt: 49,
		}
		if x.format != nil {
			style.NumFmt, style.CustomNumFmt = 0, x.format
		}
		if *x.id, err = f.NewStyle(style); err != nil {
			return s, err
		}
	}
	if s.link, err = f.NewStyle(&excelize.Style{Font: &excelize.Font{Color: "0563C1", Underline: "single"}}); err != nil {
		return s, err
	}
	return s, nil
}

// marked is the style of a cell (of style cur) that a finding of the severity names: its
// fill, keeping a date cell's format.
func (s styles) marked(sev credbatch.Severity, cur int) int {
	if cur == s.day || cur == s.errorDay || cur == s.warningDay {
		if sev == credbatch.SeverityWarning {
			return s.warningDay
		}
		return s.errorDay
	}
	return s.cell(sev)
}

// isError reports whether a style marks an error.
func (s styles) isError(id int) bool { return id == s.errorCell || id == s.errorDay }

// cell is the style of a cell a finding of the severity names.
func (s styles) cell(sev credbatch.Severity) int {
	if sev == credbatch.SeverityWarning {
		return s.warningCell
	}
	return s.errorCell
}

// openStream declares the dimension of a sheet (cols × rows), then opens its stream writer
// with a frozen header row, the column widths (characters, capped) and a column style.
func openStream(f *excelize.File, sheet string, cols, rows int, widths []int, colStyle int) (*excelize.StreamWriter, error) {
	cols = max(cols, 1)
	lastCell, err := excelize.CoordinatesToCellName(cols, max(rows, 1))
	if err != nil {
		return nil, fmt.Errorf("sheet %s: %w", sheet, err)
	}
	if err := f.SetSheetDimension(sheet, "A1:"+lastCell); err != nil {
		return nil, fmt.Errorf("sheet %s: dimension: %w", sheet, err)
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return nil, fmt.Errorf("sheet %s: %w", sheet, err)
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}}}); err != nil {
		return nil, fmt.Errorf("sheet %s: %w", sheet, err)
	}
	for i := range cols {
		w := 10
		if i < len(widths) {
			w = min(max(widths[i]+2, 8), 60)
		}
		if err := sw.SetColWidth(i+1, i+1, float64(w)); err != nil {
			return nil, fmt.Errorf("sheet %s: %w", sheet, err)
		}
	}
	if colStyle != 0 {
		if err := sw.SetColStyle(1, cols, colStyle); err != nil {
			return nil, fmt.Errorf("sheet %s: %w", sheet, err)
		}
	}
	return sw, nil
}

func writeHeader(sw *excelize.StreamWriter, headers []string, style int) error {
	cells := make([]any, len(headers))
	for i, h := range headers {
		cells[i] = excelize.Cell{Value: Safe(h), StyleID: style}
	}
	return sw.SetRow("A1", cells, excelize.RowOpts{Height: 18})
}
