package workbook

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/xuri/excelize/v2"
)

func ptr(f float64) *float64 { return &f }

func longChoices() []string {
	var c []string
	for i := range 40 {
		c = append(c, "Department of Continuing Studies "+string(rune('A'+i%26))+strings.Repeat("x", i%3))
	}
	return c
}

func testDefs() []credbatch.Definition {
	return []credbatch.Definition{
		{ID: "first-aid", Name: "First Aid", Description: "Basic first aid course",
			Expiry: credbatch.Expiry{Policy: credbatch.ExpiryRequired, Default: "P2Y"},
			Attributes: []credbatch.Attribute{
				{Name: "Score", Type: credbatch.AttrNumber, Required: true, Min: ptr(0), Max: ptr(100)},
				{Name: "Level", Type: credbatch.AttrChoice, Choices: []string{"Basic", "Advanced"}},
				{Name: "Completed", Type: credbatch.AttrDate},
			}},
		{ID: "cpr", Name: "CPR", Expiry: credbatch.Expiry{Policy: credbatch.ExpiryNone},
			Attributes: []credbatch.Attribute{
				{Name: "score", Type: credbatch.AttrNumber, Required: true, Min: ptr(-10), Max: ptr(50)},
				{Name: "Department", Type: credbatch.AttrChoice, Choices: longChoices()},
				{Name: "Notes", Type: credbatch.AttrText, MaxLength: 300},
			}},
	}
}

func headers(cols []TemplateColumn) []string {
	var h []string
	for _, c := range cols {
		h = append(h, c.Header)
	}
	return h
}

func TestTemplateColumns(t *testing.T) {
	defs := testDefs()
	tests := []struct {
		name         string
		defs         []credbatch.Definition
		wantHeaders  []string
		wantRequired []string
	}{
		{"single with expiry", defs[:1],
			[]string{"First Name", "Last Name", "Email", "Issue Date", "Expiration Date/Duration", "Score", "Level", "Completed"},
			[]string{"First Name", "Last Name", "Email", "Score"}},
		{"single without expiry", defs[1:],
			[]string{"First Name", "Last Name", "Email", "Issue Date", "score", "Department", "Notes"},
			[]string{"First Name", "Last Name", "Email", "score"}},
		{"combined", defs,
			[]string{"ID", "First Name", "Last Name", "Email", "Issue Date", "Expiration Date/Duration", "Score", "Level", "Completed", "Department", "Notes"},
			[]string{"ID", "First Name", "Last Name", "Email", "Score"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cols := TemplateColumns(tt.defs)
			if got := headers(cols); !slices.Equal(got, tt.wantHeaders) {
				t.Errorf("headers = %q, want %q", got, tt.wantHeaders)
			}
			var req []string
			for _, c := range cols {
				if c.Required {
					req = append(req, c.Header)
				}
			}
			if !slices.Equal(req, tt.wantRequired) {
				t.Errorf("required = %q, want %q", req, tt.wantRequired)
			}
		})
	}
	t.Run("combined merges", func(t *testing.T) {
		cols := TemplateColumns(defs)
		byHeader := map[string]TemplateColumn{}
		for _, c := range cols {
			byHeader[c.Header] = c
		}
		score := byHeader["Score"]
		if *score.Min != -10 || *score.Max != 100 || !slices.Equal(score.Definitions, []string{"first-aid", "cpr"}) {
			t.Errorf("Score = min %v max %v defs %q, want -10..100 used by both", *score.Min, *score.Max, score.Definitions)
		}
		if got := byHeader["ID"].Choices; !slices.Equal(got, []string{"first-aid", "cpr"}) {
			t.Errorf("ID choices = %q", got)
		}
		if got := byHeader["Expiration Date/Duration"].Definitions; !slices.Equal(got, []string{"first-aid"}) {
			t.Errorf("expiry used by %q, want first-aid only", got)
		}
		if got := byHeader["Level"]; got.Required || !slices.Equal(got.Definitions, []string{"first-aid"}) {
			t.Errorf("Level = %+v", got)
		}
	})
}

