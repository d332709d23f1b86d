package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/credbatch/credbatch/infra/deployed"
)

// price is one published us-east-1 price (no free tier applied).
type price struct {
	item   string
	per    float64 // dollars per unit
	unit   string
	source string
}

// prices are the published us-east-1 on-demand prices the cost table uses, read 2026-12-04.
var prices = map[string]price{
	"ses":      {"SES emails sent", 0.10 / 1000, "email", "https://aws.amazon.com/ses/pricing/ ($0.10 per 1,000 emails)"},
	"lambdaGB": {"Lambda arm64 duration", 0.0000133334, "GB-s", "https://aws.amazon.com/lambda/pricing/ (Arm, $0.0000133334 per GB-second)"},
	"lambdaRq": {"Lambda requests", 0.20 / 1e6, "request", "https://aws.amazon.com/lambda/pricing/ ($0.20 per 1M requests)"},
	"ddbW":     {"DynamoDB write request units", 0.625 / 1e6, "WRU", "https://aws.amazon.com/dynamodb/pricing/on-demand/ ($0.625 per million WRU since Nov 2024)"},
	"ddbF":     {"DynamoDB failed conditional writes", 0.625 / 1e6, "WRU", "https://aws.amazon.com/dynamodb/pricing/on-demand/ (a failed conditional write is billed as a write; its response reports no units: 1 WRU each, a lower bound)"},
	"ddbR":     {"DynamoDB read request units", 0.125 / 1e6, "RRU", "https://aws.amazon.com/dynamodb/pricing/on-demand/ ($0.125 per million RRU since Nov 2024)"},
	"sfn":      {"Step Functions state transitions", 0.025 / 1000, "transition", "https://aws.amazon.com/step-functions/pricing/ (Standard, $0.025 per 1,000)"},
	"s3Put":    {"S3 PUT, COPY, POST, LIST requests", 0.005 / 1000, "request", "https://aws.amazon.com/s3/pricing/ (Standard, $0.005 per 1,000)"},
	"s3Get":    {"S3 GET and other requests", 0.0004 / 1000, "request", "https://aws.amazon.com/s3/pricing/ (Standard, $0.0004 per 1,000)"},
	"sns":      {"SNS publishes (SES events)", 0.50 / 1e6, "publish", "https://aws.amazon.com/sns/pricing/ ($0.50 per 1M requests; deliveries to Lambda free)"},
	"secrets":  {"Secrets Manager API calls", 0.05 / 10000, "call", "https://aws.amazon.com/secrets-manager/pricing/ ($0.05 per 10,000 API calls)"},
	"xray":     {"X-Ray traces recorded", 5.0 / 1e6, "trace", "https://aws.amazon.com/xray/pricing/ ($5.00 per 1M traces recorded)"},
}

// priceOrder is the order of the table's lines.
var priceOrder = []string{"ses", "lambdaGB", "lambdaRq", "ddbW", "ddbF", "ddbR", "sfn", "s3Put", "s3Get", "sns", "secrets", "xray"}

// s3PutClass are the S3 operations billed at the PUT price; every other S3 request is
// billed at the GET price (DELETE is free and is not made by the functions).
var s3PutClass = map[string]bool{"PutObject": true, "CopyObject": true, "PostObject": true, "ListObjectsV2": true, "ListObjects": true,
	"CreateMultipartUpload": true, "UploadPart": true, "CompleteMultipartUpload": true, "ListBuckets": true}

// per10k is 10,000 credentials.
const per10k = 10000

// benchCost runs the cost scenario on the deployed shape (TestCostPerCredential in
// infra/deployed: the real binaries under the Lambda RIE on moto and DynamoDB Local) and
// prints the cost of 10,000 credentials at the prices above, each line with its count. The
// run's figures stay in <work>/cost.json; with from set, benchCost prints the table of such an
// earlier file and runs nothing.
func benchCost(ctx context.Context, work string, rows int, from string) error {
	out := filepath.Join(work, "cost.json")
	if from != "" {
		out = from
	} else if err := runCost(ctx, out, rows); err != nil {
		return err
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return fmt.Errorf("the cost scenario wrote no figures: %w", err)
	}
	var run deployed.CostRun
	if err := json.Unmarshal(data, &run); err != nil {
		return err
	}
	fmt.Print(costTable(run))
	return nil
}

// runCost runs TestCostPerCredential, which writes its figures to out.
func runCost(ctx context.Context, out string, rows int) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-timeout", "40m", "-run", "^TestCostPerCredential$", "./infra/deployed")
	cmd.Env = append(os.Environ(), "CREDBATCH_COST_OUT="+out, "CREDBATCH_COST_ROWS="+strconv.Itoa(rows))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the cost scenario: %w", err)
	}
	return nil
}

