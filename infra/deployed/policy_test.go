package deployed_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The documented exceptions of TestTransformedTemplatePolicies (README, Least privilege).
var (
	// awsManaged are the AWS managed policies SAM attaches to the roles it makes, and why.
	awsManaged = map[string]string{
		"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": "logs:CreateLogGroup/CreateLogStream/PutLogEvents: the function's own logs",
		"arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess":                   "X-Ray trace segments and sampling rules, which have no resource-level permissions",
	}
	// starResource are the actions an identity policy may grant on Resource "*", and why.
	starResource = map[string]string{
		"ses:GetAccount": "has no resource-level permissions (it reads the account's own sending quota); the workflow function reads MaxSendRate with it when the SendRate parameter is 0",
	}
	// outsideParameters are the parameters that may name a resource the stack does not create.
	outsideParameters = map[string]string{
		"SenderEmail": "the verified SES identity (address or domain) is the account's, verified outside the stack; the grant's ses:FromAddress condition pins it",
	}
	// readersOfTheSecret are the roles that may read the signing-key secret; only the first
	// may write it (the deploy-time keys function).
	readersOfTheSecret = []string{"KeysFunctionRole", "IssueFunctionRole", "ApiFunctionRole"}
)

// statement is one policy statement, loosely typed.
type statement struct {
	Sid       string
	Effect    string
	Action    any
	NotAction any
	Resource  any
	Principal any
	Condition map[string]any
}

// grant is a statement and where it is: the role (or resource, for a resource policy) and
// the policy's name.
type grant struct {
	owner, policy string
	statement
}

func list(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

func actions(s statement) []string {
	var out []string
	for _, a := range list(s.Action) {
		out = append(out, fmt.Sprint(a))
	}
	return out
}

func statements(t *testing.T, owner, policy string, doc any) []grant {
	t.Helper()
	raw, _ := json.Marshal(dig(doc, "Statement"))
	var sts []statement
	if err := json.Unmarshal(raw, &sts); err != nil {
		var one statement
		if err := json.Unmarshal(raw, &one); err != nil {
			t.Fatalf("%s %s: statements %s: %v", owner, policy, raw, err)
		}
		sts = []statement{one}
	}
	var out []grant
	for _, s := range sts {
		out = append(out, grant{owner: owner, policy: policy, statement: s})
	}
	return out
}

var subName = regexp.MustCompile(`\$\{([^}!]+)\}`)

// refs lists what a value names: Ref and Fn::GetAtt targets, and ${Name} and ${Name.Attr} in
// Fn::Sub strings (not the Sub's own variables).
func refs(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			switch k {
			case "Ref":
				out = append(out, fmt.Sprint(val))
			case "Fn::GetAtt":
				out = append(out, refOf(map[string]any{k: val}))
			case "Fn::Sub":
				str, vars := val, map[string]any{}
				if l, ok := val.([]any); ok && len(l) == 2 {
					str = l[0]
					vars, _ = l[1].(map[string]any)
					for _, vv := range vars {
						out = append(out, refs(vv)...)
					}
				}
				for _, m := range subName.FindAllStringSubmatch(fmt.Sprint(str), -1) {
					if _, own := vars[m[1]]; !own {
						out = append(out, strings.SplitN(m[1], ".", 2)[0])
					}
				}
			default:
				out = append(out, refs(val)...)
			}
		}
	case []any:
		for _, e := range x {
			out = append(out, refs(e)...)
		}
	}
	return out
}

// identityGrants returns the identity policy statements of each role of the template: its
// inline policies and the template's managed policies it attaches (an AWS managed policy
// other than the documented ones is an error).
func identityGrants(t *testing.T, c cfnTemplate) map[string][]grant {
	t.Helper()
	roles := map[string][]grant{}
	for _, id := range c.ofType("AWS::IAM::Role") {
		p := c.Resources[id].Properties
		for _, pol := range list(p["Policies"]) {
			roles[id] = append(roles[id], statements(t, id, fmt.Sprint(dig(pol, "PolicyName")), dig(pol, "PolicyDocument"))...)
		}
		for _, m := range list(p["ManagedPolicyArns"]) {
			if arn, ok := m.(string); ok {
				if awsManaged[arn] == "" {
					t.Errorf("%s attaches the AWS managed policy %s, which is not among the documented ones", id, arn)
				}
				continue
			}
			mp := refOf(m)
			if c.Resources[mp].Type != "AWS::IAM::ManagedPolicy" {
				t.Errorf("%s attaches %v, neither an AWS managed policy nor one of the template's", id, m)
				continue
			}
			roles[id] = append(roles[id], statements(t, id, mp, c.Resources[mp].Properties["PolicyDocument"])...)
		}
	}
	return roles
}

