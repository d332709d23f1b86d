// Package blobtest is the contract suite that every credbatch.Blob adapter passes.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Run runs the contract subtests; newBlob returns an empty Blob for each subtest.
func Run(t *testing.T, newBlob func(t *testing.T) credbatch.Blob) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, b credbatch.Blob)
	}{
		{"PutGetHead", testPutGetHead},
		{"NotFound", testNotFound},
		{"Keys", testKeys},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"EmptyAndLarge", testSizes},
		{"InvalidKeys", testInvalidKeys},
		{"Presign", testPresign},
		{"ConcurrentPuts", testConcurrentPuts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newBlob(t))
		})
	}
}

// MustPut stores data at key and fails the test on error.
func MustPut(t *testing.T, b credbatch.Blob, key string, data []byte, contentType string, md map[string]string) credbatch.ObjectInfo {
	t.Helper()
	info, err := b.Put(context.Background(), key, bytes.NewReader(data), contentType, md)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return info
}

// MustGet reads the object at key and fails the test on error.
func MustGet(t *testing.T, b credbatch.Blob, key string) ([]byte, credbatch.ObjectInfo) {
	t.Helper()
	rc, info, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return data, info
}

func checkInfo(t *testing.T, what string, got credbatch.ObjectInfo, key string, size int64, contentType string, md map[string]string) {
	t.Helper()
	if got.Key != key {
		t.Errorf("%s: Key = %q, want %q", what, got.Key, key)
	}
	if got.Size != size {
		t.Errorf("%s: Size = %d, want %d", what, got.Size, size)
	}
	if got.ContentType != contentType {
		t.Errorf("%s: ContentType = %q, want %q", what, got.ContentType, contentType)
	}
	if got.ETag == "" || strings.ContainsAny(got.ETag, `"`) {
		t.Errorf("%s: ETag = %q, want a non-empty value without quotes", what, got.ETag)
	}
	if len(got.Metadata) != len(md) {
		t.Errorf("%s: Metadata = %v, want %v", what, got.Metadata, md)
	}
	for k, v := range md {
		if got.Metadata[k] != v {
			t.Errorf("%s: Metadata[%q] = %q, want %q (all: %v)", what, k, got.Metadata[k], v, got.Metadata)
		}
	}
}

func testPutGetHead(t *testing.T, b credbatch.Blob) {
	ctx := context.Background()
	key := "uploads/def-1/people.csv"
	data := []byte("Email,First Name\nada@example.com,Ada\n")
	put := MustPut(t, b, key, data, "text/csv", map[string]string{"Uploader": "ada@example.com", "batch-label": "Spring 2026"})
	want := map[string]string{"uploader": "ada@example.com", "batch-label": "Spring 2026"}
	if put.ETag == "" || strings.Contains(put.ETag, `"`) {
		t.Errorf("Put: ETag = %q, want a non-empty value without quotes", put.ETag)
	}

	got, info := MustGet(t, b, key)
	if !bytes.Equal(got, data) {
		t.Errorf("Get: content = %q, want %q", got, data)
	}
	checkInfo(t, "Get", info, key, int64(len(data)), "text/csv", want)

	head, err := b.Head(ctx, key)
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	checkInfo(t, "Head", head, key, int64(len(data)), "text/csv", want)
	if head.ETag != put.ETag || info.ETag != put.ETag {
		t.Errorf("ETags differ: put %q, get %q, head %q", put.ETag, info.ETag, head.ETag)
	}
	if head.VersionID != put.VersionID {
		t.Errorf("VersionID: head %q, put %q", head.VersionID, put.VersionID)
	}
	if head.LastModified.IsZero() {
		t.Errorf("Head: LastModified is zero")
	}
}

func testNotFound(t *testing.T, b credbatch.Blob) {
	ctx := context.Background()
	MustPut(t, b, "reports/present.txt", []byte("x"), "text/plain", nil)
	for _, key := range []string{"reports/missing.txt", "reports/present.txt/child", "nothing/here"} {
		if _, err := b.Head(ctx, key); !credbatch.IsKind(err, credbatch.KindNotFound) {
			t.Errorf("Head(%q) error = %v (kind %s), want kind %s", key, err, credbatch.ErrorKind(err), credbatch.KindNotFound)
		}
		rc, _, err := b.Get(ctx, key)
		if rc != nil {
			rc.Close()
		}
		if !credbatch.IsKind(err, credbatch.KindNotFound) {
			t.Errorf("Get(%q) error = %v (kind %s), want kind %s", key, err, credbatch.ErrorKind(err), credbatch.KindNotFound)
		}
	}
}

