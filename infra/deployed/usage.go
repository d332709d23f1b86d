package deployed

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/credbatch/credbatch/shared/awsmeter"
)

// FunctionUsage is what one function of the stack cost in a run: its invocations, their
// duration as Lambda bills it (from the request to the response, rounded up to the
// millisecond; the first invocation of an instance includes its cold start), the memory
// the stack configures, and the AWS requests its invocations logged (awsmeter).
type FunctionUsage struct {
	Invocations int            `json:"invocations"`
	Billed      time.Duration  `json:"billed_ns"`
	MemoryMB    int            `json:"memory_mb"`
	PeakMB      float64        `json:"peak_mb"` // the largest peak RSS an invocation logged (max_rss_kb)
	AWS         awsmeter.Usage `json:"aws"`
}

// GBSeconds is the billed duration at the configured memory.
func (u FunctionUsage) GBSeconds() float64 {
	return u.Billed.Seconds() * float64(u.MemoryMB) / 1024
}

// Usage returns each invoked function's usage so far, by logical id, reading the "aws usage"
// lines the functions logged (awsmeter.Handler, one per invocation).
func (r *Runner) Usage() (map[string]FunctionUsage, error) {
	r.mu.Lock()
	out := map[string]FunctionUsage{}
	for id, n := range r.invocations {
		out[id] = FunctionUsage{Invocations: n, Billed: r.billed[id], MemoryMB: r.d.Functions[id].MemorySize}
	}
	r.mu.Unlock()
	for id, u := range out {
		aws, peak, err := readUsage(filepath.Join(r.logDir, FunctionDir(id)+".log"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		u.AWS, u.PeakMB = aws, peak
		out[id] = u
	}
	return out, nil
}

// readUsage sums the awsmeter lines of a function's log and returns the largest peak RSS
// they give, in MiB.
func readUsage(path string) (awsmeter.Usage, float64, error) {
	total := awsmeter.Usage{Calls: map[string]int{}}
	peak := 0.0
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return total, 0, nil
	}
	if err != nil {
		return total, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var rec struct {
			Msg      string `json:"msg"`
			MaxRSSKB int64  `json:"max_rss_kb"`
			awsmeter.Usage
		}
		if json.Unmarshal(line, &rec) != nil || rec.Msg != awsmeter.UsageMessage {
			continue
		}
		total.Add(rec.Usage)
		peak = max(peak, float64(rec.MaxRSSKB)/1024)
	}
	return total, peak, sc.Err()
}

// CostRun is what the cost bench measured (TestCostPerCredential): the usage of one batch of Rows
// credentials through the deployed shape, from the upload to the last SES event handled.
type CostRun struct {
	Rows        int                      `json:"rows"`
	Issued      int                      `json:"issued"`
	SendRate    float64                  `json:"send_rate"`
	Seconds     float64                  `json:"seconds"`
	Functions   map[string]FunctionUsage `json:"functions"`
	Transitions int                      `json:"transitions"` // state transitions of the batch's execution
	Executions  int                      `json:"executions"`
	SESEvents   map[string]int           `json:"ses_events"` // SNS notifications published by SES, by event type
	Emails      int                      `json:"emails"`     // emails moto's SES accepted
	Tracing     map[string]string        `json:"tracing"`    // each function's TracingConfig mode
	SFNTracing  bool                     `json:"sfn_tracing"`
}
