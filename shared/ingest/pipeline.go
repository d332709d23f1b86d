// Package ingest turns an uploaded file into validated rows: read, map, validate, and (with a
// store) persist a batch idempotently.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/sheet"
	"github.com/credbatch/credbatch/shared/validate"
	"github.com/credbatch/credbatch/shared/workbook"
)

// Result summarises a validated file; with every finding in Errors and Warnings it is the
// JSON document the CLI prints and POST /api/validate answers (see Document, which writes it
// with the findings streamed from disk). Run leaves Errors empty and Warnings to the
// file-level warnings: row findings are on the rows its sink receives, and holding them all
// would make memory grow with them.
type Result struct {
	File        string                `json:"file"`
	Format      string                `json:"format,omitempty"`
	Rows        int                   `json:"rows"`
	Valid       int                   `json:"valid"`
	Invalid     int                   `json:"invalid"`
	Columns     []credbatch.Column    `json:"columns"`
	Definitions map[string]int        `json:"definitions"`
	Errors      []credbatch.Finding   `json:"errors"`
	Warnings    []credbatch.Finding   `json:"warnings"`
	Error       *FileError            `json:"error,omitempty"` // the file was rejected
	Resolutions []validate.Resolution `json:"-"`
}

// FileError is a file-level rejection.
type FileError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Input says what to read and how.
type Input struct {
	Path        string // the file on local disk
	Name        string // the upload's file name (its extension decides the format)
	Definitions map[string]credbatch.Definition
	Options     credbatch.Options
	Today       string // YYYY-MM-DD, the default issue date
	Limits      sheet.Limits
	TmpDir      string
	// ChunkSize is how many rows are handed to the sink at once (default 500).
	ChunkSize int
	// OnColumns, when set, is called once the header is mapped, before the first rows.
	OnColumns func([]credbatch.Column)
	// Evidence holds the evidence files uploaded with the spreadsheet (nil: none).
	Evidence *EvidenceFiles
	// Corrections finds the recipients of a failed-recipients workbook sent back with
	// corrected addresses; nil refuses such a file (it needs the store).
	Corrections Corrector
}

// Sink receives validated rows in chunks, in file order. It may change rows in place (for
// example add store-backed findings); they are counted after it returns. The slice is reused
// after the call returns; a sink keeps copies of what it keeps.
type Sink func(ctx context.Context, rows []credbatch.Row) error

// rejected reports whether err is a file-level rejection (as opposed to an I/O failure).
func rejected(err error) (*credbatch.Error, bool) {
	var e *credbatch.Error
	if errors.As(err, &e) && e.Kind == credbatch.KindInvalid {
		return e, true
	}
	return nil, false
}

