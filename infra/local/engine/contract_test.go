package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/credbatch/credbatch/infra/local/engine"
	"github.com/credbatch/credbatch/shared/workflowtest"
)

// TestContract runs the Workflow contract suite against the local engine: it runs the
// definition, so the task tokens its function receives are answered through the port.
func TestContract(t *testing.T) {
	workflowtest.Run(t, func(t *testing.T) workflowtest.Harness {
		const fn = "arn:aws:lambda:us-east-1:123456789012:function:ask"
		var mu sync.Mutex
		tokens := map[string]chan string{}
		wait := func(name string) chan string {
			mu.Lock()
			defer mu.Unlock()
			if tokens[name] == nil {
				tokens[name] = make(chan string, 1)
			}
			return tokens[name]
		}
		ask := func(_ context.Context, p json.RawMessage) (json.RawMessage, error) {
			var in workflowtest.TokenPayload
			if err := json.Unmarshal(p, &in); err != nil {
				return nil, err
			}
			wait(in.Name) <- in.Token
			return json.RawMessage(`{}`), nil
		}
		m, err := engine.Load([]byte(workflowtest.Definition(fn)), nil, map[string]engine.Handler{fn: ask})
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.Open(context.Background(), filepath.Join(t.TempDir(), "engine.db"), m, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return workflowtest.Harness{Workflow: e,
			Token: func(t *testing.T, name string) string {
				t.Helper()
				select {
				case tok := <-wait(name):
					return tok
				case <-time.After(10 * time.Second):
					t.Fatalf("no task token for %s within 10 s", name)
					return ""
				}
			},
			Result: func(t *testing.T, id string) (json.RawMessage, string) {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, out, err := e.Wait(ctx, id)
				var se *engine.StateError
				if errors.As(err, &se) {
					return nil, se.Name
				}
				if err != nil {
					t.Fatal(err)
				}
				return out, ""
			},
			Caps: workflowtest.Capabilities{RunsTasks: true, RefusesUnknownTokens: true}}
	})
}
