// Package externaltest finds the outside readers tests check our files with (the test venv's Python with Pillow or openpyxl, poppler's pdftotext), skipping a test when one is missing, or failing it under CI=true.
package externaltest

import (
	"os"
	"os/exec"
	"path/filepath"
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
