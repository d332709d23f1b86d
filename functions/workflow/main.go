// Command workflow is the Lambda behind the state machine's Prepare, PlanChunks, ExpireBatch
// and Finalize steps.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/credbatch/credbatch/shared/awsmeter"
	"github.com/credbatch/credbatch/shared/config"
	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/logging"
	"github.com/credbatch/credbatch/shared/ses"
	"github.com/credbatch/credbatch/shared/unsubscribe"
)

func run() error {
	log := logging.New(os.Stdout)
	e, err := config.LoadWorkflow(config.FromOS())
	if err != nil {
		return err
	}
	cfgFlow := e.Flow
	ctx := context.Background()
	cfg, meter, err := awsmeter.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	// The mailer does its own backoff; the SDK's retryer would multiply it.
	sesClient := sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.RetryMaxAttempts = 1 })
	mailer := ses.New(sesClient, ses.Options{ConfigurationSet: e.Mail.ConfigurationSet, From: e.Mail.From, Logger: log})
	if cfgFlow.SendRate == 0 {
		// PlanChunks divides the account's send rate among the chunk workers.
		if err := mailer.InitRate(ctx); err != nil {
			return err
		}
		cfgFlow.SendRate = mailer.Pacer().Rate()
	}
	store := dynamo.New(dynamodb.NewFromConfig(cfg), e.Table)
	svc := &issuance.Service{Store: store, Config: cfgFlow, Log: log,
		Mailer: unsubscribe.Wrap(mailer, &unsubscribe.Service{Store: store, BaseURL: cfgFlow.Issuer.BaseURL, Log: log})}
	lambda.Start(meter.Handler(log, svc.Invoke))
	return nil
}

func main() {
	if err := run(); err != nil {
		logging.New(os.Stderr).Error("workflow cannot start", "err", err)
		os.Exit(1)
	}
}
