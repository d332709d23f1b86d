// Package externaltest finds the outside readers tests check our files with (the test venv's Python with Pillow or openpyxl, poppler's pdftotext), skipping a test when one is missing, or failing it under CI=true.
package externaltest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// missing skips the test, or fails it under CI=true: CI must never pass by skipping.
func missing(tb testing.TB, what string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is missing (make setup installs it)", what)
	}
	tb.Skipf("%s is missing; run make setup", what)
}

// root is the module root (the directory holding go.mod) above the working directory.
func root(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			tb.Fatalf("no go.mod above the working directory")
		}
		dir = up
	}
}

// Python returns the test venv's python (./.venv, made by make setup) after checking that it
// imports every module.
func Python(tb testing.TB, modules ...string) string {
	tb.Helper()
	py := filepath.Join(root(tb), ".venv", "bin", "python")
	if _, err := os.Stat(py); err != nil {
		missing(tb, "the test venv ("+py+")")
	}
	if len(modules) > 0 {
		if out, err := exec.Command(py, "-c", "import "+strings.Join(modules, ", ")).CombinedOutput(); err != nil {
			missing(tb, "Python modules "+strings.Join(modules, ", ")+" in the test venv ("+strings.TrimSpace(string(out))+")")
		}
	}
	return py
}

// Command returns the path of a program on PATH.
func Command(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(tb, name)
	}
	return p
}

// Run runs a program with arguments and returns its standard output, failing the test
// (with the standard error) when it exits non-zero.
func Run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// Cell is a worksheet cell as openpyxl reads it.
type Cell struct {
	Value  any    `json:"v"` // string, float64, bool, nil; a date or date-time as ISO 8601 text
	Type   string `json:"t"` // openpyxl's data_type: "s" text, "n" number, "d" date, "b" bool, "f" formula
	IsDate bool   `json:"d"` // a number cell formatted as a date (openpyxl's is_date)
	Format string `json:"f"` // the number format
}

// Text is the cell's value as text ("" for an empty cell, numbers without a trailing ".0").
func (c Cell) Text() string {
	switch v := c.Value.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(c.Value)
}

// openpyxlScript prints every sheet of a workbook as JSON: {sheet: [[cell, ...], ...]}. It
// reads in read-only mode, which trusts the declared dimension, as users' scripts do.
const openpyxlScript = `
import datetime, json, sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1], read_only=True)
out = {}
for ws in wb.worksheets:
    rows = []
    for row in ws.iter_rows():
        cells = []
        for c in row:
            v = c.value
            if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
                v = v.isoformat()
            cells.append({"v": v, "t": getattr(c, "data_type", "n"), "d": bool(getattr(c, "is_date", False)), "f": getattr(c, "number_format", None) or ""})
        rows.append(cells)
    out[ws.title] = rows
json.dump(out, sys.stdout)
`

// Openpyxl reads a workbook with openpyxl (the test venv's), sheet by sheet.
func Openpyxl(tb testing.TB, data []byte) map[string][][]Cell {
	tb.Helper()
	py := Python(tb, "openpyxl")
	path := filepath.Join(tb.TempDir(), "workbook.xlsx")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	out := Run(tb, py, "-c", openpyxlScript, path)
	var sheets map[string][][]Cell
	if err := json.Unmarshal([]byte(out), &sheets); err != nil {
		tb.Fatalf("openpyxl output: %v\n%s", err, out)
	}
	return sheets
}

// openpyxlFillScript sets cells of a sheet (JSON {"A2": "value"}) and saves the workbook, as
// a user editing it in a spreadsheet application would.
const openpyxlFillScript = `
import json, sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
ws = wb[sys.argv[2]]
for ref, value in json.loads(sys.argv[3]).items():
    ws[ref] = value
wb.save(sys.argv[1])
`

// OpenpyxlFill returns the workbook with the cells of the sheet set by openpyxl (cell
// reference → text), saved by openpyxl.
func OpenpyxlFill(tb testing.TB, data []byte, sheet string, cells map[string]string) []byte {
	tb.Helper()
	py := Python(tb, "openpyxl")
	path := filepath.Join(tb.TempDir(), "edited.xlsx")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	js, err := json.Marshal(cells)
	if err != nil {
		tb.Fatal(err)
	}
	Run(tb, py, "-c", openpyxlFillScript, path, sheet, string(js))
	out, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
