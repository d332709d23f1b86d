package workbook

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/xuri/excelize/v2"
)

// Sheet names of a template.
const (
	DataSheet         = "Recipients"   // the first sheet: one row per recipient
	InstructionsSheet = "Instructions" // how to fill it in
	ListsSheet        = "Lists"        // hidden: drop-down lists too long to inline
)

// ValidationRows is how many rows below the header carry the template's data validation.
const ValidationRows = 100_000

// maxInlineList is Excel's limit on an inline drop-down list (characters, separators included).
const maxInlineList = 255

// TemplateXLSX writes the .xlsx template of one definition, or the combined template of
// several (see TemplateColumns): a first sheet with a frozen bold header whose cells carry a
// note saying what goes in the column, date/number/list/email validation and date or text
// formats on the rows below; an Instructions sheet; and a hidden Lists sheet for long
// drop-down lists. The error is KindInvalid when defs is empty.
func TemplateXLSX(w io.Writer, defs []credbatch.Definition) error {
	if len(defs) == 0 {
		return credbatch.Errorf(credbatch.KindInvalid, "template: name at least one definition")
	}
	cols := TemplateColumns(defs)
	f := excelize.NewFile()
	defer f.Close()
	t := &template{f: f, defs: defs, cols: cols}
	if err := t.build(); err != nil {
		return fmt.Errorf("template %s: %w", ids(defs), err)
	}
	if err := f.Write(w); err != nil {
		return fmt.Errorf("template %s: write: %w", ids(defs), err)
	}
	return nil
}

// TemplateCSV writes the .csv template: the header row only, UTF-8 with a byte-order mark so
// that Excel opens accented headers correctly, CRLF line ends.
func TemplateCSV(w io.Writer, defs []credbatch.Definition) error {
	if len(defs) == 0 {
		return credbatch.Errorf(credbatch.KindInvalid, "template: name at least one definition")
	}
	cols := TemplateColumns(defs)
	headers := make([]string, len(cols))
	for i, c := range cols {
		headers[i] = Safe(c.Header)
	}
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return fmt.Errorf("template %s: write: %w", ids(defs), err)
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(headers); err != nil {
		return fmt.Errorf("template %s: write: %w", ids(defs), err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("template %s: write: %w", ids(defs), err)
	}
	return nil
}

func ids(defs []credbatch.Definition) string {
	s := make([]string, len(defs))
	for i, d := range defs {
		s[i] = d.ID
	}
	return strings.Join(s, "+")
}

type template struct {
	f         *excelize.File
	defs      []credbatch.Definition
	cols      []TemplateColumn
	listsUsed int // columns used on the Lists sheet
}

func (t *template) build() error {
	f := t.f
	if err := f.SetSheetName("Sheet1", DataSheet); err != nil {
		return err
	}
	if _, err := f.NewSheet(InstructionsSheet); err != nil {
		return err
	}
	header, err := f.NewStyle(&excelize.Style{
		Font:      &excelize.Font{Bold: true},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
		Border:    []excelize.Border{{Type: "bottom", Color: "8EA9DB", Style: 1}},
		Alignment: &excelize.Alignment{Vertical: "center"},
		NumFmt:    49,
	})
	if err != nil {
		return err
	}
	dateFmt := "yyyy-mm-dd"
	date, err := f.NewStyle(&excelize.Style{CustomNumFmt: &dateFmt})
	if err != nil {
		return err
	}
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49})
	if err != nil {
		return err
	}
	headers := make([]any, len(t.cols))
	for i, c := range t.cols {
		headers[i] = c.Header
		name, err := excelize.ColumnNumberToName(i + 1)
		if err != nil {
			return err
		}
		style := text
		switch c.Type {
		case credbatch.AttrDate:
			style = date
		case credbatch.AttrNumber:
			style = 0
		}
		if style != 0 {
			if err := f.SetColStyle(DataSheet, name, style); err != nil {
				return fmt.Errorf("column %s: %w", c.Header, err)
			}
		}
		if err := f.SetColWidth(DataSheet, name, name, columnWidth(c)); err != nil {
			return fmt.Errorf("column %s: %w", c.Header, err)
		}
		if err := f.AddComment(DataSheet, excelize.Comment{Cell: name + "1", Author: "credbatch",
			Text: t.note(c), Width: 320, Height: 160}); err != nil {
			return fmt.Errorf("column %s: note: %w", c.Header, err)
		}
		if err := t.validate(name, c); err != nil {
			return fmt.Errorf("column %s: validation: %w", c.Header, err)
		}
	}
	if err := f.SetSheetRow(DataSheet, "A1", &headers); err != nil {
		return err
	}
	last, err := excelize.ColumnNumberToName(len(t.cols))
	if err != nil {
		return err
	}
	if err := f.SetCellStyle(DataSheet, "A1", last+"1", header); err != nil {
		return err
	}
	if err := f.SetRowHeight(DataSheet, 1, 20); err != nil {
		return err
	}
	if err := f.SetPanes(DataSheet, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}}}); err != nil {
		return err
	}
	if err := t.instructions(); err != nil {
		return fmt.Errorf("instructions: %w", err)
	}
	if t.listsUsed > 0 {
		if err := f.SetSheetVisible(ListsSheet, false); err != nil {
			return err
		}
	}
	f.SetActiveSheet(0)
	return nil
}

