package sheet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkInvariants reads data as an upload named name and checks what every reader must
// guarantee: no panic, only file-level errors, increasing row numbers, trimmed cells, no
// trailing empty cell, limits respected.
func checkInvariants(t *testing.T, name string, data []byte) {
	t.Helper()
	lim := Limits{MaxRows: 50, MaxColumns: 20, MaxCellBytes: 200, UnzipSizeLimit: 8 << 20, UnzipXMLSizeLimit: 1 << 20}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, path, name, Options{Limits: lim, TmpDir: t.TempDir()})
	checkRecords(t, got, lim)
	if got.Format != FormatXLSX && got.Format != "" {
		return
	}
	// The two .xlsx readers are not compared here: on malformed XML excelize stops silently,
	// drops cells or merges rows where the stream reader fails or keeps the cell (an invalid
	// style index, say). TestFixtures compares them on real files.
	checkRecords(t, readAll(t, path, name, Options{Limits: lim, TmpDir: t.TempDir(), forceStream: true}), lim)
}

func checkRecords(t *testing.T, got result, lim Limits) {
	t.Helper()
	prev := 0
	for _, r := range got.Records {
		if r.Number <= prev {
			t.Fatalf("row number %d after %d", r.Number, prev)
		}
		prev = r.Number
		if len(r.Cells) == 0 || len(r.Cells) > lim.MaxColumns {
			t.Fatalf("row %d has %d cells", r.Number, len(r.Cells))
		}
		if r.Cells[len(r.Cells)-1] == "" {
			t.Fatalf("row %d ends with an empty cell", r.Number)
		}
		for _, c := range r.Cells {
			if c != strings.TrimFunc(c, isTrimSpace) || len(c) > lim.MaxCellBytes {
				t.Fatalf("row %d cell %q is untrimmed or too long", r.Number, c)
			}
		}
	}
	if len(got.Records) > lim.MaxRows+1 {
		t.Fatalf("%d records with MaxRows %d", len(got.Records), lim.MaxRows)
	}
}

func FuzzCSV(f *testing.F) {
	for _, name := range []string{"utf8.csv", "utf8_bom.csv", "utf16le.csv", "utf16be.csv", "cp1252.csv", "semicolon.csv", "tab.txt", "quoted_newlines.csv", "blank_whitespace.csv", "lazy_quotes.csv", "lo_export.csv",
		"mostly_utf8.csv", "cp1252_stray_utf8.csv", "lone_cr.csv", "pipe.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(""))
	f.Add([]byte("\"unterminated\n,,\n"))
	f.Add([]byte("a;b\tc,d\n\"x\"\"y\";z\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkInvariants(t, "upload.csv", data)
	})
}

func FuzzXLSX(f *testing.F) {
	for _, name := range []string{"unicode_sst.xlsx", "blank_rows.xlsx", "date1904.xlsx", "lo_formulas.xlsx", "hidden_first.xlsx", "chart_first.xlsx", "state_show.xlsx"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(minimalXLSX(f, sheetXML(`<row r="2"><c r="B2" t="inlineStr"><is><t> a </t></is></c><c r="D2" t="e"><v>#N/A</v></c></row><row><c><v>1</v></c></row>`)))
	f.Add(minimalXLSX(f, billionLaughs))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkInvariants(t, "upload.xlsx", data)
	})
}
