// Command public is the Lambda behind the unauthenticated routes of the HTTP API, none of
// which signs (httpapi.PublicRoutes and the credential pages): credential pages, documents
// (the VC-JWT as signed at issuance among them) and evidence, POST /verify, the JWKS, the DID
// document and the status lists. It reads the public keys the keys function published to the
// table (keys.FromPublished), and reads them again every reloadEvery so a rotation reaches
// warm instances; its role cannot read the signing-key secret.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/awsmeter"
	"github.com/credbatch/credbatch/shared/config"
	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/logging"
	"github.com/credbatch/credbatch/shared/s3blob"
	"github.com/credbatch/credbatch/shared/site"
)

func run() error {
	log := logging.New(os.Stdout)
	e, err := config.LoadPublic(config.FromOS())
	if err != nil {
		return err
	}
	ctx := context.Background()
	cfg, meter, err := awsmeter.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	store := dynamo.New(dynamodb.NewFromConfig(cfg), e.Table)
	s3c := s3.NewFromConfig(cfg)
	did, err := e.Issuer.DID()
	if err != nil {
		return fmt.Errorf("did:web of PUBLIC_BASE_URL: %w", err)
	}
	// Staff signed in to the console (session cookie, or a bearer token) still see a revoked
	// credential's evidence, so the pages verify the same OIDC tokens as the api function.
	deps := site.Deps{
		Public:   true,
		Store:    store,
		Blob:     s3blob.New(s3c, s3.NewPresignClient(s3c), e.Bucket),
		Issuer:   e.Issuer,
		DID:      did,
		PageAuth: &auth.OIDC{Issuer: e.AuthIssuer, Audience: e.AuthAudience, RolesClaim: e.RolesClaim},
		TmpDir:   os.TempDir(),
		Log:      log,
	}
	h, err := newReloading(ctx, store, func(set keys.Set) http.Handler {
		d := deps
		d.Keys = set
		return site.New(d)
	}, log)
	if err != nil {
		return fmt.Errorf("load the public keys: %w", err)
	}
	lambda.Start(meter.Handler(log, httpadapter.NewV2(h).ProxyWithContext))
	return nil
}

func main() {
	if err := run(); err != nil {
		logging.New(os.Stderr).Error("public cannot start", "err", err)
		os.Exit(1)
	}
}
