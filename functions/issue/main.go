// Command issue is the chunk worker the state machine's Map invokes: it signs, stores and
// emails one chunk of an approved batch's rows.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/credbatch/credbatch/shared/awsmeter"
	"github.com/credbatch/credbatch/shared/config"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/logging"
	"github.com/credbatch/credbatch/shared/ses"
	"github.com/credbatch/credbatch/shared/unsubscribe"
)

func run() error {
	log := logging.New(os.Stdout)
	e, err := config.LoadIssue(config.FromOS())
	if err != nil {
		return err
	}
	flow := e.Flow
	ctx := context.Background()
	cfg, meter, err := awsmeter.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	// Key material is read once per cold start and never logged; the deployment created it
	// (functions/keys): an empty secret fails the cold start.
	set, err := keys.FromSecret(ctx, secretsmanager.NewFromConfig(cfg), e.KeysSecret)
	if err != nil {
		return err
	}
	did, err := flow.Issuer.DID()
	if err != nil {
		return err
	}
	signer, err := credential.NewSigner(set, did)
	if err != nil {
		return err
	}
	// Each chunk paces itself at its share of the account's rate (the Chunk's rate), so the
	// mailer gets no pacer of its own; it still backs off on throttling.
	sesClient := sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.RetryMaxAttempts = 1 })
	store := dynamo.New(dynamodb.NewFromConfig(cfg), e.Table)
	svc := &issuance.Service{
		Store: store,
		// Credential emails pass through unchanged; the pause alert gets an unsubscribe link.
		Mailer: unsubscribe.Wrap(ses.New(sesClient, ses.Options{ConfigurationSet: e.Mail.ConfigurationSet, From: e.Mail.From, Logger: log}),
			&unsubscribe.Service{Store: store, BaseURL: flow.Issuer.BaseURL, Log: log}),
		Signer: signer,
		Config: flow,
		Log:    log,
	}
	lambda.Start(meter.Handler(log, svc.IssueChunk))
	return nil
}

func main() {
	if err := run(); err != nil {
		logging.New(os.Stderr).Error("issue cannot start", "err", err)
		os.Exit(1)
	}
}
