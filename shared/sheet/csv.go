package sheet

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
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
	f     *os.File
	r     *csv.Reader
	lim   Limits
	text  textMode
	delim rune

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
	src, mode, err := decodeText(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(&newlines{r: src}, sniffBytes+4096)
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
	return &csvReader{f: f, r: cr, lim: opts.Limits, text: mode, delim: delim, nextLine: 1}, nil
}

// decodeText picks the text encoding: a BOM says UTF-8 or UTF-16 LE/BE. Without one, the
// whole file is read once and the bytes decide (see textStats.mode): UTF-8 when its valid
// multi-byte sequences are at least as many as the bytes that are not UTF-8, Windows-1252
// when not. It returns a reader positioned at the start of the content (BOM skipped): UTF-8
// text for UTF-16, the file's own bytes otherwise, which Next decodes cell by cell, flagging
// the cells whose bytes contradict the file's encoding.
func decodeText(f *os.File) (io.Reader, textMode, error) {
	var bom [3]byte
	n, err := io.ReadFull(f, bom[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("read csv: %w", err)
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
			return nil, 0, err
		}
		st, err := scanText(f)
		if err != nil {
			return nil, 0, err
		}
		mode := textUTF8
		if st.invalid > 0 {
			mode = textUTF8Flawed // a BOM says UTF-8: the odd invalid byte is flagged
		}
		return f, mode, rewind(3)
	case n >= 2 && bom[0] == 0xFF && bom[1] == 0xFE:
		err := rewind(0)
		return transform.NewReader(f, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()), textUTF8, err
	case n >= 2 && bom[0] == 0xFE && bom[1] == 0xFF:
		err := rewind(0)
		return transform.NewReader(f, unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder()), textUTF8, err
	}
	if err := rewind(0); err != nil {
		return nil, 0, err
	}
	st, err := scanText(f)
	if err != nil {
		return nil, 0, err
	}
	if st.binary {
		return nil, 0, errCorrupt("The file is not a text file (it contains binary data). " + saveAs)
	}
	return f, st.mode(), rewind(0)
}

// textMode is how Next turns a cell's bytes into text.
type textMode int

const (
	textUTF8       textMode = iota // valid UTF-8 throughout (or decoded from UTF-16)
	textUTF8Flawed                 // UTF-8 with some bytes that are not: those cells are flagged
	text1252                       // Windows-1252 throughout
	text1252Flawed                 // Windows-1252 with some valid UTF-8 sequences: those cells are flagged
)

func (m textMode) String() string {
	switch m {
	case text1252, text1252Flawed:
		return "Windows-1252"
	}
	return "UTF-8"
}

// textStats is the evidence for a file's encoding.
type textStats struct {
	multi   int  // valid UTF-8 multi-byte sequences
	invalid int  // bytes that are not part of a valid UTF-8 sequence
	binary  bool // a NUL byte in the first 8 KiB
}

// mode decides the encoding of a file without a BOM. Windows-1252 text almost never holds a
// valid UTF-8 multi-byte sequence (an accented letter followed by one to three bytes of
// 0x80–0xBF), and UTF-8 text holds invalid bytes only where something else was pasted in,
// so the majority wins and the cells of the minority are flagged, never decoded silently
// the wrong way.
func (st textStats) mode() textMode {
	switch {
	case st.invalid == 0:
		return textUTF8
	case st.multi >= st.invalid:
		return textUTF8Flawed
	case st.multi > 0:
		return text1252Flawed
	}
	return text1252
}

// scanText reads the whole file once and counts the evidence of its encoding.
func scanText(r io.Reader) (textStats, error) {
	buf := make([]byte, 256<<10)
	var (
		st    textStats
		carry int // bytes of an incomplete rune kept at the start of buf
	)
	first := true
	for {
		n, rerr := io.ReadFull(r, buf[carry:])
		chunk := buf[:carry+n]
		if first {
			first = false
			if bytes.IndexByte(chunk[:min(len(chunk), 8<<10)], 0) >= 0 {
				st.binary = true
				return st, nil
			}
		}
		end := rerr != nil
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
		st.count(chunk[:cut])
		carry = copy(buf, chunk[cut:])
		if end {
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				return st, nil
			}
			return st, fmt.Errorf("read csv: %w", rerr)
		}
	}
}

// count adds the multi-byte sequences and invalid bytes of b.
func (st *textStats) count(b []byte) {
	for i := 0; i < len(b); {
		// Skip ASCII eight bytes at a time.
		for i+8 <= len(b) && binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 == 0 {
			i += 8
		}
		if i >= len(b) {
			break
		}
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			st.invalid++
		} else {
			st.multi++
		}
		i += size
	}
}

