package deployed_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/infra/deployed"
)

// iamPrefix is the IAM service prefix of each SDK service id the functions call.
var iamPrefix = map[string]string{
	"DynamoDB":        "dynamodb",
	"S3":              "s3",
	"SESv2":           "ses",
	"SFN":             "states",
	"Secrets Manager": "secretsmanager",
	"SNS":             "sns",
	"SQS":             "sqs",
	"Scheduler":       "scheduler",
}

// iamActions are the IAM actions that authorize an SDK operation whose action is not
// <prefix>:<Operation>; any one of them is enough.
var iamActions = map[string][]string{
	"S3.HeadObject":              {"s3:GetObject"},
	"S3.ListObjectsV2":           {"s3:ListBucket"},
	"S3.ListObjectVersions":      {"s3:ListBucketVersions"},
	"S3.CreateMultipartUpload":   {"s3:PutObject"},
	"S3.UploadPart":              {"s3:PutObject"},
	"S3.CompleteMultipartUpload": {"s3:PutObject"},
	"S3.DeleteObjects":           {"s3:DeleteObject", "s3:DeleteObjectVersion"},
	// Each item of a transaction is authorized as its own action.
	"DynamoDB.TransactWriteItems": {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"},
	"DynamoDB.TransactGetItems":   {"dynamodb:GetItem"},
	// SES v2 authorizes a message with Raw content (attachments) as ses:SendRawEmail.
	"SESv2.SendEmail": {"ses:SendEmail", "ses:SendRawEmail"},
}

// callsAllowed checks, after the scenario, that every AWS operation each function called (its
// awsmeter usage lines: SDK service and operation) is an action some Allow statement of the
// function's role grants in the translated template. moto and DynamoDB Local do not enforce
// IAM, so a permission the code needs and the template lacks fails here instead. It checks
// actions, not resources: the statements' resources are TestTransformedTemplatePolicies'.
func callsAllowed(t *testing.T, h *deployed.Harness) {
	t.Helper()
	c := translated(t)
	roles := identityGrants(t, c)
	usage, err := h.Runner.Usage()
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	for _, fn := range slices.Sorted(maps.Keys(usage)) {
		role := refOf(c.Resources[fn].Properties["Role"])
		granted := map[string]bool{}
		for _, g := range roles[role] {
			if g.Effect == "Allow" {
				for _, a := range actions(g.statement) {
					granted[a] = true
				}
			}
		}
		var seen []string
		for _, op := range usage[fn].AWS.Keys() {
			calls += usage[fn].AWS.Calls[op]
			service, name, _ := strings.Cut(op, ".")
			prefix := iamPrefix[service]
			if prefix == "" {
				t.Errorf("%s called %s: service %q has no IAM prefix in the test's table (add it)", fn, op, service)
				continue
			}
			need := iamActions[op]
			if need == nil {
				need = []string{prefix + ":" + name}
			}
			if !slices.ContainsFunc(need, func(a string) bool { return granted[a] }) {
				t.Errorf("%s called %s %d times; its role %s grants none of %v", fn, op, usage[fn].AWS.Calls[op], role, need)
			}
			seen = append(seen, fmt.Sprintf("%s×%d", op, usage[fn].AWS.Calls[op]))
		}
		t.Logf("%s (%d invocations): %s", fn, usage[fn].Invocations, strings.Join(seen, " "))
	}
	if calls == 0 {
		t.Fatal("no AWS call was metered (the functions' awsmeter lines are missing)")
	}
}
