package validate

import (
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

func TestParseDate(t *testing.T) {
	const (
		auto = credbatch.DateOrderAuto
		dmy  = credbatch.DateOrderDMY
		mdy  = credbatch.DateOrderMDY
	)
	tests := []struct {
		in    string
		order credbatch.DateOrder
		kind  dateKind
		want  string              // date when kind is dateOK
		proof credbatch.DateOrder // order proved
	}{
		{"2025-03-04", auto, dateOK, "2025-03-04", ""},
		{"2025-03-04T10:00:00Z", auto, dateOK, "2025-03-04", ""},
		{"2025-03-04 10:00", auto, dateOK, "2025-03-04", ""},
		{"2025-03-04T23:30:00-05:00", auto, dateOK, "2025-03-04", ""},
		{"2025-02-29", auto, dateNotReal, "", ""},
		{"2024-02-29", auto, dateOK, "2024-02-29", ""},
		{"20250304", auto, dateOK, "2025-03-04", ""},
		{"2025/3/4", auto, dateOK, "2025-03-04", ""},
		{"2025.03.04", auto, dateOK, "2025-03-04", ""},
		{"13/03/2025", auto, dateOK, "2025-03-13", dmy},
		{"03/13/2025", auto, dateOK, "2025-03-13", mdy},
		{"13.03.2025", auto, dateOK, "2025-03-13", dmy},
		{"13-03-25", auto, dateOK, "2025-03-13", dmy},
		{"13/03/75", auto, dateOK, "1975-03-13", dmy},
		{"05/05/2025", auto, dateOK, "2025-05-05", ""},
		{"03/04/2025", auto, dateAmbiguous, "", ""},
		{"03/04/2025", dmy, dateOK, "2025-04-03", ""},
		{"03/04/2025", mdy, dateOK, "2025-03-04", ""},
		{"3/4/25", mdy, dateOK, "2025-03-04", ""},
		{"03/04/2025 10:30", dmy, dateOK, "2025-04-03", ""},
		{"03/13/2025", dmy, dateNotReal, "", ""},
		{"13/03/2025", mdy, dateNotReal, "", ""},
		{"31/02/2025", auto, dateNotReal, "", ""},
		{"13/13/2025", auto, dateNotReal, "", ""},
		{"00/05/2025", auto, dateNotReal, "", ""},
		{"4 March 2025", auto, dateOK, "2025-03-04", ""},
		{"March 4, 2025", auto, dateOK, "2025-03-04", ""},
		{"04-Mar-2025", auto, dateOK, "2025-03-04", ""},
		{"4-mar-25", auto, dateOK, "2025-03-04", ""},
		{"4th of March 2025", auto, dateOK, "2025-03-04", ""},
		{"Tuesday, 4 March 2025", auto, dateOK, "2025-03-04", ""},
		{"Sept 1 2025", auto, dateOK, "2025-09-01", ""},
		{"2025 March 4", auto, dateOK, "2025-03-04", ""},
		{"March 4, 2025 10:00 AM", auto, dateOK, "2025-03-04", ""},
		{"30 February 2025", auto, dateNotReal, "", ""},
		{"Marchember 4 2025", auto, dateNotDate, "", ""},
		{"next tuesday", auto, dateNotDate, "", ""},
		{"2 years", auto, dateNotDate, "", ""},
		{"03/04", auto, dateNotDate, "", ""},
		{"03/04/2025 foo:bar", auto, dateNotDate, "", ""},
		{"1/2/3/4", auto, dateNotDate, "", ""},
		// Excel serials, 1900 system.
		{"45420", auto, dateOK, "2024-05-08", ""},
		{"45420.5", auto, dateOK, "2024-05-08", ""},
		{"1", auto, dateOK, "1900-01-01", ""},
		{"59", auto, dateOK, "1900-02-28", ""},
		{"60", auto, dateNotReal, "", ""}, // Lotus' 1900-02-29
		{"61", auto, dateOK, "1900-03-01", ""},
		{"0", auto, dateNotReal, "", ""},
		{"2958465", auto, dateOK, "9999-12-31", ""},
		{"2958466", auto, dateNotReal, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in+"/"+string(tt.order), func(t *testing.T) {
			got := parseDate(tt.in, tt.order, false)
			if got.kind != tt.kind {
				t.Fatalf("parseDate(%q, %q) kind = %d, want %d", tt.in, tt.order, got.kind, tt.kind)
			}
			if tt.kind == dateOK && got.date.String() != tt.want {
				t.Errorf("parseDate(%q, %q) = %s, want %s", tt.in, tt.order, got.date, tt.want)
			}
			if got.proof != tt.proof {
				t.Errorf("parseDate(%q, %q) proof = %q, want %q", tt.in, tt.order, got.proof, tt.proof)
			}
		})
	}
}

func TestParseDate1904(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "1904-01-01"},
		{"1", "1904-01-02"},
		{"43958", "2024-05-08"}, // 45420 in the 1900 system
		{"43958.75", "2024-05-08"},
	}
	for _, tt := range tests {
		got := parseDate(tt.in, "", true)
		if got.kind != dateOK || got.date.String() != tt.want {
			t.Errorf("parseDate(%q, 1904) = %v %s, want %s", tt.in, got.kind, got.date, tt.want)
		}
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in, from, want string // want "" = not a duration
	}{
		{"2 years", "2025-03-04", "2027-03-04"},
		{"18 months", "2025-03-04", "2026-09-04"},
		{"90 days", "2025-03-04", "2025-06-02"},
		{"1 year 6 months", "2025-03-04", "2026-09-04"},
		{"1 year and 6 months", "2025-03-04", "2026-09-04"},
		{"1 Year, 6 Months", "2025-03-04", "2026-09-04"},
		{"2y", "2025-03-04", "2027-03-04"},
		{"6 mo", "2025-03-04", "2025-09-04"},
		{"1y6m", "2025-03-04", "2026-09-04"},
		{"3 weeks", "2025-03-04", "2025-03-25"},
		{"P2Y6M", "2025-03-04", "2027-09-04"},
		{"P90D", "2025-03-04", "2025-06-02"},
		{"P2W", "2025-03-04", "2025-03-18"},
		{"p1y", "2025-03-04", "2026-03-04"},
		{"P1Y2M10D", "2025-03-04", "2026-05-14"},
		{"1 month", "2024-01-31", "2024-02-29"}, // clamped to the end of February
		{"1 month", "2023-01-31", "2023-02-28"},
		{"1 year", "2024-02-29", "2025-02-28"},
		{"P1M", "2023-03-31", "2023-04-30"},
		{"P", "2025-03-04", ""},
		{"P2M1Y", "2025-03-04", ""},
		{"PT5H", "2025-03-04", ""},
		{"2", "2025-03-04", ""},
		{"1.5 years", "2025-03-04", ""},
		{"2 yeers", "2025-03-04", ""},
		{"years", "2025-03-04", ""},
		{"", "2025-03-04", ""},
		{"and", "2025-03-04", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, ok := parseDuration(tt.in)
			if ok != (tt.want != "") {
				t.Fatalf("parseDuration(%q) ok = %v, want %v", tt.in, ok, tt.want != "")
			}
			if !ok {
				return
			}
			from, _ := parseISODate(tt.from)
			got, ok := d.addTo(from)
			if !ok || got.String() != tt.want {
				t.Errorf("%s + %q = %s (%v), want %s", tt.from, tt.in, got, ok, tt.want)
			}
		})
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = not a number
	}{
		{"85", "85"},
		{"85.5", "85.5"},
		{"1,234.5", "1234.5"},
		{"1,234,567", "1234567"},
		{"-3", "-3"},
		{"+3", "3"},
		{"085", "85"},
		{".5", "0.5"},
		{"84.99999999999999", "85"},
		{"0.30000000000000004", "0.3"},
		{"1E-3", "0.001"},
		{"1.5e3", "1500"},
		{"-0", "0"},
		{"1,23", ""},
		{"12,34.5", ""},
		{"1234,567", ""},
		{",123", ""},
		{"85,5", ""},
		{"NaN", ""},
		{"Inf", ""},
		{"0x10", ""},
		{"1e", ""},
		{"abc", ""},
		{".", ""},
		{"-", ""},
		{"1.2.3", ""},
	}
	for _, tt := range tests {
		_, got, ok := parseNumber(tt.in)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("parseNumber(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestEmailProblem(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"jane@example.com", true},
		{"Jane.Doe+tag@Sub.Example.co.uk", true},
		{"o'brien@example.ie", true},
		{"a@xn--p1ai.xn--p1ai", true},
		{"jane@example", false},
		{"jane.example.com", false},
		{"jane@@example.com", false},
		{"ja ne@example.com", false},
		{"jane@exa mple.com", false},
		{"@example.com", false},
		{"jane@", false},
		{".jane@example.com", false},
		{"jane..doe@example.com", false},
		{"jane@example..com", false},
		{"jane@-example.com", false},
		{"jane@example.c", false},
		{"jane@127.0.0.1", false},
		{"josé@example.com", false},
		{"<jane@example.com>", false},
		{"jane@example.com.", false},
		{string(make([]byte, 65)) + "@example.com", false},
	}
	for _, tt := range tests {
		if got := emailProblem(tt.in); (got == "") != tt.ok {
			t.Errorf("emailProblem(%q) = %q, want ok=%v", tt.in, got, tt.ok)
		}
	}
}

