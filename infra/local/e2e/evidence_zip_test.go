package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/credbatch/credbatch/infra/local/stack"
	"github.com/credbatch/credbatch/shared/credbatch"
)

// TestEvidenceZipUploadInBrowser: on the upload page in headless Chromium an issuer chooses
// a spreadsheet whose row names a file and the zip holding it; the page's script sends both
// straight to the bucket through presigned PUTs, the zip first (then the spreadsheet's URL
// signed again for its key), and opens the batch, whose
// row has the zip's file stored. The upload page with the zip field passes axe-core.
func TestEvidenceZipUploadInBrowser(t *testing.T) {
	exe := chromium(t)
	axe := axeSource(t)
	c := &consoleRun{t: t, vp: viewports[0], axe: axe, s: startServer(t)}
	ctx, cancel := context.WithCancel(context.Background())
	w := &stack.Watcher{Stack: c.s.st, Settle: 20 * time.Millisecond}
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx, 50*time.Millisecond) }()
	t.Cleanup(func() { cancel(); <-done })
	f, err := credbatch.ParseDefinitions(strings.NewReader(`{"definitions":[{"id":"site","name":"Site Induction",
		"evidence":{"policy":"required"},"approval_required":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.s.st.LoadDefinitions(context.Background(), f.Definitions); err != nil {
		t.Fatal(err)
	}
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewRGBA(image.Rect(0, 0, 16, 16))); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sheet, zipPath := filepath.Join(dir, "induction.csv"), filepath.Join(dir, "induction.csv.zip")
	if err := os.WriteFile(sheet, []byte("First Name,Last Name,Email,Evidence File\nAda,Lovelace,success+ada@simulator.amazonses.com,photos/ada.png\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	zf, _ := zw.Create("photos/ada.png")
	zf.Write(img.Bytes())
	zw.Close()
	if err := os.WriteFile(zipPath, zb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	c.ctx = browser(t, exe)
	c.do(chromedp.EmulateViewport(c.vp.width, c.vp.height))
	c.do(chromedp.Navigate(c.s.url + "/login?next=%2Fupload"))
	c.signIn(issuerToken, "#upload-form")
	c.check("upload with the evidence zip field", "")
	c.do(chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{sheet}),
		chromedp.SetUploadFiles(chromedp.CSS("#evidence_zip"), []string{zipPath}),
		chromedp.SetValue(chromedp.CSS("#definition"), "site"))
	c.follow("#upload")
	c.do(chromedp.WaitVisible(chromedp.CSS("#batch-status")))
	id := c.batchID()
	if d, f := c.s.directUploads.Load(), c.s.formUploads.Load(); d != 2 || f != 0 {
		t.Errorf("%d files PUT to presigned URLs and %d posted to the form; want the zip and the spreadsheet sent straight to the bucket", d, f)
	}
	b := c.s.waitBatch(t, id, "its rows", func(b credbatch.Batch) bool { return b.Counts.Rows == 1 })
	r, err := c.s.st.Store.GetRow(context.Background(), b.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if ef := r.Evidence.FileNamed(); r.Status != credbatch.RowValid || !ef.Stored() || ef.MediaType != "image/png" || ef.Size != int64(img.Len()) {
		t.Fatalf("row 2: %s, evidence %+v, findings %+v; want valid with the zip's PNG stored", r.Status, r.Evidence, r.Findings)
	}
	zi, err := c.s.st.Bucket.Head(context.Background(), b.Source.Key+".zip")
	if err != nil || zi.Metadata["uploader"] != uploader {
		t.Errorf("the zip beside %s: %+v, %v", b.Source.Key, zi, err)
	}
}
