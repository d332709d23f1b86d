package sfn

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/credbatch/credbatch/shared/awstest"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/workflowtest"
)

// definition returns infra/statemachine/issuance.asl.json with the substitutions applied.
func definition(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("go.mod not found")
		}
		dir = filepath.Dir(dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, "infra/statemachine/issuance.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	def := string(b)
	for _, fn := range []string{"WorkflowFunctionArn", "ApprovalFunctionArn", "IssueFunctionArn"} {
		def = strings.ReplaceAll(def, "${"+fn+"}", "arn:aws:lambda:us-east-1:123456789012:function:"+fn)
	}
	return def
}

// TestAgainstEmulator runs the adapter against a Step Functions emulator (moto server):
// AWS_ENDPOINT_URL_SFN.
func TestAgainstEmulator(t *testing.T) {
	cfg := awstest.Config(t, "SFN")
	ctx := context.Background()
	client := awssfn.NewFromConfig(cfg)
	sm, err := client.CreateStateMachine(ctx, &awssfn.CreateStateMachineInput{
		Name:       aws.String(awstest.Name(t, "issuance")),
		Definition: aws.String(definition(t)),
		RoleArn:    aws.String("arn:aws:iam::123456789012:role/credbatch-states"),
	})
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	w := New(client, aws.ToString(sm.StateMachineArn))

	input := json.RawMessage(`{"batch_id":"b1"}`)
	first, err := w.Start(ctx, "b1", input)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if want := ExecutionARN(aws.ToString(sm.StateMachineArn), "b1"); first != want {
		t.Errorf("execution ARN = %q, want %q", first, want)
	}
	second, err := w.Start(ctx, "b1", input)
	if err != nil || second != first {
		t.Errorf("second Start = %q, %v; want %q, nil", second, err, first)
	}
	if _, err := w.Start(ctx, "b1", json.RawMessage(`{"batch_id":"b2"}`)); !credbatch.IsKind(err, credbatch.KindConflict) {
		t.Errorf("Start with another input: err = %v (kind %s), want KindConflict", err, credbatch.ErrorKind(err))
	}
	list, err := client.ListExecutions(ctx, &awssfn.ListExecutionsInput{StateMachineArn: sm.StateMachineArn})
	if err != nil {
		t.Fatalf("ListExecutions: %v", err)
	}
	if len(list.Executions) != 1 {
		t.Errorf("executions = %d, want 1", len(list.Executions))
	}

	// Unknown tokens: the emulator answers with an error the adapter must classify as
	// not found (TaskDoesNotExist/InvalidToken), never as success or internal.
	for name, call := range map[string]func() error{
		"SendTaskSuccess": func() error { return w.Succeed(ctx, "unknown-token", json.RawMessage(`{"approved_by":"a"}`)) },
		"SendTaskFailure": func() error { return w.Fail(ctx, "unknown-token", "BatchRejected", "no") },
	} {
		err := call()
		if err == nil {
			t.Logf("%s with an unknown token: the emulator accepted it", name)
			continue
		}
		if k := credbatch.ErrorKind(err); k != credbatch.KindNotFound {
			t.Errorf("%s with an unknown token: err = %v (kind %s), want KindNotFound", name, err, k)
		}
	}
}

// TestContract runs the Workflow contract suite against Step Functions in moto. moto records
// executions but runs no Lambda task and accepts any task token, so the token subtests are
// capabilities it lacks (the local engine runs them); shared/sfn's classification of real
// AWS errors is tested in sfn_test.go.
func TestContract(t *testing.T) {
	cfg := awstest.Config(t, "SFN")
	client := awssfn.NewFromConfig(cfg)
	sm, err := client.CreateStateMachine(context.Background(), &awssfn.CreateStateMachineInput{
		Name:       aws.String(awstest.Name(t, "contract")),
		Definition: aws.String(workflowtest.Definition("arn:aws:lambda:us-east-1:123456789012:function:ask")),
		RoleArn:    aws.String("arn:aws:iam::123456789012:role/credbatch-states"),
	})
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	workflowtest.Run(t, func(t *testing.T) workflowtest.Harness {
		return workflowtest.Harness{Workflow: New(client, aws.ToString(sm.StateMachineArn))}
	})
}
