// Package mail renders credential emails from templates, builds RFC 5322 MIME messages and paces sending.
package mail

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"sync"
	texttemplate "text/template"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// CodeInvalidTemplate is the error code of a template that does not parse or refers to
// something the email data does not have.
const CodeInvalidTemplate = "invalid_email_template"

// Data is what the templates see. Attributes are keyed by attribute name; dates are already
// formatted for people (ExpiryDate is empty when the credential does not expire).
type Data struct {
	Locale         Locale // the built-in texts' language (and the dates'; "" = English)
	FirstName      string
	LastName       string
	FullName       string
	Email          string
	CredentialName string
	CredentialURL  string
	IssuerName     string
	IssueDate      string
	ExpiryDate     string
	Attributes     map[string]string
	BatchID        string
	CredentialID   string
}

// Built-in English templates, used for each empty field of credbatch.EmailTemplates when the
// locale is English (Defaults gives every locale's).
var DefaultSubject, DefaultText, DefaultHTML = Defaults(English)

// templates are the parsed templates of one credbatch.EmailTemplates.
type templates struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

func invalid(name string, err error) error {
	e := credbatch.E(credbatch.KindInvalid, CodeInvalidTemplate,
		fmt.Sprintf("the email %s template is not valid: %v", name, err))
	e.Err = err
	return e
}

// parse parses the templates (the locale's built-in ones for empty ones); missingkey is
// "error" or "zero".
func parse(t credbatch.EmailTemplates, l Locale, missingkey string) (*templates, error) {
	opt := "missingkey=" + missingkey
	defSubject, defText, defHTML := Defaults(l)
	subjectSrc := orDefault(t.Subject, defSubject)
	if strings.ContainsAny(subjectSrc, "\r\n") {
		return nil, credbatch.E(credbatch.KindInvalid, CodeInvalidTemplate,
			"the email subject template must be a single line: remove the line breaks")
	}
	s, err := texttemplate.New("subject").Option(opt).Parse(subjectSrc)
	if err != nil {
		return nil, invalid("subject", err)
	}
	tx, err := texttemplate.New("text").Option(opt).Parse(orDefault(t.Text, defText))
	if err != nil {
		return nil, invalid("text", err)
	}
	h, err := htmltemplate.New("html").Option(opt).Parse(orDefault(t.HTML, defHTML))
	if err != nil {
		return nil, invalid("HTML", err)
	}
	return &templates{subject: s, text: tx, html: h}, nil
}

// SampleData returns example data with the named attributes filled in; Check renders the
// templates against it and previews can show it.
func SampleData(attributes ...string) Data {
	d := Data{
		FirstName:      "Ada",
		LastName:       "Lovelace",
		FullName:       "Ada Lovelace",
		Email:          "ada@example.com",
		CredentialName: "Analytical Engine Operator",
		CredentialURL:  "https://credentials.example.com/c/0123456789abcdef0123456789abcdef",
		IssuerName:     "Example Academy",
		IssueDate:      English.Date("2026-01-15"),
		ExpiryDate:     English.Date("2029-01-15"),
		Attributes:     make(map[string]string, len(attributes)),
		BatchID:        "b-sample",
		CredentialID:   "0123456789abcdef0123456789abcdef",
	}
	for _, a := range attributes {
		d.Attributes[a] = "sample " + a
	}
	return d
}

// Check parses the templates and renders them against sample data with the given attribute
// names, refusing placeholders the data does not have (missingkey=error), so that a
// definition with a broken template is refused when it is saved. Errors are KindInvalid with
// code CodeInvalidTemplate and a message naming the template and the problem.
func Check(t credbatch.EmailTemplates, attributes ...string) error {
	for _, l := range Locales {
		ts, err := parse(t, l, "error")
		if err != nil {
			return err
		}
		if _, _, _, err = ts.render(SampleData(attributes...)); err != nil {
			return err
		}
	}
	return nil
}

// Render renders the subject, text and HTML bodies for one recipient. Values are HTML-escaped
// in the HTML body. An attribute a template names but the data lacks renders empty (Check
// refuses unknown names beforehand). Line breaks and other control characters that values
// bring into the subject are folded into single spaces, since a header cannot hold them.
// Errors are KindInvalid with code CodeInvalidTemplate. Empty templates are d.Locale's
// built-in ones; dates are shown as the caller wrote them (Locale.Date writes them in words).
func Render(t credbatch.EmailTemplates, d Data) (subject, text, html string, err error) {
	key := parsedKey{t, d.Locale}
	if v, ok := parsed.Load(key); ok {
		return v.(*templates).render(d)
	}
	ts, err := parse(t, d.Locale, "zero")
	if err != nil {
		return "", "", "", err
	}
	parsed.Store(key, ts)
	return ts.render(d)
}

// parsed caches Render's parsed templates by their text and locale: a batch renders the same
// templates for every row, and parsed templates are safe to execute concurrently.
// Definitions and locales are few, so the cache stays small.
var parsed sync.Map // parsedKey → *templates

type parsedKey struct {
	t credbatch.EmailTemplates
	l Locale
}

func (ts *templates) render(d Data) (subject, text, html string, err error) {
	if d.Attributes == nil {
		d.Attributes = map[string]string{}
	}
	var b bytes.Buffer
	if err := ts.subject.Execute(&b, d); err != nil {
		return "", "", "", invalid("subject", err)
	}
	subject = FoldSubject(b.String())
	b.Reset()
	if err := ts.text.Execute(&b, d); err != nil {
		return "", "", "", invalid("text", err)
	}
	text = b.String()
	b.Reset()
	if err := ts.html.Execute(&b, d); err != nil {
		return "", "", "", invalid("HTML", err)
	}
	html = b.String()
	return subject, text, html, nil
}

// FoldSubject replaces each run of whitespace and control characters (CR, LF, tab, ...) with
// one space and trims the ends, so that a rendered subject is a safe single-line header.
func FoldSubject(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == ' ' || r == '\u0085' || r == '\u2028' || r == '\u2029' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}
