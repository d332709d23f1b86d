package sheet

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// streamReader reads one worksheet straight out of the zip with encoding/xml, looking shared
// strings up in a compact on-disk table. Open uses it instead of excelize when the workbook's
// shared-strings table is large (see useStream): it gives the same records as excelize's
// Rows with RawCellValue, in bounded memory.
type streamReader struct {
	zr       *zip.ReadCloser
	part     io.ReadCloser
	dec      *xmlTokens
	sst      *sharedStrings
	tmpDir   string
	date1904 bool

	rowNum int
	rowGate

	width int // cells in the previous row, to size the next one
	vbuf  []byte
	item  textItem

	dataDepth int // depth of <sheetData>
}

var _ Reader = (*streamReader)(nil)

// maxSheetRows is Excel's row limit.
const maxSheetRows = 1 << 20

// maxSheetColumns is Excel's column limit (XFD).
const maxSheetColumns = 16384

const (
	relWorksheet     = "/worksheet"
	relSharedStrings = "/sharedStrings"
)

// workbookXML is the part of xl/workbook.xml the reader needs.
type workbookXML struct {
	Props struct {
		Date1904 string `xml:"date1904,attr"`
	} `xml:"workbookPr"`
	Sheets []struct {
		Name  string     `xml:"name,attr"`
		State string     `xml:"state,attr"`
		Attrs []xml.Attr `xml:",any,attr"`
	} `xml:"sheets>sheet"`
}

type relsXML struct {
	Rels []struct {
		ID     string `xml:"Id,attr"`
		Type   string `xml:"Type,attr"`
		Target string `xml:"Target,attr"`
	} `xml:"Relationship"`
}

// openStream opens the workbook at path for streamReader.
func openStream(path string, opts Options) (_ Reader, err error) {
	r := &streamReader{rowGate: rowGate{lim: opts.Limits}}
	defer func() {
		if p := recover(); p != nil {
			slog.Warn("the xlsx reader panicked on an upload", "panic", fmt.Sprint(p))
			err = errCorrupt("The workbook is damaged and could not be read. Open it in Excel, " + lowerFirst(saveAs))
		}
		if err != nil {
			_ = r.Close()
		}
	}()
	if r.zr, err = zip.OpenReader(path); err != nil {
		return nil, errCorrupt("The file is a damaged or incomplete zip archive (the upload may have been cut short).")
	}
	parts := partMap(&r.zr.Reader)
	bk, err := readBook(parts)
	if err != nil {
		return nil, err
	}
	r.date1904 = bk.date1904
	i, err := pickSheet(bk.sheets, opts.Sheet)
	if err != nil {
		return nil, err
	}
	list := bk.sheets
	zf := parts[list[i].part]
	if zf == nil {
		return nil, errCorrupt(fmt.Sprintf("The workbook has no data for the sheet %q. Open it in Excel, %s", list[i].name, lowerFirst(saveAs)))
	}

	if r.tmpDir, err = os.MkdirTemp(opts.TmpDir, "sheet-"); err != nil {
		return nil, fmt.Errorf("open xlsx: temporary directory: %w", err)
	}
	if sz := parts[bk.sstPart]; sz != nil {
		rc, err := sz.Open()
		if err != nil {
			return nil, errCorrupt(fmt.Sprintf("The workbook's shared-strings table could not be read (%v). Open it in Excel, %s", err, lowerFirst(saveAs)))
		}
		r.sst, err = readSharedStrings(bufio.NewReaderSize(newRunGuard(rc, r.lim), 64<<10), r.tmpDir)
		rc.Close()
		var long errTextRun
		if errors.As(err, &long) {
			return nil, long.fileError("of the shared-strings table", r.lim)
		}
		if err != nil {
			return nil, err
		}
	}

	if r.part, err = zf.Open(); err != nil {
		return nil, errCorrupt(fmt.Sprintf("The sheet %q could not be read (%v). Open the workbook in Excel, %s", list[i].name, err, lowerFirst(saveAs)))
	}
	r.dec = newXMLTokens(bufio.NewReaderSize(newRunGuard(r.part, r.lim), 64<<10))
	if err := r.toSheetData(); err != nil {
		return nil, err
	}
	return r, nil
}

