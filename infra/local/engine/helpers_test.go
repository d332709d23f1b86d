package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// repoFile reads a file relative to the repository root (the directory holding go.mod).
func repoFile(t *testing.T, rel string) []byte {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var epoch = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// mustOpen loads def with the handlers and opens an engine on a fresh database with a
// virtual clock whose waits up to a minute fire at once.
func mustOpen(t *testing.T, def string, tasks map[string]Handler) (*Engine, *VirtualClock) {
	t.Helper()
	m, err := Load([]byte(def), nil, tasks)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	clock := NewVirtualClock(epoch, time.Minute)
	e, err := Open(context.Background(), filepath.Join(t.TempDir(), "engine.db"), m, Options{Clock: clock, Rand: func() float64 { return 1 }})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e, clock
}

// run starts an execution and waits for it to end.
func run(t *testing.T, e *Engine, name, input string) (Status, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := e.Start(ctx, name, json.RawMessage(input))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	st, out, err := e.Wait(ctx, id)
	return st, string(out), err
}

// echo is a handler that returns its payload.
func echo(_ context.Context, p json.RawMessage) (json.RawMessage, error) { return p, nil }

func eventTypes(t *testing.T, e *Engine, name string) map[string]int {
	t.Helper()
	h, err := e.History(name)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	n := map[string]int{}
	for _, ev := range h {
		n[ev.Type]++
	}
	return n
}
