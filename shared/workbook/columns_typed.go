package workbook

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/xuri/excelize/v2"
)

// ReportColumn is a column of an error report: its header as the file wrote it, the field it
// maps to, and the type of its values (AttrDate and AttrNumber make real cells; anything else
// is text).
type ReportColumn struct {
	Header string
	Field  credbatch.Field
	Type   credbatch.AttrType
}

// TextColumns are columns whose cells are all written as text.
func TextColumns(headers []string) []ReportColumn {
	out := make([]ReportColumn, len(headers))
	for i, h := range headers {
		out[i] = ReportColumn{Header: h}
	}
	return out
}

// TypedColumns gives the columns of an upload their types: the issue date and expiry are
// dates; an attribute column has its attribute's type when every definition that has the
// attribute agrees on it, else text.
func TypedColumns(cols []credbatch.Column, defs map[string]credbatch.Definition) []ReportColumn {
	out := make([]ReportColumn, len(cols))
	for i, c := range cols {
		out[i] = ReportColumn{Header: c.Header, Field: c.Field}
		switch c.Field {
		case credbatch.FieldIssueDate, credbatch.FieldExpiry:
			out[i].Type = credbatch.AttrDate
			continue
		}
		name, ok := c.Field.Attribute()
		if !ok {
			continue
		}
		var typ credbatch.AttrType
		agree := true
		for _, d := range defs {
			for _, a := range d.Attributes {
				if credbatch.NormalizeHeader(a.Name) != credbatch.NormalizeHeader(name) {
					continue
				}
				if typ != "" && typ != a.Type {
					agree = false
				}
				typ = a.Type
			}
		}
		if agree && (typ == credbatch.AttrDate || typ == credbatch.AttrNumber) {
			out[i].Type = typ
		}
	}
	return out
}

// cell is the value an error report writes for a row's cell in the column: a Day for a date
// the row parsed from a serial or an ISO date, a number for a plain decimal in a number
// column, else the text as written.
func (c ReportColumn) cell(r credbatch.Row, raw string) any {
	v := strings.TrimSpace(raw)
	switch c.Type {
	case credbatch.AttrDate:
		if !isSerial(v) && !isISODate(v) {
			return raw // a text date ("03/04/2026") or a duration stays as the user typed it
		}
		if d, ok := parseDay(c.parsed(r)); ok {
			return d
		}
		if d, ok := parseDay(v); ok { // an ISO date the row did not keep (another finding)
			return d
		}
	case credbatch.AttrNumber:
		if isDecimal(v) {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > -1e15 && n < 1e15 {
				return int(n)
			}
			if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsInf(f, 0) && len(strings.TrimLeft(v, "-0.")) <= 15 {
				return f
			}
		}
	}
	return raw
}

// parsed is the row's validated value of the column's field ("" when it has none).
func (c ReportColumn) parsed(r credbatch.Row) string {
	switch c.Field {
	case credbatch.FieldIssueDate:
		return r.IssueDate
	case credbatch.FieldExpiry:
		return r.ExpiryDate
	}
	if name, ok := c.Field.Attribute(); ok {
		return r.Attributes[name]
	}
	return ""
}

func parseDay(v string) (Day, bool) {
	if !isISODate(v) {
		return Day{}, false
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return Day{}, false
	}
	return Day(t), true
}

// isISODate reports whether v looks like YYYY-MM-DD.
func isISODate(v string) bool {
	if len(v) != 10 || v[4] != '-' || v[7] != '-' {
		return false
	}
	for i, ch := range v {
		if i != 4 && i != 7 && (ch < '0' || ch > '9') {
			return false
		}
	}
	return true
}

// isSerial reports whether v is a spreadsheet date serial (digits, maybe a fraction).
func isSerial(v string) bool {
	return v != "" && v[0] != '-' && isDecimal(v)
}

// isDecimal reports whether v is an optional '-', digits, and optionally '.' and digits:
// what a number cell holds, never a formula.
func isDecimal(v string) bool {
	v = strings.TrimPrefix(v, "-")
	whole, frac, dot := strings.Cut(v, ".")
	if whole == "" || (dot && frac == "") {
		return false
	}
	for _, part := range []string{whole, frac} {
		for _, ch := range part {
			if ch < '0' || ch > '9' {
				return false
			}
		}
	}
	return true
}

// AboutSheet is the sheet of an error report that says which batch it is about.
const AboutSheet = "Batch"

// About is the batch an error report is about.
type About struct {
	BatchID       string
	Label         string
	File          string // the uploaded object's name
	Status        string // in words: "needs fixing", "rejected", "cancelled"
	Advice        string // what to do next
	URL           string // the batch's console page ("" = none)
	ReplacedBy    string // the batch that replaced it ("" = none)
	ReplacedByURL string
}

// write adds the Batch sheet (nothing for a zero About).
func (a About) write(f *excelize.File, st styles) error {
	if a == (About{}) {
		return nil
	}
	if _, err := f.NewSheet(AboutSheet); err != nil {
		return fmt.Errorf("sheet %s: %w", AboutSheet, err)
	}
	type line struct{ name, value, link string }
	lines := []line{{"Batch", a.BatchID, ""}, {"Label", a.Label, ""}, {"File", a.File, ""}, {"Status", a.Status, ""},
		{"What to do", a.Advice, ""}}
	if a.ReplacedBy != "" {
		lines = append(lines, line{"Replaced by", a.ReplacedBy, a.ReplacedByURL})
	}
	if a.URL != "" {
		lines = append(lines, line{"Open the batch", a.URL, a.URL})
	}
	if a.ReplacedByURL != "" {
		lines = append(lines, line{"Open the batch that replaced it", a.ReplacedByURL, a.ReplacedByURL})
	}
	if err := f.SetColWidth(AboutSheet, "A", "A", 32); err != nil {
		return err
	}
	if err := f.SetColWidth(AboutSheet, "B", "B", 90); err != nil {
		return err
	}
	n := 0
	for _, l := range lines {
		if l.value == "" {
			continue
		}
		n++
		name, _ := excelize.CoordinatesToCellName(1, n)
		cell, _ := excelize.CoordinatesToCellName(2, n)
		if err := f.SetCellStr(AboutSheet, name, l.name); err != nil {
			return err
		}
		if err := f.SetCellStyle(AboutSheet, name, name, st.header); err != nil {
			return err
		}
		if err := f.SetCellStr(AboutSheet, cell, Safe(l.value)); err != nil {
			return err
		}
		if l.link != "" && (strings.HasPrefix(l.link, "https://") || strings.HasPrefix(l.link, "http://")) {
			if err := f.SetCellHyperLink(AboutSheet, cell, l.link, "External"); err != nil {
				return err
			}
			if err := f.SetCellStyle(AboutSheet, cell, cell, st.link); err != nil {
				return err
			}
		}
	}
	// openpyxl's read-only mode trusts the declared dimension.
	return f.SetSheetDimension(AboutSheet, fmt.Sprintf("A1:B%d", max(n, 1)))
}
