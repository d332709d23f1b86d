package config_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/config"
	"github.com/credbatch/credbatch/shared/credbatch"
)

// base is the smallest environment every flow function loads from.
func base(extra map[string]string) map[string]string {
	m := map[string]string{"TABLE_NAME": "t", "BUCKET_NAME": "b", "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:stateMachine:m",
		"KEYS_SECRET_ID": "k", "PUBLIC_BASE_URL": "https://creds.example.org/", "MAIL_FROM": "certs@example.org"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestLists(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a@example.org", []string{"a@example.org"}},
		{"a@example.org, b@example.org", []string{"a@example.org", "b@example.org"}},
		{"a@example.org;b@example.org", []string{"a@example.org", "b@example.org"}},
		{" a@example.org  b@example.org ,, ", []string{"a@example.org", "b@example.org"}},
		{"a@example.org,\nb@example.org", []string{"a@example.org", "b@example.org"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			// One parser: the report and the flow functions read ADMIN_EMAILS alike.
			rep, err := config.LoadReport(config.FromMap(base(map[string]string{"ADMIN_EMAILS": tt.in})))
			if err != nil {
				t.Fatal(err)
			}
			iss, err := config.LoadIssue(config.FromMap(base(map[string]string{"ADMIN_EMAILS": tt.in})))
			if err != nil {
				t.Fatal(err)
			}
			ing, err := config.LoadIngest(config.FromMap(base(map[string]string{"ADMIN_EMAILS": tt.in})))
			if err != nil {
				t.Fatal(err)
			}
			api, err := config.LoadAPI(config.FromMap(base(map[string]string{"ADMIN_EMAILS": tt.in})))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rep.Admins, tt.want) || !slices.Equal(iss.Flow.Admins, tt.want) || !slices.Equal(ing.Admins, tt.want) || !slices.Equal(api.Admins, tt.want) {
				t.Errorf("report %q, issue %q, ingest %q, api %q; want %q", rep.Admins, iss.Flow.Admins, ing.Admins, api.Admins, tt.want)
			}
		})
	}
}

