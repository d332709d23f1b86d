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

// Built-in templates, used for each empty field of credbatch.EmailTemplates.
const (
	DefaultSubject = `Your {{.CredentialName}} credential`

	DefaultText = `Hello {{if .FirstName}}{{.FirstName}}{{else}}{{.FullName}}{{end}},

{{if .IssuerName}}{{.IssuerName}} has issued{{else}}You have been issued{{end}} your {{.CredentialName}} credential.

View, download and share it here:
{{.CredentialURL}}

Issued: {{.IssueDate}}{{if .ExpiryDate}}
Expires: {{.ExpiryDate}}{{end}}
{{- if .Attributes}}
{{range $name, $value := .Attributes}}{{if $value}}
{{$name}}: {{$value}}{{end}}{{end}}
{{- end}}

Anyone you share the link with can check that the credential is genuine.
{{if .IssuerName}}
{{.IssuerName}}
{{end}}`

	DefaultHTML = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Your {{.CredentialName}} credential</title></head>
<body style="font-family: Arial, Helvetica, sans-serif; color: #222; line-height: 1.5;">
<p>Hello {{if .FirstName}}{{.FirstName}}{{else}}{{.FullName}}{{end}},</p>
<p>{{if .IssuerName}}{{.IssuerName}} has issued{{else}}You have been issued{{end}} your <strong>{{.CredentialName}}</strong> credential.</p>
<p><a href="{{.CredentialURL}}" style="display: inline-block; padding: 10px 18px; background: #1a5fb4; color: #fff; text-decoration: none; border-radius: 4px;">View your credential</a></p>
<table style="border-collapse: collapse;">
<tr><td style="padding: 2px 12px 2px 0;">Issued</td><td>{{.IssueDate}}</td></tr>
{{- if .ExpiryDate}}
<tr><td style="padding: 2px 12px 2px 0;">Expires</td><td>{{.ExpiryDate}}</td></tr>
{{- end}}
{{- range $name, $value := .Attributes}}{{if $value}}
<tr><td style="padding: 2px 12px 2px 0;">{{$name}}</td><td>{{$value}}</td></tr>
{{- end}}{{end}}
</table>
<p>Anyone you share the link with can check that the credential is genuine.</p>
{{- if .IssuerName}}
<p>{{.IssuerName}}</p>
{{- end}}
</body>
</html>
`
)

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

// parse parses the templates (defaults for empty ones); missingkey is "error" or "zero".
func parse(t credbatch.EmailTemplates, missingkey string) (*templates, error) {
	opt := "missingkey=" + missingkey
	subjectSrc := orDefault(t.Subject, DefaultSubject)
	if strings.ContainsAny(subjectSrc, "\r\n") {
		return nil, credbatch.E(credbatch.KindInvalid, CodeInvalidTemplate,
			"the email subject template must be a single line: remove the line breaks")
	}
	s, err := texttemplate.New("subject").Option(opt).Parse(subjectSrc)
	if err != nil {
		return nil, invalid("subject", err)
	}
	tx, err := texttemplate.New("text").Option(opt).Parse(orDefault(t.Text, DefaultText))
	if err != nil {
		return nil, invalid("text", err)
	}
	h, err := htmltemplate.New("html").Option(opt).Parse(orDefault(t.HTML, DefaultHTML))
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
		IssueDate:      "2026-01-15",
		ExpiryDate:     "2029-01-15",
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
	ts, err := parse(t, "error")
	if err != nil {
		return err
	}
	_, _, _, err = ts.render(SampleData(attributes...))
	return err
}

// Render renders the subject, text and HTML bodies for one recipient. Values are HTML-escaped
// in the HTML body. An attribute a template names but the data lacks renders empty (Check
// refuses unknown names beforehand). Line breaks and other control characters that values
// bring into the subject are folded into single spaces, since a header cannot hold them.
// Errors are KindInvalid with code CodeInvalidTemplate.
func Render(t credbatch.EmailTemplates, d Data) (subject, text, html string, err error) {
	if v, ok := parsed.Load(t); ok {
		return v.(*templates).render(d)
	}
	ts, err := parse(t, "zero")
	if err != nil {
		return "", "", "", err
	}
	parsed.Store(t, ts)
	return ts.render(d)
}

// parsed caches Render's parsed templates by their text: a batch renders the same templates
// for every row, and parsed templates are safe to execute concurrently. Definitions are few,
// so the cache stays small.
var parsed sync.Map // credbatch.EmailTemplates → *templates

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
