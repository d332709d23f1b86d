package validate

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

func ptr(f float64) *float64 { return &f }

// testDefs: course (optional expiry, typed attributes), licence (required expiry, default
// P1Y, a required attribute), member (never expires, allows duplicates).
func testDefs() map[string]credbatch.Definition {
	defs := []credbatch.Definition{
		{ID: "course", Name: "Course Certificate", Expiry: credbatch.Expiry{Policy: credbatch.ExpiryOptional},
			Attributes: []credbatch.Attribute{
				{Name: "Score", Type: credbatch.AttrNumber, Min: ptr(0), Max: ptr(100)},
				{Name: "Level", Type: credbatch.AttrChoice, Choices: []string{"Beginner", "Advanced"}},
				{Name: "Completed", Type: credbatch.AttrDate},
				{Name: "Website", Type: credbatch.AttrURL},
				{Name: "Mentor", Type: credbatch.AttrEmail},
				{Name: "Notes", Type: credbatch.AttrText, MaxLength: 10},
			}},
		{ID: "licence", Name: "Licence", Expiry: credbatch.Expiry{Policy: credbatch.ExpiryRequired, Default: "P1Y"},
			Duplicates: credbatch.DuplicatesReplace,
			Attributes: []credbatch.Attribute{{Name: "Licence No", Type: credbatch.AttrText, Required: true}}},
		{ID: "member", Name: "Membership", Expiry: credbatch.Expiry{Policy: credbatch.ExpiryNone},
			Duplicates: credbatch.DuplicatesAllow},
	}
	out := map[string]credbatch.Definition{}
	for _, d := range defs {
		d.Normalize()
		out[d.ID] = d
	}
	return out
}

func mustNew(t *testing.T, opts credbatch.Options, header ...string) *Validator {
	t.Helper()
	v, err := New(Config{Definitions: testDefs(), Options: opts, Today: "2025-03-04"}, header, 1)
	if err != nil {
		t.Fatalf("New(%q): %v", header, err)
	}
	return v
}

func codes(fs []credbatch.Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.Code)
	}
	return out
}

var courseHeader = []string{"First Name", "Last Name", "Email", "Issue Date", "Expiry", "Score", "Level", "Completed", "Website", "Mentor", "Notes"}

// courseRow is a valid course row; set overrides cells by header.
func courseRow(set map[string]string) []string {
	cells := []string{"Jane", "Doe", "Jane@Example.com", "2025-03-01", "", "85", "beginner", "2025-02-01", "https://example.com", "m@example.com", "ok"}
	for k, val := range set {
		i := -1
		for j, h := range courseHeader {
			if h == k {
				i = j
			}
		}
		cells[i] = val
	}
	return cells
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name   string
		opts   credbatch.Options
		header []string
		code   string
		in     string // the message contains
	}{
		{"no definition", credbatch.Options{}, []string{"First Name", "Last Name", "Email"}, credbatch.CodeUnknownDefinition, "uploads/<definition-id>/"},
		{"unknown definition", credbatch.Options{DefinitionID: "nope"}, []string{"First Name", "Last Name", "Email"}, credbatch.CodeUnknownDefinition, "course, licence, member"},
		{"missing email", credbatch.Options{DefinitionID: "member"}, []string{"First Name", "Last Name"}, credbatch.CodeMissingColumns, `"Email" (also accepted: Contact, E-mail`},
		{"missing names", credbatch.Options{DefinitionID: "member"}, []string{"Email"}, credbatch.CodeMissingColumns, `"First Name" (also accepted: Given Name`},
		{"missing required attribute", credbatch.Options{DefinitionID: "licence"}, []string{"First Name", "Last Name", "Email"}, credbatch.CodeMissingColumns, `"Licence No"`},
		{"duplicate", credbatch.Options{DefinitionID: "member"}, []string{"First Name", "Last Name", "Email", "E-mail Address"}, credbatch.CodeDuplicateColumns, `"Email" (column C) and "E-mail Address" (column D)`},
		{"mapping unknown header", credbatch.Options{DefinitionID: "member", Mapping: map[string]credbatch.Field{"Nope": "email"}}, []string{"First Name", "Last Name", "Email"}, CodeInvalidMapping, `"Nope"`},
		{"mapping unknown field", credbatch.Options{DefinitionID: "member", Mapping: map[string]credbatch.Field{"Mail": "postcode"}}, []string{"First Name", "Last Name", "Mail"}, CodeInvalidMapping, `"postcode"`},
		{"mapping foreign attribute", credbatch.Options{DefinitionID: "member", Mapping: map[string]credbatch.Field{"Pts": "attribute:Score"}}, []string{"First Name", "Last Name", "Email", "Pts"}, CodeInvalidMapping, `"attribute:Score"`},
		{"bad date order", credbatch.Options{DefinitionID: "member", DateOrder: "YMD"}, []string{"First Name", "Last Name", "Email"}, "invalid_date_order", "DMY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Definitions: testDefs(), Options: tt.opts, Today: "2025-03-04"}, tt.header, 1)
			var e *credbatch.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *credbatch.Error", err)
			}
			if e.Kind != credbatch.KindInvalid || e.Code != tt.code || !strings.Contains(e.Message, tt.in) {
				t.Errorf("err = %s/%s %q, want invalid/%s containing %q", e.Kind, e.Code, e.Message, tt.code, tt.in)
			}
		})
	}
}

