package mail

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// CodeInvalidMessage is the error code of a message that cannot be sent as it is (a header
// with a line break, an unparsable address, no recipient, no body).
const CodeInvalidMessage = "invalid_message"

func invalidMessage(format string, args ...any) error {
	return credbatch.E(credbatch.KindInvalid, CodeInvalidMessage, fmt.Sprintf(format, args...))
}

// Validate checks what every mailer needs of a message: a sender, at least one recipient,
// parsable addresses, headers without CR/LF, a body, and attachments with a file name. It
// returns the message with its addresses in canonical RFC 5322 form (display names RFC 2047
// encoded when not ASCII), as SES expects them. Errors are KindInvalid with code
// CodeInvalidMessage.
func Validate(m credbatch.Message) (credbatch.Message, error) {
	h, err := headers(m)
	if err != nil {
		return m, err
	}
	m.From, m.To, m.ReplyTo = h.from, h.to, h.replyTo
	return m, nil
}

// parsedHeaders are a message's validated, formatted address headers.
type parsedHeaders struct {
	from    string
	to      []string
	replyTo string
}

func address(field, s string) (string, error) {
	if strings.ContainsAny(s, "\r\n") {
		return "", invalidMessage("the %s address contains a line break", field)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", invalidMessage("the %s address %q is not a valid email address", field, s)
	}
	if a.Name == "" {
		return a.Address, nil
	}
	return a.String(), nil
}

func headers(m credbatch.Message) (parsedHeaders, error) {
	var h parsedHeaders
	var err error
	if m.From == "" {
		return h, invalidMessage("the message has no From address")
	}
	if h.from, err = address("From", m.From); err != nil {
		return h, err
	}
	if len(m.To) == 0 {
		return h, invalidMessage("the message has no recipient")
	}
	for _, to := range m.To {
		a, err := address("To", to)
		if err != nil {
			return h, err
		}
		h.to = append(h.to, a)
	}
	if m.ReplyTo != "" {
		if h.replyTo, err = address("Reply-To", m.ReplyTo); err != nil {
			return h, err
		}
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return h, invalidMessage("the subject contains a line break")
	}
	if m.Text == "" && m.HTML == "" {
		return h, invalidMessage("the message has no text or HTML body")
	}
	if u := m.Unsubscribe; u != "" && (!strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") || strings.ContainsAny(u, "\r\n<> ")) {
		return h, invalidMessage("the unsubscribe link %q is not an http(s) URL", u)
	}
	for i, a := range m.Attachments {
		if strings.TrimSpace(a.Filename) == "" {
			return h, invalidMessage("attachment %d has no file name", i+1)
		}
		if strings.ContainsAny(a.Filename+a.ContentType, "\r\n") {
			return h, invalidMessage("attachment %q has a line break in its name or type", a.Filename)
		}
		if a.ContentType != "" {
			if _, _, err := mime.ParseMediaType(a.ContentType); err != nil {
				return h, invalidMessage("attachment %q has an invalid content type %q", a.Filename, a.ContentType)
			}
		}
	}
	return h, nil
}

