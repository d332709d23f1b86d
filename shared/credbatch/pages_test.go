package credbatch

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestAll(t *testing.T) {
	boom := errors.New("boom")
	// pages lists 1..n in pages of size, failing at page failAt (0-based; -1 = never).
	pages := func(n, size, failAt int, calls *int) func(string) (Page[int], error) {
		return func(cursor string) (Page[int], error) {
			start := 0
			if cursor != "" {
				fmt.Sscan(cursor, &start)
			}
			if start/size == failAt {
				return Page[int]{}, boom
			}
			*calls++
			var p Page[int]
			for i := start; i < min(start+size, n); i++ {
				p.Items = append(p.Items, i+1)
			}
			if start+size < n {
				p.Next = fmt.Sprint(start + size)
			}
			return p, nil
		}
	}
	tests := []struct {
		name          string
		n, size, fail int
		stopAfter     int // break after this many items (0 = never)
		want          []int
		wantErr       bool
		wantListCalls int
	}{
		{name: "empty", n: 0, size: 3, fail: -1, want: nil, wantListCalls: 1},
		{name: "one page", n: 2, size: 3, fail: -1, want: []int{1, 2}, wantListCalls: 1},
		{name: "exact pages", n: 6, size: 3, fail: -1, want: []int{1, 2, 3, 4, 5, 6}, wantListCalls: 2},
		{name: "ragged", n: 7, size: 3, fail: -1, want: []int{1, 2, 3, 4, 5, 6, 7}, wantListCalls: 3},
		{name: "error on the second page", n: 7, size: 3, fail: 1, want: []int{1, 2, 3}, wantErr: true, wantListCalls: 1},
		{name: "break stops listing", n: 9, size: 3, fail: -1, stopAfter: 2, want: []int{1, 2}, wantListCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			var gotErr error
			calls := 0
			for v, err := range All(pages(tt.n, tt.size, tt.fail, &calls)) {
				if err != nil {
					gotErr = err
					break
				}
				got = append(got, v)
				if len(got) == tt.stopAfter {
					break
				}
			}
			if !slices.Equal(got, tt.want) || (gotErr != nil) != tt.wantErr || calls != tt.wantListCalls {
				t.Errorf("got %v, err %v, %d calls; want %v, err %v, %d calls", got, gotErr, calls, tt.want, tt.wantErr, tt.wantListCalls)
			}
		})
	}
}
