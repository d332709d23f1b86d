package storetest

import (
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// TestPathTo checks that the transition matrix can put a batch in every status, each
// step of the path being a legal transition.
func TestPathTo(t *testing.T) {
	for _, status := range allBatchStatuses {
		path := pathTo(status)
		if status != credbatch.BatchReceived && len(path) == 0 {
			t.Fatalf("%s: no path from received", status)
		}
		from := credbatch.BatchReceived
		for _, to := range path {
			if !credbatch.CanTransition(from, to) {
				t.Fatalf("%s: path %v has illegal step %s → %s", status, path, from, to)
			}
			from = to
		}
		if from != status {
			t.Fatalf("%s: path %v ends at %s", status, path, from)
		}
	}
}

func TestCapabilitiesDefaults(t *testing.T) {
	tests := []struct {
		caps             Capabilities
		wantRows, wantNR int
	}{
		{Capabilities{}, 10_001, 8},
		{Capabilities{ManyRows: 500, Racers: 3}, 500, 3},
	}
	for _, tc := range tests {
		if got := tc.caps.manyRows(); got != tc.wantRows {
			t.Errorf("%+v: manyRows %d, want %d", tc.caps, got, tc.wantRows)
		}
		if got := tc.caps.racers(); got != tc.wantNR {
			t.Errorf("%+v: racers %d, want %d", tc.caps, got, tc.wantNR)
		}
	}
}
