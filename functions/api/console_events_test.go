package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/credbatch/credbatch/infra/local/stack"
	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/pages"
)

const (
	issuerToken   = "apigw-issuer-token-0123456789"
	approverToken = "apigw-approver-token-0123456789"
)

// consoleEvent is one request of testdata/console: an API Gateway HTTP API (payload 2.0,
// $default stage) event of a browser using the console, and what the function answers.
type consoleEvent struct {
	file     string
	status   int
	location string // the redirect's path and query prefix ("" = not a redirect)
	body     string // the response contains it
	ctype    string // the response's Content-Type prefix
	cookie   string // a cookie the response sets
	out      *string
}

// TestConsoleThroughAPIGatewayEvents drives the console as the api function does on Lambda:
// each event of testdata/console (bodies kept readable there; they are base64-encoded here
// as API Gateway sends form bodies) goes through httpadapter.NewV2 into the handler site.New
// builds, over the local stack. Placeholders take the cookies, CSRF tokens and batch id the
// earlier responses gave, as a browser would. An issuer signs in, downloads a template,
// uploads a file, fixes a row and submits; an approver signs in, confirms and approves from
// the home page. Every console route is covered, which the test checks against
// pages.ConsolePatterns.
func TestConsoleThroughAPIGatewayEvents(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := stack.Open(ctx, stack.Config{DataDir: t.TempDir(), Log: log,
		Issuer: credential.Issuer{BaseURL: "https://abc123.execute-api.eu-west-1.amazonaws.com", Name: "Test Academy", URL: "https://academy.example"},
		Flow:   issuance.Config{Approvers: []string{"approver@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f, err := credbatch.ParseDefinitions(strings.NewReader(`{"definitions":[{"id":"web-101","name":"Web Fundamentals",
		"attributes":[{"name":"Score","type":"number","required":true,"min":0,"max":100}],
		"expiry":{"policy":"none"},"approval_required":true,"four_eyes":true,"duplicates":"allow"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.LoadDefinitions(ctx, f.Definitions); err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens([]auth.Token{
		{Token: issuerToken, Subject: "issuer", Email: "issuer@example.com", Roles: []auth.Role{auth.RoleIssuer}},
		{Token: approverToken, Subject: "approver", Email: "approver@example.com", Roles: []auth.Role{auth.RoleApprover}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &eventRun{t: t, adapter: httpadapter.NewV2(st.Handler(tokens)), vars: map[string]string{}}

	r.send(consoleEvent{file: "01-home-no-session.json", status: 302, location: "/login?next=%2F"})
	r.signIn(issuerToken)
	r.send(consoleEvent{file: "05-template.json", status: 200, ctype: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
	r.send(consoleEvent{file: "06-upload-form.json", status: 200, body: `id="upload-form"`})
	loc := r.send(consoleEvent{file: "07-upload.json", status: 303, location: "/batches/"})
	r.vars["batch"] = strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], "/batches/")
	w := &stack.Watcher{Stack: st, Settle: time.Millisecond}
	b := waitBatch(t, st, w, r.vars["batch"], func(b credbatch.Batch) bool { return b.Status == credbatch.BatchRejected })
	if b.Label != "Autumn cohort" || b.Uploader != "issuer@example.com" || b.Counts.Invalid != 1 {
		t.Fatalf("uploaded batch %+v; want Autumn cohort by issuer@example.com with one invalid row", b)
	}
	r.send(consoleEvent{file: "08-batch.json", status: 200, body: "Autumn cohort"})
	r.send(consoleEvent{file: "09-amend.json", status: 303, location: "/batches/" + r.vars["batch"] + "?done=amended"})
	r.send(consoleEvent{file: "10-submit.json", status: 303, location: "/batches/" + r.vars["batch"] + "?done=submitted"})
	waitBatch(t, st, w, r.vars["batch"], func(b credbatch.Batch) bool { return b.TaskToken != "" })
	r.send(consoleEvent{file: "11-new-batch.json", status: 200, body: `id="manual-form"`})

	// The upload page's script: a presigned PUT straight into the bucket (S3 on AWS, where
	// the file never passes through the function; the local stack's bucket stands in here),
	// then the page that opens the batch.
	content := "First Name,Last Name,Email,Score\r\nGrace,Hopper,grace@example.org,95\r\n"
	r.vars["size"] = strconv.Itoa(len(content))
	var out string
	r.send(consoleEvent{file: "18-upload-presign.json", status: 201, ctype: "application/json", out: &out})
	var p struct {
		URL, Method, Key, Next string
		Headers                map[string]string
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.URL, "https://abc123.execute-api.eu-west-1.amazonaws.com"+stack.BucketPath+"/uploads/web-101/") || p.Method != http.MethodPut {
		t.Fatalf("presigned %s %s, want a PUT under uploads/web-101/", p.Method, p.URL)
	}
	put := httptest.NewRequest(http.MethodPut, p.URL, strings.NewReader(content))
	for k, v := range p.Headers {
		put.Header.Set(k, v)
	}
	pw := httptest.NewRecorder()
	st.Handler(tokens).ServeHTTP(pw, put)
	if pw.Code != http.StatusOK {
		t.Fatalf("PUT to the presigned URL: %d %s", pw.Code, pw.Body)
	}
	r.vars["key"], r.vars["keyraw"] = url.QueryEscape(p.Key), p.Key
	loc = r.send(consoleEvent{file: "19-upload-done.json", status: 303, location: "/batches/"})
	direct := strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], "/batches/")
	if b := waitBatch(t, st, w, direct, func(b credbatch.Batch) bool {
		return b.Status == credbatch.BatchAwaitingApproval || b.Status == credbatch.BatchParsed
	}); b.Label != "Spring direct" || b.Uploader != "issuer@example.com" || b.Counts.Valid != 1 {
		t.Errorf("directly uploaded batch %+v; want Spring direct by issuer@example.com, one valid row", b)
	}

	r.signIn(approverToken)
	r.send(consoleEvent{file: "12-home-awaiting.json", status: 200, body: `id="pick-` + r.vars["batch"] + `"`})
	r.send(consoleEvent{file: "13-review.json", status: 200, body: `id="preview-row"`})
	r.send(consoleEvent{file: "14-approvals-confirm.json", status: 200, body: "Autumn cohort"})
	r.send(consoleEvent{file: "15-approvals.json", status: 303, location: "/?done=approved-many"})
	b = waitBatch(t, st, w, r.vars["batch"], func(b credbatch.Batch) bool { return b.Status.Terminal() })
	if b.Status != credbatch.BatchCompleted || b.ApprovedBy != "approver@example.com" || b.Counts.Issued != 2 {
		t.Errorf("batch %s approved by %q, %d issued; want completed by approver@example.com, 2", b.Status, b.ApprovedBy, b.Counts.Issued)
	}
	r.send(consoleEvent{file: "16-reconciliation.json", status: 200, ctype: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
	delete(r.vars, "session")
	r.send(consoleEvent{file: "17-approve-no-session.json", status: 403, body: "Sign in first"})

	// Every console route was reached by an event.
	for _, p := range pages.ConsolePatterns {
		mux := http.NewServeMux()
		mux.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
		hit := false
		for _, path := range r.paths {
			req, _ := http.NewRequest(http.MethodGet, "https://x"+path, nil)
			if _, pat := mux.Handler(req); pat == p {
				hit = true
			}
		}
		if !hit {
			t.Errorf("no recorded event reaches the console route %q", p)
		}
	}
	files, _ := filepath.Glob("testdata/console/*.json")
	if len(files) != len(r.sent) {
		t.Errorf("%d event files, %d sent: every recorded event must be used", len(files), len(r.sent))
	}
}

// eventRun sends events with the values earlier responses gave (cookies, CSRF tokens).
type eventRun struct {
	t       *testing.T
	adapter *httpadapter.HandlerAdapterV2
	vars    map[string]string
	paths   []string
	sent    map[string]bool
}

var (
	csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	urlSafe   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

// signIn opens the sign-in form and posts the token; the console's CSRF token comes from
// the catalogue page it lands on.
func (r *eventRun) signIn(token string) {
	r.t.Helper()
	delete(r.vars, "session")
	r.send(consoleEvent{file: "02-login-form.json", status: 200, body: `id="token"`, cookie: "credbatch_login"})
	r.vars["token"] = token
	r.send(consoleEvent{file: "03-login.json", status: 303, location: "/catalogue", cookie: pages.SessionCookie})
	r.send(consoleEvent{file: "04-catalogue.json", status: 200, body: "Web Fundamentals"})
}

func (r *eventRun) send(c consoleEvent) (location string) {
	t := r.t
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata/console", c.file))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for k, v := range r.vars {
		text = strings.ReplaceAll(text, "{{"+k+"}}", v)
	}
	if i := strings.Index(text, "{{"); i >= 0 {
		t.Fatalf("%s: no value yet for %.20s", c.file, text[i:])
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal([]byte(text), &ev); err != nil {
		t.Fatalf("%s: %v", c.file, err)
	}
	if ev.Body != "" {
		ev.Headers["content-length"] = strconv.Itoa(len(ev.Body))
		if ev.IsBase64Encoded {
			ev.Body = base64.StdEncoding.EncodeToString([]byte(ev.Body))
		}
	}
	if r.sent == nil {
		r.sent = map[string]bool{}
	}
	r.sent[c.file] = true
	r.paths = append(r.paths, ev.RawPath)
	resp, err := r.adapter.ProxyWithContext(context.Background(), ev)
	if err != nil {
		t.Fatalf("%s: %v", c.file, err)
	}
	body := resp.Body
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	if resp.StatusCode != c.status {
		t.Fatalf("%s %s: status %d, want %d\n%.600s", c.file, ev.RawPath, resp.StatusCode, c.status, body)
	}
	if c.out != nil {
		*c.out = body
	}
	location = resp.Headers["Location"]
	if c.location != "" && !strings.HasPrefix(location, c.location) {
		t.Errorf("%s: redirected to %q, want %q…", c.file, location, c.location)
	}
	if c.body != "" && !strings.Contains(body, c.body) {
		t.Errorf("%s: the page lacks %q", c.file, c.body)
	}
	if c.ctype != "" && !strings.HasPrefix(resp.Headers["Content-Type"], c.ctype) {
		t.Errorf("%s: Content-Type %q, want %s", c.file, resp.Headers["Content-Type"], c.ctype)
	}
	if c.ctype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" && (!resp.IsBase64Encoded || !strings.HasPrefix(body, "PK")) {
		t.Errorf("%s: the workbook did not come back base64-encoded (%v, %.4q)", c.file, resp.IsBase64Encoded, body)
	}
	for _, sc := range resp.Cookies {
		ck, err := http.ParseSetCookie(sc)
		if err != nil {
			t.Fatalf("%s: Set-Cookie %q: %v", c.file, sc, err)
		}
		switch ck.Name {
		case pages.SessionCookie:
			r.vars["session"] = ck.Value
		case "credbatch_login":
			r.vars["login"] = ck.Value
		}
	}
	if c.cookie != "" && !strings.Contains(strings.Join(resp.Cookies, "\n"), c.cookie+"=") {
		t.Errorf("%s: no %s cookie in %q", c.file, c.cookie, resp.Cookies)
	}
	if m := csrfField.FindStringSubmatch(body); m != nil {
		tok := html.UnescapeString(m[1])
		if !urlSafe.MatchString(tok) {
			t.Fatalf("%s: CSRF token %q would need escaping in the recorded form bodies", c.file, tok)
		}
		r.vars["csrf"] = tok
	}
	return location
}

// waitBatch scans the drop folder and waits until the batch meets cond.
func waitBatch(t *testing.T, st *stack.Stack, w *stack.Watcher, id string, cond func(credbatch.Batch) bool) credbatch.Batch {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := w.Scan(context.Background()); err != nil {
			t.Fatal(err)
		}
		b, err := st.Store.GetBatch(context.Background(), id)
		if err == nil && cond(b) {
			return b
		}
		if err != nil && !credbatch.IsKind(err, credbatch.KindNotFound) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %s is %s (%v): the condition did not hold", id, b.Status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