// note is the comment on a column's header cell.
func (t *template) note(c TemplateColumn) string {
	var b strings.Builder
	switch {
	case c.Required:
		b.WriteString("Required. ")
	case len(c.RequiredBy) > 0:
		fmt.Fprintf(&b, "Required for %s; optional otherwise. ", strings.Join(c.RequiredBy, ", "))
	default:
		b.WriteString("Optional. ")
	}
	b.WriteString(c.Help)
	b.WriteString("\nFormat: ")
	b.WriteString(Format(c))
	b.WriteString(".")
	if c.Field == credbatch.FieldExpiry {
		for _, d := range t.defs {
			if policy(d) != credbatch.ExpiryNone && d.Expiry.Default != "" {
				fmt.Fprintf(&b, "\nEmpty for %s: %s after the issue date.", d.ID, d.Expiry.Default)
			}
		}
	}
	if len(t.defs) > 1 {
		fmt.Fprintf(&b, "\nUsed by: %s.", strings.Join(c.Definitions, ", "))
		if len(c.Definitions) < len(t.defs) {
			b.WriteString(" Leave it empty for the other credentials.")
		}
	}
	return b.String()
}

// validate adds the data validation of a column on the rows below the header.
func (t *template) validate(col string, c TemplateColumn) error {
	sqref := fmt.Sprintf("%s2:%s%d", col, col, ValidationRows+1)
	first := col + "2"
	dv := excelize.NewDataValidation(true)
	dv.Sqref = sqref
	var err error
	switch c.Type {
	case credbatch.AttrChoice:
		err = t.list(dv, c.Choices)
		dv.SetError(excelize.DataValidationErrorStyleStop, c.Header, "Pick one of the values in the list.")
	case credbatch.AttrDate:
		// Serial 1 is 1900-01-01, 2958465 is 9999-12-31.
		err = dv.SetRange(1, 2958465, excelize.DataValidationTypeDate, excelize.DataValidationOperatorBetween)
		dv.SetError(excelize.DataValidationErrorStyleWarning, c.Header, "Enter a date as YYYY-MM-DD, e.g. 2025-03-04.")
	case credbatch.AttrNumber:
		lo, hi := -1e15, 1e15
		if c.Min != nil {
			lo = *c.Min
		}
		if c.Max != nil {
			hi = *c.Max
		}
		err = dv.SetRange(lo, hi, excelize.DataValidationTypeDecimal, excelize.DataValidationOperatorBetween)
		dv.SetError(excelize.DataValidationErrorStyleWarning, c.Header, "Enter "+Format(c)+".")
	case credbatch.AttrEmail:
		dv.Type = "custom"
		dv.Formula1 = fmt.Sprintf(`AND(ISNUMBER(SEARCH("?@?*.?*",%s)),ISERROR(SEARCH(" ",%s)))`, first, first)
		dv.SetError(excelize.DataValidationErrorStyleWarning, c.Header, "Enter an email address such as name@example.org.")
	case credbatch.AttrURL:
		dv.Type = "custom"
		dv.Formula1 = fmt.Sprintf(`OR(LEFT(%s,8)="https://",LEFT(%s,7)="http://")`, first, first)
		dv.SetError(excelize.DataValidationErrorStyleWarning, c.Header, "Enter a web address starting with https://.")
	default:
		if c.MaxLength <= 0 {
			return nil
		}
		err = dv.SetRange(0, c.MaxLength, excelize.DataValidationTypeTextLength, excelize.DataValidationOperatorBetween)
		dv.SetError(excelize.DataValidationErrorStyleWarning, c.Header, fmt.Sprintf("Use at most %d characters.", c.MaxLength))
	}
	if err != nil {
		return err
	}
	return t.f.AddDataValidation(DataSheet, dv)
}

// list makes dv a drop-down of the values: inline when Excel allows it (at most 255
// characters, no commas), else a range on the hidden Lists sheet.
func (t *template) list(dv *excelize.DataValidation, values []string) error {
	joined := strings.Join(values, ",")
	if len(utf16.Encode([]rune(joined))) <= maxInlineList && !hasComma(values) && !strings.HasPrefix(joined, "=") {
		return dv.SetDropList(values)
	}
	if t.listsUsed == 0 {
		if _, err := t.f.NewSheet(ListsSheet); err != nil {
			return err
		}
	}
	t.listsUsed++
	col, err := excelize.ColumnNumberToName(t.listsUsed)
	if err != nil {
		return err
	}
	for i, v := range values {
		if err := t.f.SetCellStr(ListsSheet, fmt.Sprintf("%s%d", col, i+1), v); err != nil {
			return err
		}
	}
	dv.SetSqrefDropList(fmt.Sprintf("%s!$%s$1:$%s$%d", ListsSheet, col, col, len(values)))
	return nil
}

