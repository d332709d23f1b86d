package statuslist

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Shuffle turns the status entries a deployment hands out, numbered consecutively by the
// store's counter (slots 0, 1, 2, …), into status indexes that do not reveal issue order or
// batch size, as Bitstring Status List recommends: slot / Size picks the list (a full list
// moves on to the next one), and a keyed pseudo-random permutation of 0..Size-1, different
// for each list, gives the index within it. Being a permutation, it never hands out an index
// twice. The key is a deployment secret (keys.Set.Secret): whoever knows it can put the
// entries back in issue order.
//
// The round function is AES-256 under a key hashed from the secret. It is safe for
// concurrent use.
type Shuffle struct {
	block cipher.Block
}

// NewShuffle returns the shuffle of a secret of at least 16 bytes.
func NewShuffle(secret []byte) (*Shuffle, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("status index shuffle: the secret must have at least 16 bytes, not %d", len(secret))
	}
	key := sha256.Sum256(append([]byte("credbatch status index shuffle\x00"), secret...))
	b, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("status index shuffle: %w", err)
	}
	return &Shuffle{block: b}, nil
}

// Feistel network over 18 bits (two 9-bit halves) with cycle walking down to Size = 2^17.
const (
	halfBits = 9
	halfMask = 1<<halfBits - 1
	rounds   = 8
)

// Index returns the global status index (list (n-1)*Size + index) of a slot (≥ 0).
func (s *Shuffle) Index(slot int) int {
	list := slot / Size
	x := uint32(slot % Size)
	for {
		x = s.permute(uint64(list), x)
		if x < Size {
			return list*Size + int(x)
		}
	}
}

// permute is one pass of the 18-bit Feistel network of a list.
func (s *Shuffle) permute(list uint64, x uint32) uint32 {
	l, r := x>>halfBits, x&halfMask
	var in, out [aes.BlockSize]byte
	binary.BigEndian.PutUint64(in[:8], list)
	for round := range rounds {
		in[8] = byte(round)
		binary.BigEndian.PutUint16(in[9:11], uint16(r))
		s.block.Encrypt(out[:], in[:])
		f := uint32(binary.BigEndian.Uint16(out[:2])) & halfMask
		l, r = r, l^f
	}
	return l<<halfBits | r
}
