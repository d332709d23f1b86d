package deployed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/credbatch/credbatch/infra/local/engine"
)

// Config configures a harness run.
type Config struct {
	Root       string            // repository root
	MotoURL    string            // moto server (CloudFormation, S3, SES v2, SNS, Secrets Manager, ...)
	DynamoURL  string            // DynamoDB Local
	StackName  string            // default credbatch-e2e-<time>
	Parameters map[string]string // the stack's parameters
	WorkDir    string            // binaries, logs, engine database
	Pools      map[string]int    // emulator instances per function (default 1)
	Log        *slog.Logger
}

// Harness is a running deployed shape.
type Harness struct {
	Deploy   *Deployment
	Runner   *Runner
	Engine   *engine.Engine
	SFN      *SFNAPI
	SES      *SES
	S3       *S3Notifier
	Gateway  *Gateway
	IdP      *IdP
	Events   *EventBus // the default EventBridge bus: the stack's rules
	SQS      SQS       // moto's SQS: the on-failure destinations
	URL      string    // the HTTP API on loopback
	SFNURL   string    // the Step Functions endpoint (the engine)
	S3Client *s3.Client
	Custom   map[string]cfn.Response // the custom resources' responses to their Create requests

	cancel       context.CancelFunc
	motoURL      string
	responses    *responses
	responsesURL string
	customIDs    map[string]string // physical ids the custom resources' functions gave
	servers      []*http.Server
	wg           sync.WaitGroup
	mu           sync.Mutex
	errs         []error
	started      time.Time
}

func awsConfig(endpoint string) aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint)}
}

func serve(h http.Handler) (*http.Server, string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return srv, "http://" + l.Addr().String(), nil
}