func TestColumns(t *testing.T) {
	tests := []struct {
		name   string
		opts   credbatch.Options
		header []string
		want   []credbatch.Field
		warn   []string // headers with an unknown_columns warning
	}{
		{"synonyms", credbatch.Options{DefinitionID: "course"},
			[]string{"given name", "SURNAME", " E-Mail address ", "Issued On", "Valid Until", "score", "Favourite Colour"},
			[]credbatch.Field{"first_name", "last_name", "email", "issue_date", "expiry", "attribute:Score", ""},
			[]string{"Favourite Colour"}},
		{"punctuation", credbatch.Options{DefinitionID: "course"},
			[]string{"first_name", "last-name", "Contact", "Expiration Date/Duration", "Web-site"},
			[]credbatch.Field{"first_name", "last_name", "email", "expiry", "attribute:Website"}, nil},
		{"mapping", credbatch.Options{DefinitionID: "course", Mapping: map[string]credbatch.Field{
			"Vorname": "first_name", "Nachname": "Last Name", "Mail": "email", "Punkte": "Score", "Stufe": "attribute:Level", "Email": "skip"}},
			[]string{"Vorname", "Nachname", "Mail", "Punkte", "Stufe", "Email"},
			[]credbatch.Field{"first_name", "last_name", "email", "attribute:Score", "attribute:Level", "skip"}, nil},
		{"mapping overrides synonym", credbatch.Options{DefinitionID: "course", Mapping: map[string]credbatch.Field{" first ": "last_name", "Last": "first_name"}},
			[]string{"First", "Last", "Email"},
			[]credbatch.Field{"last_name", "first_name", "email"}, nil},
		{"other definitions' attributes are unknown", credbatch.Options{DefinitionID: "member"},
			[]string{"First Name", "Last Name", "Email", "Score", ""},
			[]credbatch.Field{"first_name", "last_name", "email", "", ""}, []string{"Score", ""}},
		{"combined: union of attributes", credbatch.Options{},
			[]string{"ID", "First Name", "Last Name", "Email", "Score", "Licence No"},
			[]credbatch.Field{"definition", "first_name", "last_name", "email", "attribute:Score", "attribute:Licence No"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, tt.opts, tt.header...)
			var got []credbatch.Field
			for i, c := range v.Columns() {
				if c.Header != tt.header[i] || c.Index != i {
					t.Errorf("column %d = %+v, want header %q", i, c, tt.header[i])
				}
				got = append(got, c.Field)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("fields = %q, want %q", got, tt.want)
			}
			var warned []string
			for _, w := range v.Warnings() {
				if w.Code != credbatch.CodeUnknownColumns || w.Row != 1 || w.Severity != credbatch.SeverityWarning {
					t.Errorf("warning %+v, want unknown_columns on row 1", w)
				}
				warned = append(warned, w.Column)
			}
			if !reflect.DeepEqual(warned, tt.warn) {
				t.Errorf("warned about %q, want %q", warned, tt.warn)
			}
		})
	}
}

