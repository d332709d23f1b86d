package pages_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/evidence/evidencetest"
	"github.com/credbatch/credbatch/shared/ingest"
)

// evidenceForm is a multipart body of the batch page's evidence form.
func evidenceForm(t *testing.T, csrf, name string, data []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("csrf", csrf); err != nil {
		t.Fatal(err)
	}
	if name != "" {
		fw, err := mw.CreateFormFile("file", name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data)
	}
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// siteBatch loads the site definition (evidence required, PDF/PNG/JPEG) and creates a batch
// of two rows without evidence: rejected, each row missing_evidence.
func (e *env) siteBatch(t *testing.T, key string) credbatch.Batch {
	t.Helper()
	ctx := context.Background()
	f, err := credbatch.ParseDefinitions(strings.NewReader(`{"definitions":[{"id":"site","name":"Site Induction",
		"evidence":{"policy":"required"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.LoadDefinitions(ctx, f.Definitions); err != nil {
		t.Fatal(err)
	}
	svc := &ingest.Service{Store: e.st.Store, Blob: e.st.Bucket}
	b, _, err := svc.CreateBatch(ctx, ingest.NewBatch{IdempotencyKey: key, Uploader: "issuer@example.com", DefinitionID: "site", Label: "Site " + key,
		Recipients: []ingest.Recipient{{FirstName: "Ann", LastName: "Lee", Email: "ann@example.com"}, {FirstName: "Bo", LastName: "Chan", Email: "bo@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != credbatch.BatchRejected {
		t.Fatalf("batch without evidence is %s, want rejected", b.Status)
	}
	return b
}

// TestConsoleEvidence: the batch page's per-row form attaches and replaces a row's evidence
// file (real Pillow and LibreOffice files); the page then shows it (an image preview, a PDF
// link) and serves it to staff only; a refused file says why on the page; once every row has
// its file the batch can be submitted, and the form is gone. The stack then issues the
// credentials: their pages list the evidence, an administrator deletes one file (the
// credential keeps its digest and says so), and a revoked credential withholds its file.
func TestConsoleEvidence(t *testing.T) {
	real := evidencetest.Make(t)
	e := newConsole(t)
	b := e.siteBatch(t, "console-evidence")
	bp := "/batches/" + b.ID
	page := e.do(t, request{path: bp, cookie: tokIssuer})
	wantContains(t, page.body, `id="evidence-form-2"`, `enctype="multipart/form-data"`, `action="`+bp+`/rows/3/evidence"`,
		`accept="application/pdf,.pdf,image/png,.png,image/jpeg,.jpg,.jpeg,.jpe,.jfif"`, "Attach an evidence file to row 2")
	issuerCSRF := csrf(t, page.body)
	js, err := os.ReadFile("static/evidence.js")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(js)
	if !strings.Contains(page.body, "<script>"+string(js)+"</script>") ||
		!strings.Contains(page.hdr.Get("Content-Security-Policy"), "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
		t.Error("the batch page lacks static/evidence.js byte for byte, or the CSP lacks its hash")
	}
	approverPage := e.do(t, request{path: bp, cookie: tokApprover})
	wantLacks(t, approverPage.body, `id="evidence-form-2"`)

	post := func(row, name string, data []byte, csrf string) response {
		body, ctype := evidenceForm(t, csrf, name, data)
		return e.do(t, request{method: "POST", path: bp + "/rows/" + row + "/evidence", cookie: tokIssuer, raw: body,
			header: map[string]string{"Content-Type": ctype}})
	}
	refused := []struct {
		name, row, file string
		data            []byte
		csrf            string
		want            int
		says            string
	}{
		{"an extension that lies", "2", "site.png", real.JPEG, issuerCSRF, http.StatusBadRequest, "its content is a JPEG image"},
		{"not an allowed type", "2", "notes.txt", []byte("words"), issuerCSRF, http.StatusBadRequest, "this credential accepts PDF, PNG or JPEG files"},
		{"no file chosen", "2", "", nil, issuerCSRF, http.StatusBadRequest, "choose the evidence file"},
		{"without the CSRF token", "2", "site.png", real.PNG, "forged", http.StatusForbidden, ""},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			got := post(tt.row, tt.file, tt.data, tt.csrf)
			if got.code != tt.want || !strings.Contains(got.body, tt.says) {
				t.Fatalf("%d, want %d saying %q\n%s", got.code, tt.want, tt.says, text(got.body))
			}
		})
	}

	// The script's path: a presigned PUT bound to the size, then the confirmation.
	presign := func(row, size string) response {
		return e.do(t, request{method: "POST", path: bp + "/rows/" + row + "/evidence/presign", cookie: tokIssuer,
			form: map[string][]string{"csrf": {issuerCSRF}, "size": {size}}})
	}
	if got := presign("2", "10485761"); got.code != http.StatusBadRequest || !strings.Contains(got.body, `"code":"evidence_too_large"`) {
		t.Errorf("presign over the limit: %d %s", got.code, got.body)
	}
	pre := presign("2", strconv.Itoa(len(real.JPEG)))
	var up struct {
		URL, Method, Key string
		Headers          map[string]string
	}
	if err := json.Unmarshal([]byte(pre.body), &up); err != nil || pre.code != http.StatusCreated || up.Method != "PUT" {
		t.Fatalf("presign: %d %s", pre.code, pre.body)
	}
	put := httptest.NewRequest(http.MethodPut, up.URL, bytes.NewReader(real.JPEG))
	for k, v := range up.Headers {
		put.Header.Set(k, v)
	}
	pw := httptest.NewRecorder()
	e.h.ServeHTTP(pw, put)
	if pw.Code != http.StatusOK {
		t.Fatalf("PUT to the presigned URL: %d %s", pw.Code, pw.Body.String())
	}
	confirm := e.do(t, request{method: "POST", path: bp + "/rows/2/evidence/confirm", cookie: tokIssuer,
		form: map[string][]string{"csrf": {issuerCSRF}, "key": {up.Key}, "name": {"site.jpg"}}})
	if confirm.code != http.StatusSeeOther || confirm.hdr.Get("Location") != bp+"?done=evidence#row-2" {
		t.Fatalf("confirm: %d %s\n%s", confirm.code, confirm.hdr.Get("Location"), text(confirm.body))
	}
	if again := e.do(t, request{method: "POST", path: bp + "/rows/2/evidence/confirm", cookie: tokIssuer,
		form: map[string][]string{"csrf": {issuerCSRF}, "key": {up.Key}, "name": {"site.jpg"}}}); again.code != http.StatusNotFound {
		t.Errorf("confirming the same upload twice: %d, want 404 (it was consumed)", again.code)
	}

	got := post("2", "site.jpg", real.JPEG, issuerCSRF)
	if got.code != http.StatusSeeOther || got.hdr.Get("Location") != bp+"?done=evidence#row-2" {
		t.Fatalf("attach: %d %s\n%s", got.code, got.hdr.Get("Location"), text(got.body))
	}
	if got = post("2", "site.png", real.PNG, issuerCSRF); got.code != http.StatusSeeOther {
		t.Fatalf("replace: %d\n%s", got.code, text(got.body))
	}
	if got = post("3", "report.pdf", real.PDF, issuerCSRF); got.code != http.StatusSeeOther {
		t.Fatalf("attach the PDF: %d\n%s", got.code, text(got.body))
	}
	page = e.do(t, request{path: bp + "?done=evidence", cookie: tokIssuer})
	wantContains(t, page.body, "Evidence file attached to the row.", `<a href="`+bp+`/rows/2/evidence" rel="noopener" target="_blank">site.png</a>`,
		`<img class="evidence-preview" src="`+bp+`/rows/2/evidence" alt="Evidence: site.png"`, "Open the PDF report.pdf",
		"Replace the evidence file of row 2", `id="submit"`)

	// The stored file is served to staff, not cached; the public is sent to sign in.
	for _, tok := range []string{tokIssuer, tokApprover} {
		f := e.do(t, request{path: bp + "/rows/2/evidence", cookie: tok})
		if f.code != http.StatusOK || f.body != string(real.PNG) || f.hdr.Get("Content-Type") != "image/png" ||
			f.hdr.Get("Cache-Control") != "private, no-store" || f.hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("row file for staff: %d %q %q, %d bytes", f.code, f.hdr.Get("Content-Type"), f.hdr.Get("Cache-Control"), len(f.body))
		}
	}
	if f := e.do(t, request{path: bp + "/rows/2/evidence"}); f.code != http.StatusFound {
		t.Errorf("row file without a session: %d, want a redirect to sign in", f.code)
	}
	ctx := context.Background()
	nb, err := e.st.Store.GetBatch(ctx, b.ID)
	if err != nil || nb.Status != credbatch.BatchParsed || nb.Counts.Valid != 2 {
		t.Fatalf("batch after both files: %s %+v, %v", nb.Status, nb.Counts, err)
	}
	audit, err := e.st.Store.ListAudit(ctx, "", 10)
	attached := 0
	for _, a := range audit.Items {
		if a.Action == credbatch.AuditEvidenceAttached && a.Actor == "issuer@example.com" {
			attached++
		}
	}
	if err != nil || attached != 3 {
		t.Errorf("%d evidence.attached audit entries, want 3 (%v)", attached, err)
	}

	// Submitted: the form is gone; attaching is refused with the reason.
	if got := e.do(t, request{method: "POST", path: bp + "/submit", cookie: tokIssuer, form: map[string][]string{"csrf": {issuerCSRF}}}); got.code != http.StatusSeeOther {
		t.Fatalf("submit: %d\n%s", got.code, text(got.body))
	}
	e.waitBatch(t, b.ID, func(b credbatch.Batch) bool { return b.Status != credbatch.BatchParsed })
	page = e.do(t, request{path: bp, cookie: tokIssuer})
	wantLacks(t, page.body, `id="evidence-form-2"`)
	wantContains(t, page.body, "site.png")
	if got = post("2", "site.jpg", real.JPEG, issuerCSRF); got.code != http.StatusConflict || !strings.Contains(got.body, "before the batch is submitted") {
		t.Errorf("attach after submission: %d\n%s", got.code, text(got.body))
	}

	// Issued by the stack's workflow: each credential page lists its evidence, and the file
	// served hashes to the digest the credential signed.
	done := e.waitBatch(t, b.ID, func(b credbatch.Batch) bool { return b.Status == credbatch.BatchCompleted })
	if done.Counts.Issued != 2 {
		t.Fatalf("issued %+v", done.Counts)
	}
	creds, err := e.st.Store.ListCredentialsByBatch(ctx, b.ID, "", 10)
	if err != nil || len(creds.Items) != 2 {
		t.Fatalf("credentials %+v, %v", creds.Items, err)
	}
	byRow := map[int]credbatch.Credential{}
	for _, c := range creds.Items {
		byRow[c.RowNumber] = c
	}
	img, pdf := byRow[2], byRow[3]
	cp := e.do(t, request{path: "/credentials/" + img.ID})
	wantContains(t, cp.body, `<h2 id="evidence-heading">Evidence</h2>`, ">Image</span>",
		`<img class="evidence-preview" src="`+baseURL+`/credentials/`+img.ID+`/evidence/1" alt="Evidence: site.png"`)
	cp = e.do(t, request{path: "/credentials/" + pdf.ID})
	wantContains(t, cp.body, ">Document</span>", "Open the PDF report.pdf", `href="`+baseURL+`/credentials/`+pdf.ID+`/evidence/1"`)
	served := e.do(t, request{path: "/credentials/" + img.ID + "/evidence/1"})
	if served.code != http.StatusOK || served.body != string(real.PNG) || !strings.Contains(img.JWT, `"digestSRI":"`+sri(real.PNG)+`"`) {
		t.Fatalf("served evidence: %d, %d bytes; want the PNG whose digest the credential signed", served.code, len(served.body))
	}

	// An administrator deletes one file: the bucket no longer has it, the credential keeps its
	// digest, its page and its evidence URL say it was removed; audited; a second removal
	// changes nothing. The form is an administrator's only.
	page = e.do(t, request{path: bp, cookie: tokIssuer})
	wantLacks(t, page.body, "/remove-evidence")
	page = e.do(t, request{path: bp, cookie: tokAdmin})
	wantContains(t, page.body, `action="`+bp+`/remove-evidence"`, "Deletes “site.png” from the bucket for good.")
	adminCSRF := csrf(t, page.body)
	remove := func(tok, csrf string) response {
		return e.do(t, request{method: "POST", path: bp + "/remove-evidence", cookie: tok,
			form: map[string][]string{"csrf": {csrf}, "credential": {img.ID}, "reason": {"uploaded the wrong photo"}}})
	}
	if got := remove(tokIssuer, issuerCSRF); got.code != http.StatusForbidden {
		t.Errorf("an issuer removing evidence: %d, want 403", got.code)
	}
	if got := remove(tokAdmin, adminCSRF); got.code != http.StatusSeeOther || got.hdr.Get("Location") != bp+"?done=evidence-removed" {
		t.Fatalf("remove: %d %s\n%s", got.code, got.hdr.Get("Location"), text(got.body))
	}
	if got := remove(tokAdmin, adminCSRF); got.code != http.StatusSeeOther || got.hdr.Get("Location") != bp+"?done=evidence-gone" {
		t.Errorf("remove again: %d %s", got.code, got.hdr.Get("Location"))
	}
	ev, err := e.st.Flow.Evidence(ctx, img.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Bucket.Head(ctx, ev.Key); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Errorf("the removed file is still in the bucket: %v", err)
	}
	if after, _ := e.st.Store.GetCredential(ctx, img.ID); after.JWT != img.JWT {
		t.Error("removing the evidence changed the signed credential")
	}
	cp = e.do(t, request{path: "/credentials/" + img.ID})
	wantContains(t, cp.body, `id="evidence-removed"`, "the issuer removed this file.", sri(real.PNG))
	wantLacks(t, cp.body, `class="evidence-preview"`)
	if got := e.do(t, request{path: "/credentials/" + img.ID + "/evidence/1"}); got.code != http.StatusGone || !strings.Contains(got.body, "Evidence removed") {
		t.Errorf("removed evidence URL: %d, want 410 Evidence removed", got.code)
	}
	// The batch page now points each issued row's evidence to its credential's page (where a
	// removed file says so) instead of previewing it from the row.
	page = e.do(t, request{path: bp, cookie: tokAdmin})
	wantContains(t, page.body, `shown on <a href="/credentials/`+img.ID+`">the credential's page</a>`)
	wantLacks(t, page.body, `src="`+bp+`/rows/2/evidence"`)
	if got := e.do(t, request{path: "/credentials/" + pdf.ID + "/evidence/1"}); got.code != http.StatusOK || got.body != string(real.PDF) {
		t.Errorf("the other credential's evidence: %d, want it still served", got.code)
	}
	audit, err = e.st.Store.ListAudit(ctx, "", 20)
	removals := 0
	for _, a := range audit.Items {
		if a.Action == credbatch.AuditEvidenceRemoved {
			removals++
			if a.Actor != "admin@example.com" || a.Target != "credential/"+img.ID || len(a.Changes) != 1 ||
				a.Changes[0].Old != "site.png "+sri(real.PNG) || a.Changes[0].New != "removed: uploaded the wrong photo" {
				t.Errorf("audit entry %+v", a)
			}
		}
	}
	if err != nil || removals != 1 {
		t.Errorf("%d evidence.removed entries, want 1 (%v)", removals, err)
	}

	// A revoked credential's page names its file but shows it no more.
	if _, err := e.st.Flow.Revoke(ctx, pdf.ID, "issuer@example.com", "issued in error"); err != nil {
		t.Fatal(err)
	}
	cp = e.do(t, request{path: "/credentials/" + pdf.ID})
	wantContains(t, cp.body, "no longer shown, because this credential was revoked")
	wantLacks(t, cp.body, "Open the PDF")
}

// TestReviewShowsEvidence: before approving, the approver's review page shows each row's
// evidence in the rows table and in the credential preview (an image preview, a PDF link, the
// narrative), served to the approver from the batch.
func TestReviewShowsEvidence(t *testing.T) {
	real := evidencetest.Make(t)
	e := newConsole(t)
	ctx := context.Background()
	f, err := credbatch.ParseDefinitions(strings.NewReader(`{"definitions":[{"id":"visit","name":"Site Visit",
		"evidence":{"policy":"optional"},"approval_required":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.LoadDefinitions(ctx, f.Definitions); err != nil {
		t.Fatal(err)
	}
	svc := &ingest.Service{Store: e.st.Store, Blob: e.st.Bucket}
	b, _, err := svc.CreateBatch(ctx, ingest.NewBatch{IdempotencyKey: "review-evidence", Uploader: uploader, DefinitionID: "visit", Label: "Visits",
		Recipients: []ingest.Recipient{{FirstName: "Ann", LastName: "Lee", Email: "ann@example.com"}, {FirstName: "Bo", LastName: "Chan", Email: "bo@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct {
		row  int
		name string
		data []byte
	}{{2, "site.png", real.PNG}, {3, "report.pdf", real.PDF}} {
		if _, _, err := svc.AttachEvidence(ctx, b.ID, a.row, a.name, bytes.NewReader(a.data), uploader); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.st.Actions.Submit(ctx, b.ID, false); err != nil {
		t.Fatal(err)
	}
	e.waitBatch(t, b.ID, func(b credbatch.Batch) bool { return b.Status == credbatch.BatchAwaitingApproval })
	file := "/batches/" + b.ID + "/rows/2/evidence"
	tests := []struct {
		name, path string
		want       []string
	}{
		{"first preview and the rows", "/review/" + b.ID, []string{`id="preview-evidence"`,
			`<img class="evidence-preview" src="` + file + `" alt="Evidence: site.png"`, "Open the PDF report.pdf", ">Image</span>", ">Document</span>"}},
		{"the PDF row's preview", "/review/" + b.ID + "?preview=3", []string{`<p class="evidence-pdf"><a href="/batches/` + b.ID + `/rows/3/evidence"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.do(t, request{path: tt.path, cookie: tokApprover})
			if got.code != http.StatusOK {
				t.Fatalf("review page: %d\n%s", got.code, text(got.body))
			}
			wantContains(t, got.body, tt.want...)
		})
	}
	if got := e.do(t, request{path: file, cookie: tokApprover}); got.code != http.StatusOK || got.body != string(real.PNG) {
		t.Errorf("the approver opening the row's file: %d, %d bytes", got.code, len(got.body))
	}
}
