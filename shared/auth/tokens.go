package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Token is one bearer token of the local stack and whom it stands for.
type Token struct {
	Token   string `json:"token"`
	Subject string `json:"subject"`
	Email   string `json:"email,omitempty"`
	Roles   []Role `json:"roles"`
}

// TokensFile is the JSON file of local bearer tokens: {"tokens":[...]}.
type TokensFile struct {
	Tokens []Token `json:"tokens"`
}

// Tokens authenticates "Authorization: Bearer <token>" against a fixed list (the local
// stack's tokens file). Tokens are compared in constant time.
type Tokens struct {
	tokens []Token
}

var _ Authenticator = (*Tokens)(nil)

// NewTokens returns an authenticator over the tokens; KindInvalid when one is empty or
// repeated.
func NewTokens(list []Token) (*Tokens, error) {
	seen := map[string]bool{}
	for i, t := range list {
		if len(t.Token) < 16 {
			return nil, credbatch.Errorf(credbatch.KindInvalid, "tokens[%d]: a token needs at least 16 characters", i)
		}
		if t.Subject == "" {
			return nil, credbatch.Errorf(credbatch.KindInvalid, "tokens[%d]: subject is empty", i)
		}
		if seen[t.Token] {
			return nil, credbatch.Errorf(credbatch.KindInvalid, "tokens[%d]: the same token is listed twice", i)
		}
		seen[t.Token] = true
	}
	return &Tokens{tokens: list}, nil
}

// Authenticate implements Authenticator.
func (t *Tokens) Authenticate(r *http.Request) (Principal, error) {
	tok, err := bearer(r)
	if err != nil {
		return Principal{}, err
	}
	var found *Token
	for i := range t.tokens {
		// Compare against every token so the time taken does not say which one matched.
		if subtle.ConstantTimeCompare([]byte(t.tokens[i].Token), []byte(tok)) == 1 {
			found = &t.tokens[i]
		}
	}
	if found == nil {
		return Principal{}, unauthorized("the bearer token is not valid")
	}
	return Principal{Subject: found.Subject, Email: found.Email, Roles: found.Roles}, nil
}

// LoadTokens reads a tokens file. On first run, when it does not exist, it creates it (and
// its directory, owner-only) with one random token each for an issuer, an approver and an
// admin user, and reports created = true so the caller can tell the user where to find them.
func LoadTokens(path string) (t *Tokens, created bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		f, gerr := GenerateTokens()
		if gerr != nil {
			return nil, false, gerr
		}
		if err := SaveTokens(path, f); err != nil {
			return nil, false, err
		}
		t, err := NewTokens(f.Tokens)
		return t, true, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("read tokens file %s: %w", path, err)
	}
	var f TokensFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, false, &credbatch.Error{Kind: credbatch.KindInvalid, Code: "invalid_tokens",
			Message: fmt.Sprintf("tokens file %s is not valid JSON: %v", path, err), Err: err}
	}
	t, err = NewTokens(f.Tokens)
	if err != nil {
		return nil, false, fmt.Errorf("tokens file %s: %w", path, err)
	}
	return t, false, nil
}

// GenerateTokens returns a tokens file with a random 256-bit token for each of an issuer,
// an approver and an admin user.
func GenerateTokens() (TokensFile, error) {
	users := []struct {
		name string
		role Role
	}{{"issuer", RoleIssuer}, {"approver", RoleApprover}, {"admin", RoleAdmin}}
	var f TokensFile
	for _, u := range users {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return f, fmt.Errorf("generate token: %w", err)
		}
		f.Tokens = append(f.Tokens, Token{Token: hex.EncodeToString(b[:]), Subject: u.name,
			Email: u.name + "@localhost", Roles: []Role{u.role}})
	}
	return f, nil
}

// SaveTokens writes a tokens file readable by the owner only (0600), atomically.
func SaveTokens(path string, f TokensFile) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode tokens: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create tokens directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tokens-*")
	if err != nil {
		return fmt.Errorf("write tokens file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write tokens file: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write tokens file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write tokens file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write tokens file: %w", err)
	}
	return nil
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if h == "" {
		return "", unauthorized("send an Authorization: Bearer <token> header")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", unauthorized("the Authorization header must be Bearer <token>")
	}
	return strings.TrimSpace(tok), nil
}
