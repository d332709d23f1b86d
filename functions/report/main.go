// Command report is the Lambda that EventBridge Scheduler invokes to email the delivery report.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"
	_ "time/tzdata" // REPORT_TIME_ZONE is loaded whether or not the runtime image has a zone database

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/credbatch/credbatch/shared/awsmeter"
	"github.com/credbatch/credbatch/shared/config"
	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/logging"
	"github.com/credbatch/credbatch/shared/report"
	"github.com/credbatch/credbatch/shared/ses"
	"github.com/credbatch/credbatch/shared/unsubscribe"
)

// result is what an invocation returns.
type result struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Events  int    `json:"events"`
	Batches int    `json:"batches"`
	Failed  int    `json:"failed"`
	Sent    bool   `json:"sent"`
	Skipped string `json:"skipped,omitempty"`
}

func run() error {
	log := logging.New(os.Stdout)
	e, err := config.LoadReport(config.FromOS())
	if err != nil {
		return err
	}
	if len(e.Admins) == 0 {
		log.Warn("ADMIN_EMAILS is empty: reports are built but not emailed")
	}
	cfg, meter, err := awsmeter.LoadDefaultConfig(context.Background())
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	store := dynamo.New(dynamodb.NewFromConfig(cfg), e.Table)
	svc := &report.Service{
		Store: store,
		Mailer: unsubscribe.Wrap(ses.New(sesv2.NewFromConfig(cfg), ses.Options{ConfigurationSet: e.Mail.ConfigurationSet, From: e.Mail.From, Logger: log}),
			&unsubscribe.Service{Store: store, BaseURL: e.BaseURL, Log: log}),
		Log:    log,
		Config: report.Config{From: e.Mail.Sender(), Admins: e.Admins, SendEmpty: e.SendEmpty, BaseURL: e.BaseURL, Location: e.Location},
	}
	// EventBridge Scheduler may send any payload; it is ignored. The result holds counts
	// only, so that no address leaves in the invocation result.
	lambda.Start(meter.Handler(log, func(ctx context.Context, _ json.RawMessage) (result, error) {
		rep, err := svc.Run(ctx)
		return result{From: rep.From.Format(time.RFC3339), To: rep.To.Format(time.RFC3339), Events: rep.Events,
			Batches: len(rep.Batches), Failed: len(rep.Failed), Sent: rep.Sent, Skipped: rep.Skipped}, err
	}))
	return nil
}

func main() {
	if err := run(); err != nil {
		logging.New(os.Stderr).Error("report cannot start", "err", err)
		os.Exit(1)
	}
}
