// Package sheet reads uploaded spreadsheets (.xlsx, .csv, .txt) as a stream of rows.
//
// An .xlsx is read with excelize's Rows, except when a worksheet or the shared-strings table
// is larger than Limits.UnzipXMLSizeLimit (2 MiB, about 10,000 rows): excelize would copy
// such a sheet to a temporary file before reading it and index such a table at about 40 bytes
// a string, so those large workbooks go to streamReader, which reads the sheet XML from the
// zip as it goes and keeps the table on disk. Both give the same records (TestFixtures runs
// every workbook through both).
package sheet

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/zipguard"
)

// Limits bound what a reader accepts; exceeding one is a file-level *credbatch.Error.
type Limits struct {
	MaxFileBytes      int64 // size of the uploaded file
	MaxRows           int   // data rows (not counting the header)
	MaxColumns        int   // non-empty columns in a row
	MaxCellBytes      int   // bytes of one cell after trimming
	UnzipSizeLimit    int64 // excelize.Options.UnzipSizeLimit: total uncompressed size of an .xlsx
	UnzipXMLSizeLimit int64 // excelize.Options.UnzipXMLSizeLimit; a larger worksheet or shared-strings table sends the workbook to the stream reader
}

// The default UnzipXMLSizeLimit is 2 MiB, not 16: excelize parses an in-memory
// shared-strings table into structs about 12 times its XML size (a 100,000-row workbook
// saved by Excel peaked at 125 MiB of heap with 16 MiB, 20 MiB with 1 MiB, at the same speed).

// DefaultLimits returns the limits used when Options.Limits leaves a field zero.
func DefaultLimits() Limits {
	return Limits{
		MaxFileBytes:      100 << 20,
		MaxRows:           100_000,
		MaxColumns:        256,
		MaxCellBytes:      32 << 10,
		UnzipSizeLimit:    1 << 30,
		UnzipXMLSizeLimit: 2 << 20,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = d.MaxFileBytes
	}
	if l.MaxRows <= 0 {
		l.MaxRows = d.MaxRows
	}
	if l.MaxColumns <= 0 {
		l.MaxColumns = d.MaxColumns
	}
	if l.MaxCellBytes <= 0 {
		l.MaxCellBytes = d.MaxCellBytes
	}
	if l.UnzipSizeLimit <= 0 {
		l.UnzipSizeLimit = d.UnzipSizeLimit
	}
	if l.UnzipXMLSizeLimit <= 0 {
		l.UnzipXMLSizeLimit = d.UnzipXMLSizeLimit
	}
	if l.UnzipXMLSizeLimit > l.UnzipSizeLimit {
		l.UnzipXMLSizeLimit = l.UnzipSizeLimit
	}
	return l
}

// Options configure Open. Zero values mean: first visible sheet, DefaultLimits, os.TempDir.
type Options struct {
	Sheet  string // .xlsx only: the sheet to read; "" = the first visible sheet
	Limits Limits
	TmpDir string // where excelize unpacks large sheets and the stream reader keeps shared strings

	forceStream bool // tests: read every .xlsx with streamReader
}

// Record is one non-blank row. Number is the spreadsheet row number as the user sees it
// (1-based, counting blank rows that were skipped). Cells are trimmed of surrounding
// whitespace (including NBSP) and carry no trailing empty cells; a missing cell is empty.
//
// From .xlsx, cells hold raw values: dates arrive as serial numbers (see Reader.Date1904),
// booleans as "1"/"0", formulas as their cached values, error cells as "#N/A" etc.
//
// Flaws lists the cells of a text file whose bytes contradict the file's encoding (see
// Flaw); it is nil for a clean row.
type Record struct {
	Number int
	Cells  []string
	Flaws  []Flaw
}

// Flaw is a cell of a text file with bytes that the file's encoding, decided for the whole
// file, does not read as intended: bytes that are not UTF-8 in a UTF-8 file (the cell holds
// U+FFFD in their place), or UTF-8 characters in a Windows-1252 file (decoded as
// Windows-1252, the way the rest of the file is). Such a row must not be issued as read.
type Flaw struct {
	Column   int    // 1-based
	Encoding string // the file's encoding: "UTF-8" or "Windows-1252"
	Detail   string // which bytes, where, and what they would read as in the other encoding
}

