package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/workbook"
)

func cmdTemplate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("template", flag.ContinueOnError)
	fs.SetOutput(stderr)
	defsPath := fs.String("definitions", "", "definitions file (JSON)")
	format := fs.String("format", "xlsx", "xlsx or csv")
	out := fs.String("o", "", "output file")
	if err := fs.Parse(interleave(args)); err != nil {
		return exitUsage
	}
	if *defsPath == "" || *out == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "template needs --definitions FILE.json, -o OUT and at least one definition ID")
		return exitUsage
	}
	byID, _, err := loadDefinitions(*defsPath)
	if err != nil {
		fmt.Fprintf(stderr, "definitions: %v\n", err)
		return exitUsage
	}
	var defs []credbatch.Definition
	for _, id := range fs.Args() {
		d, ok := byID[id]
		if !ok {
			fmt.Fprintf(stderr, "definition %q is not in %s\n", id, *defsPath)
			return exitUsage
		}
		defs = append(defs, d)
	}
	if err := writeTemplate(*out, *format, defs); err != nil {
		fmt.Fprintf(stderr, "template: %v\n", err)
		if credbatch.IsKind(err, credbatch.KindInvalid) {
			return exitUsage
		}
		return exitFailure
	}
	fmt.Fprintln(stdout, *out)
	return exitOK
}

// writeTemplate writes a single or combined template in the format.
func writeTemplate(path, format string, defs []credbatch.Definition) error {
	var write func(io.Writer, []credbatch.Definition) error
	switch format {
	case "xlsx":
		write = workbook.TemplateXLSX
	case "csv":
		write = workbook.TemplateCSV
	default:
		return credbatch.Errorf(credbatch.KindInvalid, "--format %q: use xlsx or csv", format)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f, defs); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