// Start deploys the stack, builds and starts the functions and the event sources.
func Start(ctx context.Context, c Config) (_ *Harness, err error) {
	h := &Harness{started: time.Now()}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if c.StackName == "" {
		c.StackName = fmt.Sprintf("credbatch-e2e-%d", time.Now().UnixNano()%1e9)
	}
	tools, err := FindTools(c.Root)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"bin", "logs"} {
		if err := os.MkdirAll(filepath.Join(c.WorkDir, d), 0o755); err != nil {
			return nil, err
		}
	}
	// The OpenID provider comes first: the stack's AuthIssuer is its URL unless one is given.
	if h.IdP, err = NewIdP(); err != nil {
		return nil, err
	}
	caFile := filepath.Join(c.WorkDir, "idp-ca.pem")
	if err := h.IdP.Serve(caFile); err != nil {
		return nil, err
	}
	params := map[string]string{"AuthIssuer": h.IdP.URL}
	for k, v := range c.Parameters {
		params[k] = v
	}
	c.Parameters = params
	if h.Deploy, err = Deploy(ctx, tools, c.MotoURL, c.StackName, c.Parameters, c.WorkDir); err != nil {
		return nil, err
	}
	d := h.Deploy
	if len(d.Functions) == 0 || len(d.StateMachines) != 1 || len(d.Tables) != 1 || len(d.Buckets) != 1 || len(d.HttpApis) != 1 {
		return nil, fmt.Errorf("stack %s: want functions, one state machine, table, bucket and HTTP API; have %d, %d, %d, %d, %d",
			d.StackName, len(d.Functions), len(d.StateMachines), len(d.Tables), len(d.Buckets), len(d.HttpApis))
	}
	if err := createTable(ctx, dynamodb.NewFromConfig(awsConfig(c.DynamoURL)), first(d.Tables)); err != nil {
		return nil, err
	}
	// SES sends only from a verified identity: on an account that is a step of the README.
	if from := c.Parameters["SenderEmail"]; from != "" {
		if _, err := sesv2.NewFromConfig(awsConfig(c.MotoURL)).CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(from)}); err != nil {
			return nil, fmt.Errorf("verify %s in SES: %w", from, err)
		}
	}
	if err := Build(ctx, c.Root, filepath.Join(c.WorkDir, "bin"), d); err != nil {
		return nil, err
	}

	moto, err := url.Parse(c.MotoURL)
	if err != nil {
		return nil, err
	}
	h.SES = &SES{Moto: moto, Deploy: d}
	sesSrv, sesURL, err := serve(h.SES)
	if err != nil {
		return nil, err
	}
	h.servers = append(h.servers, sesSrv)
	h.SFN = &SFNAPI{Machine: first(d.StateMachines)}
	sfnSrv, sfnURL, err := serve(h.SFN)
	if err != nil {
		return nil, err
	}
	h.servers = append(h.servers, sfnSrv)
	h.SFNURL = sfnURL
	ep := Endpoints{
		"AWS_ENDPOINT_URL_DYNAMODB":        c.DynamoURL,
		"AWS_ENDPOINT_URL_S3":              c.MotoURL,
		"AWS_ENDPOINT_URL_SESV2":           sesURL,
		"AWS_ENDPOINT_URL_SNS":             c.MotoURL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": c.MotoURL,
		"AWS_ENDPOINT_URL_SFN":             sfnURL,
		// The functions' trust store: the IdP's certificate (the host has no other TLS peer).
		"SSL_CERT_FILE": caFile,
	}
	if h.Runner, err = StartRunner(tools.RIE, filepath.Join(c.WorkDir, "bin"), filepath.Join(c.WorkDir, "logs"), d, ep, c.Pools); err != nil {
		return nil, err
	}
	h.SES.Runner = h.Runner
	// CloudFormation runs the custom resources' functions while it creates the stack, before
	// the functions that depend on them (the signing keys) start.
	h.motoURL = c.MotoURL
	if err := h.createCustomResources(ctx); err != nil {
		return nil, err
	}
	h.SQS = SQS{Endpoint: c.MotoURL}
	h.Runner.OnFailure = func(ctx context.Context, id string, payload []byte, ierr error, attempts int) {
		url, ok := d.OnFailure(id)
		if !ok {
			return
		}
		if err := h.SQS.Send(ctx, url, failureRecord(d.Functions[id], payload, ierr, attempts)); err != nil {
			h.fail(fmt.Errorf("on-failure destination of %s: %w", id, err))
		}
	}
	h.Events = &EventBus{Deploy: d, Runner: h.Runner, OnError: h.fail}
	h.SFN.OnEnd = func(ev []byte) {
		if _, err := h.Events.Put(context.Background(), ev); err != nil {
			h.fail(err)
		}
	}

	// The state machine's Lambda tasks invoke the emulated functions by ARN.
	sm := first(d.StateMachines)
	tasks := map[string]engine.Handler{}
	for _, arn := range sm.Substitutions {
		id, ok := d.FunctionByArn(arn)
		if !ok {
			continue
		}
		tasks[arn] = func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error) {
			return h.Runner.Invoke(ctx, id, payload)
		}
	}
	m, err := engine.Load([]byte(sm.Definition), nil, tasks)
	if err != nil {
		return nil, fmt.Errorf("the stack's state machine: %w", err)
	}
	if h.Engine, err = engine.Open(ctx, filepath.Join(c.WorkDir, "engine.db"), m, engine.Options{Log: c.Log, MachineARN: sm.Arn}); err != nil {
		return nil, err
	}
	h.SFN.Engine = h.Engine

	h.Gateway = &Gateway{API: first(d.HttpApis), Deploy: d, Runner: h.Runner, IdP: h.IdP}
	gwSrv, gwURL, err := serve(h.Gateway)
	if err != nil {
		return nil, err
	}
	h.servers = append(h.servers, gwSrv)
	h.URL = gwURL

	h.S3Client = s3.NewFromConfig(awsConfig(c.MotoURL), func(o *s3.Options) { o.UsePathStyle = true })
	runCtx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.S3 = &S3Notifier{S3: h.S3Client, Bucket: first(d.Buckets), Region: d.Region, Runner: h.Runner, Deploy: d, Log: c.Log, OnError: h.fail}
	h.wg.Add(1)
	go func() { defer h.wg.Done(); h.S3.Run(runCtx) }()
	return h, nil
}

func (h *Harness) fail(err error) {
	h.mu.Lock()
	h.errs = append(h.errs, err)
	h.mu.Unlock()
}

// Errors returns the event-delivery errors so far (S3 and SNS deliveries that failed after
// Lambda's retries).
func (h *Harness) Errors() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := append([]error(nil), h.errs...)
	if h.SES != nil {
		out = append(out, h.SES.Wait()...)
	}
	return out
}

