// Command ingest is the Lambda that turns files dropped in the bucket's uploads/ prefix into batches.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/credbatch/credbatch/shared/awsmeter"
	"github.com/credbatch/credbatch/shared/config"
	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/logging"
	"github.com/credbatch/credbatch/shared/s3blob"
	"github.com/credbatch/credbatch/shared/ses"
	sfnflow "github.com/credbatch/credbatch/shared/sfn"
	"github.com/credbatch/credbatch/shared/unsubscribe"
)

func run() error {
	log := logging.New(os.Stdout)
	cfg, meter, err := awsmeter.LoadDefaultConfig(context.Background())
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	svc, err := newService(config.FromOS(), cfg, log)
	if err != nil {
		return err
	}
	lambda.Start(meter.Handler(log, svc.Handle))
	return nil
}

// newService wires the ingest service the Lambda runs: its configuration from env, the AWS
// clients from cfg.
func newService(env *config.Env, cfg aws.Config, log *slog.Logger) (*ingest.Service, error) {
	e, err := config.LoadIngest(env)
	if err != nil {
		return nil, err
	}
	s3c := s3.NewFromConfig(cfg)
	store := dynamo.New(dynamodb.NewFromConfig(cfg), e.Table)
	blob := s3blob.New(s3c, s3.NewPresignClient(s3c), e.Bucket)
	mailer := ses.New(sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.RetryMaxAttempts = 1 }),
		ses.Options{ConfigurationSet: e.Mail.ConfigurationSet, From: e.Mail.From, Logger: log})
	return &ingest.Service{
		Store:     store,
		Blob:      blob,
		Submitter: &issuance.Actions{Store: store, Workflow: sfnflow.New(sfn.NewFromConfig(cfg), e.StateMachine)},
		Notifier:  &ingest.MailNotifier{Mailer: unsubscribe.Wrap(mailer, &unsubscribe.Service{Store: store, BaseURL: e.BaseURL, Log: log}), Blob: blob, Store: store, From: e.Mail.Sender(), Admins: e.Admins, BaseURL: e.BaseURL},
		Limits:    e.Limits(),
		TmpDir:    os.TempDir(),
		Log:       log,
		BaseURL:   e.BaseURL,
	}, nil
}

func main() {
	if err := run(); err != nil {
		logging.New(os.Stderr).Error("ingest cannot start", "err", err)
		os.Exit(1)
	}
}
