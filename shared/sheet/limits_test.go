package sheet

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/xuri/excelize/v2"

	"github.com/credbatch/credbatch/shared/credbatch"
)

func TestLimitsAndHostileFiles(t *testing.T) {
	small := Limits{MaxRows: 2, MaxColumns: 5, MaxCellBytes: 100}
	manyRowsCSV := "Name\na\nb\nc\nd\n"
	tests := []struct {
		name     string
		file     string
		data     func(t testing.TB) []byte
		limits   Limits
		wantCode string
		wantRecs int // records returned before the error
		// streamCode, when set, is streamReader's code where it is stricter than excelize,
		// which stops silently at an XML error or drops a cell it cannot resolve.
		streamCode string
		streamRecs int
	}{
		{name: "empty", file: "e.csv", data: text(""), wantCode: "empty_file"},
		{name: "only blank lines", file: "e.csv", data: text("\n \n,,\n\t\n"), wantCode: "empty_file"},
		{name: "only a BOM", file: "e.csv", data: text("\uFEFF"), wantCode: "empty_file"},
		{name: "empty xlsx sheet", file: "e.xlsx", data: xlsx(sheetXML(`<row r="3"><c r="A3" t="inlineStr"><is><t> </t></is></c></row>`)), wantCode: "empty_file"},
		{name: "file too large", file: "big.csv", data: text(manyRowsCSV), limits: Limits{MaxFileBytes: 5}, wantCode: "file_too_large"},
		{name: "csv rows at the limit", file: "r.csv", data: text("Name\na\n\nb\n"), limits: small, wantRecs: 3},
		{name: "csv too many rows", file: "r.csv", data: text(manyRowsCSV), limits: small, wantCode: "too_many_rows", wantRecs: 3},
		{name: "xlsx too many rows", file: "r.xlsx", data: xlsx(sheetXML(rowsXML(4))), limits: small, wantCode: "too_many_rows", wantRecs: 3},
		{name: "xlsx 1048576-row dimension", file: "d.xlsx", data: xlsx(sheetHead + `<dimension ref="A1:H1048576"/><sheetData>` + rowsXML(2) + `</sheetData></worksheet>`), wantCode: "too_many_rows"},
		{name: "xlsx lying small dimension", file: "d.xlsx", data: xlsx(sheetHead + `<dimension ref="A1"/><sheetData>` + rowsXML(4) + `</sheetData></worksheet>`), limits: small, wantCode: "too_many_rows", wantRecs: 3},
		{name: "xlsx row 1048576", file: "d.xlsx", data: xlsx(sheetXML(`<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="A1048576"><v>2</v></c></row>`)), wantRecs: 2},
		{name: "xlsx row beyond 1048576", file: "d.xlsx", data: xlsx(sheetXML(`<row r="1"><c r="A1"><v>1</v></c></row><row r="1048577"><c r="A1048577"><v>2</v></c></row>`)), wantCode: "corrupt_file", streamCode: "corrupt_file", streamRecs: 1},
		{name: "csv too many columns", file: "c.csv", data: text("a,b,c,d,e,f\n"), limits: small, wantCode: "too_many_columns"},
		{name: "csv trailing empty columns are fine", file: "c.csv", data: text("a,b,c,d,e,,,,,,,,,\n"), limits: small, wantRecs: 1},
		{name: "xlsx 16384 columns", file: "c.xlsx", data: xlsx(sheetXML(`<row r="1"><c r="A1"><v>1</v></c><c r="XFD1"><v>2</v></c></row>`)), wantCode: "too_many_columns"},
		{name: "csv cell too large", file: "c.csv", data: text("Name\n" + strings.Repeat("x", 101) + "\n"), limits: small, wantCode: "cell_too_large", wantRecs: 1},
		{name: "csv 10 MB cell", file: "c.csv", data: text("Name\n\"" + strings.Repeat("x", 10<<20) + "\"\n"), wantCode: "cell_too_large", wantRecs: 1},
		{name: "xlsx 10 MB cell", file: "c.xlsx", data: xlsx(sheetXML(`<row r="1"><c r="A1" t="inlineStr"><is><t>h</t></is></c></row><row r="2"><c r="B2" t="inlineStr"><is><t>` + noise(10<<20) + `</t></is></c></row>`)), wantCode: "cell_too_large", wantRecs: 1},
		{name: "binary csv", file: "b.csv", data: func(testing.TB) []byte { return []byte("a,b\x00\x01\x02") }, wantCode: "corrupt_file"},
		{name: "truncated zip", file: "t.xlsx", data: truncated, wantCode: "corrupt_file"},
		{name: "zip without workbook", file: "z.xlsx", data: func(t testing.TB) []byte { return zipParts(t, map[string]string{"hello.txt": "hi"}) }, wantCode: "unsupported_format"},
		{name: "numbers document", file: "n.numbers", data: func(t testing.TB) []byte {
			return zipParts(t, map[string]string{"Index/Document.iwa": "x", "Metadata/Properties.plist": "x"})
		}, wantCode: "unsupported_format"},
		{name: "zip bomb by declared size", file: "bomb.xlsx", data: declaredBomb, wantCode: "file_too_large"},
		{name: "huge styles part", file: "bomb.xlsx", data: func(t testing.TB) []byte { return declared(t, "xl/styles.xml", 65<<20, 100<<10) }, wantCode: "file_too_large"},
		{name: "zip bomb by ratio", file: "bomb.xlsx", data: ratioBomb, wantCode: "corrupt_file"},
		// archive/zip stops at the declared size and excelize ignores that error, so the
		// sheet is cut short: memory stays bounded by the declared size.
		{name: "zip bomb lying about its size", file: "bomb.xlsx", data: lyingBomb, wantCode: "empty_file", streamCode: "corrupt_file"},
		{name: "xml bomb", file: "x.xlsx", data: xlsx(billionLaughs), wantCode: "empty_file", streamCode: "corrupt_file"},
		{name: "xml bomb in shared strings", file: "x.xlsx", data: sstBomb, wantCode: "corrupt_file"},
		{name: "xlsx rows without r attribute", file: "n.xlsx", data: xlsx(sheetXML(`<row><c><v>1</v></c></row><row/><row><c t="e"><v>#N/A</v></c><c t="b"><v>1</v></c><c t="str"><f>A1</f><v>cached</v></c></row>`)), wantRecs: 2},
		// excelize drops a cell whose shared-string index is out of range.
		{name: "xlsx bad shared string index", file: "s.xlsx", data: xlsx(sheetXML(`<row r="1"><c r="A1" t="s"><v>7</v></c></row>`)), wantCode: "empty_file", streamCode: "corrupt_file"},
		{name: "xlsx bad shared string index with a table", file: "s.xlsx", data: withSST(`<si><t>Name</t></si>`, `<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>1</v></c></row>`), wantRecs: 1, streamCode: "corrupt_file", streamRecs: 1},
		{name: "xlsx truncated sheet", file: "t.xlsx", data: xlsx(sheetHead + `<sheetData>` + rowsXML(3)), wantRecs: 4, streamCode: "corrupt_file", streamRecs: 4},
		// Issue 14 item 15: two parts of one name, even spelt differently (OPC names ignore case).
		{name: "duplicate part, other case", file: "d.xlsx", data: func(t testing.TB) []byte {
			return zipParts(t, map[string]string{"[Content_Types].xml": ctTypes, "_rels/.rels": rootRels, "xl/workbook.xml": workbook,
				"xl/_rels/workbook.xml.rels": wbRels, "xl/worksheets/sheet1.xml": sheetXML(rowsXML(1)), "XL\\Worksheets\\Sheet1.xml": sheetXML(rowsXML(2))})
		}, wantCode: "corrupt_file"},
		// Item 14: a workbook of chart sheets only has no rows.
		{name: "only a chart sheet", file: "c.xlsx", data: func(t testing.TB) []byte {
			return zipParts(t, map[string]string{"[Content_Types].xml": ctTypes, "_rels/.rels": rootRels, "xl/workbook.xml": workbook,
				"xl/_rels/workbook.xml.rels": strings.Replace(wbRels, "relationships/worksheet", "relationships/chartsheet", 1),
				"xl/worksheets/sheet1.xml":   sheetXML(rowsXML(1))})
		}, wantCode: "empty_file"},
		{name: "veryHidden only", file: "h.xlsx", data: func(t testing.TB) []byte {
			return zipParts(t, map[string]string{"[Content_Types].xml": ctTypes, "_rels/.rels": rootRels,
				"xl/workbook.xml":            strings.Replace(workbook, `<sheet name="Sheet1"`, `<sheet state="veryHidden" name="Sheet1"`, 1),
				"xl/_rels/workbook.xml.rels": wbRels, "xl/worksheets/sheet1.xml": sheetXML(rowsXML(1))})
		}, wantCode: "corrupt_file"},
		// Item 16: a NUL deep in a CSV, after the first 8 KiB that the binary sniff reads.
		{name: "csv NUL after 8 KiB", file: "n.csv", data: text("Name\n" + strings.Repeat("Ana\n", 4<<10) + "B\x00o\n"), wantCode: "corrupt_file", wantRecs: 1 + 4<<10},
		// excelize merges the second row into the first.
		{name: "xlsx rows out of order", file: "o.xlsx", data: xlsx(sheetXML(`<row r="2"><c r="A2"><v>1</v></c></row><row r="1"><c r="A1"><v>2</v></c></row>`)), wantRecs: 1, streamCode: "corrupt_file", streamRecs: 1},
	}
	for _, tt := range tests {
		for _, rd := range xlsxReaders {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				path := writeFile(t, tt.file, tt.data(t))
				got := readAll(t, path, tt.file, Options{Limits: tt.limits, TmpDir: t.TempDir(), forceStream: rd.stream})
				wantCode, wantRecs := tt.wantCode, tt.wantRecs
				if rd.stream && tt.streamCode != "" {
					wantCode = tt.streamCode
				}
				if rd.stream && tt.streamCode != "" {
					wantRecs = tt.streamRecs
				}
				if got.Code != wantCode || len(got.Records) != wantRecs {
					t.Errorf("got code %q after %d records %+v, want %q after %d", got.Code, len(got.Records), got.Records, wantCode, wantRecs)
				}
			})
		}
	}
}

