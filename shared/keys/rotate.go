package keys

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// RotationVersionToken is the ClientRequestToken (the secret's version id) of the key set a
// rotation labelled label writes: the same label always names the same version, so a retried
// or concurrent rotation with one label makes one new key.
func RotationVersionToken(label string) string {
	sum := sha256.Sum256([]byte(label))
	return "credbatch-rotation-" + hex.EncodeToString(sum[:16])
}

// RotateSecret makes a new active key in the secret's set (Set.Rotate: the retired keys stay,
// so credentials signed with them still verify) and stores it as the secret's current
// version under RotationVersionToken(label). It publishes the rotated set's public halves
// first, so verifiers know the new key before any function signs with it. A label already
// rotated to (a retried stack update) makes no key: the current set is published again and
// returned with rotated false. Only the deploy-time keys function calls it. KindInvalid for an empty
// label; other errors as FromSecret.
func RotateSecret(ctx context.Context, client SecretsWriteAPI, secretID string, to Published, label string, now time.Time) (_ Set, rotated bool, _ error) {
	if strings.TrimSpace(label) == "" {
		return Set{}, false, credbatch.E(credbatch.KindInvalid, "invalid_rotation", "a rotation needs a label (the SigningKeysRotation parameter)")
	}
	token := RotationVersionToken(label)
	done, err := hasVersion(ctx, client, secretID, token)
	if err != nil {
		return Set{}, false, err
	}
	cur, err := FromSecret(ctx, client, secretID)
	if err != nil {
		return Set{}, false, err
	}
	if done { // the current set, which holds that rotation's key (and any later one)
		return cur, false, Publish(ctx, to, cur)
	}
	next := Set{Active: cur.Active, Keys: slices.Clone(cur.Keys)}
	if _, err := next.Rotate(now); err != nil {
		return Set{}, false, err
	}
	if err := Publish(ctx, to, next); err != nil {
		return Set{}, false, err
	}
	data, err := next.Marshal()
	if err != nil {
		return Set{}, false, err
	}
	value := string(data)
	_, err = client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &secretID, SecretString: &value, ClientRequestToken: &token})
	var exists *smtypes.ResourceExistsException
	if err != nil && !errors.As(err, &exists) {
		// The published set names a key nothing signs with: publish the stored one again.
		_ = Publish(ctx, to, cur)
		return Set{}, false, fmt.Errorf("store the rotated key set: %w", classifySecretError(secretID, err))
	}
	got, err := FromSecret(ctx, client, secretID) // ours, or the one a concurrent rotation stored first
	if err != nil {
		return Set{}, false, err
	}
	return got, got.Active == next.Active, Publish(ctx, to, got)
}

// hasVersion reports whether the secret has a version with the id.
func hasVersion(ctx context.Context, client SecretsAPI, secretID, versionID string) (bool, error) {
	_, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID, VersionId: &versionID})
	if err == nil {
		return true, nil
	}
	if err := classifySecretError(secretID, err); !credbatch.IsKind(err, credbatch.KindNotFound) {
		return false, err
	}
	return false, nil
}
