package statuslist

import (
	"bytes"
	"testing"
)

func mustShuffle(t *testing.T, secret []byte) *Shuffle {
	t.Helper()
	s, err := NewShuffle(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestShuffleIsAPermutationPerList: every slot of a list gets a distinct index of that list,
// so no index is ever handed out twice, and slot Size starts the next list.
func TestShuffleIsAPermutationPerList(t *testing.T) {
	s := mustShuffle(t, bytes.Repeat([]byte{7}, 32))
	for list := range 2 {
		seen := make([]bool, Size)
		for slot := list * Size; slot < (list+1)*Size; slot++ {
			g := s.Index(slot)
			if g/Size != list {
				t.Fatalf("slot %d went to list %d, want %d", slot, g/Size+1, list+1)
			}
			if seen[g%Size] {
				t.Fatalf("list %d: index %d handed out twice", list+1, g%Size)
			}
			seen[g%Size] = true
		}
	}
}

// TestShuffleNotInIssueOrder: consecutive credentials are not adjacent (in the common case),
// and the lists differ from one another and between deployments.
func TestShuffleNotInIssueOrder(t *testing.T) {
	s := mustShuffle(t, bytes.Repeat([]byte{1}, 32))
	other := mustShuffle(t, bytes.Repeat([]byte{2}, 32))
	const n = 1000
	adjacent, same, ascending := 0, 0, 0
	for slot := range n {
		a, b := s.Index(slot), s.Index(slot+1)
		if d := a - b; d == 1 || d == -1 {
			adjacent++
		}
		if b > a {
			ascending++
		}
		if s.Index(slot) == other.Index(slot) {
			same++
		}
		if s.Index(slot)%Size == s.Index(Size+slot)%Size {
			same++
		}
	}
	// A random permutation puts two given entries next to each other with probability 2/Size.
	if adjacent > 2 {
		t.Errorf("%d of %d consecutive slots got adjacent indexes", adjacent, n)
	}
	if ascending < n/3 || ascending > 2*n/3 {
		t.Errorf("%d of %d consecutive pairs ascend: the order leaks", ascending, n)
	}
	if same > 5 {
		t.Errorf("%d indexes agree between lists or deployments", same)
	}
	if s.Index(0) == 0 && s.Index(1) == 1 {
		t.Error("the first slots keep their order")
	}
	if got, want := s.Index(42), mustShuffle(t, bytes.Repeat([]byte{1}, 32)).Index(42); got != want {
		t.Errorf("the shuffle is not fixed by its secret: %d vs %d", got, want)
	}
}

func TestNewShuffleShortSecret(t *testing.T) {
	if _, err := NewShuffle([]byte("short")); err == nil {
		t.Error("NewShuffle accepted a 5-byte secret")
	}
}
