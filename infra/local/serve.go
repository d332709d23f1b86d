package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/credbatch/credbatch/infra/local/engine"
	"github.com/credbatch/credbatch/infra/local/stack"
	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/logging"
	"github.com/credbatch/credbatch/shared/sqlite"
)

// stackFlags are the flags every command that opens the local stack takes.
type stackFlags struct {
	data, addr, definitions string
}

func (f *stackFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.data, "data", "demo-data", "data directory")
	fs.StringVar(&f.addr, "addr", "", "HOST:PORT to serve on and issue under (default: the one the data directory's credentials were issued under, recorded in its "+baseURLFile+" file, else "+defaultAddr+")")
	fs.StringVar(&f.definitions, "definitions", "", "definitions file to load (default: the bundled sample the first time)")
}

// resolveAddr fills in f.addr when --addr was not given: the HOST:PORT of the base URL the
// data directory's credentials were issued under, else defaultAddr. It records the base URL
// it serves under in the data directory, and warns when --addr moves it: credentials issued
// under the old one name it (their ids, the did:web that signed them), so they do not verify
// against this server.
func (f *stackFlags) resolveAddr(log *slog.Logger) error {
	recorded, err := readBaseURL(f.data)
	if err != nil {
		return err
	}
	switch {
	case f.addr == "" && recorded != "":
		f.addr = strings.TrimPrefix(recorded, "http://")
	case f.addr == "":
		f.addr = defaultAddr
	}
	if err := checkAddr(f.addr); err != nil {
		return err
	}
	base := "http://" + f.addr
	if recorded == base {
		return nil
	}
	if recorded != "" {
		log.Warn("the data directory's credentials were issued under another base URL: they do not verify against this one; serve with --addr "+strings.TrimPrefix(recorded, "http://")+" to serve them",
			"issued_under", recorded, "base_url", base, "data", f.data)
	}
	return writeBaseURL(f.data, base)
}

// open opens the local stack in the data directory and loads definitions.
func (f *stackFlags) open(ctx context.Context, log *slog.Logger) (*stack.Stack, error) {
	if err := f.resolveAddr(log); err != nil {
		return nil, err
	}
	cfg := demoConfig(f.data, "http://"+f.addr)
	cfg.Log = log
	st, err := stack.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	path := f.definitions
	if path == "" {
		if existing, err := st.Store.ListDefinitions(ctx, true); err != nil || len(existing) > 0 {
			return st, err
		}
		if path, err = writeSample(f.data, sampleDefinitions); err != nil {
			st.Close()
			return nil, err
		}
	}
	_, defs, err := loadDefinitions(path)
	if err == nil {
		err = st.LoadDefinitions(ctx, defs)
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("definitions %s: %w", path, err)
	}
	return st, nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf stackFlags
	sf.register(fs)
	reportEvery := fs.Duration("report-every", 24*time.Hour, "how often the delivery report runs (0 = never)")
	sweepEvery := fs.Duration("sweep-every", time.Minute, "how often uploads a crash left part way are resumed (0 = never)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	log := logging.New(stderr)
	if err := serve(ctx, sf, schedules{report: *reportEvery, sweep: *sweepEvery}, stdout, log); err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// schedules are serve's periodic jobs (0 = never): the delivery report, and the ingest
// sweep that resumes uploads a crash left part way (the ingest function's schedule on AWS).
type schedules struct {
	report, sweep time.Duration
}

// every runs fn every interval on a goroutine of wg until ctx ends (not at all when
// interval is 0).
func every(ctx context.Context, wg *sync.WaitGroup, interval time.Duration, fn func(context.Context)) {
	if interval <= 0 {
		return
	}
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn(ctx)
			}
		}
	})
}

// timeouts bound how long one connection may hold the server: a client trickling its
// request headers or body, reading its response slowly, or idling between keep-alive
// requests is cut off instead of holding a connection (and its goroutine and buffers) open.
type timeouts struct {
	readHeader time.Duration // the request line and headers
	read       time.Duration // the whole request, body included (uploads are on loopback)
	write      time.Duration // from the end of the headers to the end of the response: the handler's work included (a 100,000-row validate takes seconds)
	idle       time.Duration // between keep-alive requests
}

// serveTimeouts are serve's.
var serveTimeouts = timeouts{readHeader: 10 * time.Second, read: 30 * time.Second, write: 2 * time.Minute, idle: 15 * time.Second}

// newServer is serve's HTTP server over h, with every timeout set.
func newServer(h http.Handler, t timeouts) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.readHeader, ReadTimeout: t.read,
		WriteTimeout: t.write, IdleTimeout: t.idle}
}

