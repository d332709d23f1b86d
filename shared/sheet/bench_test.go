package sheet

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/credbatch/credbatch/shared/sheet/sheetgen"
)

var (
	sampleMu    sync.Mutex
	sampleFiles = map[string]string{}
	sampleDir   string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sampleDir != "" {
		os.RemoveAll(sampleDir)
	}
	os.Exit(code)
}

// sample returns a generated 8-column file with n data rows (format csv, xlsx or sst.xlsx
// for shared strings), generated once per test binary.
func sample(tb testing.TB, format string, n int) string {
	tb.Helper()
	sampleMu.Lock()
	defer sampleMu.Unlock()
	key := format + "-" + strconv.Itoa(n)
	if p, ok := sampleFiles[key]; ok {
		return p
	}
	if sampleDir == "" {
		d, err := os.MkdirTemp("", "sheet-samples-")
		if err != nil {
			tb.Fatal(err)
		}
		sampleDir = d
	}
	p := filepath.Join(sampleDir, key+"."+format)
	var err error
	switch format {
	case "csv":
		err = sheetgen.WriteSampleCSV(p, n)
	case "xlsx":
		err = sheetgen.WriteSampleXLSX(p, n, false)
	case "sst.xlsx":
		err = sheetgen.WriteSampleXLSX(p, n, true)
	default:
		tb.Fatalf("unknown sample format %q", format)
	}
	if err != nil {
		tb.Fatal(err)
	}
	sampleFiles[key] = p
	return p
}

// benchRows is the size of the benchmark files; override with SHEET_BENCH_ROWS.
func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("SHEET_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 20_000
}

func benchRead(b *testing.B, format, name string) {
	n := benchRows()
	path := sample(b, format, n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := Open(path, name, Options{Limits: Limits{MaxRows: n}, TmpDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		rows := 0
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows++
		}
		r.Close()
		if rows != n+1 {
			b.Fatalf("read %d rows, want %d", rows, n+1)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkCSV(b *testing.B)               { benchRead(b, "csv", "s.csv") }
func BenchmarkXLSX(b *testing.B)              { benchRead(b, "xlsx", "s.xlsx") }
func BenchmarkXLSXSharedStrings(b *testing.B) { benchRead(b, "sst.xlsx", "s.xlsx") }

// BenchmarkBareExcelize is the floor: excelize Rows + Columns(RawCellValue), no trimming or checks.
func BenchmarkBareExcelize(b *testing.B) {
	n := benchRows()
	path := sample(b, "xlsx", n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f, err := excelize.OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		rows, err := f.Rows("Sheet1")
		if err != nil {
			b.Fatal(err)
		}
		count := 0
		for rows.Next() {
			if _, err := rows.Columns(excelize.Options{RawCellValue: true}); err != nil {
				b.Fatal(err)
			}
			count++
		}
		rows.Close()
		f.Close()
		if count != n+1 {
			b.Fatalf("read %d rows, want %d", count, n+1)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
