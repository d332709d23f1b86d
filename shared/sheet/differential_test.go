package sheet

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// TestReadersAgree writes random well-formed workbooks with excelize (cell types, gaps,
// blank rows, rich text, characters XML cannot hold, hidden sheets) and checks that both
// .xlsx readers give the same records.
func TestReadersAgree(t *testing.T) {
	words := []string{"Ana", "Zoë", "名前", "  padded  ", "a & b <c>", "_x0041_ literal", "line\nbreak", "tab\there", "🎓", "x\u00a0", "0042", "=1+1", "'quoted", "\u200bzero"}
	for seed := uint64(1); seed <= 25; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			f := excelize.NewFile()
			defer f.Close()
			sheet := "Sheet1"
			if rng.IntN(3) == 0 {
				// A hidden first sheet: both readers must pick the visible one.
				if _, err := f.NewSheet("Data"); err != nil {
					t.Fatal(err)
				}
				if err := f.SetSheetVisible("Sheet1", false); err != nil {
					t.Fatal(err)
				}
				sheet = "Data"
			}
			rows := 1 + rng.IntN(60)
			for r := 1; r <= rows; r++ {
				if rng.IntN(6) == 0 {
					continue // a blank row
				}
				for c := 1; c <= 1+rng.IntN(12); c++ {
					if rng.IntN(4) == 0 {
						continue // a gap
					}
					cell, _ := excelize.CoordinatesToCellName(c, r)
					var err error
					switch rng.IntN(7) {
					case 0:
						err = f.SetCellValue(sheet, cell, rng.Float64()*1000)
					case 1:
						err = f.SetCellValue(sheet, cell, rng.IntN(1_000_000))
					case 2:
						err = f.SetCellValue(sheet, cell, rng.IntN(2) == 0)
					case 3:
						err = f.SetCellValue(sheet, cell, time.Date(2000+rng.IntN(30), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC))
					case 4:
						err = f.SetCellRichText(sheet, cell, []excelize.RichTextRun{
							{Text: words[rng.IntN(len(words))]}, {Text: words[rng.IntN(len(words))], Font: &excelize.Font{Bold: true}}})
					case 5:
						err = f.SetCellFormula(sheet, cell, "1+1")
					default:
						err = f.SetCellStr(sheet, cell, strings.Repeat(words[rng.IntN(len(words))], 1+rng.IntN(3)))
					}
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			path := filepath.Join(t.TempDir(), "r.xlsx")
			if err := f.SaveAs(path); err != nil {
				t.Fatal(err)
			}
			a := readAll(t, path, "r.xlsx", Options{TmpDir: t.TempDir()})
			b := readAll(t, path, "r.xlsx", Options{TmpDir: t.TempDir(), forceStream: true})
			if !reflect.DeepEqual(a, b) {
				t.Errorf("excelize:      %+v\nstream reader: %+v", a, b)
			}
		})
	}
}
