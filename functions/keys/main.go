// Command keys is the deploy-time function behind the stack's SigningKeys custom resource
// (Custom::SigningKeys): on Create and Update it writes the first key set into the
// signing-key secret when the secret still holds the template's placeholder, and never
// replaces keys that are there; an Update that changes the Rotation label makes a new active
// key and keeps the old ones (keys.RotateSecret). Then it publishes the set's public halves
// to the table (keys.Publish, item KEYS#PUBLIC), which the public function reads instead of
// the secret. Delete leaves both as they are (the secret and the table are retained). Its
// role is the only one that may write the secret: the runtime functions read it and fail at
// a cold start while it is empty.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/credbatch/credbatch/shared/awsmeter"
	"github.com/credbatch/credbatch/shared/config"
	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/logging"
)

// setup answers one custom-resource request.
type setup struct {
	secrets keys.SecretsWriteAPI
	secret  string
	public  keys.Published // where the public halves are published (the table)
	log     *slog.Logger
}

// handle creates the key set if absent, rotates it when an Update changes the Rotation
// property (the SigningKeysRotation parameter) to a new label, and publishes its public
// halves. The physical id is the secret's, so an update that keeps the secret keeps the
// resource; a new secret (a replaced resource) gets its own keys, and CloudFormation's Delete
// of the old id changes nothing.
func (s *setup) handle(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
	id := "signing-keys:" + s.secret
	if ev.RequestType == cfn.RequestDelete {
		s.log.Info("signing keys kept on delete", "secret", s.secret, "resource", ev.LogicalResourceID)
		return ev.PhysicalResourceID, nil, nil
	}
	set, created, err := keys.EnsureSecret(ctx, s.secrets, s.secret, time.Now())
	if err != nil {
		return id, nil, fmt.Errorf("signing keys in %s: %w", s.secret, err)
	}
	label, _ := ev.ResourceProperties["Rotation"].(string)
	old, _ := ev.OldResourceProperties["Rotation"].(string)
	rotated := false
	if ev.RequestType == cfn.RequestUpdate && label != "" && label != old && !created {
		// RotateSecret publishes the new key before it stores it as the active one.
		if set, rotated, err = keys.RotateSecret(ctx, s.secrets, s.secret, s.public, label, time.Now()); err != nil {
			return id, nil, fmt.Errorf("rotate the signing keys in %s (rotation %q): %w", s.secret, label, err)
		}
	} else if err := keys.Publish(ctx, s.public, set); err != nil {
		return id, nil, err
	}
	s.log.Info("signing keys ready", "secret", s.secret, "created", created, "rotated", rotated, "rotation", label,
		"active", set.Active, "keys", len(set.Keys), "request", string(ev.RequestType))
	return id, map[string]any{"ActiveKeyId": set.Active}, nil
}

func run() error {
	log := logging.New(os.Stdout)
	e, err := config.LoadKeys(config.FromOS())
	if err != nil {
		return err
	}
	cfg, meter, err := awsmeter.LoadDefaultConfig(context.Background())
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	s := &setup{secrets: secretsmanager.NewFromConfig(cfg), secret: e.KeysSecret, public: dynamo.New(dynamodb.NewFromConfig(cfg), e.Table), log: log}
	lambda.Start(meter.Handler(log, cfn.LambdaWrap(s.handle)))
	return nil
}

func main() {
	if err := run(); err != nil {
		logging.New(os.Stderr).Error("keys cannot start", "err", err)
		os.Exit(1)
	}
}
