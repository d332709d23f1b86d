// Command approval is the Lambda the state machine's RequestApproval step invokes with a task
// token: it stores the token on the batch and emails the approvers.
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
	e, err := config.LoadApproval(config.FromOS())
	if err != nil {
		return err
	}
	cfg, meter, err := awsmeter.LoadDefaultConfig(context.Background())
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	sesClient := sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.RetryMaxAttempts = 1 })
	store := dynamo.New(dynamodb.NewFromConfig(cfg), e.Table)
	svc := &issuance.Service{
		Store: store,
		Mailer: unsubscribe.Wrap(ses.New(sesClient, ses.Options{ConfigurationSet: e.Mail.ConfigurationSet, From: e.Mail.From, Logger: log}),
			&unsubscribe.Service{Store: store, BaseURL: e.Flow.Issuer.BaseURL, Log: log}),
		Config: e.Flow,
		Log:    log,
	}
	lambda.Start(meter.Handler(log, svc.Handle))
	return nil
}

func main() {
	if err := run(); err != nil {
		logging.New(os.Stderr).Error("approval cannot start", "err", err)
		os.Exit(1)
	}
}
