package workbook

import (
	"fmt"
	"io"
	"iter"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/xuri/excelize/v2"
)

// Day is a calendar date, written as a date cell (no time of day). A time.Time is written as a
// date-time cell in UTC.
type Day time.Time

// Date and date-time formats of cells: ISO 8601, the same in every locale.
const (
	DayFormat      = "yyyy-mm-dd"
	DateTimeFormat = "yyyy-mm-dd hh:mm:ss"
)

// Table writes a plain workbook of one sheet of text cells; see Cells.
func Table(w io.Writer, sheet string, headers []string, rows iter.Seq2[[]string, error]) error {
	return Cells(w, sheet, headers, func(yield func([]any, error) bool) {
		var line []any
		for r, err := range rows {
			if err != nil {
				yield(nil, err)
				return
			}
			line = line[:0]
			for _, c := range r {
				line = append(line, c)
			}
			if !yield(line, nil) {
				return
			}
		}
	})
}

// Cells writes a workbook of one sheet: a bold, frozen header row and the rows. A cell is a
// string (text, through Safe), an int or a float64 (a number), a time.Time (a date-time cell
// in UTC), a Day (a date cell) or nil (empty); any other type is KindInvalid. Rows are spooled
// to a temporary file and streamed, so memory stays flat however many there are. The error is
// the iterator's (wrapped), KindInvalid for a bad sheet name, a cell type or too many rows, or
// an I/O error.
func Cells(w io.Writer, sheet string, headers []string, rows iter.Seq2[[]any, error]) error {
	if sheet == "" {
		sheet = "Sheet1"
	}
	sp, err := newSpool()
	if err != nil {
		return fmt.Errorf("table %s: %w", sheet, err)
	}
	defer sp.close()
	widths := make([]int, len(headers))
	for i, h := range headers {
		widths[i] = utf8.RuneCountInString(h) + 2
	}
	n := 0
	for r, err := range rows {
		if err != nil {
			return fmt.Errorf("table %s: read rows: %w", sheet, err)
		}
		n++
		if n+1 > maxRows {
			return credbatch.Errorf(credbatch.KindInvalid, "table %s: more rows than a worksheet holds (%d)", sheet, maxRows-1)
		}
		sp.putInt(len(r))
		for i, c := range r {
			width, err := sp.putCell(c)
			if err != nil {
				return fmt.Errorf("table %s: row %d, column %d: %w", sheet, n+1, i+1, err)
			}
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], width)
		}
	}
	if err := sp.rewind(); err != nil {
		return fmt.Errorf("table %s: %w", sheet, err)
	}
	f := excelize.NewFile()
	defer f.Close()
	if sheet != "Sheet1" {
		if err := f.SetSheetName("Sheet1", sheet); err != nil {
			return &credbatch.Error{Kind: credbatch.KindInvalid, Code: string(credbatch.KindInvalid),
				Message: fmt.Sprintf("table: sheet name %q: %v", sheet, err), Err: err}
		}
	}
	st, err := newStyles(f)
	if err != nil {
		return fmt.Errorf("table %s: %w", sheet, err)
	}
	sw, err := openStream(f, sheet, len(widths), n+1, widths, 0)
	if err != nil {
		return fmt.Errorf("table %s: %w", sheet, err)
	}
	if err := writeHeader(sw, headers, st.header); err != nil {
		return fmt.Errorf("table %s: %w", sheet, err)
	}
	var cells []any
	for i := range n {
		nc, err := sp.int()
		if err != nil {
			return fmt.Errorf("table %s: %w", sheet, err)
		}
		cells = cells[:0]
		for range nc {
			v, err := sp.cell(st)
			if err != nil {
				return fmt.Errorf("table %s: %w", sheet, err)
			}
			cells = append(cells, v)
		}
		cell, err := excelize.CoordinatesToCellName(1, i+2)
		if err != nil {
			return fmt.Errorf("table %s: %w", sheet, err)
		}
		if err := sw.SetRow(cell, cells); err != nil {
			return fmt.Errorf("table %s: row %d: %w", sheet, i+2, err)
		}
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("table %s: %w", sheet, err)
	}
	if err := f.Write(w); err != nil {
		return fmt.Errorf("table %s: write: %w", sheet, err)
	}
	return nil
}

// Tags of spooled cells.
const (
	cellNil = iota
	cellString
	cellInt
	cellFloat
	cellTime
	cellDay
)

// putCell spools a typed cell and returns its display width in characters.
func (s *spool) putCell(v any) (int, error) {
	switch v := v.(type) {
	case nil:
		s.putInt(cellNil)
		return 0, nil
	case string:
		s.putInt(cellString)
		s.putString(v)
		return utf8.RuneCountInString(v), nil
	case int:
		s.putInt(cellInt)
		s.putVarint(int64(v))
		return len(strconv.Itoa(v)), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, credbatch.Errorf(credbatch.KindInvalid, "cell: %v is not a number a spreadsheet holds", v)
		}
		s.putInt(cellFloat)
		s.putVarint(int64(math.Float64bits(v)))
		return len(strconv.FormatFloat(v, 'g', -1, 64)), nil
	case time.Time:
		if v.IsZero() {
			s.putInt(cellNil)
			return 0, nil
		}
		s.putInt(cellTime)
		v = v.UTC()
		s.putVarint(v.Unix())
		s.putInt(v.Nanosecond())
		return len(DateTimeFormat), nil
	case Day:
		t := time.Time(v)
		if t.IsZero() {
			s.putInt(cellNil)
			return 0, nil
		}
		s.putInt(cellDay)
		s.putVarint(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400)
		return len(DayFormat), nil
	}
	return 0, credbatch.Errorf(credbatch.KindInvalid, "cell: a %T is not a cell type", v)
}

// cell reads a spooled cell back as the value to write: strings through Safe, dates with
// their styles.
func (s *spool) cell(st styles) (any, error) {
	tag, err := s.int()
	if err != nil {
		return nil, err
	}
	switch tag {
	case cellNil:
		return nil, nil
	case cellString:
		v, err := s.string()
		return Safe(v), err
	case cellInt:
		v, err := s.varint()
		return int(v), err
	case cellFloat:
		v, err := s.varint()
		return math.Float64frombits(uint64(v)), err
	case cellTime:
		sec, err := s.varint()
		if err != nil {
			return nil, err
		}
		ns, err := s.int()
		if err != nil {
			return nil, err
		}
		return excelize.Cell{Value: time.Unix(sec, int64(ns)).UTC(), StyleID: st.dateTime}, nil
	case cellDay:
		days, err := s.varint()
		if err != nil {
			return nil, err
		}
		return excelize.Cell{Value: time.Unix(days*86400, 0).UTC(), StyleID: st.day}, nil
	}
	return nil, fmt.Errorf("spool: unknown cell tag %d", tag)
}

// Columns of the failed-recipients workbook that the delivery report attaches and that an
// upload of it back (corrected addresses) reads.
const (
	CredentialIDHeader   = "Credential ID"
	CorrectedEmailHeader = "Corrected email"
)
