package statuslist

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// RevokedLister is the part of credbatch.Store that FromStore uses.
type RevokedLister interface {
	ListRevoked(ctx context.Context, cursor string, limit int) (credbatch.Page[credbatch.Credential], error)
}

// FromStore builds the first list; see FromStoreList.
func FromStore(ctx context.Context, store RevokedLister) (*List, error) {
	return FromStoreList(ctx, store, 1)
}

// FromStoreList builds list n (1-based: global status indexes (n-1)*Size to n*Size-1) from
// every revoked credential in the store, paging through ListRevoked. Errors from the store
// are returned wrapped.
func FromStoreList(ctx context.Context, store RevokedLister, n int) (*List, error) {
	if n < 1 {
		return nil, credbatch.Errorf(credbatch.KindNotFound, "status list %d does not exist", n)
	}
	first := (n - 1) * Size
	l, err := New(Size)
	if err != nil {
		return nil, err
	}
	for c, err := range credbatch.All(func(cursor string) (credbatch.Page[credbatch.Credential], error) {
		return store.ListRevoked(ctx, cursor, credbatch.MaxPageSize)
	}) {
		if err != nil {
			return nil, fmt.Errorf("build status list: %w", err)
		}
		if c.StatusListIndex < first || c.StatusListIndex >= first+Size {
			continue // another list's entry
		}
		if err := l.Set(c.StatusListIndex-first, true); err != nil {
			return nil, credbatch.Errorf(credbatch.KindInternal, "build status list: credential %s: %s", c.ID, credbatch.ErrorMessage(err))
		}
	}
	return l, nil
}

// Lists serves every status list of a deployment from the store, rebuilding a list at most
// once per TTL. It is the credential.StatusChecker for the deployment's own credentials
// (Revoked takes the global index).
type Lists struct {
	Store RevokedLister
	TTL   time.Duration // default 30 s
	Now   func() time.Time

	mu    sync.Mutex
	cache map[int]cached
}

type cached struct {
	list *List
	at   time.Time
}

// List returns list n (1-based), from the cache when it is fresh.
func (l *Lists) List(ctx context.Context, n int) (*List, error) {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	ttl := l.TTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	l.mu.Lock()
	c, ok := l.cache[n]
	l.mu.Unlock()
	if ok && now().Sub(c.at) < ttl {
		return c.list, nil
	}
	list, err := FromStoreList(ctx, l.Store, n)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.cache == nil {
		l.cache = map[int]cached{}
	}
	l.cache[n] = cached{list, now()}
	l.mu.Unlock()
	return list, nil
}

// Revoked reports whether the credential with the global status index is revoked.
func (l *Lists) Revoked(ctx context.Context, global int) (bool, error) {
	list, err := l.List(ctx, global/Size+1)
	if err != nil {
		return false, err
	}
	return list.Get(global % Size)
}

// Forget drops cached lists, so the next read sees a revocation at once.
func (l *Lists) Forget() {
	l.mu.Lock()
	l.cache = nil
	l.mu.Unlock()
}
