package sheet

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
)

func rec(n int, cells ...string) Record { return Record{Number: n, Cells: cells} }

func flawed(r Record, flaws ...Flaw) Record { r.Flaws = flaws; return r }

// numbered is nul_late.csv's records before its NUL byte.
func numbered(n int) []Record {
	out := []Record{rec(1, "Name", "Email")}
	for i := 1; i <= n; i++ {
		out = append(out, rec(i+1, fmt.Sprintf("Person %d", i), fmt.Sprintf("p%d@example.com", i)))
	}
	return out
}

// TestFixtures is the golden corpus: every file in testdata (written by
// internal/fixturegen, or by LibreOffice for the lo_* files) and what the readers must give
// for it, through both .xlsx readers.
func TestFixtures(t *testing.T) {
	tests := []struct {
		file  string
		name  string // upload name; "" = file
		sheet string
		want  result
	}{
		{file: "utf8.csv", want: result{Format: "csv", Records: []Record{
			rec(1, "First Name", "Last Name", "Email"), rec(2, "José", "Müller", "jose@example.com"), rec(3, "Zoë", "Nguyễn", "zoe@example.com")}}},
		{file: "utf8_bom.csv", want: result{Format: "csv", Records: []Record{
			rec(1, "First Name", "Last Name", "Email"), rec(2, "José", "Müller", "jose@example.com")}}},
		{file: "utf16le.csv", want: result{Format: "csv", Records: []Record{
			rec(1, "First Name", "Last Name", "Email"), rec(2, "José", "Müller", "jose@example.com"), rec(3, "名前", "山田", "yamada@example.com")}}},
		{file: "utf16be.csv", want: result{Format: "csv", Records: []Record{
			rec(1, "First Name", "Last Name", "Email"), rec(2, "José", "Müller", "jose@example.com")}}},
		{file: "cp1252.csv", want: result{Format: "csv", Records: []Record{
			rec(1, "First Name", "Last Name", "Email", "Fee"), rec(2, "François", "Lefèvre", "francois@example.com", "€12,50"),
			rec(3, "Jürgen", "Groß", "jurgen@example.com", "“9,00”")}}},
		{file: "semicolon.csv", want: result{Format: "csv", Records: []Record{
			rec(1, "Name", "Score", "Note"), rec(2, "Ana", "3,5", "a;b"), rec(3, "Bo", "4,0", "plain")}}},
		{file: "tab.txt", want: result{Format: "csv", Records: []Record{
			rec(1, "Name", "Email", "Level"), rec(2, "Ana", "ana@example.com", "Gold"), rec(3, "Bo", "bo@example.com", "Silver")}}},
		{file: "quoted_newlines.csv", want: result{Format: "csv", Records: []Record{
			rec(1, "Name", "Address", "Email"), rec(2, "Ana", "1 Main St\nApt 2\nSpringfield", "ana@example.com"),
			rec(4, "Bo, Jr.", `He said "hi"`, "bo@example.com")}}},
		{file: "blank_whitespace.csv", want: result{Format: "csv", Records: []Record{
			rec(1, "Name", "Email"), rec(5, "Ana", "ana@example.com"), rec(7, "Bo", "bo@example.com")}}},
		{file: "lazy_quotes.csv", want: result{Format: "csv", Records: []Record{
			rec(1, "Name", "Note"), rec(2, "Ana", `5" tall`), rec(3, "Bo", `ok"x`)}}},
		{file: "lo_export.csv", want: result{Format: "csv", Records: []Record{
			rec(1, "First Name", "Last Name", "Email", "Issue Date", "Score", "Total"),
			rec(2, "José", "Müller", "jose@example.com", "2024-05-08", "97.5", "195"),
			rec(3, "Zoë", "Ørsted", "zoe@example.com", "2023-12-31", "80", "160")}}},
		{file: "lo_dates.xlsx", want: result{Format: "xlsx", Records: []Record{
			rec(1, "First Name", "Last Name", "Email", "Issue Date", "Score", "Total"),
			rec(2, "José", "Müller", "jose@example.com", "45420", "97.5", "195"),
			rec(3, "Zoë", "Ørsted", "zoe@example.com", "45291", "80", "160")}}},
		{file: "lo_formulas.xlsx", want: result{Format: "xlsx", Records: []Record{
			rec(1, "A", "B", "Sum", "Label", "Flag"), rec(2, "2", "3", "5", "x2", "0")}}},
		// excelize writes formulas without cached values; they are never evaluated.
		{file: "formulas.xlsx", want: result{Format: "xlsx", Records: []Record{
			rec(1, "A", "B", "Sum", "Label", "Flag"), rec(2, "2", "3")}}},
		{file: "unicode_sst.xlsx", want: result{Format: "xlsx", Records: []Record{
			rec(1, "First Name", "Last Name", "Email", "Issue Date", "Score", "Active"),
			rec(2, "Zoë", "Nguyễn", "zoe@example.com", "45420", "97.5", "1"),
			rec(3, "名前", "山田", "yamada@example.com", "45291", "80", "0"),
			rec(4, "Αλέξης", "Παπαδόπουλος 🎓", "alexis@example.com", "2024-01-02", "0042")}}},
		{file: "blank_rows.xlsx", want: result{Format: "xlsx", Records: []Record{
			rec(2, "", "Name", "Email"), rec(5, "", "Ana", "ana@example.com"), rec(9, "", "", "bo@example.com")}}},
		{file: "date1904.xlsx", want: result{Format: "xlsx", Date1904: true, Records: []Record{
			rec(1, "Name", "Issue Date"), rec(2, "Ana", "43958")}}},
		{file: "hidden_first.xlsx", want: result{Format: "xlsx", Records: []Record{rec(1, "Name", "Level"), rec(2, "Ana", "Gold")}}},
		{file: "hidden_first.xlsx", sheet: "Lists", want: result{Format: "xlsx", Records: []Record{rec(1, "Bronze", "Silver", "Gold")}}},
		{file: "hidden_first.xlsx", sheet: " spare ", want: result{Format: "xlsx", Records: []Record{rec(1, "not this one")}}},
		{file: "hidden_first.xlsx", sheet: "Nope", want: result{Code: "unknown_sheet"}},
		{file: "named_sheets.xlsx", want: result{Format: "xlsx", Records: []Record{rec(1, "Fill in the Credentials sheet.")}}},
		{file: "named_sheets.xlsx", sheet: "Credentials", want: result{Format: "xlsx", Records: []Record{rec(1, "Name", "Email"), rec(2, "Ana", "ana@example.com")}}},
		// A sheet name means nothing to a CSV.
		{file: "utf8.csv", sheet: "Credentials", want: result{Format: "csv", Records: []Record{
			rec(1, "First Name", "Last Name", "Email"), rec(2, "José", "Müller", "jose@example.com"), rec(3, "Zoë", "Nguyễn", "zoe@example.com")}}},
		// Content wins over the extension.
		{file: "lo_dates.xlsx", name: "upload.csv", want: result{Format: "xlsx", Records: []Record{
			rec(1, "First Name", "Last Name", "Email", "Issue Date", "Score", "Total"),
			rec(2, "José", "Müller", "jose@example.com", "45420", "97.5", "195"),
			rec(3, "Zoë", "Ørsted", "zoe@example.com", "45291", "80", "160")}}},
		{file: "lo_dates.xls", want: result{Code: "unsupported_format"}},
		{file: "lo_dates.xls", name: "renamed.xlsx", want: result{Code: "unsupported_format"}},
		{file: "ole2.xls", name: "renamed.csv", want: result{Code: "unsupported_format"}},
		{file: "lo_dates.ods", want: result{Code: "unsupported_format"}},
		{file: "lo_dates.ods", name: "renamed.xlsx", want: result{Code: "unsupported_format"}},
		{file: "garbage.txt", want: result{Code: "corrupt_file"}},
		{file: "utf8.csv", name: "data.xlsx", want: result{Code: "corrupt_file"}},
		{file: "utf8.csv", name: "data.numbers", want: result{Code: "unsupported_format"}},
		{file: "utf8.csv", name: "data.pdf", want: result{Code: "unsupported_format"}},
		{file: "utf8.csv", name: "data", want: result{Code: "unsupported_format"}},

		// Issue 14 item 12: a UTF-8 file with two stray Windows-1252 bytes stays UTF-8; the two
		// cells are flagged with the bytes, never decoded whole as Windows-1252 (JosÃ©).
		{file: "mostly_utf8.csv", want: result{Format: "csv", Records: []Record{
			rec(1, "First Name", "Last Name", "Email"), rec(2, "José", "Müller", "jose@example.com"), rec(3, "Zoë", "O’Brien", "zoe@example.com"),
			flawed(rec(4, "Ren\uFFFDe", "Dupont", "renee@example.com"), Flaw{1, "UTF-8", `a byte that is not UTF-8: 0xE9 after "Ren" ('é' in Windows-1252)`}),
			flawed(rec(5, "Ana", "O\uFFFDNeil", "ana@example.com"), Flaw{2, "UTF-8", `a byte that is not UTF-8: 0x92 after "O" ('’' in Windows-1252)`}),
			rec(6, "Åsa", "Ørsted", "asa@example.com")}}},
		// ... and the other way round: a Windows-1252 file with one UTF-8 row.
		{file: "cp1252_stray_utf8.csv", want: result{Format: "csv", Records: []Record{
			rec(1, "First Name", "Last Name", "Email"), rec(2, "François", "Lefèvre", "francois@example.com"),
			rec(3, "Jürgen", "Groß", "jurgen@example.com"), rec(4, "Anaïs", "Noël", "anais@example.com"),
			flawed(rec(5, "JosÃ©", "NÃºÃ±ez", "jose@example.com"),
				Flaw{1, "Windows-1252", `a UTF-8 character, in a file that is otherwise Windows-1252: 0xC3 0xA9 after "Jos" ('é' in UTF-8)`},
				Flaw{2, "Windows-1252", `2 UTF-8 characters, in a file that is otherwise Windows-1252: 0xC3 0xBA after "N" ('ú' in UTF-8), 0xC3 0xB1 after "Nú" ('ñ' in UTF-8)`})}}},
		// Item 13: lone CR line endings, in a quoted cell too.
		{file: "lone_cr.csv", want: result{Format: "csv", Records: []Record{
			rec(1, "First Name", "Last Name", "Email"), rec(2, "Ana", "Lima", "ana@example.com"),
			rec(4, "Bo\nJr", "Berg", "bo@example.com"), rec(5, "Cy", "Dahl", "cy@example.com")}}},
		// Item 16: pipe-delimited text without a sep=| line; a NUL byte after the first 8 KiB.
		{file: "pipe.txt", want: result{Format: "csv", Records: []Record{
			rec(1, "First Name", "Last Name", "Email", "Note"), rec(2, "Ana", "Lima", "ana@example.com", "a, b"),
			rec(3, "Bo", "Berg", "bo@example.com", "x|y")}}},
		{file: "nul_late.csv", want: result{Format: "csv", Records: numbered(400), Code: "corrupt_file"}},
		// Item 14: a chart sheet first; the first visible worksheet is read.
		{file: "chart_first.xlsx", want: result{Format: "xlsx", Records: []Record{rec(1, "Name", "Score"), rec(2, "Ana", "90"), rec(3, "Bo", "75")}}},
		{file: "chart_first.xlsx", sheet: "Chart", want: result{Code: "unknown_sheet"}},
		// Item 15: state="show" hides nothing; two zip entries of one name are refused.
		{file: "state_show.xlsx", want: result{Format: "xlsx", Records: []Record{rec(1, "Name", "Level"), rec(2, "Ana", "Gold")}}},
		{file: "duplicate_part.xlsx", want: result{Code: "corrupt_file"}},
	}
	for _, tt := range tests {
		name := tt.name
		if name == "" {
			name = tt.file
		}
		for _, rd := range xlsxReaders {
			t.Run(tt.file+"/"+name+"/"+tt.sheet+"/"+rd.name, func(t *testing.T) {
				got := readAll(t, filepath.Join("testdata", tt.file), name, Options{Sheet: tt.sheet, TmpDir: t.TempDir(), forceStream: rd.stream})
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got  %+v\nwant %+v", got, tt.want)
				}
			})
		}
	}
}
