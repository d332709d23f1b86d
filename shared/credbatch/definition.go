package credbatch

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// AttrType is the type of a definition attribute.
type AttrType string

// Attribute types.
const (
	AttrText   AttrType = "text"
	AttrNumber AttrType = "number"
	AttrDate   AttrType = "date"
	AttrEmail  AttrType = "email"
	AttrURL    AttrType = "url"
	AttrChoice AttrType = "choice"
)

// Attribute is one extra column of a credential definition; its column header is its Name.
type Attribute struct {
	Name        string   `json:"name"`
	Type        AttrType `json:"type"`
	Required    bool     `json:"required,omitempty"`
	Description string   `json:"description,omitempty"`
	Min         *float64 `json:"min,omitempty"`        // number: smallest value allowed
	Max         *float64 `json:"max,omitempty"`        // number: largest value allowed
	MaxLength   int      `json:"max_length,omitempty"` // text: longest value in characters (0 = DefaultMaxLength)
	Choices     []string `json:"choices,omitempty"`    // choice: the allowed values
}

// ExpiryPolicy says whether a credential of a definition expires.
type ExpiryPolicy string

// Expiry policies.
const (
	ExpiryNone     ExpiryPolicy = "none"     // never expires; an expiry column is refused
	ExpiryOptional ExpiryPolicy = "optional" // the row may give one; else Default applies if set
	ExpiryRequired ExpiryPolicy = "required" // every row must end with an expiry (row or Default)
)

// Expiry is a definition's expiry policy. Default is an ISO 8601 duration ("P2Y") applied
// from the issue date when a row gives no expiry.
type Expiry struct {
	Policy  ExpiryPolicy `json:"policy"`
	Default string       `json:"default,omitempty"`
}

// DuplicatePolicy says what happens when a recipient already holds an active credential of
// the definition.
type DuplicatePolicy string

// Duplicate policies.
const (
	DuplicatesReject  DuplicatePolicy = "reject"  // the row is rejected with already_issued
	DuplicatesAllow   DuplicatePolicy = "allow"   // a second credential is issued
	DuplicatesReplace DuplicatePolicy = "replace" // the old one is revoked (superseded) on issue
)

// EmailTemplates are the per-definition message templates (Go text/template syntax; the HTML
// one is rendered with html/template). Empty fields use the built-in defaults.
type EmailTemplates struct {
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text,omitempty"`
	HTML    string `json:"html,omitempty"`
}

// Issuer describes who issues the credentials of a definition (overrides the deployment's).
type Issuer struct {
	Name  string `json:"name,omitempty"`
	URL   string `json:"url,omitempty"`
	Email string `json:"email,omitempty"`
	Image string `json:"image,omitempty"`
}

// Definition is a credential type: what a row of a spreadsheet becomes.
type Definition struct {
	ID               string           `json:"id"`
	Version          int              `json:"version,omitempty"` // set by the store; a batch keeps the version it was validated against
	Name             string           `json:"name"`
	Description      string           `json:"description,omitempty"`
	Criteria         string           `json:"criteria,omitempty"` // what the recipient did to earn it
	Image            string           `json:"image,omitempty"`
	Attributes       []Attribute      `json:"attributes,omitempty"`
	Expiry           Expiry           `json:"expiry"`
	ApprovalRequired bool             `json:"approval_required,omitempty"`
	FourEyes         bool             `json:"four_eyes,omitempty"` // the uploader may not approve their own batch
	Duplicates       DuplicatePolicy  `json:"duplicates,omitempty"`
	Evidence         EvidenceSettings `json:"evidence,omitzero"`
	Email            EmailTemplates   `json:"email,omitempty"`
	Locale           string           `json:"locale,omitempty"` // language of the built-in email texts and dates (Locales; "" = the deployment's)
	Issuer           *Issuer          `json:"issuer,omitempty"`
	Archived         bool             `json:"archived,omitempty"`
	CreatedAt        time.Time        `json:"created_at,omitzero"`
}

// DefaultMaxLength is the longest text value accepted when an attribute sets no max_length.
const DefaultMaxLength = 1000

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// Attribute returns the attribute with the name (exact), and whether it exists.
func (d Definition) Attribute(name string) (Attribute, bool) {
	for _, a := range d.Attributes {
		if a.Name == name {
			return a, true
		}
	}
	return Attribute{}, false
}

// Normalize fills defaults (expiry policy none, duplicates reject).
func (d *Definition) Normalize() {
	if d.Expiry.Policy == "" {
		if d.Expiry.Default != "" {
			d.Expiry.Policy = ExpiryOptional
		} else {
			d.Expiry.Policy = ExpiryNone
		}
	}
	if d.Duplicates == "" {
		d.Duplicates = DuplicatesReject
	}
	if d.Evidence.Policy == "" {
		d.Evidence.Policy = EvidenceNone
	}
	for i := range d.Attributes {
		d.Attributes[i].Name = strings.TrimSpace(d.Attributes[i].Name)
	}
}

