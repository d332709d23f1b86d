package stack_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/infra/local/stack"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
)

// definitionsWithPointers has every pointer field a definition holds: the issuer and an
// attribute's min and max. Printed with %#v they show as addresses, different on each parse.
const definitionsWithPointers = `{"definitions":[{"id":"course","name":"Course",
	"issuer":{"name":"Test Academy","url":"https://academy.example"},
	"attributes":[{"name":"Score","type":"number","min":0,"max":100},{"name":"Track","type":"choice","choices":["a","b"]}],
	"expiry":{"policy":"optional"}}]}`

// loadFile opens the stack in dir, loads the definitions file at path as serve does (parsed
// afresh), and closes the stack again: one `make serve` start.
func loadFile(t *testing.T, dir, path string) {
	t.Helper()
	ctx := context.Background()
	s, err := stack.Open(ctx, stack.Config{DataDir: dir, Issuer: credential.Issuer{BaseURL: "http://127.0.0.1:0", Name: "Test Academy"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := credbatch.ParseDefinitions(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LoadDefinitions(ctx, f.Definitions); err != nil {
		t.Fatal(err)
	}
}

// definitionVersion opens the stack in dir and returns the latest version of a definition.
func definitionVersion(t *testing.T, dir, id string) int {
	t.Helper()
	ctx := context.Background()
	s, err := stack.Open(ctx, stack.Config{DataDir: dir, Issuer: credential.Issuer{BaseURL: "http://127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.Store.GetDefinition(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	return d.Version
}

func TestLoadingTheSameDefinitionsFileThreeTimesKeepsVersion1(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(t.TempDir(), "definitions.json")
	if err := os.WriteFile(path, []byte(definitionsWithPointers), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		loadFile(t, dir, path)
	}
	if got := definitionVersion(t, dir, "course"); got != 1 {
		t.Fatalf("after loading the same file three times: version %d, want 1", got)
	}
	// A real change (the issuer's name, behind the pointer) is still a new version.
	changed := strings.Replace(definitionsWithPointers, `"name":"Test Academy"`, `"name":"Test Academy II"`, 1)
	if err := os.WriteFile(path, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	loadFile(t, dir, path)
	loadFile(t, dir, path)
	if got := definitionVersion(t, dir, "course"); got != 2 {
		t.Fatalf("after changing the issuer and loading twice: version %d, want 2", got)
	}
}
