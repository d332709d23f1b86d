package ses

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/credbatch/credbatch/shared/awstest"
	"github.com/credbatch/credbatch/shared/credbatch"
	cbmail "github.com/credbatch/credbatch/shared/mail"
	"github.com/credbatch/credbatch/shared/mailtest"
)

// TestEmulator sends through an SES v2 emulator (moto server, AWS_ENDPOINT_URL_SESV2).
// moto records Simple and Raw sends but not configuration sets or tags, and has no
// GetAccount, so the test checks ids, the sender check, the stored subject and bodies, and
// InitRate's fallback.
func TestEmulator(t *testing.T) {
	cfg := awstest.Config(t, "SESV2")
	endpoint := awstest.Endpoint(t, "SESV2")
	client := sesv2.NewFromConfig(cfg)
	ctx := context.Background()
	domain := awstest.Name(t, "d") + ".example.com"
	if _, err := client.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(domain)}); err != nil {
		t.Fatalf("create email identity %s: %v", domain, err)
	}
	configSet := awstest.Name(t, "cs")
	if _, err := client.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String(configSet)}); err != nil {
		t.Fatalf("create configuration set: %v", err)
	}
	pacer := cbmail.NewPacer(0)
	m := New(client, Options{From: "Credbatch <noreply@" + domain + ">", ConfigurationSet: configSet, Pacer: pacer, DefaultRate: 25, MaxRetries: 1, Logger: quietLogger()})
	if err := m.InitRate(ctx); err != nil {
		t.Fatalf("InitRate: %v", err)
	}
	if got := pacer.Rate(); got <= 0 {
		t.Errorf("rate after InitRate = %v", got)
	}

	subject := "Your credential " + time.Now().Format("150405.000000")
	tests := []struct {
		name     string
		msg      credbatch.Message
		wantKind credbatch.Kind
		wantSent string // what moto must have stored for the message id
	}{
		{name: "simple", msg: credbatch.Message{To: []string{"ada@example.com"}, Subject: subject, Text: "hello text", HTML: "<p>hello html</p>",
			Tags: map[string]string{"credential_id": "c1", "batch_id": "b1"}}, wantSent: subject},
		{name: "raw", msg: credbatch.Message{To: []string{"ada@example.com"}, Subject: subject + " raw", Text: "hello", HTML: "<p>hi</p>",
			Attachments: []credbatch.Attachment{{Filename: "r.csv", ContentType: "text/csv", Data: []byte("a,b\n")}}}, wantSent: "Subject: " + subject + " raw"},
		{name: "unverified sender", msg: credbatch.Message{From: "someone@unverified.example.org", To: []string{"ada@example.com"}, Subject: "x", Text: "x"},
			wantKind: credbatch.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := m.Send(ctx, tt.msg)
			if tt.wantKind != "" {
				if got := credbatch.ErrorKind(err); got != tt.wantKind {
					t.Fatalf("Send error = %v (kind %q), want kind %q", err, got, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if id == "" {
				t.Fatal("Send returned an empty message id")
			}
			sent := motoSent(t, endpoint)
			if got, ok := sent[id]; !ok || !strings.Contains(got, tt.wantSent) {
				t.Errorf("moto holds %q for message %s, want it to contain %q", got, id, tt.wantSent)
			}
		})
	}
}

// motoSent returns moto's stored SES messages by id (subject and body, or the raw data),
// read from its internal state at /moto-api/data.json.
func motoSent(t *testing.T, endpoint string) map[string]string {
	t.Helper()
	resp, err := http.Get(strings.TrimRight(endpoint, "/") + "/moto-api/data.json")
	if err != nil {
		t.Fatalf("moto data: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// moto cannot describe some models (a Lambda function needs Docker), so another
		// package's resources in the same moto server make data.json fail as a whole.
		t.Fatalf("moto data.json: HTTP %d (does the moto server hold resources it cannot describe, such as Lambda functions?)", resp.StatusCode)
	}
	var data struct {
		SES struct {
			Message []struct {
				ID      string `json:"id"`
				Subject string `json:"subject"`
				Body    string `json:"body"`
			}
			RawMessage []struct {
				ID      string `json:"id"`
				RawData string `json:"raw_data"`
			}
		} `json:"ses"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&data); err != nil {
		t.Fatalf("decode moto data: %v", err)
	}
	out := map[string]string{}
	for _, m := range data.SES.Message {
		out[m.ID] = m.Subject + "\n" + m.Body
	}
	for _, m := range data.SES.RawMessage {
		out[m.ID] = m.RawData
	}
	return out
}

// TestContract runs the Mailer contract suite against SES v2 in moto; what it holds is read
// back from moto's state (/moto-api/data.json). Sender identities are verified there too.
func TestContract(t *testing.T) {
	cfg := awstest.Config(t, "SESV2")
	endpoint := awstest.Endpoint(t, "SESV2")
	client := sesv2.NewFromConfig(cfg)
	ctx := context.Background()
	domain := awstest.Name(t, "contract") + ".example.com"
	if _, err := client.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(domain)}); err != nil {
		t.Fatalf("create email identity %s: %v", domain, err)
	}
	mailtest.Run(t, func(t *testing.T) mailtest.Harness {
		pacer := cbmail.NewPacer(0)
		m := New(client, Options{From: "noreply@" + domain, Pacer: pacer, DefaultRate: 50, MaxRetries: 1, Logger: quietLogger()})
		if err := m.InitRate(ctx); err != nil {
			t.Fatal(err)
		}
		return mailtest.Harness{Mailer: m, From: "Credbatch <noreply@" + domain + ">",
			Sent: func(t *testing.T, id string) (string, bool) {
				got, ok := motoSent(t, endpoint)[id]
				return got, ok
			},
			Holds: func(t *testing.T, text string) bool {
				for _, m := range motoSent(t, endpoint) {
					if strings.Contains(m, text) {
						return true
					}
				}
				return false
			},
			Caps: mailtest.Capabilities{VerifiedSenders: true}}
	})
}
