package engine

import (
	"strings"
	"testing"
)

var substitutions = map[string]string{
	"WorkflowFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:workflow",
	"ApprovalFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:approval",
	"IssueFunctionArn":    "arn:aws:lambda:us-east-1:000000000000:function:issue",
}

func realTasks() map[string]Handler {
	return map[string]Handler{
		substitutions["WorkflowFunctionArn"]: echo,
		substitutions["ApprovalFunctionArn"]: echo,
		substitutions["IssueFunctionArn"]:    echo,
	}
}

func TestLoadIssuanceDefinition(t *testing.T) {
	def := repoFile(t, "infra/statemachine/issuance.asl.json")
	m, err := Load(def, substitutions, realTasks())
	if err != nil {
		t.Fatalf("Load(issuance.asl.json): %v", err)
	}
	for _, name := range []string{"Prepare", "ApprovalRequired", "RequestApproval", "PlanChunks", "IssueChunks", "Finalize"} {
		if m.root.states[name] == nil {
			t.Errorf("state %s missing", name)
		}
	}
	if got := m.root.states["RequestApproval"]; !got.waitToken || got.timeoutPath == nil {
		t.Errorf("RequestApproval: waitToken=%v timeoutPath=%v, want a token wait with TimeoutSecondsPath", got.waitToken, got.timeoutPath)
	}
	if _, err := Load(def, nil, realTasks()); err == nil || !strings.Contains(err.Error(), "${") {
		t.Errorf("Load without substitutions: err = %v, want one naming the unsubstituted ${...}", err)
	}
}

