package outbox_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/mailtest"
	"github.com/credbatch/credbatch/shared/outbox"
)

// TestContract runs the Mailer contract suite against the outbox; what it holds is read
// back from the .eml files.
func TestContract(t *testing.T) {
	mailtest.Run(t, func(t *testing.T) mailtest.Harness {
		o, err := outbox.New(t.TempDir(), outbox.Options{From: "certs@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		files := func(t *testing.T) []string {
			t.Helper()
			names, err := filepath.Glob(filepath.Join(o.Dir(), "*.eml"))
			if err != nil {
				t.Fatal(err)
			}
			return names
		}
		return mailtest.Harness{Mailer: o, From: "Credbatch <certs@example.com>",
			Sent: func(t *testing.T, id string) (string, bool) {
				random, _, _ := strings.Cut(id, "@")
				for _, f := range files(t) {
					if strings.HasSuffix(f, "_"+random+".eml") {
						b, err := os.ReadFile(f)
						if err != nil {
							t.Fatal(err)
						}
						return string(b), strings.Contains(string(b), "Message-ID: <"+id+">")
					}
				}
				return "", false
			},
			Holds: func(t *testing.T, text string) bool {
				for _, f := range files(t) {
					if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), text) {
						return true
					}
				}
				return false
			}}
	})
}