// TestTransformedTemplatePolicies checks every policy of the template CloudFormation receives:
// no Allow statement has an action with "*"; every resource a role's statement names is one
// of the stack's own (a Ref, GetAtt or ${...} of a resource, or a name built from the stack
// name), except the documented Resource "*" actions and outside parameters; the AWS managed
// policies are the documented two. The public function's role grants nothing on the
// signing-key secret (no secretsmanager action at all) and cannot write the table; only the
// keys function's role may write the secret.
func TestTransformedTemplatePolicies(t *testing.T) {
	c := translated(t)
	scoped := func(v any) bool {
		for _, r := range refs(v) {
			if _, ok := c.Resources[r]; ok || r == "AWS::StackName" || outsideParameters[r] != "" {
				return true
			}
		}
		return false
	}

	roles := identityGrants(t, c)
	// Resource policies: bucket, queues, topics, keys.
	var resourcePolicies []grant
	for id, r := range c.Resources {
		for _, k := range []string{"PolicyDocument", "KeyPolicy"} {
			if doc, ok := r.Properties[k]; ok && r.Type != "AWS::IAM::ManagedPolicy" {
				resourcePolicies = append(resourcePolicies, statements(t, id, r.Type, doc)...)
			}
		}
	}

	grants := 0
	for role, gs := range roles {
		for _, g := range gs {
			grants++
			where := fmt.Sprintf("%s (%s, %s)", role, g.policy, g.Sid)
			if g.Effect != "Allow" || g.NotAction != nil {
				t.Errorf("%s: effect %s, NotAction %v: identity policies here only allow named actions", where, g.Effect, g.NotAction)
			}
			for _, a := range actions(g.statement) {
				if strings.Contains(a, "*") {
					t.Errorf("%s: action %q has a wildcard", where, a)
				}
			}
			for _, r := range list(g.Resource) {
				if r == "*" {
					for _, a := range actions(g.statement) {
						if starResource[a] == "" {
							t.Errorf("%s: %s on Resource \"*\" (not a documented exception)", where, a)
						}
					}
					continue
				}
				if !scoped(r) {
					t.Errorf("%s: resource %v is none of the stack's own", where, r)
				}
			}
		}
	}
	for _, g := range resourcePolicies {
		where := fmt.Sprintf("%s (%s, %s)", g.owner, g.policy, g.Sid)
		if g.Effect == "Deny" {
			continue // takes away only (the bucket's Deny s3:* without TLS)
		}
		for _, a := range actions(g.statement) {
			if strings.Contains(a, "*") {
				t.Errorf("%s: allows %q, a wildcard", where, a)
			}
		}
		for _, r := range list(g.Resource) {
			// In a key policy "*" is the key itself.
			if r == "*" && c.Resources[g.owner].Type == "AWS::KMS::Key" {
				continue
			}
			if !scoped(r) {
				t.Errorf("%s: resource %v is none of the stack's own", where, r)
			}
		}
	}

	// The signing-key secret: read by the functions that sign, written by the keys function.
	for role, gs := range roles {
		for _, g := range gs {
			onSecret := slices.Contains(refs(g.Resource), "SigningKeysSecret")
			for _, a := range actions(g.statement) {
				switch {
				case a == "secretsmanager:PutSecretValue" && role != readersOfTheSecret[0],
					strings.HasPrefix(a, "secretsmanager:") && !slices.Contains(readersOfTheSecret, role):
					t.Errorf("%s (%s): %s, but only %v may read the signing-key secret and only %s write it", role, g.Sid, a, readersOfTheSecret, readersOfTheSecret[0])
				case onSecret && !strings.HasPrefix(a, "secretsmanager:"):
					t.Errorf("%s (%s): %s on the signing-key secret", role, g.Sid, a)
				}
			}
		}
	}
	// The public function: no secret, no writes, no email, no executions.
	role := refOf(c.Resources["PublicFunction"].Properties["Role"])
	if len(roles[role]) == 0 {
		t.Fatalf("PublicFunction's role %q has no statements (the test cannot find it)", role)
	}
	readOnly := regexp.MustCompile(`^(dynamodb:(GetItem|BatchGetItem|Query|Scan|DescribeTable)|s3:(GetObject|ListBucket))$`)
	for _, g := range roles[role] {
		for _, a := range actions(g.statement) {
			if !readOnly.MatchString(a) {
				t.Errorf("PublicFunction's role %s (%s, %s) grants %s: it only reads the table and the evidence files", role, g.policy, g.Sid, a)
			}
		}
		if slices.Contains(refs(g.Resource), "SigningKeysSecret") {
			t.Errorf("PublicFunction's role %s (%s) names the signing-key secret", role, g.Sid)
		}
	}
	t.Logf("%d roles, %d identity statements, %d resource-policy statements; exceptions: Resource \"*\" %v, AWS managed %d, outside %v",
		len(roles), grants, len(resourcePolicies), slices.Sorted(maps.Keys(starResource)), len(awsManaged), slices.Sorted(maps.Keys(outsideParameters)))
}