// partMap indexes a zip's parts by name as relTarget spells them (checkZip has refused two
// parts with one name).
func partMap(zr *zip.Reader) map[string]*zip.File {
	parts := make(map[string]*zip.File, len(zr.File))
	for _, zf := range zr.File {
		parts[partName(zf.Name)] = zf
	}
	return parts
}

// partName is a zip entry's name as parts are compared: OPC part names are case-insensitive,
// and some writers use backslashes or a leading slash.
func partName(name string) string {
	return strings.ToLower(strings.TrimPrefix(strings.ReplaceAll(name, "\\", "/"), "/"))
}

// book is what both .xlsx readers take from xl/workbook.xml and its relationships, so that
// they read the same sheet.
type book struct {
	date1904 bool
	sheets   []sheetEntry
	sstPart  string
}

// readBook reads the workbook's sheet list, date system and shared-strings part.
func readBook(parts map[string]*zip.File) (book, error) {
	var wb workbookXML
	if err := unmarshalPart(parts, "xl/workbook.xml", &wb); err != nil {
		return book{}, err
	}
	var rels relsXML
	if err := unmarshalPart(parts, "xl/_rels/workbook.xml.rels", &rels); err != nil {
		return book{}, err
	}
	bk := book{date1904: wb.Props.Date1904 == "1" || strings.EqualFold(wb.Props.Date1904, "true"),
		sstPart: "xl/sharedstrings.xml"}
	type rel struct{ kind, target string }
	byID := map[string]rel{}
	for _, r := range rels.Rels {
		target := relTarget(r.Target)
		kind := r.Type[strings.LastIndexByte(r.Type, '/')+1:]
		byID[r.ID] = rel{kind: kind, target: target}
		if "/"+kind == relSharedStrings {
			bk.sstPart = target
		}
	}
	bk.sheets = make([]sheetEntry, len(wb.Sheets))
	for i, s := range wb.Sheets {
		var rid string
		for _, a := range s.Attrs {
			if a.Name.Local == "id" && a.Name.Space != "" {
				rid = a.Value
			}
		}
		r := byID[rid]
		bk.sheets[i] = sheetEntry{name: s.Name, part: r.target,
			// Only these two states hide a sheet; "visible", a missing state and anything
			// else (such as "show", which some writers use) leave it visible.
			visible: !strings.EqualFold(s.State, "hidden") && !strings.EqualFold(s.State, "veryHidden"),
			// A sheet whose relationship is missing or of an unknown type is tried as a
			// worksheet (reading it then says what is wrong).
			worksheet: r.kind != "chartsheet" && r.kind != "dialogsheet" && !strings.EqualFold(r.kind, "xlMacrosheet") && !strings.EqualFold(r.kind, "xlIntlMacrosheet"),
			kind:      r.kind,
		}
	}
	return bk, nil
}

// relTarget resolves a relationship target of xl/_rels/workbook.xml.rels to a part name
// (lower case, as the parts map is keyed).
func relTarget(t string) string {
	t = strings.ReplaceAll(t, "\\", "/")
	if strings.HasPrefix(t, "/") {
		return strings.ToLower(path.Clean(t[1:]))
	}
	return strings.ToLower(path.Join("xl", t))
}

// unmarshalPart decodes a small part (checkZip bounds their total size).
func unmarshalPart(parts map[string]*zip.File, name string, v any) error {
	zf := parts[name]
	if zf == nil {
		return errCorrupt(fmt.Sprintf("The workbook has no %s. Open it in Excel, %s", name, lowerFirst(saveAs)))
	}
	rc, err := zf.Open()
	if err == nil {
		err = xml.NewDecoder(rc).Decode(v)
		rc.Close()
	}
	if err != nil {
		return errCorrupt(fmt.Sprintf("The workbook's %s could not be read (%v). Open it in Excel, %s", name, err, lowerFirst(saveAs)))
	}
	return nil
}

