package main

import (
	"bytes"
	"context"
	"embed"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/credbatch/credbatch/infra/local/stack"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/issuance"
)

//go:embed sample/definitions.json sample/northwind-awards.xlsx
var sample embed.FS

// Names of the bundled sample files.
const (
	sampleDefinitions = "sample/definitions.json"
	sampleWorkbook    = "sample/northwind-awards.xlsx"
)

// The demo's people.
const (
	demoIssuer   = "issuer@northwind.example"
	demoApprover = "approver@northwind.example"
	demoAdmin    = "admin@northwind.example"
)

// writeSample copies a bundled sample file into dir and returns its path.
func writeSample(dir, name string) (string, error) {
	data, err := sample.ReadFile(name)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, filepath.Base(name))
	return path, os.WriteFile(path, data, 0o644)
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data", "demo-data", "data directory (emptied first)")
	addr := fs.String("addr", defaultAddr, "HOST:PORT to issue under (http://HOST:PORT): `serve` on the same data directory serves there")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if err := checkAddr(*addr); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return exitUsage
	}
	if err := demo(ctx, *dir, "http://"+*addr, stdout); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// demoConfig is the local stack configuration of the demo and of `serve`.
func demoConfig(dir, baseURL string) stack.Config {
	return stack.Config{
		DataDir: dir,
		Issuer:  credential.Issuer{BaseURL: baseURL, Name: "Northwind Training Academy", URL: "https://training.northwind.example", Email: "certificates@northwind.example"},
		From:    "certificates@northwind.example",
		Flow:    issuance.Config{Approvers: []string{demoApprover}, Admins: []string{demoAdmin}},
	}
}