func testKeys(t *testing.T, b credbatch.Blob) {
	keys := []string{
		"uploads/with space/file name (1).xlsx",
		"uploads/déf-é/Résumé – 2026 ✓.csv",
		"uploads/日本語/証明書.txt",
		"uploads/plus+and&amp=%41.txt",
		"top.txt",
	}
	for i, key := range keys {
		data := []byte{byte('a' + i), '\n'}
		MustPut(t, b, key, data, "application/octet-stream", map[string]string{"n": string(rune('0' + i))})
	}
	for i, key := range keys {
		got, info := MustGet(t, b, key)
		if want := []byte{byte('a' + i), '\n'}; !bytes.Equal(got, want) {
			t.Errorf("Get(%q) = %q, want %q", key, got, want)
		}
		checkInfo(t, "Get "+key, info, key, 2, "application/octet-stream", map[string]string{"n": string(rune('0' + i))})
	}
}

func testOverwrite(t *testing.T, b credbatch.Blob) {
	ctx := context.Background()
	key := "reports/b1-errors.xlsx"
	first := MustPut(t, b, key, []byte("first version"), "text/plain", map[string]string{"old": "1", "keep": "a"})
	second := MustPut(t, b, key, []byte("second, longer version"), "application/json", map[string]string{"keep": "b"})
	if first.ETag == second.ETag {
		t.Errorf("ETag unchanged after overwrite with new content: %q", first.ETag)
	}
	got, info := MustGet(t, b, key)
	if string(got) != "second, longer version" {
		t.Errorf("Get after overwrite = %q", got)
	}
	checkInfo(t, "Get after overwrite", info, key, int64(len(got)), "application/json", map[string]string{"keep": "b"})
	head, err := b.Head(ctx, key)
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if head.ETag != second.ETag {
		t.Errorf("Head ETag = %q, want %q", head.ETag, second.ETag)
	}
	third := MustPut(t, b, key, []byte("second, longer version"), "application/json", nil)
	if third.ETag != second.ETag {
		t.Errorf("same content, different ETag: %q vs %q", third.ETag, second.ETag)
	}
}

func testDelete(t *testing.T, b credbatch.Blob) {
	ctx := context.Background()
	key := "evidence/b1/2-0123.pdf"
	MustPut(t, b, key, []byte("first"), "application/pdf", nil)
	MustPut(t, b, key, []byte("second"), "application/pdf", nil)
	other := MustPut(t, b, key+"x", []byte("neighbour"), "application/pdf", nil)
	if err := b.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, _, err := b.Get(ctx, key); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Errorf("Get after Delete: %v, want not found", err)
	}
	if _, err := b.Head(ctx, key); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Errorf("Head after Delete: %v, want not found", err)
	}
	if err := b.Delete(ctx, key); err != nil {
		t.Errorf("Delete of a deleted object: %v", err)
	}
	if got, _ := MustGet(t, b, other.Key); string(got) != "neighbour" {
		t.Errorf("a key sharing the prefix was touched: %q", got)
	}
	if err := b.Delete(ctx, "../escape"); !credbatch.IsKind(err, credbatch.KindInvalid) {
		t.Errorf("Delete of an invalid key: %v, want invalid", err)
	}
}

func testSizes(t *testing.T, b credbatch.Blob) {
	ctx := context.Background()
	MustPut(t, b, "empty.bin", nil, "application/octet-stream", nil)
	got, info := MustGet(t, b, "empty.bin")
	if len(got) != 0 || info.Size != 0 {
		t.Errorf("empty object: %d bytes read, Size %d; want 0, 0", len(got), info.Size)
	}

	big := make([]byte, 3<<20+17)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	// A reader that is not an io.Seeker, as an HTTP body or a pipe is.
	r := io.MultiReader(bytes.NewReader(big[:1<<20]), bytes.NewReader(big[1<<20:]))
	put, err := b.Put(ctx, "reports/big.bin", r, "application/octet-stream", nil)
	if err != nil {
		t.Fatalf("Put big from a stream: %v", err)
	}
	if put.Size != int64(len(big)) {
		t.Errorf("Put big: Size = %d, want %d", put.Size, len(big))
	}
	got, info = MustGet(t, b, "reports/big.bin")
	if !bytes.Equal(got, big) {
		t.Errorf("big object differs after round trip (%d bytes read, want %d)", len(got), len(big))
	}
	if info.Size != int64(len(big)) {
		t.Errorf("Get big: Size = %d, want %d", info.Size, len(big))
	}
}

