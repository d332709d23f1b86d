package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/sheet"
)

// document runs the dry run and decodes the document it writes.
func document(t testing.TB, in ingest.Input, check ingest.Sink) ingest.Result {
	t.Helper()
	doc, err := ingest.Validate(context.Background(), in, check, nil)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	defer doc.Close()
	return decodeDocument(t, doc)
}

func decodeDocument(t testing.TB, doc *ingest.Document) ingest.Result {
	t.Helper()
	var buf bytes.Buffer
	if err := doc.WriteJSON(&buf, false, ""); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	var res ingest.Result
	if err := json.Unmarshal(buf.Bytes(), &res); err != nil {
		t.Fatalf("document %q: %v", buf.String(), err)
	}
	return res
}

// TestDocumentJSON: the streamed document is byte for byte what encoding/json writes for
// the Result holding every finding, with and without indentation and HTML escaping, and with
// a re-validated row's findings in place of its first ones.
func TestDocumentJSON(t *testing.T) {
	content := "Notes," + hdr +
		"<b>,Ann,Lee,ann@example.com,03/04/2026,,85,,,\n" +
		"x,Bo,Ng,bo.example.com,25/04/2026,,eighty,,Platinum,\n" +
		"y,Cy,Ôz,cy@example.com,2026-01-01,,85,,,\n" +
		"z,Di,Re,di@example.com,2026-01-01,,85,,Gold & <Silver>,\n"
	in := ingest.Input{Path: writeFile(t, "a.csv", []byte(content)), Name: "a.csv", Definitions: testDefinitions(t),
		Options: credbatch.Options{DefinitionID: "web-101"}, Today: "2026-11-02", Limits: sheet.DefaultLimits(), TmpDir: t.TempDir()}
	suppressed := func(_ context.Context, rows []credbatch.Row) error {
		for i := range rows {
			if rows[i].Email == "ann@example.com" {
				rows[i].Findings = append(rows[i].Findings, credbatch.Finding{Row: rows[i].Number, Column: "Email",
					Code: credbatch.CodeSuppressedRecipient, Message: "bounced", Severity: credbatch.SeverityWarning})
			}
		}
		return nil
	}
	doc, err := ingest.Validate(context.Background(), in, suppressed, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	for _, tc := range []struct {
		escape bool
		indent string
	}{{true, "  "}, {false, ""}, {true, ""}, {false, "\t"}} {
		t.Run(fmt.Sprintf("escape=%v/indent=%q", tc.escape, tc.indent), func(t *testing.T) {
			var got bytes.Buffer
			if err := doc.WriteJSON(&got, tc.escape, tc.indent); err != nil {
				t.Fatal(err)
			}
			var res ingest.Result
			if err := json.Unmarshal(got.Bytes(), &res); err != nil {
				t.Fatalf("%v in %s", err, got.String())
			}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(tc.escape)
			enc.SetIndent("", tc.indent)
			if err := enc.Encode(res); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("streamed:\n%s\nencoding/json:\n%s", got.String(), want.String())
			}
			// Row 2's ambiguous date was resolved by row 3's 25/04: only its warning is left.
			var codes []string
			for _, f := range append(res.Errors, res.Warnings...) {
				codes = append(codes, fmt.Sprintf("%d:%s", f.Row, f.Code))
			}
			want2 := []string{"3:invalid_email", "3:invalid_number", "3:invalid_choice", "5:invalid_choice", "1:unknown_columns", "2:suppressed_recipient"}
			if !reflect.DeepEqual(codes, want2) || res.Rows != 4 || res.Invalid != 2 || res.Valid != 2 {
				t.Errorf("findings %v rows %d invalid %d valid %d, want %v, 4 rows, 2 invalid", codes, res.Rows, res.Invalid, res.Valid, want2)
			}
		})
	}
}

// TestDocumentMemoryFlat validates files with 10x apart numbers of invalid rows and checks
// that the peak heap does not grow with the findings (they were all held for the document).
func TestDocumentMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	peak := func(rows int) uint64 {
		var b strings.Builder
		b.WriteString(hdr)
		for i := range rows {
			// Every row is invalid: a bad email and a score out of range.
			fmt.Fprintf(&b, "Person,Number %d,p%d.example.com,2026-03-04,,140,C-%d,Gold,\n", i, i, i)
		}
		path := writeFile(t, "big.csv", []byte(b.String()))
		lim := sheet.DefaultLimits()
		lim.MaxRows = rows
		in := ingest.Input{Path: path, Name: "big.csv", Definitions: testDefinitions(t),
			Options: credbatch.Options{DefinitionID: "web-101"}, Today: "2026-11-02", Limits: lim, TmpDir: t.TempDir()}
		runtime.GC()
		var ms runtime.MemStats
		var max uint64
		n := 0
		doc, err := ingest.Validate(context.Background(), in, nil, func(context.Context, []credbatch.Row) error {
			if n++; n%10 == 0 {
				runtime.ReadMemStats(&ms)
				max = maxU(max, ms.HeapInuse)
			}
			return nil
		})
		if err != nil || doc.Error != nil {
			t.Fatalf("Validate: %v %+v", err, doc.Error)
		}
		defer doc.Close()
		out, err := os.CreateTemp(t.TempDir(), "doc")
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		w := &peakWriter{w: out, peak: &max}
		if err := doc.WriteJSON(w, true, "  "); err != nil {
			t.Fatal(err)
		}
		if doc.Invalid != rows {
			t.Fatalf("invalid = %d, want %d", doc.Invalid, rows)
		}
		return max
	}
	small, large := peak(5_000), peak(50_000)
	t.Logf("peak heap in use: 10,000 findings %d KiB, 100,000 findings %d KiB", small>>10, large>>10)
	if large > small+small/2+4<<20 {
		t.Errorf("peak heap grew from %d to %d bytes for 10x the findings", small, large)
	}
}

// peakWriter samples the heap as the document is written.
type peakWriter struct {
	w    *os.File
	n    int
	peak *uint64
}

func (p *peakWriter) Write(b []byte) (int, error) {
	if p.n++; p.n%16 == 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		*p.peak = maxU(*p.peak, ms.HeapInuse)
	}
	return p.w.Write(b)
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}
