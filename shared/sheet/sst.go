package sheet

import (
	"bufio"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"unicode/utf8"
)

// sharedStrings is a workbook's shared-strings table held compactly: the strings' text back
// to back in a temporary file, and where each one starts, in memory at 4 bytes a string up to
// sstMemIndex strings and in a second temporary file beyond that. Memory stays bounded
// however large the table is (excelize keeps a [][]uint of about 40 bytes a string: 256 MB
// of peak RSS for a 1,000,000-row workbook of 2,000,000 unique strings).
type sharedStrings struct {
	text   *os.File
	size   int64    // bytes of text
	starts []uint32 // start offsets of the first strings, while the text is under 4 GiB
	index  *os.File // start offsets (uint64, little-endian) of string len(starts) onwards
	n      int      // number of strings
	cache  [sstCacheSize]cachedString
	buf    []byte
}

type cachedString struct {
	i  int // index + 1; 0 = empty slot
	sv string
}

const sstCacheSize = 4096

// sstMemIndex is how many strings' offsets are kept in memory (16 MiB); a variable so that
// tests can exercise the on-disk index.
var sstMemIndex = 4 << 20

// readSharedStrings parses a sharedStrings.xml part into a table in dir. A string is the
// text of its <t> elements, direct or in rich-text runs <r>, without phonetic runs <rPh>,
// with _xHHHH_ escapes decoded (as excelize does).
func readSharedStrings(r io.Reader, dir string) (_ *sharedStrings, err error) {
	s := &sharedStrings{}
	s.text, err = os.CreateTemp(dir, "sst-text-")
	if err != nil {
		return nil, fmt.Errorf("shared strings: %w", err)
	}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	w := bufio.NewWriterSize(s.text, 64<<10)
	var iw *bufio.Writer
	dec := newXMLTokens(r)
	var item textItem
	for {
		tok, err := dec.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.As(err, new(errTextRun)) {
			return nil, err // the caller words it
		}
		if err != nil {
			return nil, errCorrupt(fmt.Sprintf("The workbook's shared-strings table is damaged (%v). Open it in Excel, %s", err, lowerFirst(saveAs)))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "si" && len(dec.stack) == 2 {
				item.begin(dec)
			} else {
				item.start(dec, t)
			}
		case xml.EndElement:
			item.end(dec)
			if t.Name.Local == "si" && len(dec.stack) == 1 {
				cur := item.finish()
				// Offsets go to the file index from the first one that does not fit (size
				// only grows, so every later one follows it there).
				if s.n >= sstMemIndex || s.size > math.MaxUint32 {
					if iw == nil {
						if s.index, err = os.CreateTemp(dir, "sst-index-"); err != nil {
							return nil, fmt.Errorf("shared strings: %w", err)
						}
						iw = bufio.NewWriterSize(s.index, 64<<10)
					}
					var b [8]byte
					binary.LittleEndian.PutUint64(b[:], uint64(s.size))
					if _, err := iw.Write(b[:]); err != nil {
						return nil, fmt.Errorf("shared strings: %w", err)
					}
				} else {
					s.starts = append(s.starts, uint32(s.size))
				}
				if _, err := w.Write(cur); err != nil {
					return nil, fmt.Errorf("shared strings: %w", err)
				}
				s.size += int64(len(cur))
				s.n++
			}
		case xml.CharData:
			item.text(dec, t)
		}
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("shared strings: %w", err)
	}
	if iw != nil {
		if err := iw.Flush(); err != nil {
			return nil, fmt.Errorf("shared strings: %w", err)
		}
	}
	return s, nil
}

// Len returns the number of strings.
func (s *sharedStrings) Len() int { return s.n }

// Get returns string i; ok is false when i is out of range.
func (s *sharedStrings) Get(i int) (_ string, ok bool, err error) {
	if i < 0 || i >= s.n {
		return "", false, nil
	}
	slot := &s.cache[i%sstCacheSize]
	if slot.i == i+1 {
		return slot.sv, true, nil
	}
	start, err := s.start(i)
	if err != nil {
		return "", false, err
	}
	end := s.size
	if i+1 < s.n {
		if end, err = s.start(i + 1); err != nil {
			return "", false, err
		}
	}
	n := int(end - start)
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	b := s.buf[:n]
	if _, err := s.text.ReadAt(b, start); err != nil {
		return "", false, fmt.Errorf("shared strings: read string %d: %w", i, err)
	}
	sv := string(b)
	*slot = cachedString{i: i + 1, sv: sv}
	return sv, true, nil
}