// TestIssuerAlike: the api (credential pages, resends) and issue (signing) functions build
// the same issuer profile from the same variables.
func TestIssuerAlike(t *testing.T) {
	env := base(map[string]string{"ISSUER_NAME": "Northwind", "ISSUER_URL": "https://northwind.example",
		"ISSUER_EMAIL": "hello@northwind.example", "ISSUER_IMAGE": "https://northwind.example/logo.png", "ISSUER_ID": "url"})
	api, err := config.LoadAPI(config.FromMap(env))
	if err != nil {
		t.Fatal(err)
	}
	iss, err := config.LoadIssue(config.FromMap(env))
	if err != nil {
		t.Fatal(err)
	}
	if api.Issuer != iss.Flow.Issuer {
		t.Errorf("api issuer %+v, issue issuer %+v", api.Issuer, iss.Flow.Issuer)
	}
	if api.Issuer.BaseURL != "https://creds.example.org" || !api.Issuer.URLID || api.Issuer.Image == "" || api.Issuer.Email == "" {
		t.Errorf("issuer = %+v", api.Issuer)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		load func(*config.Env) error
		env  map[string]string
		want []string // every one must be named in the one error
	}{
		{"missing everything", config.Functions["api"], nil,
			[]string{"TABLE_NAME", "BUCKET_NAME", "STATE_MACHINE_ARN", "KEYS_SECRET_ID", "PUBLIC_BASE_URL", "MAIL_FROM"}},
		{"bad admin address", config.Functions["report"], base(map[string]string{"ADMIN_EMAILS": "a@example.org, nobody"}),
			[]string{`ADMIN_EMAILS="a@example.org, nobody" holds "nobody"`}},
		{"bad sender", config.Functions["workflow"], base(map[string]string{"MAIL_FROM": "certs"}), []string{`MAIL_FROM="certs"`}},
		{"bad numbers", config.Functions["workflow"], base(map[string]string{"SEND_RATE": "fast", "ISSUE_MAX_CONCURRENCY": "41",
			"CHUNK_SIZE": "-1", "APPROVAL_TIMEOUT_SECONDS": "1.5"}),
			[]string{"SEND_RATE", "ISSUE_MAX_CONCURRENCY", "CHUNK_SIZE", "APPROVAL_TIMEOUT_SECONDS"}},
		{"bounce rate above 1", config.Functions["issue"], base(map[string]string{"BOUNCE_PAUSE_RATE": "5"}), []string{"BOUNCE_PAUSE_RATE"}},
		{"issuer links", config.Functions["issue"], base(map[string]string{"ISSUER_URL": "javascript:alert(1)", "ISSUER_IMAGE": "http://evil.example/x.png",
			"ISSUER_EMAIL": "x", "ISSUER_ID": "uri"}), []string{"ISSUER_URL", "ISSUER_IMAGE", "ISSUER_EMAIL", "ISSUER_ID"}},
		{"base url without did:web", config.Functions["approval"], base(map[string]string{"PUBLIC_BASE_URL": "https://creds.example.org/?x=1"}),
			[]string{"PUBLIC_BASE_URL", "did:web"}},
		{"base url not a web address", config.Functions["report"], base(map[string]string{"PUBLIC_BASE_URL": "creds.example.org"}),
			[]string{`PUBLIC_BASE_URL="creds.example.org" is not absolute`}},
		{"base url over http", config.Functions["api"], base(map[string]string{"PUBLIC_BASE_URL": "http://creds.example.org"}),
			[]string{"PUBLIC_BASE_URL", "use https"}},
		{"max rows", config.Functions["ingest"], base(map[string]string{"MAX_ROWS_PER_FILE": "0"}), []string{"MAX_ROWS_PER_FILE"}},
		{"send empty", config.Functions["report"], base(map[string]string{"REPORT_SEND_EMPTY": "sometimes"}), []string{"REPORT_SEND_EMPTY"}},
		{"report zone", config.Functions["report"], base(map[string]string{"REPORT_TIME_ZONE": "Mars/Olympus"}), []string{"REPORT_TIME_ZONE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.load(config.FromMap(tt.env))
			if err == nil {
				t.Fatal("no error")
			}
			if !credbatch.IsKind(err, credbatch.KindInvalid) {
				t.Errorf("kind of %v is not invalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

func TestValues(t *testing.T) {
	wf, err := config.LoadWorkflow(config.FromMap(base(map[string]string{"APPROVAL_TIMEOUT_SECONDS": "3600", "SEND_RATE": "14.5",
		"ISSUE_MAX_CONCURRENCY": "12", "CHUNK_SECONDS": "300", "CHUNK_SIZE": "0", "SES_CONFIGURATION_SET": "cs"})))
	if err != nil {
		t.Fatal(err)
	}
	f := wf.Flow
	if f.ApprovalTimeout != time.Hour || f.SendRate != 14.5 || f.MaxConcurrency != 12 || f.ChunkSeconds != 300 || f.ChunkSize != 0 ||
		f.From != "certs@example.org" || wf.Mail.ConfigurationSet != "cs" || f.Issuer.BaseURL != "https://creds.example.org" {
		t.Errorf("workflow = %+v", wf)
	}
	ap, err := config.LoadApproval(config.FromMap(base(map[string]string{"APPROVER_EMAILS": "x@example.org", "APPROVAL_TIMEOUT_SECONDS": "120"})))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ap.Flow.Approvers, []string{"x@example.org"}) || ap.Flow.ApprovalTimeout != 2*time.Minute {
		t.Errorf("approval = %+v", ap)
	}
	api, err := config.LoadAPI(config.FromMap(base(map[string]string{"MAX_ROWS_PER_FILE": "500", "ROLES_CLAIM": " "})))
	if err != nil {
		t.Fatal(err)
	}
	if api.Limits().MaxRows != 500 || api.RolesClaim != "cognito:groups" || api.ApprovalTimeout != 7*24*time.Hour {
		t.Errorf("api = %+v", api)
	}
	ing, err := config.LoadIngest(config.FromMap(base(map[string]string{"MAX_ROWS_PER_FILE": "20"})))
	if err != nil {
		t.Fatal(err)
	}
	// The rejected-file email links to the console: the base URL without its slash.
	if ing.BaseURL != "https://creds.example.org" || ing.Limits().MaxRows != 20 || ing.Mail.From != "certs@example.org" {
		t.Errorf("ingest = %+v", ing)
	}
	rep, err := config.LoadReport(config.FromMap(base(map[string]string{"REPORT_SEND_EMPTY": "true", "REPORT_TIME_ZONE": "Europe/London"})))
	if err != nil || !rep.SendEmpty || rep.Location.String() != "Europe/London" {
		t.Errorf("report = %+v, %v", rep, err)
	}
	if rep, _ := config.LoadReport(config.FromMap(base(nil))); rep.Location != time.UTC {
		t.Errorf("report zone without REPORT_TIME_ZONE = %v; want UTC", rep.Location)
	}
}