func TestValidRow(t *testing.T) {
	v := mustNew(t, credbatch.Options{DefinitionID: "course"}, courseHeader...)
	cells := courseRow(map[string]string{"Expiry": "2 years", "Score": "84.99999999999999", "Completed": "45420"})
	got := v.Row(2, cells)
	want := credbatch.Row{Number: 2, DefinitionID: "course", FirstName: "Jane", LastName: "Doe", Email: "jane@example.com",
		IssueDate: "2025-03-01", ExpiryDate: "2027-03-01", Cells: cells, Status: credbatch.RowValid,
		Attributes: map[string]string{"Score": "85", "Level": "Beginner", "Completed": "2024-05-08",
			"Website": "https://example.com", "Mentor": "m@example.com", "Notes": "ok"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Row =\n%+v\nwant\n%+v", got, want)
	}
	if c := v.Counts(); !reflect.DeepEqual(c, map[string]int{"course": 1}) {
		t.Errorf("Counts = %v", c)
	}
}

func TestRowCodes(t *testing.T) {
	tests := []struct {
		name   string
		set    map[string]string
		code   string
		column string
		in     string // the message contains
	}{
		{"missing first name", map[string]string{"First Name": " "}, credbatch.CodeMissingValue, "First Name", "fill in"},
		{"missing email", map[string]string{"Email": ""}, credbatch.CodeMissingValue, "Email", "email address"},
		{"invalid email", map[string]string{"Email": "jane@example"}, credbatch.CodeInvalidEmail, "Email", `"jane@example" is not a valid email address`},
		{"invalid email space", map[string]string{"Email": "jane doe@example.com"}, credbatch.CodeInvalidEmail, "Email", "space"},
		{"invalid date", map[string]string{"Issue Date": "31/02/2025"}, credbatch.CodeInvalidDate, "Issue Date", `"31/02/2025" is not a real date; use YYYY-MM-DD`},
		{"not a date", map[string]string{"Issue Date": "soon"}, credbatch.CodeInvalidDate, "Issue Date", "is not a date"},
		{"ambiguous date", map[string]string{"Issue Date": "03/04/2025"}, credbatch.CodeAmbiguousDate, "Issue Date", "3 April or 4 March"},
		{"invalid duration", map[string]string{"Expiry": "2 yeers"}, credbatch.CodeInvalidDuration, "Expiry", "neither a date nor a duration"},
		{"duration without unit", map[string]string{"Expiry": "2"}, credbatch.CodeInvalidDuration, "Expiry", "2 years"},
		{"expiry before issue", map[string]string{"Expiry": "2025-01-01"}, credbatch.CodeExpiryBeforeIssue, "Expiry", "2025-01-01"},
		{"expiry equals issue", map[string]string{"Expiry": "0 days"}, credbatch.CodeExpiryBeforeIssue, "Expiry", "not after"},
		{"invalid number", map[string]string{"Score": "eighty"}, credbatch.CodeInvalidNumber, "Score", "not a number"},
		{"out of range", map[string]string{"Score": "101"}, credbatch.CodeOutOfRange, "Score", "above the maximum 100"},
		{"below range", map[string]string{"Score": "-1"}, credbatch.CodeOutOfRange, "Score", "below the minimum 0"},
		{"invalid choice", map[string]string{"Level": "expert"}, credbatch.CodeInvalidChoice, "Level", "Beginner, Advanced"},
		{"invalid url", map[string]string{"Website": "example.com"}, credbatch.CodeInvalidURL, "Website", "https://"},
		{"attribute email", map[string]string{"Mentor": "nobody"}, credbatch.CodeInvalidEmail, "Mentor", "no @"},
		{"attribute date", map[string]string{"Completed": "2025-13-01"}, credbatch.CodeInvalidDate, "Completed", "not a real date"},
		{"value too long", map[string]string{"Notes": "01234567890"}, credbatch.CodeValueTooLong, "Notes", "10 characters"},
		{"name too long", map[string]string{"Last Name": strings.Repeat("é", 201)}, credbatch.CodeValueTooLong, "Last Name", "200"},
		{"unsafe name", map[string]string{"First Name": "Jane\nDoe"}, credbatch.CodeUnsafeValue, "First Name", "line break"},
		{"unsafe attribute", map[string]string{"Notes": "a\x07b"}, credbatch.CodeUnsafeValue, "Notes", "U+0007"},
		{"bidi override", map[string]string{"Last Name": "Doe\u202Eexe"}, credbatch.CodeUnsafeValue, "Last Name", "U+202E"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, credbatch.Options{DefinitionID: "course"}, courseHeader...)
			got := v.Row(7, courseRow(tt.set))
			if got.Status != credbatch.RowInvalid || len(got.Findings) != 1 {
				t.Fatalf("Row: status %s, findings %+v; want invalid with one %s", got.Status, got.Findings, tt.code)
			}
			f := got.Findings[0]
			if f.Code != tt.code || f.Row != 7 || f.Column != tt.column || f.Severity != credbatch.SeverityError || !strings.Contains(f.Message, tt.in) {
				t.Errorf("finding = %+v, want %s on row 7 column %q containing %q", f, tt.code, tt.column, tt.in)
			}
		})
	}
}