// BuildMIME returns the message as an RFC 5322 document with CRLF line endings: Date, From,
// To, Reply-To, Subject (RFC 2047 encoded when not ASCII), Message-ID and MIME-Version
// headers; a multipart/alternative text and HTML body (quoted-printable), wrapped in
// multipart/mixed with base64 attachments when there are any. messageID may be given with or
// without angle brackets. Errors are KindInvalid with code CodeInvalidMessage.
func BuildMIME(m credbatch.Message, messageID string, date time.Time) ([]byte, error) {
	h, err := headers(m)
	if err != nil {
		return nil, err
	}
	messageID = strings.TrimSuffix(strings.TrimPrefix(messageID, "<"), ">")
	if messageID == "" || strings.ContainsAny(messageID, "\r\n<> \t") || !strings.Contains(messageID, "@") {
		return nil, invalidMessage("the message id %q is not of the form local@domain", messageID)
	}

	var b bytes.Buffer
	writeHeader(&b, "Date", date.Format(time.RFC1123Z))
	writeHeader(&b, "From", h.from)
	writeHeader(&b, "To", strings.Join(h.to, ", "))
	if h.replyTo != "" {
		writeHeader(&b, "Reply-To", h.replyTo)
	}
	writeHeader(&b, "Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	writeHeader(&b, "Message-ID", "<"+messageID+">")
	for _, uh := range UnsubscribeHeaders(m) {
		writeHeader(&b, uh[0], uh[1])
	}
	writeHeader(&b, "MIME-Version", "1.0")

	bodyHeader, body, err := bodyPart(m)
	if err != nil {
		return nil, fmt.Errorf("build message body: %w", err)
	}
	if len(m.Attachments) == 0 {
		writeMIMEHeader(&b, bodyHeader)
		b.WriteString("\r\n")
		b.Write(body)
		return b.Bytes(), nil
	}
	mw := multipart.NewWriter(&b)
	writeHeader(&b, "Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	pw, err := mw.CreatePart(bodyHeader)
	if err != nil {
		return nil, fmt.Errorf("build message body: %w", err)
	}
	if _, err := pw.Write(body); err != nil {
		return nil, fmt.Errorf("build message body: %w", err)
	}
	for _, a := range m.Attachments {
		if err := writeAttachment(mw, a); err != nil {
			return nil, fmt.Errorf("attach %s: %w", a.Filename, err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("close multipart: %w", err)
	}
	return b.Bytes(), nil
}

// UnsubscribeHeaders are the one-click unsubscribe headers of a message with an Unsubscribe
// link (RFC 2369 List-Unsubscribe, RFC 8058 List-Unsubscribe-Post), as name/value pairs;
// none without one.
func UnsubscribeHeaders(m credbatch.Message) [][2]string {
	if m.Unsubscribe == "" {
		return nil
	}
	return [][2]string{{"List-Unsubscribe", "<" + m.Unsubscribe + ">"}, {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}}
}

// bodyPart returns the headers and content of the message body: a single quoted-printable
// text or HTML part, or multipart/alternative with both.
func bodyPart(m credbatch.Message) (textproto.MIMEHeader, []byte, error) {
	switch {
	case m.HTML == "":
		return qpPart("text/plain; charset=utf-8", m.Text)
	case m.Text == "":
		return qpPart("text/html; charset=utf-8", m.HTML)
	}
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, ctype := range []string{"text/plain; charset=utf-8", "text/html; charset=utf-8"} {
		content := m.Text
		if strings.HasPrefix(ctype, "text/html") {
			content = m.HTML
		}
		h, body, err := qpPart(ctype, content)
		if err != nil {
			return nil, nil, err
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			return nil, nil, err
		}
		if _, err := pw.Write(body); err != nil {
			return nil, nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, nil, err
	}
	h := textproto.MIMEHeader{"Content-Type": {mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()})}}
	return h, b.Bytes(), nil
}

func qpPart(ctype, content string) (textproto.MIMEHeader, []byte, error) {
	var b bytes.Buffer
	q := quotedprintable.NewWriter(&b)
	if _, err := q.Write([]byte(content)); err != nil {
		return nil, nil, err
	}
	if err := q.Close(); err != nil {
		return nil, nil, err
	}
	h := textproto.MIMEHeader{"Content-Type": {ctype}, "Content-Transfer-Encoding": {"quoted-printable"}}
	return h, b.Bytes(), nil
}

// writeMIMEHeader writes a part header in a stable order.
func writeMIMEHeader(b *bytes.Buffer, h textproto.MIMEHeader) {
	for _, k := range []string{"Content-Type", "Content-Transfer-Encoding"} {
		for _, v := range h[k] {
			writeHeader(b, k, v)
		}
	}
}

func writeAttachment(mw *multipart.Writer, a credbatch.Attachment) error {
	ctype := a.ContentType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return invalidMessage("attachment %q has an invalid content type %q", a.Filename, ctype)
	}
	params["name"] = a.Filename
	pw, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {mime.FormatMediaType(mt, params)},
		"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": a.Filename})},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return err
	}
	enc := base64.StdEncoding.EncodeToString(a.Data)
	for len(enc) > 76 {
		if _, err := pw.Write([]byte(enc[:76] + "\r\n")); err != nil {
			return err
		}
		enc = enc[76:]
	}
	_, err = pw.Write([]byte(enc + "\r\n"))
	return err
}

// writeHeader writes "Name: value" folded at spaces so that lines stay within 78 characters
// where the value allows it.
func writeHeader(b *bytes.Buffer, name, value string) {
	line := name + ":"
	for _, word := range strings.Split(value, " ") {
		if len(line)+1+len(word) > 78 && strings.TrimSpace(line) != name+":" {
			b.WriteString(line)
			b.WriteString("\r\n")
			line = ""
		}
		line += " " + word
	}
	b.WriteString(line)
	b.WriteString("\r\n")
}
