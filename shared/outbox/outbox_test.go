package outbox

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// part is one decoded leaf of a parsed message.
type part struct {
	contentType string
	filename    string
	body        string
}

// readEML parses a file back with net/mail and mime/multipart.
func readEML(t *testing.T, path string) (mail.Header, []part) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return msg.Header, leaves(t, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), "", msg.Body)
}

func leaves(t *testing.T, ctype, cte, filename string, r io.Reader) []part {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("content type %q: %v", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		var out []part
		mr := multipart.NewReader(r, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatalf("next part: %v", err)
			}
			out = append(out, leaves(t, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p.FileName(), p)...)
		}
	}
	if cte == "quoted-printable" { // only at the top level: multipart.Part decodes it itself
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s part: %v", mt, err)
	}
	if cte == "base64" {
		if b, err = base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(b))); err != nil {
			t.Fatalf("decode base64: %v", err)
		}
	}
	return []part{{contentType: mt, filename: filename, body: strings.ReplaceAll(string(b), "\r\n", "\n")}}
}

// emlFiles lists the directory, failing on anything but .eml files (no temp files left).
func emlFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read dir: %v", err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") || strings.HasPrefix(e.Name(), ".") {
			t.Errorf("unexpected file %q in the outbox", e.Name())
			continue
		}
		names = append(names, e.Name())
	}
	return names
}

