// Command fixturegen writes the committed .xlsx and text fixtures of package sheet:
// go run ./shared/sheet/internal/fixturegen -dir shared/sheet/testdata
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
	"unicode/utf16"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/charmap"
)

func main() {
	dir := flag.String("dir", "shared/sheet/testdata", "output directory")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "fixturegen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	steps := []struct {
		name string
		fn   func(string) error
	}{
		{"utf8.csv", text("First Name,Last Name,Email\nJosé,Müller,jose@example.com\nZoë,Nguyễn,zoe@example.com\n")},
		{"utf8_bom.csv", text("\uFEFFFirst Name,Last Name,Email\r\nJosé,Müller,jose@example.com\r\n")},
		{"utf16le.csv", utf16File(false, "First Name\tLast Name\tEmail\r\nJosé\tMüller\tjose@example.com\r\n名前\t山田\tyamada@example.com\r\n")},
		{"utf16be.csv", utf16File(true, "First Name,Last Name,Email\nJosé,Müller,jose@example.com\n")},
		{"cp1252.csv", cp1252("First Name;Last Name;Email;Fee\r\nFrançois;Lefèvre;francois@example.com;€12,50\r\nJürgen;Groß;jurgen@example.com;“9,00”\r\n")},
		{"semicolon.csv", text("Name;Score;Note\nAna;3,5;\"a;b\"\nBo;4,0;plain\n")},
		{"tab.txt", text("Name\tEmail\tLevel\nAna\tana@example.com\tGold\nBo\tbo@example.com\tSilver\n")},
		{"quoted_newlines.csv", text("Name,Address,Email\n\"Ana\",\"1 Main St\nApt 2\nSpringfield\",ana@example.com\n\n\"Bo, Jr.\",\"He said \"\"hi\"\"\",bo@example.com\n")},
		{"blank_whitespace.csv", text("  Name , Email \n\n,,\n   \n\u00a0Ana\u00a0,\tana@example.com  \n \u00a0 , \n\"  Bo \",bo@example.com,,,\n")},
		{"lazy_quotes.csv", text("Name,Note\nAna,5\" tall\nBo,\"ok\"x\n")},
		{"garbage.txt", func(p string) error { return os.WriteFile(p, []byte("PK\x03\x04 not really a zip at all"), 0o644) }},
		{"ole2.xls", func(p string) error {
			return os.WriteFile(p, append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, make([]byte, 504)...), 0o644)
		}},
		{"unicode_sst.xlsx", unicodeSST},
		{"blank_rows.xlsx", blankRows},
		{"date1904.xlsx", date1904},
		{"hidden_first.xlsx", hiddenFirst},
		{"named_sheets.xlsx", namedSheets},
		{"formulas.xlsx", formulas},
	}
	for _, s := range steps {
		if err := s.fn(filepath.Join(dir, s.name)); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

func text(s string) func(string) error {
	return func(p string) error { return os.WriteFile(p, []byte(s), 0o644) }
}

func utf16File(bigEndian bool, s string) func(string) error {
	return func(p string) error {
		units := utf16.Encode([]rune("\uFEFF" + s))
		b := make([]byte, 0, 2*len(units))
		for _, u := range units {
			if bigEndian {
				b = append(b, byte(u>>8), byte(u))
			} else {
				b = append(b, byte(u), byte(u>>8))
			}
		}
		return os.WriteFile(p, b, 0o644)
	}
}

func cp1252(s string) func(string) error {
	return func(p string) error {
		b, err := charmap.Windows1252.NewEncoder().Bytes([]byte(s))
		if err != nil {
			return err
		}
		return os.WriteFile(p, b, 0o644)
	}
}

func save(f *excelize.File, p string) error {
	defer f.Close()
	return f.SaveAs(p)
}

// unicodeSST uses the normal API, which writes a shared-strings table as Excel does.
func unicodeSST(p string) error {
	f := excelize.NewFile()
	rows := [][]any{
		{"First Name", "Last Name", "Email", "Issue Date", "Score", "Active"},
		{"Zoë", "Nguyễn", "zoe@example.com", time.Date(2024, 5, 8, 0, 0, 0, 0, time.UTC), 97.5, true},
		{"名前", "山田", "yamada@example.com", time.Date(2023, 12, 31, 0, 0, 0, 0, time.UTC), 80, false},
		{"Αλέξης", "Παπαδόπουλος 🎓", "alexis@example.com", "2024-01-02", "0042", nil},
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
			return err
		}
	}
	return save(f, p)
}

