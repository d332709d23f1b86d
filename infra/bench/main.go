// Command bench prints credbatch's speed figures, each next to a baseline measured in the
// same run (these machines are shared and noisy, so ratios matter more than seconds).
//
//	go run ./infra/bench [-sizes 20000,100000,1000000] [section...]
//
// Sections: sheet (validate vs a bare excelize loop, CSV, peak RSS), store (PutRows vs a naive
// one-write-per-row loop, SQLite and DynamoDB Local), sign, issue (20,000 credentials end to
// end into the outbox), payload (largest state payload of a 100,000-row batch), evidence
// (the ingest of a 500 MiB evidence zip of 2,000 files vs 50 MiB of 200, peak RSS), cost (AWS
// requests, DynamoDB capacity and Lambda GB-s of one batch through the deployed shape, priced
// per 10,000 credentials; -cost-rows, -cost-from; run only when named: BENCH_ARGS=cost).
// -cpuprofile, -blockprofile and -mutexprofile write Go profiles of the run; -before SECONDS
// prints the end-to-end figure as a ratio to an earlier run's. BENCH_NO_SIMULATOR=1 skips the issuance run with the SES simulator (for profiling).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "bare" {
		// Child mode: the baseline loop, run in its own process so its peak RSS is its own.
		return bareLoop(args[1])
	}
	if len(args) == 4 && args[0] == "evidence-ingest" {
		// Child mode: one evidence zip's ingest, in its own process for its peak RSS.
		return evidenceIngest(args[1], args[2], args[3])
	}
	if len(args) > 1 && args[0] == "peak" {
		// Trampoline mode: run a command and report its peak RSS (see runChild).
		return peak(args[1], args[2:])
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	sizes := fs.String("sizes", "20000,100000,1000000", "spreadsheet sizes (rows)")
	dir := fs.String("dir", "", "work directory (default: a temporary one, removed afterwards)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run here")
	blockprofile := fs.String("blockprofile", "", "write a blocking profile of the run here (every blocking event)")
	mutexprofile := fs.String("mutexprofile", "", "write a mutex contention profile of the run here")
	costRows := fs.Int("cost-rows", 1000, "credentials in the cost section's batch (a bulk batch: its per-batch emails and steps are spread as a real issuance spreads them; 10000 for the exact figure)")
	costFrom := fs.String("cost-from", "", "print the cost table of an earlier run's cost.json (left in its -dir) instead of running the scenario")
	fs.Float64Var(&beforeSeconds, "before", 0, "the end-to-end seconds of an earlier run (e.g. main before a change) to print a ratio against")
	if err := fs.Parse(args); err != nil {
		return err
	}
	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "credbatch-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		work = d
	}
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-sizes: %w", err)
		}
		ns = append(ns, n)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *blockprofile != "" {
		runtime.SetBlockProfileRate(1)
		defer writeProfile("block", *blockprofile)
	}
	if *mutexprofile != "" {
		runtime.SetMutexProfileFraction(1)
		defer writeProfile("mutex", *mutexprofile)
	}
	sections := fs.Args()
	if len(sections) == 0 {
		sections = []string{"sheet", "store", "sign", "issue", "payload", "evidence"}
	}
	// The local stack logs every feedback event at INFO; the figures are what matter here.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx := context.Background()
	for _, s := range sections {
		var err error
		switch s {
		case "sheet":
			err = benchSheets(ctx, work, ns)
		case "store":
			err = benchStore(ctx, work)
		case "sign":
			err = benchSign()
		case "issue":
			err = benchIssue(ctx, work)
		case "payload":
			err = benchPayload(ctx, work)
		case "evidence":
			err = benchEvidence(ctx, work)
		case "cost":
			err = benchCost(ctx, work, *costRows, *costFrom)
		default:
			err = fmt.Errorf("unknown section %q", s)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// measured is one timed child process.
type measured struct {
	wall   time.Duration
	maxRSS int64 // bytes
	out    []byte
}

// runChild runs a command and reports its wall time and peak RSS. The command is started by
// a fresh, small copy of this program (peak mode): Linux folds the RSS high-water mark of the
// process that spawns a child into the child's ru_maxrss at exec, so spawning from this
// process, which has just generated a large file, would report its memory, not the child's.
func runChild(name string, args ...string) (measured, error) {
	self, err := os.Executable()
	if err != nil {
		return measured{}, err
	}
	rss, err := os.CreateTemp("", "peak-rss-")
	if err != nil {
		return measured{}, err
	}
	rss.Close()
	defer os.Remove(rss.Name())
	cmd := exec.Command(self, append([]string{"peak", rss.Name(), name}, args...)...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	m := measured{wall: time.Since(start), out: out}
	if data, rerr := os.ReadFile(rss.Name()); rerr == nil {
		fmt.Sscan(string(data), &m.maxRSS)
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
			return m, nil // validate: some rows invalid
		}
		return m, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return m, nil
}

// peak runs a command with this process's stdout, writes the command's peak RSS in bytes to
// the file, and exits with the command's status.
func peak(file string, argv []string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err := cmd.Run()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		_ = os.WriteFile(file, []byte(fmt.Sprint(ru.Maxrss*1024)), 0o644)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		os.Exit(ee.ExitCode())
	}
	return err
}

// buildLocal builds the local CLI once, so timings do not include compilation.
func buildLocal(work string) (string, error) {
	bin := filepath.Join(work, "credbatch-local")
	cmd := exec.Command("go", "build", "-o", bin, "./infra/local")
	cmd.Stderr = os.Stderr
	return bin, cmd.Run()
}

// writeProfile writes the named runtime profile to a file, reporting a failure on stderr.
func writeProfile(name, path string) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup(name).WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s profile: %v\n", name, err)
	}
}

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }
