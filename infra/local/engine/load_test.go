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
