package sheet

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// xlsxReader streams one worksheet of an .xlsx workbook with excelize.
type xlsxReader struct {
	f        *excelize.File
	tmpDir   string // private directory for excelize's temporary files, removed by Close
	rows     *excelize.Rows
	sheet    string
	date1904 bool

	rowNum int // excelize's row iteration count = the spreadsheet row number
	rowGate
}

var _ Reader = (*xlsxReader)(nil)

// openXLSX opens the workbook, picks the sheet and starts the row iterator. A panic inside
// excelize on a malformed file becomes corrupt_file.
//
// excelize gets a private temporary directory, removed by Close or on failure: excelize
// leaks its temporary files when opening fails half-way, and /tmp survives warm Lambda
// invocations.
func openXLSX(path string, opts Options) (_ Reader, err error) {
	tmpDir, err := os.MkdirTemp(opts.TmpDir, "sheet-")
	if err != nil {
		return nil, fmt.Errorf("open xlsx: temporary directory: %w", err)
	}
	var f *excelize.File
	defer func() {
		if p := recover(); p != nil {
			slog.Warn("excelize panicked on an upload", "panic", fmt.Sprint(p))
			err = errCorrupt("The workbook is damaged and could not be read. Open it in Excel, " + lowerFirst(saveAs))
		}
		if err != nil {
			if f != nil {
				_ = f.Close()
			}
			_ = os.RemoveAll(tmpDir)
		}
	}()
	f, err = excelize.OpenFile(path, excelize.Options{
		UnzipSizeLimit:    opts.Limits.UnzipSizeLimit,
		UnzipXMLSizeLimit: opts.Limits.UnzipXMLSizeLimit,
		TmpDir:            tmpDir,
	})
	if err != nil {
		if strings.Contains(err.Error(), "unzip size") {
			return nil, errFileTooLargeUnzip(opts.Limits.UnzipSizeLimit)
		}
		return nil, errCorrupt(fmt.Sprintf("The workbook is damaged and could not be read (%v). Open it in Excel, %s", err, lowerFirst(saveAs)))
	}
	r, err := startXLSX(f, path, opts)
	if err != nil {
		return nil, err
	}
	r.tmpDir = tmpDir
	return r, nil
}

func errFileTooLargeUnzip(limit int64) error {
	return errFileTooLarge(fmt.Sprintf(
		"The workbook unpacks to more than %s. Remove images and unused sheets, or save it as .csv (UTF-8), and upload it again.",
		humanBytes(limit)))
}

// startXLSX starts reading the sheet that readBook and pickSheet choose from the workbook at
// path (the same choice as the stream reader's).
func startXLSX(f *excelize.File, path string, opts Options) (*xlsxReader, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, errCorrupt("The file is a damaged or incomplete zip archive (the upload may have been cut short).")
	}
	bk, err := readBook(partMap(&zr.Reader))
	zr.Close()
	if err != nil {
		return nil, err
	}
	i, err := pickSheet(bk.sheets, opts.Sheet)
	if err != nil {
		return nil, err
	}
	sheet := bk.sheets[i].name
	props, err := f.GetWorkbookProps()
	if err != nil {
		return nil, errCorrupt(fmt.Sprintf("The workbook's settings could not be read (%v). Open it in Excel, %s", err, lowerFirst(saveAs)))
	}
	r := &xlsxReader{f: f, rowGate: rowGate{lim: opts.Limits}, sheet: sheet, date1904: props.Date1904 != nil && *props.Date1904}
	// The dimension is cheap to read (it precedes the rows) but untrusted: it only lets us
	// refuse an obviously oversized sheet early; Next counts rows anyway.
	if dim, err := f.GetSheetDimension(sheet); err == nil && dim != "" {
		if rows := dimensionRows(dim); rows-1 > opts.Limits.MaxRows {
			return nil, errTooManyRowsDim(dim, rows, opts.Limits.MaxRows)
		}
	}
	r.rows, err = f.Rows(sheet)
	if err != nil {
		return nil, errCorrupt(fmt.Sprintf("The sheet %q could not be read (%v). Open the workbook in Excel, %s", sheet, err, lowerFirst(saveAs)))
	}
	return r, nil
}

// sheetEntry is a sheet as the workbook lists it.
type sheetEntry struct {
	name      string
	visible   bool
	worksheet bool   // a worksheet (rows and cells), not a chart, dialog or macro sheet
	kind      string // the relationship type's last element, e.g. "chartsheet"
	part      string // the sheet's part name, as partMap keys it
}

// pickSheet returns the index of the named sheet (exact, then case-insensitive match) or of
// the first visible worksheet: a chart sheet has no rows, so it is passed over.
func pickSheet(list []sheetEntry, want string) (int, error) {
	if len(list) == 0 {
		return 0, errCorrupt("The workbook has no sheets. Open it in Excel, " + lowerFirst(saveAs))
	}
	if want != "" {
		i := -1
		for j, s := range list {
			if s.name == want {
				i = j
				break
			}
		}
		for j, s := range list {
			if i < 0 && strings.EqualFold(strings.TrimSpace(s.name), strings.TrimSpace(want)) {
				i = j
			}
		}
		if i < 0 {
			names := make([]string, len(list))
			for j, s := range list {
				names[j] = s.name
			}
			return 0, errUnknownSheet(want, names)
		}
		if !list[i].worksheet {
			return 0, credbatch.FileError(credbatch.CodeUnknownSheet, fmt.Sprintf(
				"The sheet %q is a %s, not a worksheet with rows. Choose the sheet that holds the data, and upload again.", list[i].name, sheetKind(list[i].kind)))
		}
		return i, nil
	}
	worksheets := 0
	for i, s := range list {
		if s.worksheet {
			worksheets++
			if s.visible {
				return i, nil
			}
		}
	}
	if worksheets == 0 {
		return 0, credbatch.FileError(credbatch.CodeEmptyFile,
			"The workbook has no worksheet, only chart sheets, so it has no rows. Add a worksheet with a header row and one row per credential, then upload it again.")
	}
	return 0, errCorrupt("Every worksheet of the workbook is hidden. Unhide the sheet with the data (right-click a sheet tab > Unhide), save and upload it again.")
}

