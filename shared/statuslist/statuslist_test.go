package statuslist

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// specExample is the encodedList of the examples in the W3C Bitstring Status List
// specification: 131,072 clear entries.
const specExample = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"

func TestDecodeSpecExample(t *testing.T) {
	l, err := Decode(specExample)
	if err != nil {
		t.Fatalf("Decode(spec example): %v", err)
	}
	if got, want := l.Len(), Size; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
	for _, i := range []int{0, 1, 7, 8, 65535, Size - 1} {
		if got, err := l.Get(i); err != nil || got {
			t.Errorf("Get(%d) = %v, %v; want false", i, got, err)
		}
	}
}

func TestBitOrder(t *testing.T) {
	tests := []struct {
		index    int
		byteAt   int
		wantByte byte
	}{
		{0, 0, 0x80}, // index 0 is the leftmost bit of the first byte
		{1, 0, 0x40},
		{7, 0, 0x01},
		{8, 1, 0x80},
		{9, 1, 0x40},
		{Size - 1, Size/8 - 1, 0x01},
	}
	for _, tc := range tests {
		l, err := New(Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Set(tc.index, true); err != nil {
			t.Fatal(err)
		}
		if got := l.bits[tc.byteAt]; got != tc.wantByte {
			t.Errorf("Set(%d): byte %d = %#02x, want %#02x", tc.index, tc.byteAt, got, tc.wantByte)
		}
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		revoked []int
		size    int
	}{
		{"none", nil, Size},
		{"first and last", []int{0, Size - 1}, Size},
		{"scattered", []int{3, 17, 4096, 99999, 100000}, Size},
		{"larger list", []int{Size, 2*Size - 1}, 2 * Size},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := Encode(tc.revoked, tc.size)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !strings.HasPrefix(enc, "u") || strings.ContainsAny(enc, "+/=") {
				t.Errorf("encodedList %q is not multibase base64url without padding", enc[:20])
			}
			l, err := Decode(enc)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if l.Len() != tc.size {
				t.Errorf("Len = %d, want %d", l.Len(), tc.size)
			}
			want := map[int]bool{}
			for _, i := range tc.revoked {
				want[i] = true
			}
			count := 0
			for i := 0; i < l.Len(); i++ {
				got, _ := l.Get(i)
				if got != want[i] {
					t.Fatalf("entry %d = %v, want %v", i, got, want[i])
				}
				if got {
					count++
				}
			}
			if count != len(tc.revoked) {
				t.Errorf("%d entries set, want %d", count, len(tc.revoked))
			}
			r, err := l.Revoked(context.Background(), 17)
			if err != nil || r != want[17] {
				t.Errorf("Revoked(17) = %v, %v; want %v", r, err, want[17])
			}
		})
	}
}

func TestEncodeInvalid(t *testing.T) {
	tests := []struct {
		name    string
		revoked []int
		size    int
	}{
		{"too small", nil, Size - 8},
		{"negative index", []int{-1}, Size},
		{"index past end", []int{Size}, Size},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Encode(tc.revoked, tc.size); credbatch.ErrorKind(err) != credbatch.KindInvalid {
				t.Errorf("Encode err = %v, want kind invalid", err)
			}
		})
	}
}

func gz(t *testing.T, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return "u" + base64.RawURLEncoding.EncodeToString(buf.Bytes())
}

func TestDecodeInvalid(t *testing.T) {
	tests := []struct {
		name, encoded, want string
	}{
		{"no prefix", specExample[1:], "multibase"},
		{"base58 prefix", "z" + specExample[1:], "multibase"},
		{"padded base64", specExample + "==", "base64url"},
		{"not gzip", "u" + base64.RawURLEncoding.EncodeToString([]byte("hello world")), "GZIP"},
		{"truncated gzip", specExample[:40], "GZIP"},
		{"too short", gz(t, make([]byte, 100)), "fewer than the minimum"},
		{"gzip bomb", gz(t, make([]byte, MaxDecodedBytes+10)), "inflates beyond"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.encoded)
			if credbatch.ErrorKind(err) != credbatch.KindInvalid || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode err = %v, want kind invalid mentioning %q", err, tc.want)
			}
		})
	}
}

func TestCredential(t *testing.T) {
	enc, err := Encode([]int{42}, Size)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("x", 3600))
	doc := Credential("did:web:example.org", "https://example.org/status/1", enc, at)
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"@context":  []any{"https://www.w3.org/ns/credentials/v2"},
		"id":        "https://example.org/status/1",
		"type":      []any{"VerifiableCredential", "BitstringStatusListCredential"},
		"issuer":    "did:web:example.org",
		"validFrom": "2026-03-04T04:06:07Z",
		"credentialSubject": map[string]any{
			"id": "https://example.org/status/1#list", "type": "BitstringStatusList",
			"statusPurpose": "revocation", "encodedList": enc,
		},
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("credential =\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	l, err := FromDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := l.Get(42); !r {
		t.Error("entry 42 not revoked after FromDocument")
	}
	doc.CredentialSubject.StatusPurpose = "suspension"
	if _, err := FromDocument(doc); credbatch.ErrorKind(err) != credbatch.KindInvalid {
		t.Errorf("FromDocument(suspension) err = %v, want invalid", err)
	}
}

func BenchmarkEncode(b *testing.B) {
	revoked := make([]int, 1000)
	for i := range revoked {
		revoked[i] = i * 131
	}
	for b.Loop() {
		if _, err := Encode(revoked, Size); err != nil {
			b.Fatal(err)
		}
	}
}
