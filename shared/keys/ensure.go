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

// SecretsWriteAPI is SecretsAPI plus the write EnsureSecret needs on first use.
type SecretsWriteAPI interface {
	SecretsAPI
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

// InitialVersionToken is the ClientRequestToken of the first key set written to a new secret.
// Every cold start that finds the secret empty writes under this token: Secrets Manager
// keeps the first write and refuses a different value under the same token, so racing
// functions all end up with the one key set that won.
const InitialVersionToken = "credbatch-initial-key-set-0000000000000001"

// EnsureSecret reads the key set in the secret, creating it first when the secret still holds
// the placeholder the deployment template puts there ("" or "{}"): Secrets Manager cannot
// generate Ed25519 keys itself. Errors as FromSecret.
func EnsureSecret(ctx context.Context, client SecretsWriteAPI, secretID string, now time.Time) (Set, error) {
	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID})
	if err != nil {
		return Set{}, classifySecretError(secretID, err)
	}
	if !placeholder(out) {
		return FromSecret(ctx, client, secretID)
	}
	set, err := New(now)
	if err != nil {
		return Set{}, err
	}
	data, err := set.Marshal()
	if err != nil {
		return Set{}, err
	}
	value := string(data)
	_, err = client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &secretID, SecretString: &value,
		ClientRequestToken: strPtr(InitialVersionToken)})
	var exists *smtypes.ResourceExistsException
	if err != nil && !errors.As(err, &exists) {
		return Set{}, fmt.Errorf("store the first key set: %w", classifySecretError(secretID, err))
	}
	// Ours, or the one a concurrent cold start wrote first.
	return FromSecret(ctx, client, secretID)
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