func (s *sharedStrings) start(i int) (int64, error) {
	if i < len(s.starts) {
		return int64(s.starts[i]), nil
	}
	var b [8]byte
	if _, err := s.index.ReadAt(b[:], int64(i-len(s.starts))*8); err != nil {
		return 0, fmt.Errorf("shared strings: read index %d: %w", i, err)
	}
	return int64(binary.LittleEndian.Uint64(b[:])), nil
}

// Close removes the temporary files.
func (s *sharedStrings) Close() error {
	var errs []error
	for _, f := range []*os.File{s.text, s.index} {
		if f == nil {
			continue
		}
		errs = append(errs, f.Close(), os.Remove(f.Name()))
	}
	s.text, s.index = nil, nil
	return errors.Join(errs...)
}

// bstrDecode decodes the _xHHHH_ escapes OOXML uses for characters XML cannot hold
// (_x000D_ is a carriage return, _x005F_ a literal underscore), in place.
func bstrDecode(b []byte) []byte {
	i := indexBstr(b, 0)
	if i < 0 {
		return b
	}
	out := b[:i]
	for i < len(b) {
		if isBstrAt(b, i) {
			v, _ := strconv.ParseUint(string(b[i+2:i+6]), 16, 32)
			if v == 0x5F {
				out = append(out, '_')
			} else {
				out = utf8.AppendRune(out, rune(v))
			}
			i += 7
			continue
		}
		out = append(out, b[i])
		i++
	}
	return out
}

func indexBstr(b []byte, from int) int {
	for i := from; i+7 <= len(b); i++ {
		if isBstrAt(b, i) {
			return i
		}
	}
	return -1
}

func isBstrAt(b []byte, i int) bool {
	if i+7 > len(b) || b[i] != '_' || b[i+1] != 'x' || b[i+6] != '_' {
		return false
	}
	for _, c := range b[i+2 : i+6] {
		if !isHex(c) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// textItem collects the text of a string item (<si> of the shared-strings table or <is> of
// an inline-string cell): its <t>, or the <t> of its rich-text runs <r>. Phonetic runs <rPh>
// and anything else are not part of the text.
type textItem struct {
	base  int // depth of the item element; 0 = not in an item
	tText int // depth of the <t> being read; 0 = none
	buf   []byte
	runs  []byte // text of the runs, which follows the item's own <t> (as in excelize)
}

// begin starts an item at the element just read.
func (it *textItem) begin(x *xmlTokens) {
	it.base, it.tText, it.buf, it.runs = len(x.stack), 0, it.buf[:0], it.runs[:0]
}

// start notes an element start inside the item.
func (it *textItem) start(x *xmlTokens, se xml.StartElement) {
	d := len(x.stack)
	if it.base == 0 || se.Name.Local != "t" {
		return
	}
	if d == it.base+1 || d == it.base+2 && x.stack[d-2].Local == "r" {
		it.tText = d
	}
}

// end notes an element end (already popped from x's stack).
func (it *textItem) end(x *xmlTokens) {
	if it.tText > len(x.stack) {
		it.tText = 0
	}
	if it.base > len(x.stack) {
		it.base = 0
	}
}

func (it *textItem) text(x *xmlTokens, b []byte) {
	switch {
	case it.tText == 0 || it.tText != len(x.stack):
	case it.tText == it.base+1:
		it.buf = append(it.buf, b...)
	default:
		it.runs = append(it.runs, b...)
	}
}

// finish returns the item's text with _xHHHH_ escapes decoded (valid until the next begin).
func (it *textItem) finish() []byte {
	it.base, it.tText = 0, 0
	it.buf = append(it.buf, it.runs...)
	return bstrDecode(it.buf)
}

// xmlTokens reads raw tokens (no namespace translation, which costs time and which the
// readers do not need) and checks that elements nest properly, as Token would.
type xmlTokens struct {
	dec   *xml.Decoder
	stack []xml.Name
}

func newXMLTokens(r io.Reader) *xmlTokens { return &xmlTokens{dec: xml.NewDecoder(r)} }

// next returns the next token; io.EOF only after the root element was closed.
func (x *xmlTokens) next() (xml.Token, error) {
	tok, err := x.dec.RawToken()
	if errors.Is(err, io.EOF) {
		if len(x.stack) > 0 {
			return nil, fmt.Errorf("the XML ends inside <%s>", x.stack[len(x.stack)-1].Local)
		}
		return nil, io.EOF
	}
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case xml.StartElement:
		x.stack = append(x.stack, t.Name)
	case xml.EndElement:
		if len(x.stack) == 0 {
			return nil, fmt.Errorf("unexpected </%s>", t.Name.Local)
		}
		if top := x.stack[len(x.stack)-1]; top != t.Name {
			return nil, fmt.Errorf("element <%s> closed by </%s>", top.Local, t.Name.Local)
		}
		x.stack = x.stack[:len(x.stack)-1]
	}
	return tok, nil
}
