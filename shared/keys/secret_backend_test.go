package keys

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/credbatch/credbatch/shared/awstest"
	"github.com/credbatch/credbatch/shared/credbatch"
)

// TestFromSecretBackend stores a key set in a Secrets Manager emulator (moto server, via
// AWS_ENDPOINT_URL_SECRETS_MANAGER) and reads it back with FromSecret.
func TestFromSecretBackend(t *testing.T) {
	cfg := awstest.Config(t, "SECRETS_MANAGER")
	client := secretsmanager.NewFromConfig(cfg)
	ctx := context.Background()

	set := mustNew(t)
	if _, err := set.Rotate(t0.AddDate(0, 6, 0)); err != nil {
		t.Fatal(err)
	}
	data, err := set.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	name := awstest.Name(t, "credbatch-keys")
	if _, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(string(data))}); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
	})

	got, err := FromSecret(ctx, client, name)
	if err != nil {
		t.Fatalf("FromSecret: %v", err)
	}
	if got.Active != set.Active || len(got.Keys) != len(set.Keys) || len(got.Keys) != 4 {
		t.Fatalf("got %v, want %v", got, set)
	}
	for i := range set.Keys {
		if !got.Keys[i].Private.Equal(set.Keys[i].Private) {
			t.Errorf("key %d differs", i)
		}
	}

	if _, err := FromSecret(ctx, client, name+"-missing"); credbatch.ErrorKind(err) != credbatch.KindNotFound {
		t.Errorf("missing secret: err = %v, want kind not_found", err)
	}
}