func TestTextNewlinesAllowed(t *testing.T) {
	v := mustNew(t, credbatch.Options{DefinitionID: "course"}, courseHeader...)
	got := v.Row(2, courseRow(map[string]string{"Notes": "a\nb\tc"}))
	if got.Status != credbatch.RowValid || got.Attributes["Notes"] != "a\nb\tc" {
		t.Errorf("Row = %s %+v, want valid with the note kept", got.Status, got.Findings)
	}
}

func TestDuplicateRow(t *testing.T) {
	v := mustNew(t, credbatch.Options{}, "ID", "First Name", "Last Name", "Email", "Licence No")
	rows := [][]string{
		{"member", "A", "B", "x@example.com", ""},
		{"course", "A", "B", "x@example.com", ""}, // another definition: fine
		{"Member", "A", "B", "X@EXAMPLE.COM", ""}, // same: duplicate of row 2
		{"member", "A", "B", "y@example.com", ""},
		{"member", "A", "B", "x@example.com", ""}, // again: duplicate of row 2
	}
	var got []string
	for i, c := range rows {
		r := v.Row(i+2, c)
		got = append(got, strings.Join(codes(r.Findings), ","))
		if r.Number == 4 && !strings.Contains(r.Findings[0].Message, "row 2") {
			t.Errorf("duplicate message %q does not name row 2", r.Findings[0].Message)
		}
	}
	want := []string{"", "", "duplicate_row", "", "duplicate_row"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("codes = %q, want %q", got, want)
	}
	if c := v.Counts(); !reflect.DeepEqual(c, map[string]int{"member": 4, "course": 1}) {
		t.Errorf("Counts = %v", c)
	}
}

func TestMultiDefinition(t *testing.T) {
	header := []string{"ID", "First Name", "Last Name", "Email", "Expiration", "Score", "Licence No"}
	tests := []struct {
		name   string
		opts   credbatch.Options
		cells  []string
		def    string
		expiry string
		codes  []string
		sev    []credbatch.Severity
	}{
		{"course", credbatch.Options{}, []string{"course", "A", "B", "a@example.com", "", "90", ""}, "course", "", []string{}, nil},
		{"by name", credbatch.Options{}, []string{"course certificate", "A", "B", "a@example.com", "", "90", ""}, "course", "", []string{}, nil},
		{"licence default expiry", credbatch.Options{}, []string{"licence", "A", "B", "a@example.com", "", "", "L-1"}, "licence", "2026-03-04", []string{}, nil},
		{"licence missing number", credbatch.Options{}, []string{"licence", "A", "B", "a@example.com", "", "", ""}, "licence", "2026-03-04",
			[]string{"missing_value"}, []credbatch.Severity{credbatch.SeverityError}},
		{"foreign attribute", credbatch.Options{}, []string{"licence", "A", "B", "a@example.com", "6 months", "90", "L-1"}, "licence", "2025-09-04",
			[]string{"unknown_columns"}, []credbatch.Severity{credbatch.SeverityWarning}},
		{"member never expires", credbatch.Options{}, []string{"member", "A", "B", "a@example.com", "2 years", "", ""}, "member", "",
			[]string{"invalid_date"}, []credbatch.Severity{credbatch.SeverityError}},
		{"unknown", credbatch.Options{}, []string{"gold", "A", "B", "a@example.com", "", "", ""}, "", "",
			[]string{"unknown_definition"}, []credbatch.Severity{credbatch.SeverityError}},
		{"empty ID", credbatch.Options{}, []string{"", "A", "B", "a@example.com", "", "", ""}, "", "",
			[]string{"missing_value"}, []credbatch.Severity{credbatch.SeverityError}},
		{"empty ID falls back", credbatch.Options{DefinitionID: "member"}, []string{"", "A", "B", "a@example.com", "", "", ""}, "member", "", []string{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, tt.opts, header...)
			r := v.Row(3, tt.cells)
			if r.DefinitionID != tt.def || r.ExpiryDate != tt.expiry {
				t.Errorf("definition %q expiry %q, want %q %q", r.DefinitionID, r.ExpiryDate, tt.def, tt.expiry)
			}
			if got := codes(r.Findings); !reflect.DeepEqual(got, tt.codes) {
				t.Fatalf("codes = %q, want %q (%+v)", got, tt.codes, r.Findings)
			}
			for i, f := range r.Findings {
				if f.Severity != tt.sev[i] {
					t.Errorf("finding %s severity %s, want %s", f.Code, f.Severity, tt.sev[i])
				}
			}
		})
	}
}

