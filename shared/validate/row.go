package validate

import (
	"fmt"
	"hash/maphash"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Blank reports whether every cell is empty or white space (a row readers may skip).
func Blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// Row validates one data row; number is its spreadsheet row number as the user sees it. The
// returned row has Status valid or invalid, every finding, the normalised fields (each set
// only when its cell is valid: names trimmed, email lower-cased, dates YYYY-MM-DD, numbers
// and choices in their normal spelling; the issue date defaults to Config.Today) and
// Cells, which is the slice given (not copied: do not reuse it).
//
// Rows must be passed in file order: a row whose date is ambiguous before its column proves
// an order is reported ambiguous_date, and Finish then says which rows to Revalidate. The
// second and later rows with the same definition and email get duplicate_row; the check
// keeps a 64-bit hash per recipient, so two different recipients collide with a probability
// of about n²/2⁶⁵ (3·10⁻⁸ at a million rows).
//
// A row whose definition is unknown gets unknown_definition and its names, email and issue
// date are still checked, but not its expiry or attributes. In a combined workbook a filled
// cell of another definition's attribute is ignored with an unknown_columns warning.
// Multi-line text (tab, CR, LF) is accepted in text attributes only.
func (v *Validator) Row(number int, cells []string) credbatch.Row {
	r := credbatch.Row{Number: number, Cells: cells}
	v.check(&r, false)
	return r
}

// Undecodable adds an invalid_encoding error to r for a cell (0-based col) whose bytes
// contradict the text file's encoding, as the reader found them (sheet.Flaw: encoding is
// the file's, detail says which bytes and what they would read as). The cell's value is not
// what the issuer typed, so the row must not be issued as read.
func (v *Validator) Undecodable(r *credbatch.Row, col int, encoding, detail string) {
	fail(r, v.columnLabel(col), credbatch.CodeInvalidEncoding, undecodableMessage(v.columnLabel(col), encoding, detail))
	r.Status = status(r.Findings)
}

// HeaderUndecodable records an invalid_encoding warning for a header cell (0-based col)
// whose bytes contradict the file's encoding; the column is mapped as it reads.
func (v *Validator) HeaderUndecodable(col int, encoding, detail string) {
	v.warnings = append(v.warnings, credbatch.Finding{Row: v.headerRow, Column: v.columnLabel(col), Code: credbatch.CodeInvalidEncoding,
		Message: undecodableMessage(v.columnLabel(col), encoding, detail), Severity: credbatch.SeverityWarning})
}

func undecodableMessage(label, encoding, detail string) string {
	return fmt.Sprintf("%s holds %s; the rest of the file is %s, so this value was probably pasted in from a file saved in another encoding. "+
		"Retype it, or save the whole file as CSV UTF-8, and upload it again", label, detail, encoding)
}

// columnLabel is the header of a 0-based column as written, or its letter when it has none.
func (v *Validator) columnLabel(col int) string {
	if col >= 0 && col < len(v.columns) && strings.TrimSpace(v.columns[col].Header) != "" {
		return v.columns[col].Header
	}
	return colName(col)
}

// Revalidate re-runs a row from r.Cells with the final date order of every column (call it
// after Finish for the rows its Resolutions list). It changes no evidence and no counts, and
// it keeps the findings that do not come from the row's own cells (duplicate_row,
// already_issued, suppressed_recipient, and invalid_encoding, which the reader found).
func (v *Validator) Revalidate(r credbatch.Row) credbatch.Row {
	out := credbatch.Row{BatchID: r.BatchID, Number: r.Number, Cells: r.Cells}
	v.check(&out, true)
	for _, f := range r.Findings {
		switch f.Code {
		case credbatch.CodeDuplicateRow, credbatch.CodeAlreadyIssued, credbatch.CodeSuppressedRecipient, credbatch.CodeInvalidEncoding,
			credbatch.CodeEvidenceFileNotFound, credbatch.CodeEvidenceWrongType, credbatch.CodeEvidenceTooLarge, credbatch.CodeMissingEvidence:
			out.Findings = append(out.Findings, f)
		}
	}
	KeepEvidenceFile(r, &out)
	out.Status = status(out.Findings)
	return out
}

// KeepEvidenceFile gives next the evidence file checked and stored for prev (a re-validated
// or amended row) when next's Evidence File still names it or names none.
func KeepEvidenceFile(prev credbatch.Row, next *credbatch.Row) {
	old := prev.Evidence.FileNamed()
	if !old.Stored() {
		return
	}
	if cur := next.Evidence.FileNamed(); cur != nil && cur.Name != old.Name {
		return
	}
	if next.Evidence == nil {
		next.Evidence = &credbatch.Evidence{}
	}
	f := *old
	next.Evidence.File = &f
}

func status(fs []credbatch.Finding) credbatch.RowStatus {
	if credbatch.HasErrors(fs) {
		return credbatch.RowInvalid
	}
	return credbatch.RowValid
}

func cell(cells []string, i int) string {
	if i < 0 || i >= len(cells) {
		return ""
	}
	return strings.TrimSpace(cells[i])
}

func (v *Validator) header(i int) string { return v.columns[i].Header }

func fail(r *credbatch.Row, column, code, msg string) {
	r.Findings = append(r.Findings, credbatch.Finding{Row: r.Number, Column: column, Code: code, Message: msg, Severity: credbatch.SeverityError})
}

func warn(r *credbatch.Row, column, code, msg string) {
	r.Findings = append(r.Findings, credbatch.Finding{Row: r.Number, Column: column, Code: code, Message: msg, Severity: credbatch.SeverityWarning})
}

// check validates r.Cells into r. final: use the final date orders and record nothing.
func (v *Validator) check(r *credbatch.Row, final bool) {
	cells := r.Cells
	p := v.definition(r)

	r.FirstName = v.name(r, v.idxFirst, "first")
	r.LastName = v.name(r, v.idxLast, "last")
	r.Email = v.email(r, v.idxEmail)

	issue, issueOK := v.today, true
	r.IssueDate = v.cfg.Today
	if raw := cell(cells, v.idxIssue); raw != "" {
		var s string
		issue, s, issueOK = v.dateCell(r, v.idxIssue, raw, final)
		r.IssueDate = ""
		if issueOK {
			r.IssueDate = s
		}
	}
	if p != nil {
		r.ExpiryDate = v.expiry(r, p, issue, issueOK, final)
		v.attributes(r, p, final)
		v.evidence(r, p)
	}
	r.Locale = v.locale(r)
	if p != nil && r.Email != "" && !final {
		h := maphash.String(v.seed, r.Email) ^ (p.n * 0x9E3779B97F4A7C15)
		if prev, ok := v.seen[h]; ok {
			fail(r, v.header(v.idxEmail), credbatch.CodeDuplicateRow, fmt.Sprintf(
				"%s is already the recipient of a %s credential in row %d; delete one of the two rows or correct the email", r.Email, p.def.ID, prev))
		} else {
			v.seen[h] = int32(r.Number)
		}
	}
	if p != nil && !final {
		v.counts[p.def.ID]++
	}
	r.Status = status(r.Findings)
}

// locale reads the row's Locale cell ("" when the file has none or the cell is empty).
func (v *Validator) locale(r *credbatch.Row) string {
	raw := cell(r.Cells, v.idxLocale)
	l, ok := credbatch.ParseLocale(raw)
	if !ok {
		fail(r, v.header(v.idxLocale), credbatch.CodeInvalidChoice, fmt.Sprintf(
			"%s is not a language of the emails; use one of %s (or English, French, German, Spanish), or leave it empty",
			quote(raw), strings.Join(credbatch.Locales, ", ")))
	}
	return l
}

// definition finds the row's definition: its ID cell, else the upload's definition.
func (v *Validator) definition(r *credbatch.Row) *plan {
	if !v.multi {
		r.DefinitionID = v.fallback.def.ID
		return v.fallback
	}
	raw := cell(r.Cells, v.idxDef)
	if raw == "" {
		if v.fallback != nil {
			r.DefinitionID = v.fallback.def.ID
			return v.fallback
		}
		fail(r, v.header(v.idxDef), credbatch.CodeMissingValue, fmt.Sprintf(
			"the ID is empty; fill in which credential this row is for (one of: %s)", v.knownIDs()))
		return nil
	}
	p := v.byID[lowerASCII(raw)]
	if p == nil {
		p = v.byName[credbatch.NormalizeHeader(raw)]
	}
	if p == nil {
		fail(r, v.header(v.idxDef), credbatch.CodeUnknownDefinition, fmt.Sprintf(
			"%s is not a credential definition; use one of: %s", quote(raw), v.knownIDs()))
		return nil
	}
	if p.def.Archived {
		fail(r, v.header(v.idxDef), credbatch.CodeUnknownDefinition, fmt.Sprintf(
			"credential definition %s is archived and issues no more credentials; use another one", quote(p.def.ID)))
		return nil
	}
	r.DefinitionID = p.def.ID
	return p
}

func (v *Validator) name(r *credbatch.Row, i int, which string) string {
	h := v.header(i)
	raw := cell(r.Cells, i)
	if raw == "" {
		fail(r, h, credbatch.CodeMissingValue, fmt.Sprintf("%s is empty; fill in the recipient's %s name", h, which))
		return ""
	}
	if c, bad := unsafeRune(raw, false); bad {
		fail(r, h, credbatch.CodeUnsafeValue, fmt.Sprintf("%s contains a control character (%U) or line break; retype the %s name as plain text on one line", h, c, which))
		return ""
	}
	if tooLong(raw, MaxNameLength) {
		fail(r, h, credbatch.CodeValueTooLong, fmt.Sprintf("%s is longer than %d characters; shorten the %s name", h, MaxNameLength, which))
		return ""
	}
	return raw
}

// email checks an email cell and returns the address lower-cased ("" when invalid).
func (v *Validator) email(r *credbatch.Row, i int) string {
	h := v.header(i)
	raw := cell(r.Cells, i)
	if raw == "" {
		fail(r, h, credbatch.CodeMissingValue, fmt.Sprintf("%s is empty; fill in the recipient's email address", h))
		return ""
	}
	if c, bad := unsafeRune(raw, false); bad {
		fail(r, h, credbatch.CodeUnsafeValue, fmt.Sprintf("%s contains a control character (%U) or line break; retype the address on one line", h, c))
		return ""
	}
	if msg := emailProblem(raw); msg != "" {
		fail(r, h, credbatch.CodeInvalidEmail, fmt.Sprintf("%s is not a valid email address: it %s; use the form name@example.com", quote(raw), msg))
		return ""
	}
	return lowerASCII(raw)
}

// dateCell reads a date column's cell (trimmed, non-empty) with the column's date order,
// recording order evidence unless final.
func (v *Validator) dateCell(r *credbatch.Row, col int, raw string, final bool) (ymd, string, bool) {
	dc := v.dates[col]
	if dc.lastRaw != "" && raw == dc.lastRaw {
		return dc.last, dc.lastOut, true
	}
	p := parseDate(raw, v.cfg.Options.DateOrder, v.cfg.Date1904)
	h := v.header(col)
	switch p.kind {
	case dateOK:
		if p.proof != "" && !final {
			dc.prove(p.proof)
		}
		out := raw
		if len(raw) != 10 || raw[4] != '-' {
			out = p.date.String()
		}
		dc.lastRaw, dc.last, dc.lastOut = raw, p.date, out
		return p.date, out, true
	case dateAmbiguous:
		dmy, mdy := p.resolve(credbatch.DateOrderDMY), p.resolve(credbatch.DateOrderMDY)
		switch {
		case dc.conflict:
			fail(r, h, credbatch.CodeAmbiguousDate, fmt.Sprintf(
				"%s could be %s or %s, and column %s has dates in both day/month orders; write it as %s or %s",
				quote(raw), monthDay(dmy), monthDay(mdy), quote(h), dmy, mdy))
		case dc.proved != "":
			if !final {
				dc.assumed = append(dc.assumed, int32(r.Number))
			}
			d := p.resolve(dc.proved)
			return d, d.String(), true
		default:
			if !final {
				dc.pending = append(dc.pending, int32(r.Number))
			}
			fail(r, h, credbatch.CodeAmbiguousDate, fmt.Sprintf(
				"%s could be %s or %s; write it as %s or %s, or set the upload's date order (DMY or MDY)",
				quote(raw), monthDay(dmy), monthDay(mdy), dmy, mdy))
		}
	case dateNotReal:
		switch {
		case p.serial:
			fail(r, h, credbatch.CodeInvalidDate, fmt.Sprintf("%s is not a date Excel can show; enter the date as YYYY-MM-DD, e.g. %s", quote(raw), v.cfg.Today))
		case v.cfg.Options.DateOrder != credbatch.DateOrderAuto:
			fail(r, h, credbatch.CodeInvalidDate, fmt.Sprintf("%s is not a real date in the upload's date order (%s); use YYYY-MM-DD, e.g. %s", quote(raw), orderName(v.cfg.Options.DateOrder), v.cfg.Today))
		default:
			fail(r, h, credbatch.CodeInvalidDate, fmt.Sprintf("%s is not a real date; use YYYY-MM-DD, e.g. %s", quote(raw), v.cfg.Today))
		}
	default:
		fail(r, h, credbatch.CodeInvalidDate, fmt.Sprintf("%s is not a date; use YYYY-MM-DD, e.g. %s", quote(raw), v.cfg.Today))
	}
	return ymd{}, "", false
}

func orderName(o credbatch.DateOrder) string {
	if o == credbatch.DateOrderMDY {
		return "month/day/year"
	}
	return "day/month/year"
}

// expiry returns the row's expiry date under the definition's policy ("" = never).
func (v *Validator) expiry(r *credbatch.Row, p *plan, issue ymd, issueOK, final bool) string {
	d := p.def
	raw := cell(r.Cells, v.idxExp)
	h := "Expiration Date/Duration"
	if v.idxExp >= 0 {
		h = v.header(v.idxExp)
	}
	if raw == "" {
		switch {
		case p.hasDflt && p.policy != credbatch.ExpiryNone:
			if !issueOK {
				return ""
			}
			e, ok := p.expiryDflt.addTo(issue)
			if !ok {
				fail(r, h, credbatch.CodeInvalidDuration, fmt.Sprintf("the default duration %s of %s goes beyond the year 9999; give an expiry date", d.Expiry.Default, d.ID))
				return ""
			}
			return e.String()
		case p.policy == credbatch.ExpiryRequired && v.idxExp < 0:
			fail(r, h, credbatch.CodeMissingValue, fmt.Sprintf(
				"%s credentials must expire, but the file has no %s column; add it and give a date (YYYY-MM-DD) or a duration such as 2 years", d.ID, h))
		case p.policy == credbatch.ExpiryRequired:
			fail(r, h, credbatch.CodeMissingValue, fmt.Sprintf(
				"%s credentials must expire; fill in %s with a date (YYYY-MM-DD) or a duration such as 2 years", d.ID, h))
		}
		return ""
	}
	if p.policy == credbatch.ExpiryNone {
		fail(r, h, credbatch.CodeInvalidDate, fmt.Sprintf(
			"%s credentials never expire; leave %s empty for this row", d.ID, h))
		return ""
	}
	if c, bad := unsafeRune(raw, false); bad {
		fail(r, h, credbatch.CodeUnsafeValue, fmt.Sprintf("%s contains a control character (%U); retype it", h, c))
		return ""
	}
	var exp ymd
	fromDuration := false
	if n, ok := atoi(raw); ok && n < 10000 {
		fail(r, h, credbatch.CodeInvalidDuration, fmt.Sprintf(
			"%s has no unit; write a duration such as %s years, %s months or %s days, or a date (YYYY-MM-DD)", quote(raw), raw, raw, raw))
		return ""
	}
	if dc := v.dates[v.idxExp]; raw == dc.lastRaw || parseDate(raw, v.cfg.Options.DateOrder, v.cfg.Date1904).kind != dateNotDate {
		var ok bool
		if exp, _, ok = v.dateCell(r, v.idxExp, raw, final); !ok {
			return ""
		}
	} else {
		if issueOK && raw == v.lastDur && issue == v.lastDurFrom {
			return v.lastDurOut
		}
		dur, ok := parseDuration(raw)
		if !ok {
			code := credbatch.CodeInvalidDuration
			if strings.ContainsAny(raw, "/.") || strings.Count(raw, "-") >= 2 {
				code = credbatch.CodeInvalidDate
			}
			fail(r, h, code, fmt.Sprintf(
				"%s is neither a date nor a duration; write a date (YYYY-MM-DD) or a duration such as 2 years, 18 months, 90 days or P2Y6M", quote(raw)))
			return ""
		}
		if !issueOK {
			return ""
		}
		fromDuration = true
		if exp, ok = dur.addTo(issue); !ok {
			fail(r, h, credbatch.CodeInvalidDuration, fmt.Sprintf("%s goes beyond the year 9999; give a shorter duration", quote(raw)))
			return ""
		}
	}
	if issueOK && !issue.before(exp) {
		fail(r, h, credbatch.CodeExpiryBeforeIssue, fmt.Sprintf(
			"the credential would expire on %s, not after its issue date %s; give a later expiry date or a longer duration", exp, issue))
		return ""
	}
	out := exp.String()
	if fromDuration {
		v.lastDur, v.lastDurFrom, v.lastDurOut = raw, issue, out
	}
	return out
}

// attributes checks the definition's attribute cells into r.Attributes and warns about
// filled cells of other definitions' attributes (combined workbooks).
func (v *Validator) attributes(r *credbatch.Row, p *plan, final bool) {
	for i := range p.attrs {
		a := &p.attrs[i]
		raw := cell(r.Cells, a.col)
		if raw == "" {
			if a.attr.Required {
				if a.col < 0 {
					fail(r, a.header, credbatch.CodeMissingValue, fmt.Sprintf(
						"%s credentials need %s, but the file has no %s column; add the column and fill it in", p.def.ID, quote(a.attr.Name), quote(a.attr.Name)))
				} else {
					fail(r, a.header, credbatch.CodeMissingValue, fmt.Sprintf("%s is empty; fill it in (%s credentials need it)", a.header, p.def.ID))
				}
			}
			continue
		}
		if val, ok := v.attribute(r, a, raw, final); ok {
			if r.Attributes == nil {
				r.Attributes = make(map[string]string, len(p.attrs))
			}
			r.Attributes[a.attr.Name] = val
		}
	}
	for _, j := range p.foreign {
		c := v.attrCols[j]
		if cell(r.Cells, c.index) != "" {
			warn(r, c.header, credbatch.CodeUnknownColumns, fmt.Sprintf(
				"%s is not an attribute of %s credentials, so this value is ignored; clear the cell or correct the row's ID", quote(c.header), p.def.ID))
		}
	}
}

func (v *Validator) attribute(r *credbatch.Row, a *attrPlan, raw string, final bool) (string, bool) {
	h := a.header
	lines := a.attr.Type == credbatch.AttrText
	if c, bad := unsafeRune(raw, lines); bad {
		fail(r, h, credbatch.CodeUnsafeValue, fmt.Sprintf("%s contains a control character (%U); retype it as plain text", h, c))
		return "", false
	}
	if tooLong(raw, a.maxLen) {
		fail(r, h, credbatch.CodeValueTooLong, fmt.Sprintf("%s is longer than %d characters; shorten it", h, a.maxLen))
		return "", false
	}
	switch a.attr.Type {
	case credbatch.AttrNumber:
		n, s, ok := parseNumber(raw)
		if !ok {
			fail(r, h, credbatch.CodeInvalidNumber, fmt.Sprintf("%s is not a number; write digits with an optional decimal point, e.g. 85 or 85.5", quote(raw)))
			return "", false
		}
		if a.attr.Min != nil && n < *a.attr.Min {
			fail(r, h, credbatch.CodeOutOfRange, fmt.Sprintf("%s is below the minimum %s for %s; allowed: %s", s, formatNumber(*a.attr.Min), h, rangeText(a.attr)))
			return "", false
		}
		if a.attr.Max != nil && n > *a.attr.Max {
			fail(r, h, credbatch.CodeOutOfRange, fmt.Sprintf("%s is above the maximum %s for %s; allowed: %s", s, formatNumber(*a.attr.Max), h, rangeText(a.attr)))
			return "", false
		}
		return s, true
	case credbatch.AttrDate:
		_, s, ok := v.dateCell(r, a.col, raw, final)
		return s, ok
	case credbatch.AttrEmail:
		if msg := emailProblem(raw); msg != "" {
			fail(r, h, credbatch.CodeInvalidEmail, fmt.Sprintf("%s is not a valid email address: it %s; use the form name@example.com", quote(raw), msg))
			return "", false
		}
		return lowerASCII(raw), true
	case credbatch.AttrURL:
		if msg := urlProblem(raw); msg != "" {
			fail(r, h, credbatch.CodeInvalidURL, fmt.Sprintf("%s is not a web address: it %s; write a full address such as https://example.com/page", quote(raw), msg))
			return "", false
		}
		return raw, true
	case credbatch.AttrChoice:
		if c, ok := a.choices[raw]; ok {
			return c, true
		}
		if len(a.attr.Choices) <= 16 {
			for _, c := range a.attr.Choices {
				if strings.EqualFold(strings.TrimSpace(c), raw) {
					return c, true
				}
			}
		} else if c, ok := a.choices[strings.ToLower(raw)]; ok {
			return c, true
		}
		fail(r, h, credbatch.CodeInvalidChoice, fmt.Sprintf("%s is not one of the choices for %s; use one of: %s", quote(raw), h, choiceList(a.attr.Choices)))
		return "", false
	}
	return raw, true
}

func rangeText(a credbatch.Attribute) string {
	switch {
	case a.Min != nil && a.Max != nil:
		return formatNumber(*a.Min) + " to " + formatNumber(*a.Max)
	case a.Min != nil:
		return formatNumber(*a.Min) + " or more"
	case a.Max != nil:
		return formatNumber(*a.Max) + " or less"
	}
	return "in range"
}

func choiceList(cs []string) string {
	if len(cs) > 20 {
		return strings.Join(cs[:20], ", ") + ", …"
	}
	return strings.Join(cs, ", ")
}
