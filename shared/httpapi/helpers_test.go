package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/dirblob"
	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/sqlite"
)

// fakeWorkflow records the workflow calls.
type fakeWorkflow struct {
	mu       sync.Mutex
	started  []string
	succeed  []string
	failed   []string
	failNext error
}

var _ credbatch.Workflow = (*fakeWorkflow)(nil)

func (f *fakeWorkflow) Start(_ context.Context, name string, _ json.RawMessage) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, name)
	return "exec:" + name, nil
}

func (f *fakeWorkflow) Succeed(_ context.Context, token string, _ json.RawMessage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.succeed = append(f.succeed, token)
	return nil
}

func (f *fakeWorkflow) Fail(_ context.Context, token, code, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = append(f.failed, token+":"+code)
	return nil
}

// fakeMailer records the messages sent.
type fakeMailer struct {
	mu   sync.Mutex
	sent []credbatch.Message
}

func (m *fakeMailer) Send(_ context.Context, msg credbatch.Message) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg)
	return "msg-" + strings.Repeat("x", len(m.sent)), nil
}

// env is one API over a fresh SQLite store and directory bucket.
type env struct {
	t        *testing.T
	api      *httpapi.API
	store    *sqlite.Store
	blob     *dirblob.Store
	workflow *fakeWorkflow
	mailer   *fakeMailer
	signer   *credential.Signer
	keys     keys.Set
	issuer   credential.Issuer
	tokens   map[string]string // role name → bearer token
	now      time.Time
	ids      int
}

const baseURL = "https://creds.example.org"

func newEnv(t *testing.T, opts ...func(*httpapi.Deps)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/credbatch.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blob, err := dirblob.New(t.TempDir(), dirblob.WithBucket("local"), dirblob.WithBaseURL("http://127.0.0.1:8080/files"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := credential.NewSigner(set, "did:web:creds.example.org")
	if err != nil {
		t.Fatal(err)
	}
	tf, err := auth.GenerateTokens()
	if err != nil {
		t.Fatal(err)
	}
	tf.Tokens = append(tf.Tokens, auth.Token{Token: "approver-two-0123456789", Subject: "approver2", Email: "approver2@localhost", Roles: []auth.Role{auth.RoleApprover}})
	authn, err := auth.NewTokens(tf.Tokens)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, blob: blob, workflow: &fakeWorkflow{}, mailer: &fakeMailer{}, signer: signer, keys: set,
		issuer: credential.Issuer{BaseURL: baseURL, Name: "Example Academy"}, tokens: map[string]string{},
		now: time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC)}
	for _, tk := range tf.Tokens {
		e.tokens[tk.Subject] = tk.Token
	}
	clock := func() time.Time { return e.now }
	d := httpapi.Deps{
		Store: st, Blob: blob, Keys: set, Signer: signer, Issuer: e.issuer, Mailer: e.mailer, From: "noreply@example.org",
		Actions: &issuance.Actions{Store: st, Workflow: e.workflow, Clock: clock},
		Auth:    authn, DID: "did:web:creds.example.org", Clock: clock, TmpDir: t.TempDir(),
		IDs: func() string {
			e.ids++
			return strings.Repeat("0", 30) + string(rune('a'+e.ids%26)) + string(rune('a'+e.ids/26%26))
		},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&d)
	}
	e.api = httpapi.New(d)
	return e
}

// call sends a request as the user ("" = no token) and returns the response.
func (e *env) call(method, path, user string, body any, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	r := httptest.NewRequest(method, path, rd)
	if rd != nil {
		r.Header.Set("Content-Type", ctype)
	}
	if user != "" {
		r.Header.Set("Authorization", "Bearer "+e.tokens[user])
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, r)
	return w
}

// must checks the status and decodes the JSON body into v (when not nil).
func must(t *testing.T, w *httptest.ResponseRecorder, want int, v any) {
	t.Helper()
	if w.Code != want {
		t.Fatalf("status %d, want %d; body %s", w.Code, want, w.Body.String())
	}
	if v != nil {
		if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
			t.Fatalf("decode %s: %v", w.Body.String(), err)
		}
	}
}

// apiError is the error shape.
type apiError struct {
	Error struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Details json.RawMessage `json:"details"`
	} `json:"error"`
}

func errorOf(t *testing.T, w *httptest.ResponseRecorder) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not an error body: %s", w.Body.String())
	}
	return e
}