func TestExpiryPolicy(t *testing.T) {
	tests := []struct {
		def, issue, expiry string
		want               string
		code               string
	}{
		{"course", "", "", "", ""},
		{"course", "2025-01-31", "1 month", "2025-02-28", ""},
		{"course", "2024-01-31", "P1M", "2024-02-29", ""},
		{"course", "", "2026-01-01", "2026-01-01", ""},
		{"course", "", "46023", "2026-01-01", ""}, // an xlsx date cell
		{"course", "", "1 January 2026", "2026-01-01", ""},
		{"licence", "", "", "2026-03-04", ""}, // the default P1Y from Today
		{"licence", "2024-02-29", "", "2025-02-28", ""},
		{"licence", "", "18 months", "2026-09-04", ""},
		{"member", "", "", "", ""},
		{"member", "", "2026-01-01", "", credbatch.CodeInvalidDate},
		{"course", "bad", "2 years", "", credbatch.CodeInvalidDate},
	}
	for _, tt := range tests {
		t.Run(tt.def+"/"+tt.issue+"/"+tt.expiry, func(t *testing.T) {
			v := mustNew(t, credbatch.Options{DefinitionID: tt.def}, "First Name", "Last Name", "Email", "Issue Date", "Expiry", "Licence No")
			r := v.Row(2, []string{"A", "B", "a@example.com", tt.issue, tt.expiry, "L-1"})
			got := strings.Join(codes(r.Findings), ",")
			if r.ExpiryDate != tt.want || got != tt.code {
				t.Errorf("expiry %q codes %q, want %q %q (%+v)", r.ExpiryDate, got, tt.want, tt.code, r.Findings)
			}
		})
	}
}

