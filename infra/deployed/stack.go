package deployed

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Deployment is the stack as deploy.py describes it: everything the harness wires comes
// from here, never from hand-written configuration.
type Deployment struct {
	StackName, StackId string
	Region, Account    string
	Status             string
	Parameters         map[string]string
	Resources          map[string]string // logical id -> physical id ("" when moto created nothing)
	ResourceCount      int
	Provisioned        []string // created by deploy.py because moto's CloudFormation skips the type
	NotCreatedByMoto   []string
	Functions          map[string]Function // by logical id
	StateMachines      map[string]StateMachine
	Tables             map[string]Table
	Buckets            map[string]Bucket
	Subscriptions      []Subscription
	Schedules          map[string]Schedule
	HttpApis           map[string]HTTPAPI
	EventDestinations  []EventDestination
	Rules              map[string]Rule              // EventBridge rules
	EventInvokeConfigs map[string]EventInvokeConfig // asynchronous invocation settings
	Queues             map[string]Queue             // SQS queues
	CustomResources    map[string]CustomResource    // waiting for their functions (Harness.CustomResource)
}

// Rule is an EventBridge rule on the default bus.
type Rule struct {
	Name         string
	EventPattern json.RawMessage
	State        string
	Targets      []struct {
		Arn, Id          string
		DeadLetterConfig struct{ Arn string }
		RetryPolicy      struct{ MaximumRetryAttempts, MaximumEventAgeInSeconds int }
	}
}

// EventInvokeConfig is a function's asynchronous invocation configuration.
type EventInvokeConfig struct {
	FunctionName         string
	Qualifier            string
	MaximumRetryAttempts int
	DestinationConfig    struct {
		OnFailure struct{ Destination string }
		OnSuccess struct{ Destination string }
	}
}

// Queue is an SQS queue (its URL is CloudFormation's physical id).
type Queue struct{ Url, Arn string }

// Function is one Lambda function's configuration in the stack.
type Function struct {
	Name, Arn, Role, Runtime, Handler string
	Architectures                     []string
	Timeout, MemorySize               int
	Environment                       map[string]string
	InlinePolicies                    map[string]json.RawMessage
	ManagedPolicies                   []string
	Tracing                           string // TracingConfig.Mode: Active or PassThrough
}

// StateMachine is the stack's state machine with CloudFormation's substitutions applied.
type StateMachine struct {
	Arn, Name, RoleArn string
	Definition         string
	Substitutions      map[string]string
	Tracing            bool // TracingConfiguration.Enabled (X-Ray)
}

// Table is the stack's table definition, as DescribeTable gives it.
type Table struct {
	TableName              string
	AttributeDefinitions   []struct{ AttributeName, AttributeType string }
	KeySchema              []KeyElement
	GlobalSecondaryIndexes []struct {
		IndexName  string
		KeySchema  []KeyElement
		Projection struct{ ProjectionType string }
	}
	BillingMode string
}

// KeyElement is one key attribute of a table or index.
type KeyElement struct{ AttributeName, KeyType string }

// Bucket is a bucket and its notification configuration.
type Bucket struct {
	Name, Arn     string
	Notifications struct {
		LambdaConfigurations []struct {
			Event    string
			Function string
			Filter   struct {
				S3Key struct {
					Rules []struct{ Name, Value string }
				}
			}
		}
	}
}

// Subscription is an SNS subscription.
type Subscription struct{ Endpoint, Protocol, TopicArn string }

// Schedule is an EventBridge Scheduler schedule.
type Schedule struct {
	Arn, Name, ScheduleExpression, ScheduleExpressionTimezone string
	Target                                                    struct{ Arn, RoleArn, Input string }
}

// HTTPAPI is an API Gateway HTTP API with its OpenAPI body.
type HTTPAPI struct {
	Id   string
	Body openAPI
}

