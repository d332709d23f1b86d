package validate

import "strings"

// duration is a calendar duration.
type duration struct{ years, months, weeks, days int }

func (d duration) zero() bool { return d == duration{} }

// maxDurationPart bounds each number of a duration so that the arithmetic cannot overflow.
const maxDurationPart = 100000

// addTo returns t plus the duration. Years and months are added first as whole months, and
// a day that does not exist in the target month is clamped to its last day (2024-01-31 plus
// 1 month is 2024-02-29, 2023-03-31 plus 1 month is 2023-04-30); weeks and days are added
// after that. ok is false when the result falls beyond the year 9999.
func (d duration) addTo(t ymd) (ymd, bool) {
	months := t.y*12 + (t.m - 1) + d.years*12 + d.months
	y, m := months/12, months%12+1
	if y > 9999 {
		return ymd{}, false
	}
	day := t.d
	if n := daysIn(y, m); day > n {
		day = n
	}
	out := ymd{y, m, day}
	if days := d.weeks*7 + d.days; days != 0 {
		out = fromTime(out.time().AddDate(0, 0, days))
	}
	return out, out.y <= 9999
}

// parseDuration reads ISO 8601 date durations (P2Y6M, P90D, P2W, case-insensitive) and
// plain ones: "2 years", "18 months", "90 days", "1 year 6 months", "1 year and 6 months",
// "2y", "6 mo", "3 wks".
func parseDuration(s string) (duration, bool) {
	if len(s) > 1 && (s[0] == 'P' || s[0] == 'p') {
		return parseISODuration(s[1:])
	}
	var d duration
	any := false
	for i := 0; i < len(s); {
		c := s[i]
		if c == ' ' || c == ',' || c == '+' {
			i++
			continue
		}
		if c == 'a' || c == 'A' { // "and"
			if i+3 <= len(s) && strings.EqualFold(s[i:i+3], "and") && (i+3 == len(s) || s[i+3] == ' ') {
				i += 3
				continue
			}
			return d, false
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		n, ok := atoi(s[i:j])
		if !ok || n > maxDurationPart {
			return d, false
		}
		for j < len(s) && s[j] == ' ' {
			j++
		}
		k := j
		for k < len(s) && (s[k]|0x20) >= 'a' && (s[k]|0x20) <= 'z' {
			k++
		}
		if !d.add(s[j:k], n) {
			return d, false
		}
		any = true
		i = k
	}
	return d, any
}

// add adds n of a unit ("years", "yr", "y", "months", "mo", "m", "weeks", "w", "days", "d").
func (d *duration) add(unit string, n int) bool {
	var u [8]byte
	if len(unit) == 0 || len(unit) > len(u) {
		return false
	}
	for i := 0; i < len(unit); i++ {
		u[i] = unit[i] | 0x20
	}
	switch string(u[:len(unit)]) {
	case "y", "yr", "yrs", "year", "years":
		d.years += n
	case "m", "mo", "mos", "mon", "mth", "mths", "month", "months":
		d.months += n
	case "w", "wk", "wks", "week", "weeks":
		d.weeks += n
	case "d", "day", "days":
		d.days += n
	default:
		return false
	}
	return true
}

func parseISODuration(s string) (duration, bool) {
	var d duration
	last := 0 // enforce Y, M, W, D order
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		n, ok := atoi(s[i:j])
		if !ok || j == len(s) || n > maxDurationPart {
			return d, false
		}
		var rank int
		switch s[j] | 0x20 {
		case 'y':
			rank, d.years = 1, n
		case 'm':
			rank, d.months = 2, n
		case 'w':
			rank, d.weeks = 3, n
		case 'd':
			rank, d.days = 4, n
		default:
			return d, false
		}
		if rank <= last {
			return d, false
		}
		last = rank
		i = j + 1
	}
	return d, last > 0
}
