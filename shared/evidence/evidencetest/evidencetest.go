// Package evidencetest makes real evidence files with tools credbatch did not write: PNG and JPEG from Python Pillow, PDF from LibreOffice.
package evidencetest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/credbatch/credbatch/shared/externaltest"
)

// Files are real evidence files: PNG and JPEG images saved by Pillow, a PDF exported by
// LibreOffice (headless, from a text document).
type Files struct {
	PNG, JPEG, PDF []byte
}

// pillowScript draws a small picture and saves it as PNG and JPEG into the directory argv[1].
const pillowScript = `
import sys
from PIL import Image, ImageDraw
img = Image.new("RGB", (64, 48), (20, 90, 160))
d = ImageDraw.Draw(img)
d.rectangle((8, 8, 40, 30), fill=(240, 200, 40))
d.text((10, 32), "ok", fill=(255, 255, 255))
img.save(sys.argv[1] + "/site.png", "PNG")
img.save(sys.argv[1] + "/site.jpg", "JPEG", quality=85)
`

// Make makes the files in a temporary directory (Pillow from the test venv, soffice from
// PATH; missing tools skip the test, or fail it under CI=true).
func Make(tb testing.TB) Files {
	tb.Helper()
	py := externaltest.Python(tb, "PIL")
	soffice := externaltest.Command(tb, "soffice")
	dir := tb.TempDir()
	externaltest.Run(tb, py, "-c", pillowScript, dir)
	src := filepath.Join(dir, "report.txt")
	if err := os.WriteFile(src, []byte("Site induction\n\nObserved on site, 2 November 2026.\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	// A profile of its own, so that concurrent LibreOffice runs do not share (and lock) one.
	externaltest.Run(tb, soffice, "-env:UserInstallation=file://"+filepath.Join(dir, "profile"),
		"--headless", "--convert-to", "pdf", "--outdir", dir, src)
	return Files{PNG: read(tb, dir, "site.png"), JPEG: read(tb, dir, "site.jpg"), PDF: read(tb, dir, "report.pdf")}
}

func read(tb testing.TB, dir, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatalf("the tool wrote no %s: %v", name, err)
	}
	return b
}
