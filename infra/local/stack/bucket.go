package stack

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// bucketSecret reads the key that signs the folder bucket's presigned URLs, creating a random
// one (owner-only file) on first run.
func bucketSecret(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		if s := strings.TrimSpace(string(data)); len(s) >= 32 {
			return s, nil
		}
		return "", fmt.Errorf("bucket signing key %s is too short; delete it to make a new one", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read bucket signing key: %w", err)
	}
	secret := rand.Text() + rand.Text()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process made it first
		return bucketSecret(path)
	}
	if err != nil {
		return "", fmt.Errorf("create bucket signing key: %w", err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write bucket signing key: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write bucket signing key: %w", err)
	}
	return secret, nil
}