// TestRawCellTypes checks numbering and raw values of cell types with both readers.
func TestRawCellTypes(t *testing.T) {
	sheet := sheetXML(`<row><c><v>1</v></c></row><row/>` +
		`<row><c t="e"><v>#N/A</v></c><c t="b"><v>1</v></c><c t="str"><f>A1</f><v>cached</v></c><c t="inlineStr"><is><r><t>rich </t></r><r><rPr><b/></rPr><t>text</t></r></is></c></row>` +
		`<row r="5"><c r="B5" t="d"><v>2024-05-08T00:00:00Z</v></c><c r="D5" t="inlineStr"><is><t>a_x000D_b_x005F_x0041_</t><rPh><t>ふりがな</t></rPh></is></c><c r="E5" t="s"><v> 1 </v></c></row>` +
		`<row r="6"><c r="A6" t="s"><v>0</v></c><c r="C6" t="s"/><c r="D6" t="inlineStr"><v>fallback</v></c><c r="E6" t="n"><v>1.0000000000000002</v></c><c r="F6"><v><![CDATA[4<5]]></v></c></row>`)
	data := zipParts(t, map[string]string{
		"[Content_Types].xml":        ctTypes,
		"_rels/.rels":                rootRels,
		"xl/workbook.xml":            workbook,
		"xl/_rels/workbook.xml.rels": strings.Replace(wbRels, "</Relationships>", `<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="/xl/sharedStrings.xml"/></Relationships>`, 1),
		"xl/sharedStrings.xml": `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">` +
			`<si><t>  plain &amp; simple </t></si><si><r><t>Zo</t></r><r><rPr><i/></rPr><t>ë</t></r><rPh sb="0" eb="1"><t>ゾエ</t></rPh><phoneticPr fontId="1"/></si></sst>`,
		"xl/worksheets/sheet1.xml": sheet,
	})
	path := writeFile(t, "n.xlsx", data)
	want := []Record{rec(1, "1"), rec(3, "#N/A", "1", "cached", "rich text"),
		rec(5, "", "2024-05-08T00:00:00Z", "", "a\rb_x0041_", "Zoë"),
		rec(6, "plain & simple", "", "", "fallback", "1.0000000000000002", "4<5")}
	for _, rd := range xlsxReaders {
		t.Run(rd.name, func(t *testing.T) {
			got := readAll(t, path, "n.xlsx", Options{forceStream: rd.stream})
			if !reflect.DeepEqual(got.Records, want) || got.Code != "" {
				t.Errorf("got  %+v (%s)\nwant %+v", got.Records, got.Code, want)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	path := writeFile(t, "c.csv", []byte("Name,Bio\nAna,"+strings.Repeat("x", 200)+"\n"))
	r, err := Open(path, "c.csv", Options{Limits: Limits{MaxCellBytes: 100}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, err = r.Next()
	if err == nil || !strings.Contains(err.Error(), "Cell B2") {
		t.Errorf("error = %v, want it to name cell B2", err)
	}
}

func TestColumnName(t *testing.T) {
	tests := []struct {
		col  int
		want string
	}{{1, "A"}, {26, "Z"}, {27, "AA"}, {52, "AZ"}, {703, "AAA"}, {16384, "XFD"}, {0, "?"}}
	for _, tt := range tests {
		if got := ColumnName(tt.col); got != tt.want {
			t.Errorf("ColumnName(%d) = %q, want %q", tt.col, got, tt.want)
		}
	}
}

func TestSniffDelimiter(t *testing.T) {
	tests := []struct {
		in   string
		want rune
	}{
		{"a,b,c\n1,2,3\n", ','},
		{"a;b;c\n1;2,5;3\n", ';'},
		{"a\tb\n1\t2\n", '\t'},
		{"\"a;b\",c\n\"1;2\",3\n", ','},
		{"single\nvalue\n", ','},
		{"Name;Note\nAna;\"x,y,z\"\n", ';'},
		{"Name|Email\nAna|a@example.com\n", '|'},
		{"Name,Note\nAna,a|b\nBo,c\n", ','},
		{"Name|Note\nAna|\"a,b\"\nBo|c,d,e\n", '|'},
	}
	for _, tt := range tests {
		if got := sniffDelimiter([]byte(tt.in)); got != tt.want {
			t.Errorf("sniffDelimiter(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestMemoryFlat reads files 10x apart in size and checks the peak heap does not grow with them.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	peak := func(path, name string, stream bool) uint64 {
		t.Helper()
		r, err := Open(path, name, Options{Limits: Limits{MaxRows: 1 << 30, UnzipXMLSizeLimit: 1 << 20}, TmpDir: t.TempDir(), forceStream: stream})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		runtime.GC()
		var ms runtime.MemStats
		var max uint64
		for i := 0; ; i++ {
			if _, err := r.Next(); err != nil {
				break
			}
			if i%5000 == 0 {
				runtime.ReadMemStats(&ms)
				max = maxU(max, ms.HeapInuse)
			}
		}
		return max
	}
	for _, tc := range []struct {
		format string
		stream bool
	}{{"csv", false}, {"xlsx", false}, {"sst.xlsx", false}, {"xlsx", true}, {"sst.xlsx", true}} {
		format := tc.format
		t.Run(fmt.Sprintf("%s/stream=%v", format, tc.stream), func(t *testing.T) {
			var peaks []uint64
			for _, n := range []int{2_000, 20_000} {
				p := sample(t, format, n)
				peaks = append(peaks, peak(p, "s."+strings.TrimPrefix(format, "sst."), tc.stream))
			}
			t.Logf("peak heap in use: %d rows %d KiB, %d rows %d KiB", 2_000, peaks[0]>>10, 20_000, peaks[1]>>10)
			if peaks[1] > 2*peaks[0]+8<<20 {
				t.Errorf("peak heap grew from %d to %d bytes for 10x the rows", peaks[0], peaks[1])
			}
		})
	}
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// noise returns n bytes of letters that do not compress well, like real text.
func noise(n int) string {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = 'a' + byte(x%26)
	}
	return string(b)
}

func text(s string) func(testing.TB) []byte { return func(testing.TB) []byte { return []byte(s) } }

func xlsx(sheet string) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return minimalXLSX(t, sheet) }
}

func rowsXML(n int) string {
	var b strings.Builder
	b.WriteString(`<row r="1"><c r="A1" t="inlineStr"><is><t>Name</t></is></c></row>`)
	for i := 2; i <= n+1; i++ {
		fmt.Fprintf(&b, `<row r="%d"><c r="A%d"><v>%d</v></c></row>`, i, i, i)
	}
	return b.String()
}

func truncated(t testing.TB) []byte {
	b, err := os.ReadFile("testdata/unicode_sst.xlsx")
	if err != nil {
		t.Fatal(err)
	}
	return b[:len(b)/2]
}

// declaredBomb declares a 2 GiB sheet (the data is not really there).
func declaredBomb(t testing.TB) []byte { return declared(t, "xl/worksheets/sheet1.xml", 2<<30, 4) }

// declared returns a workbook whose part claims size bytes (the data is not really there).
func declared(t testing.TB, part string, size uint64, compressed int) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, s := range map[string]string{"[Content_Types].xml": ctTypes, "_rels/.rels": rootRels, "xl/workbook.xml": workbook, "xl/_rels/workbook.xml.rels": wbRels} {
		addPart(t, zw, name, s)
	}
	w, err := zw.CreateRaw(&zip.FileHeader{Name: part, Method: zip.Deflate, UncompressedSize64: size, CompressedSize64: uint64(compressed)})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(append([]byte{3}, make([]byte, compressed-1)...))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ratioBomb is an honest 8 MiB sheet of blanks that compresses about 1000:1.
func ratioBomb(t testing.TB) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, s := range map[string]string{"[Content_Types].xml": ctTypes, "_rels/.rels": rootRels, "xl/workbook.xml": workbook, "xl/_rels/workbook.xml.rels": wbRels} {
		addPart(t, zw, name, s)
	}
	w, err := zw.Create("xl/worksheets/sheet1.xml")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, sheetHead+`<sheetData>`+strings.Repeat(" ", 8<<20)+`</sheetData></worksheet>`)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lyingBomb declares a 1 KiB sheet whose compressed data inflates to 64 MiB.
func lyingBomb(t testing.TB) []byte {
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestSpeed)
	data := []byte(sheetHead + `<sheetData>` + strings.Repeat(" ", 32<<20))
	fw.Write(data)
	fw.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, s := range map[string]string{"[Content_Types].xml": ctTypes, "_rels/.rels": rootRels, "xl/workbook.xml": workbook, "xl/_rels/workbook.xml.rels": wbRels} {
		addPart(t, zw, name, s)
	}
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "xl/worksheets/sheet1.xml", Method: zip.Deflate,
		UncompressedSize64: 1024, CompressedSize64: uint64(comp.Len()), CRC32: crc32.ChecksumIEEE(data[:1024])})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const billionLaughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"><!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;"><!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;"><!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;"><!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;"><!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>`

// withSST returns a one-sheet workbook with a shared-strings table of the given <si> items.
func withSST(items, rows string) func(testing.TB) []byte {
	return func(t testing.TB) []byte {
		return zipParts(t, map[string]string{
			"[Content_Types].xml":        ctTypes,
			"_rels/.rels":                rootRels,
			"xl/workbook.xml":            workbook,
			"xl/_rels/workbook.xml.rels": strings.Replace(wbRels, "</Relationships>", `<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`, 1),
			"xl/sharedStrings.xml":       `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">` + items + `</sst>`,
			"xl/worksheets/sheet1.xml":   sheetXML(rows),
		})
	}
}

func sstBomb(t testing.TB) []byte {
	sst := strings.Replace(billionLaughs, `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>`,
		`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol9;</t></si></sst>`, 1)
	return zipParts(t, map[string]string{
		"[Content_Types].xml":        ctTypes,
		"_rels/.rels":                rootRels,
		"xl/workbook.xml":            workbook,
		"xl/_rels/workbook.xml.rels": strings.Replace(wbRels, "</Relationships>", `<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`, 1),
		"xl/sharedStrings.xml":       sst,
		"xl/worksheets/sheet1.xml":   sheetXML(`<row r="1"><c r="A1" t="s"><v>0</v></c></row>`),
	})
}

var _ = excelize.TotalRows

// TestTempFilesRemoved checks that the stream reader's temporary files (the shared-strings
// table) are used and gone after Close and after a failed open, and that excelize, which
// only gets workbooks whose parts fit in memory, leaves none either.
func TestTempFilesRemoved(t *testing.T) {
	lim := Limits{UnzipXMLSizeLimit: 1 << 10, UnzipSizeLimit: 64 << 20}
	tests := []struct {
		name       string
		path       string
		limits     Limits
		wantStream bool
		wantCode   string
	}{
		{"excelize read to the end", sample(t, "sst.xlsx", 200), Limits{}, false, ""},
		{"excelize failed open", sample(t, "sst.xlsx", 200), Limits{MaxRows: 10}, false, "too_many_rows"},
		{"stream read to the end", sample(t, "sst.xlsx", 200), lim, true, ""},
		{"stream failed open", sample(t, "sst.xlsx", 200), Limits{MaxRows: 10, UnzipXMLSizeLimit: 1 << 10}, true, "too_many_rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			r, err := Open(tt.path, "s.xlsx", Options{Limits: tt.limits, TmpDir: tmp})
			code := ""
			if err != nil {
				code = fileCode(t, err)
			} else {
				if _, isStream := r.(*streamReader); isStream != tt.wantStream {
					t.Errorf("reader %T", r)
				}
				n := 0
				for ; ; n++ {
					if _, err := r.Next(); err != nil {
						break
					}
				}
				if n != 201 {
					t.Errorf("read %d records, want 201", n)
				}
				if tt.wantStream && !hasFiles(tmp) {
					t.Errorf("no temporary files while reading; the on-disk table was not exercised")
				}
				if err := r.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
			if code != tt.wantCode {
				t.Errorf("code = %q, want %q", code, tt.wantCode)
			}
			if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
				t.Errorf("%d entries left in TmpDir, want none", len(ents))
			}
		})
	}
}

// hasFiles reports whether dir holds a file at any depth.
func hasFiles(dir string) bool {
	found := false
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			found = true
		}
		return nil
	})
	return found
}

