package statuslist

import (
	"context"
	"fmt"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// RevokedLister is the part of credbatch.Store that FromStore uses.
type RevokedLister interface {
	ListRevoked(ctx context.Context, cursor string, limit int) (credbatch.Page[credbatch.Credential], error)
}

// FromStore builds the current list (Size entries) from every revoked credential in the
// store, paging through ListRevoked. Errors from the store are returned wrapped; an index
// outside the list is KindInternal (the store allocated an index the list cannot hold).
func FromStore(ctx context.Context, store RevokedLister) (*List, error) {
	l, err := New(Size)
	if err != nil {
		return nil, err
	}
	cursor := ""
	for {
		page, err := store.ListRevoked(ctx, cursor, credbatch.MaxPageSize)
		if err != nil {
			return nil, fmt.Errorf("build status list: %w", err)
		}
		for _, c := range page.Items {
			if err := l.Set(c.StatusListIndex, true); err != nil {
				return nil, credbatch.Errorf(credbatch.KindInternal, "build status list: credential %s: %s", c.ID, credbatch.ErrorMessage(err))
			}
		}
		if page.Next == "" {
			return l, nil
		}
		cursor = page.Next
	}
}
