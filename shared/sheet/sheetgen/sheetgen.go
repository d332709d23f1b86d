// Package sheetgen writes sample credential spreadsheets for tests and benchmarks.
package sheetgen

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"
)

// Header is the header row of the sample files.
var Header = []string{"First Name", "Last Name", "Email", "Issue Date", "Expiration Date/Duration", "Score", "Certificate Number", "Level"}

var (
	firstNames = []string{"Ana", "Björn", "Chloé", "Dmitri", "Émile", "Fatima", "Giulia", "Hiroshi", "Ingrid", "José", "Katarzyna", "Lars", "Mei", "Nnamdi", "Óscar", "Priya", "Zoë", "Søren", "Ülkü", "Łukasz"}
	lastNames  = []string{"García", "Müller", "O'Brien", "Nguyễn", "Kowalski", "Smith", "Dubois", "Rossi", "Yamamoto", "Åberg", "Çelik", "Papadopoulos", "Novák", "Hernández", "Johansson", "Singh", "Ivanova", "Schäfer", "Okafor", "Lefèvre"}
	durations  = []string{"2 years", "18 months", "90 days", "1 year 6 months", "P2Y6M", "3 years"}
	levels     = []string{"Bronze", "Silver", "Gold"}
	baseDate   = time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC)
)

// Row returns the i-th sample data row (0-based) as typed values: strings, a time.Time
// issue date, a duration string or an expiry date, and a float64 score.
func Row(i int) []any {
	first := firstNames[i%len(firstNames)]
	last := lastNames[(i/len(firstNames))%len(lastNames)]
	email := fmt.Sprintf("%s.%s.%d@example.com", asciiLower(first), asciiLower(last), i)
	issue := baseDate.AddDate(0, 0, i%700)
	var expiry any = durations[i%len(durations)]
	if i%4 == 3 {
		expiry = issue.AddDate(2, 0, 0)
	}
	score := float64(50 + i%51)
	return []any{first, last, email, issue, expiry, score, fmt.Sprintf("CERT-%08d", i+1), levels[i%len(levels)]}
}

// asciiLower keeps ASCII letters of s in lower case, for the e-mail local part.
func asciiLower(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		}
	}
	if len(b) == 0 {
		return "x"
	}
	return string(b)
}