func TestRequiredExpiryWithoutDefault(t *testing.T) {
	defs := testDefs()
	d := defs["licence"]
	d.Expiry.Default = ""
	defs["licence"] = d
	cfg := Config{Definitions: defs, Options: credbatch.Options{DefinitionID: "licence"}, Today: "2025-03-04"}
	_, err := New(cfg, []string{"First Name", "Last Name", "Email", "Licence No"}, 1)
	if credbatch.ErrorCode(err) != credbatch.CodeMissingColumns || !strings.Contains(err.Error(), "must expire") {
		t.Fatalf("New without an expiry column: %v, want missing_columns", err)
	}
	v, err := New(cfg, []string{"First Name", "Last Name", "Email", "Licence No", "Expiry"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := v.Row(2, []string{"A", "B", "a@example.com", "L-1", ""})
	if got := codes(r.Findings); !reflect.DeepEqual(got, []string{credbatch.CodeMissingValue}) {
		t.Errorf("empty required expiry: codes %q, want missing_value", got)
	}
}

func TestDateOrderOption(t *testing.T) {
	tests := []struct {
		order credbatch.DateOrder
		in    string
		want  string
		code  string
	}{
		{credbatch.DateOrderDMY, "03/04/2025", "2025-04-03", ""},
		{credbatch.DateOrderMDY, "03/04/2025", "2025-03-04", ""},
		{credbatch.DateOrderDMY, "03/13/2025", "", credbatch.CodeInvalidDate},
		{credbatch.DateOrderMDY, "13.03.2025", "", credbatch.CodeInvalidDate},
	}
	for _, tt := range tests {
		v := mustNew(t, credbatch.Options{DefinitionID: "member", DateOrder: tt.order}, "First Name", "Last Name", "Email", "Issue Date")
		r := v.Row(2, []string{"A", "B", "a@example.com", tt.in})
		if got := strings.Join(codes(r.Findings), ","); r.IssueDate != tt.want || got != tt.code {
			t.Errorf("%s %q: issue %q codes %q, want %q %q", tt.order, tt.in, r.IssueDate, got, tt.want, tt.code)
		}
	}
}

func TestDateResolution(t *testing.T) {
	header := []string{"First Name", "Last Name", "Email", "Issue Date"}
	tests := []struct {
		name   string
		dates  []string // rows 2, 3, ...
		before []string // issue date or code per row, as Row returned it
		res    []Resolution
		after  []string // after revalidating the resolved rows
	}{
		{"proved later",
			[]string{"03/04/2025", "05/05/2025", "13/04/2025", "01/02/2025"},
			[]string{"ambiguous_date", "2025-05-05", "2025-04-13", "2025-02-01"},
			[]Resolution{{Column: "Issue Date", Order: credbatch.DateOrderDMY, Rows: []int{2}}},
			[]string{"2025-04-03", "2025-05-05", "2025-04-13", "2025-02-01"}},
		{"MDY proof",
			[]string{"03/04/2025", "04/13/2025"},
			[]string{"ambiguous_date", "2025-04-13"},
			[]Resolution{{Column: "Issue Date", Order: credbatch.DateOrderMDY, Rows: []int{2}}},
			[]string{"2025-03-04", "2025-04-13"}},
		{"never proved",
			[]string{"03/04/2025", "2025-01-01"},
			[]string{"ambiguous_date", "2025-01-01"},
			nil,
			[]string{"ambiguous_date", "2025-01-01"}},
		{"conflict",
			[]string{"03/04/2025", "13/04/2025", "01/02/2025", "04/13/2025", "01/03/2025"},
			[]string{"ambiguous_date", "2025-04-13", "2025-02-01", "2025-04-13", "ambiguous_date"},
			[]Resolution{{Column: "Issue Date", Conflict: true, Rows: []int{4}}},
			[]string{"ambiguous_date", "2025-04-13", "ambiguous_date", "2025-04-13", "ambiguous_date"}},
	}
	show := func(r credbatch.Row) string {
		if len(r.Findings) > 0 {
			return strings.Join(codes(r.Findings), ",")
		}
		return r.IssueDate
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, credbatch.Options{DefinitionID: "member"}, header...)
			var rows []credbatch.Row
			var before []string
			for i, d := range tt.dates {
				r := v.Row(i+2, []string{"A", "B", fmt.Sprintf("a%d@example.com", i), d})
				rows = append(rows, r)
				before = append(before, show(r))
			}
			if !reflect.DeepEqual(before, tt.before) {
				t.Errorf("before = %q, want %q", before, tt.before)
			}
			res := v.Finish()
			if !reflect.DeepEqual(res, tt.res) {
				t.Errorf("Finish = %+v, want %+v", res, tt.res)
			}
			for _, n := range RowsToRevalidate(res) {
				rows[n-2] = v.Revalidate(rows[n-2])
			}
			var after []string
			for _, r := range rows {
				after = append(after, show(r))
			}
			if !reflect.DeepEqual(after, tt.after) {
				t.Errorf("after = %q, want %q", after, tt.after)
			}
			if !reflect.DeepEqual(v.Finish(), tt.res) {
				t.Errorf("Finish changed after Revalidate")
			}
		})
	}
}

func TestRevalidateKeepsOtherFindings(t *testing.T) {
	v := mustNew(t, credbatch.Options{DefinitionID: "member"}, "First Name", "Last Name", "Email", "Issue Date")
	v.Row(2, []string{"A", "B", "a@example.com", "2025-01-01"})
	r := v.Row(3, []string{"A", "B", "a@example.com", "03/04/2025"})
	v.Row(4, []string{"A", "B", "c@example.com", "13/04/2025"})
	r.BatchID = "b1"
	got := v.Revalidate(r)
	if want := []string{credbatch.CodeDuplicateRow}; !reflect.DeepEqual(codes(got.Findings), want) || got.IssueDate != "2025-04-03" || got.BatchID != "b1" {
		t.Errorf("Revalidate = %+v, want issue 2025-04-03 and only duplicate_row", got)
	}
	if c := v.Counts()["member"]; c != 3 {
		t.Errorf("Counts after Revalidate = %d, want 3", c)
	}
}