// RunSchedule invokes a schedule's target as EventBridge Scheduler does: its Input, or
// Scheduler's default notification when it has none.
func (h *Harness) RunSchedule(ctx context.Context, logicalID string) error {
	s, ok := h.Deploy.Schedules[logicalID]
	if !ok {
		return fmt.Errorf("no schedule %s in the stack", logicalID)
	}
	id, ok := h.Deploy.FunctionByArn(s.Target.Arn)
	if !ok {
		return fmt.Errorf("schedule %s targets %s, which is no function of the stack", logicalID, s.Target.Arn)
	}
	input := []byte(s.Target.Input)
	if len(input) == 0 {
		now := time.Now().UTC()
		input, _ = json.Marshal(map[string]any{"version": "0", "id": fmt.Sprintf("harness-%d", now.UnixNano()),
			"detail-type": "Scheduled Event", "source": "aws.scheduler", "account": h.Deploy.Account,
			"time": now.Format(time.RFC3339), "region": h.Deploy.Region, "resources": []string{s.Arn}, "detail": "{}"})
	}
	return h.Runner.InvokeAsync(ctx, id, input)
}

// Summary is the one-line result of a run.
func (h *Harness) Summary(credentials int, outcome string) string {
	inv := h.Runner.Invocations()
	names := make([]string, 0, len(inv))
	for id := range inv {
		names = append(names, FunctionDir(id))
	}
	sort.Strings(names)
	evTotal := h.S3.Total()
	for _, n := range h.SES.Events() {
		evTotal += n
	}
	return fmt.Sprintf("e2e-aws: functions invoked %d/%d (%s), invocations %d, credentials issued %d, emails sent %d, events delivered %d (S3 %d, SES/SNS %d), %s, %s",
		len(inv), len(h.Deploy.Functions), strings.Join(names, " "), h.Runner.Total(), credentials, len(h.SES.Emails()),
		evTotal, h.S3.Total(), evTotal-h.S3.Total(), time.Since(h.started).Round(time.Second), outcome)
}

// Close stops everything the harness started.
func (h *Harness) Close() {
	if h.cancel != nil {
		h.cancel()
	}
	h.wg.Wait()
	if h.Events != nil {
		h.Events.Wait()
	}
	for _, s := range h.servers {
		_ = s.Close()
	}
	if h.Engine != nil {
		_ = h.Engine.Close()
	}
	if h.Runner != nil {
		h.Runner.Close()
	}
	if h.IdP != nil {
		h.IdP.Close()
	}
}

func first[T any](m map[string]T) T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var zero T
	if len(keys) == 0 {
		return zero
	}
	return m[keys[0]]
}

// createTable creates the stack's table in DynamoDB Local from its description.
func createTable(ctx context.Context, c *dynamodb.Client, t Table) error {
	in := &dynamodb.CreateTableInput{TableName: aws.String(t.TableName), BillingMode: ddbtypes.BillingModePayPerRequest}
	if t.BillingMode != "PAY_PER_REQUEST" {
		return fmt.Errorf("table %s: billing mode %s; the template asks for PAY_PER_REQUEST", t.TableName, t.BillingMode)
	}
	for _, a := range t.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{AttributeName: aws.String(a.AttributeName), AttributeType: ddbtypes.ScalarAttributeType(a.AttributeType)})
	}
	keys := func(ks []KeyElement) []ddbtypes.KeySchemaElement {
		var out []ddbtypes.KeySchemaElement
		for _, k := range ks {
			out = append(out, ddbtypes.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: ddbtypes.KeyType(k.KeyType)})
		}
		return out
	}
	in.KeySchema = keys(t.KeySchema)
	for _, g := range t.GlobalSecondaryIndexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{IndexName: aws.String(g.IndexName),
			KeySchema: keys(g.KeySchema), Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionType(g.Projection.ProjectionType)}})
	}
	if _, err := c.CreateTable(ctx, in); err != nil {
		var inUse *ddbtypes.ResourceInUseException
		if !errors.As(err, &inUse) {
			return fmt.Errorf("create table %s in DynamoDB Local: %w", t.TableName, err)
		}
	}
	return nil
}

// ForgetErrors drops the delivery errors a test caused on purpose.
func (h *Harness) ForgetErrors(expected func(error) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	kept := h.errs[:0]
	for _, err := range h.errs {
		if !expected(err) {
			kept = append(kept, err)
		}
	}
	h.errs = kept
}
