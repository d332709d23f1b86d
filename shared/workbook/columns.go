package workbook

import (
	"fmt"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// MaxNameLength is the longest first or last name the template lets a user type.
const MaxNameLength = 200

// TemplateColumn is one column of a template: what its header is, what goes in it and which
// definitions use it.
type TemplateColumn struct {
	Header      string
	Field       credbatch.Field
	Help        string             // what goes in the column
	Required    bool               // every row must fill it
	Type        credbatch.AttrType // "" for free text (names, the expiry date/duration)
	Choices     []string           // allowed values (choice attributes, the ID column)
	Min, Max    *float64           // number attributes
	MaxLength   int                // text: longest value in characters (0 = no limit shown)
	Definitions []string           // ids of the definitions that use the column
	// RequiredBy lists the definitions that require the column (a combined template column is
	// Required only when every definition requires it).
	RequiredBy []string
}

// TemplateColumns returns the columns of the template of one definition or, when given
// several, of the combined template. A single definition gives its built-in columns (without
// ID) then its attributes; several give ID first, then the built-in columns, then the union of
// their attributes in definition order (an attribute several definitions share — the same name
// up to case, spaces and punctuation — is one column). The expiry column is left out when no
// definition lets a credential expire.
func TemplateColumns(defs []credbatch.Definition) []TemplateColumn {
	var cols []TemplateColumn
	all := make([]string, len(defs))
	for i, d := range defs {
		all[i] = d.ID
	}
	combined := len(defs) > 1
	for _, b := range credbatch.BuiltinFields {
		col := TemplateColumn{Header: b.Header, Field: b.Field, Help: b.Help, Definitions: all}
		switch b.Field {
		case credbatch.FieldDefinition:
			if !combined {
				continue
			}
			col.Required, col.RequiredBy, col.Type, col.Choices = true, all, credbatch.AttrChoice, all
		case credbatch.FieldFirstName, credbatch.FieldLastName:
			col.Required, col.RequiredBy, col.MaxLength = true, all, MaxNameLength
		case credbatch.FieldEmail:
			col.Required, col.RequiredBy, col.Type = true, all, credbatch.AttrEmail
		case credbatch.FieldLocale:
			continue // optional; an upload may add it, the templates leave it out
		case credbatch.FieldEvidenceURL, credbatch.FieldEvidenceNarrative, credbatch.FieldEvidenceFile:
			// Only for the definitions that take evidence.
			col.Definitions = nil
			for _, d := range defs {
				if d.Evidence.EffectivePolicy() != credbatch.EvidenceNone {
					col.Definitions = append(col.Definitions, d.ID)
				}
			}
			if len(col.Definitions) == 0 {
				continue
			}
			switch b.Field {
			case credbatch.FieldEvidenceURL:
				col.Type = credbatch.AttrURL
			case credbatch.FieldEvidenceNarrative:
				col.MaxLength = 2000
			default:
				col.MaxLength = 255
			}
		case credbatch.FieldIssueDate:
			col.Type = credbatch.AttrDate
		case credbatch.FieldExpiry:
			col.Definitions = nil
			for _, d := range defs {
				switch policy(d) {
				case credbatch.ExpiryNone:
					continue
				case credbatch.ExpiryRequired:
					if d.Expiry.Default == "" {
						col.RequiredBy = append(col.RequiredBy, d.ID)
					}
				}
				col.Definitions = append(col.Definitions, d.ID)
			}
			if len(col.Definitions) == 0 {
				continue
			}
			col.Required = len(col.RequiredBy) == len(defs)
		}
		cols = append(cols, col)
	}
	byKey := map[string]int{}
	for _, d := range defs {
		for _, a := range d.Attributes {
			key := credbatch.NormalizeHeader(a.Name)
			i, seen := byKey[key]
			if !seen {
				byKey[key] = len(cols)
				col := TemplateColumn{Header: a.Name, Field: credbatch.AttributeField(a.Name), Help: a.Description,
					Type: a.Type, Choices: append([]string(nil), a.Choices...), Min: a.Min, Max: a.Max,
					MaxLength: a.MaxLength, Definitions: []string{d.ID}}
				if a.Type == credbatch.AttrText && col.MaxLength == 0 {
					col.MaxLength = credbatch.DefaultMaxLength
				}
				if a.Required {
					col.RequiredBy = []string{d.ID}
				}
				cols = append(cols, col)
				continue
			}
			merge(&cols[i], d.ID, a)
		}
	}
	for i := range cols {
		c := &cols[i]
		if _, ok := c.Field.Attribute(); ok {
			c.Required = len(c.RequiredBy) == len(defs)
		}
		if c.Help == "" {
			c.Help = defaultHelp(*c)
		}
	}
	return cols
}

// merge folds another definition's attribute into a combined template column.
func merge(c *TemplateColumn, id string, a credbatch.Attribute) {
	c.Definitions = append(c.Definitions, id)
	if a.Required {
		c.RequiredBy = append(c.RequiredBy, id)
	}
	if c.Help == "" {
		c.Help = a.Description
	}
	if c.Type != a.Type {
		// Definitions disagree on the type: the column takes any text and each row is
		// checked against its own definition when uploaded.
		c.Type, c.Choices, c.Min, c.Max, c.MaxLength = credbatch.AttrText, nil, nil, nil, 0
		return
	}
	switch a.Type {
	case credbatch.AttrChoice:
		for _, ch := range a.Choices {
			if !containsFold(c.Choices, ch) {
				c.Choices = append(c.Choices, ch)
			}
		}
	case credbatch.AttrNumber:
		c.Min = widen(c.Min, a.Min, func(x, y float64) bool { return x < y })
		c.Max = widen(c.Max, a.Max, func(x, y float64) bool { return x > y })
	case credbatch.AttrText:
		n := a.MaxLength
		if n == 0 {
			n = credbatch.DefaultMaxLength
		}
		c.MaxLength = max(c.MaxLength, n)
	}
}

// widen returns the looser of two bounds: nil (no bound) when either is nil.
func widen(a, b *float64, looser func(x, y float64) bool) *float64 {
	if a == nil || b == nil {
		return nil
	}
	if looser(*b, *a) {
		return b
	}
	return a
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func policy(d credbatch.Definition) credbatch.ExpiryPolicy {
	if d.Expiry.Policy != "" {
		return d.Expiry.Policy
	}
	if d.Expiry.Default != "" {
		return credbatch.ExpiryOptional
	}
	return credbatch.ExpiryNone
}

// defaultHelp describes an attribute column that has no description.
func defaultHelp(c TemplateColumn) string {
	return fmt.Sprintf("%s: %s.", c.Header, Format(c))
}

// Format says in a few words what a value of the column looks like.
func Format(c TemplateColumn) string {
	switch {
	case c.Field == credbatch.FieldDefinition:
		return "one of the definition ids: " + strings.Join(c.Choices, ", ")
	case c.Field == credbatch.FieldExpiry:
		return "a date (YYYY-MM-DD) or a duration from the issue date (2 years, 18 months, 90 days, P2Y6M)"
	}
	switch c.Type {
	case credbatch.AttrDate:
		return "a date, YYYY-MM-DD (or a date cell)"
	case credbatch.AttrEmail:
		return "an email address"
	case credbatch.AttrURL:
		return "a web address starting with https:// or http://"
	case credbatch.AttrChoice:
		return "one of: " + strings.Join(c.Choices, ", ")
	case credbatch.AttrNumber:
		switch {
		case c.Min != nil && c.Max != nil:
			return fmt.Sprintf("a number from %s to %s", num(*c.Min), num(*c.Max))
		case c.Min != nil:
			return fmt.Sprintf("a number of at least %s", num(*c.Min))
		case c.Max != nil:
			return fmt.Sprintf("a number of at most %s", num(*c.Max))
		}
		return "a number"
	}
	if c.MaxLength > 0 {
		return fmt.Sprintf("text, at most %d characters", c.MaxLength)
	}
	return "text"
}

func num(f float64) string { return fmt.Sprintf("%g", f) }