// toSheetData reads up to the start of <sheetData>, refusing an oversized <dimension> early
// (it is untrusted: Next counts rows anyway).
func (r *streamReader) toSheetData() error {
	for {
		tok, err := r.dec.next()
		if errors.Is(err, io.EOF) {
			return errEmpty()
		}
		if err != nil {
			return r.xmlError(err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "dimension":
			if rows := dimensionRows(attr(se, "ref")); rows-1 > r.lim.MaxRows {
				return errTooManyRowsDim(attr(se, "ref"), rows, r.lim.MaxRows)
			}
		case "sheetData":
			r.dataDepth = len(r.dec.stack)
			return nil
		}
	}
}

// attr returns an attribute's value; the last one wins when it is repeated, as with
// xml.Unmarshal.
func attr(se xml.StartElement, local string) string {
	for i := len(se.Attr) - 1; i >= 0; i-- {
		if se.Attr[i].Name.Local == local {
			return se.Attr[i].Value
		}
	}
	return ""
}

func (r *streamReader) xmlError(err error) error {
	r.done = true
	var long errTextRun
	if errors.As(err, &long) {
		return long.fileError(fmt.Sprintf("near row %d", max(r.rowNum, 1)), r.lim)
	}
	if r.rowNum > 0 {
		return errCorrupt(fmt.Sprintf("The workbook is damaged near row %d (%v). Open it in Excel, %s", r.rowNum, err, lowerFirst(saveAs)))
	}
	return errCorrupt(fmt.Sprintf("The sheet could not be read (%v). Open the workbook in Excel, %s", err, lowerFirst(saveAs)))
}

func (r *streamReader) Format() string { return FormatXLSX }
func (r *streamReader) Date1904() bool { return r.date1904 }

// Close closes the zip and removes the temporary files.
func (r *streamReader) Close() error {
	var errs []error
	if r.part != nil {
		// A read-only decompressor: closing it reports the read error already returned.
		_ = r.part.Close()
		r.part = nil
	}
	if r.zr != nil {
		errs = append(errs, r.zr.Close())
		r.zr = nil
	}
	if r.sst != nil {
		errs = append(errs, r.sst.Close())
		r.sst = nil
	}
	if r.tmpDir != "" {
		errs = append(errs, os.RemoveAll(r.tmpDir))
		r.tmpDir = ""
	}
	return errors.Join(errs...)
}

// cellState is what the reader knows of the cell being read.
type cellState struct {
	depth  int    // depth of the <c> element; 0 = not in a cell
	col    int    // 1-based
	typ    string // the t attribute
	vDepth int    // depth of its <v> while reading it
	hasIS  bool   // it has an inline string <is>
}

// Next returns the next non-blank row.
func (r *streamReader) Next() (rec Record, err error) {
	if r.done {
		return Record{}, io.EOF
	}
	defer func() {
		if p := recover(); p != nil {
			slog.Warn("the xlsx reader panicked on an upload", "panic", fmt.Sprint(p), "row", r.rowNum)
			r.done = true
			rec, err = Record{}, errCorrupt(fmt.Sprintf("The workbook is damaged near row %d and could not be read. Open it in Excel, %s", r.rowNum, lowerFirst(saveAs)))
		}
	}()
	for {
		cells, more, err := r.row()
		if err != nil {
			r.done = true
			return Record{}, err
		}
		if !more {
			return Record{}, r.end()
		}
		if rec, ok, err := r.accept(cells, r.rowNum); ok || err != nil {
			return rec, err
		}
	}
}

// row reads the next <row> element's cells (more is false after </sheetData>). Cells are
// placed by their r attribute (or follow the previous one), with empty strings in the gaps.
// Only the elements the schema puts there count: <row> in <sheetData>, <c> in <row>, <v> and
// <is> in <c>.
func (r *streamReader) row() (cells []string, more bool, err error) {
	var (
		rowDepth int // depth of the <row> being read; 0 = none
		c        cellState
	)
	for {
		tok, err := r.dec.next()
		if errors.Is(err, io.EOF) {
			return nil, false, r.xmlError(io.ErrUnexpectedEOF)
		}
		if err != nil {
			return nil, false, r.xmlError(err)
		}
		d := len(r.dec.stack)
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Local == "row" && d == r.dataDepth+1:
				n := r.rowNum + 1
				if v := attr(t, "r"); v != "" {
					if n, err = strconv.Atoi(v); err != nil || n < 1 {
						return nil, false, r.xmlError(fmt.Errorf("row number %q", v))
					}
					if n <= r.rowNum {
						return nil, false, r.xmlError(fmt.Errorf("row %d follows row %d", n, r.rowNum))
					}
				}
				if n > maxSheetRows {
					return nil, false, errBeyondMaxRows()
				}
				r.rowNum, rowDepth, cells = n, d, make([]string, 0, r.width)
			case t.Name.Local == "c" && rowDepth > 0 && d == rowDepth+1:
				col := len(cells) + 1
				if v := attr(t, "r"); v != "" {
					if col = refColumn(v); col < 1 || col > maxSheetColumns {
						return nil, false, r.xmlError(fmt.Errorf("cell reference %q", v))
					}
				}
				c = cellState{depth: d, col: col, typ: attr(t, "t")}
				r.vbuf = r.vbuf[:0]
			case c.depth > 0 && d == c.depth+1 && t.Name.Local == "v":
				c.vDepth = d
			case c.depth > 0 && d == c.depth+1 && t.Name.Local == "is":
				c.hasIS = true
				r.item.begin(r.dec)
			default:
				r.item.start(r.dec, t)
			}
		case xml.EndElement:
			r.item.end(r.dec)
			if c.vDepth > d {
				c.vDepth = 0
			}
			switch {
			case c.depth > d:
				v, err := r.value(&c)
				if err != nil {
					return nil, false, err
				}
				for len(cells) < c.col {
					cells = append(cells, "")
				}
				cells[c.col-1] = v
				c = cellState{}
			case rowDepth > d:
				r.width = len(cells)
				return cells, true, nil
			case r.dataDepth > d:
				return nil, false, nil
			}
		case xml.CharData:
			if c.vDepth > 0 && c.vDepth == d {
				r.vbuf = append(r.vbuf, t...)
			} else {
				r.item.text(r.dec, t)
			}
		}
	}
}

