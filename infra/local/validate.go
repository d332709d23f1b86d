package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/sheet"
	"github.com/credbatch/credbatch/shared/workbook"
)

// loadDefinitions reads a definitions file into a map by id.
func loadDefinitions(path string) (map[string]credbatch.Definition, []credbatch.Definition, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	file, err := credbatch.ParseDefinitions(f)
	if err != nil {
		return nil, nil, err
	}
	m := make(map[string]credbatch.Definition, len(file.Definitions))
	for _, d := range file.Definitions {
		m[d.ID] = d
	}
	return m, file.Definitions, nil
}

// loadMapping reads a mapping file: a JSON object of header as written → field or "skip".
func loadMapping(path string) (map[string]credbatch.Field, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]credbatch.Field
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("mapping file %s: want a JSON object of header → field: %w", path, err)
	}
	return m, nil
}

type validateFlags struct {
	definitions, definition, dateOrder, mapping, sheet, report string
	maxRows                                                    int
}

func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var fl validateFlags
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&fl.definitions, "definitions", "", "definitions file (JSON)")
	fs.StringVar(&fl.definition, "definition", "", "definition id, when the file has no ID column")
	fs.StringVar(&fl.dateOrder, "date-order", "", "DMY or MDY, for ambiguous text dates")
	fs.StringVar(&fl.mapping, "mapping", "", "mapping file (JSON: header → field or skip)")
	fs.StringVar(&fl.sheet, "sheet", "", "sheet to read (default: the first visible sheet)")
	fs.StringVar(&fl.report, "report", "", "write the error-report workbook here")
	fs.IntVar(&fl.maxRows, "max-rows", sheet.DefaultLimits().MaxRows, "most data rows accepted")
	if err := fs.Parse(interleave(args)); err != nil {
		return exitUsage
	}
	if fl.definitions == "" || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "validate needs --definitions FILE.json and exactly one INPUT file")
		return exitUsage
	}
	defs, _, err := loadDefinitions(fl.definitions)
	if err != nil {
		fmt.Fprintf(stderr, "definitions: %v\n", err)
		return exitUsage
	}
	opts := credbatch.Options{DefinitionID: fl.definition, Sheet: fl.sheet}
	switch o := credbatch.DateOrder(strings.ToUpper(fl.dateOrder)); o {
	case credbatch.DateOrderAuto, credbatch.DateOrderDMY, credbatch.DateOrderMDY:
		opts.DateOrder = o
	default:
		fmt.Fprintf(stderr, "--date-order %q: use DMY or MDY\n", fl.dateOrder)
		return exitUsage
	}
	if fl.mapping != "" {
		if opts.Mapping, err = loadMapping(fl.mapping); err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
	}
	limits := sheet.DefaultLimits()
	limits.MaxRows = fl.maxRows
	input := fs.Arg(0)
	in := ingest.Input{Path: input, Name: filepath.Base(input), Definitions: defs, Options: opts,
		Today: time.Now().Format(time.DateOnly), Limits: limits, TmpDir: os.TempDir()}
	doc, err := validateFile(ctx, in, fl.report, newProgress(stderr))
	if err != nil {
		fmt.Fprintf(stderr, "validate: %v\n", err)
		return exitFailure
	}
	defer doc.Close()
	if doc.Error != nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			File  string            `json:"file"`
			Error *ingest.FileError `json:"error"`
		}{doc.File, doc.Error})
		return exitRejected
	}
	// The findings are streamed from disk: memory does not grow with them.
	if err := doc.WriteJSON(stdout, true, "  "); err != nil {
		fmt.Fprintf(stderr, "validate: %v\n", err)
		return exitFailure
	}
	return doc.ExitCode()
}

// validateFile runs the dry run and writes the error report when asked. The report is
// streamed during the read; when a later value resolved ambiguous dates, the report is
// written again in a second pass with the re-validated rows in place.
func validateFile(ctx context.Context, in ingest.Input, reportPath string, prog *progress) (*ingest.Document, error) {
	var rep *reportWriter
	if reportPath != "" {
		rep = &reportWriter{path: reportPath, defs: in.Definitions}
		in.OnColumns = rep.begin
	}
	doc, err := ingest.Validate(ctx, in, nil, func(ctx context.Context, rows []credbatch.Row) error {
		prog.add(len(rows))
		return rep.write(ctx, rows)
	})
	prog.done()
	if err != nil || doc.Error != nil {
		rep.abort()
		return doc, err
	}
	if err := rep.close(); err != nil {
		doc.Close()
		return nil, err
	}
	if rep == nil || len(doc.Resolutions) == 0 {
		return doc, nil
	}
	if err := rewriteReport(ctx, in, reportPath, doc); err != nil {
		doc.Close()
		return nil, err
	}
	return doc, nil
}

// rewriteReport writes the error report again with the document's re-validated rows in
// place of the rows as first read (both in row order).
func rewriteReport(ctx context.Context, in ingest.Input, reportPath string, doc *ingest.Document) error {
	next, stop := iter.Pull2(doc.Amended())
	defer stop()
	fix, ferr, more := next()
	rep := &reportWriter{path: reportPath, defs: in.Definitions}
	in.OnColumns = rep.begin
	_, _, err := ingest.Run(ctx, in, func(ctx context.Context, rows []credbatch.Row) error {
		for i, r := range rows {
			for more && ferr == nil && fix.Number < r.Number {
				fix, ferr, more = next()
			}
			if ferr != nil {
				return ferr
			}
			if more && fix.Number == r.Number {
				rows[i] = fix
			}
		}
		return rep.write(ctx, rows)
	})
	if err != nil {
		rep.abort()
		return err
	}
	return rep.close()
}

// reportWriter streams rows into workbook.ErrorReport, which runs in its own goroutine from
// the moment the columns are known. A nil *reportWriter does nothing.
type reportWriter struct {
	path    string
	defs    map[string]credbatch.Definition // the column types (dates and numbers as real cells)
	rows    chan credbatch.Row
	errc    chan error
	started bool
}

func (w *reportWriter) begin(cols []credbatch.Column) {
	columns := workbook.TypedColumns(cols, w.defs)
	w.rows = make(chan credbatch.Row, 1024)
	w.errc = make(chan error, 1)
	w.started = true
	go func() {
		f, err := os.Create(w.path)
		if err != nil {
			for range w.rows {
			}
			w.errc <- err
			return
		}
		seq := func(yield func(credbatch.Row, error) bool) {
			for r := range w.rows {
				if !yield(r, nil) {
					break
				}
			}
			for range w.rows {
			}
		}
		err = workbook.ErrorReport(f, workbook.ErrorReportInput{Columns: columns, Rows: seq})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		w.errc <- err
	}()
}

func (w *reportWriter) write(ctx context.Context, rows []credbatch.Row) error {
	if w == nil || !w.started {
		return nil
	}
	for _, r := range rows {
		select {
		case w.rows <- r:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (w *reportWriter) close() error {
	if w == nil || !w.started {
		return nil
	}
	close(w.rows)
	return <-w.errc
}

func (w *reportWriter) abort() {
	if w == nil || !w.started {
		return
	}
	close(w.rows)
	<-w.errc
	os.Remove(w.path)
}
