package zipguard_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/zipguard"
)

type entry struct {
	name string
	data []byte
}

// archive writes the entries (deflated) and opens the result with archive/zip.
func archive(t *testing.T, es ...entry) *zip.Reader {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return zr
}

// noise is n bytes that do not compress.
func noise(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(b)
	return b
}

func TestCheck(t *testing.T) {
	small := []byte("evidence")
	zeros := make([]byte, 4<<20) // deflates about 1000 to 1
	lim := zipguard.Limits{MaxTotal: 8 << 20, MaxEntry: 5 << 20, MaxEntries: 4, SafeNames: true}
	tests := []struct {
		name    string
		entries []entry
		lim     zipguard.Limits
		key     func(string) string
		want    zipguard.Problem // "" = passes
		entry   string
	}{
		{name: "fine", entries: []entry{{"a.pdf", small}, {"photos/b.png", small}, {"photos/", nil}}, lim: lim},
		{name: "total over", entries: []entry{{"a", noise(4 << 20)}, {"b", noise(4 << 20)}}, lim: zipguard.Limits{MaxTotal: 6 << 20}, want: zipguard.TooLarge},
		{name: "entry over", entries: []entry{{"big.pdf", bytes.Repeat([]byte("ab"), 3<<20)}}, lim: lim, want: zipguard.TooLarge, entry: "big.pdf"},
		{name: "too many", entries: []entry{{"1", small}, {"2", small}, {"3", small}, {"4", small}, {"5", small}}, lim: lim, want: zipguard.TooManyEntries},
		{name: "bomb", entries: []entry{{"zeros.pdf", zeros}}, lim: zipguard.Limits{MaxTotal: 8 << 20, MaxRatio: 500}, want: zipguard.Bomb, entry: "zeros.pdf"},
		{name: "small runs are no bomb", entries: []entry{{"zeros.pdf", make([]byte, 1<<19)}}, lim: zipguard.Limits{MaxTotal: 8 << 20, MaxRatio: 10}},
		{name: "duplicate", entries: []entry{{"a.pdf", small}, {"a.pdf", small}}, lim: lim, want: zipguard.Duplicate, entry: "a.pdf"},
		{name: "duplicate by key", entries: []entry{{"A.pdf", small}, {"a.PDF", small}}, lim: lim, key: strings.ToLower, want: zipguard.Duplicate, entry: "a.PDF"},
		{name: "dot dot", entries: []entry{{"../../etc/cron.d/x", small}}, lim: lim, want: zipguard.UnsafeName, entry: "../../etc/cron.d/x"},
		{name: "dot dot inside", entries: []entry{{"photos/../../x.png", small}}, lim: lim, want: zipguard.UnsafeName, entry: "photos/../../x.png"},
		{name: "backslash dot dot", entries: []entry{{`..\..\x.png`, small}}, lim: lim, want: zipguard.UnsafeName, entry: `..\..\x.png`},
		{name: "absolute", entries: []entry{{"/etc/passwd", small}}, lim: lim, want: zipguard.UnsafeName, entry: "/etc/passwd"},
		{name: "drive letter", entries: []entry{{`C:\x.png`, small}}, lim: lim, want: zipguard.UnsafeName, entry: `C:\x.png`},
		{name: "control character", entries: []entry{{"a\x00.png", small}}, lim: lim, want: zipguard.UnsafeName, entry: "a\x00.png"},
		{name: "names unchecked when not asked", entries: []entry{{"../x", small}}, lim: zipguard.Limits{MaxTotal: 1 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			zr := archive(t, tt.entries...)
			var visited int
			err := zipguard.Check(zr.File, tt.lim, tt.key, func(*zip.File, string) error { visited++; return nil })
			var ze *zipguard.Error
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check: %v, want no problem", err)
			case tt.want == "" && visited != len(tt.entries):
				t.Fatalf("visited %d entries, want %d", visited, len(tt.entries))
			case tt.want != "" && !errors.As(err, &ze):
				t.Fatalf("Check: %v, want %s", err, tt.want)
			case tt.want != "" && (ze.Problem != tt.want || ze.Entry != tt.entry):
				t.Fatalf("Check: %s %q (%v), want %s %q", ze.Problem, ze.Entry, err, tt.want, tt.entry)
			}
		})
	}
}

// TestVisitError: visit's error ends the walk and is returned as it is.
func TestVisitError(t *testing.T) {
	stop := errors.New("stop")
	zr := archive(t, entry{"a", nil}, entry{"b", nil})
	var n int
	err := zipguard.Check(zr.File, zipguard.Limits{MaxTotal: 1 << 20}, nil, func(*zip.File, string) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err %v after %d visits, want stop after 1", err, n)
	}
}

// TestDeclaredSizeBindsTheReader: an entry whose directory record understates its size
// cannot unpack to more than it declares (archive/zip fails the read), which is why
// checking declared sizes is enough.
func TestDeclaredSizeBindsTheReader(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "liar.pdf", Method: zip.Store, CRC32: 0, CompressedSize64: 1000, UncompressedSize64: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if err := zipguard.Check(zr.File, zipguard.Limits{MaxTotal: 100}, nil, nil); err != nil {
		t.Fatalf("Check: %v (the directory declares 10 bytes)", err)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	n, err := bytes.NewBuffer(nil).ReadFrom(rc)
	if err == nil || n > 10 {
		t.Fatalf("read %d bytes, err %v; want at most the declared 10 and an error", n, err)
	}
}
