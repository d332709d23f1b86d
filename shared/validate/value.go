package validate

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on values.
const (
	MaxNameLength  = 200 // first and last names, in characters
	MaxEmailLength = 254 // a whole address, in bytes (RFC 5321 path limit)
	maxLocalLength = 64
)

// emailProblem returns "" when s (trimmed, non-empty) is a practical email address, else
// what is wrong with it. The check is deliberately practical, not RFC 5322: one @, a local
// part of at most 64 ASCII characters without spaces, quotes or leading/trailing/double
// dots, and a domain of dot-separated labels (letters, digits, hyphens) whose last label has
// at least two characters and is not all digits. Non-ASCII addresses are refused because SES
// does not send to SMTPUTF8 mailboxes; internationalised domains must be written in punycode.
func emailProblem(s string) string {
	if len(s) > MaxEmailLength {
		return "is longer than 254 characters"
	}
	at := strings.IndexByte(s, '@')
	if at < 0 {
		return "has no @"
	}
	if strings.IndexByte(s[at+1:], '@') >= 0 {
		return "has more than one @"
	}
	local, domain := s[:at], s[at+1:]
	if local == "" {
		return "has nothing before the @"
	}
	if len(local) > maxLocalLength {
		return "has more than 64 characters before the @"
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "has a misplaced dot before the @"
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte(".!#$%&'*+/=?^_`{|}~-", c) >= 0:
		case c == ' ' || c == '\t':
			return "contains a space"
		case c >= 0x80:
			return "contains non-ASCII characters"
		default:
			return "contains " + strconv.QuoteRune(rune(c))
		}
	}
	if domain == "" {
		return "has nothing after the @"
	}
	if strings.IndexByte(domain, '.') < 0 {
		return "has no dot in the domain after the @"
	}
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" {
			return "has a misplaced dot in the domain"
		}
		if len(label) > 63 {
			return "has a domain part longer than 63 characters"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "has a domain part that starts or ends with a hyphen"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			case c == ' ' || c == '\t':
				return "contains a space"
			case c >= 0x80:
				return "contains non-ASCII characters (write the domain in punycode, xn--…)"
			default:
				return "contains " + strconv.QuoteRune(rune(c)) + " in the domain"
			}
		}
	}
	tld := domain[strings.LastIndexByte(domain, '.')+1:]
	if len(tld) < 2 || isDigits(tld) {
		return "does not end with a valid top-level domain (such as .com or .org)"
	}
	return ""
}

// lowerASCII lower-cases s, allocating only when s has an upper-case letter.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// parseNumber reads "85", "-3", "85.5", "1,234.5" (commas group thousands), ".5", "1e-3" and
// Excel's numeric cells. It returns the value and its normal text: float noise from binary
// storage is rounded away at 15 significant digits ("84.99999999999999" → "85").
func parseNumber(s string) (float64, string, bool) {
	if s == "" || len(s) > 64 {
		return 0, "", false
	}
	// Fast path: a plain non-negative integer without leading zeros.
	if len(s) <= 15 && isDigits(s) && (s[0] != '0' || len(s) == 1) {
		n := 0
		for i := 0; i < len(s); i++ {
			n = n*10 + int(s[i]-'0')
		}
		return float64(n), s, true
	}
	if canonicalDecimal(s) { // 85.5: already in normal form; only parse it
		v, err := strconv.ParseFloat(s, 64)
		return v, s, err == nil
	}
	i := 0
	if s[0] == '+' || s[0] == '-' {
		i++
	}
	digits, commas, group := 0, false, -1 // group: digits since the last comma
	for ; i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == ','); i++ {
		if s[i] == ',' {
			if digits == 0 || (commas && group != 3) || (!commas && digits > 3) {
				return 0, "", false
			}
			commas, group = true, 0
			continue
		}
		digits++
		group++
	}
	if commas && group != 3 {
		return 0, "", false
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return 0, "", false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) {
			return 0, "", false
		}
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
	}
	if i != len(s) {
		return 0, "", false
	}
	clean := s
	if commas {
		clean = strings.ReplaceAll(s, ",", "")
	}
	v, err := strconv.ParseFloat(clean, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, "", false
	}
	v, _ = strconv.ParseFloat(strconv.FormatFloat(v, 'g', 15, 64), 64)
	if v == 0 {
		v = 0 // no negative zero
	}
	return v, formatNumber(v), true
}

// canonicalDecimal reports whether s is a decimal that parseNumber would return unchanged:
// an optional '-', digits without a leading zero (or a single 0), an optional fraction not
// ending in 0, at most 15 digits in all and not zero.
func canonicalDecimal(s string) bool {
	i := 0
	if s[0] == '-' {
		i = 1
	}
	start, digits, dot, nonzero := i, 0, -1, false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
			nonzero = nonzero || c != '0'
		case c == '.' && dot < 0:
			dot = i
		default:
			return false
		}
	}
	if digits == 0 || digits > 15 || !nonzero || dot == start || dot == len(s)-1 {
		return false
	}
	if s[start] == '0' && !(dot == start+1) {
		return false
	}
	return dot < 0 || s[len(s)-1] != '0'
}

func formatNumber(v float64) string {
	if math.Abs(v) >= 1e21 || (v != 0 && math.Abs(v) < 1e-6) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// urlProblem returns "" when s is an absolute http or https URL with a host.
func urlProblem(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return "contains a space"
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return "is not a valid web address"
	}
	if !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https") {
		return "does not start with http:// or https://"
	}
	if u.Host == "" || u.Hostname() == "" {
		return "has no host name after http(s)://"
	}
	return ""
}

// unsafeRune returns the first character of s that must not appear in a credential value:
// C0 control characters (tab, CR and LF are allowed only when lines is true), DEL, C1
// control characters and the Unicode bidirectional overrides and isolates, which can make a
// name display differently from what it is.
func unsafeRune(s string, lines bool) (rune, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			continue
		}
		if c < 0x20 || c == 0x7f {
			if lines && (c == '\t' || c == '\n' || c == '\r') {
				continue
			}
			return rune(c), true
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return r, true
		}
		i += size - 1
	}
	return 0, false
}

// tooLong reports whether s has more than max characters.
func tooLong(s string, max int) bool {
	return len(s) > max && utf8.RuneCountInString(s) > max
}

// quote formats a cell value for a message, shortened to 60 characters.
func quote(s string) string {
	if utf8.RuneCountInString(s) > 60 {
		r := []rune(s)
		s = string(r[:57]) + "…"
	}
	return strconv.Quote(s)
}

// EmailProblem is the one email check (upload validation, manual entry, resends): "" when
// s is a practical email address, else what is wrong with it ("has no @").
func EmailProblem(s string) string { return emailProblem(strings.TrimSpace(s)) }
