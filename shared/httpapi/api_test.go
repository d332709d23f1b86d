package httpapi_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/ingest"
)

// TestEveryRoute walks a batch through its life and calls every route once on its happy
// path; it fails when a route of httpapi.Routes was not exercised.
func TestEveryRoute(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	hit := map[string]bool{}
	do := func(pattern, method, path, user string, body any, want int, v any, headers ...string) *httptest.ResponseRecorder {
		t.Helper()
		w := e.call(method, path, user, body, headers...)
		must(t, w, want, v)
		hit[method+" "+pattern] = true
		return w
	}

	// Definitions.
	var def credbatch.Definition
	do("/api/definitions", "POST", "/api/definitions", "issuer", course(true), 201, &def)
	if def.Version != 1 || def.Duplicates != credbatch.DuplicatesReject {
		t.Fatalf("created definition %+v", def)
	}
	var defs struct{ Items []credbatch.Definition }
	do("/api/definitions", "GET", "/api/definitions", "approver", nil, 200, &defs)
	if len(defs.Items) != 1 {
		t.Fatalf("listed %d definitions", len(defs.Items))
	}
	do("/api/definitions/{id}", "GET", "/api/definitions/course?version=1", "issuer", nil, 200, &def)
	def.Description = "Finished the course"
	do("/api/definitions/{id}", "PUT", "/api/definitions/course", "issuer", def, 200, &def)
	if def.Version != 2 {
		t.Fatalf("updated version %d, want 2", def.Version)
	}
	w := do("/api/definitions/{id}/template", "GET", "/api/definitions/course/template?format=csv", "issuer", nil, 200, nil)
	if !strings.Contains(w.Body.String(), "Score") || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/csv") {
		t.Errorf("csv template %q (%s)", w.Body.String(), w.Header().Get("Content-Type"))
	}
	must(t, e.call("POST", "/api/definitions", "admin", credbatch.Definition{ID: "badge", Name: "Badge"}), 201, nil)
	w = do("/api/templates", "GET", "/api/templates?ids=course,badge&format=xlsx", "issuer", nil, 200, nil)
	if w.Header().Get("Content-Type") != ingest.ContentTypeXLSX || !bytes.HasPrefix(w.Body.Bytes(), []byte("PK")) {
		t.Errorf("xlsx template: %s, %d bytes", w.Header().Get("Content-Type"), w.Body.Len())
	}
	do("/api/definitions/{id}", "DELETE", "/api/definitions/badge", "issuer", nil, 200, &def)
	if !def.Archived {
		t.Errorf("archived definition %+v", def)
	}

	// Uploads.
	var up struct {
		URL     string            `json:"url"`
		Key     string            `json:"key"`
		Headers map[string]string `json:"headers"`
	}
	do("/api/uploads", "POST", "/api/uploads", "issuer", map[string]any{"definition_id": "course", "filename": "C:\\data\\spring.xlsx",
		"label": "Spring", "date_order": "dmy", "mapping": map[string]string{"Mail": "email"}}, 201, &up)
	if !strings.HasPrefix(up.Key, "uploads/course/") || !strings.HasSuffix(up.Key, "-spring.xlsx") {
		t.Errorf("upload key %q", up.Key)
	}
	wantHeaders := map[string]string{"x-amz-meta-" + ingest.MetaUploader: "issuer@localhost", "x-amz-meta-" + ingest.MetaLabel: "Spring",
		"x-amz-meta-" + ingest.MetaDateOrder: "DMY", "x-amz-meta-" + ingest.MetaMapping: `{"Mail":"email"}`, "Content-Type": ingest.ContentTypeXLSX}
	for k, v := range wantHeaders {
		if up.Headers[k] != v {
			t.Errorf("upload header %s = %q, want %q", k, up.Headers[k], v)
		}
	}
	if opts, warns := ingest.OptionsFromMetadata(up.Key, metaOf(up.Headers)); opts.DefinitionID != "course" || opts.DateOrder != credbatch.DateOrderDMY || len(warns) > 0 {
		t.Errorf("ingest reads the upload as %+v %v", opts, warns)
	}
	var zup struct {
		Key     string            `json:"key"`
		Headers map[string]string `json:"headers"`
	}
	do("/api/uploads/evidence-zip", "POST", "/api/uploads/evidence-zip", "issuer", map[string]any{"key": up.Key, "size": 2048}, 201, &zup)
	if zup.Key != up.Key+".zip" || zup.Headers["Content-Type"] != "application/zip" || zup.Headers["x-amz-meta-"+ingest.MetaUploader] != "issuer@localhost" {
		t.Errorf("evidence zip upload %+v, want the spreadsheet's key plus .zip, application/zip, the uploader", zup)
	}
	// Once the zip is there, the spreadsheet's upload is signed again for the same key.
	again := map[string]any{"definition_id": "course", "filename": "C:\\data\\spring.xlsx", "label": "Spring", "date_order": "dmy",
		"mapping": map[string]string{"Mail": "email"}, "key": up.Key}
	if w := e.call("POST", "/api/uploads", "issuer", again); w.Code != 404 {
		t.Errorf("renewing before the zip is there: %d, want 404", w.Code)
	}
	if _, err := e.blob.Put(ctx, zup.Key, strings.NewReader("PK"), ingest.ContentTypeZip, map[string]string{ingest.MetaUploader: "issuer@localhost"}); err != nil {
		t.Fatal(err)
	}
	var renewed struct {
		Key     string            `json:"key"`
		Headers map[string]string `json:"headers"`
	}
	do("/api/uploads", "POST", "/api/uploads", "issuer", again, 201, &renewed)
	if renewed.Key != up.Key || len(renewed.Headers) != len(up.Headers) {
		t.Errorf("renewed upload %+v, want the key and headers of %+v", renewed, up)
	}

	// Validate (dry run): a file and JSON rows.
	var res ingest.Result
	body, ctype := multipartFile(t, "list.csv", "First Name,Last Name,Email,Score\nAda,Lovelace,ada@example.org,90\nBob,B,bob@,x\n",
		map[string]string{"definition_id": "course"})
	do("/api/validate", "POST", "/api/validate", "issuer", body, 200, &res, "Content-Type", ctype)
	if res.Rows != 2 || res.Valid != 1 || res.Invalid != 1 || !hasCode(res.Errors, credbatch.CodeInvalidEmail) {
		t.Errorf("validate file: %+v", res)
	}
	// Batches.
	var b batchOut
	do("/api/batches", "POST", "/api/batches", "issuer", batchBody(2, 0, true), 201, &b)
	if b.Status != credbatch.BatchParsed || b.Counts.Valid != 2 || b.ExecutionID == "" || !b.ApprovalRequired {
		t.Fatalf("created batch %+v", b)
	}
	var page struct{ Items []batchOut }
	do("/api/batches", "GET", "/api/batches?label=spring&limit=10", "approver", nil, 200, &page)
	if len(page.Items) != 1 || page.Items[0].ID != b.ID {
		t.Errorf("listed %+v", page.Items)
	}
	do("/api/batches/{id}", "GET", "/api/batches/"+b.ID, "issuer", nil, 200, &b)
	var rows struct{ Items []credbatch.Row }
	do("/api/batches/{id}/rows", "GET", "/api/batches/"+b.ID+"/rows?status=valid", "issuer", nil, 200, &rows)
	if len(rows.Items) != 2 || rows.Items[0].Number != 2 {
		t.Errorf("rows %+v", rows.Items)
	}
	var amended struct {
		Row   credbatch.Row
		Batch batchOut
	}
	do("/api/batches/{id}/rows/{row}", "PATCH", "/api/batches/"+b.ID+"/rows/3", "issuer",
		map[string]any{"values": map[string]string{"Score": "88"}}, 200, &amended)
	if amended.Row.Attributes["Score"] != "88" || amended.Row.Status != credbatch.RowValid {
		t.Errorf("amended row %+v", amended.Row)
	}
	e.awaitApproval(b.ID)
	do("/api/batches/{id}/approve", "POST", "/api/batches/"+b.ID+"/approve", "approver", nil, 200, &b)
	if b.Status != credbatch.BatchApproved || b.ApprovedBy != "approver@localhost" {
		t.Errorf("approved %+v", b)
	}
	if _, err := e.store.TransitionBatch(ctx, b.ID, credbatch.BatchApproved, credbatch.BatchIssuing, credbatch.BatchChange{}); err != nil {
		t.Fatal(err)
	}
	c := e.issue(b.ID, 2)
	e.issue(b.ID, 3)
	do("/api/batches/{id}", "GET", "/api/batches/"+b.ID, "issuer", nil, 200, &b)
	if b.Progress != 1 {
		t.Errorf("progress %v, want 1", b.Progress)
	}

	// Credentials.
	var got credbatch.Credential
	do("/api/credentials/{id}", "GET", "/api/credentials/"+c.ID, "approver", nil, 200, &got)
	var creds struct{ Items []credbatch.Credential }
	do("/api/credentials", "GET", "/api/credentials?email=ADAA@example.org", "issuer", nil, 200, &creds)
	if len(creds.Items) != 1 || creds.Items[0].ID != c.ID {
		t.Errorf("credentials by email %+v", creds.Items)
	}
	w = do("/credentials/{id}/jwt", "GET", "/credentials/"+c.ID+"/jwt", "", nil, 200, nil)
	jwt := w.Body.String()
	if w.Header().Get("Content-Type") != "application/vc+jwt" || !strings.HasPrefix(w.Body.String(), "ey") {
		t.Errorf("jwt route: %s %.40s", w.Header().Get("Content-Type"), w.Body.String())
	}
	if res, err := credential.NewVerifier(e.keys, nil).Verify(ctx, w.Body.String(), e.now); err != nil || !res.Valid || res.Format != credential.FormatJWT {
		t.Errorf("jwt route: the VC-JWT does not verify: %+v, %v", res, err)
	}
	var doc map[string]any
	do("/credentials/{id}/json", "GET", "/credentials/"+c.ID+"/json", "", nil, 200, &doc)
	if doc["id"] != baseURL+"/credentials/"+c.ID {
		t.Errorf("document id %v", doc["id"])
	}
	var ver struct {
		Valid      bool
		Status     string
		Credential map[string]any
	}
	if _, ok := doc["proof"]; !ok {
		t.Errorf("/json has no proof: %v", doc)
	}
	for name, body := range map[string]any{"jwt": map[string]string{"jwt": jwt}, "credential": map[string]any{"credential": doc}} {
		do("/verify", "POST", "/verify", "", body, 200, &ver)
		if !ver.Valid || ver.Status != "valid" || ver.Credential["id"] != doc["id"] {
			t.Errorf("verify %s: %+v", name, ver)
		}
	}
	var resent struct {
		SentTo    string `json:"sent_to"`
		MessageID string `json:"message_id"`
	}
	do("/api/credentials/{id}/resend", "POST", "/api/credentials/"+c.ID+"/resend", "issuer", map[string]string{"email": "Ada.New@Example.org"}, 200, &resent)
	if resent.SentTo != "ada.new@example.org" || len(e.mailer.sent) != 1 || !strings.Contains(e.mailer.sent[0].Text, c.ID) {
		t.Errorf("resend %+v, sent %+v", resent, e.mailer.sent)
	}
	do("/api/credentials/{id}/revoke", "POST", "/api/credentials/"+c.ID+"/revoke", "issuer", map[string]string{"reason": "issued in error"}, 200, &got)
	if got.Status != credbatch.CredentialRevoked {
		t.Errorf("revoked %+v", got)
	}
	do("/verify", "POST", "/verify", "", jwt, 200, &ver, "Content-Type", "application/vc+jwt")
	if ver.Valid || ver.Status != "revoked" {
		t.Errorf("verify after revoke %+v", ver)
	}
	do("/verify", "POST", "/verify", "", c.JWT, 200, &ver, "Content-Type", "application/vc+ld+json")
	if ver.Valid || ver.Status != "revoked" {
		t.Errorf("verify JSON-LD after revoke %+v", ver)
	}
	do("/verify", "POST", "/verify", "", map[string]string{"url": baseURL + "/credentials/" + c.ID}, 200, &ver)
	if ver.Status != "revoked" {
		t.Errorf("verify by url %+v", ver)
	}
	w = do("/status/{n}", "GET", "/status/1", "", nil, 200, nil, "Accept", "application/vc+jwt")
	if w.Header().Get("Content-Type") != "application/vc+jwt" || strings.Count(w.Body.String(), ".") != 2 {
		t.Errorf("status list %s %q", w.Header().Get("Content-Type"), w.Body.String())
	}
	for accept, want := range map[string]string{"": "application/json", "application/json": "application/json",
		"application/vc+ld+json": "application/vc+ld+json", "application/vc+ld+json, application/json;q=0.5": "application/vc+ld+json", "*/*": "application/json"} {
		w = do("/status/{n}", "GET", "/status/1", "", nil, 200, nil, "Accept", accept)
		if got := w.Header().Get("Content-Type"); got != want || !strings.HasPrefix(w.Body.String(), "{") {
			t.Errorf("status list for Accept %q: %s %.60q", accept, got, w.Body.String())
		}
		if _, _, format, err := credential.NewVerifier(e.keys, nil).VerifySignature(w.Body.String()); err != nil || format != credential.FormatDataIntegrity {
			t.Errorf("status list for Accept %q does not verify: %s, %v", accept, format, err)
		}
	}
	var revoked struct{ Revoked int }
	do("/api/batches/{id}/revoke", "POST", "/api/batches/"+b.ID+"/revoke", "admin", map[string]string{"reason": "course withdrawn"}, 200, &revoked)
	if revoked.Revoked != 1 {
		t.Errorf("batch revoke revoked %d, want 1 (one was revoked already)", revoked.Revoked)
	}
	do("/api/batches/{id}", "GET", "/api/batches/"+b.ID, "issuer", nil, 200, &b)
	if b.Progress != 1 {
		t.Errorf("progress after revoking %v, want 1", b.Progress)
	}
	var delivery struct {
		Counts credbatch.Counts
		Emails map[string]int
	}
	do("/api/batches/{id}/delivery", "GET", "/api/batches/"+b.ID+"/delivery", "issuer", nil, 200, &delivery)
	if delivery.Counts.Revoked != 2 || delivery.Counts.Issued != 0 || delivery.Emails["sent"] != 2 {
		t.Errorf("delivery %+v", delivery)
	}

	// A second batch: invalid rows, report, request changes, submit, reject, cancel.
	var b2 batchOut
	do("/api/batches", "POST", "/api/batches", "issuer", batchBody(1, 1, false), 201, &b2)
	if b2.Status != credbatch.BatchRejected || b2.ReportKey == "" {
		t.Fatalf("batch with an invalid row %+v", b2)
	}
	w = do("/api/batches/{id}/report", "GET", "/api/batches/"+b2.ID+"/report", "issuer", nil, 302, nil)
	if loc := w.Header().Get("Location"); !strings.Contains(loc, "/files/reports/") {
		t.Errorf("report redirect %q", loc)
	}
	do("/api/batches/{id}/submit", "POST", "/api/batches/"+b2.ID+"/submit", "issuer", map[string]bool{"skip_invalid": true}, 200, &b2)
	var b3 batchOut
	must(t, e.call("POST", "/api/batches", "issuer", batchBody(1, 0, false)), 201, &b3)
	e.awaitApproval(b3.ID)
	do("/api/batches/{id}/request-changes", "POST", "/api/batches/"+b3.ID+"/request-changes", "approver", map[string]string{"reason": "wrong date"}, 200, &b3)
	if b3.Status != credbatch.BatchRejected {
		t.Errorf("changes requested: %s", b3.Status)
	}
	do("/api/batches/{id}/cancel", "POST", "/api/batches/"+b3.ID+"/cancel", "issuer", map[string]string{"reason": "duplicate"}, 200, &b3)
	if b3.Status != credbatch.BatchCancelled {
		t.Errorf("cancelled: %s", b3.Status)
	}
	var b4 batchOut
	must(t, e.call("POST", "/api/batches", "issuer", batchBody(1, 0, false)), 201, &b4)
	e.awaitApproval(b4.ID)
	do("/api/batches/{id}/reject", "POST", "/api/batches/"+b4.ID+"/reject", "approver", map[string]string{"reason": "not eligible"}, 200, &b4)
	if b4.Status != credbatch.BatchCancelled || !slices.Contains(e.workflow.failed, "task-"+b4.ID+":BatchRejected") {
		t.Errorf("rejected %s, workflow failures %v", b4.Status, e.workflow.failed)
	}
	var b5 batchOut
	must(t, e.call("POST", "/api/batches", "issuer", batchBody(1, 0, false)), 201, &b5)
	for _, step := range [][2]credbatch.BatchStatus{{credbatch.BatchParsed, credbatch.BatchApproved}, {credbatch.BatchApproved, credbatch.BatchIssuing}, {credbatch.BatchIssuing, credbatch.BatchPaused}} {
		if _, err := e.store.TransitionBatch(ctx, b5.ID, step[0], step[1], credbatch.BatchChange{}); err != nil {
			t.Fatal(err)
		}
	}
	do("/api/batches/{id}/resume", "POST", "/api/batches/"+b5.ID+"/resume", "issuer", nil, 200, &b5)
	if b5.Status != credbatch.BatchIssuing {
		t.Errorf("resumed: %s", b5.Status)
	}

	// Retry: a batch completed with failures goes back to issuing once; a repeat starts nothing.
	var b6 batchOut
	must(t, e.call("POST", "/api/batches", "issuer", batchBody(1, 0, false)), 201, &b6)
	for _, step := range [][2]credbatch.BatchStatus{{credbatch.BatchParsed, credbatch.BatchApproved}, {credbatch.BatchApproved, credbatch.BatchIssuing}, {credbatch.BatchIssuing, credbatch.BatchCompletedFailed}} {
		if _, err := e.store.TransitionBatch(ctx, b6.ID, step[0], step[1], credbatch.BatchChange{Counts: &credbatch.Counts{Rows: 1, Valid: 1, Failed: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	started := len(e.workflow.started)
	do("/api/batches/{id}/retry", "POST", "/api/batches/"+b6.ID+"/retry", "issuer", nil, 200, &b6)
	do("/api/batches/{id}/retry", "POST", "/api/batches/"+b6.ID+"/retry", "issuer", nil, 200, &b6)
	if b6.Status != credbatch.BatchIssuing || len(e.workflow.started) != started+1 {
		t.Errorf("retried: %s, %d executions started, want issuing and 1", b6.Status, len(e.workflow.started)-started)
	}
	must(t, e.call("POST", "/api/batches/"+b5.ID+"/retry", "issuer", nil), 200, nil) // issuing: nothing new
	must(t, e.call("POST", "/api/batches/"+b4.ID+"/retry", "issuer", nil), 409, nil)

	// Suppressions.
	if err := e.store.PutSuppression(ctx, credbatch.Suppression{Email: "gone@example.org", Reason: "bounce", At: e.now}); err != nil {
		t.Fatal(err)
	}
	var sup credbatch.Suppression
	do("/api/suppressions/{email}", "GET", "/api/suppressions/gone@example.org", "admin", nil, 200, &sup)
	do("/api/suppressions/{email}", "DELETE", "/api/suppressions/gone@example.org", "admin", nil, 204, nil)
	var audit credbatch.Page[credbatch.AuditEntry]
	do("/api/audit", "GET", "/api/audit?limit=10", "admin", nil, 200, &audit)
	if len(audit.Items) != 2 || audit.Items[0].Target != "definition/badge" || audit.Items[1].Target != "definition/course" {
		t.Errorf("audit trail %+v: want the initial policies of badge and course", audit.Items)
	}

	// Evidence per row: a file PUT to a row, another uploaded to a presigned URL and confirmed.
	must(t, e.call("POST", "/api/definitions", "admin", credbatch.Definition{ID: "visit", Name: "Site Visit",
		Evidence: credbatch.EvidenceSettings{Policy: credbatch.EvidenceOptional}}), 201, nil)
	var b7 batchOut
	must(t, e.call("POST", "/api/batches", "issuer", visitBatch()), 201, &b7)
	var attached struct {
		Row   credbatch.Row
		Batch batchOut
	}
	png := append([]byte("\x89PNG\r\n\x1a\n"), "not a real image; real ones are in TestRowEvidence"...)
	do("/api/batches/{id}/rows/{row}/evidence", "PUT", "/api/batches/"+b7.ID+"/rows/2/evidence?name=site.png", "issuer", png, 200, &attached,
		"Content-Type", "image/png")
	if f := attached.Row.Evidence.FileNamed(); !f.Stored() || f.Name != "site.png" || f.MediaType != "image/png" {
		t.Errorf("attached evidence %+v", attached.Row.Evidence)
	}
	attachedPNG := *attached.Row.Evidence.FileNamed()
	var evUp struct{ URL, Method, Key string }
	do("/api/batches/{id}/rows/{row}/evidence/upload", "POST", "/api/batches/"+b7.ID+"/rows/3/evidence/upload", "issuer", nil, 200, &evUp)
	if evUp.Method != "PUT" || !strings.HasPrefix(evUp.Key, credbatch.EvidenceUploadPrefix+b7.ID+"/3/") || evUp.URL == "" {
		t.Errorf("evidence upload %+v", evUp)
	}
	if _, err := e.blob.Put(ctx, evUp.Key, strings.NewReader("%PDF-1.4\n% not a real PDF either\n"), "application/octet-stream", nil); err != nil {
		t.Fatal(err)
	}
	do("/api/batches/{id}/rows/{row}/evidence/confirm", "POST", "/api/batches/"+b7.ID+"/rows/3/evidence/confirm", "issuer",
		map[string]string{"key": evUp.Key, "name": "report.pdf"}, 200, &attached)
	if f := attached.Row.Evidence.FileNamed(); !f.Stored() || f.Name != "report.pdf" || f.MediaType != "application/pdf" {
		t.Errorf("confirmed evidence %+v", attached.Row.Evidence)
	}
	if _, err := e.blob.Head(ctx, evUp.Key); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Errorf("the confirmed upload is still stored: %v", err)
	}
	for _, step := range [][2]credbatch.BatchStatus{{credbatch.BatchParsed, credbatch.BatchApproved}, {credbatch.BatchApproved, credbatch.BatchIssuing}} {
		if _, err := e.store.TransitionBatch(ctx, b7.ID, step[0], step[1], credbatch.BatchChange{}); err != nil {
			t.Fatal(err)
		}
	}
	withEvidence := e.issue(b7.ID, 2)
	var removed struct {
		Removed   bool   `json:"removed"`
		DigestSRI string `json:"digest_sri"`
	}
	do("/api/credentials/{id}/evidence/1", "DELETE", "/api/credentials/"+withEvidence.ID+"/evidence/1?reason=wrong+file", "admin", nil, 200, &removed)
	if !removed.Removed || removed.DigestSRI != attachedPNG.Digest {
		t.Errorf("evidence removal %+v, want the PNG's digest removed", removed)
	}
	if _, err := e.blob.Head(ctx, attachedPNG.Key); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Errorf("the removed evidence file is still stored: %v", err)
	}

	// Public documents.
	var jwks struct{ Keys []map[string]any }
	do("/.well-known/jwks.json", "GET", "/.well-known/jwks.json", "", nil, 200, &jwks)
	if len(jwks.Keys) != 2 || !strings.HasSuffix(e.signer.VerificationMethod(), "#"+jwks.Keys[0]["kid"].(string)) ||
		!strings.HasSuffix(e.signer.KeyID(), "#"+jwks.Keys[1]["kid"].(string)) {
		t.Errorf("jwks %+v", jwks)
	}
	for _, path := range []string{"/.well-known/did.json", "/did.json"} {
		var did map[string]any
		do(path, "GET", path, "", nil, 200, &did)
		if did["id"] != "did:web:creds.example.org" {
			t.Errorf("%s: did %v", path, did["id"])
		}
	}
	do("/openapi.json", "GET", "/openapi.json", "", nil, 200, nil)
	do("/healthz", "GET", "/healthz", "", nil, 200, nil)

	for _, rt := range httpapi.Routes() {
		if !hit[rt.Method+" "+rt.Path] {
			t.Errorf("route %s %s was not exercised", rt.Method, rt.Path)
		}
	}
}

// visitBatch is a POST /api/batches body of two rows of the visit definition (evidence optional).
func visitBatch() map[string]any {
	return map[string]any{"definition_id": "visit", "label": "Site visits", "rows": []map[string]any{
		{"first_name": "Ann", "last_name": "Lee", "email": "ann@example.org", "issue_date": "2025-04-30"},
		{"first_name": "Bo", "last_name": "Chan", "email": "bo@example.org", "issue_date": "2025-04-30"},
	}}
}

func metaOf(headers map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range headers {
		if name, ok := strings.CutPrefix(k, "x-amz-meta-"); ok {
			out[name] = v
		}
	}
	return out
}

func multipartFile(t *testing.T, name, content string, fields map[string]string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte(content))
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

func hasCode(fs []credbatch.Finding, code string) bool {
	return slices.ContainsFunc(fs, func(f credbatch.Finding) bool { return f.Code == code })
}