// TestInvalidUTF8AfterBOM: a BOM says UTF-8, so a stray byte is flagged, never decoded
// another way.
func TestInvalidUTF8AfterBOM(t *testing.T) {
	path := writeFile(t, "b.csv", []byte("\xEF\xBB\xBFName\nJos\xE9\n"))
	got := readAll(t, path, "b.csv", Options{})
	want := []Record{rec(1, "Name"), {Number: 2, Cells: []string{"Jos\uFFFD"}, Flaws: []Flaw{{Column: 1, Encoding: "UTF-8",
		Detail: `a byte that is not UTF-8: 0xE9 after "Jos" ('é' in Windows-1252)`}}}}
	if !reflect.DeepEqual(got.Records, want) || got.Code != "" {
		t.Errorf("got %+v (%s), want %+v", got.Records, got.Code, want)
	}
}

func TestCSVRowNumbers(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Record
	}{
		{"crlf with quoted crlf", "a,b\r\n\"x\r\ny\",z\r\n\r\nq,r\r\n", []Record{rec(1, "a", "b"), rec(2, "x\ny", "z"), rec(4, "q", "r")}},
		{"leading blank lines", "\n\n  \nName\nAna\n", []Record{rec(4, "Name"), rec(5, "Ana")}},
		{"trailing blank lines", "Name\nAna\n\n\n,\n", []Record{rec(1, "Name"), rec(2, "Ana")}},
		{"no final newline", "Name\nAna", []Record{rec(1, "Name"), rec(2, "Ana")}},
		{"two multi-line cells", "h\n\"a\nb\"\n\"c\n\nd\"\ne\n", []Record{rec(1, "h"), rec(2, "a\nb"), rec(3, "c\n\nd"), rec(4, "e")}},
		{"excel sep hint", "sep=;\r\nName;Note\r\nAna;a,b\r\n", []Record{rec(1, "Name", "Note"), rec(2, "Ana", "a,b")}},
		{"sep= as a value", "sep=x\nb\n", []Record{rec(1, "sep=x"), rec(2, "b")}},
		{"lone CR", "a,b\r\"x\ry\",z\r\rq,r\r", []Record{rec(1, "a", "b"), rec(2, "x\ny", "z"), rec(4, "q", "r")}},
		{"mixed line ends", "a\r\nb\rc\nd", []Record{rec(1, "a"), rec(2, "b"), rec(3, "c"), rec(4, "d")}},
		{"sep hint then lone CR", "sep=|\rName|Note\rAna|a,b\r", []Record{rec(1, "Name", "Note"), rec(2, "Ana", "a,b")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readAll(t, writeFile(t, "n.csv", []byte(tt.in)), "n.csv", Options{})
			if fmt.Sprint(got.Records) != fmt.Sprint(tt.want) || got.Code != "" {
				t.Errorf("got %q (%s), want %q", fmt.Sprint(got.Records), got.Code, fmt.Sprint(tt.want))
			}
		})
	}
}

