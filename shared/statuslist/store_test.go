package statuslist

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// pagedStore serves revoked credentials two per page.
type pagedStore struct {
	indexes []int
	err     error
	calls   int
}

func (p *pagedStore) ListRevoked(_ context.Context, cursor string, _ int) (credbatch.Page[credbatch.Credential], error) {
	p.calls++
	if p.err != nil {
		return credbatch.Page[credbatch.Credential]{}, p.err
	}
	start, _ := strconv.Atoi(cursor)
	end := min(start+2, len(p.indexes))
	var page credbatch.Page[credbatch.Credential]
	for _, i := range p.indexes[start:end] {
		page.Items = append(page.Items, credbatch.Credential{ID: "c" + strconv.Itoa(i), StatusListIndex: i, Status: credbatch.CredentialRevoked})
	}
	if end < len(p.indexes) {
		page.Next = strconv.Itoa(end)
	}
	return page, nil
}

func TestFromStore(t *testing.T) {
	store := &pagedStore{indexes: []int{5, 0, 131071, 77, 9}}
	l, err := FromStore(context.Background(), store)
	if err != nil {
		t.Fatalf("FromStore: %v", err)
	}
	if store.calls != 3 {
		t.Errorf("ListRevoked called %d times, want 3 pages", store.calls)
	}
	want := map[int]bool{5: true, 0: true, 131071: true, 77: true, 9: true}
	for i := 0; i < l.Len(); i++ {
		if got, _ := l.Get(i); got != want[i] {
			t.Fatalf("entry %d = %v, want %v", i, got, want[i])
		}
	}
}

func TestFromStoreErrors(t *testing.T) {
	down := credbatch.E(credbatch.KindUnavailable, "unavailable", "table throttled")
	tests := []struct {
		name  string
		store *pagedStore
		want  credbatch.Kind
	}{
		{"store down", &pagedStore{err: down}, credbatch.KindUnavailable},
		{"index beyond the list", &pagedStore{indexes: []int{1, Size}}, credbatch.KindInternal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromStore(context.Background(), tc.store)
			if got := credbatch.ErrorKind(err); err == nil || got != tc.want {
				t.Errorf("err = %v (kind %s), want kind %s", err, got, tc.want)
			}
			if tc.store.err != nil && !errors.Is(err, down) {
				t.Errorf("err %v does not wrap the store error", err)
			}
		})
	}
}