type openAPI struct {
	Components struct {
		SecuritySchemes map[string]struct {
			Authorizer struct {
				Type             string `json:"type"`
				IdentitySource   string `json:"identitySource"`
				JwtConfiguration struct {
					Issuer   string   `json:"issuer"`
					Audience []string `json:"audience"`
				} `json:"jwtConfiguration"`
			} `json:"x-amazon-apigateway-authorizer"`
		} `json:"securitySchemes"`
	} `json:"components"`
	Paths map[string]map[string]struct {
		Security    []map[string][]string `json:"security"`
		Integration struct {
			Type                 string `json:"type"`
			URI                  string `json:"uri"`
			PayloadFormatVersion string `json:"payloadFormatVersion"`
		} `json:"x-amazon-apigateway-integration"`
	} `json:"paths"`
}

// EventDestination is an SES configuration set's event destination.
type EventDestination struct {
	ConfigurationSetName string
	EventDestination     struct {
		Name               string
		Enabled            bool
		MatchingEventTypes []string
		SnsDestination     struct{ TopicARN string }
	}
}

// FunctionByArn returns the logical id of the function with that ARN.
func (d *Deployment) FunctionByArn(arn string) (string, bool) {
	for id, f := range d.Functions {
		if f.Arn == arn {
			return id, true
		}
	}
	return "", false
}

// Tools are the programs the harness runs.
type Tools struct {
	Root   string // repository root
	Python string // the venv's python (boto3, samtranslator)
	RIE    string // aws-lambda-rie
}

// FindTools locates the tools under root (.venv, .cache/bin) or from CREDBATCH_RIE.
func FindTools(root string) (Tools, error) {
	t := Tools{Root: root, Python: filepath.Join(root, ".venv", "bin", "python"), RIE: os.Getenv("CREDBATCH_RIE")}
	if t.RIE == "" {
		t.RIE = filepath.Join(root, ".cache", "bin", "aws-lambda-rie")
	}
	for _, p := range []string{t.Python, t.RIE} {
		if _, err := os.Stat(p); err != nil {
			return t, fmt.Errorf("%s is missing (make setup installs it): %w", p, err)
		}
	}
	return t, nil
}

// Deploy translates template.yaml (infra/testenv/transform.py, the SAM translator), creates
// the stack in moto's CloudFormation at motoURL (deploy.py) and returns its description.
func Deploy(ctx context.Context, t Tools, motoURL, stackName string, params map[string]string, workDir string) (*Deployment, error) {
	cfn := filepath.Join(workDir, "template.cfn.json")
	if err := Translate(ctx, t, cfn); err != nil {
		return nil, err
	}
	pb, _ := json.Marshal(params)
	pf := filepath.Join(workDir, "params.json")
	if err := os.WriteFile(pf, pb, 0o600); err != nil {
		return nil, err
	}
	out := filepath.Join(workDir, "stack.json")
	if err := t.run(ctx, motoURL, filepath.Join(t.Root, "infra", "deployed", "deploy.py"), cfn, stackName, pf, out); err != nil {
		return nil, fmt.Errorf("create stack %s in moto: %w", stackName, err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	var d Deployment
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("stack description: %w", err)
	}
	return &d, nil
}

// Translate runs the SAM translator (infra/testenv/transform.py) on template.yaml into out.
func Translate(ctx context.Context, t Tools, out string) error {
	if err := t.run(ctx, "http://127.0.0.1:1", filepath.Join(t.Root, "infra", "testenv", "transform.py"), filepath.Join(t.Root, "template.yaml"), out); err != nil {
		return fmt.Errorf("SAM translator: %w", err)
	}
	return nil
}

// run runs a Python script of the harness against moto only: AWS_ENDPOINT_URL is moto and
// every service-specific endpoint variable is removed.
func (t Tools) run(ctx context.Context, motoURL string, args ...string) error {
	cmd := exec.CommandContext(ctx, t.Python, args...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_ENDPOINT_URL") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "AWS_ENDPOINT_URL="+motoURL, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(args[0]), err, out)
	}
	return nil
}
