// Command api is the Lambda behind API Gateway (HTTP API, payload 2.0) for the JSON API, the
// console, the review pages, sign-in and unsubscribe. Its handler has every route; API
// Gateway sends the public ones to the public function.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/awsmeter"
	"github.com/credbatch/credbatch/shared/config"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/logging"
	"github.com/credbatch/credbatch/shared/s3blob"
	"github.com/credbatch/credbatch/shared/ses"
	"github.com/credbatch/credbatch/shared/sfn"
	"github.com/credbatch/credbatch/shared/site"
)

func run() error {
	log := logging.New(os.Stdout)
	e, err := config.LoadAPI(config.FromOS())
	if err != nil {
		return err
	}
	ctx := context.Background()
	cfg, meter, err := awsmeter.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	set, err := keys.FromSecret(ctx, secretsmanager.NewFromConfig(cfg), e.KeysSecret)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	issuer := e.Issuer
	did, err := issuer.DID()
	if err != nil {
		return fmt.Errorf("did:web of PUBLIC_BASE_URL: %w", err)
	}
	signer, err := credential.NewSigner(set, did)
	if err != nil {
		return fmt.Errorf("signer: %w", err)
	}
	store := dynamo.New(dynamodb.NewFromConfig(cfg), e.Table)
	s3c := s3.NewFromConfig(cfg)
	mailer := ses.New(sesv2.NewFromConfig(cfg), ses.Options{ConfigurationSet: e.Mail.ConfigurationSet, From: e.Mail.From, Logger: log})
	workflow := sfn.New(awssfn.NewFromConfig(cfg), e.StateMachine)
	// The console and review pages are not behind the authorizer (browsers send a session
	// cookie), so they verify the same OIDC tokens themselves.
	api := site.New(site.Deps{
		Store:    store,
		Blob:     s3blob.New(s3c, s3.NewPresignClient(s3c), e.Bucket),
		Workflow: workflow,
		Mailer:   mailer,
		Keys:     set,
		Signer:   signer,
		Issuer:   issuer,
		From:     e.Mail.From,
		DID:      did,
		APIAuth:  auth.APIGateway{RolesClaim: e.RolesClaim},
		PageAuth: &auth.OIDC{Issuer: e.AuthIssuer, Audience: e.AuthAudience, RolesClaim: e.RolesClaim},
		Flow:     issuance.Config{ApprovalTimeout: e.ApprovalTimeout, Admins: e.Admins, FromName: e.Mail.FromName, Locale: e.Mail.Locale},
		Limits:   e.Limits(),
		TmpDir:   os.TempDir(),
		Log:      log,
	})
	lambda.Start(meter.Handler(log, httpadapter.NewV2(api).ProxyWithContext))
	return nil
}

func main() {
	if err := run(); err != nil {
		logging.New(os.Stderr).Error("api cannot start", "err", err)
		os.Exit(1)
	}
}
