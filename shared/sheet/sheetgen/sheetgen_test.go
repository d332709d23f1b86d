package sheetgen

import (
	"archive/zip"
	"path/filepath"
	"testing"

	"github.com/xuri/excelize/v2"
)

func TestWriteSampleXLSX(t *testing.T) {
	tests := []struct {
		name          string
		sharedStrings bool
		wantSST       bool
	}{
		{"inline strings", false, false},
		{"shared strings", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.xlsx")
			if err := WriteSampleXLSX(path, 50, tt.sharedStrings); err != nil {
				t.Fatalf("WriteSampleXLSX: %v", err)
			}
			if got := hasPart(t, path, "xl/sharedStrings.xml"); got != tt.wantSST {
				t.Errorf("sharedStrings part = %v, want %v", got, tt.wantSST)
			}
			f, err := excelize.OpenFile(path)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer f.Close()
			dim, err := f.GetSheetDimension("Sheet1")
			if err != nil || dim != "A1:H51" {
				t.Errorf("dimension = %q, %v; want A1:H51", dim, err)
			}
			rows, err := f.GetRows("Sheet1", excelize.Options{RawCellValue: true})
			if err != nil {
				t.Fatalf("GetRows: %v", err)
			}
			if len(rows) != 51 {
				t.Fatalf("rows = %d, want 51", len(rows))
			}
			want := []string{"Chloé", "Müller", "chlo.mller.22@example.com", "45328", "P2Y6M", "72", "CERT-00000023", "Silver"}
			got := rows[23]
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("row 24 cell %d = %q, want %q", i, got[i], want[i])
				}
			}
		})
	}
}

func hasPart(t *testing.T, path, name string) bool {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("zip: %v", err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name == name {
			return true
		}
	}
	return false
}