// Reader streams the non-blank rows of one sheet. The first record is the header as far as
// the file goes; deciding that is the caller's job.
type Reader interface {
	// Format returns "xlsx" or "csv".
	Format() string
	// Date1904 reports whether the workbook uses the 1904 date system (always false for csv).
	Date1904() bool
	// Next returns the next non-blank row, io.EOF after the last one, or a file-level
	// *credbatch.Error of KindInvalid (too_many_rows, too_many_columns, cell_too_large,
	// corrupt_file, empty_file when the file has no non-blank row at all).
	Next() (Record, error)
	// Close releases the file and any temporary files.
	Close() error
}

// Formats.
const (
	FormatXLSX = "xlsx"
	FormatCSV  = "csv"
)

// maxInMemoryParts bounds the uncompressed size of the .xlsx parts excelize always holds in
// memory (everything but worksheets and the shared-strings table: styles, workbook, images).
const maxInMemoryParts = 64 << 20

const saveAs = "Save the file as .xlsx or .csv (UTF-8) and upload it again."

var (
	magicZip  = []byte("PK\x03\x04")
	magicZipE = []byte("PK\x05\x06") // empty archive
	magicOLE2 = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
)

// Open opens the file at path, an upload named name, and returns a Reader for it. The name's
// extension chooses the format, but content wins when it is recognisable: a zip with
// xl/workbook.xml is read as .xlsx, an OLE2 (.xls) or OpenDocument/Numbers file is refused.
// Errors are file-level *credbatch.Error values of KindInvalid (unsupported_format,
// file_too_large, empty_file, corrupt_file, unknown_sheet, too_many_rows), or a wrapped
// error when the file cannot be read at all.
func Open(path, name string, opts Options) (Reader, error) {
	opts.Limits = opts.Limits.withDefaults()
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open spreadsheet %s: %w", name, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("open spreadsheet %s: %s is a directory", name, path)
	}
	if fi.Size() > opts.Limits.MaxFileBytes {
		return nil, credbatch.FileError(credbatch.CodeFileTooLarge, fmt.Sprintf(
			"The file is %s; the limit is %s. Split it into smaller files and upload them separately.",
			humanBytes(fi.Size()), humanBytes(opts.Limits.MaxFileBytes)))
	}
	if fi.Size() == 0 {
		return nil, errEmpty()
	}
	head, err := readHead(path, 8)
	if err != nil {
		return nil, fmt.Errorf("open spreadsheet %s: %w", name, err)
	}
	ext := strings.ToLower(filepath.Ext(name))
	switch {
	case bytes.HasPrefix(head, magicOLE2):
		return nil, credbatch.FileError(credbatch.CodeUnsupportedFormat,
			"The file is an Excel 97-2003 workbook (.xls) or a password-protected workbook, which cannot be read. "+
				"Remove any password, then "+lowerFirst(saveAs))
	case bytes.HasPrefix(head, magicZip) || bytes.HasPrefix(head, magicZipE):
		largest, err := checkZip(path, ext, opts.Limits)
		if err != nil {
			return nil, err
		}
		// excelize holds parts of up to UnzipXMLSizeLimit in memory. A larger worksheet it
		// first copies to a temporary file, and a larger shared-strings table it indexes at
		// about 40 bytes a string (most of the memory of a large workbook): large workbooks
		// go to streamReader, which reads the sheet from the zip as it goes.
		if opts.forceStream || largest > uint64(opts.Limits.UnzipXMLSizeLimit) {
			return openStream(path, opts)
		}
		return openXLSX(path, opts)
	}
	switch ext {
	case ".csv", ".txt", ".tsv":
		return openCSV(path, opts)
	case ".xlsx", ".xlsm":
		return nil, credbatch.FileError(credbatch.CodeCorruptFile,
			"The file is named .xlsx but is not an Excel workbook (it may have been renamed or damaged). "+
				"Open it in Excel and "+lowerFirst(saveAs))
	case ".xls":
		return nil, credbatch.FileError(credbatch.CodeUnsupportedFormat,
			"Excel 97-2003 workbooks (.xls) cannot be read. "+saveAs)
	case ".ods", ".numbers":
		return nil, credbatch.FileError(credbatch.CodeUnsupportedFormat,
			fmt.Sprintf("%s files cannot be read. %s", ext, saveAs))
	case "":
		return nil, credbatch.FileError(credbatch.CodeUnsupportedFormat,
			"The file name has no extension, so its format is unknown. "+saveAs)
	default:
		return nil, credbatch.FileError(credbatch.CodeUnsupportedFormat,
			fmt.Sprintf("%s files are not spreadsheets credbatch can read. %s", ext, saveAs))
	}
}

