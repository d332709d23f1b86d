package pages_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/infra/local/stack"
	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/pages"
)

const baseURL = "https://creds.test"

// Bearer tokens of the test principals.
const (
	tokApprover = "approver-token-0123456789"
	tokIssuer   = "issuer-token-0123456789"
	tokAdmin    = "admin-token-0123456789"
	tokUploader = "uploader-approver-token" // an approver who uploads batches (four-eyes)
	uploader    = "uploader@example.com"
)

const definitions = `{"definitions":[{"id":"web-101","name":"Web Fundamentals",
	"description":"Completed the Web Fundamentals course.","criteria":"Pass the final assessment.",
	"attributes":[{"name":"Score","type":"number","required":true,"min":0,"max":100}],
	"expiry":{"policy":"optional"},"approval_required":true,"four_eyes":true,"duplicates":"allow"}]}`

// env is a local stack with the pages in front of it.
type env struct {
	st       *stack.Stack
	h        http.Handler
	sessions map[string]string // bearer token → session cookie value
	tokens   auth.Authenticator
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with the stack's configuration adjusted by with (nil: as it is).
func newEnvWith(t *testing.T, with func(*stack.Config)) *env {
	t.Helper()
	ctx := context.Background()
	cfg := stack.Config{DataDir: t.TempDir(),
		Issuer: credential.Issuer{BaseURL: baseURL, Name: "Test Academy", URL: "https://academy.test"},
		Flow:   issuance.Config{Approvers: []string{"approver@example.com"}}}
	if with != nil {
		with(&cfg)
	}
	st, err := stack.Open(ctx, cfg)
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
		{Token: tokApprover, Subject: "approver", Email: "approver@example.com", Roles: []auth.Role{auth.RoleApprover}},
		{Token: tokIssuer, Subject: "issuer", Email: "issuer@example.com", Roles: []auth.Role{auth.RoleIssuer}},
		{Token: tokAdmin, Subject: "admin", Email: "admin@example.com", Roles: []auth.Role{auth.RoleAdmin}},
		{Token: tokUploader, Subject: "uploader", Email: uploader, Roles: []auth.Role{auth.RoleIssuer, auth.RoleApprover}},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := pages.New(pages.Deps{Store: st.Store, Actions: st.Actions, Flow: st.Flow, Keys: st.Keys, Issuer: st.Config.Issuer, Auth: tokens})
	return &env{st: st, h: h, sessions: map[string]string{}, tokens: tokens}
}

// csvRows returns a CSV of n rows for web-101; the rows numbered in bad (spreadsheet
// numbering, header = 1) get a score out of range.
func csvRows(n int, bad ...int) string {
	var b strings.Builder
	b.WriteString("First Name,Last Name,Email,Score,Issue Date\n")
	for i := 0; i < n; i++ {
		score := 50 + i%50
		for _, r := range bad {
			if r == i+2 {
				score = 150
			}
		}
		fmt.Fprintf(&b, "Person%d,Tester,person%d@example.com,%d,2026-01-15\n", i+2, i+2, score)
	}
	return b.String()
}

// awaitingBatch drops a CSV for web-101 (uploaded by `uploader`) and waits until the batch
// awaits approval with a task token; invalid rows are skipped on submit.
func (e *env) awaitingBatch(t *testing.T, name, csv string) credbatch.Batch {
	t.Helper()
	ctx := context.Background()
	key := ingest.UploadsPrefix + "web-101/" + name + ".csv"
	if _, err := e.st.Bucket.Put(ctx, key, strings.NewReader(csv), "text/csv",
		map[string]string{ingest.MetaLabel: "Cohort " + name, ingest.MetaUploader: uploader}); err != nil {
		t.Fatal(err)
	}
	w := &stack.Watcher{Stack: e.st, Settle: 20 * time.Millisecond}
	var b credbatch.Batch
	for i := 0; b.ID == ""; i++ {
		got, err := w.Scan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range got {
			if g.Source.Key == key {
				b = g
			}
		}
		if b.ID != "" {
			break
		}
		if i > 200 {
			t.Fatalf("the watcher did not pick up %s", key)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b.Status == credbatch.BatchRejected {
		var err error
		if b, err = e.st.Actions.Submit(ctx, b.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	return e.waitBatch(t, b.ID, func(b credbatch.Batch) bool { return b.TaskToken != "" })
}

// waitBatch polls a batch until cond holds (at most 30 seconds).
func (e *env) waitBatch(t *testing.T, id string, cond func(credbatch.Batch) bool) credbatch.Batch {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := e.st.Store.GetBatch(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(b) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %s stayed %s (counts %+v)", id, b.Status, b.Counts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// request is one request to the pages.
type request struct {
	method string
	path   string
	form   url.Values
	raw    []byte // a body sent as it is (set its Content-Type in header)
	cookie string // sign in with this token (once per env) and send the session cookie
	sid    string // a raw session cookie value
	flash  string // flash cookie value
	bearer string // token sent in an Authorization header
	header map[string]string
	login  *http.Cookie // the login form's CSRF cookie
}

type response struct {
	code int
	body string
	hdr  http.Header
}

func (e *env) do(t *testing.T, rq request) response {
	t.Helper()
	method := rq.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if rq.form != nil {
		body = strings.NewReader(rq.form.Encode())
	}
	if rq.raw != nil {
		body = bytes.NewReader(rq.raw)
	}
	r := httptest.NewRequest(method, baseURL+rq.path, body)
	if rq.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if rq.cookie != "" {
		r.AddCookie(&http.Cookie{Name: pages.SessionCookie, Value: e.session(t, rq.cookie)})
	}
	if rq.sid != "" {
		r.AddCookie(&http.Cookie{Name: pages.SessionCookie, Value: rq.sid})
	}
	if rq.login != nil {
		r.AddCookie(rq.login)
	}
	if rq.flash != "" {
		r.AddCookie(&http.Cookie{Name: "credbatch_flash", Value: rq.flash})
	}
	if rq.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+rq.bearer)
	}
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return response{code: w.Code, body: w.Body.String(), hdr: w.Result().Header}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token from a review page.
func csrf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in the page:\n%s", body)
	}
	return html.UnescapeString(m[1])
}

// text strips tags and collapses space, for matching sentences across markup.
func text(body string) string {
	s := regexp.MustCompile(`(?s)<style>.*?</style>|<[^>]+>`).ReplaceAllString(body, " ")
	s = strings.Join(strings.Fields(html.UnescapeString(s)), " ")
	return strings.NewReplacer(" :", ":", " .", ".", " ,", ",", "( ", "(", " )", ")").Replace(s)
}

func wantContains(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func wantLacks(t *testing.T, body string, nots ...string) {
	t.Helper()
	for _, n := range nots {
		if strings.Contains(body, n) {
			t.Errorf("page contains %q", n)
		}
	}
}

// cookieOf returns the cookie a response sets, or nil.
func cookieOf(r response, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.hdr}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// signIn signs in through the login form (GET for its CSRF cookie and token, then POST) and
// returns the POST's response.
func (e *env) signIn(t *testing.T, token string, extra url.Values) response {
	t.Helper()
	form := e.do(t, request{path: pages.LoginPath})
	login := cookieOf(form, "credbatch_login")
	if login == nil {
		t.Fatalf("the login form set no login cookie:\n%s", form.body)
	}
	v := url.Values{"token": {token}, "csrf": {csrf(t, form.body)}}
	for k, vs := range extra {
		v[k] = vs
	}
	return e.do(t, request{method: http.MethodPost, path: pages.LoginPath, form: v,
		login: &http.Cookie{Name: login.Name, Value: login.Value}})
}

// session returns the session cookie value of a sign-in with the token ("" for a token the
// form refuses), signing in once per env.
func (e *env) session(t *testing.T, token string) string {
	t.Helper()
	if sid, ok := e.sessions[token]; ok {
		return sid
	}
	got := e.signIn(t, token, nil)
	sid := "no-session-" + token
	if c := cookieOf(got, pages.SessionCookie); c != nil && c.Value != "" {
		sid = c.Value
	}
	e.sessions[token] = sid
	return sid
}