// costTable formats a run's cost per 10,000 credentials.
func costTable(run deployed.CostRun) string {
	scale := float64(per10k) / float64(run.Issued)
	count := map[string]float64{}
	var ids []string
	for id := range run.Functions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	fmt.Fprintf(&b, "cost: one batch of %d credentials through the deployed shape at %g emails/s in %.0f s, scaled to %d credentials\n",
		run.Issued, run.SendRate, run.Seconds, per10k)
	fmt.Fprintf(&b, "  %-18s %11s %9s %10s %8s %8s %9s  %s\n", "function", "invocations", "MB (peak)", "GB-s", "WRU", "RRU", "WRU/cred", "AWS calls (per 10,000 credentials)")
	traced := 0.0
	for _, id := range ids {
		f := run.Functions[id]
		a := f.AWS
		wru, rru := a.WriteUnits, a.ReadUnits
		count["lambdaGB"] += f.GBSeconds()
		count["lambdaRq"] += float64(f.Invocations)
		count["ddbW"] += wru
		count["ddbF"] += float64(a.Unmeasured)
		count["ddbR"] += rru
		var calls []string
		for _, k := range a.Keys() {
			n := a.Calls[k]
			calls = append(calls, fmt.Sprintf("%s %.0f", k, float64(n)*scale))
			svc, op, _ := strings.Cut(k, ".")
			switch svc {
			case "SESv2":
				if op == "SendEmail" {
					count["ses"] += float64(n)
				}
			case "S3":
				if s3PutClass[op] {
					count["s3Put"] += float64(n)
				} else {
					count["s3Get"] += float64(n)
				}
			case "Secrets Manager":
				count["secrets"] += float64(n)
			}
		}
		// A function started by the state machine joins the execution's trace when the
		// state machine traces; any other traced invocation records a trace of its own.
		if run.Tracing[id] == "Active" && !(run.SFNTracing && stateMachineTask(id)) {
			traced += sampled(float64(f.Invocations), run.Seconds)
		}
		fmt.Fprintf(&b, "  %-18s %11.0f %9s %10.1f %8.0f %8.0f %9.1f  %s\n", id, float64(f.Invocations)*scale, fmt.Sprintf("%d (%.0f)", f.MemoryMB, f.PeakMB),
			f.GBSeconds()*scale, wru*scale, rru*scale, wru/float64(run.Issued), strings.Join(calls, ", "))
	}
	fmt.Fprintf(&b, "  %-18s %11s %9s %10s %8.0f %8.0f %9.1f  (ingest: IngestFunction; issuing: IssueFunction; feedback: FeedbackFunction)\n", "all functions", "", "", "",
		count["ddbW"]*scale, count["ddbR"]*scale, count["ddbW"]/float64(run.Issued))
	count["s3Put"]++ // the upload itself
	count["sfn"] = float64(run.Transitions)
	for _, n := range run.SESEvents {
		count["sns"] += float64(n)
	}
	if run.SFNTracing {
		traced += sampled(float64(run.Executions), run.Seconds)
	}
	count["xray"] = traced
	fmt.Fprintf(&b, "  %-34s %14s %16s %12s\n", "per 10,000 credentials", "count", "price", "cost")
	total := 0.0
	for _, k := range priceOrder {
		p := prices[k]
		n := count[k] * scale
		c := n * p.per
		total += c
		fmt.Fprintf(&b, "  %-34s %14.1f %16s %12s\n", p.item, n, fmt.Sprintf("$%.3g/%s", p.per, p.unit), fmt.Sprintf("$%.4f", c))
	}
	fmt.Fprintf(&b, "  %-34s %14s %16s %12s   (target $1.10)\n", "total", "", "", fmt.Sprintf("$%.4f", total))
	fmt.Fprintf(&b, "  DynamoDB units are DynamoDB Local's ConsumedCapacity (GSI writes included, transactions at twice the units as DynamoDB bills them; items of equal units in one transaction count once there, so those are a lower bound); Lambda duration is each invocation's time under the RIE at the template's MemorySize; X-Ray applies the default sampling rule to each traced entry point (the state machine, every Active function it does not invoke): the first request each second and 5%% of the rest; PassThrough functions record only what a sampled caller passes them. Prices (us-east-1, no free tier):\n")
	for _, k := range priceOrder {
		fmt.Fprintf(&b, "    %-34s %s\n", prices[k].item, prices[k].source)
	}
	return b.String()
}

// sampled is how many of n requests over a run of the given seconds X-Ray's default sampling
// rule records: a reservoir of one request each second, then 5% of the rest
// (https://docs.aws.amazon.com/xray/latest/devguide/xray-console-sampling.html).
func sampled(n, seconds float64) float64 {
	reservoir := min(n, math.Ceil(seconds))
	return reservoir + 0.05*(n-reservoir)
}

// stateMachineTask reports whether the state machine invokes the function.
func stateMachineTask(id string) bool {
	switch id {
	case "WorkflowFunction", "ApprovalFunction", "IssueFunction":
		return true
	}
	return false
}