// TestHugeTextBoundedMemory reads a 24 MiB cell, in the sheet and in the shared-strings
// table: the stream reader refuses it without holding it in memory.
func TestHugeTextBoundedMemory(t *testing.T) {
	big := noise(24 << 20)
	tests := []struct {
		name string
		data []byte
	}{
		{"inline string", minimalXLSX(t, sheetXML(`<row r="1"><c r="A1" t="inlineStr"><is><t>`+big+`</t></is></c></row>`))},
		{"number", minimalXLSX(t, sheetXML(`<row r="1"><c r="A1"><v>`+big+`</v></c></row>`))},
		{"shared string", withSST(`<si><t>`+big+`</t></si>`, `<row r="1"><c r="A1" t="s"><v>0</v></c></row>`)(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "big.xlsx", tt.data)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got := readAll(t, path, "big.xlsx", Options{TmpDir: t.TempDir()})
			runtime.ReadMemStats(&after)
			if got.Code != "cell_too_large" || len(got.Records) != 0 {
				t.Errorf("got code %q after %d records, want cell_too_large after 0", got.Code, len(got.Records))
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Errorf("allocated %d MiB reading a 24 MiB cell; the text was buffered", alloc>>20)
			}
		})
	}
}

// TestNewlines reads line breaks split across reads: CRLF stays one break, a lone CR is one.
func TestNewlines(t *testing.T) {
	in := "a\r\nb\rc\r\r\nd\r"
	want := "a\nb\nc\n\nd\n"
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"whole": func(r io.Reader) io.Reader { return r }, "one byte": iotest.OneByteReader, "half": iotest.HalfReader} {
		t.Run(name, func(t *testing.T) {
			got, err := io.ReadAll(&newlines{r: wrap(strings.NewReader(in))})
			if err != nil || string(got) != want {
				t.Errorf("got %q, %v; want %q", got, err, want)
			}
		})
	}
}