// value is the raw value of the cell just read, as excelize's RawCellValue gives it.
func (r *streamReader) value(c *cellState) (string, error) {
	switch c.typ {
	case "s":
		if len(r.vbuf) == 0 {
			return "", nil
		}
		i, err := strconv.Atoi(strings.TrimSpace(string(r.vbuf)))
		if err != nil || r.sst == nil {
			return "", r.xmlError(fmt.Errorf("cell %s%d refers to shared string %q, which does not exist", ColumnName(c.col), r.rowNum, r.vbuf))
		}
		s, ok, err := r.sst.Get(i)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", r.xmlError(fmt.Errorf("cell %s%d refers to shared string %d of %d", ColumnName(c.col), r.rowNum, i, r.sst.Len()))
		}
		return s, nil
	case "inlineStr":
		if c.hasIS {
			return string(r.item.finish()), nil
		}
		return string(r.vbuf), nil
	default:
		return string(r.vbuf), nil
	}
}

// errTextRun is runGuard's error: more than limit bytes of XML without a tag.
type errTextRun struct{ limit int }

func (e errTextRun) Error() string {
	return fmt.Sprintf("more than %s of text between two tags", humanBytes(int64(e.limit)))
}

// fileError is the file-level error for a text run found where (a phrase: "near row 7").
func (e errTextRun) fileError(where string, lim Limits) error {
	return credbatch.FileError(credbatch.CodeValueTooLarge, fmt.Sprintf(
		"A cell %s holds more than %s of text; a cell may hold at most %s. Shorten it and upload the file again.",
		where, humanBytes(int64(e.limit)), humanBytes(int64(lim.MaxCellBytes))))
}

// runGuard fails a read once more than limit bytes have passed without a '<'. encoding/xml
// holds each text node whole in memory, so without it one hostile cell of a gigabyte (which
// deflate squeezes into a megabyte) would be read into memory before any cell limit applies.
type runGuard struct {
	r          io.Reader
	limit, run int
}

// newRunGuard bounds text runs at 16 times the cell limit (escapes such as &amp; spend up to
// 10 bytes on a character), and at least 1 MiB.
func newRunGuard(r io.Reader, lim Limits) *runGuard {
	return &runGuard{r: r, limit: max(16*lim.MaxCellBytes, 1<<20)}
}

func (g *runGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if i := bytes.LastIndexByte(p[:n], '<'); i >= 0 {
		g.run = n - i - 1
	} else {
		g.run += n
	}
	if g.run > g.limit {
		return n, errTextRun{g.limit}
	}
	return n, err
}

// refColumn returns the column of a cell reference such as "B3" (0 when it has no letters).
func refColumn(ref string) int {
	col := 0
	for i := 0; i < len(ref); i++ {
		ch := ref[i] | 0x20 // lower case
		if ch < 'a' || ch > 'z' {
			break
		}
		col = col*26 + int(ch-'a') + 1
		if col > maxSheetColumns {
			return col
		}
	}
	return col
}
