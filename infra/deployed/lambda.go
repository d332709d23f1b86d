package deployed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

// FunctionDir is the functions/<name> directory of a function's logical id, the Makefile's
// convention for sam build: IngestFunction -> ingest.
func FunctionDir(logicalID string) string {
	return strings.ToLower(strings.TrimSuffix(logicalID, "Function"))
}

// Build builds every function of d for the test machine's architecture with the Makefile's
// build-lambda target (the flags sam build uses), into dir/<name>/bootstrap.
func Build(ctx context.Context, root, dir string, d *Deployment) error {
	ids := make([]string, 0, len(d.Functions))
	for id := range d.Functions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		name := FunctionDir(id)
		cmd := exec.CommandContext(ctx, "make", "-s", "-C", root, "build-lambda", "PKG=./functions/"+name,
			"ARTIFACTS_DIR="+filepath.Join(dir, name), "LAMBDA_GOARCH="+runtime.GOARCH)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %w\n%s", name, err, out)
		}
	}
	return nil
}

// instance is one aws-lambda-rie process running a function's bootstrap. The emulator
// serves one invocation at a time.
type instance struct {
	url string
	cmd *exec.Cmd
}

// Runner runs the functions under the Runtime Interface Emulator and invokes them as the
// Lambda service would.
type Runner struct {
	d     *Deployment
	pools map[string]chan *instance // by logical id
	all   []*instance
	logs  map[string]*os.File

	logDir string

	mu          sync.Mutex
	invocations map[string]int           // by logical id
	billed      map[string]time.Duration // by logical id: each invocation's duration rounded up to the ms, as Lambda bills it
	total       atomic.Int64

	// OnFailure receives an asynchronous invocation that failed after its retries (the
	// function's on-failure destination); nil drops it as Lambda does without one.
	OnFailure func(ctx context.Context, id string, payload []byte, err error, attempts int)
}

// Endpoints are the variables the harness adds to each function's environment from the
// stack: the AWS_ENDPOINT_URL_* of the emulators and SSL_CERT_FILE.
type Endpoints map[string]string

// StartRunner starts size[id] (default 1) emulator instances per function, each with
// exactly the stack's environment for that function plus the endpoints, test credentials,
// the region and the Lambda variables the service sets (name, memory, timeout).
func StartRunner(rie, binDir, logDir string, d *Deployment, ep Endpoints, size map[string]int) (*Runner, error) {
	r := &Runner{d: d, pools: map[string]chan *instance{}, logs: map[string]*os.File{}, invocations: map[string]int{},
		billed: map[string]time.Duration{}, logDir: logDir}
	for id, f := range d.Functions {
		n := max(1, size[id])
		r.pools[id] = make(chan *instance, n)
		lf, err := os.Create(filepath.Join(logDir, FunctionDir(id)+".log"))
		if err != nil {
			r.Close()
			return nil, err
		}
		r.logs[id] = lf
		for range n {
			in, err := startInstance(rie, filepath.Join(binDir, FunctionDir(id)), f, d.Region, ep, lf)
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("start %s under the RIE: %w", id, err)
			}
			r.all = append(r.all, in)
			r.pools[id] <- in
		}
	}
	return r, nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func startInstance(rie, dir string, f Function, region string, ep Endpoints, log io.Writer) (*instance, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	api, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(rie, "--log-level", "warn", "--runtime-interface-emulator-address", addr, "--runtime-api-address", api, "./bootstrap")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Close stops the emulator and its bootstrap together
	env := []string{"PATH=/usr/bin:/bin", "TMPDIR=" + os.TempDir(), "LANG=C.UTF-8",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_SESSION_TOKEN=test",
		"AWS_REGION=" + region, "AWS_DEFAULT_REGION=" + region,
		"AWS_LAMBDA_FUNCTION_NAME=" + f.Name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(f.MemorySize),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(f.Timeout), "AWS_LAMBDA_LOG_FORMAT=JSON"}
	for k, v := range f.Environment {
		env = append(env, k+"="+v)
	}
	for k, v := range ep {
		env = append(env, k+"="+v)
	}
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	in := &instance{url: "http://" + addr + "/2015-03-31/functions/function/invocations", cmd: cmd}
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return in, nil
		}
		if i > 100 {
			_ = cmd.Process.Kill()
			return nil, fmt.Errorf("the emulator did not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FunctionError is a function's error response: the JSON error document aws-lambda-go
// sends, which Step Functions and async invocations see.
type FunctionError = messages.InvokeResponse_Error

// Invoke invokes the function with that logical id synchronously (RequestResponse) and
// returns its result, or a FunctionError for a function error.
func (r *Runner) Invoke(ctx context.Context, id string, payload []byte) (json.RawMessage, error) {
	pool, ok := r.pools[id]
	if !ok {
		return nil, fmt.Errorf("no function %s in the stack", id)
	}
	var in *instance
	select {
	case in = <-pool:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { pool <- in }()
	r.mu.Lock()
	r.invocations[id]++
	r.mu.Unlock()
	r.total.Add(1)
	f := r.d.Functions[id]
	ctx, cancel := context.WithTimeout(ctx, time.Duration(f.Timeout+5)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", id, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	r.mu.Lock()
	r.billed[id] += (took + time.Millisecond - 1).Truncate(time.Millisecond)
	r.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", id, err)
	}
	switch {
	case resp.StatusCode == http.StatusBadGateway:
		// The runtime exited (init failure or crash): Lambda reports Runtime.ExitError.
		return nil, FunctionError{Type: "Runtime.ExitError", Message: fmt.Sprintf("RequestId: Error: Runtime exited (%s)", strings.TrimSpace(string(body)))}
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("invoke %s: the emulator answered %s: %s", id, resp.Status, body)
	case bytes.HasPrefix(body, []byte("Task timed out after")):
		return nil, FunctionError{Type: "Sandbox.Timedout", Message: string(body)}
	}
	var fe struct {
		Message    *string                                     `json:"errorMessage"`
		Type       string                                      `json:"errorType"`
		StackTrace []*messages.InvokeResponse_Error_StackFrame `json:"stackTrace"`
	}
	if json.Unmarshal(body, &fe) == nil && fe.Message != nil && fe.Type != "" {
		var keys map[string]json.RawMessage
		_ = json.Unmarshal(body, &keys)
		if len(keys) <= 3 {
			return nil, FunctionError{Message: *fe.Message, Type: fe.Type, StackTrace: fe.StackTrace}
		}
	}
	return body, nil
}

// InvokeAsync invokes as Lambda does for an asynchronous event source (S3, SNS, Scheduler):
// on a function error it retries twice, one second apart. It returns the last error.
func (r *Runner) InvokeAsync(ctx context.Context, id string, payload []byte) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if _, err = r.Invoke(ctx, id, payload); err == nil {
			return nil
		}
	}
	if r.OnFailure != nil && ctx.Err() == nil {
		r.OnFailure(ctx, id, payload, err, 3)
	}
	return err
}

// Invocations returns the invocation count of each function that was invoked.
func (r *Runner) Invocations() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.invocations))
	for k, v := range r.invocations {
		out[k] = v
	}
	return out
}

// Total is the number of invocations so far.
func (r *Runner) Total() int { return int(r.total.Load()) }

// Close stops every emulator process it started.
func (r *Runner) Close() {
	for _, in := range r.all {
		if in.cmd.Process != nil {
			_ = syscall.Kill(-in.cmd.Process.Pid, syscall.SIGKILL)
			_ = in.cmd.Wait()
		}
	}
	for _, f := range r.logs {
		f.Close()
	}
}
