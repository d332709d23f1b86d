package keys

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// fileFormat is the JSON of a key file and of a Secrets Manager secret:
//
//	{"active":"<kid>","keys":[{"kty":"OKP","crv":"Ed25519","x":"…","d":"…","kid":"…",
//	  "alg":"EdDSA","use":"sig","created":"2026-01-02T03:04:05Z"}]}
//
// d is the base64url 32-byte seed (RFC 8037); kid is the RFC 7638 thumbprint.
type fileFormat struct {
	Active string `json:"active"`
	Keys   []JWK  `json:"keys"`
}

// Marshal returns the private JSON form of the set (the key-file and secret format).
// It contains private keys: store it with care and never log it.
func (s Set) Marshal() ([]byte, error) {
	f := fileFormat{Active: s.Active, Keys: make([]JWK, 0, len(s.Keys))}
	for _, k := range s.Keys {
		if k.IsES256() {
			continue // derived from its Ed25519 key on Parse
		}
		if len(k.Private) != ed25519.PrivateKeySize {
			return nil, credbatch.Errorf(credbatch.KindInternal, "marshal key set: key %s has no private key", k.ID)
		}
		f.Keys = append(f.Keys, k.jwk(true))
	}
	return json.MarshalIndent(f, "", "  ")
}

// Parse reads the private JSON form of a set and checks it: every key must be a valid
// Ed25519 key whose x matches its seed, ids must be unique, the active key must exist. The
// error is KindInvalid and never contains key material.
func Parse(data []byte) (Set, error) {
	invalid := func(msg string) error { return credbatch.E(credbatch.KindInvalid, "invalid_key_set", "key set: "+msg) }
	var f fileFormat
	if err := json.Unmarshal(data, &f); err != nil {
		// The JSON error may quote input (key material): do not include it.
		return Set{}, invalid("not valid JSON")
	}
	if len(f.Keys) == 0 {
		return Set{}, invalid(`"keys" is empty`)
	}
	s := Set{Active: f.Active}
	seen := map[string]bool{}
	for i, j := range f.Keys {
		if j.Kty != "OKP" || j.Crv != "Ed25519" {
			return Set{}, invalid(fmt.Sprintf("key %d: only OKP Ed25519 keys are supported (the P-256 keys are derived from them)", i))
		}
		seed, err := base64.RawURLEncoding.DecodeString(j.D)
		if err != nil || len(seed) != ed25519.SeedSize {
			return Set{}, invalid(fmt.Sprintf("key %d: d is not a base64url 32-byte Ed25519 seed", i))
		}
		priv := ed25519.NewKeyFromSeed(seed)
		pub := priv.Public().(ed25519.PublicKey)
		if j.X != "" && j.X != b64(pub) {
			return Set{}, invalid(fmt.Sprintf("key %d (%s): x does not match d", i, j.Kid))
		}
		kid := j.Kid
		if kid == "" {
			kid = Thumbprint(pub)
		}
		if seen[kid] {
			return Set{}, invalid(fmt.Sprintf("key id %s is used twice", kid))
		}
		seen[kid] = true
		var created time.Time
		if j.Created != "" {
			if created, err = time.Parse(time.RFC3339, j.Created); err != nil {
				return Set{}, invalid(fmt.Sprintf("key %d (%s): created is not an RFC 3339 time", i, kid))
			}
		}
		ks, err := withDerived(Key{ID: kid, Alg: AlgEdDSA, Created: created, Public: pub, Private: priv})
		if err != nil {
			return Set{}, err
		}
		s.Keys = append(s.Keys, ks...)
	}
	if len(s.Keys) == 0 {
		return Set{}, invalid(`"keys" has no Ed25519 key`)
	}
	if s.Active == "" {
		s.Active = s.Keys[len(s.Keys)-2].ID // the last Ed25519 key (its P-256 companion follows it)
	}
	if !seen[s.Active] {
		return Set{}, invalid(fmt.Sprintf("active key %s is not in the set", s.Active))
	}
	return s, nil
}

// LoadFile reads the key file at path. On first run, when the file does not exist, it
// creates it (and its directory) with one fresh key, readable by the owner only (0600).
func LoadFile(path string) (Set, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createFile(path)
	}
	if err != nil {
		return Set{}, fmt.Errorf("read key file %s: %w", path, err)
	}
	s, err := Parse(data)
	if err != nil {
		return Set{}, fmt.Errorf("key file %s: %w", path, err)
	}
	return s, nil
}

func createFile(path string) (Set, error) {
	s, err := New(time.Now())
	if err != nil {
		return Set{}, err
	}
	data, err := s.Marshal()
	if err != nil {
		return Set{}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Set{}, fmt.Errorf("create key directory: %w", err)
	}
	// O_EXCL: when two processes start at once, one creates the file and the other reads it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadFile(path)
	}
	if err != nil {
		return Set{}, fmt.Errorf("create key file %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return Set{}, fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return Set{}, fmt.Errorf("write key file %s: %w", path, err)
	}
	return s, nil
}

// SaveFile writes the set to path (0600) atomically, through a temporary file and a rename;
// use it after Rotate.
func SaveFile(path string, s Set) error {
	data, err := s.Marshal()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keys-*.tmp")
	if err != nil {
		return fmt.Errorf("save key file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save key file %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save key file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save key file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save key file %s: %w", path, err)
	}
	return nil
}

// SecretsAPI is the part of the Secrets Manager client that FromSecret uses.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// FromSecret reads a key set stored in AWS Secrets Manager (SecretString, or SecretBinary,
// in the key-file format). Errors: KindNotFound when the secret does not exist,
// KindUnavailable when Secrets Manager cannot be reached or throttles, KindInvalid when the
// secret is not a valid key set, KindInternal otherwise. Key material is never logged or
// put into an error.
func FromSecret(ctx context.Context, client SecretsAPI, secretID string) (Set, error) {
	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID})
	if err != nil {
		return Set{}, classifySecretError(secretID, err)
	}
	if placeholder(out) {
		// Runtime functions never create keys: the deployment does (functions/keys).
		return Set{}, credbatch.E(credbatch.KindInternal, "no_key_set", fmt.Sprintf("secret %s holds no key set yet: "+
			"the stack's SigningKeys custom resource (functions/keys) creates it at deploy time; deploy the stack, or run "+
			"the keys function once with a CloudFormation Create request", secretID))
	}
	data := out.SecretBinary
	if out.SecretString != nil {
		data = []byte(*out.SecretString)
	}
	s, err := Parse(data)
	if err != nil {
		return Set{}, fmt.Errorf("secret %s: %w", secretID, err)
	}
	return s, nil
}

func classifySecretError(secretID string, err error) error {
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return &credbatch.Error{Kind: credbatch.KindNotFound, Code: string(credbatch.KindNotFound),
			Message: fmt.Sprintf("secret %q not found", secretID), Err: err}
	}
	kind := credbatch.KindInternal
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ThrottlingException", "InternalServiceError", "RequestLimitExceeded", "ServiceUnavailable":
			kind = credbatch.KindUnavailable
		case "AccessDeniedException", "DecryptionFailure":
			kind = credbatch.KindInternal // a deployment problem: the role or the KMS key
		}
	} else if !errors.Is(err, context.Canceled) {
		kind = credbatch.KindUnavailable // network error: retry later
	}
	return &credbatch.Error{Kind: kind, Code: string(kind), Op: "get secret " + secretID, Err: err}
}
