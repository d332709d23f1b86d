package mail

import (
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		tmpl     credbatch.EmailTemplates
		attrs    []string
		wantErr  bool
		wantText string // in the error message
	}{
		{name: "defaults", tmpl: credbatch.EmailTemplates{}},
		{name: "defaults with attributes", tmpl: credbatch.EmailTemplates{}, attrs: []string{"grade", "hours"}},
		{name: "custom ok", tmpl: credbatch.EmailTemplates{
			Subject: "{{.FirstName}}, your {{.CredentialName}}",
			Text:    "Grade {{.Attributes.grade}} at {{.CredentialURL}}",
			HTML:    `<a href="{{.CredentialURL}}">{{.FullName}}</a> {{index .Attributes "grade"}}`,
		}, attrs: []string{"grade"}},
		{name: "unknown field", tmpl: credbatch.EmailTemplates{Text: "Hi {{.Nickname}}"}, wantErr: true, wantText: "text template"},
		{name: "unknown attribute", tmpl: credbatch.EmailTemplates{HTML: "<p>{{.Attributes.grade}}</p>"}, wantErr: true, wantText: "HTML template"},
		{name: "syntax error", tmpl: credbatch.EmailTemplates{Subject: "{{.FirstName"}, wantErr: true, wantText: "subject template"},
		{name: "subject with line break", tmpl: credbatch.EmailTemplates{Subject: "Hello\r\nBcc: x@example.com"}, wantErr: true, wantText: "single line"},
		{name: "unclosed action", tmpl: credbatch.EmailTemplates{Text: "{{if .FirstName}}hi"}, wantErr: true, wantText: "text template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.tmpl, tt.attrs...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Check() error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			if got := credbatch.ErrorKind(err); got != credbatch.KindInvalid {
				t.Errorf("kind = %q, want %q", got, credbatch.KindInvalid)
			}
			if got := credbatch.ErrorCode(err); got != CodeInvalidTemplate {
				t.Errorf("code = %q, want %q", got, CodeInvalidTemplate)
			}
			if got := credbatch.ErrorMessage(err); !strings.Contains(got, tt.wantText) {
				t.Errorf("message = %q, want it to contain %q", got, tt.wantText)
			}
		})
	}
}

func TestRenderDefaults(t *testing.T) {
	d := SampleData("grade")
	d.Attributes["grade"] = "A+ <distinction>"
	d.FullName = "Ada <b>Lovelace</b>"
	d.FirstName = "Ada & co"
	subject, text, html, err := Render(credbatch.EmailTemplates{}, d)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if want := "Your Analytical Engine Operator credential"; subject != want {
		t.Errorf("subject = %q, want %q", subject, want)
	}
	for _, want := range []string{"Hello Ada & co,", d.CredentialURL, "Example Academy", "Issued: 15 January 2026", "Expires: 15 January 2029", "grade: A+ <distinction>"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"Hello Ada &amp; co,", `href="` + d.CredentialURL + `"`, "A&#43; &lt;distinction&gt;", "15 January 2029"} {
		if !strings.Contains(html, want) {
			t.Errorf("html lacks %q:\n%s", want, html)
		}
	}
	if strings.Contains(html, "<distinction>") {
		t.Errorf("html contains an unescaped value:\n%s", html)
	}
}

func TestRenderNoExpiry(t *testing.T) {
	d := SampleData()
	d.ExpiryDate = ""
	d.FirstName = ""
	_, text, html, err := Render(credbatch.EmailTemplates{}, d)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	for name, body := range map[string]string{"text": text, "html": html} {
		if strings.Contains(body, "Expires") {
			t.Errorf("%s mentions an expiry for a credential without one:\n%s", name, body)
		}
		if !strings.Contains(body, "Hello Ada Lovelace,") {
			t.Errorf("%s does not fall back to the full name:\n%s", name, body)
		}
	}
}

func TestRenderCustom(t *testing.T) {
	tmpl := credbatch.EmailTemplates{
		Subject: "{{.FullName}} — {{.CredentialName}}",
		Text:    "id={{.CredentialID}} batch={{.BatchID}} missing=[{{.Attributes.nope}}]",
		HTML:    `<a href="{{.CredentialURL}}">go</a>`,
	}
	tests := []struct {
		name        string
		data        Data
		wantSubject string
		wantText    string
		wantHTML    string
	}{
		{
			name:        "plain",
			data:        Data{FullName: "Grace Hopper", CredentialName: "COBOL", CredentialID: "c1", BatchID: "b1", CredentialURL: "https://x.example/c/1"},
			wantSubject: "Grace Hopper — COBOL",
			wantText:    "id=c1 batch=b1 missing=[]",
			wantHTML:    `<a href="https://x.example/c/1">go</a>`,
		},
		{
			name:        "line breaks folded in subject",
			data:        Data{FullName: "Grace\r\nBcc: evil@example.com", CredentialName: "COBOL\t\n"},
			wantSubject: "Grace Bcc: evil@example.com — COBOL",
			wantText:    "id= batch= missing=[]",
			wantHTML:    `<a href="">go</a>`,
		},
		{
			name:        "unsafe URL neutralised",
			data:        Data{CredentialURL: "javascript:alert(1)"},
			wantSubject: "—",
			wantText:    "id= batch= missing=[]",
			wantHTML:    `<a href="#ZgotmplZ">go</a>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subject, text, html, err := Render(tmpl, tt.data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if subject != tt.wantSubject {
				t.Errorf("subject = %q, want %q", subject, tt.wantSubject)
			}
			if text != tt.wantText {
				t.Errorf("text = %q, want %q", text, tt.wantText)
			}
			if html != tt.wantHTML {
				t.Errorf("html = %q, want %q", html, tt.wantHTML)
			}
		})
	}
}

func TestRenderInvalidTemplate(t *testing.T) {
	_, _, _, err := Render(credbatch.EmailTemplates{Text: "{{.Nope}}"}, SampleData())
	if got := credbatch.ErrorCode(err); got != CodeInvalidTemplate {
		t.Fatalf("code = %q (err %v), want %q", got, err, CodeInvalidTemplate)
	}
}

func TestFoldSubject(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"  a \r\n b\tc  ", "a b c"},
		{"x\u2028y\x00z", "x y z"},
		{"\n", ""},
	}
	for _, tt := range tests {
		if got := FoldSubject(tt.in); got != tt.want {
			t.Errorf("FoldSubject(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
