package sheet

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// sniffBytes is how much of the decoded text the delimiter detection looks at.
const sniffBytes = 64 << 10

// csvReader streams a delimited text file.
type csvReader struct {
	f        *os.File
	r        *csv.Reader
	lim      Limits
	encoding string
	delim    rune

	number   int // row number of the last record returned by csv.Reader
	nextLine int // physical line where the next record would start if no blank lines intervene
	nonBlank int // non-blank records returned so far (the first is the header)
	done     bool
}

var _ Reader = (*csvReader)(nil)

func openCSV(path string, opts Options) (Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open csv: %w", err)
	}
	src, enc, err := decodeText(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(src, sniffBytes+4096)
	head, err := br.Peek(sniffBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		f.Close()
		return nil, fmt.Errorf("read csv: %w", err)
	}
	delim, skip := sepHint(head)
	if skip > 0 {
		if _, err := br.Discard(skip); err != nil {
			f.Close()
			return nil, fmt.Errorf("read csv: %w", err)
		}
	} else {
		delim = sniffDelimiter(head)
	}
	cr := csv.NewReader(&lineLimiter{r: br, max: opts.Limits.MaxColumns * (opts.Limits.MaxCellBytes + 3)})
	cr.Comma = delim
	cr.LazyQuotes = true
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return &csvReader{f: f, r: cr, lim: opts.Limits, encoding: enc, delim: delim, nextLine: 1}, nil
}

// decodeText picks the text encoding: a BOM says UTF-8 or UTF-16 LE/BE; otherwise the file
// is UTF-8 when it is valid UTF-8 throughout, Windows-1252 when not. It returns a reader of
// UTF-8 text positioned at the start of the content (BOM skipped).
func decodeText(f *os.File) (io.Reader, string, error) {
	var bom [3]byte
	n, err := io.ReadFull(f, bom[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, "", fmt.Errorf("read csv: %w", err)
	}
	rewind := func(off int64) error {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return fmt.Errorf("read csv: %w", err)
		}
		return nil
	}
	switch {
	case n >= 3 && bom[0] == 0xEF && bom[1] == 0xBB && bom[2] == 0xBF:
		if err := rewind(3); err != nil {
			return nil, "", err
		}
		valid, _, err := scanText(f)
		if err != nil {
			return nil, "", err
		}
		if err := rewind(3); err != nil {
			return nil, "", err
		}
		if !valid {
			// A BOM says UTF-8; replace the odd invalid byte with U+FFFD.
			return transform.NewReader(f, unicode.UTF8.NewDecoder()), "utf-8", nil
		}
		return f, "utf-8", nil
	case n >= 2 && bom[0] == 0xFF && bom[1] == 0xFE:
		err := rewind(0)
		return transform.NewReader(f, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()), "utf-16le", err
	case n >= 2 && bom[0] == 0xFE && bom[1] == 0xFF:
		err := rewind(0)
		return transform.NewReader(f, unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder()), "utf-16be", err
	}
	if err := rewind(0); err != nil {
		return nil, "", err
	}
	valid, binary, err := scanText(f)
	if err != nil {
		return nil, "", err
	}
	if binary {
		return nil, "", errCorrupt("The file is not a text file (it contains binary data). " + saveAs)
	}
	if err := rewind(0); err != nil {
		return nil, "", err
	}
	if valid {
		return f, "utf-8", nil
	}
	return transform.NewReader(f, charmap.Windows1252.NewDecoder()), "windows-1252", nil
}

// scanText reads the whole file once and reports whether it is valid UTF-8 and whether it
// looks binary (a NUL byte in the first 8 KiB).
func scanText(r io.Reader) (valid, binary bool, err error) {
	buf := make([]byte, 256<<10)
	var carry int // bytes of an incomplete rune kept at the start of buf
	valid = true
	first := true
	for {
		n, rerr := io.ReadFull(r, buf[carry:])
		chunk := buf[:carry+n]
		if first {
			first = false
			if bytes.IndexByte(chunk[:min(len(chunk), 8<<10)], 0) >= 0 {
				return false, true, nil
			}
		}
		end := rerr != nil
		if valid {
			// Hold back a trailing incomplete rune for the next chunk.
			cut := len(chunk)
			if !end {
				for i := len(chunk) - 1; i >= 0 && i >= len(chunk)-utf8.UTFMax; i-- {
					if utf8.RuneStart(chunk[i]) {
						if !utf8.FullRune(chunk[i:]) {
							cut = i
						}
						break
					}
				}
			}
			if !utf8.Valid(chunk[:cut]) {
				valid = false
			}
			carry = copy(buf, chunk[cut:])
		}
		if end {
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				return valid, false, nil
			}
			return false, false, fmt.Errorf("read csv: %w", rerr)
		}
		if !valid {
			return false, false, nil
		}
	}
}

