// Package workbook writes the spreadsheets credbatch hands out: templates, error reports and tables.
package workbook

import "strings"

// Safe neutralises CSV/formula injection (OWASP "CSV Injection"): a value that a spreadsheet
// application could read as a formula or a DDE call — one starting with '=', '+', '-', '@', a
// tab or a carriage return, or their full-width forms '＝', '＋', '－', '＠' — is returned with a
// leading apostrophe, so it is shown as text and never evaluated, even after the workbook is
// re-saved as CSV. Every cell of a report or export that credbatch writes goes through Safe.
//
// Decision on negative numbers: a plain negative decimal ("-5", "-12.50") is left intact. It
// cannot be a formula in any spreadsheet application, and prefixing it would turn every
// negative score of an error report into text that no longer validates as a number when the
// fixed report is uploaded again. Anything else after a '-' ("-1+2", "-5e3", "-A1") is
// prefixed. "+1" is prefixed: a leading '+' is how DDE payloads usually start.
//
// A value that already starts with apostrophes followed by one of those characters gets one
// more, so that Restore(Safe(v)) == v for every v.
func Safe(v string) string {
	if needsQuote(strings.TrimLeft(v, "'")) {
		return "'" + v
	}
	return v
}

// Restore undoes Safe: it removes the apostrophe Safe added, and returns any other value
// unchanged. Readers of re-uploaded reports may call it on cell values so that a value the
// report neutralised reads back as it was written.
func Restore(v string) string {
	if strings.HasPrefix(v, "'") && needsQuote(strings.TrimLeft(v, "'")) {
		return v[1:]
	}
	return v
}

// needsQuote reports whether v starts like a formula.
func needsQuote(v string) bool {
	if v == "" {
		return false
	}
	switch v[0] {
	case '=', '+', '@', '\t', '\r':
		return true
	case '-':
		return !isNegativeDecimal(v)
	}
	for _, p := range []string{"＝", "＋", "－", "＠"} {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}

// isNegativeDecimal reports whether v is "-" followed by digits, optionally with one '.' and
// more digits ("-5", "-0.25").
func isNegativeDecimal(v string) bool {
	digits, dot := 0, false
	for i := 1; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0 && i < len(v)-1:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}
