package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
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
	res, err := validateFile(ctx, in, fl.report, newProgress(stderr))
	if err != nil {
		fmt.Fprintf(stderr, "validate: %v\n", err)
		return exitFailure
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if res.Error != nil {
		_ = enc.Encode(struct {
			File  string            `json:"file"`
			Error *ingest.FileError `json:"error"`
		}{res.File, res.Error})
		return exitRejected
	}
	if err := enc.Encode(res); err != nil {
		return exitFailure
	}
	return res.ExitCode()
}

// validateFile runs the pipeline, keeps the rows whose ambiguous dates may be resolved later,
// and writes the error report when asked. The report is streamed during the read; when a
// later value resolved ambiguous dates, the report is written again in a second pass with the
// re-validated rows in place.
func validateFile(ctx context.Context, in ingest.Input, reportPath string, prog *progress) (ingest.Result, error) {
	pending := map[int]credbatch.Row{} // rows with an ambiguous date, as first reported
	var rep *reportWriter
	if reportPath != "" {
		rep = &reportWriter{path: reportPath}
		in.OnColumns = rep.begin
	}
	sink := func(ctx context.Context, rows []credbatch.Row) error {
		for _, r := range rows {
			for _, f := range r.Findings {
				if f.Code == credbatch.CodeAmbiguousDate {
					pending[r.Number] = r
					break
				}
			}
		}
		prog.add(len(rows))
		return rep.write(ctx, rows)
	}
	res, v, err := ingest.Run(ctx, in, sink)
	prog.done()
	if err != nil || res.Error != nil {
		rep.abort()
		return res, err
	}
	if err := rep.close(); err != nil {
		return res, err
	}
	fixed := map[int]credbatch.Row{}
	for _, r := range res.Resolutions {
		for _, n := range r.Rows {
			before, ok := pending[n]
			if !ok {
				continue
			}
			after := v.Revalidate(before)
			fixed[n] = after
			res.Amend(before, after)
		}
	}
	if len(fixed) > 0 && rep != nil {
		rep = &reportWriter{path: reportPath}
		in.OnColumns = rep.begin
		_, _, err := ingest.Run(ctx, in, func(ctx context.Context, rows []credbatch.Row) error {
			for i, r := range rows {
				if f, ok := fixed[r.Number]; ok {
					rows[i] = f
				}
			}
			return rep.write(ctx, rows)
		})
		if err != nil {
			rep.abort()
			return res, err
		}
		if err := rep.close(); err != nil {
			return res, err
		}
	}
	return res, nil
}

// reportWriter streams rows into workbook.ErrorReport, which runs in its own goroutine from
// the moment the columns are known. A nil *reportWriter does nothing.
type reportWriter struct {
	path    string
	rows    chan credbatch.Row
	errc    chan error
	started bool
}

func (w *reportWriter) begin(cols []credbatch.Column) {
	headers := make([]string, len(cols))
	for i, c := range cols {
		headers[i] = c.Header
	}
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
		err = workbook.ErrorReport(f, headers, seq, nil)
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
