package e2e

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/credbatch/credbatch/infra/local/stack"
	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/pages"
)

// chromium finds the system browser: $CHROMIUM, else chromium, chromium-browser or
// google-chrome on PATH. Without one the test skips, or fails under CI=true.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium found (set CHROMIUM or run infra/testenv/browser.sh); CI=true requires the browser test")
	}
	t.Skip("no Chromium found; run infra/testenv/browser.sh (or set CHROMIUM) to run the browser test")
	return ""
}

const (
	approverToken = "e2e-approver-token-0123456789"
	issuerToken   = "e2e-issuer-token-0123456789"
	uploader      = "issuer@example.com"
)

const definitions = `{"definitions":[{"id":"web-101","name":"Web Fundamentals",
	"description":"Completed the Web Fundamentals course.","criteria":"Pass the final assessment.",
	"attributes":[{"name":"Score","type":"number","required":true,"min":0,"max":100}],
	"expiry":{"policy":"optional"},"approval_required":true,"four_eyes":true,"duplicates":"allow"}]}`

const cohort = "First Name,Last Name,Email,Score,Issue Date\n" +
	"Ada,Lovelace,success+ada@simulator.amazonses.com,91,2026-01-15\n" +
	"Alan,Turing,success+alan@simulator.amazonses.com,88,2026-01-15\n" +
	"Grace,Hopper,success+grace@simulator.amazonses.com,95,2026-01-15\n" +
	"Edsger,Dijkstra,success+edsger@simulator.amazonses.com,150,2026-01-15\n" +
	"Barbara,Liskov,success+barbara@simulator.amazonses.com,97,2026-01-15\n"

