package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/credbatch/credbatch/shared/sheet/sheetgen"
)

// benchDefinitions matches sheetgen's columns.
const benchDefinitions = `{"definitions":[{"id":"bench","name":"Benchmark Certificate",
 "attributes":[{"name":"Score","type":"number","required":true,"min":0,"max":100},
  {"name":"Certificate Number","type":"text","max_length":32},
  {"name":"Level","type":"choice","choices":["Bronze","Silver","Gold"]}],
 "expiry":{"policy":"optional"},"duplicates":"allow"}]}`

// benchSheets times `validate` against the bare excelize loop on the same files.
func benchSheets(ctx context.Context, work string, sizes []int) error {
	bin, err := buildLocal(work)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	defs := filepath.Join(work, "bench-definitions.json")
	if err := os.WriteFile(defs, []byte(benchDefinitions), 0o644); err != nil {
		return err
	}
	fmt.Println("== spreadsheets: validate (read + map + validate + the JSON document) vs the bare excelize loop (Rows + Columns RawCellValue), same file, same run")
	fmt.Printf("%-10s %-18s %12s %14s %10s | %12s %10s | %7s %7s\n", "rows", "file", "validate", "rows/s", "peak RSS", "bare loop", "peak RSS", "time", "RSS")
	for _, n := range sizes {
		for _, kind := range []string{"xlsx-inline", "xlsx-shared", "xlsx-inline+5pc", "xlsx-shared+5pc", "csv"} {
			path := filepath.Join(work, fmt.Sprintf("bench-%d-%s", n, strings.TrimSuffix(kind, "+5pc")))
			var err error
			switch kind {
			case "xlsx-inline", "xlsx-shared", "xlsx-inline+5pc", "xlsx-shared+5pc":
				path += ".xlsx"
				every := 0
				if strings.HasSuffix(kind, "+5pc") {
					every = 20 // one row in 20 has an invalid duration: 50,000 findings at 1,000,000 rows
				}
				err = sheetgen.WriteSampleXLSXInvalid(path, n, strings.HasPrefix(kind, "xlsx-shared"), every)
			case "csv":
				path += ".csv"
				err = sheetgen.WriteSampleCSV(path, n)
			}
			if err != nil {
				return fmt.Errorf("generate %s: %w", path, err)
			}
			v, err := runChild(bin, "validate", "--definitions", defs, "--definition", "bench", "--max-rows", fmt.Sprint(n+1), path)
			if err != nil {
				return err
			}
			if err := checkDocument(v.out, n, kind); err != nil {
				return err
			}
			rate := float64(n) / v.wall.Seconds()
			if kind == "csv" {
				fmt.Printf("%-10d %-18s %11.2fs %14.0f %10s | %12s %10s | %7s %7s\n", n, kind, v.wall.Seconds(), rate, mb(v.maxRSS), "-", "-", "-", "-")
			} else {
				b, err := runChild(self, "bare", path)
				if err != nil {
					return err
				}
				fmt.Printf("%-10d %-18s %11.2fs %14.0f %10s | %11.2fs %10s | %6.2fx %6.2fx\n", n, kind, v.wall.Seconds(), rate, mb(v.maxRSS),
					b.wall.Seconds(), mb(b.maxRSS), v.wall.Seconds()/b.wall.Seconds(), float64(v.maxRSS)/float64(b.maxRSS))
			}
			os.Remove(path)
		}
	}
	fmt.Println("time and RSS: validate's over the bare loop's on the same file (lower is better)")
	fmt.Println("targets: validate within 1.25x of the bare loop; CSV >= 200,000 rows/s; peak RSS < 150 MB at 1,000,000 rows, flat as rows grow and as findings grow (+5pc: one row in 20 (5 percent) invalid, its finding streamed from disk into the document)")
	fmt.Println("note: a workbook with a worksheet or shared-strings table over 2 MiB (here every xlsx file) is read by sheet's stream reader, not excelize; the 20,000-row figures include about 0.1 s of process start")
	return nil
}

// checkDocument checks that validate's document counts the rows, and that the +5pc files
// have their invalid rows reported, so the figures are of a real run.
func checkDocument(out []byte, n int, kind string) error {
	var doc struct {
		Rows, Invalid int
		Errors        []json.RawMessage
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return fmt.Errorf("validate %s: document: %w", kind, err)
	}
	want := 0
	if strings.HasSuffix(kind, "+5pc") {
		for i := range n {
			if sheetgen.InvalidRow(i, 20) {
				want++
			}
		}
	}
	if doc.Rows != n || doc.Invalid != want || len(doc.Errors) != want {
		return fmt.Errorf("validate %s: %d rows, %d invalid, %d errors; want %d rows, %d invalid", kind, doc.Rows, doc.Invalid, len(doc.Errors), n, want)
	}
	return nil
}

// bareLoop is the baseline: excelize's streaming rows with raw cell values, no validation.
func bareLoop(path string) error {
	f, err := excelize.OpenFile(path, excelize.Options{UnzipXMLSizeLimit: 16 << 20, UnzipSizeLimit: 1 << 30})
	if err != nil {
		return err
	}
	defer f.Close()
	rows, err := f.Rows(f.GetSheetName(0))
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		cells, err := rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return err
		}
		n += len(cells)
	}
	if err := rows.Error(); err != nil {
		return err
	}
	fmt.Println(n)
	return nil
}
