// Command ingest is the Lambda that turns files dropped in the bucket's uploads/ prefix into batches.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/logging"
	"github.com/credbatch/credbatch/shared/s3blob"
	"github.com/credbatch/credbatch/shared/ses"
	sfnflow "github.com/credbatch/credbatch/shared/sfn"
	"github.com/credbatch/credbatch/shared/sheet"
)

// env is the function's configuration (see README, "Environment variables").
type env struct {
	Table, Bucket, StateMachine, From, ConfigSet string
	BaseURL                                      string // PUBLIC_BASE_URL: the rejected-file email links to the batch's console page
	Admins                                       []string
	MaxRows                                      int
}

func readEnv() (env, error) {
	e := env{Table: os.Getenv("TABLE_NAME"), Bucket: os.Getenv("BUCKET_NAME"), StateMachine: os.Getenv("STATE_MACHINE_ARN"),
		From: os.Getenv("MAIL_FROM"), ConfigSet: os.Getenv("SES_CONFIGURATION_SET"),
		BaseURL: strings.TrimRight(os.Getenv("PUBLIC_BASE_URL"), "/"),
		Admins:  issuance.List(os.Getenv("ADMIN_EMAILS")), MaxRows: sheet.DefaultLimits().MaxRows}
	if e.Table == "" || e.Bucket == "" || e.StateMachine == "" || e.From == "" {
		return e, fmt.Errorf("TABLE_NAME, BUCKET_NAME, STATE_MACHINE_ARN and MAIL_FROM must be set")
	}
	if v := os.Getenv("MAX_ROWS_PER_FILE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return e, fmt.Errorf("MAX_ROWS_PER_FILE %q: want a positive number", v)
		}
		e.MaxRows = n
	}
	return e, nil
}

func run() error {
	log := logging.New(os.Stdout)
	e, err := readEnv()
	if err != nil {
		return err
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	s3c := s3.NewFromConfig(cfg)
	store := dynamo.New(dynamodb.NewFromConfig(cfg), e.Table)
	blob := s3blob.New(s3c, s3.NewPresignClient(s3c), e.Bucket)
	mailer := ses.New(sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.RetryMaxAttempts = 1 }),
		ses.Options{ConfigurationSet: e.ConfigSet, From: e.From, Logger: log})
	limits := sheet.DefaultLimits()
	limits.MaxRows = e.MaxRows
	svc := &ingest.Service{
		Store:     store,
		Blob:      blob,
		Submitter: &issuance.Actions{Store: store, Workflow: sfnflow.New(sfn.NewFromConfig(cfg), e.StateMachine)},
		Notifier:  &ingest.MailNotifier{Mailer: mailer, Blob: blob, Store: store, From: e.From, Admins: e.Admins, BaseURL: e.BaseURL},
		Limits:    limits,
		TmpDir:    os.TempDir(),
		Log:       log,
		BaseURL:   e.BaseURL,
	}
	lambda.Start(svc.Handle)
	return nil
}

func main() {
	if err := run(); err != nil {
		logging.New(os.Stderr).Error("ingest cannot start", "err", err)
		os.Exit(1)
	}
}
