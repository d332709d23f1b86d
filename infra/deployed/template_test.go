package deployed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/infra/deployed"
)

// cfnTemplate is the transformed template, loosely typed.
type cfnTemplate struct {
	Parameters map[string]map[string]any
	Resources  map[string]struct {
		Type       string
		Properties map[string]any
	}
}

// refOf returns the logical id a {"Ref": id} or {"Fn::GetAtt": [id, attr]} names.
func refOf(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	if r, ok := m["Ref"].(string); ok {
		return r
	}
	switch g := m["Fn::GetAtt"].(type) {
	case []any:
		s, _ := g[0].(string)
		return s
	case string:
		return strings.SplitN(g, ".", 2)[0]
	}
	return ""
}

// dig follows keys (strings) and indexes (ints) into v.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func (c cfnTemplate) ofType(kind string) []string {
	var out []string
	for id, r := range c.Resources {
		if r.Type == kind {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// translated runs the SAM translator on template.yaml (as CloudFormation does) and returns
// its output; without the translator the test is skipped, or fails under CI=true.
func translated(t *testing.T) cfnTemplate {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tools, err := deployed.FindTools(root)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	out := filepath.Join(t.TempDir(), "template.cfn.json")
	if err := deployed.Translate(context.Background(), tools, out); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var c cfnTemplate
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTransformedTemplate checks, on the template CloudFormation receives (the SAM
// translator's output), that nothing can fail silently: every function has a log group
// with LogRetentionDays and alarms on its errors and throttles; every asynchronous path into
// a function (S3 notifications, SNS subscriptions, schedules, EventBridge rules) ends in an
// encrypted, alarmed SQS queue when it fails; alarms notify an admin topic that emails
// AdminEmail; the state machine and the API log; the table cannot be deleted by accident;
// and each schedule's name carries the stack name.
func TestTransformedTemplate(t *testing.T) {
	c := translated(t)
	if d := fmt.Sprint(c.Parameters["LogRetentionDays"]["Default"]); d != "90" {
		t.Errorf("LogRetentionDays default %s, want 90", d)
	}
	retained := func(logGroup string) bool {
		r := c.Resources[logGroup]
		return r.Type == "AWS::Logs::LogGroup" && refOf(r.Properties["RetentionInDays"]) == "LogRetentionDays"
	}
	// The admin topic: alarms' one action, with an email subscription of AdminEmail.
	topics := map[string]bool{}
	for _, id := range c.ofType("AWS::SNS::Subscription") {
		p := c.Resources[id].Properties
		if p["Protocol"] == "email" && strings.Contains(fmt.Sprint(p["Endpoint"]), "AdminEmail") {
			topics[refOf(p["TopicArn"])] = true
		}
	}
	if len(topics) != 1 {
		t.Fatalf("topics with an email subscription of AdminEmail: %v, want one", topics)
	}
	notifiesAdmins := func(alarm string) bool {
		acts, _ := c.Resources[alarm].Properties["AlarmActions"].([]any)
		return len(acts) > 0 && topics[refOf(acts[0])]
	}
	// alarmsOn lists the alarms on a metric whose dimension value names the resource.
	alarmsOn := func(namespace, metric, resource string) []string {
		var out []string
		for _, id := range c.ofType("AWS::CloudWatch::Alarm") {
			p := c.Resources[id].Properties
			if p["Namespace"] != namespace || p["MetricName"] != metric || !notifiesAdmins(id) {
				continue
			}
			if resource == "" || refOf(dig(p, "Dimensions", 0, "Value")) == resource {
				out = append(out, id)
			}
		}
		return out
	}

	logGroupOf := map[string]string{} // function -> log group
	for _, id := range c.ofType("AWS::Logs::LogGroup") {
		name := fmt.Sprint(dig(c.Resources[id].Properties, "LogGroupName", "Fn::Sub"))
		if fn, ok := strings.CutPrefix(name, "/aws/lambda/${"); ok {
			logGroupOf[strings.TrimSuffix(fn, "}")] = id
		}
	}
	functions := c.ofType("AWS::Lambda::Function")
	for _, fn := range functions {
		if lg := logGroupOf[fn]; !retained(lg) {
			t.Errorf("%s: no log group /aws/lambda/${%s} with RetentionInDays LogRetentionDays", fn, fn)
		}
		for _, m := range []string{"Errors", "Throttles"} {
			if len(alarmsOn("AWS/Lambda", m, fn)) == 0 {
				t.Errorf("%s: no %s alarm notifying the administrators", fn, m)
			}
		}
	}

	// The asynchronous event sources, by the function they invoke.
	async := map[string][]string{}
	for _, id := range c.ofType("AWS::S3::Bucket") {
		cfgs, _ := dig(c.Resources[id].Properties, "NotificationConfiguration", "LambdaConfigurations").([]any)
		for _, n := range cfgs {
			async[refOf(dig(n, "Function"))] = append(async[refOf(dig(n, "Function"))], id+" S3 notification")
		}
	}
	for _, id := range c.ofType("AWS::SNS::Subscription") {
		if p := c.Resources[id].Properties; p["Protocol"] == "lambda" {
			async[refOf(p["Endpoint"])] = append(async[refOf(p["Endpoint"])], id)
		}
	}
	alarmedQueue := func(arn any) (string, bool) {
		q := refOf(arn)
		r := c.Resources[q]
		if r.Type != "AWS::SQS::Queue" || (r.Properties["SqsManagedSseEnabled"] != true && r.Properties["KmsMasterKeyId"] == nil) {
			return q, false
		}
		return q, len(alarmsOn("AWS/SQS", "ApproximateNumberOfMessagesVisible", q)) > 0
	}
	for _, id := range c.ofType("AWS::Scheduler::Schedule") {
		p := c.Resources[id].Properties
		fn := refOf(dig(p, "Target", "Arn"))
		async[fn] = append(async[fn], id)
		if q, ok := alarmedQueue(dig(p, "Target", "DeadLetterConfig", "Arn")); !ok {
			t.Errorf("schedule %s: dead-letter queue %q missing, unencrypted or without a depth alarm", id, q)
		}
		if name := fmt.Sprint(p["Name"]); !strings.Contains(name, "${AWS::StackName}") {
			t.Errorf("schedule %s is named %s: a second stack in the account and region would collide", id, name)
		}
	}
	for _, id := range c.ofType("AWS::Events::Rule") {
		targets, _ := c.Resources[id].Properties["Targets"].([]any)
		for _, tg := range targets {
			fn := refOf(dig(tg, "Arn"))
			async[fn] = append(async[fn], id)
			if q, ok := alarmedQueue(dig(tg, "DeadLetterConfig", "Arn")); !ok {
				t.Errorf("rule %s: dead-letter queue %q missing, unencrypted or without a depth alarm", id, q)
			}
		}
	}
	for _, fn := range []string{"IngestFunction", "FeedbackFunction", "ReportFunction", "WorkflowFunction"} {
		if len(async[fn]) == 0 {
			t.Errorf("%s: no asynchronous event source found (the test's map of the paths is stale)", fn)
		}
	}
	for fn, sources := range async {
		found := false
		for _, id := range c.ofType("AWS::Lambda::EventInvokeConfig") {
			p := c.Resources[id].Properties
			if refOf(p["FunctionName"]) != fn {
				continue
			}
			q, ok := alarmedQueue(dig(p, "DestinationConfig", "OnFailure", "Destination"))
			found = ok
			if !ok {
				t.Errorf("%s: on-failure destination %q missing, unencrypted or without a depth alarm", fn, q)
			}
		}
		if !found {
			t.Errorf("%s is invoked asynchronously by %v and has no on-failure destination", fn, sources)
		}
	}

	// The rule that marks failed executions' batches failed.
	rules := c.ofType("AWS::Events::Rule")
	if len(rules) != 1 {
		t.Fatalf("rules %v, want the one on failed executions", rules)
	}
	pat, _ := json.Marshal(c.Resources[rules[0]].Properties["EventPattern"])
	for _, want := range []string{`"source":["aws.states"]`, `"detail-type":["Step Functions Execution Status Change"]`, `"status":["FAILED","TIMED_OUT","ABORTED"]`, `"stateMachineArn":[{"Ref":"IssuanceStateMachine"}]`} {
		if !strings.Contains(string(pat), want) {
			t.Errorf("rule %s pattern %s lacks %s", rules[0], pat, want)
		}
	}
	if fn := refOf(dig(c.Resources[rules[0]].Properties, "Targets", 0, "Arn")); fn != "WorkflowFunction" {
		t.Errorf("rule %s targets %s, want WorkflowFunction", rules[0], fn)
	}

	for _, m := range []string{"Reputation.BounceRate", "Reputation.ComplaintRate"} {
		if len(alarmsOn("AWS/SES", m, "")) == 0 {
			t.Errorf("no alarm on the SES account's %s", m)
		}
	}
	for _, id := range c.ofType("AWS::StepFunctions::StateMachine") {
		l := dig(c.Resources[id].Properties, "LoggingConfiguration")
		if dig(l, "Level") != "ERROR" || dig(l, "IncludeExecutionData") != false ||
			!retained(refOf(dig(l, "Destinations", 0, "CloudWatchLogsLogGroup", "LogGroupArn"))) {
			t.Errorf("state machine %s logging %v: want ERROR, no execution data, a retained log group", id, l)
		}
	}
	stages := c.ofType("AWS::ApiGatewayV2::Stage")
	for _, id := range stages {
		if a := dig(c.Resources[id].Properties, "AccessLogSettings"); !retained(refOf(dig(a, "DestinationArn"))) || dig(a, "Format") == nil {
			t.Errorf("API stage %s access logs %v: want a format and a retained log group", id, a)
		}
	}
	if len(stages) == 0 {
		t.Error("no API stage")
	}
	for _, id := range c.ofType("AWS::DynamoDB::Table") {
		if c.Resources[id].Properties["DeletionProtectionEnabled"] != true {
			t.Errorf("table %s has no DeletionProtectionEnabled", id)
		}
	}
	t.Logf("%d resources, %d functions, %d alarms, %d queues, %d log groups", len(c.Resources), len(functions),
		len(c.ofType("AWS::CloudWatch::Alarm")), len(c.ofType("AWS::SQS::Queue")), len(c.ofType("AWS::Logs::LogGroup")))
}
