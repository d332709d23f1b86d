package dynamo

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/credbatch/credbatch/shared/awstest"
	"github.com/credbatch/credbatch/shared/credbatch"
)

// benchSizes are the row counts of the PutRows benchmark; run one with
// -bench 'PutRowsPaired/20000' -benchtime 1x.
var benchSizes = []int{20_000, 100_000}

// benchStore returns a store on a fresh DynamoDB Local table, or skips.
func benchStore(b *testing.B) *Store {
	b.Helper()
	client := dynamodb.NewFromConfig(awstest.Config(b, "DYNAMODB"), func(o *dynamodb.Options) {
		o.DisableValidateResponseChecksum = true
	})
	name := awstest.Name(b, "bench")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := CreateTable(ctx, client, name); err != nil {
		b.Fatalf("create table: %v", err)
	}
	b.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	var opts []Option
	if w, err := strconv.Atoi(os.Getenv("BENCH_WRITERS")); err == nil {
		opts = append(opts, WithWriters(w)) // to try other pool sizes
	}
	s := New(client, name, opts...)
	// Warm DynamoDB Local's JIT on both paths, so that neither the first benchmark nor the
	// first slices of a paired one pay for compilation.
	n, _ := strconv.Atoi(os.Getenv("BENCH_WARM"))
	if n == 0 {
		n = 10_000
	}
	warm := benchRows("warm-up", n)
	if err := s.PutRows(ctx, warm); err != nil {
		b.Fatalf("warm up: %v", err)
	}
	for _, r := range warm[:n/10] {
		item, err := rowItem(r)
		if err == nil {
			_, err = client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: item})
		}
		if err != nil {
			b.Fatalf("warm up: %v", err)
		}
	}
	return s
}

// benchRows returns n rows shaped like an 8-column upload.
func benchRows(batch string, n int) []credbatch.Row {
	rows := make([]credbatch.Row, n)
	for i := range rows {
		email := fmt.Sprintf("recipient%06d@example.com", i)
		rows[i] = credbatch.Row{
			BatchID: batch, Number: i + 2, DefinitionID: "course-completion", Status: credbatch.RowValid,
			FirstName: "Ada", LastName: fmt.Sprintf("Lovelace %d", i), Email: email,
			IssueDate: "2025-03-01", ExpiryDate: "2027-03-01",
			Attributes: map[string]string{"Course": "Analytical Engines 101", "Grade": "A", "Hours": "42"},
			Cells:      []string{"course-completion", "Ada", fmt.Sprintf("Lovelace %d", i), email, "2025-03-01", "2 years", "Analytical Engines 101", "A"},
		}
	}
	return rows
}

// BenchmarkPutRowsPaired alternates PutRows and the naive loop (one PutItem per row,
// sequentially) over slices of the same number of rows, so that the drift of a shared
// machine and of DynamoDB Local's JIT weighs on both alike. It reports both rates and the
// ratio (x-naive) that make bench prints.
func BenchmarkPutRowsPaired(b *testing.B) {
	const rounds = 10
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := benchStore(b)
			ctx := context.Background()
			var batch, naive time.Duration
			b.ResetTimer()
			for i := range b.N {
				fast := benchRows(fmt.Sprintf("bench-%d", i), n)
				slow := benchRows(fmt.Sprintf("naive-%d", i), n)
				per := (n + rounds - 1) / rounds
				for lo := 0; lo < n; lo += per {
					hi := min(lo+per, n)
					start := time.Now()
					if err := s.PutRows(ctx, fast[lo:hi]); err != nil {
						b.Fatalf("PutRows: %v", err)
					}
					batch += time.Since(start)
					start = time.Now()
					for _, r := range slow[lo:hi] {
						r.UpdatedAt = time.Now()
						item, err := rowItem(r)
						if err != nil {
							b.Fatal(err)
						}
						if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
							b.Fatalf("PutItem row %d: %v", r.Number, err)
						}
					}
					naive += time.Since(start)
				}
			}
			b.ReportMetric(float64(n*b.N)/batch.Seconds(), "rows/s")
			b.ReportMetric(float64(n*b.N)/naive.Seconds(), "naive-rows/s")
			b.ReportMetric(naive.Seconds()/batch.Seconds(), "x-naive")
		})
	}
}
