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

// Source is the part of credbatch.Store that Lists reads: the published lists, and the
// revoked credentials for a list that was never published.
type Source interface {
	RevokedLister
	GetStatusList(ctx context.Context, n int) (credbatch.StatusList, error)
}

// Lists reads every status list of a deployment as published (Publisher), at most once per
// TTL; a list never published is built from the store's revoked credentials. It is the
// credential.StatusChecker for the deployment's own credentials (Revoked takes the global
// index).
type Lists struct {
	Store Source
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
	list, err := l.read(ctx, n)
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

// read decodes published list n, or builds it from the store when it was never published.
func (l *Lists) read(ctx context.Context, n int) (*List, error) {
	pub, err := l.Published(ctx, n)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		return FromStoreList(ctx, l.Store, n)
	}
	if err != nil {
		return nil, err
	}
	list, err := Decode(pub.EncodedList)
	if err != nil {
		return nil, credbatch.Errorf(credbatch.KindInternal, "published status list %d: %s", n, credbatch.ErrorMessage(err))
	}
	return list, nil
}

// Published returns status list n as it was signed and stored (never cached: the public
// route serves the latest); KindNotFound when it was never published.
func (l *Lists) Published(ctx context.Context, n int) (credbatch.StatusList, error) {
	if n < 1 {
		return credbatch.StatusList{}, credbatch.Errorf(credbatch.KindNotFound, "status list %d does not exist", n)
	}
	pub, err := l.Store.GetStatusList(ctx, n)
	if err != nil {
		if credbatch.IsKind(err, credbatch.KindNotFound) {
			return pub, credbatch.E(credbatch.KindNotFound, "not_found", fmt.Sprintf("status list %d does not exist (no credential has an entry in it)", n))
		}
		return pub, fmt.Errorf("load status list %d: %w", n, err)
	}
	return pub, nil
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
