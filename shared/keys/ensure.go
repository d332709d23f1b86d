package keys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// SecretsWriteAPI is SecretsAPI plus the write EnsureSecret needs.
type SecretsWriteAPI interface {
	SecretsAPI
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

// InitialVersionToken is the ClientRequestToken of the first key set written to a new secret.
// Every call that finds the secret empty writes under this token: Secrets Manager keeps the
// first write and refuses a different value under the same token, so racing writers all end
// up with the one key set that won.
const InitialVersionToken = "credbatch-initial-key-set-0000000000000001"

// EnsureSecret reads the key set in the secret, creating it first when the secret still holds
// the placeholder the deployment template puts there ("" or "{}"): Secrets Manager cannot
// generate Ed25519 keys itself. It never replaces a key set. Only the deploy-time keys
// function (functions/keys, the stack's SigningKeys custom resource) calls it, so that no
// runtime role needs secretsmanager:PutSecretValue; runtime functions read with FromSecret,
// which fails on the placeholder. created reports whether this call wrote the key set.
// Errors as FromSecret.
func EnsureSecret(ctx context.Context, client SecretsWriteAPI, secretID string, now time.Time) (_ Set, created bool, _ error) {
	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID})
	if err != nil {
		return Set{}, false, classifySecretError(secretID, err)
	}
	if !placeholder(out) {
		s, err := FromSecret(ctx, client, secretID)
		return s, false, err
	}
	set, err := New(now)
	if err != nil {
		return Set{}, false, err
	}
	data, err := set.Marshal()
	if err != nil {
		return Set{}, false, err
	}
	value := string(data)
	_, err = client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &secretID, SecretString: &value,
		ClientRequestToken: strPtr(InitialVersionToken)})
	var exists *smtypes.ResourceExistsException
	if err != nil && !errors.As(err, &exists) {
		return Set{}, false, fmt.Errorf("store the first key set: %w", classifySecretError(secretID, err))
	}
	// Ours, or the one a concurrent writer stored first.
	got, err := FromSecret(ctx, client, secretID)
	return got, err == nil && got.Active == set.Active, err
}

func placeholder(out *secretsmanager.GetSecretValueOutput) bool {
	var v []byte
	switch {
	case out.SecretString != nil:
		v = []byte(*out.SecretString)
	default:
		v = out.SecretBinary
	}
	v = bytes.TrimSpace(v)
	return len(v) == 0 || bytes.Equal(v, []byte("{}"))
}

func strPtr(s string) *string { return &s }

var _ SecretsWriteAPI = (*secretsmanager.Client)(nil)
