// Package validate maps an upload's columns to fields and checks every row.
package validate

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// CodeInvalidMapping is the file-level code of an explicit mapping that names a column the
// file does not have or a field that does not exist.
const CodeInvalidMapping = credbatch.CodeInvalidMapping

// Config is what a Validator needs besides the header.
type Config struct {
	Definitions map[string]credbatch.Definition // by id
	Options     credbatch.Options               // DefinitionID, DateOrder, Sheet, Mapping (header as written → field)
	Today       string                          // YYYY-MM-DD: the default issue date (day of upload)
	Date1904    bool                            // the workbook's date system (xlsx serials)
}

// Validator maps one upload's columns and validates its rows in order. It keeps per-column
// date-order evidence and a compact record of recipients seen (for duplicate_row), so one
// Validator serves exactly one file; it is not safe for concurrent use.
type Validator struct {
	cfg       Config
	today     ymd
	headerRow int
	columns   []credbatch.Column
	warnings  []credbatch.Finding

	multi                                                 bool // an ID column names each row's definition
	idxDef, idxFirst, idxLast, idxEmail, idxIssue, idxExp int
	idxLocale                                             int
	idxEvURL, idxEvNarrative, idxEvFile                   int
	attrCols                                              []attrCol
	fallback                                              *plan            // the upload's definition (Options.DefinitionID)
	byID                                                  map[string]*plan // lower-case id → plan
	byName                                                map[string]*plan // NormalizeHeader(name) → plan
	ids                                                   []string         // known definition ids, sorted (for messages)

	dates []*dateCol // by column index; nil for columns that never hold dates
	// The last expiry computed from a duration: most files repeat one issue date and duration.
	lastDur     string
	lastDurFrom ymd
	lastDurOut  string
	seen        map[uint64]int32
	seed        maphash.Seed
	counts      map[string]int
}

// attrCol is a column that maps to an attribute (of one or more definitions).
type attrCol struct {
	index  int
	header string
	key    string // NormalizeHeader of the attribute name
}

// plan is how a definition's rows are checked against this file's columns.
type plan struct {
	def        credbatch.Definition
	n          uint64 // distinguishes definitions in the duplicate hash
	attrs      []attrPlan
	foreign    []int // indexes into Validator.attrCols of columns that are not this definition's
	policy     credbatch.ExpiryPolicy
	expiryDflt duration
	hasDflt    bool
}

// expiryPolicy is the definition's expiry policy, defaulted as Definition.Normalize does.
func expiryPolicy(d credbatch.Definition) credbatch.ExpiryPolicy {
	switch {
	case d.Expiry.Policy != "":
		return d.Expiry.Policy
	case d.Expiry.Default != "":
		return credbatch.ExpiryOptional
	}
	return credbatch.ExpiryNone
}

type attrPlan struct {
	attr    credbatch.Attribute
	col     int    // column index, -1 when the file has no such column
	header  string // header as written, or the attribute name when there is no column
	choices map[string]string
	maxLen  int
}

// New maps the header (as read from the file; headerRow is its spreadsheet row number,
// usually 1) to fields. The error is a KindInvalid *credbatch.Error with a file-level code:
// unknown_definition (no ID column and Options.DefinitionID names no known definition),
// invalid_mapping (the mapping names a column or field that does not exist),
// duplicate_columns (two columns map to one field) or missing_columns (a required column is
// absent; the message names it and the headers accepted for it).
func New(cfg Config, header []string, headerRow int) (*Validator, error) {
	today, ok := parseISODate(cfg.Today)
	if !ok {
		return nil, credbatch.Errorf(credbatch.KindInternal, "validate: Config.Today %q is not a YYYY-MM-DD date", cfg.Today)
	}
	switch cfg.Options.DateOrder {
	case credbatch.DateOrderAuto, credbatch.DateOrderDMY, credbatch.DateOrderMDY:
	default:
		return nil, credbatch.E(credbatch.KindInvalid, credbatch.CodeInvalidDateOrder,
			fmt.Sprintf("date order %q is not supported; use DMY, MDY or leave it empty", cfg.Options.DateOrder))
	}
	v := &Validator{cfg: cfg, today: today, headerRow: headerRow, seed: maphash.MakeSeed(),
		seen: map[uint64]int32{}, counts: map[string]int{}, byID: map[string]*plan{}, byName: map[string]*plan{},
		idxDef: -1, idxFirst: -1, idxLast: -1, idxEmail: -1, idxIssue: -1, idxExp: -1, idxLocale: -1,
		idxEvURL: -1, idxEvNarrative: -1, idxEvFile: -1}
	for id := range cfg.Definitions {
		v.ids = append(v.ids, id)
	}
	slices.Sort(v.ids)
	if err := v.mapColumns(header); err != nil {
		return nil, err
	}
	return v, nil
}

