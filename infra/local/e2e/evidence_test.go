package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/evidence/evidencetest"
	"github.com/credbatch/credbatch/shared/ingest"
)

// TestEvidencePagesInBrowser: the pages that show evidence, in headless Chromium, each
// checked at 1280 and 390 px for horizontal overflow and by axe-core: the batch page with a
// row's image preview and the per-row file forms (a PDF attached through the form), the
// approver's review page, and the issued credentials' pages (an image preview, a PDF preview
// frame and link,
// then a file removed by an administrator, and a revoked credential). Real files from Pillow
// and LibreOffice. One browser for both sizes, to keep it cheap.
func TestEvidencePagesInBrowser(t *testing.T) {
	exe := chromium(t)
	axe := axeSource(t)
	real := evidencetest.Make(t)
	s := startServer(t)
	ctx := context.Background()
	f, err := credbatch.ParseDefinitions(strings.NewReader(`{"definitions":[{"id":"visit","name":"Site Visit",
		"description":"Visited the site with a supervisor.","evidence":{"policy":"required"},"approval_required":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.LoadDefinitions(ctx, f.Definitions); err != nil {
		t.Fatal(err)
	}
	svc := &ingest.Service{Store: s.st.Store, Blob: s.st.Bucket}
	b, _, err := svc.CreateBatch(ctx, ingest.NewBatch{IdempotencyKey: "e2e-evidence", Uploader: uploader, DefinitionID: "visit", Label: "Site visits",
		Recipients: []ingest.Recipient{{FirstName: "Ann", LastName: "Lee", Email: "success+ann@simulator.amazonses.com"},
			{FirstName: "Bo", LastName: "Chan", Email: "success+bo@simulator.amazonses.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.AttachEvidence(ctx, b.ID, 2, "site photo.png", bytes.NewReader(real.PNG), uploader); err != nil {
		t.Fatal(err)
	}
	pdf := filepath.Join(t.TempDir(), "induction report.pdf")
	if err := os.WriteFile(pdf, real.PDF, 0o600); err != nil {
		t.Fatal(err)
	}

	c := &consoleRun{t: t, vp: viewports[0], axe: axe, s: s, ctx: browser(t, exe)}
	both := func(name string) {
		t.Helper()
		for _, vp := range []viewport{viewports[1], viewports[0]} {
			c.vp = vp
			opts := []chromedp.EmulateViewportOption{}
			if vp.mobile {
				opts = append(opts, chromedp.EmulateMobile)
			}
			c.do(chromedp.EmulateViewport(vp.width, vp.height, opts...))
			c.check(name, "")
		}
	}
	imgLoaded := func(sel string) {
		t.Helper()
		js := `(() => { const i = document.querySelector(` + "`" + sel + "`" + `); return i && i.complete && i.naturalWidth > 0 ? "yes" : "no"; })()`
		for deadline := time.Now().Add(10 * time.Second); c.eval(js) != "yes"; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("%s at %s: the preview image did not load", sel, c.location())
				return
			}
		}
	}

	// The issuer's batch page: row 2's image, row 3 still missing its file.
	c.do(chromedp.Navigate(s.url + "/login?next=" + "/batches/" + b.ID))
	c.signIn(issuerToken, "#batch-label")
	imgLoaded(`#evidence-2 img.evidence-preview`)
	both("batch page, a row with evidence and one without")
	c.do(chromedp.SetUploadFiles(chromedp.CSS("#evidence-file-3"), []string{pdf}))
	c.do(chromedp.Click(chromedp.CSS("#attach-3"))) // the page's script PUTs the file to a presigned bucket URL, then confirms it
	c.waitText("#notice", "Evidence file attached")
	if n := s.evidenceUploads.Load(); n != 1 {
		t.Errorf("%d evidence files went straight to the bucket, want 1 (the page's script)", n)
	}
	if txt := c.text("#evidence-3"); !strings.Contains(txt, "Open the PDF induction report.pdf") {
		t.Errorf("row 3 after the form: %q", txt)
	}
	both("batch page, every row with its evidence")
	c.follow("#submit")
	s.waitBatch(t, b.ID, "a task token", func(b credbatch.Batch) bool { return b.TaskToken != "" })

	// The approver's review page.
	c.signOut()
	c.do(chromedp.Navigate(s.url + "/login?next=" + "/review/" + b.ID))
	c.signIn(approverToken, "#preview-evidence")
	imgLoaded(`#preview-evidence img.evidence-preview`)
	both("review page with evidence")
	c.follow("#approve")
	s.waitBatch(t, b.ID, "issued", func(b credbatch.Batch) bool { return b.Status == credbatch.BatchCompleted })

	// The credentials' public pages.
	creds, err := s.st.Store.ListCredentialsByBatch(ctx, b.ID, "", 10)
	if err != nil || len(creds.Items) != 2 {
		t.Fatalf("credentials %+v, %v", creds.Items, err)
	}
	byRow := map[int]credbatch.Credential{}
	for _, cr := range creds.Items {
		byRow[cr.RowNumber] = cr
	}
	c.do(chromedp.Navigate(s.url + "/credentials/" + byRow[2].ID))
	c.do(chromedp.WaitVisible(chromedp.CSS("#evidence")))
	imgLoaded(`#evidence img.evidence-preview`)
	both("credential page with an image")
	c.do(chromedp.Navigate(s.url + "/credentials/" + byRow[3].ID))
	c.do(chromedp.WaitVisible(chromedp.CSS("#evidence .evidence-pdf")))
	// The PDF's preview: a frame of the evidence URL, which the page's Content-Security-Policy
	// lets load (a blocked frame holds Chromium's error page, which the page cannot read).
	pdfFrame := `(() => { const f = document.querySelector("#evidence iframe.evidence-pdf-frame");
		if (!f) return "no frame";
		try { const d = f.contentDocument; return d ? d.contentType + " " + new URL(f.src).pathname : "no document"; } catch (e) { return "blocked: " + e.name; } })()`
	want := "application/pdf /credentials/" + byRow[3].ID + "/evidence/1"
	for deadline := time.Now().Add(10 * time.Second); c.eval(pdfFrame) != want; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("the PDF preview frame: %q, want %q", c.eval(pdfFrame), want)
			break
		}
	}
	both("credential page with a PDF")
	if _, _, err := s.st.Flow.RemoveEvidence(ctx, byRow[2].ID, "admin@example.com", "e2e"); err != nil {
		t.Fatal(err)
	}
	c.do(chromedp.Navigate(s.url + "/credentials/" + byRow[2].ID))
	c.do(chromedp.WaitVisible(chromedp.CSS("#evidence-removed")))
	both("credential page, evidence removed")
	if _, err := s.st.Flow.Revoke(ctx, byRow[3].ID, "issuer@example.com", "issued in error"); err != nil {
		t.Fatal(err)
	}
	c.do(chromedp.Navigate(s.url + "/credentials/" + byRow[3].ID))
	c.waitText("#evidence", "no longer shown")
	both("credential page, revoked")
	t.Logf("%d page checks", c.pages)
}