// course is the definition most tests use.
func course(approval bool) credbatch.Definition {
	return credbatch.Definition{ID: "course", Name: "Course Certificate", ApprovalRequired: approval, FourEyes: approval,
		Attributes: []credbatch.Attribute{{Name: "Score", Type: credbatch.AttrNumber, Required: true}}}
}

// batchBody is a POST /api/batches body with n valid rows (and bad invalid ones).
func batchBody(n, bad int, submit bool) map[string]any {
	var rows []map[string]any
	for i := range n {
		rows = append(rows, map[string]any{"first_name": "Ada", "last_name": "Lovelace",
			"email": "ada" + string(rune('a'+i)) + "@example.org", "issue_date": "2025-04-30", "attributes": map[string]string{"Score": "97"}})
	}
	for range bad {
		rows = append(rows, map[string]any{"first_name": "Alan", "last_name": "Turing",
			"email": "not-an-email", "issue_date": "2025-04-30", "attributes": map[string]string{"Score": "x"}})
	}
	return map[string]any{"definition_id": "course", "label": "Spring cohort", "rows": rows, "submit": submit}
}

type batchOut struct {
	credbatch.Batch
	Progress         float64 `json:"progress"`
	ApprovalRequired bool    `json:"approval_required"`
	FourEyes         bool    `json:"four_eyes"`
}

// setup stores the definition and creates a batch; it returns the batch.
func (e *env) setup(approval bool, valid, invalid int) batchOut {
	e.t.Helper()
	who := "issuer" // an issuer may create a definition with the strictest policy only
	if !approval {
		who = "admin"
	}
	must(e.t, e.call("POST", "/api/definitions", who, course(approval)), http.StatusCreated, nil)
	var b batchOut
	must(e.t, e.call("POST", "/api/batches", "issuer", batchBody(valid, invalid, false)), http.StatusCreated, &b)
	return b
}

// awaitApproval puts a parsed batch where the workflow would: awaiting approval with a token.
func (e *env) awaitApproval(id string) {
	e.t.Helper()
	tok := "task-" + id
	if _, err := e.store.TransitionBatch(context.Background(), id, credbatch.BatchParsed, credbatch.BatchAwaitingApproval,
		credbatch.BatchChange{TaskToken: &tok}); err != nil {
		e.t.Fatal(err)
	}
}

// issue does what the issue worker does for row 2 of a batch: a signed credential, the row issued.
func (e *env) issue(batchID string, number int) credbatch.Credential {
	e.t.Helper()
	ctx := context.Background()
	row, err := e.store.GetRow(ctx, batchID, number)
	if err != nil {
		e.t.Fatal(err)
	}
	def, err := e.store.GetDefinition(ctx, row.DefinitionID, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	idx, err := e.store.AllocateStatusIndexes(ctx, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	c := credbatch.Credential{ID: issuance.NewID(), BatchID: batchID, RowNumber: number, DefinitionID: def.ID, DefinitionVer: def.Version,
		Email: row.Email, Name: row.FirstName + " " + row.LastName, IssueDate: row.IssueDate, ExpiryDate: row.ExpiryDate,
		Attributes: row.Attributes, Evidence: row.Evidence, StatusListIndex: idx, Status: credbatch.CredentialIssued, EmailStatus: credbatch.EmailSent,
		MessageID: "first", IssuedAt: e.now}
	doc, err := credential.Build(e.issuer, def, c)
	if err != nil {
		e.t.Fatal(err)
	}
	secured, err := e.signer.Secure(doc, e.now)
	if err != nil {
		e.t.Fatal(err)
	}
	c.JWT = string(secured)
	if c.JWTDetached, err = e.signer.SignStored(secured); err != nil { // as the chunk worker does
		e.t.Fatal(err)
	}
	if err := e.store.CreateCredential(ctx, c); err != nil {
		e.t.Fatal(err)
	}
	row.Status, row.CredentialID = credbatch.RowIssuing, c.ID
	if row, err = e.store.UpdateRow(ctx, row, credbatch.RowValid); err != nil {
		e.t.Fatal(err)
	}
	row.Status = credbatch.RowIssued
	if _, err = e.store.UpdateRow(ctx, row, credbatch.RowIssuing); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.AddCounts(ctx, batchID, credbatch.Counts{Issued: 1}); err != nil {
		e.t.Fatal(err)
	}
	return c
}
