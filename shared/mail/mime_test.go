package mail

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// part is one leaf of a parsed message.
type part struct {
	contentType string
	filename    string
	body        string
}

// parseMessage parses raw back with net/mail and mime/multipart, returning the header and
// the decoded leaf parts in order.
func parseMessage(t *testing.T, raw []byte) (mail.Header, []part) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, raw)
	}
	parts := readParts(t, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), "", msg.Body)
	return msg.Header, parts
}

func readParts(t *testing.T, ctype, cte, filename string, body io.Reader) []part {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("content type %q: %v", ctype, err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		if cte == "quoted-printable" {
			// multipart.Part decodes quoted-printable itself; only the top level needs it.
			body = quotedPrintableReader(body)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatalf("read part %s: %v", mt, err)
		}
		if cte == "base64" {
			b = decodeBase64(t, b)
		}
		return []part{{contentType: mt, filename: filename, body: string(b)}}
	}
	var out []part
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("next part of %s: %v", mt, err)
		}
		// multipart.Part removes the quoted-printable header after decoding.
		out = append(out, readParts(t, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p.FileName(), p)...)
	}
}

func testMessage() credbatch.Message {
	return credbatch.Message{
		From:    "Example Academy <noreply@example.com>",
		To:      []string{"Zoë Ünicode <zoe@example.com>"},
		ReplyTo: "help@example.com",
		Subject: "Votre certificat « Sécurité » est prêt — a long subject that needs more than one encoded word to fit",
		Text:    "Bonjour Zoë,\nvoici votre lien: https://example.com/c/" + strings.Repeat("x", 100) + "\n",
		HTML:    "<p>Bonjour Zoë, <a href=\"https://example.com/c/1\">voir</a></p>",
	}
}

func TestBuildMIME(t *testing.T) {
	date := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	xlsx := bytes.Repeat([]byte{0, 1, 2, 0xff, 'P', 'K'}, 100)
	tests := []struct {
		name      string
		mutate    func(*credbatch.Message)
		wantTop   string
		wantParts []part
	}{
		{
			name:    "text and html",
			wantTop: "multipart/alternative",
			wantParts: []part{
				{contentType: "text/plain", body: testMessage().Text},
				{contentType: "text/html", body: testMessage().HTML},
			},
		},
		{
			name:      "text only",
			mutate:    func(m *credbatch.Message) { m.HTML = "" },
			wantTop:   "text/plain",
			wantParts: []part{{contentType: "text/plain", body: testMessage().Text}},
		},
		{
			name: "with attachments",
			mutate: func(m *credbatch.Message) {
				m.Attachments = []credbatch.Attachment{
					{Filename: "report.xlsx", ContentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Data: xlsx},
					{Filename: "résumé.txt", Data: []byte("hello")},
				}
			},
			wantTop: "multipart/mixed",
			wantParts: []part{
				{contentType: "text/plain", body: testMessage().Text},
				{contentType: "text/html", body: testMessage().HTML},
				{contentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", filename: "report.xlsx", body: string(xlsx)},
				{contentType: "application/octet-stream", filename: "résumé.txt", body: "hello"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage()
			if tt.mutate != nil {
				tt.mutate(&m)
			}
			raw, err := BuildMIME(m, "abc123@credbatch.local", date)
			if err != nil {
				t.Fatalf("BuildMIME: %v", err)
			}
			assertLines(t, raw)
			h, parts := parseMessage(t, raw)
			dec := new(mime.WordDecoder)
			subject, err := dec.DecodeHeader(h.Get("Subject"))
			if err != nil {
				t.Fatalf("decode subject: %v", err)
			}
			if subject != m.Subject {
				t.Errorf("subject = %q, want %q", subject, m.Subject)
			}
			if got, err := h.Date(); err != nil || !got.Equal(date) {
				t.Errorf("date = %v (%v), want %v", got, err, date)
			}
			if got := h.Get("Message-Id"); got != "<abc123@credbatch.local>" {
				t.Errorf("Message-ID = %q", got)
			}
			if got := h.Get("Mime-Version"); got != "1.0" {
				t.Errorf("MIME-Version = %q", got)
			}
			to, err := h.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Address != "zoe@example.com" || to[0].Name != "Zoë Ünicode" {
				t.Errorf("To = %v (%v)", to, err)
			}
			from, err := h.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Address != "noreply@example.com" {
				t.Errorf("From = %v (%v)", from, err)
			}
			if got := h.Get("Reply-To"); got != "help@example.com" {
				t.Errorf("Reply-To = %q", got)
			}
			top, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
			if top != tt.wantTop {
				t.Errorf("top content type = %q, want %q", top, tt.wantTop)
			}
			if len(parts) != len(tt.wantParts) {
				t.Fatalf("got %d parts, want %d: %+v", len(parts), len(tt.wantParts), parts)
			}
			for i, want := range tt.wantParts {
				got := parts[i]
				// Quoted-printable turns LF into CRLF; compare normalised text.
				got.body = strings.ReplaceAll(got.body, "\r\n", "\n")
				if got != want {
					t.Errorf("part %d = %+v\nwant %+v", i, got, want)
				}
			}
		})
	}
}

// assertLines checks that every line ends with CRLF and header lines stay short.
func assertLines(t *testing.T, raw []byte) {
	t.Helper()
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(head), "\r\n") {
		if strings.ContainsAny(line, "\r\n") {
			t.Errorf("bare CR or LF in header line %q", line)
		}
		if len(line) > 998 {
			t.Errorf("header line of %d characters", len(line))
		}
	}
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("message contains a bare LF")
	}
}