// TestUndecodable: a cell the reader flagged makes the row invalid with invalid_encoding
// under the column's header, and re-validation keeps it.
func TestUndecodable(t *testing.T) {
	v := mustNew(t, credbatch.Options{DefinitionID: "member"}, "First Name", "Last Name", "Email", "Issue Date")
	r := v.Row(2, []string{"Ren\uFFFDe", "B", "a@example.com", "03/04/2025"})
	v.Undecodable(&r, 0, "UTF-8", `a byte that is not UTF-8: 0xE9 after "Ren" ('é' in Windows-1252)`)
	if r.Status != credbatch.RowInvalid || len(r.Findings) != 2 || r.Findings[1].Code != credbatch.CodeInvalidEncoding ||
		r.Findings[1].Column != "First Name" || !strings.Contains(r.Findings[1].Message, "0xE9") {
		t.Fatalf("row = %+v, want an invalid_encoding error on First Name naming 0xE9", r)
	}
	v.Row(3, []string{"C", "D", "c@example.com", "13/04/2025"})
	v.Finish()
	got := v.Revalidate(r)
	if want := []string{credbatch.CodeInvalidEncoding}; !reflect.DeepEqual(codes(got.Findings), want) || got.Status != credbatch.RowInvalid {
		t.Errorf("Revalidate = %+v, want only invalid_encoding, invalid", got)
	}
	v.HeaderUndecodable(7, "UTF-8", "a byte")
	if w := v.Warnings(); len(w) != 1 || w[0].Code != credbatch.CodeInvalidEncoding || w[0].Column != "column H" || w[0].Row != 1 {
		t.Errorf("Warnings = %+v, want an invalid_encoding warning on column H of row 1", w)
	}
}

func TestDate1904Config(t *testing.T) {
	v, err := New(Config{Definitions: testDefs(), Options: credbatch.Options{DefinitionID: "member"}, Today: "2025-03-04", Date1904: true},
		[]string{"First Name", "Last Name", "Email", "Issue Date"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r := v.Row(2, []string{"A", "B", "a@example.com", "43958"}); r.IssueDate != "2024-05-08" {
		t.Errorf("1904 serial 43958 = %q %+v, want 2024-05-08", r.IssueDate, r.Findings)
	}
}

func TestShortRowAndBlank(t *testing.T) {
	v := mustNew(t, credbatch.Options{DefinitionID: "member"}, "First Name", "Last Name", "Email", "Issue Date")
	r := v.Row(2, []string{"A", "B", "a@example.com"}) // trailing empty cells dropped by the reader
	if r.Status != credbatch.RowValid || r.IssueDate != "2025-03-04" {
		t.Errorf("short row = %s %q %+v, want valid with Today", r.Status, r.IssueDate, r.Findings)
	}
	if !Blank([]string{"", " \t"}) || Blank([]string{"", "x"}) {
		t.Error("Blank is wrong")
	}
}

type fakeLookup struct {
	active     map[Recipient]bool
	suppressed map[string]bool
	err        error
	keys       []Recipient
}

func (f *fakeLookup) ActiveCredentials(_ context.Context, keys []Recipient) (map[Recipient]bool, error) {
	f.keys = keys
	return f.active, f.err
}

func (f *fakeLookup) Suppressed(_ context.Context, emails []string) (map[string]bool, error) {
	return f.suppressed, f.err
}

func TestCheckRecipients(t *testing.T) {
	v := mustNew(t, credbatch.Options{}, "ID", "First Name", "Last Name", "Contact", "Licence No")
	rows := []credbatch.Row{
		v.Row(2, []string{"course", "A", "B", "a@example.com"}),
		v.Row(3, []string{"licence", "A", "B", "a@example.com", "L"}),
		v.Row(4, []string{"member", "A", "B", "a@example.com"}),
		v.Row(5, []string{"member", "A", "B", "b@example.com"}),
		v.Row(6, []string{"member", "A", "B", "not-an-email"}),
	}
	l := &fakeLookup{
		active: map[Recipient]bool{{"course", "a@example.com"}: true, {"licence", "a@example.com"}: true,
			{"member", "a@example.com"}: true},
		suppressed: map[string]bool{"b@example.com": true},
	}
	if err := v.CheckRecipients(context.Background(), rows, l); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status credbatch.RowStatus
		codes  []string
		sev    credbatch.Severity
	}{
		{credbatch.RowInvalid, []string{"already_issued"}, credbatch.SeverityError},
		{credbatch.RowValid, []string{"already_issued"}, credbatch.SeverityWarning},
		{credbatch.RowValid, []string{"already_issued"}, credbatch.SeverityWarning},
		{credbatch.RowValid, []string{"suppressed_recipient"}, credbatch.SeverityWarning},
		{credbatch.RowInvalid, []string{"invalid_email"}, credbatch.SeverityError},
	}
	for i, r := range rows {
		if r.Status != want[i].status || !reflect.DeepEqual(codes(r.Findings), want[i].codes) ||
			r.Findings[0].Severity != want[i].sev || r.Findings[0].Column != "Contact" {
			t.Errorf("row %d = %s %+v, want %s %q %s", r.Number, r.Status, r.Findings, want[i].status, want[i].codes, want[i].sev)
		}
	}
	keys := len(l.keys)
	again := slices.Clone(rows)
	for i := range again {
		again[i].Findings = slices.Clone(rows[i].Findings)
	}
	if err := v.CheckRecipients(context.Background(), again, l); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, rows) {
		t.Errorf("a second check changed the rows:\n%+v\nwant\n%+v", again, rows)
	}
	l.suppressed = nil
	if err := v.CheckRecipients(context.Background(), again[3:4], l); err != nil {
		t.Fatal(err)
	}
	if len(again[3].Findings) != 0 {
		t.Errorf("a recipient no longer suppressed keeps %+v", again[3].Findings)
	}
	if keys != 4 {
		t.Errorf("looked up %d keys, want 4 (invalid emails skipped)", keys)
	}

	boom := credbatch.E(credbatch.KindUnavailable, "unavailable", "throttled")
	rows2 := []credbatch.Row{v.Row(7, []string{"member", "A", "B", "z@example.com"})}
	err := CheckRecipients(context.Background(), rows2, testDefs(), &fakeLookup{err: boom})
	if !credbatch.IsKind(err, credbatch.KindUnavailable) || len(rows2[0].Findings) != 0 {
		t.Errorf("lookup error: err %v, findings %+v; want unavailable and rows untouched", err, rows2[0].Findings)
	}
}