// serve runs the local stack until ctx ends: HTTP API and pages, the drop folder, the local
// engine, the outbox with simulated SES feedback, the report schedule and the ingest sweep.
func serve(ctx context.Context, sf stackFlags, sched schedules, out io.Writer, log *slog.Logger) error {
	st, err := sf.open(ctx, log)
	if err != nil {
		return err
	}
	defer st.Close()
	tokensPath := filepath.Join(sf.data, "tokens.json")
	tokens, created, err := auth.LoadTokens(tokensPath)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", sf.addr)
	if err != nil {
		return err
	}
	srv := newServer(st.Handler(tokens), serveTimeouts)
	base := "http://" + sf.addr
	fmt.Fprintf(out, "credbatch local stack on %s (data in %s)\n", base, sf.data)
	fmt.Fprintf(out, "  API:          %s/api (bearer tokens in %s%s)\n", base, tokensPath, map[bool]string{true: ", created now", false: ""}[created])
	fmt.Fprintf(out, "  OpenAPI:      %s/openapi.json\n", base)
	fmt.Fprintf(out, "  drop folder:  %s (files under uploads/<definition-id>/ or with an ID column)\n", filepath.Join(st.Config.BucketDir(), "uploads"))
	fmt.Fprintf(out, "  outbox:       %s\n", st.Config.OutboxDir())
	fmt.Fprintf(out, "  review pages: %s/review/<batch-id>, sign in at %s/login with the approver token\n", base, base)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	var jobs sync.WaitGroup // the schedules: waited for before the stack closes
	defer jobs.Wait()
	defer cancel()
	go func() { errc <- srv.Serve(ln) }()
	go func() { errc <- (&stack.Watcher{Stack: st}).Run(ctx, 500*time.Millisecond) }()
	every(ctx, &jobs, sched.report, func(ctx context.Context) {
		if rep, err := st.Report.Run(ctx); err != nil {
			log.Error("delivery report", "err", err)
		} else {
			log.Info("delivery report", "events", rep.Events, "sent", rep.Sent)
		}
	})
	every(ctx, &jobs, sched.sweep, func(ctx context.Context) {
		if res, err := st.Ingest.Sweep(ctx); err != nil {
			log.Error("ingest sweep", "err", err, "resumed", res.Resumed, "failed", res.Failed)
		} else if res.Resumed+res.Finished+res.Abandoned > 0 {
			log.Info("ingest sweep", "resumed", res.Resumed, "finished", res.Finished, "abandoned", res.Abandoned)
		}
	})
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// cmdReport sends the delivery report now (report --now).
func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf stackFlags
	sf.register(fs)
	fs.Bool("now", true, "send the report now (the only mode; the schedule runs inside serve)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	st, err := sf.open(ctx, logging.New(stderr))
	if err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return exitFailure
	}
	defer st.Close()
	rep, err := st.Report.Run(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return exitFailure
	}
	if !rep.Sent {
		fmt.Fprintf(stdout, "no report sent: %s\n", rep.Skipped)
		return exitOK
	}
	fmt.Fprintf(stdout, "delivery report for %s – %s sent to the outbox (%s): %d events, %d batches, %d failed recipients\n",
		rep.From.Format(time.RFC3339), rep.To.Format(time.RFC3339), st.Config.OutboxDir(), rep.Events, len(rep.Batches), len(rep.Failed))
	return exitOK
}

// cmdHistory prints a batch's execution history from the local engine. It reads the data
// directory's files without opening the stack, so it neither resumes executions nor loads
// definitions, and is safe to run next to a running serve.
func cmdHistory(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf stackFlags
	sf.register(fs)
	if err := fs.Parse(interleave(args)); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "history needs a batch id (or an execution name)")
		return exitUsage
	}
	cfg := stack.Config{DataDir: sf.data}
	if _, err := os.Stat(cfg.StorePath()); err != nil {
		fmt.Fprintf(stderr, "history: no local stack in %s (%v)\n", sf.data, err)
		return exitFailure
	}
	execution, err := executionOf(ctx, cfg.StorePath(), fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "history: %v\n", err)
		return exitFailure
	}
	events, err := engine.ReadHistory(ctx, cfg.EnginePath(), execution)
	if credbatch.IsKind(err, credbatch.KindNotFound) && execution != fs.Arg(0) {
		err = fmt.Errorf("batch %s has no execution in %s yet", fs.Arg(0), cfg.EnginePath())
	}
	if err != nil {
		fmt.Fprintf(stderr, "history: %v\n", err)
		return exitFailure
	}
	for _, e := range events {
		fmt.Fprintf(stdout, "%4d  %s  %-22s %-18s %6dB  %s\n", e.Seq, e.At.Format("15:04:05.000"), e.Type, e.State, e.Size, e.Detail)
	}
	return exitOK
}

// executionOf returns the execution a batch id names (its latest execution), or arg itself
// when it is not a batch id (an execution name or ARN).
func executionOf(ctx context.Context, storePath, arg string) (string, error) {
	st, err := sqlite.Open(ctx, storePath)
	if err != nil {
		return "", err
	}
	defer st.Close()
	b, err := st.GetBatch(ctx, arg)
	switch {
	case err == nil && b.ExecutionID != "":
		return b.ExecutionID, nil
	case err == nil:
		return "", fmt.Errorf("batch %s is %s and has not started an execution", arg, b.Status)
	case credbatch.IsKind(err, credbatch.KindNotFound):
		return arg, nil
	}
	return "", err
}