func testInvalidKeys(t *testing.T, b credbatch.Blob) {
	ctx := context.Background()
	for _, key := range []string{"", "/etc/passwd", "../escape.txt", "uploads/../../x", "a//b", "uploads/", "a/./b", "bad\x00nul", "line\nbreak"} {
		_, err := b.Put(ctx, key, strings.NewReader("x"), "text/plain", nil)
		if !credbatch.IsKind(err, credbatch.KindInvalid) {
			t.Errorf("Put(%q) error = %v (kind %s), want kind %s", key, err, credbatch.ErrorKind(err), credbatch.KindInvalid)
		}
		if _, err := b.Head(ctx, key); !credbatch.IsKind(err, credbatch.KindInvalid) {
			t.Errorf("Head(%q) error = %v, want kind %s", key, err, credbatch.KindInvalid)
		}
		if _, err := b.PresignGet(ctx, key, time.Minute); !credbatch.IsKind(err, credbatch.KindInvalid) {
			t.Errorf("PresignGet(%q) error = %v, want kind %s", key, err, credbatch.KindInvalid)
		}
	}
}

func testPresign(t *testing.T, b credbatch.Blob) {
	ctx := context.Background()
	key := "reports/batch 1/errors é.xlsx"
	MustPut(t, b, key, []byte("x"), "text/plain", nil)
	check := func(what, raw string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%s returned %q, not a URL: %v", what, raw, err)
		}
		if u.Scheme == "" || u.Path == "" {
			t.Errorf("%s returned %q, want an absolute URL with a path", what, raw)
		}
		if !strings.Contains(u.Path, "errors é.xlsx") {
			t.Errorf("%s URL path %q does not name the key %q", what, u.Path, key)
		}
	}
	raw, err := b.PresignGet(ctx, key, 15*time.Minute)
	check("PresignGet", raw, err)
	raw, err = b.PresignPut(ctx, "uploads/new file.csv", "text/csv", time.Hour)
	if err == nil && !strings.Contains(raw, "new%20file.csv") && !strings.Contains(raw, "new file.csv") {
		t.Errorf("PresignPut URL %q does not name the key", raw)
	}
	if err != nil {
		t.Fatalf("PresignPut: %v", err)
	}
	if _, err := b.PresignGet(ctx, key, 0); !credbatch.IsKind(err, credbatch.KindInvalid) {
		t.Errorf("PresignGet with ttl 0: error = %v, want kind %s", err, credbatch.KindInvalid)
	}
}

// Concurrent writers of one key never leave a torn object: the content is one writer's whole
// payload, and Head reports the ETag that writer's Put returned.
func testConcurrentPuts(t *testing.T, b credbatch.Blob) {
	ctx := context.Background()
	const writers = 6
	key := "reports/concurrent.txt"
	etags := make([]string, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := strings.Repeat(string(rune('a'+i)), 64<<10+i)
			info, err := b.Put(ctx, key, strings.NewReader(payload), "text/plain", nil)
			if err != nil {
				t.Errorf("writer %d: Put: %v", i, err)
				return
			}
			etags[i] = info.ETag
		}()
	}
	wg.Wait()
	got, _ := MustGet(t, b, key)
	if len(got) < 64<<10 {
		t.Fatalf("content is %d bytes, want one writer's payload", len(got))
	}
	i := int(got[0] - 'a')
	if i < 0 || i >= writers || string(got) != strings.Repeat(string(rune('a'+i)), 64<<10+i) {
		t.Fatalf("content (%d bytes, starting %q) is not one writer's whole payload", len(got), got[:8])
	}
	head, err := b.Head(ctx, key)
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if head.ETag != etags[i] {
		t.Errorf("Head ETag = %q, want %q (the ETag of the writer whose content won)", head.ETag, etags[i])
	}
}
