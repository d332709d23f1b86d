// Package zipguard checks an untrusted zip archive's directory before anything is unpacked: size, entry-count and compression-ratio limits (zip bombs), duplicate names and names that escape the folder.
//
// Both readers of uploaded zips use it: shared/sheet for .xlsx workbooks and shared/ingest
// for the evidence zip that comes with a spreadsheet. The declared sizes it checks bind the
// reader too: archive/zip fails a read (zip.ErrFormat) that passes an entry's declared
// uncompressed size, so an entry that lies about its size cannot unpack to more.
package zipguard

import (
	"archive/zip"
	"fmt"
	"path"
	"strings"
	"unicode"
)

// Limits bound an archive. A zero field takes the default said.
type Limits struct {
	MaxTotal   uint64 // uncompressed bytes of all entries together (required)
	MaxEntry   uint64 // uncompressed bytes of one entry; 0 = MaxTotal
	MaxEntries int    // entries (files and folders); 0 = no limit
	// An entry of more than RatioFloor bytes (0 = 1 MiB) compressed more than MaxRatio to one
	// (0 = 1000; deflate reaches about 1030 only on runs of one byte) is a zip bomb.
	MaxRatio   uint64
	RatioFloor uint64
	// SafeNames refuses an entry whose name escapes the folder it is unpacked in (an absolute
	// path, a drive letter, a ".." element) or holds control characters. Readers that never
	// unpack to a file system (a workbook's parts) may leave it off.
	SafeNames bool
}

// Problem is what is wrong with an archive.
type Problem string

// Problems.
const (
	TooLarge       Problem = "too_large"        // the entries unpack to more than MaxTotal, or one entry to more than MaxEntry
	TooManyEntries Problem = "too_many_entries" // more than MaxEntries entries
	Bomb           Problem = "bomb"             // an entry is compressed suspiciously well
	Duplicate      Problem = "duplicate"        // two entries have one name (as the key function compares them)
	UnsafeName     Problem = "unsafe_name"      // an entry's name escapes the folder (SafeNames)
)

// Error is the first problem Check found; callers turn it into their own finding.
type Error struct {
	Problem Problem
	Entry   string // the entry's name as stored ("" for TooManyEntries and a total over MaxTotal)
	Limit   uint64 // the limit passed (TooLarge, TooManyEntries, Bomb: the ratio)
}

func (e *Error) Error() string {
	switch e.Problem {
	case TooLarge:
		if e.Entry != "" {
			return fmt.Sprintf("zip entry %q unpacks to more than %d bytes", e.Entry, e.Limit)
		}
		return fmt.Sprintf("zip unpacks to more than %d bytes", e.Limit)
	case TooManyEntries:
		return fmt.Sprintf("zip has more than %d entries", e.Limit)
	case Bomb:
		return fmt.Sprintf("zip entry %q is compressed more than %d to 1", e.Entry, e.Limit)
	case Duplicate:
		return fmt.Sprintf("zip has two entries named %q", e.Entry)
	}
	return fmt.Sprintf("zip entry name %q escapes its folder", e.Entry)
}

// Check walks the archive's directory once, unpacking nothing. key gives the name two
// entries are compared by (nil: the name as stored); visit, when not nil, is called with
// each entry that passed and its key, and its error ends the walk. It returns the first
// *Error found, or visit's error.
func Check(files []*zip.File, lim Limits, key func(name string) string, visit func(f *zip.File, key string) error) error {
	maxEntry := lim.MaxEntry
	if maxEntry == 0 {
		maxEntry = lim.MaxTotal
	}
	ratio, floor := lim.MaxRatio, lim.RatioFloor
	if ratio == 0 {
		ratio = 1000
	}
	if floor == 0 {
		floor = 1 << 20
	}
	if lim.MaxEntries > 0 && len(files) > lim.MaxEntries {
		return &Error{Problem: TooManyEntries, Limit: uint64(lim.MaxEntries)}
	}
	seen := make(map[string]bool, len(files))
	var total uint64
	for _, zf := range files {
		if lim.SafeNames && !SafeName(zf.Name) {
			return &Error{Problem: UnsafeName, Entry: zf.Name}
		}
		k := zf.Name
		if key != nil {
			k = key(zf.Name)
		}
		// Two entries of one name are read differently by different readers (some keep the
		// first, some the last): which data is meant cannot be known.
		if seen[k] {
			return &Error{Problem: Duplicate, Entry: zf.Name}
		}
		seen[k] = true
		size := zf.UncompressedSize64
		total += size
		if size > maxEntry {
			return &Error{Problem: TooLarge, Entry: zf.Name, Limit: maxEntry}
		}
		if total > lim.MaxTotal {
			return &Error{Problem: TooLarge, Limit: lim.MaxTotal}
		}
		if zf.CompressedSize64 > 0 && size > floor && size/zf.CompressedSize64 > ratio {
			return &Error{Problem: Bomb, Entry: zf.Name, Limit: ratio}
		}
		if visit != nil {
			if err := visit(zf, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// SafeName reports whether a zip entry's name stays inside the folder it would be unpacked
// in: relative (no leading slash or backslash, no drive letter), no ".." element (with
// either separator), no control characters, not empty.
func SafeName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return false
		}
	}
	n := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(n, "/") || (len(n) >= 2 && n[1] == ':') {
		return false
	}
	for _, el := range strings.Split(n, "/") {
		if el == ".." {
			return false
		}
	}
	return !strings.HasPrefix(path.Clean(n), "../")
}
