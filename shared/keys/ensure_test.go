package keys

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// versionedSecret behaves like Secrets Manager for one secret: a version per request token,
// the first value under a token kept, a different value under the same token refused.
type versionedSecret struct {
	mu       sync.Mutex
	current  string
	versions map[string]string
	puts     int
}

func (s *versionedSecret) GetSecretValue(_ context.Context, _ *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.current
	return &secretsmanager.GetSecretValueOutput{SecretString: &v}, nil
}

func (s *versionedSecret) PutSecretValue(_ context.Context, in *secretsmanager.PutSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	tok := *in.ClientRequestToken
	if old, ok := s.versions[tok]; ok {
		if old != *in.SecretString {
			return nil, &smtypes.ResourceExistsException{Message: strPtr("version exists with other content")}
		}
		return &secretsmanager.PutSecretValueOutput{}, nil
	}
	if s.versions == nil {
		s.versions = map[string]string{}
	}
	s.versions[tok] = *in.SecretString
	s.current = *in.SecretString
	return &secretsmanager.PutSecretValueOutput{}, nil
}

func TestEnsureSecret(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	t.Run("placeholder becomes a key set, once", func(t *testing.T) {
		sec := &versionedSecret{current: "{}"}
		if _, err := FromSecret(ctx, sec, "keys"); credbatch.ErrorCode(err) != "no_key_set" || !strings.Contains(err.Error(), "functions/keys") {
			t.Errorf("FromSecret on the placeholder: %v, want no_key_set naming functions/keys", err)
		}
		first, created, err := EnsureSecret(ctx, sec, "keys", now)
		if err != nil || !created {
			t.Fatal(created, err)
		}
		again, created, err := EnsureSecret(ctx, sec, "keys", now)
		if err != nil || created {
			t.Fatal(created, err)
		}
		if first.Active == "" || first.Active != again.Active || sec.puts != 1 {
			t.Errorf("active %q then %q after %d writes; want one key set written once", first.Active, again.Active, sec.puts)
		}
		if read, err := FromSecret(ctx, sec, "keys"); err != nil || read.Active != first.Active {
			t.Errorf("FromSecret after: %v %v", read, err)
		}
	})
	t.Run("racing cold starts agree on one key set", func(t *testing.T) {
		sec := &versionedSecret{current: ""}
		var wg sync.WaitGroup
		got := make([]string, 8)
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, _, err := EnsureSecret(ctx, sec, "keys", now)
				if err != nil {
					t.Error(err)
					return
				}
				got[i] = s.Active
			}()
		}
		wg.Wait()
		for _, a := range got {
			if a != got[0] || a == "" {
				t.Fatalf("active keys %v: every start must use the same key", got)
			}
		}
	})
	t.Run("existing key set is read, not replaced", func(t *testing.T) {
		set, _ := New(now)
		data, _ := set.Marshal()
		sec := &versionedSecret{current: string(data)}
		got, created, err := EnsureSecret(ctx, sec, "keys", now)
		if err != nil || created || got.Active != set.Active || sec.puts != 0 {
			t.Errorf("got %q (%v) after %d writes, want %q and no write", got.Active, err, sec.puts, set.Active)
		}
	})
	t.Run("garbage is an error, not overwritten", func(t *testing.T) {
		sec := &versionedSecret{current: "not json"}
		if _, _, err := EnsureSecret(ctx, sec, "keys", now); err == nil || sec.puts != 0 {
			t.Errorf("err %v after %d writes; want an error and no write", err, sec.puts)
		}
	})
}
