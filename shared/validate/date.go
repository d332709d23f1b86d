package validate

import (
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// ymd is a calendar date.
type ymd struct{ y, m, d int }

func (t ymd) String() string {
	var b [10]byte
	put := func(at, n, width int) {
		for i := width - 1; i >= 0; i-- {
			b[at+i] = byte('0' + n%10)
			n /= 10
		}
	}
	put(0, t.y, 4)
	b[4] = '-'
	put(5, t.m, 2)
	b[7] = '-'
	put(8, t.d, 2)
	return string(b[:])
}

func (t ymd) before(u ymd) bool {
	if t.y != u.y {
		return t.y < u.y
	}
	if t.m != u.m {
		return t.m < u.m
	}
	return t.d < u.d
}

func (t ymd) time() time.Time { return time.Date(t.y, time.Month(t.m), t.d, 0, 0, 0, 0, time.UTC) }

func fromTime(t time.Time) ymd {
	y, m, d := t.Date()
	return ymd{y, int(m), d}
}

func leap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, m int) int {
	switch m {
	case 2:
		if leap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// real reports whether the date exists (years 1000-9999).
func (t ymd) real() bool {
	return t.y >= 1000 && t.y <= 9999 && t.m >= 1 && t.m <= 12 && t.d >= 1 && t.d <= daysIn(t.y, t.m)
}

// parseISODate reads exactly YYYY-MM-DD.
func parseISODate(s string) (ymd, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return ymd{}, false
	}
	y, ok1 := atoi(s[0:4])
	m, ok2 := atoi(s[5:7])
	d, ok3 := atoi(s[8:10])
	t := ymd{y, m, d}
	return t, ok1 && ok2 && ok3 && t.real()
}

// dateKind is the outcome of reading a date cell.
type dateKind uint8

const (
	dateOK        dateKind = iota
	dateAmbiguous          // day and month could be swapped and no order says which
	dateNotDate            // not shaped like a date at all
	dateNotReal            // shaped like a date, but no such day (31/02/2025, month 13)
)

// parsedDate is a date cell as read. For an ambiguous numeric date, a and b are its first
// two parts (03/04/2025: a=3, b=4) and date.y its year.
type parsedDate struct {
	kind   dateKind
	date   ymd
	proof  credbatch.DateOrder // the order the value proves ("" if it proves none)
	a, b   int
	serial bool // an Excel serial number
}

// resolve reads an ambiguous date with an order.
func (p parsedDate) resolve(order credbatch.DateOrder) ymd {
	if order == credbatch.DateOrderMDY {
		return ymd{p.date.y, p.a, p.b}
	}
	return ymd{p.date.y, p.b, p.a}
}

// parseDate reads a date cell (already trimmed, not empty): ISO 8601 (with an optional time
// that is ignored), an Excel serial number, numeric D/M/Y, M/D/Y or Y/M/D with / . - or space,
// and dates with English month names. order decides ambiguous numeric dates; with
// DateOrderAuto they come back as dateAmbiguous.
func parseDate(s string, order credbatch.DateOrder, date1904 bool) parsedDate {
	// ISO 8601, the fast path: 2025-03-04, 2025-03-04T10:00:00Z, 2025-03-04 10:00.
	if len(s) >= 10 && s[4] == '-' && s[7] == '-' && isDigits(s[0:4]) && isDigits(s[5:7]) && isDigits(s[8:10]) {
		if len(s) == 10 || ((s[10] == 'T' || s[10] == 't' || s[10] == ' ') && timeLike(s[11:])) {
			y, _ := atoi(s[0:4])
			m, _ := atoi(s[5:7])
			d, _ := atoi(s[8:10])
			return checked(ymd{y, m, d}, "")
		}
	}
	if serialLike(s) {
		if len(s) == 8 && isDigits(s) { // ISO 8601 basic: 20250304
			y, _ := atoi(s[0:4])
			m, _ := atoi(s[4:6])
			d, _ := atoi(s[6:8])
			if t := (ymd{y, m, d}); t.real() && y >= 1900 {
				return parsedDate{kind: dateOK, date: t}
			}
		}
		return fromSerial(s, date1904)
	}
	// Drop a trailing time of day: "04/03/2025 10:00", "March 4, 2025 10:00 AM".
	if i := strings.IndexByte(s, ':'); i >= 0 {
		sp := strings.LastIndexByte(s[:i], ' ')
		if sp < 0 || !timeLike(s[sp+1:]) {
			return parsedDate{kind: dateNotDate}
		}
		s = strings.TrimRight(s[:sp], " ,")
	}
	var toks [6]string
	n := 0
	alpha := -1 // index of the month-name token
	for i := 0; i < len(s); {
		c := s[i]
		if c == ' ' || c == ',' || c == '-' || c == '/' || c == '.' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != ',' && s[j] != '-' && s[j] != '/' && s[j] != '.' {
			j++
		}
		tok := s[i:j]
		i = j
		switch {
		case isDigits(tok):
		case ordinal(tok) != "":
			tok = ordinal(tok)
		case n == 0 && weekday(tok):
			continue
		case strings.EqualFold(tok, "of"):
			continue
		case month(tok) > 0:
			if alpha >= 0 {
				return parsedDate{kind: dateNotDate}
			}
			alpha = n
		default:
			return parsedDate{kind: dateNotDate}
		}
		if n == len(toks) {
			return parsedDate{kind: dateNotDate}
		}
		toks[n] = tok
		n++
	}
	if n != 3 {
		return parsedDate{kind: dateNotDate}
	}
	if alpha >= 0 {
		return monthNameDate(toks[:3], alpha)
	}
	p1, p2, p3 := toks[0], toks[1], toks[2]
	if len(p1) == 4 { // Y/M/D
		if len(p2) > 2 || len(p3) > 2 {
			return parsedDate{kind: dateNotDate}
		}
		y, _ := atoi(p1)
		m, _ := atoi(p2)
		d, _ := atoi(p3)
		return checked(ymd{y, m, d}, "")
	}
	if len(p1) > 2 || len(p2) > 2 || (len(p3) != 2 && len(p3) != 4) {
		return parsedDate{kind: dateNotDate}
	}
	a, _ := atoi(p1)
	b, _ := atoi(p2)
	y := year(p3)
	switch {
	case a > 12 && b > 12:
		return parsedDate{kind: dateNotReal}
	case a > 12:
		if order == credbatch.DateOrderMDY {
			return parsedDate{kind: dateNotReal}
		}
		return checked(ymd{y, b, a}, credbatch.DateOrderDMY)
	case b > 12:
		if order == credbatch.DateOrderDMY {
			return parsedDate{kind: dateNotReal}
		}
		return checked(ymd{y, a, b}, credbatch.DateOrderMDY)
	case a == b:
		return checked(ymd{y, a, b}, "")
	}
	p := parsedDate{kind: dateAmbiguous, date: ymd{y: y}, a: a, b: b}
	if a == 0 || b == 0 || y < 1000 {
		return parsedDate{kind: dateNotReal}
	}
	if order != credbatch.DateOrderAuto {
		return checked(p.resolve(order), "")
	}
	return p
}

func checked(t ymd, proof credbatch.DateOrder) parsedDate {
	if !t.real() {
		return parsedDate{kind: dateNotReal}
	}
	return parsedDate{kind: dateOK, date: t, proof: proof}
}

// monthNameDate reads three tokens, one of which (at alpha) is a month name:
// "4 March 2025", "March 4 2025", "04 Mar 25", "2025 March 4".
func monthNameDate(toks []string, alpha int) parsedDate {
	m := month(toks[alpha])
	var nums [2]string
	k := 0
	for i, t := range toks {
		if i != alpha {
			nums[k] = t
			k++
		}
	}
	var d, y int
	switch {
	case len(nums[0]) == 4 && len(nums[1]) <= 2:
		y, _ = atoi(nums[0])
		d, _ = atoi(nums[1])
	case len(nums[0]) <= 2 && (len(nums[1]) == 4 || len(nums[1]) == 2):
		d, _ = atoi(nums[0])
		y = year(nums[1])
	default:
		return parsedDate{kind: dateNotDate}
	}
	return checked(ymd{y, m, d}, "")
}

// year reads a 2- or 4-digit year; two digits follow Excel's window: 00-29 → 2000-2029,
// 30-99 → 1930-1999.
func year(s string) int {
	y, _ := atoi(s)
	if len(s) == 2 {
		if y < 30 {
			return 2000 + y
		}
		return 1900 + y
	}
	return y
}

// fromSerial decodes an Excel serial date number (its fraction, the time of day, is dropped).
// The 1900 system counts 1900-01-01 as 1 and keeps Lotus 1-2-3's phantom 1900-02-29 (serial
// 60), so serials from 61 on are one day ahead of a plain count; the 1904 system counts
// 1904-01-01 as 0.
func fromSerial(s string, date1904 bool) parsedDate {
	whole := s
	if i := strings.IndexByte(s, '.'); i >= 0 {
		whole = s[:i]
	}
	if whole == "" || len(whole) > 7 {
		return parsedDate{kind: dateNotReal, serial: true}
	}
	n, _ := atoi(whole)
	var base time.Time
	switch {
	case date1904:
		base = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
	case n < 1 || n == 60:
		return parsedDate{kind: dateNotReal, serial: true}
	case n < 60:
		base = time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC)
	default:
		base = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	}
	t := fromTime(base.AddDate(0, 0, n))
	if t.y > 9999 {
		return parsedDate{kind: dateNotReal, serial: true}
	}
	return parsedDate{kind: dateOK, date: t, serial: true}
}