// server is the local stack with the JSON API and the pages on a loopback httptest server.
type server struct {
	st  *stack.Stack
	url string
	// crossSiteNoCookie counts review requests that came from another site without the
	// session cookie (SameSite=Strict at work).
	crossSiteNoCookie atomic.Int32
	// directUploads counts files the browser PUT to a presigned bucket URL (accepted);
	// formUploads counts files posted to the console's /upload form.
	directUploads, formUploads atomic.Int32
	// evidenceUploads counts row evidence files the browser PUT to a presigned bucket URL.
	evidenceUploads atomic.Int32
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func startServer(t *testing.T) *server {
	t.Helper()
	ctx := context.Background()
	var h http.Handler = http.NotFoundHandler()
	s := &server{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, pages.ReviewPrefix) && r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			if _, err := r.Cookie(pages.SessionCookie); err != nil {
				s.crossSiteNoCookie.Add(1)
			}
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		switch {
		case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, stack.BucketPath+"/uploads/") && sw.status == http.StatusOK:
			s.directUploads.Add(1)
		case r.Method == http.MethodPost && r.URL.Path == "/upload":
			s.formUploads.Add(1)
		case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, stack.BucketPath+"/"+credbatch.EvidenceUploadPrefix) && sw.status == http.StatusOK:
			s.evidenceUploads.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.Default()
	}
	st, err := stack.Open(ctx, stack.Config{DataDir: t.TempDir(), Log: log,
		Issuer: credential.Issuer{BaseURL: srv.URL, Name: "Test Academy", URL: "https://academy.test"},
		Flow:   issuance.Config{Approvers: []string{"approver@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f, err := credbatch.ParseDefinitions(strings.NewReader(definitions))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.LoadDefinitions(ctx, f.Definitions); err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens([]auth.Token{
		{Token: approverToken, Subject: "approver", Email: "approver@example.com", Roles: []auth.Role{auth.RoleApprover}},
		{Token: issuerToken, Subject: "issuer", Email: uploader, Roles: []auth.Role{auth.RoleIssuer}},
	})
	if err != nil {
		t.Fatal(err)
	}
	api := st.Handler(tokens)
	// A stand-in for a webmail page on another site (localhost is not the same site as
	// 127.0.0.1) that links to a review page.
	api.Handle("GET /e2e/webmail", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>mail</title><a id="mail-link" href="%s">Review the batch</a>`, html.EscapeString(r.URL.Query().Get("to")))
	}))
	h = api
	s.st, s.url = st, srv.URL
	return s
}

// awaitingBatch drops the cohort into the bucket folder, submits its valid rows and waits
// until the batch awaits approval.
func (s *server) awaitingBatch(t *testing.T) credbatch.Batch {
	t.Helper()
	ctx := context.Background()
	key := ingest.UploadsPrefix + "web-101/cohort.csv"
	if _, err := s.st.Bucket.Put(ctx, key, strings.NewReader(cohort), "text/csv",
		map[string]string{ingest.MetaLabel: "Spring cohort", ingest.MetaUploader: uploader}); err != nil {
		t.Fatal(err)
	}
	w := &stack.Watcher{Stack: s.st, Settle: 20 * time.Millisecond}
	var b credbatch.Batch
	for i := 0; b.ID == ""; i++ {
		got, err := w.Scan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 {
			b = got[0]
			break
		}
		if i > 250 {
			t.Fatalf("the watcher did not pick up %s", key)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b.Status != credbatch.BatchRejected || b.Counts.Invalid != 1 {
		t.Fatalf("batch %s %+v; want rejected with one invalid row", b.Status, b.Counts)
	}
	b, err := s.st.Actions.Submit(ctx, b.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	return s.waitBatch(t, b.ID, "a task token", func(b credbatch.Batch) bool { return b.TaskToken != "" })
}

func (s *server) waitBatch(t *testing.T, id, what string, cond func(credbatch.Batch) bool) credbatch.Batch {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := s.st.Store.GetBatch(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(b) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %s stayed %s (%+v) waiting for %s", id, b.Status, b.Counts, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// browser starts headless Chromium and returns a tab context.
func browser(t *testing.T, exe string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// textOf reads the text of the first element matching sel.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		t.Fatalf("wait for %s: %v", sel, err)
	}
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// waitChange polls sel's text until it differs from old, as a click's navigation lands.
func waitChange(t *testing.T, ctx context.Context, sel, old string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if s = strings.TrimSpace(s); err == nil && s != "" && s != old {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed %q (%v)", sel, old, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestReviewApproveAndVerifyInBrowser(t *testing.T) {
	exe := chromium(t)
	s := startServer(t)
	b := s.awaitingBatch(t)
	ctx := browser(t, exe)

	// The approver opens the review link, signs in on the form it shows (with its login CSRF
	// token) and lands back on the review page, with a server-side session in an HttpOnly cookie.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/review/"+b.ID),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), approverToken),
		chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#preview-row")),
	); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if loc != s.url+"/review/"+b.ID {
		t.Errorf("review page at %s, want the review URL", loc)
	}
	if got := textOf(t, ctx, "#batch-status"); got != "awaiting approval" {
		t.Errorf("batch status on the page = %q", got)
	}
	if got := textOf(t, ctx, "#row-5 td"); !strings.Contains(got, "invalid") && !strings.Contains(got, "skipped") {
		t.Errorf("row 5 (score 150) status cell = %q, want it marked invalid", got)
	}

	// The inline style passed the page's Content-Security-Policy (its hash matches).
	styles, err := chromedp.Run(ctx, chromedp.ComputedStyle(chromedp.CSS("#approve")))
	if err != nil {
		t.Fatal(err)
	}
	bg := ""
	for _, p := range styles {
		if p.Name == "background-color" {
			bg = p.Value
		}
	}
	if bg != "rgb(17, 99, 41)" {
		t.Errorf("Approve button background = %q; the stylesheet did not apply", bg)
	}

	// Page through the previews: Next twice, each time a different recipient.
	seen := map[string]bool{}
	row := textOf(t, ctx, "#preview-row")
	who := textOf(t, ctx, "#preview-recipient")
	seen[who] = true
	for i := 0; i < 3; i++ {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#next-preview"))); err != nil {
			t.Fatalf("click Next (%d): %v", i+1, err)
		}
		row = waitChange(t, ctx, "#preview-row", row)
		next := textOf(t, ctx, "#preview-recipient")
		if seen[next] {
			t.Fatalf("Next showed %q again (row %s)", next, row)
		}
		seen[next] = true
	}
	if row != "6" {
		t.Errorf("after three Next clicks the preview is row %s; want 6 (row 5 is invalid and skipped)", row)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#prev-preview"))); err != nil {
		t.Fatal(err)
	}
	if row = waitChange(t, ctx, "#preview-row", row); row != "4" {
		t.Errorf("Previous from row 6 went to row %s, want 4", row)
	}

	// Following the review link from a page on another site: the SameSite=Strict cookie is
	// not sent on that navigation, so the page reloads itself same-site and the session works.
	reviewURL := s.url + "/review/" + b.ID
	other := strings.Replace(s.url, "127.0.0.1", "localhost", 1) + "/e2e/webmail?to=" + url.QueryEscape(reviewURL)
	if err := chromedp.Do(ctx, chromedp.Navigate(other), chromedp.Click(chromedp.CSS("#mail-link")),
		chromedp.WaitVisible(chromedp.CSS("#approve"))); err != nil {
		t.Fatalf("review link from another site: %v", err)
	}
	if n := s.crossSiteNoCookie.Load(); n != 1 {
		t.Errorf("%d cross-site review requests without the cookie, want 1 (the scenario was not exercised)", n)
	}
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || loc != reviewURL {
		t.Errorf("after the cross-site link the browser is at %q (%v), want %s", loc, err, reviewURL)
	}

	// Approve.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#approve")), chromedp.WaitVisible(chromedp.CSS("#flash"))); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if got := textOf(t, ctx, "#flash"); !strings.Contains(got, "You approved this batch") {
		t.Errorf("flash = %q", got)
	}
	done := s.waitBatch(t, b.ID, "completion", func(b credbatch.Batch) bool { return b.Status.Terminal() })
	if done.Status != credbatch.BatchCompleted || done.Counts.Issued != 4 || done.ApprovedBy != "approver@example.com" {
		t.Fatalf("batch %s, %d issued, approved by %q; want completed, 4, approver@example.com", done.Status, done.Counts.Issued, done.ApprovedBy)
	}

	// An issued credential's public page verifies.
	creds, err := s.st.Store.ListCredentialsByBatch(context.Background(), b.ID, "", 10)
	if err != nil || len(creds.Items) != 4 {
		t.Fatalf("credentials = %d, %v", len(creds.Items), err)
	}
	c := creds.Items[0]
	if err := chromedp.Do(ctx, chromedp.Navigate(s.url+"/credentials/"+c.ID), chromedp.WaitVisible(chromedp.CSS("#verified"))); err != nil {
		t.Fatal(err)
	}
	verified := textOf(t, ctx, "#verified")
	vm := s.st.Signer.VerificationMethod() // the Data Integrity proof's key, shown by its thumbprint
	if want := "Verified: the issuer's signature checks out (key " + vm[strings.LastIndex(vm, "#")+1:]; !strings.HasPrefix(verified, want) {
		t.Errorf("verification = %q, want it to start %q", verified, want)
	}
	if got := textOf(t, ctx, "#status"); !strings.HasPrefix(got, "Valid") {
		t.Errorf("status = %q, want Valid", got)
	}
	if got := textOf(t, ctx, "h1"); !strings.Contains(got, c.Name) || !strings.Contains(got, "Web Fundamentals") {
		t.Errorf("heading = %q, want %s and the achievement", got, c.Name)
	}

	// The page's first download of the credential is the JSON-LD document with its Data
	// Integrity proof, the second the VC-JWT; both verify as this credential.
	types, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('nav.actions a[download][type]')].map(a => a.type)`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(types, " ") != "application/vc+ld+json application/vc+jwt" {
		t.Errorf("credential downloads = %q, want the JSON-LD credential first, then the VC-JWT", types)
	}
	for _, want := range []struct {
		selector string
		format   credential.Format
	}{
		{`a[download][href$="/json"]`, credential.FormatDataIntegrity},
		{`a[download][href$="/jwt"]`, credential.FormatJWT},
	} {
		attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(want.selector), "href"))
		if err != nil || !attr.Exists {
			t.Fatalf("download link %s: %v", want.selector, err)
		}
		href := attr.Value
		resp, err := http.Get(href)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", href, resp.StatusCode)
		}
		res, err := credential.NewVerifier(s.st.Keys, nil).Verify(context.Background(), string(body), time.Now())
		if err != nil || !res.Valid || res.Format != want.format || res.Document.ID != s.st.Config.Issuer.CredentialURL(c.ID) {
			t.Errorf("GET %s: %d bytes that do not verify as the credential in format %s: %+v, %v", href, len(body), want.format, res, err)
		}
	}
}