func TestSend(t *testing.T) {
	pdf := []byte("%PDF-1.7\x00\x01\x02\xff binary")
	tests := []struct {
		name      string
		msg       credbatch.Message
		wantFrom  string
		wantTop   string
		wantParts []part
	}{
		{
			name: "text and html with encoded subject",
			msg: credbatch.Message{To: []string{"José Núñez <jose@example.com>"}, Subject: "Tu credencial «Seguridad» está lista",
				Text: "Hola José\nhttps://example.com/c/1\n", HTML: "<p>Hola José</p>"},
			wantFrom: "noreply@example.com",
			wantTop:  "multipart/alternative",
			wantParts: []part{
				{contentType: "text/plain", body: "Hola José\nhttps://example.com/c/1\n"},
				{contentType: "text/html", body: "<p>Hola José</p>"},
			},
		},
		{
			name: "attachments",
			msg: credbatch.Message{From: "Reports <reports@example.com>", To: []string{"admin@example.com"}, Subject: "Delivery report",
				Text: "See attached.", HTML: "<p>See attached.</p>",
				Attachments: []credbatch.Attachment{
					{Filename: "report.pdf", ContentType: "application/pdf", Data: pdf},
					{Filename: "failed recipients.xlsx", ContentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Data: []byte("PK\x03\x04")},
				}},
			wantFrom: "reports@example.com",
			wantTop:  "multipart/mixed",
			wantParts: []part{
				{contentType: "text/plain", body: "See attached."},
				{contentType: "text/html", body: "<p>See attached.</p>"},
				{contentType: "application/pdf", filename: "report.pdf", body: string(pdf)},
				{contentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", filename: "failed recipients.xlsx", body: "PK\x03\x04"},
			},
		},
		{
			name:      "text only",
			msg:       credbatch.Message{To: []string{"a@example.com"}, Subject: "plain", Text: "just text"},
			wantFrom:  "noreply@example.com",
			wantTop:   "text/plain",
			wantParts: []part{{contentType: "text/plain", body: "just text"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			now := time.Date(2026, 11, 22, 10, 30, 0, 123456789, time.UTC)
			var hooked []string
			o, err := New(filepath.Join(dir, "outbox"), Options{
				From: "noreply@example.com",
				Now:  func() time.Time { return now },
				IDs:  func() string { return "abc123" },
				OnSend: func(_ context.Context, m credbatch.Message, id string) {
					hooked = append(hooked, m.To[0]+" "+id)
				},
			})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			id, err := o.Send(context.Background(), tt.msg)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if want := "abc123@credbatch.local"; id != want {
				t.Errorf("id = %q, want %q", id, want)
			}
			if want := []string{tt.msg.To[0] + " " + id}; fmt.Sprint(hooked) != fmt.Sprint(want) {
				t.Errorf("OnSend calls = %q, want %q", hooked, want)
			}
			files := emlFiles(t, o.Dir())
			if want := "20261122T103000.123456789Z_abc123.eml"; len(files) != 1 || files[0] != want {
				t.Fatalf("files = %q, want [%s]", files, want)
			}
			h, parts := readEML(t, filepath.Join(o.Dir(), files[0]))
			subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
			if err != nil || subject != tt.msg.Subject {
				t.Errorf("subject = %q (%v), want %q", subject, err, tt.msg.Subject)
			}
			if got := h.Get("Message-Id"); got != "<"+id+">" {
				t.Errorf("Message-ID = %q, want <%s>", got, id)
			}
			if got, err := h.Date(); err != nil || !got.Equal(now.Truncate(time.Second)) {
				t.Errorf("Date = %v (%v), want %v", got, err, now.Truncate(time.Second))
			}
			from, err := h.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Address != tt.wantFrom {
				t.Errorf("From = %v (%v), want %s", from, err, tt.wantFrom)
			}
			to, err := h.AddressList("To")
			wantTo, _ := mail.ParseAddress(tt.msg.To[0])
			if err != nil || len(to) != 1 || *to[0] != *wantTo {
				t.Errorf("To = %v (%v), want %v", to, err, wantTo)
			}
			if top, _, _ := mime.ParseMediaType(h.Get("Content-Type")); top != tt.wantTop {
				t.Errorf("Content-Type = %q, want %s", top, tt.wantTop)
			}
			if fmt.Sprintf("%q", parts) != fmt.Sprintf("%q", tt.wantParts) {
				t.Errorf("parts = %q\nwant    %q", parts, tt.wantParts)
			}
		})
	}
}

func TestSendConcurrentSortable(t *testing.T) {
	o, err := New(t.TempDir(), Options{From: "noreply@example.com"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	const n = 20
	var wg sync.WaitGroup
	ids := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			id, err := o.Send(context.Background(), credbatch.Message{To: []string{fmt.Sprintf("r%d@example.com", i)}, Subject: "s", Text: "t"})
			if err != nil {
				t.Errorf("Send: %v", err)
			}
			ids <- id
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	files := emlFiles(t, o.Dir())
	if len(files) != n || len(seen) != n {
		t.Fatalf("got %d files and %d ids, want %d", len(files), len(seen), n)
	}
	// Names sort by time: the timestamps parse and are non-decreasing in name order.
	sort.Strings(files)
	var prev time.Time
	for _, f := range files {
		ts, _, _ := strings.Cut(f, "_")
		got, err := time.Parse("20060102T150405.000000000Z", ts)
		if err != nil {
			t.Fatalf("file %q: timestamp: %v", f, err)
		}
		if got.Before(prev) {
			t.Errorf("file %q sorts after a later one", f)
		}
		prev = got
	}
	// Message ids match the file names.
	for id := range seen {
		random := strings.TrimSuffix(id, "@"+Domain)
		matches, _ := filepath.Glob(filepath.Join(o.Dir(), "*_"+random+".eml"))
		if len(matches) != 1 {
			t.Errorf("id %s: files %q", id, matches)
		}
	}
}

func TestSendRefuses(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		ctx      context.Context
		msg      credbatch.Message
		wantKind credbatch.Kind
	}{
		{name: "subject CRLF", msg: credbatch.Message{To: []string{"a@example.com"}, Subject: "x\r\nBcc: evil@example.com", Text: "t"}, wantKind: credbatch.KindInvalid},
		{name: "to LF", msg: credbatch.Message{To: []string{"a@example.com\nBcc: evil@example.com"}, Subject: "s", Text: "t"}, wantKind: credbatch.KindInvalid},
		{name: "no recipient", msg: credbatch.Message{Subject: "s", Text: "t"}, wantKind: credbatch.KindInvalid},
		{name: "bad address", msg: credbatch.Message{To: []string{"nobody"}, Subject: "s", Text: "t"}, wantKind: credbatch.KindInvalid},
		{name: "cancelled", ctx: cancelled, msg: credbatch.Message{To: []string{"a@example.com"}, Subject: "s", Text: "t"}, wantKind: credbatch.KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			o, err := New(t.TempDir(), Options{From: "noreply@example.com", OnSend: func(context.Context, credbatch.Message, string) { called = true }})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			_, err = o.Send(ctx, tt.msg)
			if got := credbatch.ErrorKind(err); got != tt.wantKind {
				t.Fatalf("kind = %q (err %v), want %q", got, err, tt.wantKind)
			}
			if files := emlFiles(t, o.Dir()); len(files) != 0 {
				t.Errorf("files written for a refused message: %q", files)
			}
			if called {
				t.Error("OnSend called for a refused message")
			}
		})
	}
}

func TestSendUnwritable(t *testing.T) {
	dir := t.TempDir()
	o, err := New(filepath.Join(dir, "out"), Options{From: "noreply@example.com"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := os.RemoveAll(o.Dir()); err != nil {
		t.Fatal(err)
	}
	_, err = o.Send(context.Background(), credbatch.Message{To: []string{"a@example.com"}, Subject: "s", Text: "t"})
	if got := credbatch.ErrorKind(err); got != credbatch.KindUnavailable {
		t.Fatalf("kind = %q (err %v), want unavailable", got, err)
	}
}