// Columns returns the header as written, each with the field it maps to ("" if none).
func (v *Validator) Columns() []credbatch.Column { return slices.Clone(v.columns) }

// Warnings returns the file-level warnings: one unknown_columns finding per column that no
// field maps to (Row is the header row).
func (v *Validator) Warnings() []credbatch.Finding { return slices.Clone(v.warnings) }

// Counts returns how many rows named each definition (rows whose definition is unknown are
// not counted).
func (v *Validator) Counts() map[string]int {
	out := make(map[string]int, len(v.counts))
	for k, n := range v.counts {
		out[k] = n
	}
	return out
}

func (v *Validator) knownIDs() string {
	ids := v.ids
	if len(ids) > 10 {
		return strings.Join(ids[:10], ", ") + ", …"
	}
	if len(ids) == 0 {
		return "(none defined)"
	}
	return strings.Join(ids, ", ")
}

// Header returns the header as written of the column mapped to f, or f's canonical header
// when the file has no such column.
func (v *Validator) Header(f credbatch.Field) string {
	for _, c := range v.columns {
		if c.Field == f && c.Header != "" {
			return c.Header
		}
	}
	return fieldLabel(f)
}

// fieldLabel is how messages name a field.
func fieldLabel(f credbatch.Field) string {
	if b, ok := credbatch.Builtin(f); ok {
		return b.Header
	}
	if name, ok := f.Attribute(); ok {
		return name
	}
	return string(f)
}