// checkZip inspects a zip's directory without unpacking it: it must be an .xlsx workbook
// (not OpenDocument or Numbers), and its declared sizes must respect the limits so that a
// zip bomb is refused before anything is read into memory. It returns the uncompressed size
// of the largest worksheet or shared-strings table.
func checkZip(path, ext string, lim Limits) (largest uint64, _ error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return 0, errCorrupt("The file is a damaged or incomplete zip archive (the upload may have been cut short).")
	}
	defer zr.Close()
	var (
		workbook, ods, numbers bool
		inMemory               uint64
	)
	lim64 := uint64(lim.UnzipSizeLimit)
	err = zipguard.Check(zr.File, zipguard.Limits{MaxTotal: lim64, MaxEntry: lim64}, partName, func(zf *zip.File, n string) error {
		switch {
		case n == "xl/workbook.xml":
			workbook = true
		case n == "mimetype":
			ods = true
		case strings.HasPrefix(n, "index/") && strings.HasSuffix(n, ".iwa"), n == "index.zip":
			numbers = true
		}
		// Large worksheets and shared-strings tables are streamed; every other part is held
		// in memory, so it gets the in-memory budget.
		if strings.HasPrefix(n, "xl/worksheets/sheet") || n == "xl/sharedstrings.xml" {
			largest = max(largest, zf.UncompressedSize64)
		} else {
			inMemory += zf.UncompressedSize64
		}
		return nil
	})
	var ze *zipguard.Error
	if errors.As(err, &ze) {
		switch ze.Problem {
		case zipguard.Duplicate:
			// Two entries of one name are read differently by different readers (excelize
			// keeps the last, others the first): which data is meant cannot be known.
			return 0, errCorrupt(fmt.Sprintf("The workbook holds two parts named %q, so it is damaged or was made to mislead. Open it in Excel, %s", ze.Entry, lowerFirst(saveAs)))
		case zipguard.Bomb:
			return 0, errCorrupt("The workbook contains a part that is compressed suspiciously well (a zip bomb). Save the data as a new .xlsx or .csv (UTF-8) file and upload it again.")
		default:
			return 0, credbatch.FileError(credbatch.CodeFileTooLarge, fmt.Sprintf(
				"The workbook unpacks to more than %s. Remove images and unused sheets, or save it as .csv (UTF-8), and upload it again.",
				humanBytes(lim.UnzipSizeLimit)))
		}
	}
	if err != nil {
		return 0, err
	}
	if inMemory > maxInMemoryParts {
		return 0, credbatch.FileError(credbatch.CodeFileTooLarge, fmt.Sprintf(
			"The workbook's styles, images and other parts take %s; the limit is %s. Remove images and unused sheets, or save it as .csv (UTF-8), and upload it again.",
			humanBytes(int64(inMemory)), humanBytes(maxInMemoryParts)))
	}
	switch {
	case workbook:
		return largest, nil
	case ods:
		return 0, credbatch.FileError(credbatch.CodeUnsupportedFormat,
			"The file is an OpenDocument spreadsheet (.ods), which cannot be read. "+saveAs)
	case numbers || ext == ".numbers":
		return 0, credbatch.FileError(credbatch.CodeUnsupportedFormat,
			"The file is an Apple Numbers document, which cannot be read. Use File > Export To > Excel or CSV, then upload that file.")
	case ext == ".zip":
		// Most likely evidence files, named so that they are not taken for their spreadsheet's.
		return 0, credbatch.FileError(credbatch.CodeUnsupportedFormat,
			"The file is a zip archive, not a spreadsheet. If it holds the evidence files of a spreadsheet, name it after "+
				"the spreadsheet with .zip added (roster.xlsx.zip for roster.xlsx) and upload it again; otherwise "+lowerFirst(saveAs))
	default:
		return 0, credbatch.FileError(credbatch.CodeUnsupportedFormat,
			"The file is a zip archive but not an Excel workbook. "+saveAs)
	}
}

