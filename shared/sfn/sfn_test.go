package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/credbatch/credbatch/shared/credbatch"
)

const machine = "arn:aws:states:us-east-1:123456789012:stateMachine:issuance"

// fake answers with canned outputs and errors and records the requests.
type fake struct {
	startErr    error
	describeIn  string
	describeErr error
	sendErr     error

	starts    []*awssfn.StartExecutionInput
	describes []string
	successes []*awssfn.SendTaskSuccessInput
	failures  []*awssfn.SendTaskFailureInput
}

func (f *fake) StartExecution(_ context.Context, in *awssfn.StartExecutionInput, _ ...func(*awssfn.Options)) (*awssfn.StartExecutionOutput, error) {
	f.starts = append(f.starts, in)
	if f.startErr != nil {
		return nil, f.startErr
	}
	return &awssfn.StartExecutionOutput{ExecutionArn: aws.String(ExecutionARN(machine, aws.ToString(in.Name)))}, nil
}

func (f *fake) DescribeExecution(_ context.Context, in *awssfn.DescribeExecutionInput, _ ...func(*awssfn.Options)) (*awssfn.DescribeExecutionOutput, error) {
	f.describes = append(f.describes, aws.ToString(in.ExecutionArn))
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	return &awssfn.DescribeExecutionOutput{ExecutionArn: in.ExecutionArn, Input: aws.String(f.describeIn)}, nil
}

func (f *fake) SendTaskSuccess(_ context.Context, in *awssfn.SendTaskSuccessInput, _ ...func(*awssfn.Options)) (*awssfn.SendTaskSuccessOutput, error) {
	f.successes = append(f.successes, in)
	return &awssfn.SendTaskSuccessOutput{}, f.sendErr
}

func (f *fake) SendTaskFailure(_ context.Context, in *awssfn.SendTaskFailureInput, _ ...func(*awssfn.Options)) (*awssfn.SendTaskFailureOutput, error) {
	f.failures = append(f.failures, in)
	return &awssfn.SendTaskFailureOutput{}, f.sendErr
}

func TestStart(t *testing.T) {
	const wantARN = "arn:aws:states:us-east-1:123456789012:execution:issuance:b1"
	tests := []struct {
		name         string
		fake         fake
		wantARN      string
		wantKind     credbatch.Kind
		wantDescribe bool
	}{
		{name: "new", wantARN: wantARN},
		{name: "exists with the same input", fake: fake{startErr: &types.ExecutionAlreadyExists{Message: aws.String("exists")}, describeIn: `{ "batch_id": "b1" }`},
			wantARN: wantARN, wantDescribe: true},
		{name: "exists with another input", fake: fake{startErr: &types.ExecutionAlreadyExists{Message: aws.String("exists")}, describeIn: `{"batch_id":"b2"}`},
			wantKind: credbatch.KindConflict, wantDescribe: true},
		{name: "no state machine", fake: fake{startErr: &types.StateMachineDoesNotExist{}}, wantKind: credbatch.KindNotFound},
		{name: "bad name", fake: fake{startErr: &types.InvalidName{}}, wantKind: credbatch.KindInvalid},
		{name: "throttled", fake: fake{startErr: &smithy.GenericAPIError{Code: "ThrottlingException"}}, wantKind: credbatch.KindUnavailable},
		{name: "limit", fake: fake{startErr: &types.ExecutionLimitExceeded{}}, wantKind: credbatch.KindUnavailable},
		{name: "network", fake: fake{startErr: errors.New("dial tcp: connection refused")}, wantKind: credbatch.KindUnavailable},
		{name: "access denied", fake: fake{startErr: &smithy.GenericAPIError{Code: "AccessDeniedException"}}, wantKind: credbatch.KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.fake
			w := New(&f, machine)
			got, err := w.Start(context.Background(), "b1", json.RawMessage(`{"batch_id":"b1"}`))
			if tt.wantKind != "" {
				if !credbatch.IsKind(err, tt.wantKind) {
					t.Fatalf("Start err = %v (kind %s), want kind %s", err, credbatch.ErrorKind(err), tt.wantKind)
				}
			} else if err != nil || got != tt.wantARN {
				t.Fatalf("Start = %q, %v; want %q", got, err, tt.wantARN)
			}
			if in := f.starts[0]; aws.ToString(in.StateMachineArn) != machine || aws.ToString(in.Name) != "b1" || aws.ToString(in.Input) != `{"batch_id":"b1"}` {
				t.Errorf("StartExecution input = %+v", in)
			}
			if gotDescribe := len(f.describes) > 0; gotDescribe != tt.wantDescribe {
				t.Errorf("DescribeExecution called = %v, want %v", gotDescribe, tt.wantDescribe)
			} else if gotDescribe && f.describes[0] != wantARN {
				t.Errorf("DescribeExecution ARN = %q, want %q", f.describes[0], wantARN)
			}
		})
	}
}

func TestSucceedAndFail(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantKind credbatch.Kind
	}{
		{"ok", nil, ""},
		{"unknown task", &types.TaskDoesNotExist{}, credbatch.KindNotFound},
		{"invalid token", &types.InvalidToken{}, credbatch.KindNotFound},
		{"timed out", &types.TaskTimedOut{}, credbatch.KindConflict},
		{"timed out as a generic API error", &smithy.GenericAPIError{Code: "TaskTimedOut"}, credbatch.KindConflict},
		{"throttled", &smithy.GenericAPIError{Code: "ThrottlingException"}, credbatch.KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{sendErr: tt.err}
			w := New(f, machine)
			errs := []error{
				w.Succeed(context.Background(), "tok", nil),
				w.Fail(context.Background(), "tok", "BatchRejected", "no"),
			}
			for i, err := range errs {
				if tt.wantKind == "" && err != nil || tt.wantKind != "" && !credbatch.IsKind(err, tt.wantKind) {
					t.Errorf("call %d: err = %v (kind %s), want kind %q", i, err, credbatch.ErrorKind(err), tt.wantKind)
				}
			}
			if s := f.successes[0]; aws.ToString(s.TaskToken) != "tok" || aws.ToString(s.Output) != "{}" {
				t.Errorf("SendTaskSuccess input = %+v", s)
			}
			if s := f.failures[0]; aws.ToString(s.TaskToken) != "tok" || aws.ToString(s.Error) != "BatchRejected" || aws.ToString(s.Cause) != "no" {
				t.Errorf("SendTaskFailure input = %+v", s)
			}
		})
	}
}

func TestExecutionARN(t *testing.T) {
	got := ExecutionARN("arn:aws:states:eu-west-1:1:stateMachine:m-x", "b-1")
	if want := "arn:aws:states:eu-west-1:1:execution:m-x:b-1"; got != want {
		t.Errorf("ExecutionARN = %q, want %q", got, want)
	}
}
