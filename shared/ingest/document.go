package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/validate"
)

// Document is the validate document of the CLI's validate and POST /api/validate: a Result
// whose row findings are kept in temporary files, not in memory, and streamed by WriteJSON,
// so that memory does not grow with the number of findings. Close removes the files.
type Document struct {
	Result
	errs, warns *spool[credbatch.Finding]
	amended     *spool[credbatch.Row] // rows re-validated after their date column proved its order, ascending
	redone      []int                 // their numbers, ascending
}

// Validate is the dry run: Run with check as its sink (store-backed checks that add findings
// in place; nil for none), then observe (nil for none; it sees each row once, as first
// validated), every row finding spooled to disk. When a later value proved the date order of
// a column, the rows read before the proof are re-validated: the file is read a second time
// and only those rows are checked again and amended in the document (see Amended).
func Validate(ctx context.Context, in Input, check, observe Sink) (*Document, error) {
	d := &Document{}
	var err error
	if d.errs, err = newSpool[credbatch.Finding](in.TmpDir); err == nil {
		if d.warns, err = newSpool[credbatch.Finding](in.TmpDir); err == nil {
			d.amended, err = newSpool[credbatch.Row](in.TmpDir)
		}
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("validate: %w", err)
	}
	collect := func(ctx context.Context, rows []credbatch.Row) error {
		if check != nil {
			if err := check(ctx, rows); err != nil {
				return err
			}
		}
		for _, r := range rows {
			for _, f := range r.Findings {
				if err := d.spoolOf(f).put(f); err != nil {
					return err
				}
			}
		}
		if observe != nil {
			return observe(ctx, rows)
		}
		return nil
	}
	res, v, err := Run(ctx, in, collect)
	d.Result = res
	if err != nil || res.Error != nil {
		if err != nil {
			d.Close()
			return nil, err
		}
		return d, nil
	}
	if err := d.resolve(ctx, in, v, check); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *Document) spoolOf(f credbatch.Finding) *spool[credbatch.Finding] {
	if f.Severity == credbatch.SeverityWarning {
		return d.warns
	}
	return d.errs
}