// sheetKind names a sheet's kind for a message.
func sheetKind(kind string) string {
	switch strings.ToLower(kind) {
	case "chartsheet":
		return "chart sheet"
	case "dialogsheet":
		return "dialog sheet"
	}
	return "macro sheet"
}

// dimensionRows returns the number of rows a dimension such as "A1:H1048576" spans
// (0 when it cannot be parsed).
func dimensionRows(dim string) int {
	parts := strings.Split(dim, ":")
	if len(parts) != 2 {
		return 0
	}
	_, r1, err1 := excelize.CellNameToCoordinates(parts[0])
	_, r2, err2 := excelize.CellNameToCoordinates(parts[1])
	if err1 != nil || err2 != nil || r2 < r1 {
		return 0
	}
	return r2 - r1 + 1
}

func (x *xlsxReader) Format() string { return FormatXLSX }
func (x *xlsxReader) Date1904() bool { return x.date1904 }

// Close closes the row iterator and the workbook, removing excelize's temporary files.
func (x *xlsxReader) Close() error {
	var errs []error
	if x.rows != nil {
		if err := x.rows.Close(); err != nil && !errors.Is(err, excelize.ErrMaxRows) {
			errs = append(errs, fmt.Errorf("close rows: %w", err))
		}
		x.rows = nil
	}
	if x.f != nil {
		if err := x.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close workbook: %w", err))
		}
		x.f = nil
	}
	if x.tmpDir != "" {
		if err := os.RemoveAll(x.tmpDir); err != nil {
			errs = append(errs, fmt.Errorf("remove temporary files: %w", err))
		}
		x.tmpDir = ""
	}
	return errors.Join(errs...)
}

// Next returns the next non-blank row.
func (x *xlsxReader) Next() (rec Record, err error) {
	if x.done {
		return Record{}, io.EOF
	}
	defer func() {
		if p := recover(); p != nil {
			slog.Warn("excelize panicked on an upload", "panic", fmt.Sprint(p), "row", x.rowNum)
			x.done = true
			rec, err = Record{}, errCorrupt(fmt.Sprintf("The workbook is damaged near row %d and could not be read. Open it in Excel, %s", x.rowNum, lowerFirst(saveAs)))
		}
	}()
	for x.rows.Next() {
		x.rowNum++
		cols, err := x.rows.Columns(excelize.Options{RawCellValue: true})
		if errors.Is(err, excelize.ErrMaxRows) {
			x.done = true
			return Record{}, errBeyondMaxRows()
		}
		if err != nil {
			x.done = true
			return Record{}, errCorrupt(fmt.Sprintf("Row %d of the workbook could not be read (%v). Open it in Excel, %s", x.rowNum, err, lowerFirst(saveAs)))
		}
		if rec, ok, err := x.accept(cols, x.rowNum); ok || err != nil {
			return rec, err
		}
	}
	x.done = true
	if err := x.rows.Error(); err != nil {
		if errors.Is(err, excelize.ErrMaxRows) {
			return Record{}, errBeyondMaxRows()
		}
		return Record{}, errCorrupt(fmt.Sprintf("The sheet could not be read to the end (%v). Open it in Excel, %s", err, lowerFirst(saveAs)))
	}
	return Record{}, x.end()
}

// rowGate turns a sheet's rows into records for both .xlsx readers: it cleans them, skips
// blank ones and enforces the row limit.
type rowGate struct {
	lim      Limits
	nonBlank int
	done     bool // set when reading has ended (Next then returns io.EOF)
}

// accept cleans row rowNum's cells; ok is false for a blank row. An error ends reading.
func (g *rowGate) accept(cells []string, rowNum int) (_ Record, ok bool, _ error) {
	if len(cells) == 0 {
		return Record{}, false, nil
	}
	cells, err := cleanRow(cells, rowNum, &g.lim)
	if err != nil {
		g.done = true
		return Record{}, false, err
	}
	if cells == nil {
		return Record{}, false, nil
	}
	if g.nonBlank > g.lim.MaxRows {
		g.done = true
		return Record{}, false, errTooManyRows(g.lim.MaxRows)
	}
	g.nonBlank++
	return Record{Number: rowNum, Cells: cells}, true, nil
}

// end ends reading after the last row: empty_file when no row had a value, else io.EOF.
func (g *rowGate) end() error {
	g.done = true
	if g.nonBlank == 0 {
		return errEmpty()
	}
	return io.EOF
}

func errBeyondMaxRows() error {
	return errCorrupt("The sheet has rows beyond Excel's limit of 1,048,576. Open it in Excel, " + lowerFirst(saveAs))
}