// WriteSampleCSV writes a UTF-8 CSV (with BOM, as credbatch's templates are) with the
// header and rows data rows; dates are ISO 8601.
func WriteSampleCSV(path string, rows int) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", path, cerr)
		}
	}()
	bw := bufio.NewWriterSize(f, 256<<10)
	if _, err := bw.WriteString("\uFEFF"); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	w := csv.NewWriter(bw)
	if err := w.Write(Header); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	rec := make([]string, len(Header))
	for i := 0; i < rows; i++ {
		for j, v := range Row(i) {
			rec[j] = text(v)
		}
		if err := w.Write(rec); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case time.Time:
		return v.Format(time.DateOnly)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// BadDuration is the expiry of an invalid row (see InvalidRow): invalid_duration.
const BadDuration = "two fortnights"

// InvalidRow reports whether row i (0-based) is invalid when one row in every is (every
// <= 0: none).
func InvalidRow(i, every int) bool { return every > 0 && i%every == every-1 }

// WriteSampleXLSX writes an .xlsx with the header and rows data rows using excelize's
// StreamWriter, with real date cells and the sheet's dimension declared. StreamWriter
// writes inline strings; with sharedStrings the file is rewritten so that strings live in a
// shared-strings table, as Excel saves them.
func WriteSampleXLSX(path string, rows int, sharedStrings bool) error {
	return WriteSampleXLSXInvalid(path, rows, sharedStrings, 0)
}

// WriteSampleXLSXInvalid is WriteSampleXLSX with one row in every invalid: its expiry is
// BadDuration (every 20: 5 % of the rows).
func WriteSampleXLSXInvalid(path string, rows int, sharedStrings bool, every int) error {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "Sheet1"
	if err := f.SetSheetDimension(sheet, fmt.Sprintf("A1:H%d", rows+1)); err != nil {
		return fmt.Errorf("set dimension: %w", err)
	}
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	if err != nil {
		return fmt.Errorf("date style: %w", err)
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return fmt.Errorf("stream writer: %w", err)
	}
	header := make([]any, len(Header))
	for i, h := range Header {
		header[i] = h
	}
	if err := sw.SetRow("A1", header); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	for i := 0; i < rows; i++ {
		vals := Row(i)
		if InvalidRow(i, every) {
			vals[4] = BadDuration
		}
		for j, v := range vals {
			if t, ok := v.(time.Time); ok {
				vals[j] = excelize.Cell{StyleID: dateStyle, Value: t}
			}
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, vals); err != nil {
			return fmt.Errorf("write row %d: %w", i+2, err)
		}
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if !sharedStrings {
		if err := f.SaveAs(path); err != nil {
			return fmt.Errorf("save %s: %w", path, err)
		}
		return nil
	}
	tmp := path + ".inline.xlsx"
	if err := f.SaveAs(tmp); err != nil {
		return fmt.Errorf("save %s: %w", tmp, err)
	}
	defer os.Remove(tmp)
	if err := toSharedStrings(tmp, path); err != nil {
		return fmt.Errorf("shared strings %s: %w", path, err)
	}
	return nil
}

const (
	sheetPart   = "xl/worksheets/sheet1.xml"
	sstPart     = "xl/sharedStrings.xml"
	sstType     = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
	sstRelType  = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
	inlineOpen  = `t="inlineStr"><is><t`
	inlineClose = `</t></is>`
)

// toSharedStrings copies the workbook at src to dst, moving sheet1's inline strings into a
// shared-strings table. The sheet is rewritten one row at a time.
func toSharedStrings(src, dst string) (err error) {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return err
	}
	defer zr.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	zw := zip.NewWriter(out)
	index := map[string]int{}
	var table [][]byte
	count := 0
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			return err
		}
		w, err := zw.Create(zf.Name)
		if err != nil {
			rc.Close()
			return err
		}
		switch zf.Name {
		case sheetPart:
			err = rewriteSheet(rc, w, index, &table, &count)
		case "[Content_Types].xml":
			err = patch(rc, w, "</Types>", `<Override PartName="/`+sstPart+`" ContentType="`+sstType+`"/></Types>`)
		case "xl/_rels/workbook.xml.rels":
			err = patch(rc, w, "</Relationships>", `<Relationship Id="rIdSST" Type="`+sstRelType+`" Target="sharedStrings.xml"/></Relationships>`)
		default:
			_, err = io.Copy(w, rc)
		}
		rc.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", zf.Name, err)
		}
	}
	w, err := zw.Create(sstPart)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	fmt.Fprintf(bw, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`+"\n"+
		`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">`, count, len(table))
	for _, s := range table {
		bw.WriteString(`<si><t xml:space="preserve">`)
		bw.Write(s)
		bw.WriteString(`</t></si>`)
	}
	bw.WriteString(`</sst>`)
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// rewriteSheet replaces each `t="inlineStr"><is><t ...>TEXT</t></is>` by `t="s"><v>N</v>`,
// reading the sheet one </row> at a time. TEXT stays XML-escaped, as the table wants it.
func rewriteSheet(r io.Reader, w io.Writer, index map[string]int, table *[][]byte, count *int) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	sc.Split(splitAfter([]byte("</row>")))
	bw := bufio.NewWriterSize(w, 256<<10)
	var num []byte
	for sc.Scan() {
		seg := sc.Bytes()
		for {
			i := bytes.Index(seg, []byte(inlineOpen))
			if i < 0 {
				break
			}
			bw.Write(seg[:i])
			rest := seg[i+len(inlineOpen):]
			gt := bytes.IndexByte(rest, '>')
			end := bytes.Index(rest, []byte(inlineClose))
			if gt < 0 || end < gt {
				return errors.New("unexpected inline string markup")
			}
			s := rest[gt+1 : end]
			n, ok := index[string(s)]
			if !ok {
				n = len(*table)
				index[string(s)] = n
				*table = append(*table, bytes.Clone(s))
			}
			*count++
			bw.WriteString(`t="s"><v>`)
			num = strconv.AppendInt(num[:0], int64(n), 10)
			bw.Write(num)
			bw.WriteString(`</v>`)
			seg = rest[end+len(inlineClose):]
		}
		bw.Write(seg)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return bw.Flush()
}

// splitAfter is a bufio.SplitFunc that cuts after each occurrence of sep.
func splitAfter(sep []byte) bufio.SplitFunc {
	return func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.Index(data, sep); i >= 0 {
			return i + len(sep), data[:i+len(sep)], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	}
}

// patch copies a small XML part, replacing the closing tag old by repl.
func patch(r io.Reader, w io.Writer, old, repl string) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if !bytes.Contains(b, []byte(old)) {
		return fmt.Errorf("no %s", old)
	}
	_, err = w.Write(bytes.Replace(b, []byte(old), []byte(repl), 1))
	return err
}
