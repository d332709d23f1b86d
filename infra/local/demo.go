package main

import (
	"context"
	"embed"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/sheet"
)

//go:embed sample/definitions.json sample/northwind-awards.xlsx
var sample embed.FS

// Names of the bundled sample files.
const (
	sampleDefinitions = "sample/definitions.json"
	sampleWorkbook    = "sample/northwind-awards.xlsx"
)

// writeSample copies a bundled sample file into dir and returns its path.
func writeSample(dir, name string) (string, error) {
	data, err := sample.ReadFile(name)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, filepath.Base(name))
	return path, os.WriteFile(path, data, 0o644)
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data", "demo-data", "data directory (created; emptied first)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if err := demo(ctx, *dir, stdout); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// demo writes the templates of the sample definitions, validates the sample workbook and
// writes its error report, printing where everything went.
func demo(ctx context.Context, dir string, out io.Writer) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for _, sub := range []string{"templates", "reports"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	defsPath, err := writeSample(dir, sampleDefinitions)
	if err != nil {
		return err
	}
	byID, defs, err := loadDefinitions(defsPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "credbatch demo — data directory %s\n\n", dir)
	fmt.Fprintf(out, "1. Loaded %d credential definitions from %s\n", len(defs), defsPath)
	for _, d := range defs {
		fmt.Fprintf(out, "   - %-12s %s\n", d.ID, d.Name)
	}

	fmt.Fprintln(out, "\n2. Templates for issuers to fill in:")
	for _, d := range defs {
		for _, format := range []string{"xlsx", "csv"} {
			p := filepath.Join(dir, "templates", d.ID+"."+format)
			if err := writeTemplate(p, format, []credbatch.Definition{d}); err != nil {
				return fmt.Errorf("template %s: %w", p, err)
			}
			fmt.Fprintf(out, "   %s\n", p)
		}
	}
	combined := filepath.Join(dir, "templates", "combined.xlsx")
	if err := writeTemplate(combined, "xlsx", defs); err != nil {
		return err
	}
	fmt.Fprintf(out, "   %s (all definitions, ID column first)\n", combined)

	input, err := writeSample(dir, sampleWorkbook)
	if err != nil {
		return err
	}
	report := filepath.Join(dir, "reports", "northwind-awards-errors.xlsx")
	res, err := validateFile(ctx, ingest.Input{Path: input, Name: filepath.Base(input), Definitions: byID,
		Today: time.Now().Format(time.DateOnly), Limits: sheet.DefaultLimits(), TmpDir: os.TempDir()}, report, newProgress(io.Discard))
	if err != nil {
		return err
	}
	if res.Error != nil {
		return fmt.Errorf("the sample workbook was rejected: %s", res.Error.Message)
	}
	fmt.Fprintf(out, "\n3. Validated %s: %d rows, %d valid, %d invalid\n", input, res.Rows, res.Valid, res.Invalid)
	for id, n := range res.Definitions {
		fmt.Fprintf(out, "   %-12s %d rows\n", id, n)
	}
	fmt.Fprintln(out, "   Findings:")
	for _, f := range res.Errors {
		fmt.Fprintf(out, "   row %-3d %-26s %-20s %s\n", f.Row, f.Column, f.Code, f.Message)
	}
	for _, f := range res.Warnings {
		fmt.Fprintf(out, "   row %-3d %-26s %-20s %s (warning)\n", f.Row, f.Column, f.Code, f.Message)
	}
	fmt.Fprintf(out, "\n4. Error report for the issuer (invalid cells highlighted): %s\n", report)
	fmt.Fprintln(out, "\nDone.")
	return nil
}
