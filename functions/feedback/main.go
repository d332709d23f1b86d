// Command feedback is the Lambda subscribed to the SES event topic: it records bounces, complaints and deliveries.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/credbatch/credbatch/shared/awsmeter"
	"github.com/credbatch/credbatch/shared/config"
	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/feedback"
	"github.com/credbatch/credbatch/shared/logging"
)

func run() error {
	log := logging.New(os.Stdout)
	e, err := config.LoadFeedback(config.FromOS())
	if err != nil {
		return err
	}
	cfg, meter, err := awsmeter.LoadDefaultConfig(context.Background())
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	svc := &feedback.Service{Store: dynamo.New(dynamodb.NewFromConfig(cfg), e.Table), Log: log}
	lambda.Start(meter.Handler(log, svc.Handle))
	return nil
}

func main() {
	if err := run(); err != nil {
		logging.New(os.Stderr).Error("feedback cannot start", "err", err)
		os.Exit(1)
	}
}