// serialLike reports whether s is digits with at most one '.', as Excel writes a date cell.
func serialLike(s string) bool {
	dot := false
	if s == "" || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return true
}

// timeLike reports whether s looks like a time of day with an optional zone
// ("10:00", "10:00:00.5Z", "10:00 AM", "10:00+02:00").
func timeLike(s string) bool {
	if s == "" || s[0] < '0' || s[0] > '9' || strings.IndexByte(s, ':') < 0 || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == ':', c == '.', c == ' ', c == '+', c == '-',
			c == 'Z', c == 'z', c == 'A', c == 'a', c == 'P', c == 'p', c == 'M', c == 'm':
		default:
			return false
		}
	}
	return true
}

// ordinal returns the digits of "4th", "1st", "22nd", "3rd", or "".
func ordinal(s string) string {
	if len(s) < 3 || len(s) > 4 {
		return ""
	}
	d, suf := s[:len(s)-2], strings.ToLower(s[len(s)-2:])
	if !isDigits(d) {
		return ""
	}
	switch suf {
	case "st", "nd", "rd", "th":
		return d
	}
	return ""
}

var monthNames = [12]string{"january", "february", "march", "april", "may", "june", "july",
	"august", "september", "october", "november", "december"}

// month returns 1-12 for an English month name or its three-letter abbreviation ("Sept" too),
// 0 otherwise.
func month(s string) int {
	if len(s) < 3 || len(s) > 9 {
		return 0
	}
	for i, name := range monthNames {
		if len(s) == 3 || len(s) == len(name) || (i == 8 && len(s) == 4) {
			if strings.EqualFold(s, name[:len(s)]) {
				return i + 1
			}
		}
	}
	return 0
}

var weekdayNames = [7]string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}

func weekday(s string) bool {
	for _, name := range weekdayNames {
		if (len(s) == 3 || len(s) == len(name)) && strings.EqualFold(s, name[:len(s)]) {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// atoi reads up to 9 decimal digits.
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// monthDay names a date for messages: "3 April".
func monthDay(t ymd) string {
	if t.m < 1 || t.m > 12 {
		return ""
	}
	name := monthNames[t.m-1]
	return itoa(t.d) + " " + strings.ToUpper(name[:1]) + name[1:]
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
