// Package awsmeter counts the AWS requests a process makes, by service and operation, and
// sums the DynamoDB capacity they consume: an SDK middleware every client built from the
// config it loads carries. A Lambda function wraps its handler with Handler, which logs one
// "aws usage" line per invocation (the calls and capacity of that invocation, its cold start
// included) and starts the next invocation from zero; the cost bench sums those lines.
package awsmeter

import (
	"context"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// Usage is what a process asked of AWS.
type Usage struct {
	Calls      map[string]int `json:"calls"`       // "Service.Operation" (SDK service id, e.g. "DynamoDB.PutItem") -> requests
	ReadUnits  float64        `json:"read_units"`  // DynamoDB read capacity (request) units consumed
	WriteUnits float64        `json:"write_units"` // DynamoDB write capacity (request) units consumed
	Unmeasured int            `json:"unmeasured"`  // DynamoDB responses without ConsumedCapacity (failed requests)

	// The units of TransactWriteItems and TransactGetItems, as the responses give them (also
	// in ReadUnits and WriteUnits). DynamoDB reports and bills each item of a transaction at
	// twice its standard units, and so does DynamoDB Local, with one flaw (measured): it sums
	// the distinct per-item figures, so items of equal units in one transaction count once
	// (two 1-unit puts report 2 units, DynamoDB bills 4). For such transactions these are a
	// lower bound.
	TransactReadUnits  float64 `json:"transact_read_units"`
	TransactWriteUnits float64 `json:"transact_write_units"`
}

// Add adds u's figures to the receiver.
func (u *Usage) Add(o Usage) {
	if u.Calls == nil {
		u.Calls = map[string]int{}
	}
	for k, v := range o.Calls {
		u.Calls[k] += v
	}
	u.ReadUnits += o.ReadUnits
	u.WriteUnits += o.WriteUnits
	u.Unmeasured += o.Unmeasured
	u.TransactReadUnits += o.TransactReadUnits
	u.TransactWriteUnits += o.TransactWriteUnits
}

// Subtract takes o's figures from the receiver (the usage between two readings).
func (u *Usage) Subtract(o Usage) {
	n := Usage{Calls: map[string]int{}}
	for k, v := range o.Calls {
		n.Calls[k] = -v
	}
	n.ReadUnits, n.WriteUnits, n.Unmeasured = -o.ReadUnits, -o.WriteUnits, -o.Unmeasured
	n.TransactReadUnits, n.TransactWriteUnits = -o.TransactReadUnits, -o.TransactWriteUnits
	u.Add(n)
	for k, v := range u.Calls {
		if v == 0 {
			delete(u.Calls, k)
		}
	}
}

// Service sums the calls of one service (its SDK service id).
func (u Usage) Service(id string) int {
	n := 0
	for k, v := range u.Calls {
		if len(k) > len(id) && k[:len(id)] == id && k[len(id)] == '.' {
			n += v
		}
	}
	return n
}

// Keys returns the "Service.Operation" keys in order.
func (u Usage) Keys() []string {
	keys := make([]string, 0, len(u.Calls))
	for k := range u.Calls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Meter counts the requests of the clients whose options carry its middleware.
type Meter struct {
	mu sync.Mutex
	u  Usage
}

// New returns an empty meter.
func New() *Meter { return &Meter{u: Usage{Calls: map[string]int{}}} }

// LoadDefaultConfig loads the SDK's default config (as awsconfig.LoadDefaultConfig) with a
// new meter on it: every client built from the config counts into the meter.
func LoadDefaultConfig(ctx context.Context, opts ...func(*awsconfig.LoadOptions) error) (aws.Config, *Meter, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, nil, err
	}
	m := New()
	m.Instrument(&cfg)
	return cfg, m, nil
}

// Instrument adds the meter's middleware to the clients built from cfg from now on.
func (m *Meter) Instrument(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, m.register)
}

// Snapshot returns the figures so far.
func (m *Meter) Snapshot() Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	var u Usage
	u.Add(m.u)
	return u
}

// Reset returns the figures so far and starts again from zero.
func (m *Meter) Reset() Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.u
	m.u = Usage{Calls: map[string]int{}}
	return u
}

