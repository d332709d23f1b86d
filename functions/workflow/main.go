// Command workflow is the Lambda behind the state machine's Prepare, PlanChunks, ExpireBatch
// and Finalize steps.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/logging"
	"github.com/credbatch/credbatch/shared/ses"
)

func run() error {
	log := logging.New(os.Stdout)
	table := os.Getenv("TABLE_NAME")
	if table == "" {
		return fmt.Errorf("TABLE_NAME must be set")
	}
	cfgFlow, err := issuance.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	// The mailer does its own backoff; the SDK's retryer would multiply it.
	sesClient := sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.RetryMaxAttempts = 1 })
	mailer := ses.New(sesClient, ses.Options{ConfigurationSet: os.Getenv("SES_CONFIGURATION_SET"), From: cfgFlow.From, Logger: log})
	if cfgFlow.SendRate == 0 {
		// PlanChunks divides the account's send rate among the chunk workers.
		if err := mailer.InitRate(ctx); err != nil {
			return err
		}
		cfgFlow.SendRate = mailer.Pacer().Rate()
	}
	svc := &issuance.Service{Store: dynamo.New(dynamodb.NewFromConfig(cfg), table), Mailer: mailer, Config: cfgFlow, Log: log}
	lambda.Start(svc.Handle)
	return nil
}

func main() {
	if err := run(); err != nil {
		logging.New(os.Stderr).Error("workflow cannot start", "err", err)
		os.Exit(1)
	}
}
