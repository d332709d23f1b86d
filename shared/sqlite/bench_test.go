package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// benchRows returns n rows of a batch shaped like an 8-column upload.
func benchRows(batchID string, n int) []credbatch.Row {
	rows := make([]credbatch.Row, n)
	for i := range rows {
		num := i + 2
		rows[i] = credbatch.Row{
			BatchID: batchID, Number: num, DefinitionID: "course",
			FirstName: "Ada", LastName: fmt.Sprintf("Lovelace %d", num), Email: fmt.Sprintf("ada%d@example.com", num),
			IssueDate: "2025-03-01", ExpiryDate: "2027-03-01",
			Attributes: map[string]string{"Score": "97", "Level": "Advanced"},
			Cells:      []string{"course", "Ada", fmt.Sprintf("Lovelace %d", num), fmt.Sprintf("ada%d@example.com", num), "2025-03-01", "2027-03-01", "97", "Advanced"},
			Status:     credbatch.RowValid,
		}
	}
	return rows
}

func openBench(b *testing.B) *Store {
	b.Helper()
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatalf("open: %v", err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchPut times put for n rows per iteration, each iteration writing a new batch.
func benchPut(b *testing.B, n int, put func(s *Store, rows []credbatch.Row) error) {
	s := openBench(b)
	i := 0
	for b.Loop() {
		b.StopTimer()
		rows := benchRows(fmt.Sprintf("b%d", i), n)
		i++
		b.StartTimer()
		if err := put(s, rows); err != nil {
			b.Fatalf("put: %v", err)
		}
	}
	b.ReportMetric(float64(n*i)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkPutRows measures PutRows: one transaction, multi-row prepared INSERTs.
func BenchmarkPutRows(b *testing.B) {
	for _, n := range []int{20_000, 100_000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			benchPut(b, n, func(s *Store, rows []credbatch.Row) error { return s.PutRows(b.Context(), rows) })
		})
	}
}

// BenchmarkPutRowsNaive is the baseline: one INSERT statement per row, each its own
// (autocommit) transaction, same schema and encoding as PutRows.
func BenchmarkPutRowsNaive(b *testing.B) {
	for _, n := range []int{20_000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			benchPut(b, n, func(s *Store, rows []credbatch.Row) error { return putRowsNaive(b.Context(), s, rows) })
		})
	}
}

func putRowsNaive(ctx context.Context, s *Store, rows []credbatch.Row) error {
	for _, r := range rows {
		body, err := toJSON(r)
		if err != nil {
			return err
		}
		if _, err := s.w.ExecContext(ctx, `INSERT OR REPLACE INTO rows (batch_id, number, status, codes, body) VALUES (?, ?, ?, ?, ?)`,
			r.BatchID, r.Number, string(r.Status), rowCodes(r), body); err != nil {
			return err
		}
	}
	return nil
}