func openTemplate(t *testing.T, defs []credbatch.Definition) *excelize.File {
	t.Helper()
	var buf bytes.Buffer
	if err := TemplateXLSX(&buf, defs); err != nil {
		t.Fatalf("TemplateXLSX: %v", err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatalf("open template: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestTemplateXLSX(t *testing.T) {
	defs := testDefs()
	tests := []struct {
		name       string
		defs       []credbatch.Definition
		wantSheets []string
		wantHidden bool // a Lists sheet exists and is hidden
	}{
		{"single", defs[:1], []string{DataSheet, InstructionsSheet}, false},
		{"single long list", defs[1:], []string{DataSheet, InstructionsSheet, ListsSheet}, true},
		{"combined", defs, []string{DataSheet, InstructionsSheet, ListsSheet}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := openTemplate(t, tt.defs)
			cols := TemplateColumns(tt.defs)
			if got := f.GetSheetList(); !slices.Equal(got, tt.wantSheets) {
				t.Fatalf("sheets = %q, want %q", got, tt.wantSheets)
			}
			if tt.wantHidden {
				if v, err := f.GetSheetVisible(ListsSheet); err != nil || v {
					t.Errorf("Lists visible = %v (%v), want hidden", v, err)
				}
			}
			if got := f.GetActiveSheetIndex(); got != 0 {
				t.Errorf("active sheet = %d, want 0", got)
			}
			rows, err := f.GetRows(DataSheet)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 || !slices.Equal(rows[0], headers(cols)) {
				t.Errorf("data sheet rows = %q, want the header row %q only", rows, headers(cols))
			}
			panes, err := f.GetPanes(DataSheet)
			if err != nil || !panes.Freeze || panes.YSplit != 1 || panes.TopLeftCell != "A2" {
				t.Errorf("panes = %+v (%v), want frozen below row 1", panes, err)
			}
			styleID, err := f.GetCellStyle(DataSheet, "A1")
			if err != nil {
				t.Fatal(err)
			}
			st, err := f.GetStyle(styleID)
			if err != nil || st.Font == nil || !st.Font.Bold {
				t.Errorf("header style = %+v (%v), want bold", st, err)
			}
			comments, err := f.GetComments(DataSheet)
			if err != nil {
				t.Fatal(err)
			}
			if len(comments) != len(cols) {
				t.Fatalf("comments = %d, want one per column (%d)", len(comments), len(cols))
			}
			for _, c := range comments {
				text := commentText(c)
				if !strings.Contains(text, "Required") && !strings.Contains(text, "Optional") {
					t.Errorf("comment on %s = %q, want it to say required or optional", c.Cell, text)
				}
			}
			instr, err := f.GetRows(InstructionsSheet)
			if err != nil {
				t.Fatal(err)
			}
			all := flatten(instr)
			for _, want := range append([]string{"YYYY-MM-DD", "18 months", "P2Y6M"}, headers(cols)...) {
				if !strings.Contains(all, want) {
					t.Errorf("instructions do not mention %q", want)
				}
			}
			for _, d := range tt.defs {
				if !strings.Contains(all, d.Name) {
					t.Errorf("instructions do not name definition %q", d.Name)
				}
			}
		})
	}
}

func commentText(c excelize.Comment) string {
	var b strings.Builder
	b.WriteString(c.Text)
	for _, r := range c.Paragraph {
		b.WriteString(r.Text)
	}
	return b.String()
}

func flatten(rows [][]string) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strings.Join(r, "\t"))
		b.WriteString("\n")
	}
	return b.String()
}