// Run reads and validates a file, handing rows to sink as it goes. Reading and validation
// overlap: the reader runs in its own goroutine and passes batches of records through a
// channel. A file-level rejection is reported in Result.Error with a nil error; the returned
// error is for failures that are not the file's fault (I/O, the sink).
func Run(ctx context.Context, in Input, sink Sink) (Result, *validate.Validator, error) {
	res := Result{File: in.Name, Columns: []credbatch.Column{}, Definitions: map[string]int{},
		Errors: []credbatch.Finding{}, Warnings: []credbatch.Finding{}}
	fail := func(err error) (Result, *validate.Validator, error) {
		if e, ok := rejected(err); ok {
			res.Error = &FileError{Code: e.Code, Message: e.Message}
			return res, nil, nil
		}
		return res, nil, err
	}
	rd, err := sheet.Open(in.Path, in.Name, sheet.Options{Sheet: in.Options.Sheet, Limits: in.Limits, TmpDir: in.TmpDir})
	if err != nil {
		return fail(err)
	}
	defer rd.Close()
	res.Format = rd.Format()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunk := in.ChunkSize
	if chunk <= 0 {
		chunk = 500
	}
	batches := make(chan []sheet.Record, 4)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		buf := make([]sheet.Record, 0, chunk)
		for {
			rec, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				readErr <- err
				return
			}
			buf = append(buf, rec)
			if len(buf) == chunk {
				select {
				case batches <- buf:
				case <-ctx.Done():
					readErr <- ctx.Err()
					return
				}
				buf = make([]sheet.Record, 0, chunk)
			}
		}
		if len(buf) > 0 {
			select {
			case batches <- buf:
			case <-ctx.Done():
				readErr <- ctx.Err()
				return
			}
		}
		readErr <- nil
	}()
	drain := func() {
		cancel()
		for range batches {
		}
	}

	var v *validate.Validator
	var ev evidenceRows
	var reupload bool     // the file is an error report sent back after fixing
	var corr *corrections // the file is a failed-recipients workbook with corrected addresses
	out := make([]credbatch.Row, 0, chunk)
	for recs := range batches {
		start := 0
		if v == nil {
			h := recs[0]
			header := h.Cells
			reupload = isReport(h.Cells)
			if reupload {
				in.Options = skipReportColumns(in.Options)
			}
			if corr = newCorrections(h.Cells, in.Definitions, in.Corrections); corr != nil {
				if in.Corrections == nil {
					drain()
					return fail(credbatch.FileError(credbatch.CodeUnsupportedFormat, "This is a failed-recipients workbook from a delivery report. Upload it to the service (the console's Upload page or the bucket's uploads/ folder), which sends the credentials again to the corrected addresses."))
				}
				in.Options = corr.options(in.Options)
				header = corr.header
			}
			v, err = validate.New(validate.Config{Definitions: in.Definitions, Options: in.Options,
				Today: in.Today, Date1904: rd.Date1904()}, header, h.Number)
			if err != nil {
				drain()
				return fail(err)
			}
			for _, fl := range h.Flaws {
				if corr == nil {
					v.HeaderUndecodable(fl.Column-1, fl.Encoding, fl.Detail)
				}
			}
			ev = newEvidenceRows(in.Definitions, in.Evidence, v)
			res.Columns = v.Columns()
			if in.OnColumns != nil {
				in.OnColumns(res.Columns)
			}
			start = 1
		}
		out = out[:0]
		for _, rec := range recs[start:] {
			if corr != nil {
				r, ok, err := corr.row(ctx, v, rec.Number, rec.Cells)
				if err != nil {
					drain()
					return res, v, fmt.Errorf("row %d: %w", rec.Number, err)
				}
				if ok {
					out = append(out, r)
				}
				continue
			}
			if reupload {
				for i, c := range rec.Cells {
					rec.Cells[i] = workbook.Restore(c)
				}
			}
			r := v.Row(rec.Number, rec.Cells)
			for _, fl := range rec.Flaws {
				v.Undecodable(&r, fl.Column-1, fl.Encoding, fl.Detail)
			}
			if err := ev.row(ctx, &r); err != nil {
				drain()
				return res, v, fmt.Errorf("row %d: evidence: %w", rec.Number, err)
			}
			out = append(out, r)
		}
		if len(out) == 0 {
			continue
		}
		if sink != nil {
			// The sink may add findings in place (store-backed checks) before rows are counted.
			if err := sink(ctx, out); err != nil {
				drain()
				return res, v, err
			}
		}
		for _, r := range out {
			res.count(r)
		}
	}
	if err := <-readErr; err != nil {
		return fail(err)
	}
	if v == nil {
		return fail(credbatch.FileError(credbatch.CodeEmptyFile, "The file has no rows. Fill in the template's header row and at least one data row, then upload it again."))
	}
	if res.Rows == 0 && corr != nil {
		return fail(credbatch.FileError(credbatch.CodeEmptyFile, "No row of this failed-recipients workbook has a Corrected email. Type the corrected addresses in that column (leave the others empty), then upload it again."))
	}
	if res.Rows == 0 {
		return fail(credbatch.FileError(credbatch.CodeEmptyFile, "The file has a header row but no data rows. Add one row per recipient below the header and upload it again."))
	}
	res.Warnings = append(res.Warnings, v.Warnings()...)
	res.Warnings = append(res.Warnings, in.Evidence.Findings()...)
	res.Resolutions = v.Finish()
	for id, n := range v.Counts() {
		res.Definitions[id] = n
	}
	return res, v, nil
}

// isReport reports whether a header row is that of an error-report workbook (its extra
// columns first), which issuers fix and upload again.
func isReport(header []string) bool {
	if len(header) < len(workbook.ReportColumns) {
		return false
	}
	for i, c := range workbook.ReportColumns {
		if header[i] != c {
			return false
		}
	}
	return true
}

// skipReportColumns maps the error report's extra columns to skip, unless the upload's own
// mapping says otherwise.
func skipReportColumns(o credbatch.Options) credbatch.Options {
	m := make(map[string]credbatch.Field, len(o.Mapping)+len(workbook.ReportColumns))
	for _, c := range workbook.ReportColumns {
		m[c] = credbatch.FieldSkip
	}
	for k, f := range o.Mapping {
		m[k] = f
	}
	o.Mapping = m
	return o
}

// count adds a row's outcome to the counts.
func (res *Result) count(r credbatch.Row) {
	res.Rows++
	if r.Status == credbatch.RowInvalid {
		res.Invalid++
	} else {
		res.Valid++
	}
}

// Amend updates the counts for a re-validated row (after date-order resolution): before is
// the row as first counted, after the re-validated one.
func (res *Result) Amend(before, after credbatch.Row) {
	if before.Status == credbatch.RowInvalid {
		res.Invalid--
	} else {
		res.Valid--
	}
	res.Rows--
	res.count(after)
}

// ExitCode is the CLI exit status for a result: 0 every row valid, 1 some rows invalid, 2 the
// file was rejected.
func (res Result) ExitCode() int {
	switch {
	case res.Error != nil:
		return 2
	case res.Invalid > 0:
		return 1
	}
	return 0
}

// String is a one-line summary for logs and progress output.
func (res Result) String() string {
	if res.Error != nil {
		return fmt.Sprintf("%s: rejected (%s)", res.File, res.Error.Code)
	}
	return fmt.Sprintf("%s: %d rows, %d valid, %d invalid", res.File, res.Rows, res.Valid, res.Invalid)
}
