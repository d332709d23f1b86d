// Command approval is the Lambda the state machine's RequestApproval step invokes with a task
// token: it stores the token on the batch and emails the approvers.
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
	flow, err := issuance.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	sesClient := sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.RetryMaxAttempts = 1 })
	svc := &issuance.Service{
		Store:  dynamo.New(dynamodb.NewFromConfig(cfg), table),
		Mailer: ses.New(sesClient, ses.Options{ConfigurationSet: os.Getenv("SES_CONFIGURATION_SET"), From: flow.From, Logger: log}),
		Config: flow,
		Log:    log,
	}
	lambda.Start(svc.Handle)
	return nil
}

func main() {
	if err := run(); err != nil {
		logging.New(os.Stderr).Error("approval cannot start", "err", err)
		os.Exit(1)
	}
}