func (m *Meter) register(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("awsmeter", m.handle), middleware.After)
}

var returnTotal = reflect.ValueOf(ddbtypes.ReturnConsumedCapacityTotal)

func (m *Meter) handle(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	service, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
	dynamo := service == "DynamoDB"
	if dynamo {
		// Every DynamoDB request that can report its consumed capacity asks for the total.
		if f := field(in.Parameters, "ReturnConsumedCapacity"); f.IsValid() && f.CanSet() && f.Type() == returnTotal.Type() {
			f.Set(returnTotal)
		}
	}
	out, md, err := next.HandleInitialize(ctx, in)
	var r, w float64
	measured := true
	if dynamo {
		r, w, measured = consumed(out.Result, op)
	}
	m.mu.Lock()
	m.u.Calls[service+"."+op]++
	m.u.ReadUnits += r
	m.u.WriteUnits += w
	if strings.HasPrefix(op, "Transact") {
		m.u.TransactReadUnits += r
		m.u.TransactWriteUnits += w
	}
	if dynamo && !measured && hasField(in.Parameters, "ReturnConsumedCapacity") {
		m.u.Unmeasured++
	}
	m.mu.Unlock()
	return out, md, err
}

// field is the named field of the struct p points to (the zero Value when there is none).
func field(p any, name string) reflect.Value {
	v := reflect.ValueOf(p)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.Elem().FieldByName(name)
}

func hasField(p any, name string) bool { return field(p, name).IsValid() }

// consumed reads the ConsumedCapacity of a DynamoDB output (one for single-item and query
// operations, a list for batch and transaction operations). Capacity the response gives as a
// total only is counted as writes for write operations and reads otherwise.
func consumed(result any, op string) (read, write float64, ok bool) {
	f := field(result, "ConsumedCapacity")
	if !f.IsValid() {
		return 0, 0, false
	}
	var list []ddbtypes.ConsumedCapacity
	switch c := f.Interface().(type) {
	case *ddbtypes.ConsumedCapacity:
		if c != nil {
			list = append(list, *c)
		}
	case []ddbtypes.ConsumedCapacity:
		list = c
	}
	if len(list) == 0 {
		return 0, 0, false
	}
	for _, c := range list {
		r, w := aws.ToFloat64(c.ReadCapacityUnits), aws.ToFloat64(c.WriteCapacityUnits)
		if r == 0 && w == 0 {
			if writeOps[op] {
				w = aws.ToFloat64(c.CapacityUnits)
			} else {
				r = aws.ToFloat64(c.CapacityUnits)
			}
		}
		read += r
		write += w
	}
	return read, write, true
}

var writeOps = map[string]bool{"PutItem": true, "UpdateItem": true, "DeleteItem": true, "BatchWriteItem": true,
	"TransactWriteItems": true}

// Handler wraps a Lambda handler (any handler lambda.Start takes): after each invocation it
// logs the invocation's usage at INFO ("aws usage": calls, read_units, write_units, and
// max_rss_kb, the process's peak resident memory so far, which sizes MemorySize) and resets
// the meter. A Lambda execution environment runs one invocation at a time.
func (m *Meter) Handler(log *slog.Logger, handler any) lambda.Handler {
	return &metered{m: m, log: log, next: lambda.NewHandler(handler)}
}

type metered struct {
	m    *Meter
	log  *slog.Logger
	next lambda.Handler
}

func (h *metered) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := h.next.Invoke(ctx, payload)
	u := h.m.Reset()
	h.log.LogAttrs(ctx, slog.LevelInfo, UsageMessage, slog.Any("calls", u.Calls),
		slog.Float64("read_units", u.ReadUnits), slog.Float64("write_units", u.WriteUnits),
		slog.Float64("transact_read_units", u.TransactReadUnits), slog.Float64("transact_write_units", u.TransactWriteUnits),
		slog.Int("unmeasured", u.Unmeasured), slog.Int64("max_rss_kb", maxRSS()))
	return out, err
}

// maxRSS is the process's peak resident set size in KiB (0 where getrusage says nothing).
func maxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return int64(ru.Maxrss) // KiB on Linux
}

// UsageMessage is the msg of the line Handler logs per invocation.
const UsageMessage = "aws usage"