// mapColumns resolves every header to a field (explicit mapping first, then built-in
// synonyms, then attribute names) and checks that the required columns are there.
func (v *Validator) mapColumns(header []string) error {
	opts := v.cfg.Options
	builtin := map[string]credbatch.Field{}
	for _, b := range credbatch.BuiltinFields {
		for _, h := range b.Headers {
			builtin[credbatch.NormalizeHeader(h)] = b.Field
		}
		builtin[credbatch.NormalizeHeader(string(b.Field))] = b.Field
	}

	// The explicit mapping: header as written → field.
	var mapProbs []string
	mapped := make([]credbatch.Field, len(header))
	isMapped := make([]bool, len(header))
	mkeys := make([]string, 0, len(opts.Mapping))
	for k := range opts.Mapping {
		mkeys = append(mkeys, k)
	}
	slices.Sort(mkeys)
	for _, k := range mkeys {
		i := findHeader(header, k)
		if i < 0 {
			mapProbs = append(mapProbs, fmt.Sprintf("the mapping names column %q, which is not in the file", k))
			continue
		}
		mapped[i], isMapped[i] = opts.Mapping[k], true
	}

	// Is there an ID column? It decides which definitions' attributes are columns.
	for i, h := range header {
		f := builtin[credbatch.NormalizeHeader(h)]
		if isMapped[i] {
			f = builtin[credbatch.NormalizeHeader(string(mapped[i]))]
		}
		if f == credbatch.FieldDefinition {
			v.multi = true
		}
	}
	var scope []string
	if opts.DefinitionID != "" {
		d, ok := v.cfg.Definitions[opts.DefinitionID]
		if !ok {
			return credbatch.FileError(credbatch.CodeUnknownDefinition, fmt.Sprintf(
				"credential definition %q does not exist; use one of: %s", opts.DefinitionID, v.knownIDs()))
		}
		if d.Archived {
			return credbatch.FileError(credbatch.CodeUnknownDefinition, fmt.Sprintf(
				"credential definition %q is archived and issues no more credentials; use another definition", opts.DefinitionID))
		}
	}
	if v.multi {
		scope = v.ids
	} else {
		if opts.DefinitionID == "" {
			return credbatch.FileError(credbatch.CodeUnknownDefinition, fmt.Sprintf(
				"the upload does not say which credential it is for: upload it under uploads/<definition-id>/, "+
					"name the definition in the request, or add an ID column naming each row's definition (one of: %s)", v.knownIDs()))
		}
		scope = []string{opts.DefinitionID}
	}

	// Attribute names of the definitions in scope (the union for a combined workbook).
	attrName := map[string]string{} // NormalizeHeader(name) → name as the first definition spells it
	for _, id := range scope {
		for _, a := range v.cfg.Definitions[id].Attributes {
			k := credbatch.NormalizeHeader(a.Name)
			if _, ok := attrName[k]; !ok {
				attrName[k] = a.Name
			}
		}
	}
	resolve := func(f credbatch.Field) (credbatch.Field, bool) {
		s := strings.TrimSpace(string(f))
		if strings.EqualFold(s, string(credbatch.FieldSkip)) {
			return credbatch.FieldSkip, true
		}
		if name, ok := credbatch.Field(s).Attribute(); ok {
			if n, ok := attrName[credbatch.NormalizeHeader(name)]; ok {
				return credbatch.AttributeField(n), true
			}
			return "", false
		}
		k := credbatch.NormalizeHeader(s)
		if b, ok := builtin[k]; ok {
			return b, true
		}
		if n, ok := attrName[k]; ok {
			return credbatch.AttributeField(n), true
		}
		return "", false
	}

	v.columns = make([]credbatch.Column, len(header))
	first := map[credbatch.Field]int{}
	var dupProbs []string
	for i, h := range header {
		var f credbatch.Field
		if isMapped[i] {
			r, ok := resolve(mapped[i])
			if !ok {
				mapProbs = append(mapProbs, fmt.Sprintf("the mapping sends column %q to %q, which is not a field; use one of first_name, last_name, email, issue_date, expiry, definition, skip or an attribute name", h, mapped[i]))
				continue
			}
			f = r
		} else if h = strings.TrimSpace(h); h != "" {
			k := credbatch.NormalizeHeader(h)
			if b, ok := builtin[k]; ok {
				f = b
			} else if n, ok := attrName[k]; ok {
				f = credbatch.AttributeField(n)
			}
		}
		v.columns[i] = credbatch.Column{Index: i, Header: header[i], Field: f}
		if f == "" || f == credbatch.FieldSkip {
			continue
		}
		if j, ok := first[f]; ok {
			dupProbs = append(dupProbs, fmt.Sprintf("columns %q (%s) and %q (%s) both hold %s; delete one, or map one of them to skip",
				header[j], colName(j), header[i], colName(i), fieldLabel(f)))
			continue
		}
		first[f] = i
	}
	if len(mapProbs) > 0 {
		return &credbatch.Error{Kind: credbatch.KindInvalid, Code: CodeInvalidMapping,
			Message: "the column mapping is wrong: " + strings.Join(mapProbs, "; "), Details: mapProbs}
	}
	if len(dupProbs) > 0 {
		return &credbatch.Error{Kind: credbatch.KindInvalid, Code: credbatch.CodeDuplicateColumns,
			Message: strings.Join(dupProbs, "; "), Details: dupProbs}
	}

	// Required columns.
	var missing, missingNames []string
	need := func(f credbatch.Field) {
		if _, ok := first[f]; ok {
			return
		}
		b, _ := credbatch.Builtin(f)
		missing = append(missing, fmt.Sprintf("%q (also accepted: %s)", b.Header, strings.Join(b.Headers[1:], ", ")))
		missingNames = append(missingNames, b.Header)
	}
	need(credbatch.FieldFirstName)
	need(credbatch.FieldLastName)
	need(credbatch.FieldEmail)
	if !v.multi {
		d := v.cfg.Definitions[opts.DefinitionID]
		for _, a := range d.Attributes {
			if _, ok := first[credbatch.AttributeField(a.Name)]; a.Required && !ok {
				missing = append(missing, fmt.Sprintf("%q (an attribute of %s)", a.Name, d.ID))
				missingNames = append(missingNames, a.Name)
			}
		}
		if _, ok := first[credbatch.FieldExpiry]; !ok && expiryPolicy(d) == credbatch.ExpiryRequired && d.Expiry.Default == "" {
			b, _ := credbatch.Builtin(credbatch.FieldExpiry)
			missing = append(missing, fmt.Sprintf("%q (%s credentials must expire and the definition has no default duration; also accepted: %s)",
				b.Header, d.ID, strings.Join(b.Headers[1:], ", ")))
			missingNames = append(missingNames, b.Header)
		}
	}
	if len(missing) > 0 {
		return &credbatch.Error{Kind: credbatch.KindInvalid, Code: credbatch.CodeMissingColumns,
			Message: "add the missing column(s) to the header row: " + strings.Join(missing, "; "), Details: missingNames}
	}

	// Index the columns.
	idx := func(f credbatch.Field) int {
		if i, ok := first[f]; ok {
			return i
		}
		return -1
	}
	v.idxDef, v.idxFirst, v.idxLast = idx(credbatch.FieldDefinition), idx(credbatch.FieldFirstName), idx(credbatch.FieldLastName)
	v.idxEmail, v.idxIssue, v.idxExp = idx(credbatch.FieldEmail), idx(credbatch.FieldIssueDate), idx(credbatch.FieldExpiry)
	v.idxLocale = idx(credbatch.FieldLocale)
	v.idxEvURL, v.idxEvNarrative, v.idxEvFile = idx(credbatch.FieldEvidenceURL), idx(credbatch.FieldEvidenceNarrative), idx(credbatch.FieldEvidenceFile)
	v.dates = make([]*dateCol, len(header))
	if v.idxIssue >= 0 {
		v.dates[v.idxIssue] = &dateCol{}
	}
	if v.idxExp >= 0 {
		v.dates[v.idxExp] = &dateCol{}
	}
	for i, c := range v.columns {
		if name, ok := c.Field.Attribute(); ok {
			v.attrCols = append(v.attrCols, attrCol{index: i, header: header[i], key: credbatch.NormalizeHeader(name)})
		} else if c.Field == "" {
			msg := fmt.Sprintf("column %q (%s) is not a known column and is ignored; rename it to a field or attribute name, or map it to skip", header[i], colName(i))
			if strings.TrimSpace(header[i]) == "" {
				msg = fmt.Sprintf("column %s has no header and is ignored; give it a header or delete it", colName(i))
			}
			v.warnings = append(v.warnings, credbatch.Finding{Row: v.headerRow, Column: header[i],
				Code: credbatch.CodeUnknownColumns, Message: msg, Severity: credbatch.SeverityWarning})
		}
	}

	// One plan per definition in scope.
	for n, id := range scope {
		d := v.cfg.Definitions[id]
		p := &plan{def: d, n: uint64(n + 1), policy: expiryPolicy(d)}
		if d.Expiry.Default != "" {
			if dur, ok := parseDuration(d.Expiry.Default); ok {
				p.expiryDflt, p.hasDflt = dur, true
			}
		}
		own := map[string]bool{}
		for _, a := range d.Attributes {
			k := credbatch.NormalizeHeader(a.Name)
			own[k] = true
			ap := attrPlan{attr: a, col: -1, header: a.Name, maxLen: a.MaxLength}
			if ap.maxLen <= 0 {
				ap.maxLen = credbatch.DefaultMaxLength
			}
			for _, c := range v.attrCols {
				if c.key == k {
					ap.col, ap.header = c.index, c.header
					if a.Type == credbatch.AttrDate && v.dates[c.index] == nil {
						v.dates[c.index] = &dateCol{}
					}
				}
			}
			if a.Type == credbatch.AttrChoice {
				ap.choices = make(map[string]string, len(a.Choices))
				for _, ch := range a.Choices {
					ap.choices[strings.ToLower(strings.TrimSpace(ch))] = ch
				}
			}
			p.attrs = append(p.attrs, ap)
		}
		for j, c := range v.attrCols {
			if !own[c.key] {
				p.foreign = append(p.foreign, j)
			}
		}
		v.byID[strings.ToLower(id)] = p
		if k := credbatch.NormalizeHeader(d.Name); k != "" {
			if _, clash := v.byName[k]; clash {
				v.byName[k] = nil // two definitions share the name: only ids work
			} else {
				v.byName[k] = p
			}
		}
		if id == opts.DefinitionID {
			v.fallback = p
		}
	}
	return nil
}

// findHeader returns the index of the header a mapping key names: as written, else trimmed,
// else the only header equal after NormalizeHeader; -1 if none.
func findHeader(header []string, key string) int {
	for i, h := range header {
		if h == key {
			return i
		}
	}
	t := strings.TrimSpace(key)
	for i, h := range header {
		if strings.TrimSpace(h) == t {
			return i
		}
	}
	k, found := credbatch.NormalizeHeader(key), -1
	for i, h := range header {
		if k != "" && credbatch.NormalizeHeader(h) == k {
			if found >= 0 {
				return -1
			}
			found = i
		}
	}
	return found
}

// colName returns the spreadsheet letter of a 0-based column index: 0 → "column A".
func colName(i int) string {
	var b []byte
	for n := i + 1; n > 0; n = (n - 1) / 26 {
		b = append([]byte{byte('A' + (n-1)%26)}, b...)
	}
	return "column " + string(b)
}
