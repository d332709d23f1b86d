package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/credbatch/credbatch/shared/keys"
)

// reloadEvery is how often a warm instance reads the published keys again: a rotation (the
// keys function publishes the new key before anything signs with it) reaches the JWKS, the
// DID document and verification within it.
const reloadEvery = 10 * time.Second

// reloading serves the handler built over the published public keys, and builds it again
// when the published set changed. A failed read keeps the handler it has.
type reloading struct {
	from  keys.Published
	build func(keys.Set) http.Handler
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	jwks    []byte
	h       http.Handler
	checked time.Time
}

// newReloading reads the published set (keys.FromPublished: no_public_keys when there is
// none) and builds the first handler.
func newReloading(ctx context.Context, from keys.Published, build func(keys.Set) http.Handler, log *slog.Logger) (*reloading, error) {
	set, err := keys.FromPublished(ctx, from)
	if err != nil {
		return nil, err
	}
	r := &reloading{from: from, build: build, log: log, now: time.Now, jwks: set.JWKS(), h: build(set)}
	r.checked = r.now()
	return r, nil
}

func (r *reloading) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.handler(req.Context()).ServeHTTP(w, req)
}

func (r *reloading) handler(ctx context.Context) http.Handler {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.now().Sub(r.checked) < reloadEvery {
		return r.h
	}
	r.checked = r.now()
	set, err := keys.FromPublished(ctx, r.from)
	if err != nil {
		r.log.WarnContext(ctx, "public keys not read again; serving the ones read before", "err", err)
		return r.h
	}
	if jwks := set.JWKS(); !bytes.Equal(jwks, r.jwks) {
		r.h, r.jwks = r.build(set), jwks
		r.log.InfoContext(ctx, "public keys changed", "keys", len(set.Keys))
	}
	return r.h
}
