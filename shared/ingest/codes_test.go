package ingest_test

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/sheet"
)

// testDefinitions is a small catalogue covering every attribute type.
func testDefinitions(t testing.TB) map[string]credbatch.Definition {
	t.Helper()
	f, err := credbatch.ParseDefinitions(strings.NewReader(`{"definitions":[
	 {"id":"web-101","name":"Web Fundamentals","attributes":[
	   {"name":"Score","type":"number","required":true,"min":0,"max":100},
	   {"name":"Certificate Number","type":"text","max_length":32},
	   {"name":"Level","type":"choice","choices":["Bronze","Silver","Gold"]},
	   {"name":"Profile","type":"url"}],
	  "expiry":{"policy":"optional","default":"P2Y"},"approval_required":true,"duplicates":"reject"},
	 {"id":"first-aid","name":"First Aid","attributes":[{"name":"Trainer","type":"text","required":true}],
	  "expiry":{"policy":"required","default":"P3Y"},"duplicates":"replace"}]}`))
	if err != nil {
		t.Fatalf("definitions: %v", err)
	}
	m := map[string]credbatch.Definition{}
	for _, d := range f.Definitions {
		m[d.ID] = d
	}
	return m
}

// writeFile writes content under a temp dir with the name and returns the path.
func writeFile(t testing.TB, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// xlsxFile writes a workbook with the rows on a sheet called "Data".
func xlsxFile(t testing.TB, rows [][]any) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", "Data"); err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Data", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// odsFile returns a minimal OpenDocument spreadsheet container.
func odsFile(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range map[string]string{"mimetype": "application/vnd.oasis.opendocument.spreadsheet", "content.xml": "<office:document-content/>"} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const hdr = "First Name,Last Name,Email,Issue Date,Expiration Date/Duration,Score,Certificate Number,Level,Profile\n"

// TestEveryCodeFromAFile produces every file-level and row-level code of DESIGN §7 that needs
// no store from a real file, through the same pipeline the CLI and the ingest Lambda use.
func TestEveryCodeFromAFile(t *testing.T) {
	ok := "Ann,Lee,ann@example.com,2026-03-04,,85,C-1,Gold,https://example.com/ann\n"
	tests := []struct {
		name    string
		file    string
		content []byte
		defID   string // the upload's definition (no ID column)
		limits  func(*sheet.Limits)
		sheet   string
		opts    func(*credbatch.Options) // upload options beyond the definition and sheet
		code    string
		row     int // 0 = file level
		column  string
	}{
		{name: "empty file", file: "a.csv", content: []byte(""), defID: "web-101", code: credbatch.CodeEmptyFile},
		{name: "header only", file: "a.csv", content: []byte(hdr), defID: "web-101", code: credbatch.CodeEmptyFile},
		{name: "xls", file: "a.xls", content: append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, make([]byte, 600)...), defID: "web-101", code: credbatch.CodeUnsupportedFormat},
		{name: "pdf", file: "a.pdf", content: []byte("%PDF-1.7\n"), defID: "web-101", code: credbatch.CodeUnsupportedFormat},
		{name: "ods", file: "a.ods", content: odsFile(t), defID: "web-101", code: credbatch.CodeUnsupportedFormat},
		{name: "ods renamed xlsx", file: "a.xlsx", content: odsFile(t), defID: "web-101", code: credbatch.CodeUnsupportedFormat},
		{name: "numbers by name", file: "a.numbers", content: []byte("not a zip"), defID: "web-101", code: credbatch.CodeUnsupportedFormat},
		{name: "corrupt xlsx", file: "a.xlsx", content: []byte("PK\x03\x04 this is not really a zip"), defID: "web-101", code: credbatch.CodeCorruptFile},
		{name: "file too large", file: "a.csv", content: []byte(hdr + ok + ok), defID: "web-101", limits: func(l *sheet.Limits) { l.MaxFileBytes = 100 }, code: credbatch.CodeFileTooLarge},
		{name: "too many rows", file: "a.csv", content: []byte(hdr + ok + strings.Replace(ok, "ann@", "bo@", 1) + strings.Replace(ok, "ann@", "cy@", 1)), defID: "web-101", limits: func(l *sheet.Limits) { l.MaxRows = 2 }, code: credbatch.CodeTooManyRows},
		{name: "too many columns", file: "a.csv", content: []byte(hdr + ok), defID: "web-101", limits: func(l *sheet.Limits) { l.MaxColumns = 4 }, code: credbatch.CodeTooManyColumns},
		{name: "cell too large", file: "a.csv", content: []byte(hdr + strings.Replace(ok, "C-1", strings.Repeat("x", 200), 1)), defID: "web-101", limits: func(l *sheet.Limits) { l.MaxCellBytes = 100 }, code: credbatch.CodeValueTooLarge},
		{name: "unknown sheet", file: "a.xlsx", content: xlsxFile(t, [][]any{{"First Name", "Last Name", "Email", "Score"}, {"Ann", "Lee", "ann@example.com", 85}}), defID: "web-101", sheet: "Nope", code: credbatch.CodeUnknownSheet},
		{name: "missing columns", file: "a.csv", content: []byte("First Name,Last Name,Score\nAnn,Lee,85\n"), defID: "web-101", code: credbatch.CodeMissingColumns},
		{name: "duplicate columns", file: "a.csv", content: []byte("First Name,Last Name,Email,E-mail,Score\nAnn,Lee,a@example.com,a@example.com,85\n"), defID: "web-101", code: credbatch.CodeDuplicateColumns},
		{name: "no definition named", file: "a.csv", content: []byte(hdr + ok), code: credbatch.CodeUnknownDefinition},
		{name: "mapping names a missing column", file: "a.csv", content: []byte(hdr + ok), defID: "web-101",
			opts: func(o *credbatch.Options) { o.Mapping = map[string]credbatch.Field{"Mail": credbatch.FieldEmail} }, code: credbatch.CodeInvalidMapping},
		{name: "mapping names an unknown field", file: "a.csv", content: []byte(hdr + ok), defID: "web-101",
			opts: func(o *credbatch.Options) { o.Mapping = map[string]credbatch.Field{"Email": "telephone"} }, code: credbatch.CodeInvalidMapping},
		{name: "bad date order", file: "a.csv", content: []byte(hdr + ok), defID: "web-101",
			opts: func(o *credbatch.Options) { o.DateOrder = "YMD" }, code: credbatch.CodeInvalidDateOrder},

		{name: "row: unknown definition", file: "a.csv", content: []byte("ID," + hdr + "nope," + ok), code: credbatch.CodeUnknownDefinition, row: 2, column: "ID"},
		{name: "row: missing value", file: "a.csv", content: []byte(hdr + strings.Replace(ok, "Ann,", ",", 1)), defID: "web-101", code: credbatch.CodeMissingValue, row: 2, column: "First Name"},
		{name: "row: missing required attribute", file: "a.csv", content: []byte(hdr + strings.Replace(ok, ",85,", ",,", 1)), defID: "web-101", code: credbatch.CodeMissingValue, row: 2, column: "Score"},
		{name: "row: invalid email", file: "a.csv", content: []byte(hdr + strings.Replace(ok, "ann@example.com", "ann.example.com", 1)), defID: "web-101", code: credbatch.CodeInvalidEmail, row: 2, column: "Email"},
		{name: "row: invalid date", file: "a.csv", content: []byte(hdr + strings.Replace(ok, "2026-03-04", "31/02/2026", 1)), defID: "web-101", code: credbatch.CodeInvalidDate, row: 2, column: "Issue Date"},
		{name: "row: ambiguous date", file: "a.csv", content: []byte(hdr + strings.Replace(ok, "2026-03-04", "03/04/2026", 1)), defID: "web-101", code: credbatch.CodeAmbiguousDate, row: 2, column: "Issue Date"},
		{name: "row: invalid duration", file: "a.csv", content: []byte(hdr + strings.Replace(ok, "2026-03-04,,", "2026-03-04,forever,", 1)), defID: "web-101", code: credbatch.CodeInvalidDuration, row: 2, column: "Expiration Date/Duration"},
		{name: "row: expiry before issue", file: "a.csv", content: []byte(hdr + strings.Replace(ok, "2026-03-04,,", "2026-03-04,2025-01-01,", 1)), defID: "web-101", code: credbatch.CodeExpiryBeforeIssue, row: 2, column: "Expiration Date/Duration"},
		{name: "row: invalid number", file: "a.csv", content: []byte(hdr + strings.Replace(ok, ",85,", ",eighty,", 1)), defID: "web-101", code: credbatch.CodeInvalidNumber, row: 2, column: "Score"},
		{name: "row: out of range", file: "a.csv", content: []byte(hdr + strings.Replace(ok, ",85,", ",140,", 1)), defID: "web-101", code: credbatch.CodeOutOfRange, row: 2, column: "Score"},
		{name: "row: invalid choice", file: "a.csv", content: []byte(hdr + strings.Replace(ok, "Gold", "Platinum", 1)), defID: "web-101", code: credbatch.CodeInvalidChoice, row: 2, column: "Level"},
		{name: "row: invalid url", file: "a.csv", content: []byte(hdr + strings.Replace(ok, "https://example.com/ann", "example dot com", 1)), defID: "web-101", code: credbatch.CodeInvalidURL, row: 2, column: "Profile"},
		{name: "row: value too long", file: "a.csv", content: []byte(hdr + strings.Replace(ok, "C-1", strings.Repeat("9", 40), 1)), defID: "web-101", code: credbatch.CodeValueTooLong, row: 2, column: "Certificate Number"},
		{name: "row: unsafe value", file: "a.csv", content: []byte(hdr + strings.Replace(ok, "Ann,", "An\x07n,", 1)), defID: "web-101", code: credbatch.CodeUnsafeValue, row: 2, column: "First Name"},
		{name: "row: duplicate row", file: "a.csv", content: []byte(hdr + ok + strings.Replace(ok, "Ann", "Anne", 1)), defID: "web-101", code: credbatch.CodeDuplicateRow, row: 3, column: "Email"},
		{name: "row: expiry required", file: "a.csv", content: []byte("ID," + hdr + "first-aid," + ok), code: credbatch.CodeMissingValue, row: 2, column: "Trainer"},
		{name: "warning: unknown column", file: "a.csv", content: []byte("Notes," + hdr + "hello," + ok), defID: "web-101", code: credbatch.CodeUnknownColumns, row: 1, column: "Notes"},
		{name: "row: invalid encoding", file: "a.csv", content: []byte(hdr + "José,Müller,jose@example.com,2026-03-04,,85,,,\n" + strings.Replace(ok, "Ann,", "Ren\xE9e,", 1)), defID: "web-101", code: credbatch.CodeInvalidEncoding, row: 3, column: "First Name"},
		{name: "warning: invalid encoding in the header", file: "a.csv", content: []byte("Not\xE9s,Zoë," + hdr + "a,b," + ok), defID: "web-101", code: credbatch.CodeInvalidEncoding, row: 1, column: "Not\uFFFDs"},
		{name: "row number after blank rows", file: "a.csv", content: []byte(hdr + ok + ",,,,,,,,\n\n" + strings.Replace(ok, "ann@example.com", "bad", 1)), defID: "web-101", code: credbatch.CodeInvalidEmail, row: 5, column: "Email"},
	}
	defs := testDefinitions(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limits := sheet.DefaultLimits()
			if tt.limits != nil {
				tt.limits(&limits)
			}
			opts := credbatch.Options{DefinitionID: tt.defID, Sheet: tt.sheet}
			if tt.opts != nil {
				tt.opts(&opts)
			}
			in := ingest.Input{Path: writeFile(t, tt.file, tt.content), Name: tt.file, Definitions: defs,
				Options: opts, Today: "2026-11-02", Limits: limits, TmpDir: t.TempDir()}
			res := document(t, in, nil)
			if tt.row == 0 {
				if res.Error == nil {
					t.Fatalf("file accepted (%d rows, errors %+v), want %s", res.Rows, res.Errors, tt.code)
				}
				if res.Error.Code != tt.code {
					t.Fatalf("file error = %s (%s), want %s", res.Error.Code, res.Error.Message, tt.code)
				}
				if res.Error.Message == "" {
					t.Error("file error has no message")
				}
				return
			}
			if res.Error != nil {
				t.Fatalf("file rejected: %s: %s", res.Error.Code, res.Error.Message)
			}
			for _, f := range append(res.Errors, res.Warnings...) {
				if f.Code == tt.code && f.Row == tt.row && f.Column == tt.column {
					if f.Message == "" {
						t.Error("finding has no message")
					}
					return
				}
			}
			t.Fatalf("no %s finding at row %d column %q; got errors %+v warnings %+v", tt.code, tt.row, tt.column, res.Errors, res.Warnings)
		})
	}
}