func TestTemplateValidations(t *testing.T) {
	f := openTemplate(t, testDefs())
	dvs, err := f.GetDataValidations(DataSheet)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*excelize.DataValidation{}
	for _, dv := range dvs {
		got[strings.SplitN(dv.Sqref, ":", 2)[0]] = dv
	}
	// Combined columns: A ID, B First Name, C Last Name, D Email, E Issue Date, F Expiry,
	// G Score, H Level, I Completed, J Department, K Notes.
	tests := []struct {
		cell, typ, formula1, formula2 string
	}{
		{"A2", "list", `"first-aid,cpr"`, ""},
		{"B2", "textLength", "0", "200"},
		{"D2", "custom", `AND(ISNUMBER(SEARCH("?@?*.?*",D2)),ISERROR(SEARCH(" ",D2)))`, ""},
		{"E2", "date", "1", "2958465"},
		{"G2", "decimal", "-10", "100"},
		{"H2", "list", `"Basic,Advanced"`, ""},
		{"I2", "date", "1", "2958465"},
		{"J2", "list", "Lists!$A$1:$A$40", ""},
		{"K2", "textLength", "0", "300"},
	}
	for _, tt := range tests {
		t.Run(tt.cell, func(t *testing.T) {
			dv, ok := got[tt.cell]
			if !ok {
				t.Fatalf("no validation starting at %s; have %v", tt.cell, keys(got))
			}
			if dv.Type != tt.typ || dv.Formula1 != tt.formula1 || dv.Formula2 != tt.formula2 {
				t.Errorf("validation %s = %s %q %q, want %s %q %q", tt.cell, dv.Type, dv.Formula1, dv.Formula2, tt.typ, tt.formula1, tt.formula2)
			}
			if want := strings.TrimSuffix(tt.cell, "2") + "100001"; !strings.HasSuffix(dv.Sqref, want) {
				t.Errorf("sqref = %q, want it to reach %s", dv.Sqref, want)
			}
		})
	}
	if _, ok := got["F2"]; ok {
		t.Errorf("expiry column has a validation; it takes dates and durations")
	}
	list, err := f.GetCols(ListsSheet)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !slices.Equal(list[0], longChoices()) {
		t.Errorf("Lists sheet = %q, want the department choices", list)
	}
	for _, tt := range []struct {
		col    string
		numFmt int
		custom string
	}{{"B", 49, ""}, {"E", 0, "yyyy-mm-dd"}, {"F", 49, ""}, {"I", 0, "yyyy-mm-dd"}} {
		id, err := f.GetColStyle(DataSheet, tt.col)
		if err != nil {
			t.Fatal(err)
		}
		st, err := f.GetStyle(id)
		if err != nil {
			t.Fatal(err)
		}
		custom := ""
		if st.CustomNumFmt != nil {
			custom = *st.CustomNumFmt
		}
		if st.NumFmt != tt.numFmt || custom != tt.custom {
			t.Errorf("column %s format = %d %q, want %d %q", tt.col, st.NumFmt, custom, tt.numFmt, tt.custom)
		}
	}
	for col, min := range map[string]float64{"D": 30, "F": 25} {
		w, err := f.GetColWidth(DataSheet, col)
		if err != nil || w < min {
			t.Errorf("column %s width = %v (%v), want at least %v", col, w, err, min)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}

func TestTemplateCSV(t *testing.T) {
	defs := []credbatch.Definition{{ID: "x", Name: "X", Attributes: []credbatch.Attribute{
		{Name: "Café", Type: credbatch.AttrText}, {Name: "Note, long", Type: credbatch.AttrText}}}}
	var buf bytes.Buffer
	if err := TemplateCSV(&buf, defs); err != nil {
		t.Fatal(err)
	}
	want := "\ufeffFirst Name,Last Name,Email,Issue Date,Café,\"Note, long\"\r\n"
	if got := buf.String(); got != want {
		t.Errorf("csv = %q, want %q", got, want)
	}
}

func TestTemplateNoDefinitions(t *testing.T) {
	for name, fn := range map[string]func() error{
		"xlsx": func() error { return TemplateXLSX(&bytes.Buffer{}, nil) },
		"csv":  func() error { return TemplateCSV(&bytes.Buffer{}, nil) },
	} {
		if err := fn(); credbatch.ErrorKind(err) != credbatch.KindInvalid {
			t.Errorf("%s with no definitions: %v, want KindInvalid", name, err)
		}
	}
}

func TestTemplateListWithComma(t *testing.T) {
	defs := []credbatch.Definition{{ID: "x", Name: "X", Attributes: []credbatch.Attribute{
		{Name: "City", Type: credbatch.AttrChoice, Choices: []string{"Paris, France", "Paris, Texas"}}}}}
	f := openTemplate(t, defs)
	dvs, err := f.GetDataValidations(DataSheet)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, dv := range dvs {
		if dv.Type == "list" {
			got = append(got, dv.Formula1)
		}
	}
	if want := []string{"Lists!$A$1:$A$2"}; !slices.Equal(got, want) {
		t.Errorf("list validations = %q, want %q (a comma cannot be inlined)", got, want)
	}
	if v, err := f.GetSheetVisible(ListsSheet); err != nil || v {
		t.Errorf("Lists visible = %v (%v), want hidden", v, err)
	}
}
