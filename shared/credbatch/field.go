package credbatch

import "strings"

// Field is what a column of an upload maps to: a built-in field, an attribute
// (AttributePrefix + the attribute's name) or FieldSkip.
type Field string

// Built-in fields, present in every definition.
const (
	FieldDefinition Field = "definition" // the ID column of a combined workbook
	FieldFirstName  Field = "first_name"
	FieldLastName   Field = "last_name"
	FieldEmail      Field = "email"
	FieldIssueDate  Field = "issue_date"
	FieldExpiry     Field = "expiry" // an expiration date or a duration from the issue date
	FieldLocale     Field = "locale" // optional: the language of the recipient's email (Locales)
	FieldSkip       Field = "skip"   // an explicit mapping ignores the column

	FieldEvidenceURL       Field = "evidence_url"       // a link to the row's evidence
	FieldEvidenceNarrative Field = "evidence_narrative" // what the row's evidence shows
	FieldEvidenceFile      Field = "evidence_file"      // the name of the row's file in the upload's zip
)

// AttributePrefix starts the Field of a definition attribute: "attribute:Score".
const AttributePrefix = "attribute:"

// AttributeField returns the Field of the attribute with the name.
func AttributeField(name string) Field { return Field(AttributePrefix + name) }

// Attribute returns the attribute name of an attribute field, and whether f is one.
func (f Field) Attribute() (string, bool) {
	name, ok := strings.CutPrefix(string(f), AttributePrefix)
	return name, ok
}

// BuiltinField describes a built-in column: its canonical header (as templates write it)
// and the synonyms recognised in uploads (matched with NormalizeHeader).
type BuiltinField struct {
	Field   Field
	Header  string
	Headers []string // canonical first, then synonyms
	Help    string   // what goes in the column (template comments, instructions)
}

// BuiltinFields lists the built-in columns in template order.
var BuiltinFields = []BuiltinField{
	{FieldDefinition, "ID", []string{"ID", "Credential ID", "Definition", "Definition ID"},
		"The id of the credential definition this row is for (combined templates only)."},
	{FieldFirstName, "First Name", []string{"First Name", "Given Name", "First", "Forename", "Given Names"},
		"The recipient's first (given) name, as it should appear on the credential."},
	{FieldLastName, "Last Name", []string{"Last Name", "Surname", "Family Name", "Last"},
		"The recipient's last (family) name."},
	{FieldEmail, "Email", []string{"Email", "Contact", "E-mail", "Email Address", "E-mail Address", "Mail", "Recipient Email"},
		"The recipient's email address; the credential is sent there."},
	{FieldIssueDate, "Issue Date", []string{"Issue Date", "Issued On", "Issued", "Date Issued", "Award Date"},
		"The date the credential was earned (YYYY-MM-DD, or a date cell). Empty means the upload day."},
	{FieldExpiry, "Expiration Date/Duration", []string{"Expiration Date/Duration", "Expiration Date", "Expiry", "Expiry Date", "Expires", "Valid Until", "Duration", "Expiration"},
		"When the credential expires: a date (YYYY-MM-DD, or a date cell) or a duration from the issue date (2 years, 18 months, 90 days, P2Y6M)."},
	{FieldLocale, "Locale", []string{"Locale", "Language", "Email Language"},
		"Optional: the language of the recipient's email, en, fr, de or es (or English, French, German, Spanish). Empty means the credential type's or the deployment's."},
	{FieldEvidenceURL, "Evidence URL", []string{"Evidence URL", "Evidence Link", "Media URL"},
		"Optional: a link (https://...) to a page that shows the recipient's evidence; it is put in the credential."},
	{FieldEvidenceNarrative, "Evidence Narrative", []string{"Evidence Narrative", "Evidence Description", "Media Description"},
		"Optional: a sentence or two on what the evidence shows; it is put in the credential."},
	{FieldEvidenceFile, "Evidence File", []string{"Evidence File", "Evidence File Name", "Media File"},
		"Optional: the name of the recipient's file (PDF, PNG or JPEG) in the .zip uploaded with this spreadsheet, e.g. kim-certificate.pdf."},
}

// Builtin returns the description of a built-in field.
func Builtin(f Field) (BuiltinField, bool) {
	for _, b := range BuiltinFields {
		if b.Field == f {
			return b, true
		}
	}
	return BuiltinField{}, false
}

// Column is a header of an upload and the field it maps to ("" when it maps to nothing).
type Column struct {
	Index  int    `json:"-"`
	Header string `json:"header"`
	Field  Field  `json:"field"`
}