// demo runs the whole job on the bundled sample: definitions, templates, a dropped workbook
// with a few bad rows, the findings, issuing the valid rows, approval by a second person,
// issuance through the local engine running the real state machine, and a summary.
func demo(ctx context.Context, dir, baseURL string, out io.Writer) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	// Recorded first: `serve` and `report` on this directory default to it.
	if err := writeBaseURL(dir, baseURL); err != nil {
		return err
	}
	st, err := stack.Open(ctx, demoConfig(dir, baseURL))
	if err != nil {
		return err
	}
	defer st.Close()
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	start := time.Now()

	p("credbatch demo — data directory %s\n", dir)
	defsPath, err := writeSample(dir, sampleDefinitions)
	if err != nil {
		return err
	}
	_, defs, err := loadDefinitions(defsPath)
	if err != nil {
		return err
	}
	if err := st.LoadDefinitions(ctx, defs); err != nil {
		return err
	}
	p("1. Loaded %d credential definitions from %s", len(defs), defsPath)
	for _, d := range defs {
		approval := "no approval needed"
		if d.ApprovalRequired {
			approval = "needs approval"
		}
		p("   - %-12s %s (%s)", d.ID, d.Name, approval)
	}

	p("\n2. Templates for issuers to fill in (%s):", filepath.Join(dir, "templates"))
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		return err
	}
	var names []string
	for _, d := range defs {
		for _, format := range []string{"xlsx", "csv"} {
			name := d.ID + "." + format
			if err := writeTemplate(filepath.Join(dir, "templates", name), format, []credbatch.Definition{d}); err != nil {
				return fmt.Errorf("template %s: %w", name, err)
			}
			names = append(names, name)
		}
	}
	if err := writeTemplate(filepath.Join(dir, "templates", "combined.xlsx"), "xlsx", defs); err != nil {
		return err
	}
	p("   %s, and combined.xlsx (all definitions, ID column first)", strings.Join(names, ", "))

	wb, err := sample.ReadFile(sampleWorkbook)
	if err != nil {
		return err
	}
	key := ingest.UploadsPrefix + "northwind-awards.xlsx"
	if _, err := st.Bucket.Put(ctx, key, bytes.NewReader(wb), ingest.ContentTypeXLSX,
		map[string]string{ingest.MetaLabel: "Autumn 2026 awards", ingest.MetaUploader: demoIssuer}); err != nil {
		return err
	}
	w := &stack.Watcher{Stack: st, Settle: 100 * time.Millisecond}
	var b credbatch.Batch
	for i := 0; b.ID == ""; i++ {
		got, err := w.Scan(ctx)
		if err != nil {
			return err
		}
		if len(got) > 0 {
			b = got[0]
		} else if i > 100 {
			return fmt.Errorf("the drop folder watcher did not pick up %s", key)
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	p("\n3. %s dropped into %s by %s", filepath.Base(key), filepath.Join(st.Config.BucketDir(), "uploads"), demoIssuer)
	p("   batch %s: %s — %d rows, %d valid, %d invalid", b.ID, credbatch.StatusWords(b), b.Counts.Rows, b.Counts.Valid, b.Counts.Invalid)
	ids := make([]string, 0, len(b.Definitions))
	for id := range b.Definitions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	p("   definitions used: %s", strings.Join(ids, ", "))
	invalid, err := st.Store.ListRows(ctx, b.ID, credbatch.RowFilter{Status: credbatch.RowInvalid})
	if err != nil {
		return err
	}
	p("   Findings:")
	for _, r := range invalid.Items {
		for _, f := range r.Findings {
			if f.Severity != credbatch.SeverityWarning {
				p("   row %-3d %-20s %-17s %s", f.Row, f.Column, f.Code, f.Message)
			}
		}
	}
	if b.ReportKey != "" {
		p("   Error report for the issuer (bad cells highlighted): %s", filepath.Join(st.Config.BucketDir(), b.ReportKey))
	}

	p("\n4. The issuer chooses to issue the %d valid rows now (submit with skip_invalid)", b.Counts.Valid)
	if b, err = st.Actions.Submit(ctx, b.ID, true); err != nil {
		return err
	}
	if b, err = waitFor(ctx, st, b.ID, func(b credbatch.Batch) bool { return b.TaskToken != "" || b.Status.Terminal() }); err != nil {
		return err
	}
	p("   batch is %s; the approvers were emailed a review link (%s/review/%s)", credbatch.StatusWords(b), baseURL, b.ID)
	if _, err := st.Actions.Approve(ctx, b.ID, demoIssuer); err != nil {
		p("   %s tries to approve their own batch: refused (%s)", demoIssuer, credbatch.ErrorMessage(err))
	}
	if b, err = st.Actions.Approve(ctx, b.ID, demoApprover); err != nil {
		return err
	}
	p("   %s approves it", demoApprover)

	p("\n5. Issuing through the local engine (infra/statemachine/issuance.asl.json):")
	last := -1
	if b, err = waitFor(ctx, st, b.ID, func(b credbatch.Batch) bool {
		if n := b.Counts.Issued + b.Counts.Failed; n != last {
			last = n
			p("   %-24s issued %d of %d", b.Status, b.Counts.Issued, b.Counts.Valid)
		}
		return b.Status.Terminal() || b.Status == credbatch.BatchPaused
	}); err != nil {
		return err
	}
	st.Relay.Wait() // the simulated SES events of every message sent so far
	if b, err = st.Store.GetBatch(ctx, b.ID); err != nil {
		return err
	}

	p("\n6. SES mailbox simulator feedback, then the delivery report to %s:", demoAdmin)
	rep, err := st.Report.Run(ctx)
	if err != nil {
		return err
	}
	for _, bs := range rep.Batches {
		p("   %s: sent %d, delivered %d, bounced %d, complained %d, suppressed %d (bounce rate %.1f%%, complaint rate %.1f%%)",
			bs.Label, bs.Sent, bs.Delivered, bs.Bounced, bs.Complained, bs.Suppressed, bs.BounceRate*100, bs.ComplaintRate*100)
		for _, w := range bs.Warnings {
			p("   warning: %s", w)
		}
	}
	p("   failed recipients (also in the attached workbook):")
	for _, f := range rep.Failed {
		p("   row %-3d %-60s %s", f.Row, f.Name()+" <"+f.Email+">", f.Reason)
	}
	if !rep.Sent {
		return fmt.Errorf("the delivery report was not sent: %s", rep.Skipped)
	}
	return demoSummary(ctx, st, b, time.Since(start), p)
}

// waitFor polls a batch until cond holds (at most two minutes).
func waitFor(ctx context.Context, st *stack.Stack, id string, cond func(credbatch.Batch) bool) (credbatch.Batch, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		b, err := st.Store.GetBatch(ctx, id)
		if err != nil {
			return b, err
		}
		if cond(b) {
			return b, nil
		}
		select {
		case <-ctx.Done():
			return b, fmt.Errorf("batch %s stayed %s: %w", id, b.Status, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func demoSummary(ctx context.Context, st *stack.Stack, b credbatch.Batch, took time.Duration, p func(string, ...any)) error {
	creds, err := st.Store.ListCredentialsByBatch(ctx, b.ID, "", credbatch.MaxPageSize)
	if err != nil {
		return err
	}
	var sample credbatch.Credential
	for _, c := range creds.Items {
		if sample.ID == "" && strings.HasPrefix(c.Email, "success") {
			sample = c
		}
	}
	// The same counters the report and the API show (kept with every email status change).
	if b, err = st.Store.GetBatch(ctx, b.ID); err != nil {
		return err
	}
	emls, _ := filepath.Glob(filepath.Join(st.Config.OutboxDir(), "*.eml"))
	p("\n7. Summary (%s)", took.Round(time.Millisecond))
	p("   batch           %s (%s)", b.ID, credbatch.StatusWords(b))
	p("   rows            %d", b.Counts.Rows)
	p("   issued          %d", b.Counts.Issued)
	p("   rejected        %d (invalid rows, left out by the issuer)", b.Counts.Invalid)
	p("   failed          %d", b.Counts.Failed)
	c := b.Counts
	p("   emails          sent %d, delivered %d, bounced %d, complained %d, suppressed %d", c.Sent, c.Delivered, c.Bounced, c.Complained, c.Suppressed)
	p("   outbox          %s (%d messages)", st.Config.OutboxDir(), len(emls))
	if sample.ID != "" {
		res, err := credential.NewVerifier(st.Keys, nil).Verify(ctx, sample.JWT, time.Now())
		if err != nil {
			return err
		}
		serve := "go run ./infra/local serve --data " + st.Config.DataDir
		if st.Config.DataDir == "demo-data" {
			serve = "make serve"
		}
		p("   credential page %s (signature %s; open it with `%s`)", st.Config.Issuer.CredentialURL(sample.ID), res.Status, serve)
	}
	p("\nDone.")
	return nil
}