func TestURLProblem(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"https://example.com/x?y=1", true},
		{"HTTP://example.com", true},
		{"ftp://example.com", false},
		{"example.com", false},
		{"https://", false},
		{"https://exa mple.com", false},
		{"javascript:alert(1)", false},
	}
	for _, tt := range tests {
		if got := urlProblem(tt.in); (got == "") != tt.ok {
			t.Errorf("urlProblem(%q) = %q, want ok=%v", tt.in, got, tt.ok)
		}
	}
}

func TestUnsafeRune(t *testing.T) {
	tests := []struct {
		in    string
		lines bool
		bad   bool
	}{
		{"José Ñúñez", false, false},
		{"a\tb", false, true},
		{"a\tb\nc", true, false},
		{"a\x00b", true, true},
		{"a\x7fb", true, true},
		{"a\u0085b", true, true},
		{"evil\u202Etxt", true, true},
		{"\u2067x", false, true},
	}
	for _, tt := range tests {
		if _, got := unsafeRune(tt.in, tt.lines); got != tt.bad {
			t.Errorf("unsafeRune(%q, %v) = %v, want %v", tt.in, tt.lines, got, tt.bad)
		}
	}
}

func TestCanonicalDecimal(t *testing.T) {
	for _, s := range []string{"85", "85.5", "-3", "0.5", "-0.25", "123456789012345"} {
		_, got, ok := parseNumber(s)
		if !ok || got != s {
			t.Errorf("parseNumber(%q) = %q, %v; want it unchanged", s, got, ok)
		}
	}
	tests := []struct{ in, want string }{{"0", "0"}, {"-0.0", "0"}, {"1.50", "1.5"}, {"00.5", "0.5"}, {"-085", "-85"}, {"5.", "5"}, {"1234567890123456", "1234567890123460"}}
	for _, tt := range tests {
		if _, got, ok := parseNumber(tt.in); !ok || got != tt.want {
			t.Errorf("parseNumber(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}
