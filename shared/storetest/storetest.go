// Package storetest is the conformance suite that every credbatch.Store adapter passes.
//
// An adapter's test calls Run with a function that returns a fresh, isolated, empty store
// (a new SQLite file, a new DynamoDB table). Every named subtest gets its own store, so the
// subtests never see each other's data:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) credbatch.Store { return mustOpen(t) })
//	}
//
// Where a backend legitimately differs, the difference is data in Capabilities (RunWith), never
// an if-branch on the backend's name.
package storetest

import (
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Capabilities describe how a backend may legitimately differ. The zero value means the
// defaults, which every adapter is expected to meet.
type Capabilities struct {
	// ManyRows is the number of rows the large paging test writes and pages through
	// (0 = 10,001). The contract requires 10,000+; only lower it for a quick local run.
	ManyRows int
	// Racers is the number of goroutines each concurrency test starts (0 = 8).
	Racers int
}

func (c Capabilities) manyRows() int {
	if c.ManyRows > 0 {
		return c.ManyRows
	}
	return 10_001
}

func (c Capabilities) racers() int {
	if c.Racers > 0 {
		return c.Racers
	}
	return 8
}

// Harness builds stores for the suite.
type Harness struct {
	// NewStore returns a fresh, empty store isolated from every other store it returned;
	// it registers its own cleanup with t.Cleanup.
	NewStore func(t *testing.T) credbatch.Store
	Caps     Capabilities
}

// Run runs the conformance suite with default capabilities.
func Run(t *testing.T, newStore func(t *testing.T) credbatch.Store) {
	RunWith(t, Harness{NewStore: newStore})
}

type testFunc func(t *testing.T, s credbatch.Store, c Capabilities)

// RunWith runs the conformance suite: one named subtest per behaviour, each on a fresh store.
func RunWith(t *testing.T, h Harness) {
	groups := []struct {
		name  string
		tests []namedTest
	}{
		{"Definitions", definitionTests},
		{"Batches", batchTests},
		{"Rows", rowTests},
		{"Credentials", credentialTests},
		{"Deliveries", deliveryTests},
		{"Suppressions", suppressionTests},
		{"Marks", markTests},
		{"Sessions", sessionTests},
		{"Audit", auditTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					s := h.NewStore(t)
					tc.fn(t, s, h.Caps)
				})
			}
		})
	}
}

type namedTest struct {
	name string
	fn   testFunc
}