// TestEncodingEvidence checks how the bytes of a file without a BOM decide its encoding.
func TestEncodingEvidence(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want textMode
	}{
		{"ascii", "Name\nAna\n", textUTF8},
		{"utf-8", "Name\nJosé\n", textUTF8},
		{"windows-1252", "Name\nJos\xE9\nFran\xE7ois\n", text1252},
		{"utf-8 with one stray byte", "Name\nJosé\nZoë\nRen\xE9e\n", textUTF8Flawed},
		{"one of each", "Name\nJosé\nRen\xE9e\n", textUTF8Flawed},
		{"windows-1252 with one utf-8 name", "Name\nFran\xE7ois\nJ\xFCrgen\nJosé\n", text1252Flawed},
		{"a rune split across the scan's chunks", strings.Repeat("x", 256<<10-1) + "é\n", textUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := scanText(strings.NewReader(tt.in))
			if err != nil || st.mode() != tt.want {
				t.Errorf("mode = %v (%+v, %v), want %v", st.mode(), st, err, tt.want)
			}
		})
	}
}

// TestZipOfEvidenceNamedWrong: a zip that is not a workbook, named .zip, is most likely an
// evidence zip named after nothing: the error says how to name it (roster.xlsx.zip); a zip
// that is not a workbook under a spreadsheet's name keeps the plain message.
func TestZipOfEvidenceNamedWrong(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("photos/ada.png")
	w.Write([]byte("\x89PNG\r\n\x1a\n"))
	zw.Close()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, want string }{
		{"roster.zip", "name it after the spreadsheet with .zip added (roster.xlsx.zip for roster.xlsx)"},
		{"roster.xlsx", "The file is a zip archive but not an Excel workbook."},
	} {
		_, err := Open(path, tt.name, Options{TmpDir: t.TempDir()})
		var e *credbatch.Error
		if !errors.As(err, &e) || e.Code != credbatch.CodeUnsupportedFormat || !strings.Contains(e.Message, tt.want) {
			t.Errorf("%s: %v; want %s saying %q", tt.name, err, credbatch.CodeUnsupportedFormat, tt.want)
		}
	}
}
