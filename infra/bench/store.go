package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// benchStore compares PutRows with a naive one-write-per-row loop, for SQLite and (when
// AWS_ENDPOINT_URL_DYNAMODB points at DynamoDB Local) DynamoDB, in the same run. DynamoDB
// Local is measured paired (BenchmarkPutRowsPaired alternates the two over slices of the
// rows) because its speed drifts with its JIT and the machine's load over a run.
func benchStore(ctx context.Context, work string) error {
	fmt.Println("\n== store: rows written by PutRows vs a naive one-write-per-row loop (same rows, same run)")
	if err := benchStoreSequential("./shared/sqlite"); err != nil {
		return err
	}
	if os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") == "" {
		fmt.Println("  (AWS_ENDPOINT_URL_DYNAMODB unset: DynamoDB Local skipped; make bench starts it)")
	} else if err := benchStorePaired("./shared/dynamo"); err != nil {
		return err
	}
	fmt.Println("target: at least 5x the naive loop on DynamoDB Local")
	return nil
}

// benchStorePaired prints BenchmarkPutRowsPaired: both rates and their ratio.
func benchStorePaired(pkg string) error {
	res, err := goBench("PutRowsPaired", "1x", pkg)
	if err != nil {
		return err
	}
	fmt.Printf("  %s (paired: PutRows and the naive loop alternate over slices of the rows)\n", pkg)
	for _, name := range sortedKeys(res) {
		m := res[name]
		fmt.Printf("    %-40s %10.0f rows/s  naive %8.0f rows/s  %.1fx the naive loop\n", name, m["rows/s"], m["naive-rows/s"], m["x-naive"])
	}
	return nil
}

// benchStoreSequential prints BenchmarkPutRows against BenchmarkPutRowsNaive.
func benchStoreSequential(pkg string) error {
	res, err := goBench("PutRows", "1x", pkg)
	if err != nil {
		return err
	}
	fmt.Printf("  %s\n", pkg)
	// Pair each size with the naive loop's figure for the same size (the naive loop may
	// run only the smallest size; then that one is the baseline for all).
	naive := map[string]float64{}
	var anyNaive float64
	for _, name := range sortedKeys(res) {
		if m := res[name]; strings.Contains(name, "Naive") {
			naive[sizeOf(name)] = m["rows/s"]
			anyNaive = m["rows/s"]
			fmt.Printf("    %-40s %10.0f rows/s (baseline)\n", name, m["rows/s"])
		}
	}
	for _, name := range sortedKeys(res) {
		m := res[name]
		if strings.Contains(name, "Naive") {
			continue
		}
		base, ok := naive[sizeOf(name)]
		if !ok {
			base = anyNaive
		}
		ratio := "-"
		if base > 0 {
			ratio = fmt.Sprintf("%.1fx the naive loop", m["rows/s"]/base)
		}
		fmt.Printf("    %-40s %10.0f rows/s  %s\n", name, m["rows/s"], ratio)
	}
	return nil
}

// sortedKeys orders benchmark names by name, then by size: …/20000 before …/100000.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		bi, bj := keys[i][:strings.LastIndex(keys[i], "/")+1], keys[j][:strings.LastIndex(keys[j], "/")+1]
		if bi != bj {
			return bi < bj
		}
		ni, _ := strconv.Atoi(sizeOf(keys[i]))
		nj, _ := strconv.Atoi(sizeOf(keys[j]))
		return ni < nj
	})
	return keys
}

// sizeOf returns a benchmark's size suffix: "BenchmarkPutRows/rows=20000" → "20000".
func sizeOf(name string) string {
	name = name[strings.LastIndex(name, "/")+1:]
	return strings.TrimPrefix(name, "rows=")
}