// Validate checks a definition; the returned KindInvalid error names every problem, each
// prefixed with where it is (for example `attributes[1].choices`).
func (d Definition) Validate() error {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if !idPattern.MatchString(d.ID) {
		add("id %q: use 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", d.ID)
	}
	if strings.TrimSpace(d.Name) == "" {
		add("name: give the credential a name")
	}
	switch d.Expiry.Policy {
	case ExpiryNone:
		if d.Expiry.Default != "" {
			add("expiry.default: a definition with policy \"none\" cannot have a default duration")
		}
	case ExpiryOptional, ExpiryRequired:
	default:
		add("expiry.policy %q: use none, optional or required", d.Expiry.Policy)
	}
	if d.Expiry.Default != "" && !isoDuration.MatchString(d.Expiry.Default) {
		add("expiry.default %q: use an ISO 8601 duration such as P2Y, P18M or P90D", d.Expiry.Default)
	}
	switch d.Duplicates {
	case DuplicatesReject, DuplicatesAllow, DuplicatesReplace:
	default:
		add("duplicates %q: use reject, allow or replace", d.Duplicates)
	}
	probs = append(probs, d.Evidence.problems()...)
	checkURL := func(where, raw string, images bool) {
		if raw == "" {
			return
		}
		if p := WebURLProblem(raw, images); p != "" {
			add("%s %q %s", where, raw, p)
		}
	}
	if l, ok := ParseLocale(d.Locale); !ok || l != d.Locale {
		add("locale %q: use one of %s, or leave it out for the deployment's", d.Locale, strings.Join(Locales, ", "))
	}
	checkURL("image", d.Image, true)
	if d.Issuer != nil {
		checkURL("issuer.url", d.Issuer.URL, false)
		checkURL("issuer.image", d.Issuer.Image, true)
	}
	seen := map[string]int{}
	for _, b := range BuiltinFields {
		for _, h := range b.Headers {
			seen[NormalizeHeader(h)] = -1
		}
	}
	for i, a := range d.Attributes {
		where := fmt.Sprintf("attributes[%d]", i)
		if a.Name == "" {
			add("%s.name: every attribute needs a name (it is the column header)", where)
			continue
		}
		if strings.HasPrefix(a.Name, AttributePrefix) {
			add("%s.name %q: must not start with %q", where, a.Name, AttributePrefix)
		}
		key := NormalizeHeader(a.Name)
		if j, ok := seen[key]; ok {
			if j < 0 {
				add("%s.name %q: clashes with a built-in column; choose another name", where, a.Name)
			} else {
				add("%s.name %q: same column as attributes[%d]; names must differ beyond case, spaces and punctuation", where, a.Name, j)
			}
		}
		seen[key] = i
		switch a.Type {
		case AttrText, AttrDate, AttrEmail, AttrURL:
		case AttrNumber:
			if a.Min != nil && a.Max != nil && *a.Min > *a.Max {
				add("%s: min is greater than max", where)
			}
		case AttrChoice:
			if len(a.Choices) == 0 {
				add("%s.choices: a choice attribute needs at least one choice", where)
			}
		default:
			add("%s.type %q: use text, number, date, email, url or choice", where, a.Type)
		}
		if a.Type != AttrChoice && len(a.Choices) > 0 {
			add("%s.choices: only a choice attribute has choices", where)
		}
		if a.Type != AttrNumber && (a.Min != nil || a.Max != nil) {
			add("%s: only a number attribute has min and max", where)
		}
		if a.MaxLength < 0 {
			add("%s.max_length: must not be negative", where)
		}
	}
	if len(probs) == 0 {
		return nil
	}
	return &Error{Kind: KindInvalid, Code: "invalid_definition",
		Message: fmt.Sprintf("definition %q: %s", d.ID, strings.Join(probs, "; ")), Details: probs}
}

var isoDuration = regexp.MustCompile(`^P(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?$`)

// DefinitionsFile is the JSON file the local stack and the CLI read.
type DefinitionsFile struct {
	Issuer      *Issuer      `json:"issuer,omitempty"`
	Definitions []Definition `json:"definitions"`
}

// ParseDefinitions reads and validates a definitions file. Unknown keys are refused so that
// a typo does not silently drop a setting. The error is KindInvalid and names every problem.
func ParseDefinitions(r io.Reader) (DefinitionsFile, error) {
	var f DefinitionsFile
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, &Error{Kind: KindInvalid, Code: "invalid_definition", Message: "definitions file: " + err.Error(), Err: err}
	}
	if len(f.Definitions) == 0 {
		return f, E(KindInvalid, "invalid_definition", `definitions file: "definitions" is empty; add at least one definition`)
	}
	var probs []string
	ids := map[string]bool{}
	for i := range f.Definitions {
		d := &f.Definitions[i]
		d.Normalize()
		if d.Issuer == nil {
			d.Issuer = f.Issuer
		}
		if err := d.Validate(); err != nil {
			probs = append(probs, fmt.Sprintf("definitions[%d]: %s", i, err.Error()))
		}
		if ids[d.ID] {
			probs = append(probs, fmt.Sprintf("definitions[%d]: id %q is used twice", i, d.ID))
		}
		ids[d.ID] = true
	}
	if len(probs) > 0 {
		return f, &Error{Kind: KindInvalid, Code: "invalid_definition", Message: strings.Join(probs, "\n"), Details: probs}
	}
	return f, nil
}

// NormalizeHeader folds a column header for matching: lower case, with spaces, punctuation
// and symbols removed ("E-mail Address" → "emailaddress").
func NormalizeHeader(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}