// sepHint recognises Excel's "sep=;" first line, which names the delimiter and is not a row.
// It returns the delimiter and the length of the line to skip (0 when there is no hint).
func sepHint(head []byte) (rune, int) {
	if len(head) < 5 || !bytes.EqualFold(head[:4], []byte("sep=")) {
		return 0, 0
	}
	d := head[4]
	if d != ',' && d != ';' && d != '\t' && d != '|' {
		return 0, 0
	}
	rest := head[5:]
	n := 5
	if len(rest) > 0 && rest[0] == '\r' {
		rest, n = rest[1:], n+1
	}
	if len(rest) > 0 && rest[0] != '\n' {
		return 0, 0
	}
	if len(rest) > 0 {
		n++
	}
	return rune(d), n
}

// sniffDelimiter chooses comma, semicolon or tab from the first lines of text, counting
// delimiters outside quotes. The winner is the candidate that appears the same non-zero
// number of times on the most lines; ties prefer more occurrences, then comma.
func sniffDelimiter(head []byte) rune {
	cands := []byte{',', ';', '\t'}
	const maxLines = 20
	var counts [3][]int
	var cur [3]int
	inQuote := false
	lines := 0
	hasContent := false
	flush := func() {
		if hasContent {
			for i := range cands {
				counts[i] = append(counts[i], cur[i])
			}
			lines++
		}
		cur = [3]int{}
		hasContent = false
	}
	for _, b := range head {
		if lines >= maxLines {
			break
		}
		switch {
		case b == '"':
			inQuote = !inQuote
			hasContent = true
		case inQuote:
		case b == '\n':
			flush()
		case b == '\r':
		default:
			if b != ' ' {
				hasContent = true
			}
			for i, c := range cands {
				if b == c {
					cur[i]++
				}
			}
		}
	}
	if lines < maxLines && !inQuote {
		flush()
	}
	best, bestLines, bestCount := ',', 0, 0
	for i, c := range cands {
		freq := map[int]int{}
		for _, n := range counts[i] {
			if n > 0 {
				freq[n]++
			}
		}
		modeLines, mode := 0, 0
		for n, k := range freq {
			if k > modeLines || (k == modeLines && n > mode) {
				modeLines, mode = k, n
			}
		}
		if modeLines > bestLines || (modeLines == bestLines && mode > bestCount) {
			best, bestLines, bestCount = rune(c), modeLines, mode
		}
	}
	return best
}

func (c *csvReader) Format() string { return FormatCSV }
func (c *csvReader) Date1904() bool { return false }

// Close closes the file.
func (c *csvReader) Close() error {
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}

// Next returns the next non-blank record. Record numbers count records as a spreadsheet
// shows them: a quoted cell spanning several lines is one row, a blank line is one row.
func (c *csvReader) Next() (Record, error) {
	if c.done {
		return Record{}, io.EOF
	}
	for {
		rec, err := c.r.Read()
		if err != nil {
			c.done = true
			if errors.Is(err, io.EOF) {
				if c.nonBlank == 0 {
					return Record{}, errEmpty()
				}
				return Record{}, io.EOF
			}
			var ce *credbatch.Error
			if errors.As(err, &ce) {
				return Record{}, ce
			}
			return Record{}, errCorrupt(fmt.Sprintf("The file could not be read as CSV near row %d (%v). %s", c.number+1, err, saveAs))
		}
		line, _ := c.r.FieldPos(0)
		// encoding/csv skips empty lines; count them as rows.
		if line > c.nextLine {
			c.number += line - c.nextLine
		}
		c.number++
		span := 0
		for _, f := range rec {
			if len(f) > 0 && strings.IndexByte(f, '\n') >= 0 {
				span += strings.Count(f, "\n")
			}
		}
		c.nextLine = line + span + 1
		if c.nonBlank > c.lim.MaxRows && !blankRow(rec) {
			c.done = true
			return Record{}, errTooManyRows(c.lim.MaxRows)
		}
		cells, err := cleanRow(rec, c.number, &c.lim)
		if err != nil {
			c.done = true
			return Record{}, err
		}
		if cells == nil {
			continue
		}
		c.nonBlank++
		out := make([]string, len(cells))
		copy(out, cells)
		return Record{Number: c.number, Cells: out}, nil
	}
}

// blankRow reports whether every cell trims to empty.
func blankRow(rec []string) bool {
	for _, f := range rec {
		if trimCell(f) != "" {
			return false
		}
	}
	return true
}

// lineLimiter fails a read once a single physical line grows beyond max bytes, so that a
// file without line breaks cannot make encoding/csv buffer it whole.
type lineLimiter struct {
	r   io.Reader
	max int
	cur int
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	b := p[:n]
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			l.cur += len(b)
			break
		}
		l.cur = 0
		b = b[i+1:]
	}
	if l.cur > l.max {
		return n, credbatch.FileError(credbatch.CodeValueTooLarge, fmt.Sprintf(
			"A line of the file is longer than %s. Check that the file is a CSV with one row per line, shorten long cells, and upload it again.",
			humanBytes(int64(l.max))))
	}
	return n, err
}
