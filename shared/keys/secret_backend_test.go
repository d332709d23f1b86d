package keys

import (
	"bytes"
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

// TestRotateSecretBackend rotates a key set in the Secrets Manager emulator: a new active
// key each new label, none for a label already rotated to (a retried update), the retired
// keys kept in order (the first key, which the derived secrets come from, stays first), and
// the published public set always the stored one.
func TestRotateSecretBackend(t *testing.T) {
	cfg := awstest.Config(t, "SECRETS_MANAGER")
	client := secretsmanager.NewFromConfig(cfg)
	ctx := context.Background()
	name := awstest.Name(t, "credbatch-rotate")
	if _, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("{}")}); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
	})
	first, _, err := EnsureSecret(ctx, client, name, t0)
	if err != nil {
		t.Fatal(err)
	}
	shuffle, err := first.Secret("status list index shuffle")
	if err != nil {
		t.Fatal(err)
	}
	pub := &published{}
	if _, _, err := RotateSecret(ctx, client, name, pub, " ", t0); credbatch.ErrorCode(err) != "invalid_rotation" {
		t.Errorf("empty label: %v, want invalid_rotation", err)
	}
	actives := []string{first.Active}
	for i, tc := range []struct {
		label   string
		rotated bool
		keys    int
	}{
		{"2026-07-01", true, 4},
		{"2026-07-01", false, 4}, // CloudFormation retried the update
		{"2027-01-01", true, 6},
		{"2026-07-01", false, 6}, // an old label again: the current set stays
	} {
		got, rotated, err := RotateSecret(ctx, client, name, pub, tc.label, t0.AddDate(0, i+1, 0))
		if err != nil {
			t.Fatalf("%d %s: %v", i, tc.label, err)
		}
		if rotated {
			actives = append(actives, got.Active)
		}
		stored, err := FromSecret(ctx, client, name)
		if err != nil {
			t.Fatal(err)
		}
		if rotated != tc.rotated || len(stored.Keys) != tc.keys || stored.Active != actives[len(actives)-1] || got.Active != stored.Active {
			t.Errorf("%d %s: rotated %v, %d keys, active %s; want %v, %d keys, active %s", i, tc.label, rotated, len(stored.Keys), stored.Active, tc.rotated, tc.keys, actives[len(actives)-1])
		}
		if stored.Keys[0].ID != first.Keys[0].ID {
			t.Errorf("%d: the first key is %s, want %s kept first", i, stored.Keys[0].ID, first.Keys[0].ID)
		}
		if s, err := stored.Secret("status list index shuffle"); err != nil || !bytes.Equal(s, shuffle) {
			t.Errorf("%d: the derived shuffle secret changed", i)
		}
		if !bytes.Equal(pub.jwks, stored.JWKS()) {
			t.Errorf("%d: the published set is not the stored one", i)
		}
	}
	for _, a := range actives {
		if _, err := stored(t, client, name).Key(a); err != nil {
			t.Errorf("retired key %s: %v", a, err)
		}
	}
}

func stored(t *testing.T, client *secretsmanager.Client, name string) Set {
	t.Helper()
	s, err := FromSecret(context.Background(), client, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