// blankRows has gaps, whitespace-only rows and trailing empty cells.
func blankRows(p string) error {
	f := excelize.NewFile()
	set := func(cell string, v any) { _ = f.SetCellValue("Sheet1", cell, v) }
	set("B2", "  Name ")
	set("C2", "Email")
	set("B3", "   ")
	set("B5", "\u00a0Ana\u00a0")
	set("C5", "ana@example.com")
	set("D5", "")
	set("E5", " ")
	set("C9", "bo@example.com")
	style, _ := f.NewStyle(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Color: []string{"FFFF00"}, Pattern: 1}})
	_ = f.SetCellStyle("Sheet1", "A12", "H14", style) // formatted but empty rows
	return save(f, p)
}

func date1904(p string) error {
	f := excelize.NewFile()
	if err := f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: boolPtr(true)}); err != nil {
		return err
	}
	_ = f.SetSheetRow("Sheet1", "A1", &[]any{"Name", "Issue Date"})
	_ = f.SetSheetRow("Sheet1", "A2", &[]any{"Ana", time.Date(2024, 5, 8, 0, 0, 0, 0, time.UTC)})
	return save(f, p)
}

func hiddenFirst(p string) error {
	f := excelize.NewFile()
	_ = f.SetSheetName("Sheet1", "Lists")
	_ = f.SetSheetRow("Lists", "A1", &[]any{"Bronze", "Silver", "Gold"})
	if _, err := f.NewSheet("Data"); err != nil {
		return err
	}
	_ = f.SetSheetRow("Data", "A1", &[]any{"Name", "Level"})
	_ = f.SetSheetRow("Data", "A2", &[]any{"Ana", "Gold"})
	if _, err := f.NewSheet("Spare"); err != nil {
		return err
	}
	_ = f.SetSheetRow("Spare", "A1", &[]any{"not this one"})
	idx, _ := f.GetSheetIndex("Data")
	f.SetActiveSheet(idx)
	if err := f.SetSheetVisible("Lists", false); err != nil {
		return err
	}
	return save(f, p)
}

func namedSheets(p string) error {
	f := excelize.NewFile()
	_ = f.SetSheetName("Sheet1", "Instructions")
	_ = f.SetSheetRow("Instructions", "A1", &[]any{"Fill in the Credentials sheet."})
	if _, err := f.NewSheet("Credentials"); err != nil {
		return err
	}
	_ = f.SetSheetRow("Credentials", "A1", &[]any{"Name", "Email"})
	_ = f.SetSheetRow("Credentials", "A2", &[]any{"Ana", "ana@example.com"})
	return save(f, p)
}

// formulas stores formulas with cached values, the way Excel saves them.
func formulas(p string) error {
	f := excelize.NewFile()
	_ = f.SetSheetRow("Sheet1", "A1", &[]any{"A", "B", "Sum", "Label", "Flag"})
	_ = f.SetSheetRow("Sheet1", "A2", &[]any{2, 3})
	if err := f.SetCellFormula("Sheet1", "C2", "A2+B2"); err != nil {
		return err
	}
	if err := f.SetCellFormula("Sheet1", "D2", `"x"&A2`); err != nil {
		return err
	}
	if err := f.SetCellFormula("Sheet1", "E2", "A2>B2"); err != nil {
		return err
	}
	return save(f, p)
}

func boolPtr(b bool) *bool { return &b }
