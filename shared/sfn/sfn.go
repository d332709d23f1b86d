// Package sfn is the credbatch.Workflow on AWS Step Functions: StartExecution for a batch,
// SendTaskSuccess and SendTaskFailure for approvals.
package sfn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// API is the part of the Step Functions client the workflow uses.
type API interface {
	StartExecution(ctx context.Context, in *awssfn.StartExecutionInput, opts ...func(*awssfn.Options)) (*awssfn.StartExecutionOutput, error)
	DescribeExecution(ctx context.Context, in *awssfn.DescribeExecutionInput, opts ...func(*awssfn.Options)) (*awssfn.DescribeExecutionOutput, error)
	SendTaskSuccess(ctx context.Context, in *awssfn.SendTaskSuccessInput, opts ...func(*awssfn.Options)) (*awssfn.SendTaskSuccessOutput, error)
	SendTaskFailure(ctx context.Context, in *awssfn.SendTaskFailureInput, opts ...func(*awssfn.Options)) (*awssfn.SendTaskFailureOutput, error)
}

// Workflow starts and resumes executions of one state machine.
type Workflow struct {
	client API
	arn    string
}

var _ credbatch.Workflow = (*Workflow)(nil)

// New returns a Workflow for the state machine stateMachineARN.
func New(client API, stateMachineARN string) *Workflow {
	return &Workflow{client: client, arn: stateMachineARN}
}

// Start starts an execution named name and returns its ARN. Starting a name again with the
// same input returns the same ARN (Step Functions answers a repeat of a running execution
// with it; for a finished one the adapter looks the execution up); a different input is a
// KindConflict error.
func (w *Workflow) Start(ctx context.Context, name string, input json.RawMessage) (string, error) {
	if len(bytes.TrimSpace(input)) == 0 {
		input = json.RawMessage(`{}`)
	}
	out, err := w.client.StartExecution(ctx, &awssfn.StartExecutionInput{
		StateMachineArn: aws.String(w.arn), Name: aws.String(name), Input: aws.String(string(input)),
	})
	if err == nil {
		return aws.ToString(out.ExecutionArn), nil
	}
	var exists *types.ExecutionAlreadyExists
	if !errors.As(err, &exists) {
		return "", classify(fmt.Sprintf("start execution %s", name), err)
	}
	arn := ExecutionARN(w.arn, name)
	d, derr := w.client.DescribeExecution(ctx, &awssfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if derr != nil {
		return "", classify(fmt.Sprintf("start execution %s: look up the existing execution", name), derr)
	}
	if !sameJSON(aws.ToString(d.Input), string(input)) {
		return "", credbatch.Conflict("execution %s already exists with a different input", name)
	}
	return arn, nil
}

// ExecutionARN returns the ARN of the execution named name of a state machine:
// arn:aws:states:<region>:<account>:execution:<machine>:<name>.
func ExecutionARN(stateMachineARN, name string) string {
	return strings.Replace(stateMachineARN, ":stateMachine:", ":execution:", 1) + ":" + name
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

// Succeed completes the waiting task of token with output. Errors: KindNotFound for an
// unknown or invalid token, KindConflict when the task timed out or already ended.
func (w *Workflow) Succeed(ctx context.Context, token string, output json.RawMessage) error {
	if len(bytes.TrimSpace(output)) == 0 {
		output = json.RawMessage(`{}`)
	}
	_, err := w.client.SendTaskSuccess(ctx, &awssfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(string(output))})
	if err != nil {
		return classify("complete task", err)
	}
	return nil
}

// Fail fails the waiting task of token with an error name and a cause. Errors as Succeed.
func (w *Workflow) Fail(ctx context.Context, token, code, cause string) error {
	_, err := w.client.SendTaskFailure(ctx, &awssfn.SendTaskFailureInput{TaskToken: aws.String(token), Error: aws.String(code), Cause: aws.String(cause)})
	if err != nil {
		return classify("fail task", err)
	}
	return nil
}

// classify wraps a Step Functions error in a credbatch.Error of the matching kind.
func classify(op string, err error) error {
	kind := credbatch.KindInternal
	var (
		notExist  *types.TaskDoesNotExist
		invalid   *types.InvalidToken
		timedOut  *types.TaskTimedOut
		noMachine *types.StateMachineDoesNotExist
		noExec    *types.ExecutionDoesNotExist
		badInput  *types.InvalidExecutionInput
		badName   *types.InvalidName
		limit     *types.ExecutionLimitExceeded
		api       smithy.APIError
	)
	switch {
	case errors.As(err, &notExist), errors.As(err, &invalid), errors.As(err, &noMachine), errors.As(err, &noExec):
		kind = credbatch.KindNotFound
	case errors.As(err, &timedOut):
		kind = credbatch.KindConflict
	case errors.As(err, &badInput), errors.As(err, &badName):
		kind = credbatch.KindInvalid
	case errors.As(err, &limit):
		kind = credbatch.KindUnavailable
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "ThrottlingException", "TooManyRequestsException", "ServiceUnavailable", "InternalFailure", "RequestTimeout":
			kind = credbatch.KindUnavailable
		case "TaskDoesNotExist", "InvalidToken":
			kind = credbatch.KindNotFound
		case "TaskTimedOut":
			kind = credbatch.KindConflict
		}
	default:
		kind = credbatch.KindUnavailable // no answer from the service: network, timeout, cancelled
	}
	return &credbatch.Error{Kind: kind, Code: string(kind), Message: err.Error(), Op: "sfn: " + op, Err: err}
}