// TestAmbiguousDatesResolvedLater: a value read before its column proved its order is
// re-validated once the proof arrives, and the result no longer reports it.
func TestAmbiguousDatesResolvedLater(t *testing.T) {
	content := hdr +
		"Ann,Lee,ann@example.com,03/04/2026,,85,,,\n" +
		"Bo,Ng,bo@example.com,25/04/2026,,85,,,\n"
	in := ingest.Input{Path: writeFile(t, "a.csv", []byte(content)), Name: "a.csv", Definitions: testDefinitions(t),
		Options: credbatch.Options{DefinitionID: "web-101"}, Today: "2026-11-02", Limits: sheet.DefaultLimits()}
	doc, err := ingest.Validate(context.Background(), in, nil, nil)
	if err != nil || doc.Error != nil {
		t.Fatalf("Validate: %v %+v", err, doc.Error)
	}
	defer doc.Close()
	if len(doc.Resolutions) != 1 {
		t.Fatalf("resolutions=%+v, want one", doc.Resolutions)
	}
	var amended []credbatch.Row
	for r, err := range doc.Amended() {
		if err != nil {
			t.Fatal(err)
		}
		amended = append(amended, r)
	}
	res := decodeDocument(t, doc)
	if res.Invalid != 0 || res.Valid != 2 || len(res.Errors) != 0 || len(amended) != 1 || amended[0].Number != 2 {
		t.Fatalf("after resolution: valid=%d invalid=%d errors=%+v amended=%+v", res.Valid, res.Invalid, res.Errors, amended)
	}
	after := amended[0]
	if got, want := after.IssueDate, "2026-04-03"; got != want {
		t.Errorf("issue date = %s, want %s (DMY proved by 25/04)", got, want)
	}
}