func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	k, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:k], nil
}

func errEmpty() *credbatch.Error {
	return credbatch.FileError(credbatch.CodeEmptyFile,
		"The file has no rows. Add a header row and one row per credential, then upload it again.")
}

func errCorrupt(msg string) *credbatch.Error {
	return credbatch.FileError(credbatch.CodeCorruptFile, msg)
}

func errTooManyRows(max int) *credbatch.Error {
	return credbatch.FileError(credbatch.CodeTooManyRows, fmt.Sprintf(
		"The file has more than %d data rows. Split it into files of at most %d rows and upload them separately.", max, max))
}

func errTooManyColumns(row, n, max int) *credbatch.Error {
	return credbatch.FileError(credbatch.CodeTooManyColumns, fmt.Sprintf(
		"Row %d has %d columns; at most %d are allowed. Delete unused columns and upload the file again.", row, n, max))
}

func errCellTooLarge(row, col, size, max int) *credbatch.Error {
	return credbatch.FileError(credbatch.CodeValueTooLarge, fmt.Sprintf(
		"Cell %s%d holds %s; a cell may hold at most %s. Shorten it and upload the file again.",
		ColumnName(col), row, humanBytes(int64(size)), humanBytes(int64(max))))
}

// ColumnName returns the spreadsheet letter of a 1-based column number: 1 → A, 27 → AA.
func ColumnName(col int) string {
	if col < 1 {
		return "?"
	}
	var b [8]byte
	i := len(b)
	for col > 0 {
		col--
		i--
		b[i] = byte('A' + col%26)
		col /= 26
	}
	return string(b[i:])
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// isTrimSpace reports whether r is trimmed from cells: Unicode white space (which includes
// NBSP), zero-width space and a stray byte-order mark.
func isTrimSpace(r rune) bool {
	return unicode.IsSpace(r) || r == '\u200B' || r == '\uFEFF'
}

// trimCell trims a cell, with a fast path for the common case of no surrounding space.
func trimCell(s string) string {
	if s == "" {
		return s
	}
	if first, last := s[0], s[len(s)-1]; first < utf8.RuneSelf && last < utf8.RuneSelf &&
		first > ' ' && last > ' ' {
		return s
	}
	return strings.TrimFunc(s, isTrimSpace)
}

// cleanRow trims cells in place, drops trailing empty cells and checks the column and cell
// limits. It returns the cleaned cells (nil when the row is blank).
func cleanRow(cells []string, row int, lim *Limits) ([]string, error) {
	last := -1
	for i, c := range cells {
		c = trimCell(c)
		cells[i] = c
		if c != "" {
			last = i
			if len(c) > lim.MaxCellBytes {
				return nil, errCellTooLarge(row, i+1, len(c), lim.MaxCellBytes)
			}
		}
	}
	if last < 0 {
		return nil, nil
	}
	if last+1 > lim.MaxColumns {
		return nil, errTooManyColumns(row, last+1, lim.MaxColumns)
	}
	return cells[:last+1], nil
}

func errFileTooLarge(msg string) *credbatch.Error {
	return credbatch.FileError(credbatch.CodeFileTooLarge, msg)
}

func errUnknownSheet(want string, list []string) *credbatch.Error {
	return credbatch.FileError(credbatch.CodeUnknownSheet, fmt.Sprintf(
		"The workbook has no sheet named %q; its sheets are %s. Choose one of them or rename the sheet, and upload again.",
		want, quoteList(list)))
}

func errTooManyRowsDim(dim string, rows, max int) *credbatch.Error {
	return credbatch.FileError(credbatch.CodeTooManyRows, fmt.Sprintf(
		"The sheet's used range is %s (%d rows); at most %d data rows are allowed. Delete unused rows below your data, or split the file into files of at most %d rows, and upload again.",
		dim, rows, max, max))
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
