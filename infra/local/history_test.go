package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// startBatch opens the local stack in dir as serve does, creates a batch of one valid row
// and returns it once its execution waits for approval (its task token is recorded).
func startBatch(t *testing.T, dir string) (credbatch.Batch, func() error) {
	t.Helper()
	ctx := context.Background()
	sf := stackFlags{data: dir}
	st, err := sf.open(ctx, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	b := credbatch.Batch{ID: "b_history", Label: "history", Uploader: "issuer@localhost",
		Source: credbatch.Source{IdempotencyKey: "history"}, Options: credbatch.Options{DefinitionID: "web-101"}}
	b, err = st.Ingest.IngestRows(ctx, b, []string{"First Name", "Last Name", "Email", "Score"},
		[][]string{{"Ann", "Lee", "ann@example.com", "90"}})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); b.TaskToken == ""; time.Sleep(5 * time.Millisecond) {
		if b, err = st.Store.GetBatch(ctx, b.ID); err != nil || time.Now().After(deadline) {
			st.Close()
			t.Fatalf("batch %s is %s (%v); want it waiting for approval", b.ID, b.Status, err)
		}
	}
	return b, st.Close
}

// history runs `local history` with args and returns its exit status and output.
func history(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"history"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHistoryOfABatchPrintsItsExecution(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	b, closeStack := startBatch(t, dir)
	name := b.ExecutionID[strings.LastIndex(b.ExecutionID, ":")+1:]

	check := func(t *testing.T, args ...string) {
		t.Helper()
		code, out, errOut := history(t, args...)
		if code != exitOK {
			t.Fatalf("history %q: exit %d, stderr %q", args, code, errOut)
		}
		for _, want := range []string{"ExecutionStarted", "RequestApproval"} {
			if !strings.Contains(out, want) {
				t.Errorf("history %q does not show %s:\n%s", args, want, out)
			}
		}
	}
	// While the stack runs (serve in another terminal) and after it stopped; by batch id,
	// execution ARN and execution name, with the flag before or after the argument.
	t.Run("stack running", func(t *testing.T) { check(t, "--data", dir, b.ID) })
	if err := closeStack(); err != nil {
		t.Fatal(err)
	}
	t.Run("batch id", func(t *testing.T) { check(t, b.ID, "--data", dir) })
	t.Run("execution arn", func(t *testing.T) { check(t, "--data", dir, b.ExecutionID) })
	t.Run("execution name", func(t *testing.T) { check(t, "--data", dir, name) })

	t.Run("unknown", func(t *testing.T) {
		code, _, errOut := history(t, "--data", dir, "b_nope")
		if code != exitFailure || !strings.Contains(errOut, "not found") {
			t.Errorf("unknown batch: exit %d, stderr %q; want %d and not found", code, errOut, exitFailure)
		}
	})
	t.Run("no data directory", func(t *testing.T) {
		code, _, errOut := history(t, "--data", filepath.Join(t.TempDir(), "missing"), b.ID)
		if code != exitFailure || !strings.Contains(errOut, "no local stack") {
			t.Errorf("missing data dir: exit %d, stderr %q", code, errOut)
		}
	})
}
