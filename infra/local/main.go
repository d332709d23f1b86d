// Command local is credbatch's local stack and CLI: validate, template, demo, serve, report
// and history.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses shared by the commands.
const (
	exitOK       = 0
	exitInvalid  = 1 // some rows are invalid
	exitRejected = 2 // the file was rejected
	exitUsage    = 3 // bad usage or a bad definitions file
	exitFailure  = 4 // something else went wrong
)

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: local <command> [flags]

commands:
  validate  --definitions FILE.json [--definition ID] [--date-order DMY|MDY]
            [--mapping FILE.json] [--sheet NAME] [--report OUT.xlsx] INPUT
  template  --definitions FILE.json --format xlsx|csv -o OUT ID...
  demo      [--data DIR] [--addr 127.0.0.1:8080]
            run the whole job on the bundled sample (what make demo runs), issuing
            under http://ADDR (recorded in DIR/base-url: serve and report default to it)
  serve     [--data DIR] [--addr HOST:PORT] [--definitions FILE] [--report-every 24h]
            the local stack: API, pages, drop folder, engine, outbox, report schedule
  report    --now [--data DIR]   send the delivery report now
  history   [--data DIR] BATCH   print a batch's execution history
`)
}

// run dispatches a command and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	slog.SetDefault(slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "validate":
		return cmdValidate(ctx, args[1:], stdout, stderr)
	case "template":
		return cmdTemplate(ctx, args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(ctx, args[1:], stdout, stderr)
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
	case "report":
		return cmdReport(ctx, args[1:], stdout, stderr)
	case "history":
		return cmdHistory(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}
