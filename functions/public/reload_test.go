package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/keys"
)

type published struct {
	jwks []byte
	err  error
}

func (p *published) PutPublicKeys(_ context.Context, jwks []byte) error { p.jwks = jwks; return nil }
func (p *published) GetPublicKeys(context.Context) ([]byte, error) {
	if p.err != nil {
		return nil, p.err
	}
	if p.jwks == nil {
		return nil, credbatch.NotFound("public key set", "")
	}
	return p.jwks, nil
}

// TestReloading: a warm instance serves the set it read until reloadEvery has passed, then
// the rotated set; a failed read keeps the set it has; nothing published fails the start.
func TestReloading(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	build := func(set keys.Set) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(set.JWKS()) })
	}
	from := &published{}
	if _, err := newReloading(ctx, from, build, log); credbatch.ErrorCode(err) != "no_public_keys" {
		t.Fatalf("nothing published: %v, want no_public_keys", err)
	}
	set, err := keys.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Publish(ctx, from, set); err != nil {
		t.Fatal(err)
	}
	r, err := newReloading(ctx, from, build, log)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	r.now, r.checked = func() time.Time { return now }, now
	served := func() string {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
		return w.Body.String()
	}
	before := string(set.JWKS())
	if _, err := set.Rotate(now); err != nil {
		t.Fatal(err)
	}
	if err := keys.Publish(ctx, from, set); err != nil {
		t.Fatal(err)
	}
	after := string(set.JWKS())
	for _, step := range []struct {
		advance time.Duration
		fail    bool
		want    string
	}{
		{0, false, before},                         // read at the start, not again yet
		{reloadEvery - time.Second, false, before}, // still within reloadEvery
		{reloadEvery, true, before},                // due, but the read fails: keep what it has
		{reloadEvery, false, after},                // due again: the rotated set
		{time.Hour, false, after},
	} {
		now = now.Add(step.advance)
		from.err = nil
		if step.fail {
			from.err = credbatch.E(credbatch.KindUnavailable, "unavailable", "throttled")
		}
		if got := served(); got != step.want {
			t.Errorf("after %s (read fails %v): served %s, want %s", step.advance, step.fail, got, step.want)
		}
	}
}
