package sheet

import (
	"fmt"
	"strings"
	"testing"
)

// TestSharedStrings checks the table in both index modes (offsets in memory, and on disk
// past sstMemIndex) and through cache collisions (i and i+sstCacheSize share a slot).
func TestSharedStrings(t *testing.T) {
	const n = sstCacheSize + 50
	var xml strings.Builder
	xml.WriteString(`<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`)
	want := make([]string, n)
	for i := range want {
		switch i % 4 {
		case 0:
			want[i] = fmt.Sprintf("plain %d", i)
			fmt.Fprintf(&xml, `<si><t>%s</t></si>`, want[i])
		case 1:
			want[i] = fmt.Sprintf("rich %d é", i)
			fmt.Fprintf(&xml, `<si><r><t>rich </t></r><r><rPr><b/></rPr><t xml:space="preserve">%d é</t></r></si>`, i)
		case 2:
			want[i] = "" // an empty item still takes an index
			xml.WriteString(`<si><t/></si>`)
		case 3:
			want[i] = fmt.Sprintf("名前 %d", i)
			fmt.Fprintf(&xml, `<si><t>名前 %d</t><rPh sb="0" eb="2"><t>なまえ</t></rPh></si>`, i)
		}
	}
	xml.WriteString(`</sst>`)
	for _, memIndex := range []int{4 << 20, 3, 0} {
		t.Run(fmt.Sprintf("memIndex=%d", memIndex), func(t *testing.T) {
			defer func(old int) { sstMemIndex = old }(sstMemIndex)
			sstMemIndex = memIndex
			dir := t.TempDir()
			s, err := readSharedStrings(strings.NewReader(xml.String()), dir)
			if err != nil {
				t.Fatal(err)
			}
			if s.Len() != n {
				t.Fatalf("Len = %d, want %d", s.Len(), n)
			}
			if memIndex < n && s.index == nil || memIndex >= n && s.index != nil {
				t.Errorf("on-disk index = %v with sstMemIndex %d", s.index != nil, memIndex)
			}
			// Twice, so that the second pass goes through the cache and its collisions.
			for pass := 0; pass < 2; pass++ {
				for _, i := range []int{0, sstCacheSize, 1, sstCacheSize + 1, 3, n - 1, 2, sstCacheSize + 3} {
					got, ok, err := s.Get(i)
					if err != nil || !ok || got != want[i] {
						t.Errorf("pass %d: Get(%d) = %q, %v, %v; want %q", pass, i, got, ok, err, want[i])
					}
				}
			}
			for _, i := range []int{-1, n} {
				if _, ok, err := s.Get(i); ok || err != nil {
					t.Errorf("Get(%d) ok=%v err=%v, want out of range", i, ok, err)
				}
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

func TestBstrDecode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a_x000D_b", "a\rb"},
		{"_x005F_x0041_", "_x0041_"},
		{"_x0041__x0042_", "AB"},
		{"_xZZZZ_", "_xZZZZ_"},
		{"_x00e9_t_x00E9_", "été"},
		{"trailing _x004", "trailing _x004"},
	}
	for _, tt := range tests {
		if got := string(bstrDecode([]byte(tt.in))); got != tt.want {
			t.Errorf("bstrDecode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