// resolve re-validates the rows that Result.Resolutions lists, reading the file again.
func (d *Document) resolve(ctx context.Context, in Input, v *validate.Validator, check Sink) error {
	for _, r := range d.Resolutions {
		d.redone = append(d.redone, r.Rows...)
	}
	if len(d.redone) == 0 {
		return nil
	}
	slices.Sort(d.redone)
	d.redone = slices.Compact(d.redone)
	var before []credbatch.Row
	in.OnColumns = nil
	_, _, err := Run(ctx, in, func(ctx context.Context, rows []credbatch.Row) error {
		before = before[:0]
		for _, r := range rows {
			if _, ok := slices.BinarySearch(d.redone, r.Number); ok {
				before = append(before, r)
			}
		}
		if len(before) == 0 {
			return nil
		}
		// The checks that added findings to these rows the first time, so that their status
		// is the one the counts hold.
		if check != nil {
			if err := check(ctx, before); err != nil {
				return err
			}
		}
		for _, b := range before {
			after := v.Revalidate(b)
			d.Result.Amend(b, after)
			if err := d.amended.put(after); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("validate: re-read for resolved dates: %w", err)
	}
	return nil
}

// Amended returns the re-validated rows in ascending order (those whose ambiguous date a
// later value of its column resolved), for a caller that writes the rows elsewhere too.
func (d *Document) Amended() iter.Seq2[credbatch.Row, error] {
	return d.amended.all()
}

// WriteJSON writes the document as encoding/json writes the Result with every finding in
// Errors and Warnings (the same bytes: the field names, order and escaping of Result's tags,
// with SetEscapeHTML(escapeHTML) and SetIndent("", indent)), streaming the findings from
// disk. File-level warnings (the header row's) come first, then the rows' in row order.
func (d *Document) WriteJSON(w io.Writer, escapeHTML bool, indent string) error {
	head := d.Result
	head.Errors, head.Warnings = []credbatch.Finding{}, []credbatch.Finding{}
	enc := func(v any, prefix string) ([]byte, error) {
		var buf bytes.Buffer
		e := json.NewEncoder(&buf)
		e.SetEscapeHTML(escapeHTML)
		e.SetIndent(prefix, indent)
		if err := e.Encode(v); err != nil {
			return nil, err
		}
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
	}
	doc, err := enc(head, "")
	if err != nil {
		return fmt.Errorf("validate document: %w", err)
	}
	sep := ":"
	if indent != "" {
		sep = ": "
	}
	errKey, warnKey := []byte(`"errors"`+sep+`[]`), []byte(`"warnings"`+sep+`[]`)
	i := bytes.Index(doc, errKey)
	j := bytes.Index(doc, warnKey)
	if i < 0 || j < i {
		return fmt.Errorf("validate document: no errors and warnings arrays in %.80q", doc)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	item := func(f credbatch.Finding, first bool) error {
		b, err := enc(f, indent+indent)
		if err != nil {
			return err
		}
		if !first {
			bw.WriteByte(',')
		}
		if indent != "" {
			bw.WriteString("\n" + indent + indent)
		}
		_, err = bw.Write(b)
		return err
	}
	array := func(s *spool[credbatch.Finding], fileLevel []credbatch.Finding, severity credbatch.Severity) error {
		bw.WriteByte('[')
		n := 0
		for _, f := range fileLevel {
			if err := item(f, n == 0); err != nil {
				return err
			}
			n++
		}
		err := d.merge(s, severity, func(f credbatch.Finding) error {
			err := item(f, n == 0)
			n++
			return err
		})
		if err != nil {
			return err
		}
		if n > 0 && indent != "" {
			bw.WriteString("\n" + indent)
		}
		return bw.WriteByte(']')
	}
	bw.Write(doc[:i+len(errKey)-2])
	if err := array(d.errs, nil, credbatch.SeverityError); err != nil {
		return fmt.Errorf("validate document: %w", err)
	}
	bw.Write(doc[i+len(errKey) : j+len(warnKey)-2])
	if err := array(d.warns, d.Warnings, credbatch.SeverityWarning); err != nil {
		return fmt.Errorf("validate document: %w", err)
	}
	bw.Write(doc[j+len(warnKey):])
	bw.WriteByte('\n')
	return bw.Flush()
}

// merge calls fn for the spooled findings in row order, the re-validated rows' findings in
// place of their first ones.
func (d *Document) merge(s *spool[credbatch.Finding], severity credbatch.Severity, fn func(credbatch.Finding) error) error {
	next, stop := iter.Pull2(d.amended.all())
	defer stop()
	pending, perr, more := next()
	// emit writes the amended rows' findings up to row n.
	emit := func(n int) error {
		for more && (perr != nil || pending.Number <= n) {
			if perr != nil {
				return perr
			}
			for _, f := range pending.Findings {
				if (f.Severity == credbatch.SeverityWarning) == (severity == credbatch.SeverityWarning) {
					if err := fn(f); err != nil {
						return err
					}
				}
			}
			pending, perr, more = next()
		}
		return nil
	}
	for f, err := range s.all() {
		if err != nil {
			return err
		}
		if err := emit(f.Row); err != nil {
			return err
		}
		if _, redone := slices.BinarySearch(d.redone, f.Row); redone {
			continue
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return emit(int(^uint(0) >> 1))
}

// Close removes the document's temporary files.
func (d *Document) Close() error {
	if d == nil {
		return nil
	}
	return errors.Join(d.errs.close(), d.warns.close(), d.amended.close())
}

// spool is a temporary file of JSON values written once, then read back (any number of
// times) in order. A nil *spool is empty.
type spool[T any] struct {
	f   *os.File
	w   *bufio.Writer
	enc *json.Encoder
}

func newSpool[T any](dir string) (*spool[T], error) {
	f, err := os.CreateTemp(dir, "credbatch-validate-*")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &spool[T]{f: f, w: bufio.NewWriterSize(f, 64<<10)}
	s.enc = json.NewEncoder(s.w)
	s.enc.SetEscapeHTML(false)
	return s, nil
}

func (s *spool[T]) put(v T) error {
	if err := s.enc.Encode(v); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// all decodes the values in order.
func (s *spool[T]) all() iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		if s == nil || s.f == nil {
			return
		}
		if err := s.w.Flush(); err != nil {
			yield(zero, fmt.Errorf("spool: %w", err))
			return
		}
		dec := json.NewDecoder(bufio.NewReaderSize(io.NewSectionReader(s.f, 0, 1<<62), 64<<10))
		for {
			var v T
			err := dec.Decode(&v)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(zero, fmt.Errorf("spool: %w", err))
				return
			}
			if !yield(v, nil) {
				return
			}
		}
	}
}

// close removes the file.
func (s *spool[T]) close() error {
	if s == nil || s.f == nil {
		return nil
	}
	name := s.f.Name()
	err := s.f.Close()
	s.f = nil
	return errors.Join(err, os.Remove(name))
}
