package certificate_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/certificate"
	"github.com/credbatch/credbatch/shared/externaltest"
)

var view = certificate.View{Recipient: "Zoë Ångström-Łukasiewicz", Achievement: "Advanced First Aid",
	Description: "Completed the 16-hour course with practical assessment.", IssuerName: "Red Cross Training",
	Issued: "4 March 2025", Expires: "4 March 2027", Status: "valid", URL: "https://creds.example.org/credentials/3f9a0c1d2e4b5a6978c0d1e2f3a4b5c6",
	ID: "3f9a0c1d2e4b5a6978c0d1e2f3a4b5c6", Created: time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)}

// pdfText renders the view and reads it back with poppler's pdftotext.
func pdfText(t *testing.T, v certificate.View) string {
	t.Helper()
	tool := externaltest.Command(t, "pdftotext")
	data, err := certificate.PDF(v)
	if err != nil {
		t.Fatalf("PDF: %v", err)
	}
	p := filepath.Join(t.TempDir(), "certificate.pdf")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return externaltest.Run(t, tool, "-layout", p, "-")
}

func TestPDFReadsBack(t *testing.T) {
	revoked := view
	revoked.Status, revoked.StatusText = "revoked", "Revoked on 5 June 2025: issued in error."
	tests := []struct {
		name    string
		v       certificate.View
		want    []string
		notWant []string
	}{
		{"valid", view, []string{view.Recipient, view.Achievement, view.URL, "Issued 4 March 2025", "valid until 4 March 2027",
			"RED CROSS TRAINING CERTIFIES THAT", view.ID}, []string{"Revoked"}},
		{"revoked", revoked, []string{view.Recipient, "Revoked on 5 June 2025: issued in error."}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Join(strings.Fields(pdfText(t, tc.v)), " ")
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("pdftotext output lacks %q:\n%s", w, text)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(text, w) {
					t.Errorf("pdftotext output has %q:\n%s", w, text)
				}
			}
		})
	}
}

func TestPDFLongNames(t *testing.T) {
	v := view
	v.Recipient = strings.Repeat("Maximilian-Alexander ", 6)
	v.Achievement = strings.Repeat("Certificate of Advanced Professional Studies ", 3)
	v.Description = strings.Repeat("A long description of the achievement. ", 40)
	text := strings.Join(strings.Fields(pdfText(t, v)), " ")
	if !strings.Contains(text, strings.TrimSpace(v.Recipient)) || !strings.Contains(text, v.URL) {
		t.Errorf("long names: recipient or URL missing:\n%s", text)
	}
}

// TestBakedBadgeReadByPillow bakes a credential into the drawn badge and reads the iTXt chunk
// back with Pillow (a reader no one here wrote).
func TestBakedBadgeReadByPillow(t *testing.T) {
	py := externaltest.Python(t, "PIL")
	img, err := certificate.BadgeImage("https://example.org/badge.png", view.Achievement, view.IssuerName)
	if err != nil {
		t.Fatalf("BadgeImage: %v", err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil || cfg.Width != certificate.BadgeSize {
		t.Fatalf("drawn badge: %+v, %v", cfg, err)
	}
	const jwt = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImRpZDp3ZWI6ZXhhbXBsZS5vcmcja2V5LTEifQ.eyJ2YyI6Im5vbi1sYXRpbi3DqSJ9.c2ln"
	baked, err := certificate.Bake(img, jwt)
	if err != nil {
		t.Fatalf("Bake: %v", err)
	}
	// Baking again replaces the chunk: there is only ever one.
	if baked, err = certificate.Bake(baked, jwt); err != nil {
		t.Fatalf("Bake twice: %v", err)
	}
	p := filepath.Join(t.TempDir(), "badge.png")
	if err := os.WriteFile(p, baked, 0o600); err != nil {
		t.Fatal(err)
	}
	script := `import sys
from PIL import Image
im = Image.open(sys.argv[1]); im.load()
chunks = [k for k in im.text if k == "openbadgecredential"]
assert len(chunks) == 1, im.text.keys()
print(im.size[0], im.format)
sys.stdout.write(im.text["openbadgecredential"])`
	out := externaltest.Run(t, py, "-c", script, p)
	head, text, _ := strings.Cut(out, "\n")
	if head != "512 PNG" || text != jwt {
		t.Fatalf("Pillow read %q / %q; want 512 PNG and the credential", head, text)
	}
	if got, err := certificate.Extract(baked); err != nil || got != jwt {
		t.Fatalf("Extract: %q, %v", got, err)
	}
}

func TestBadgeImageFromDataURL(t *testing.T) {
	own, err := certificate.BadgeImage("", "X", "")
	if err != nil {
		t.Fatal(err)
	}
	url := "data:image/png;base64," + base64.StdEncoding.EncodeToString(own)
	got, err := certificate.BadgeImage(url, "Other", "Issuer")
	if err != nil || !bytes.Equal(got, own) {
		t.Fatalf("a PNG data: URL is used as it is (err %v)", err)
	}
	bad := "data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte("not a png"))
	if got, err := certificate.BadgeImage(bad, "Other", ""); err != nil || bytes.Equal(got, own) {
		t.Fatalf("a broken data: URL falls back to a drawn badge (err %v)", err)
	}
}

func TestBakeRefusesNonPNG(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty": nil, "jpeg": {0xff, 0xd8, 0xff, 0xe0}, "truncated": []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"),
	} {
		if _, err := certificate.Bake(data, "x"); !errors.Is(err, certificate.ErrNotPNG) {
			t.Errorf("%s: %v, want ErrNotPNG", name, err)
		}
	}
	img, _ := certificate.BadgeImage("", "X", "")
	if _, err := certificate.Extract(img); err == nil {
		t.Error("Extract of an unbaked badge: want an error")
	}
}
