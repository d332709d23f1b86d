package sheet

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// result is what a reader produced for a file, for got/want comparison.
type result struct {
	Format   string
	Date1904 bool
	Records  []Record
	Code     string // code of the error that ended reading ("" = clean io.EOF)
}

// xlsxReaders are the two .xlsx readers: excelize for workbooks with a small shared-strings
// table, streamReader for the others. Every .xlsx test runs with both.
var xlsxReaders = []struct {
	name   string
	stream bool
}{{"excelize", false}, {"stream", true}}

// readAll opens the file and reads it to the end; a file-level error ends the result.
// Any error that is not a *credbatch.Error of KindInvalid fails the test.
func readAll(t testing.TB, path, name string, opts Options) result {
	t.Helper()
	r, err := Open(path, name, opts)
	if err != nil {
		return result{Code: fileCode(t, err)}
	}
	defer func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	res := result{Format: r.Format(), Date1904: r.Date1904()}
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			res.Code = fileCode(t, err)
			break
		}
		res.Records = append(res.Records, rec)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next after the end = %v, want io.EOF", err)
	}
	return res
}

// fileCode returns the code of a file-level error, failing the test for any other error.
func fileCode(t testing.TB, err error) string {
	t.Helper()
	var ce *credbatch.Error
	if !errors.As(err, &ce) || ce.Kind != credbatch.KindInvalid || ce.Message == "" {
		t.Fatalf("error %v (%T) is not a file-level *credbatch.Error", err, err)
	}
	return ce.Code
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	ctTypes   = `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`
	rootRels  = `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`
	workbook  = `<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`
	wbRels    = `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`
	sheetHead = `<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`
)

// minimalXLSX returns a one-sheet workbook whose sheet1.xml is sheetXML, written by hand so
// that tests can build files excelize would refuse to write.
func minimalXLSX(t testing.TB, sheetXML string) []byte {
	t.Helper()
	return zipParts(t, map[string]string{
		"[Content_Types].xml":        ctTypes,
		"_rels/.rels":                rootRels,
		"xl/workbook.xml":            workbook,
		"xl/_rels/workbook.xml.rels": wbRels,
		"xl/worksheets/sheet1.xml":   sheetXML,
	})
}

func zipParts(t testing.TB, parts map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/worksheets/sheet1.xml"} {
		if s, ok := parts[name]; ok {
			addPart(t, zw, name, s)
		}
	}
	for name, s := range parts {
		switch name {
		case "[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/worksheets/sheet1.xml":
		default:
			addPart(t, zw, name, s)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// addPart adds a part, deflated unless it is over 1 MiB (stored, to keep tests fast).
func addPart(t testing.TB, zw *zip.Writer, name, s string) {
	t.Helper()
	method := zip.Deflate
	if len(s) > 1<<20 {
		method = zip.Store
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
}

func sheetXML(rows string) string {
	return sheetHead + `<sheetData>` + rows + `</sheetData></worksheet>`
}
