package workbook

import "testing"

func TestSafe(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"hyperlink formula", `=HYPERLINK("http://evil.example","click")`, `'=HYPERLINK("http://evil.example","click")`},
		{"plus", "+1", "'+1"},
		{"at", "@SUM(A1:A2)", "'@SUM(A1:A2)"},
		{"tab", "\tx", "'\tx"},
		{"carriage return", "\rx", "'\rx"},
		{"dde", "-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
		{"negative integer kept", "-5", "-5"},
		{"negative decimal kept", "-12.50", "-12.50"},
		{"negative exponent prefixed", "-5e3", "'-5e3"},
		{"dash alone", "-", "'-"},
		{"dash then dot", "-.5", "'-.5"},
		{"trailing dot", "-5.", "'-5."},
		{"full-width equals", "＝1+1", "'＝1+1"},
		{"plain text", "Alice", "Alice"},
		{"accents", "Zoë Ørsted", "Zoë Ørsted"},
		{"inner equals", "a=b", "a=b"},
		{"apostrophe name", "O'Brien", "O'Brien"},
		{"empty", "", ""},
		{"already quoted", "'=1", "''=1"},
		{"apostrophe text", "'hello", "'hello"},
		{"newline first", "\nx", "\nx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Safe(tt.in); got != tt.want {
				t.Errorf("Safe(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := Restore(Safe(tt.in)); got != tt.in {
				t.Errorf("Restore(Safe(%q)) = %q, want the input back", tt.in, got)
			}
		})
	}
}

func TestRestore(t *testing.T) {
	tests := []struct{ in, want string }{
		{"'=1", "=1"},
		{"''=1", "'=1"},
		{"'hello", "'hello"},
		{"'-5", "'-5"}, // Safe never quotes a plain negative number
		{"'-5+1", "-5+1"},
		{"plain", "plain"},
	}
	for _, tt := range tests {
		if got := Restore(tt.in); got != tt.want {
			t.Errorf("Restore(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzSafe(f *testing.F) {
	for _, s := range []string{"=1", "'=1", "-5", "-", "''", "＋", "abc", "\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Safe(s)
		if Restore(got) != s {
			t.Fatalf("Restore(Safe(%q)) = %q", s, Restore(got))
		}
		if needsQuote(got) {
			t.Fatalf("Safe(%q) = %q still starts like a formula", s, got)
		}
	})
}
