package statuslist

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

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

// GetStatusList: nothing is published, so Lists builds lists from the revoked credentials.
func (p *pagedStore) GetStatusList(_ context.Context, n int) (credbatch.StatusList, error) {
	return credbatch.StatusList{}, credbatch.NotFound("status list", strconv.Itoa(n))
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

func TestFromStoreListSplitsByList(t *testing.T) {
	store := &pagedStore{indexes: []int{3, Size, Size + 7, 2*Size - 1, 2 * Size}}
	tests := []struct {
		list int
		want []int // revoked positions within the list
	}{
		{1, []int{3}},
		{2, []int{0, 7, Size - 1}},
		{3, []int{0}},
		{4, nil},
	}
	for _, tt := range tests {
		l, err := FromStoreList(context.Background(), store, tt.list)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for i := 0; i < l.Len(); i++ {
			if on, _ := l.Get(i); on {
				got = append(got, i)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("list %d: revoked %v, want %v", tt.list, got, tt.want)
		}
	}
	if _, err := FromStoreList(context.Background(), store, 0); credbatch.ErrorKind(err) != credbatch.KindNotFound {
		t.Errorf("list 0: %v, want not found", err)
	}
}

func TestListsCacheAndGlobalIndexes(t *testing.T) {
	store := &pagedStore{indexes: []int{Size + 7}}
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	lists := &Lists{Store: store, TTL: time.Minute, Now: func() time.Time { return now }}
	ctx := context.Background()
	check := func(global int, want bool) {
		t.Helper()
		got, err := lists.Revoked(ctx, global)
		if err != nil || got != want {
			t.Errorf("Revoked(%d) = %v, %v; want %v", global, got, err, want)
		}
	}
	check(Size+7, true)
	check(7, false)
	calls := store.calls
	check(Size+8, false) // list 2 again: cached
	if store.calls != calls {
		t.Errorf("a fresh cached list was rebuilt")
	}
	store.indexes = append(store.indexes, Size+8)
	lists.Forget()
	check(Size+8, true)
	store.indexes = append(store.indexes, Size+9)
	now = now.Add(2 * time.Minute)
	check(Size+9, true)
}