func hasComma(values []string) bool {
	for _, v := range values {
		if strings.Contains(v, ",") {
			return true
		}
	}
	return false
}

// columnWidth is a sensible width (in characters) for a column.
func columnWidth(c TemplateColumn) float64 {
	w := len([]rune(c.Header)) + 4
	switch {
	case c.Field == credbatch.FieldExpiry:
		w = max(w, 26)
	case c.Type == credbatch.AttrEmail:
		w = max(w, 32)
	case c.Type == credbatch.AttrURL:
		w = max(w, 36)
	case c.Type == credbatch.AttrDate:
		w = max(w, 14)
	case c.Type == credbatch.AttrChoice:
		for _, ch := range c.Choices {
			w = max(w, len([]rune(ch))+4)
		}
	case c.Field == credbatch.FieldFirstName || c.Field == credbatch.FieldLastName:
		w = max(w, 20)
	case c.Type == credbatch.AttrText:
		w = max(w, 24)
	}
	return float64(min(max(w, 10), 60))
}

// instructions writes the Instructions sheet.
func (t *template) instructions() error {
	f := t.f
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	title, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}})
	if err != nil {
		return err
	}
	wrap, err := f.NewStyle(&excelize.Style{Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}})
	if err != nil {
		return err
	}
	row := 0
	put := func(style int, values ...string) error {
		row++
		cells := make([]any, len(values))
		for i, v := range values {
			cells[i] = v
		}
		cell := fmt.Sprintf("A%d", row)
		if err := f.SetSheetRow(InstructionsSheet, cell, &cells); err != nil {
			return err
		}
		if style != 0 && len(values) > 0 {
			last, _ := excelize.ColumnNumberToName(len(values))
			return f.SetCellStyle(InstructionsSheet, cell, fmt.Sprintf("%s%d", last, row), style)
		}
		return nil
	}
	lines := []struct {
		style  int
		values []string
	}{{title, []string{"How to fill in this template"}}}
	add := func(style int, values ...string) {
		lines = append(lines, struct {
			style  int
			values []string
		}{style, values})
	}
	add(0)
	for _, d := range t.defs {
		add(bold, "Credential", fmt.Sprintf("%s (id %s)", d.Name, d.ID))
		if d.Description != "" {
			add(0, "Description", d.Description)
		}
		if d.Criteria != "" {
			add(0, "Criteria", d.Criteria)
		}
		switch policy(d) {
		case credbatch.ExpiryNone:
			add(0, "Expiry", "These credentials never expire; leave out the expiry column.")
		case credbatch.ExpiryOptional:
			add(0, "Expiry", "Optional."+defaultNote(d))
		case credbatch.ExpiryRequired:
			add(0, "Expiry", "Every credential expires: give an expiration date or duration."+defaultNote(d))
		}
	}
	add(0)
	add(bold, "Steps")
	steps := []string{
		fmt.Sprintf("Fill in one row per recipient on the %q sheet, starting at row 2. Keep the header row as it is; optional columns you do not need may be deleted.", DataSheet),
		"Each header has a note (hover over it) that says what goes in the column. Cells check what you type and warn about values the upload would reject; list columns only take a value from their list.",
		"Dates: type YYYY-MM-DD (2025-03-04) or use date cells. Other written dates (04/03/2025, 4 March 2025, March 4, 2025) are read with the upload's day order (DMY or MDY); a date that could be either is rejected rather than guessed.",
		"Expiration: a date, or a duration from the issue date: 2 years, 18 months, 90 days, 1 year 6 months, or ISO 8601 such as P2Y6M or P90D.",
		"Issue Date left empty means the day of the upload.",
		"Save the file as .xlsx (or CSV UTF-8) and upload it. Rows with problems come back in an error report you can fix and upload again.",
	}
	if len(t.defs) > 1 {
		steps = append([]string{"This template covers several credentials: put the id of each row's credential in the ID column (pick it from the list). Leave columns other credentials use empty."}, steps...)
	}
	for i, s := range steps {
		add(wrap, fmt.Sprintf("%d.", i+1), s)
	}
	add(0)
	add(bold, "Column", "Required", "Format", "Used by", "What goes there")
	for _, c := range t.cols {
		req := "optional"
		switch {
		case c.Required:
			req = "required"
		case len(c.RequiredBy) > 0:
			req = "required for " + strings.Join(c.RequiredBy, ", ")
		}
		add(wrap, c.Header, req, Format(c), strings.Join(c.Definitions, ", "), c.Help)
	}
	for _, l := range lines {
		if err := put(l.style, l.values...); err != nil {
			return err
		}
	}
	for col, w := range map[string]float64{"A": 24, "B": 40, "C": 40, "D": 24, "E": 70} {
		if err := f.SetColWidth(InstructionsSheet, col, col, w); err != nil {
			return err
		}
	}
	return nil
}

func defaultNote(d credbatch.Definition) string {
	if d.Expiry.Default == "" {
		return ""
	}
	return fmt.Sprintf(" Left empty, a credential expires %s after its issue date.", d.Expiry.Default)
}