// decodeCell turns a cell's bytes into text in the file's encoding. A cell whose bytes
// contradict it gets a flaw that names them: in a UTF-8 file the bytes that are not UTF-8
// (replaced by U+FFFD), in a Windows-1252 file the valid UTF-8 sequences (decoded as
// Windows-1252, the way the rest of the file is).
func decodeCell(s string, mode textMode) (string, string) {
	if mode == textUTF8 || isASCII(s) || (mode == textUTF8Flawed && utf8.ValidString(s)) {
		return s, ""
	}
	var (
		out    strings.Builder
		detail []string
		bad    int
	)
	note := func(i, size int, msg string) {
		bad++
		if len(detail) < 3 {
			detail = append(detail, fmt.Sprintf("%s after %s (%s)", hexBytes(s[i:i+size]), quoteTail(s[:i]), msg))
		}
	}
	out.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			out.WriteByte(c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		valid := !(r == utf8.RuneError && size == 1)
		switch mode {
		case textUTF8Flawed:
			if valid {
				out.WriteString(s[i : i+size])
				break
			}
			out.WriteRune(utf8.RuneError)
			note(i, 1, fmt.Sprintf("%q in Windows-1252", charmap.Windows1252.DecodeByte(c)))
		default: // Windows-1252
			if !valid {
				size = 1
			}
			for _, b := range []byte(s[i : i+size]) {
				out.WriteRune(charmap.Windows1252.DecodeByte(b))
			}
			if valid && mode == text1252Flawed {
				note(i, size, fmt.Sprintf("%q in UTF-8", r))
			}
		}
		i += size
	}
	if bad == 0 {
		return out.String(), ""
	}
	what := "a byte that is not UTF-8"
	switch {
	case mode != textUTF8Flawed && bad == 1:
		what = "a UTF-8 character, in a file that is otherwise Windows-1252"
	case mode != textUTF8Flawed:
		what = fmt.Sprintf("%d UTF-8 characters, in a file that is otherwise Windows-1252", bad)
	case bad > 1:
		what = fmt.Sprintf("%d bytes that are not UTF-8", bad)
	}
	msg := what + ": " + strings.Join(detail, ", ")
	if bad > len(detail) {
		msg += ", …"
	}
	return out.String(), msg
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// hexBytes spells bytes as "0xC3 0xA9".
func hexBytes(s string) string {
	parts := make([]string, len(s))
	for i := 0; i < len(s); i++ {
		parts[i] = fmt.Sprintf("0x%02X", s[i])
	}
	return strings.Join(parts, " ")
}

// quoteTail quotes up to the last 12 characters of s (the text before a bad byte), "the
// start of the cell" when s is empty.
func quoteTail(s string) string {
	if s == "" {
		return "the start of the cell"
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if r := []rune(s); len(r) > 12 {
		s = "…" + string(r[len(r)-12:])
	}
	return strconv.Quote(s)
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

// sniffDelimiter chooses comma, semicolon, tab or pipe from the first lines of text,
// counting delimiters outside quotes. The winner is the candidate that appears the same
// non-zero number of times on the most lines; ties prefer more occurrences, then the
// earlier candidate (comma first).
func sniffDelimiter(head []byte) rune {
	cands := [...]byte{',', ';', '\t', '|'}
	const maxLines = 20
	var counts [len(cands)][]int
	var cur [len(cands)]int
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
		cur = [len(cands)]int{}
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
		var flaws []Flaw
		for i, f := range rec {
			if strings.IndexByte(f, 0) >= 0 {
				c.done = true
				return Record{}, errCorrupt(fmt.Sprintf(
					"Cell %s%d contains a NUL character, so the file holds binary data, not text. %s", ColumnName(i+1), c.number, saveAs))
			}
			if c.text != textUTF8 {
				var detail string
				if rec[i], detail = decodeCell(f, c.text); detail != "" {
					flaws = append(flaws, Flaw{Column: i + 1, Encoding: c.text.String(), Detail: detail})
				}
			}
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
		return Record{Number: c.number, Cells: out, Flaws: flaws}, nil
	}
}

// newlines reads text with every line break as "\n": CRLF (Windows), a lone CR (old Mac and
// Excel for Mac CSV) and LF alike, inside quoted cells too. encoding/csv itself only knows
// CRLF and LF, so a file of lone CRs would be one record.
type newlines struct {
	r      io.Reader
	skipLF bool // the last byte returned was a CR turned into LF: drop a following LF
}

func (n *newlines) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	b := p[:k]
	if len(b) > 0 && n.skipLF {
		n.skipLF = false
		if b[0] == '\n' {
			b = b[1:]
			if len(b) == 0 && err == nil {
				// Nothing left to return: read again rather than return 0, nil.
				return n.Read(p)
			}
		}
	}
	// Compact b into p in place, a run between CRs at a time (the output is never longer).
	w := 0
	for {
		i := bytes.IndexByte(b, '\r')
		if i < 0 {
			w += copy(p[w:], b)
			return w, err
		}
		w += copy(p[w:], b[:i])
		switch {
		case i+1 == len(b):
			n.skipLF = true // the LF of a CRLF split across reads is dropped next time
		case b[i+1] == '\n':
			b = b[i+1:] // CRLF: the LF stays
			continue
		}
		p[w] = '\n'
		w++
		b = b[i+1:]
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
