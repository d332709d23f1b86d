// Command api is the Lambda behind API Gateway (HTTP API, payload 2.0): the JSON API, the
// public credential documents and the verify endpoint.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/logging"
	"github.com/credbatch/credbatch/shared/s3blob"
	"github.com/credbatch/credbatch/shared/ses"
	"github.com/credbatch/credbatch/shared/sfn"
	"github.com/credbatch/credbatch/shared/site"
)

// env is the function's configuration (see README, "Environment variables").
type env struct {
	Table            string // TABLE_NAME
	Bucket           string // BUCKET_NAME
	KeysSecret       string // KEYS_SECRET_ID: Secrets Manager secret holding the signing key set
	BaseURL          string // PUBLIC_BASE_URL: public URL of the API (credential ids, status list)
	RolesClaim       string // ROLES_CLAIM: JWT claim with the caller's roles (default "cognito:groups")
	From             string // MAIL_FROM: sender of resent credential emails
	ConfigurationSet string // SES_CONFIGURATION_SET
	StateMachine     string // STATE_MACHINE_ARN
	IssuerName       string // ISSUER_NAME
	IssuerURL        string // ISSUER_URL
	URLID            bool   // ISSUER_ID=url: the issuer id is PUBLIC_BASE_URL instead of its did:web
	AuthIssuer       string // AUTH_ISSUER: the OIDC issuer whose tokens the review pages accept
	AuthAudience     string // AUTH_AUDIENCE: the client id those tokens carry
}

func readEnv() (env, error) {
	e := env{Table: os.Getenv("TABLE_NAME"), Bucket: os.Getenv("BUCKET_NAME"), KeysSecret: os.Getenv("KEYS_SECRET_ID"),
		BaseURL: strings.TrimRight(os.Getenv("PUBLIC_BASE_URL"), "/"), RolesClaim: os.Getenv("ROLES_CLAIM"),
		From: os.Getenv("MAIL_FROM"), ConfigurationSet: os.Getenv("SES_CONFIGURATION_SET"),
		StateMachine: os.Getenv("STATE_MACHINE_ARN"), AuthIssuer: os.Getenv("AUTH_ISSUER"), AuthAudience: os.Getenv("AUTH_AUDIENCE"), IssuerName: os.Getenv("ISSUER_NAME"), IssuerURL: os.Getenv("ISSUER_URL"),
		URLID: os.Getenv("ISSUER_ID") == "url"}
	var missing []string
	for name, v := range map[string]string{"TABLE_NAME": e.Table, "BUCKET_NAME": e.Bucket, "KEYS_SECRET_ID": e.KeysSecret,
		"PUBLIC_BASE_URL": e.BaseURL, "STATE_MACHINE_ARN": e.StateMachine, "MAIL_FROM": e.From} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return e, fmt.Errorf("set %s", strings.Join(missing, ", "))
	}
	if e.RolesClaim == "" {
		e.RolesClaim = "cognito:groups"
	}
	return e, nil
}

func run() error {
	log := logging.New(os.Stdout)
	e, err := readEnv()
	if err != nil {
		return err
	}
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	set, err := keys.EnsureSecret(ctx, secretsmanager.NewFromConfig(cfg), e.KeysSecret, time.Now())
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	issuer := credential.Issuer{BaseURL: e.BaseURL, Name: e.IssuerName, URL: e.IssuerURL, URLID: e.URLID}
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
	mailer := ses.New(sesv2.NewFromConfig(cfg), ses.Options{ConfigurationSet: e.ConfigurationSet, From: e.From, Logger: log})
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
		From:     e.From,
		DID:      did,
		APIAuth:  auth.APIGateway{RolesClaim: e.RolesClaim},
		PageAuth: &auth.OIDC{Issuer: e.AuthIssuer, Audience: e.AuthAudience, RolesClaim: e.RolesClaim},
		TmpDir:   os.TempDir(),
		Log:      log,
	})
	lambda.Start(httpadapter.NewV2(api).ProxyWithContext)
	return nil
}

func main() {
	if err := run(); err != nil {
		logging.New(os.Stderr).Error("api cannot start", "err", err)
		os.Exit(1)
	}
}
