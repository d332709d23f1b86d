// Command ingest is the Lambda that turns files dropped in the bucket's uploads/ prefix into batches.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/logging"
	"github.com/credbatch/credbatch/shared/s3blob"
	"github.com/credbatch/credbatch/shared/sheet"
)

// env is the function's configuration (see README, "Environment variables").
type env struct {
	Table   string // TABLE_NAME
	Bucket  string // BUCKET_NAME
	MaxRows int    // MAX_ROWS_PER_FILE
}

func readEnv() (env, error) {
	e := env{Table: os.Getenv("TABLE_NAME"), Bucket: os.Getenv("BUCKET_NAME"), MaxRows: sheet.DefaultLimits().MaxRows}
	if e.Table == "" || e.Bucket == "" {
		return e, fmt.Errorf("TABLE_NAME and BUCKET_NAME must be set")
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
	limits := sheet.DefaultLimits()
	limits.MaxRows = e.MaxRows
	svc := &ingest.Service{
		Store:  dynamo.New(dynamodb.NewFromConfig(cfg), e.Table),
		Blob:   s3blob.New(s3c, s3.NewPresignClient(s3c), e.Bucket),
		Limits: limits,
		TmpDir: os.TempDir(),
		Log:    log,
	}
	lambda.Start(svc.HandleS3)
	return nil
}

func main() {
	if err := run(); err != nil {
		logging.New(os.Stderr).Error("ingest cannot start", "err", err)
		os.Exit(1)
	}
}
