// Command fixturegen writes the committed .xlsx and text fixtures of package sheet:
// go run ./shared/sheet/internal/fixturegen -dir shared/sheet/testdata
package main

import (
	"archive/zip"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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
		// Issue 14, items 12-16: files found in other projects' test suites.
		{"mostly_utf8.csv", bytesFile("First Name,Last Name,Email\nJosé,Müller,jose@example.com\nZoë,O’Brien,zoe@example.com\n" +
			"Ren\xE9e,Dupont,renee@example.com\nAna,O\x92Neil,ana@example.com\nÅsa,Ørsted,asa@example.com\n")},
		{"cp1252_stray_utf8.csv", func(p string) error {
			b, err := charmap.Windows1252.NewEncoder().Bytes([]byte("First Name;Last Name;Email\r\nFrançois;Lefèvre;francois@example.com\r\n" +
				"Jürgen;Groß;jurgen@example.com\r\nAnaïs;Noël;anais@example.com\r\n"))
			if err != nil {
				return err
			}
			return os.WriteFile(p, append(b, "José;Núñez;jose@example.com\r\n"...), 0o644)
		}},
		{"lone_cr.csv", text("First Name,Last Name,Email\rAna,Lima,ana@example.com\r\r\"Bo\rJr\",Berg,bo@example.com\rCy,Dahl,cy@example.com")},
		{"pipe.txt", text("First Name|Last Name|Email|Note\nAna|Lima|ana@example.com|a, b\nBo|Berg|bo@example.com|\"x|y\"\n")},
		{"nul_late.csv", func(p string) error {
			var b strings.Builder
			b.WriteString("Name,Email\n")
			for i := 1; i <= 400; i++ {
				fmt.Fprintf(&b, "Person %d,p%d@example.com\n", i, i)
			}
			b.WriteString("Mal\x00lory,m@example.com\n")
			return os.WriteFile(p, []byte(b.String()), 0o644)
		}},
		{"chart_first.xlsx", chartFirst},
		{"state_show.xlsx", stateShow},
		{"duplicate_part.xlsx", duplicatePart},
	}
	for _, s := range steps {
		if err := s.fn(filepath.Join(dir, s.name)); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

func bytesFile(s string) func(string) error { return text(s) }

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

// chartFirst has a chart sheet before the worksheet with the data, as Excel saves a workbook
// whose chart was moved to its own sheet and dragged to the front.
func chartFirst(p string) error {
	f := excelize.NewFile()
	_ = f.SetSheetName("Sheet1", "Data")
	_ = f.SetSheetRow("Data", "A1", &[]any{"Name", "Score"})
	_ = f.SetSheetRow("Data", "A2", &[]any{"Ana", 90})
	_ = f.SetSheetRow("Data", "A3", &[]any{"Bo", 75})
	if err := f.AddChartSheet("Chart", &excelize.Chart{Type: excelize.Col,
		Series: []excelize.ChartSeries{{Name: "Data!$B$1", Categories: "Data!$A$2:$A$3", Values: "Data!$B$2:$B$3"}}}); err != nil {
		return err
	}
	if err := save(f, p); err != nil {
		return err
	}
	// excelize's MoveSheet fails on a chart sheet: move its <sheet> element by hand.
	return rezip(p, func(name string, data []byte) []byte {
		if name != "xl/workbook.xml" {
			return data
		}
		i := bytes.Index(data, []byte(`<sheet name="Chart"`))
		end := []byte("</sheet>")
		j := bytes.Index(data[i:], end) + len(end)
		chart := append([]byte(nil), data[i:i+j]...)
		data = append(data[:i:i], data[i+j:]...)
		k := bytes.Index(data, []byte(`<sheet name="Data"`))
		return append(data[:k:k], append(chart, data[k:]...)...)
	}, nil)
}

// stateShow marks its first sheet state="show", which some writers use and which hides
// nothing (only hidden and veryHidden do).
func stateShow(p string) error {
	f := excelize.NewFile()
	_ = f.SetSheetName("Sheet1", "Data")
	_ = f.SetSheetRow("Data", "A1", &[]any{"Name", "Level"})
	_ = f.SetSheetRow("Data", "A2", &[]any{"Ana", "Gold"})
	if _, err := f.NewSheet("Other"); err != nil {
		return err
	}
	_ = f.SetSheetRow("Other", "A1", &[]any{"not this one"})
	if err := save(f, p); err != nil {
		return err
	}
	return rezip(p, func(name string, data []byte) []byte {
		if name == "xl/workbook.xml" {
			return bytes.Replace(data, []byte(`<sheet name="Data"`), []byte(`<sheet state="show" name="Data"`), 1)
		}
		return data
	}, nil)
}

// duplicatePart holds a second xl/worksheets/sheet1.xml after the first, with other data:
// a reader that keeps the first and one that keeps the last read different rows.
func duplicatePart(p string) error {
	f := excelize.NewFile()
	_ = f.SetSheetRow("Sheet1", "A1", &[]any{"Name", "Email"})
	_ = f.SetSheetRow("Sheet1", "A2", &[]any{"Ana", "ana@example.com"})
	if err := save(f, p); err != nil {
		return err
	}
	var second []byte
	err := rezip(p, func(name string, data []byte) []byte {
		if name == "xl/worksheets/sheet1.xml" {
			second = bytes.Replace(data, []byte("ana@example.com"), []byte("mallory@example.net"), 1)
		}
		return data
	}, func(zw *zip.Writer) error {
		w, err := zw.Create("xl/worksheets/sheet1.xml")
		if err == nil {
			_, err = w.Write(second)
		}
		return err
	})
	return err
}

// rezip rewrites the zip at p, passing every entry through edit and then calling extra.
func rezip(p string, edit func(name string, data []byte) []byte, extra func(*zip.Writer) error) error {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return err
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		w, err := zw.Create(zf.Name)
		if err != nil {
			return err
		}
		if _, err := w.Write(edit(zf.Name, data)); err != nil {
			return err
		}
	}
	if extra != nil {
		if err := extra(zw); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(p, buf.Bytes(), 0o644)
}
