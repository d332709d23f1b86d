package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/workbook"
)

// TestValidateCommand runs `local validate --report` on a file whose first row's date is
// resolved by a later one and whose other rows are invalid: the document (streamed from
// disk) decodes to the counts and findings, the report shows the re-validated row as valid,
// and the exit status says some rows are invalid.
func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	defs := filepath.Join(dir, "defs.json")
	if err := os.WriteFile(defs, []byte(`{"definitions":[{"id":"web-101","name":"Web","attributes":[{"name":"Score","type":"number","min":0,"max":100}]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(input, []byte("First Name,Last Name,Email,Issue Date,Score\n"+
		"Ann,Lee,ann@example.com,03/04/2026,90\n"+
		"Bo,Ng,bo.example.com,25/04/2026,90\n"+
		"Ren\xE9e,Roy,renee@example.com,2026-01-01,90\n"+
		"Cy,Ôz,cy@example.com,2026-01-01,140\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "errors.xlsx")
	var stdout, stderr bytes.Buffer
	code := cmdValidate(context.Background(), []string{"--definitions", defs, "--definition", "web-101", "--report", report, input}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", code, stderr.String())
	}
	var res ingest.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v in %s", err, stdout.String())
	}
	var got []string
	for _, f := range res.Errors {
		got = append(got, f.Code)
	}
	if want := []string{"invalid_email", "invalid_encoding", "out_of_range"}; !reflect.DeepEqual(got, want) || res.Rows != 4 || res.Valid != 1 || res.Invalid != 3 {
		t.Errorf("errors %v, rows %d valid %d invalid %d; want %v, 4, 1, 3", got, res.Rows, res.Valid, res.Invalid, want)
	}
	f, err := excelize.OpenFile(report)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(workbook.RowsSheet)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[1][0] != "valid" || rows[2][0] != "invalid" {
		t.Errorf("report rows %q, want row 2 valid (its date resolved) and row 3 invalid", rows)
	}
}
