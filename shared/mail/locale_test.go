package mail

import (
	"bytes"
	"html"
	netmail "net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

func TestLocaleDate(t *testing.T) {
	tests := []struct {
		l    Locale
		in   string
		want string
	}{
		{English, "2026-01-15", "15 January 2026"},
		{French, "2026-01-15", "15 janvier 2026"},
		{French, "2026-08-01", "1er août 2026"},
		{German, "2026-03-02", "2. März 2026"},
		{Spanish, "2026-12-31", "31 de diciembre de 2026"},
		{"", "2026-01-15", "15 January 2026"},
		{English, "2 years", "2 years"},
		{English, "", ""},
	}
	for _, tc := range tests {
		if got := tc.l.Date(tc.in); got != tc.want {
			t.Errorf("%q.Date(%q) = %q; want %q", tc.l, tc.in, got, tc.want)
		}
	}
}

func TestPick(t *testing.T) {
	tests := []struct {
		choices []string
		want    Locale
	}{
		{[]string{"", "xx", "de", "fr"}, German}, {[]string{"FR-ca"}, French}, {[]string{"Español"}, Spanish},
		{[]string{"de_AT", "en"}, German}, {[]string{"it"}, DefaultLocale}, {nil, DefaultLocale},
	}
	for _, tc := range tests {
		if got := Pick(tc.choices...); got != tc.want {
			t.Errorf("Pick(%q) = %q; want %q", tc.choices, got, tc.want)
		}
	}
	if len(Locales) != len(credbatch.Locales) {
		t.Fatalf("mail.Locales %q, credbatch.Locales %q", Locales, credbatch.Locales)
	}
	for i, l := range Locales {
		if string(l) != credbatch.Locales[i] {
			t.Errorf("mail.Locales %q, credbatch.Locales %q", Locales, credbatch.Locales)
		}
		if _, ok := builtin[l]; !ok {
			t.Errorf("no built-in texts for %s", l)
		}
	}
}

var (
	blockRE = regexp.MustCompile(`</?(td|tr|p|br|table|title|head|body|html|h\d|li|ul)\b[^>]*>`)
	tagRE   = regexp.MustCompile(`<[^>]*>`)
)

// words reduces text to comparable words: no tags, entities decoded, no colons, one space.
func words(s string) string {
	s = html.UnescapeString(tagRE.ReplaceAllString(blockRE.ReplaceAllString(s, " "), ""))
	return strings.Join(strings.Fields(strings.ReplaceAll(s, ":", " ")), " ")
}

// TestBuiltinTextsPerLocale: each locale's built-in email is in its language, with dates in
// words, and its HTML part says everything its text part says.
func TestBuiltinTextsPerLocale(t *testing.T) {
	tests := []struct {
		l                 Locale
		subject, greeting string
		date              string
	}{
		{English, "Your Analytical Engine Operator credential", "Hello Ada,", "15 January 2026"},
		{French, "Votre attestation Analytical Engine Operator", "Bonjour Ada,", "15 janvier 2026"},
		{German, "Ihr Nachweis Analytical Engine Operator", "Hallo Ada,", "15. Januar 2026"},
		{Spanish, "Su credencial Analytical Engine Operator", "Hola, Ada:", "15 de enero de 2026"},
	}
	for _, tc := range tests {
		t.Run(string(tc.l), func(t *testing.T) {
			d := SampleData("Grade")
			d.Locale, d.IssueDate, d.ExpiryDate = tc.l, tc.l.Date("2026-01-15"), tc.l.Date("2029-01-15")
			subject, text, htmlBody, err := Render(credbatch.EmailTemplates{}, d)
			if err != nil {
				t.Fatal(err)
			}
			if subject != tc.subject || !strings.HasPrefix(text, tc.greeting) || !strings.Contains(text, tc.date) {
				t.Errorf("subject %q, text:\n%s\nwant %q, %q and %q", subject, text, tc.subject, tc.greeting, tc.date)
			}
			if !strings.Contains(htmlBody, `<html lang="`+string(tc.l)+`">`) {
				t.Errorf("HTML is not marked as %s", tc.l)
			}
			h := words(htmlBody)
			for _, line := range strings.Split(text, "\n") {
				line = strings.TrimSpace(line)
				if line == "" || line == d.CredentialURL {
					continue
				}
				if !strings.Contains(h, words(line)) {
					t.Errorf("the HTML part does not say %q:\n%s", line, h)
				}
			}
			if !strings.Contains(htmlBody, `href="`+d.CredentialURL+`"`) {
				t.Errorf("the HTML part does not link the credential")
			}
		})
	}
}

// TestUnsubscribeHeaders: a notification's one-click link becomes List-Unsubscribe and
// List-Unsubscribe-Post (RFC 8058) in the MIME message; a link that is not http(s) is refused.
func TestUnsubscribeHeaders(t *testing.T) {
	m := credbatch.Message{From: "noreply@example.org", To: []string{"ann@example.org"}, Subject: "s", Text: "t",
		Unsubscribe: "https://creds.example.org/unsubscribe/abc"}
	raw, err := BuildMIME(m, "x@credbatch.local", time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := parsed.Header.Get("List-Unsubscribe"); got != "<https://creds.example.org/unsubscribe/abc>" {
		t.Errorf("List-Unsubscribe %q", got)
	}
	if got := parsed.Header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post %q", got)
	}
	m.Unsubscribe = ""
	raw, _ = BuildMIME(m, "x@credbatch.local", time.Now())
	if bytes.Contains(raw, []byte("List-Unsubscribe")) {
		t.Error("a message without a link has List-Unsubscribe")
	}
	for _, bad := range []string{"mailto:x@example.org", "https://x/\r\nBcc: y@example.org", "javascript:alert(1)"} {
		m.Unsubscribe = bad
		if _, err := Validate(m); !credbatch.IsKind(err, credbatch.KindInvalid) {
			t.Errorf("link %q: %v; want invalid", bad, err)
		}
	}
}