func TestLoadRefuses(t *testing.T) {
	const fn = "arn:aws:lambda:us-east-1:000000000000:function:f"
	tasks := map[string]Handler{fn: echo}
	task := func(extra string) string {
		return `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"` + fn + `","Payload.$":"$"}` + extra + `,"End":true}}}`
	}
	mapWith := func(extra string) string {
		return `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}` + extra + `,"End":true}}}`
	}
	tests := []struct {
		name, def, want string
	}{
		{"result writer", mapWith(`,"ResultWriter":{}`), `state "M": field "ResultWriter" is not supported`},
		{"item reader", mapWith(`,"ItemReader":{}`), `state "M": field "ItemReader" is not supported`},
		{"distributed map", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED"},"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`, `ProcessorConfig Mode=DISTRIBUTED is not supported`},
		{"heartbeat", task(`,"HeartbeatSeconds":60`), `state "T": field "HeartbeatSeconds" is not supported`},
		{"resource", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","Parameters":{},"End":true}}}`, `state "T": field "Resource"`},
		{"parallel", `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[],"End":true}}}`, `state "P": Type "Parallel" is not supported`},
		{"intrinsic", `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"x.$":"States.Format('{}', $.a)"},"End":true}}}`, `intrinsic function States.Format is not supported`},
		{"no handler", strings.Replace(task(""), fn, fn+"-other", 1), `no handler for FunctionName`},
		{"dynamic function", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName.$":"$.f"},"End":true}}}`, `"FunctionName.$" is not supported`},
		{"bad next", `{"StartAt":"P","States":{"P":{"Type":"Pass","Next":"Nowhere"}}}`, `transition to "Nowhere"`},
		{"no next or end", `{"StartAt":"P","States":{"P":{"Type":"Pass"}}}`, `state "P": needs Next or End`},
		{"jsonata", `{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`, `QueryLanguage JSONata is not supported`},
		{"wildcard path", `{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":"$.a[*]","End":true}}}`, `state "P": field "InputPath"`},
		{"choice operator", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","StringMatches":"x*","Next":"E"}]},"E":{"Type":"Succeed"}}}`, `operator "StringMatches" is not supported`},
		{"fail error path", `{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.e"}}}`, `state "F": field "ErrorPath" is not supported`},
		{"retry field", task(`,"Retry":[{"ErrorEquals":["X"],"Foo":1}]`), `state "T": field "Retry": "Foo" is not supported`},
		{"top-level timeout", `{"TimeoutSeconds":5,"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`, `field "TimeoutSeconds" is not supported`},
		// Known fields of the wrong type are refused, never dropped.
		{"next not a string", `{"StartAt":"P","States":{"P":{"Type":"Pass","Next":5},"E":{"Type":"Succeed"}}}`, `state "P": field "Next" must be a string, not the number 5`},
		{"end not a bool", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":"true"}}}`, `state "P": field "End" must be true or false`},
		{"comment not a string", `{"StartAt":"P","States":{"P":{"Type":"Pass","Comment":["a"],"End":true}}}`, `field "Comment" must be a string`},
		{"start at not a string", `{"StartAt":1,"States":{"P":{"Type":"Pass","End":true}}}`, `field "StartAt" must be a string`},
		{"result path number", `{"StartAt":"P","States":{"P":{"Type":"Pass","ResultPath":3,"End":true}}}`, `field "ResultPath" must be a path or null`},
		{"parameters not an object", `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":"x","End":true}}}`, `field "Parameters" must be an object`},
		{"timeout seconds path number", task(`,"TimeoutSecondsPath":30`), `state "T": field "TimeoutSecondsPath" must be a string`},
		{"timeout seconds fraction", task(`,"TimeoutSeconds":1.5`), `field "TimeoutSeconds" must be a positive integer`},
		{"retry interval string", task(`,"Retry":[{"ErrorEquals":["X"],"IntervalSeconds":"2"}]`), `field "IntervalSeconds" must be a positive integer, not the string "2"`},
		{"retry max attempts negative", task(`,"Retry":[{"ErrorEquals":["X"],"MaxAttempts":-1}]`), `field "MaxAttempts" must be a non-negative integer`},
		{"retry backoff below one", task(`,"Retry":[{"ErrorEquals":["X"],"BackoffRate":0.5}]`), `field "BackoffRate" must be at least 1.0`},
		{"retry jitter not a string", task(`,"Retry":[{"ErrorEquals":["X"],"JitterStrategy":true}]`), `field "JitterStrategy" must be a string`},
		{"catch next number", task(`,"Catch":[{"ErrorEquals":["X"],"Next":1}]`), `field "Next" must be a string`},
		{"catch result path object", task(`,"Catch":[{"ErrorEquals":["X"],"ResultPath":{},"Next":"T"}]`), `field "ResultPath" must be a path or null`},
		{"items path object", mapWith(`,"ItemsPath":{}`), `state "M": field "ItemsPath" must be a string`},
		{"max concurrency string", mapWith(`,"MaxConcurrency":"10"`), `state "M": field "MaxConcurrency" must be a non-negative integer`},
		{"max concurrency path number", mapWith(`,"MaxConcurrencyPath":10`), `field "MaxConcurrencyPath" must be a string`},
		{"processor mode number", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":1},"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`, `field "Mode" must be a string`},
		{"choice variable number", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":1,"BooleanEquals":true,"Next":"E"}]},"E":{"Type":"Succeed"}}}`, `field "Variable" must be a string`},
		{"choice default number", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","BooleanEquals":true,"Next":"E"}],"Default":2},"E":{"Type":"Succeed"}}}`, `field "Default" must be a string`},
		{"choice operand type", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","BooleanEquals":"true","Next":"E"}]},"E":{"Type":"Succeed"}}}`, `BooleanEquals: needs true or false`},
		{"wait seconds fraction", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1.5,"End":true}}}`, `field "Seconds" must be a non-negative integer`},
		{"wait timestamp number", `{"StartAt":"W","States":{"W":{"Type":"Wait","Timestamp":5,"End":true}}}`, `field "Timestamp" must be a string`},
		{"fail error number", `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":5}}}`, `state "F": field "Error" must be a string`},
		{"function name number", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":5,"Payload":{}},"End":true}}}`, `FunctionName must be a fixed string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load([]byte(tt.def), nil, tasks)
			if err == nil {
				t.Fatalf("Load succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}