func TestBuildMIMERefuses(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*credbatch.Message)
		id     string
	}{
		{name: "subject CRLF", mutate: func(m *credbatch.Message) { m.Subject = "hi\r\nBcc: x@example.com" }},
		{name: "subject LF", mutate: func(m *credbatch.Message) { m.Subject = "hi\nthere" }},
		{name: "to CRLF", mutate: func(m *credbatch.Message) { m.To = []string{"a@example.com\r\nBcc: x@example.com"} }},
		{name: "from CR", mutate: func(m *credbatch.Message) { m.From = "a@example.com\r" }},
		{name: "reply-to LF", mutate: func(m *credbatch.Message) { m.ReplyTo = "a@example.com\nX: y" }},
		{name: "bad address", mutate: func(m *credbatch.Message) { m.To = []string{"not an address"} }},
		{name: "no recipient", mutate: func(m *credbatch.Message) { m.To = nil }},
		{name: "no from", mutate: func(m *credbatch.Message) { m.From = "" }},
		{name: "no body", mutate: func(m *credbatch.Message) { m.Text, m.HTML = "", "" }},
		{name: "attachment name CRLF", mutate: func(m *credbatch.Message) {
			m.Attachments = []credbatch.Attachment{{Filename: "a\r\nb.txt", Data: []byte("x")}}
		}},
		{name: "attachment without name", mutate: func(m *credbatch.Message) {
			m.Attachments = []credbatch.Attachment{{Data: []byte("x")}}
		}},
		{name: "attachment bad type", mutate: func(m *credbatch.Message) {
			m.Attachments = []credbatch.Attachment{{Filename: "a", ContentType: "///", Data: []byte("x")}}
		}},
		{name: "message id CRLF", id: "a@b\r\nX: y"},
		{name: "message id without domain", id: "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage()
			if tt.mutate != nil {
				tt.mutate(&m)
			}
			id := tt.id
			if id == "" {
				id = "ok@credbatch.local"
			}
			_, err := BuildMIME(m, id, time.Now())
			if got := credbatch.ErrorKind(err); got != credbatch.KindInvalid {
				t.Fatalf("kind = %q (err %v), want %q", got, err, credbatch.KindInvalid)
			}
			if got := credbatch.ErrorCode(err); got != CodeInvalidMessage {
				t.Errorf("code = %q, want %q", got, CodeInvalidMessage)
			}
		})
	}
}

func TestValidateNormalizesAddresses(t *testing.T) {
	tests := []struct {
		name        string
		msg         credbatch.Message
		wantFrom    string
		wantTo      []string
		wantReplyTo string
	}{
		{
			name:     "bare addresses",
			msg:      credbatch.Message{From: "noreply@example.com", To: []string{" ada@example.com "}, Text: "t"},
			wantFrom: "noreply@example.com", wantTo: []string{"ada@example.com"},
		},
		{
			name:     "display names",
			msg:      credbatch.Message{From: "Académie <noreply@example.com>", To: []string{`"Lovelace, Ada" <ada@example.com>`}, ReplyTo: "Help <help@example.com>", Text: "t"},
			wantFrom: "=?utf-8?q?Acad=C3=A9mie?= <noreply@example.com>", wantTo: []string{`"Lovelace, Ada" <ada@example.com>`}, wantReplyTo: `"Help" <help@example.com>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Validate(tt.msg)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got.From != tt.wantFrom || strings.Join(got.To, "|") != strings.Join(tt.wantTo, "|") || got.ReplyTo != tt.wantReplyTo {
				t.Errorf("got From %q To %q Reply-To %q, want %q %q %q", got.From, got.To, got.ReplyTo, tt.wantFrom, tt.wantTo, tt.wantReplyTo)
			}
		})
	}
}