func TestUnnormalizedDefinitionAndHeaderRow(t *testing.T) {
	defs := map[string]credbatch.Definition{"d": {ID: "d", Name: "D", Expiry: credbatch.Expiry{Default: "P2Y"}}}
	v, err := New(Config{Definitions: defs, Options: credbatch.Options{DefinitionID: "d"}, Today: "2025-03-04"},
		[]string{"Email", "First Name", "Last Name", "Colour"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if w := v.Warnings(); len(w) != 1 || w[0].Row != 3 || w[0].Column != "Colour" {
		t.Errorf("Warnings = %+v, want one on header row 3 for Colour", w)
	}
	r := v.Row(4, []string{" A@B.CO ", " Ann ", "Lee\t", "red"})
	want := credbatch.Row{Number: 4, DefinitionID: "d", FirstName: "Ann", LastName: "Lee", Email: "a@b.co",
		IssueDate: "2025-03-04", ExpiryDate: "2027-03-04", Cells: r.Cells, Status: credbatch.RowValid}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("Row = %+v, want %+v", r, want)
	}
}

// TestLocaleColumn: an optional Locale (or Language) column gives each row its email
// language, by code, code with region or language name; anything else is invalid_choice.
func TestLocaleColumn(t *testing.T) {
	header := append(append([]string(nil), courseHeader...), "Language")
	tests := []struct {
		cell       string
		wantLocale string
		wantCodes  []string
	}{
		{"", "", []string{}},
		{"fr", "fr", []string{}},
		{"de-AT", "de", []string{}},
		{"Español", "es", []string{}},
		{"klingon", "", []string{credbatch.CodeInvalidChoice}},
	}
	for _, tc := range tests {
		t.Run(tc.cell, func(t *testing.T) {
			v := mustNew(t, credbatch.Options{DefinitionID: "course"}, header...)
			r := v.Row(2, append(courseRow(nil), tc.cell))
			if r.Locale != tc.wantLocale || !reflect.DeepEqual(codes(r.Findings), tc.wantCodes) {
				t.Errorf("locale %q, findings %+v; want %q, %v", r.Locale, r.Findings, tc.wantLocale, tc.wantCodes)
			}
		})
	}
}
