package mail

import (
	"strconv"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Locale is a language of the built-in email texts and of dates in words.
type Locale string

// Supported locales.
const (
	English Locale = "en"
	French  Locale = "fr"
	German  Locale = "de"
	Spanish Locale = "es"
)

// DefaultLocale is the locale when neither the row, the definition nor the deployment names one.
const DefaultLocale = English

// Locales lists the supported locales (credbatch.Locales, the codes definitions and uploads
// may name).
var Locales = []Locale{English, French, German, Spanish}

// Pick returns the first locale given (a row's, a definition's, the deployment's), else
// DefaultLocale. Unsupported values are skipped.
func Pick(choices ...string) Locale {
	for _, c := range choices {
		if l, ok := credbatch.ParseLocale(c); ok && l != "" {
			return Locale(l)
		}
	}
	return DefaultLocale
}

var months = map[Locale][12]string{
	English: {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	French:  {"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
	German:  {"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"},
	Spanish: {"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"},
}

// Date writes a YYYY-MM-DD date in words as the locale writes it: "2 January 2026",
// "2 janvier 2026" ("1er janvier"), "2. Januar 2026", "2 de enero de 2026". Anything that is not
// such a date is returned as it is.
func (l Locale) Date(iso string) string {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(iso))
	if err != nil {
		return iso
	}
	names, ok := months[l]
	if !ok {
		names, l = months[English], English
	}
	day, month, year := strconv.Itoa(t.Day()), names[t.Month()-1], strconv.Itoa(t.Year())
	switch l {
	case French:
		if t.Day() == 1 {
			day = "1er"
		}
		return day + " " + month + " " + year
	case German:
		return day + ". " + month + " " + year
	case Spanish:
		return day + " de " + month + " de " + year
	}
	return day + " " + month + " " + year
}

// phrases are the built-in email texts of one locale, as template fragments.
type phrases struct {
	subject, hello, issued, view, button, issuedOn, expires, genuine string
}

var builtin = map[Locale]phrases{
	English: {
		subject:  `Your {{.CredentialName}} credential`,
		hello:    `Hello {{if .FirstName}}{{.FirstName}}{{else}}{{.FullName}}{{end}},`,
		issued:   `{{if .IssuerName}}{{.IssuerName}} has issued{{else}}You have been issued{{end}} your %s credential.`,
		view:     `View, download and share it here:`,
		button:   `View your credential`,
		issuedOn: `Issued`,
		expires:  `Expires`,
		genuine:  `Anyone you share the link with can check that the credential is genuine.`,
	},
	French: {
		subject:  `Votre attestation {{.CredentialName}}`,
		hello:    `Bonjour {{if .FirstName}}{{.FirstName}}{{else}}{{.FullName}}{{end}},`,
		issued:   `{{if .IssuerName}}{{.IssuerName}} vous a délivré{{else}}Vous avez reçu{{end}} votre attestation %s.`,
		view:     "Consultez-la, téléchargez-la et partagez-la ici\u00a0:",
		button:   `Voir votre attestation`,
		issuedOn: `Délivrée le`,
		expires:  `Expire le`,
		genuine:  `Toute personne à qui vous transmettez ce lien peut vérifier que l’attestation est authentique.`,
	},
	German: {
		subject:  `Ihr Nachweis {{.CredentialName}}`,
		hello:    `Hallo {{if .FirstName}}{{.FirstName}}{{else}}{{.FullName}}{{end}},`,
		issued:   `{{if .IssuerName}}{{.IssuerName}} hat Ihnen Ihren Nachweis %s ausgestellt.{{else}}Ihnen wurde Ihr Nachweis %s ausgestellt.{{end}}`,
		view:     `Hier können Sie ihn ansehen, herunterladen und teilen:`,
		button:   `Nachweis ansehen`,
		issuedOn: `Ausgestellt am`,
		expires:  `Gültig bis`,
		genuine:  `Jede Person, mit der Sie den Link teilen, kann prüfen, dass der Nachweis echt ist.`,
	},
	Spanish: {
		subject:  `Su credencial {{.CredentialName}}`,
		hello:    `Hola, {{if .FirstName}}{{.FirstName}}{{else}}{{.FullName}}{{end}}:`,
		issued:   `{{if .IssuerName}}{{.IssuerName}} le ha emitido{{else}}Se le ha emitido{{end}} su credencial %s.`,
		view:     `Consúltela, descárguela y compártala aquí:`,
		button:   `Ver su credencial`,
		issuedOn: `Emitida el`,
		expires:  `Caduca el`,
		genuine:  `Cualquier persona con quien comparta el enlace puede comprobar que la credencial es auténtica.`,
	},
}

// Defaults returns the built-in subject, text and HTML templates of a locale (English for an
// unknown one). The text and the HTML body say the same thing.
func Defaults(l Locale) (subject, text, html string) {
	p, ok := builtin[l]
	if !ok {
		p, l = builtin[English], English
	}
	lang := string(l)
	colon := ": "
	if l == French {
		colon = "\u00a0: " // French typography: a (no-break) space before the colon
	}
	text = p.hello + `

` + strings.ReplaceAll(p.issued, "%s", "{{.CredentialName}}") + `

` + p.view + `
{{.CredentialURL}}

` + p.issuedOn + colon + `{{.IssueDate}}{{if .ExpiryDate}}
` + p.expires + colon + `{{.ExpiryDate}}{{end}}
{{- if .Attributes}}
{{range $name, $value := .Attributes}}{{if $value}}
{{$name}}: {{$value}}{{end}}{{end}}
{{- end}}

` + p.genuine + `
{{if .IssuerName}}
{{.IssuerName}}
{{end}}`
	html = `<!DOCTYPE html>
<html lang="` + lang + `">
<head><meta charset="utf-8"><title>` + p.subject + `</title></head>
<body style="font-family: Arial, Helvetica, sans-serif; color: #222; line-height: 1.5;">
<p>` + p.hello + `</p>
<p>` + strings.ReplaceAll(p.issued, "%s", "<strong>{{.CredentialName}}</strong>") + `</p>
<p>` + p.view + `<br><a href="{{.CredentialURL}}" style="display: inline-block; padding: 10px 18px; background: #1a5fb4; color: #fff; text-decoration: none; border-radius: 4px;">` + p.button + `</a></p>
<table style="border-collapse: collapse;">
<tr><td style="padding: 2px 12px 2px 0;">` + p.issuedOn + `</td><td>{{.IssueDate}}</td></tr>
{{- if .ExpiryDate}}
<tr><td style="padding: 2px 12px 2px 0;">` + p.expires + `</td><td>{{.ExpiryDate}}</td></tr>
{{- end}}
{{- range $name, $value := .Attributes}}{{if $value}}
<tr><td style="padding: 2px 12px 2px 0;">{{$name}}</td><td>{{$value}}</td></tr>
{{- end}}{{end}}
</table>
<p>` + p.genuine + `</p>
{{- if .IssuerName}}
<p>{{.IssuerName}}</p>
{{- end}}
</body>
</html>
`
	return p.subject, text, html
}
