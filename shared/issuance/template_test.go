package issuance_test

import (
	"os"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/credbatch/credbatch/shared/issuance"
)

// TestIssueTimeoutMatchesTemplate: PlanFor sizes chunks for the issue function's timeout, so
// the constant must be the template's.
func TestIssueTimeoutMatchesTemplate(t *testing.T) {
	raw, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Properties struct {
				Timeout int `yaml:"Timeout"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(raw, &tpl); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	if got := time.Duration(tpl.Resources["IssueFunction"].Properties.Timeout) * time.Second; got != issuance.IssueTimeout {
		t.Errorf("IssueFunction Timeout %v, issuance.IssueTimeout %v", got, issuance.IssueTimeout)
	}
}
