// Package statuslist encodes and decodes W3C Bitstring Status Lists (revocation lists).
package statuslist

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Size is the number of entries in a list: 131,072 bits (16 KiB), the minimum the
// Bitstring Status List specification requires for group privacy. credbatch publishes one
// list, so it also bounds the number of credentials a deployment can issue.
const Size = 131072

// MaxDecodedBytes bounds what Decode inflates (a gzip bomb guard): 16 MiB, 134 million entries.
const MaxDecodedBytes = 16 << 20

// List is a decoded bitstring: index 0 is the most significant (leftmost) bit of the first
// byte. A set bit means revoked.
type List struct {
	bits []byte
}

// New returns a list of size entries, all clear; size is rounded up to whole bytes.
// KindInvalid when size is below Size.
func New(size int) (*List, error) {
	if size < Size {
		return nil, credbatch.Errorf(credbatch.KindInvalid, "status list size %d is below the minimum %d", size, Size)
	}
	return &List{bits: make([]byte, (size+7)/8)}, nil
}

// Len returns the number of entries.
func (l *List) Len() int { return len(l.bits) * 8 }

// Set sets (revokes) or clears the entry at index; KindInvalid when it is out of range.
func (l *List) Set(index int, revoked bool) error {
	if index < 0 || index >= l.Len() {
		return credbatch.Errorf(credbatch.KindInvalid, "status list index %d is outside 0..%d", index, l.Len()-1)
	}
	mask := byte(0x80) >> (index % 8)
	if revoked {
		l.bits[index/8] |= mask
	} else {
		l.bits[index/8] &^= mask
	}
	return nil
}

// Get reports whether the entry at index is set; KindInvalid when it is out of range.
func (l *List) Get(index int) (bool, error) {
	if index < 0 || index >= l.Len() {
		return false, credbatch.Errorf(credbatch.KindInvalid, "status list index %d is outside 0..%d", index, l.Len()-1)
	}
	return l.bits[index/8]&(byte(0x80)>>(index%8)) != 0, nil
}

// Revoked implements credential.StatusChecker over a decoded list.
func (l *List) Revoked(_ context.Context, index int) (bool, error) { return l.Get(index) }

// Encode returns the encodedList value: the multibase prefix "u" followed by the base64url
// (no padding) of the GZIP-compressed bitstring.
func (l *List) Encode() (string, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return "", fmt.Errorf("encode status list: %w", err)
	}
	if _, err := zw.Write(l.bits); err != nil {
		return "", fmt.Errorf("encode status list: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("encode status list: %w", err)
	}
	return "u" + base64.RawURLEncoding.EncodeToString(buf.Bytes()), nil
}

// Encode returns the encodedList of a list of size entries with the revoked indexes set.
// KindInvalid when size is below Size or an index is out of range.
func Encode(revoked []int, size int) (string, error) {
	l, err := New(size)
	if err != nil {
		return "", err
	}
	for _, i := range revoked {
		if err := l.Set(i, true); err != nil {
			return "", err
		}
	}
	return l.Encode()
}

// Decode reads an encodedList. KindInvalid when it lacks the "u" multibase prefix, is not
// base64url or GZIP, inflates beyond MaxDecodedBytes, or is shorter than Size entries.
func Decode(encoded string) (*List, error) {
	invalid := func(msg string) error {
		return credbatch.E(credbatch.KindInvalid, "invalid_status_list", "status list: "+msg)
	}
	rest, ok := strings.CutPrefix(encoded, "u")
	if !ok {
		return nil, invalid(`encodedList must start with the multibase prefix "u" (base64url)`)
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return nil, invalid("encodedList is not base64url without padding")
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, invalid("encodedList is not GZIP data")
	}
	bits, err := io.ReadAll(io.LimitReader(zr, MaxDecodedBytes+1))
	if err != nil {
		return nil, invalid("encodedList is corrupt GZIP data")
	}
	if len(bits) > MaxDecodedBytes {
		return nil, invalid(fmt.Sprintf("the list inflates beyond %d bytes", MaxDecodedBytes))
	}
	if len(bits)*8 < Size {
		return nil, invalid(fmt.Sprintf("the list has %d entries, fewer than the minimum %d", len(bits)*8, Size))
	}
	return &List{bits: bits}, nil
}

// Contexts are the JSON-LD contexts of a status list credential (the VC 2.0 context defines
// the Bitstring Status List terms).
var Contexts = []string{"https://www.w3.org/ns/credentials/v2"}

// Document is a BitstringStatusListCredential; credbatch signs it like a credential
// (compact JWS, typ vc+jwt) and serves it at its id.
type Document struct {
	Context           []string `json:"@context"`
	ID                string   `json:"id"`
	Type              []string `json:"type"`
	Issuer            string   `json:"issuer"`
	ValidFrom         string   `json:"validFrom"`
	ValidUntil        string   `json:"validUntil,omitempty"`
	CredentialSubject Subject  `json:"credentialSubject"`
}

// Subject is the credentialSubject of a status list credential.
type Subject struct {
	ID            string `json:"id"`
	Type          string `json:"type"`
	StatusPurpose string `json:"statusPurpose"`
	EncodedList   string `json:"encodedList"`
}

// Purpose is the status purpose credbatch uses.
const Purpose = "revocation"

// Credential returns the BitstringStatusListCredential for an issuer id (URL or DID), the
// list's URL (its id, the statusListCredential of every entry), the encodedList and the time
// it was generated (validFrom). It has no validUntil: verifiers fetch the current list.
func Credential(issuer, listURL, encodedList string, validFrom time.Time) Document {
	return Document{
		Context:   Contexts,
		ID:        listURL,
		Type:      []string{"VerifiableCredential", "BitstringStatusListCredential"},
		Issuer:    issuer,
		ValidFrom: validFrom.UTC().Truncate(time.Second).Format(time.RFC3339),
		CredentialSubject: Subject{
			ID:            listURL + "#list",
			Type:          "BitstringStatusList",
			StatusPurpose: Purpose,
			EncodedList:   encodedList,
		},
	}
}

// FromDocument decodes the list of a status list credential; KindInvalid when it is not a
// revocation BitstringStatusList.
func FromDocument(d Document) (*List, error) {
	if d.CredentialSubject.Type != "BitstringStatusList" || d.CredentialSubject.StatusPurpose != Purpose {
		return nil, credbatch.E(credbatch.KindInvalid, "invalid_status_list",
			fmt.Sprintf("status list %s: want a %s BitstringStatusList, got %q/%q", d.ID, Purpose, d.CredentialSubject.Type, d.CredentialSubject.StatusPurpose))
	}
	return Decode(d.CredentialSubject.EncodedList)
}
