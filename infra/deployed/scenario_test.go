package deployed_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/credbatch/credbatch/infra/deployed"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/pages"
	"github.com/credbatch/credbatch/shared/report"
	"github.com/credbatch/credbatch/shared/unsubscribe"
	"github.com/xuri/excelize/v2"
)

const (
	issuerEmail   = "issuer@northwind.example"
	approverEmail = "approver@northwind.example"
	adminEmail    = "admin@northwind.example"
	audience      = "credbatch-e2e"
)

// startHarness deploys the stack and starts the deployed shape, or skips (fails under
// CI=true) when the backends are not running.
func startHarness(t *testing.T, opts ...func(*deployed.Config)) *deployed.Harness {
	t.Helper()
	moto, ddb := os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")
	if moto == "" || ddb == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but AWS_ENDPOINT_URL_S3 (moto) or AWS_ENDPOINT_URL_DYNAMODB (DynamoDB Local) is not set")
		}
		t.Skip("set AWS_ENDPOINT_URL_S3 (moto) and AWS_ENDPOINT_URL_DYNAMODB (DynamoDB Local): make backends")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deployed.FindTools(root); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	work := os.Getenv("CREDBATCH_E2E_DIR")
	if work == "" {
		work = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c := deployed.Config{
		Root: root, MotoURL: moto, DynamoURL: ddb, WorkDir: work,
		Parameters: map[string]string{
			"PublicBaseUrl":          "https://credentials.northwind.example",
			"SenderEmail":            "certificates@northwind.example",
			"AdminEmail":             adminEmail,
			"ApproverEmails":         approverEmail,
			"IssuerName":             "Northwind Training Academy",
			"AuthAudience":           audience,
			"RolesClaim":             "cognito:groups",
			"ApprovalTimeoutSeconds": "60", // the template's minimum: the timeout path takes a minute
		},
		Pools: map[string]int{"IssueFunction": 2, "ApiFunction": 2},
	}
	for _, o := range opts {
		o(&c)
	}
	h, err := deployed.Start(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

type client struct {
	t     *testing.T
	h     *deployed.Harness
	token string
}

func user(t *testing.T, h *deployed.Harness, email string, roles ...string) *client {
	t.Helper()
	return &client{t: t, h: h, token: token(t, h, email, roles...)}
}

// token is a user's token from the stack's OpenID provider ("" for no user).
func token(t *testing.T, h *deployed.Harness, email string, roles ...string) string {
	t.Helper()
	tok := ""
	if email != "" {
		var err error
		tok, err = h.IdP.Token(h.IdP.URL, audience, map[string]any{"sub": "sub-" + email, "email": email, "cognito:groups": roles}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
	}
	return tok
}

// do sends a request through the HTTP API and decodes a JSON answer into out (when not nil).
func (c *client) do(method, path string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.h.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	if resp.StatusCode >= 300 {
		c.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return resp.StatusCode
}

// concreteRoute turns a ServeMux pattern into a request it matches: "GET /credentials/{id}"
// -> GET /credentials/x1; a pattern without a method is a GET; a prefix gets a last segment.
func concreteRoute(pattern string) (method, path string) {
	method, path = "GET", pattern
	if m, p, ok := strings.Cut(pattern, " "); ok {
		method, path = m, p
	}
	path = regexp.MustCompile(`\{[^}]+\}`).ReplaceAllStringFunc(strings.ReplaceAll(path, "{$}", ""), func(string) string { return "x1" })
	if strings.HasSuffix(path, "/") && path != "/" {
		path += "x1"
	}
	return method, path
}

// on is the same user for a subtest's t.
func (c *client) on(t *testing.T) *client { return &client{t: t, h: c.h, token: c.token} }

func (c *client) must(method, path string, body any, out any, want int) {
	c.t.Helper()
	if got := c.do(method, path, body, out); got != want {
		c.t.Fatalf("%s %s: status %d, want %d", method, path, got, want)
	}
}

type batchOut struct {
	credbatch.Batch
	FourEyes bool `json:"four_eyes"`
}

// eventually polls cond every 250 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, d)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (c *client) batch(id string) batchOut {
	c.t.Helper()
	var b batchOut
	c.must("GET", "/api/batches/"+url.PathEscape(id), nil, &b, 200)
	return b
}

// batchOf waits for the batch ingested from key.
func (c *client) batchOf(key string) batchOut {
	c.t.Helper()
	var found batchOut
	eventually(c.t, 3*time.Minute, "batch of "+key, func() bool {
		var page struct{ Items []batchOut }
		c.must("GET", "/api/batches", nil, &page, 200)
		for _, b := range page.Items {
			if b.Source.Key == key && b.Status != credbatch.BatchReceived {
				found = b
				return true
			}
		}
		return false
	})
	return found
}

// submit submits a rejected batch's valid rows; ingest submits a batch whose rows are all
// valid itself.
func (c *client) submit(b batchOut) {
	c.t.Helper()
	if b.Status == credbatch.BatchRejected {
		c.must("POST", "/api/batches/"+b.ID+"/submit", map[string]bool{"skip_invalid": true}, nil, 200)
	}
}

func put(t *testing.T, h *deployed.Harness, key string, body []byte, ctype string, meta map[string]string) {
	t.Helper()
	if _, err := h.S3Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(h.Deploy.Buckets["Bucket"].Name),
		Key: aws.String(key), Body: bytes.NewReader(body), ContentType: aws.String(ctype), Metadata: meta}); err != nil {
		t.Fatal(err)
	}
}

const (
	xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	csvType  = "text/csv"
)

// csvFile is an upload of n fresh web-101 recipients (mailbox-simulator addresses tagged
// with tag), so that it is not a duplicate of an earlier batch.
func csvFile(tag string, n int) []byte {
	var b bytes.Buffer
	b.WriteString("ID,First Name,Last Name,Email,Issue Date,Score\r\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "web-101,Ada%d,Lovelace,success+%s-%d@simulator.amazonses.com,2026-11-20,%d\r\n", i, tag, i, 60+i)
	}
	return b.Bytes()
}

// TestDeployedShape runs the scenario on the deployed shape: the stack from the
// transformed template in moto's CloudFormation, the nine real binaries under the Lambda
// RIE, and every event delivered from the stack's wiring. Its last log line is the summary.
func TestDeployedShape(t *testing.T) {
	h := startHarness(t)
	d := h.Deploy
	t.Logf("stack %s: %s, %d resources (%d provisioned by the harness: %v)", d.StackName, d.Status, d.ResourceCount, len(d.Provisioned), d.Provisioned)
	if d.Status != "CREATE_COMPLETE" || d.ResourceCount < 33 || len(d.Functions) != 9 {
		t.Fatalf("stack %s, %d resources, %d functions", d.Status, d.ResourceCount, len(d.Functions))
	}
	issuer := user(t, h, issuerEmail, "issuer")
	approver := user(t, h, approverEmail, "approver")
	admin := user(t, h, adminEmail, "admin")
	public := user(t, h, "")

	t.Run("routes and authorizer", func(t *testing.T) {
		public := public.on(t)
		if got := public.do("GET", "/api/definitions", nil, nil); got != http.StatusUnauthorized {
			t.Errorf("an /api route without a token: %d, want 401 from the authorizer", got)
		}
		forged, _ := (func() (string, error) {
			other, err := deployed.NewIdP()
			if err != nil {
				return "", err
			}
			return other.Token(h.IdP.URL, audience, map[string]any{"sub": "x", "cognito:groups": []string{"admin"}}, time.Hour)
		})()
		if got := (&client{t: t, h: h, token: forged}).do("GET", "/api/definitions", nil, nil); got != http.StatusUnauthorized {
			t.Errorf("a token signed by another key: %d, want 401", got)
		}
		public.must("GET", "/healthz", nil, nil, 200)
		// Every public route (the VC-JWT too: signed at issuance, stored) and every credential
		// page is the public function's, whose role cannot reach the signing-key secret; the
		// console, the review pages and /api are the api function's.
		type want struct {
			fn         string
			authorized bool
		}
		routes := map[string]want{}
		for _, rt := range httpapi.Routes() {
			w := want{"ApiFunction", !rt.Public}
			if rt.Public {
				w.fn = "PublicFunction"
			}
			routes[rt.Method+" "+rt.Path] = w
		}
		for _, p := range httpapi.CredentialPagePatterns {
			routes[p] = want{"PublicFunction", false}
		}
		for _, p := range append([]string{pages.ReviewPrefix, "GET " + pages.LoginPath, "POST " + pages.LoginPath, unsubscribe.Pattern}, pages.ConsolePatterns...) {
			routes[p] = want{"ApiFunction", false}
		}
		for pattern, w := range routes {
			method, path := concreteRoute(pattern)
			fn, authorized, err := h.Gateway.FunctionFor(method, path)
			if err != nil {
				t.Fatal(err)
			}
			if fn != w.fn || authorized != w.authorized {
				t.Errorf("%s (%s %s): routed to %q (authorizer %v), want %s (authorizer %v)", pattern, method, path, fn, authorized, w.fn, w.authorized)
			}
		}
		var jwks struct{ Keys []map[string]any }
		public.must("GET", "/.well-known/jwks.json", nil, &jwks, 200)
		if len(jwks.Keys) == 0 {
			t.Error("the JWKS has no key")
		}
	})

	// The signing keys were created at deploy time by the SigningKeys custom resource (the
	// keys function under the RIE, answering a CloudFormation request); the runtime functions
	// only read them. Another Create or Update (a stack update, CloudFormation's retry) keeps
	// the keys, and so does Delete (the secret is retained).
	t.Run("signing keys at deploy time", func(t *testing.T) {
		active, _ := h.Custom["SigningKeys"].Data["ActiveKeyId"].(string)
		var jwks struct{ Keys []struct{ Kid string } }
		public.on(t).must("GET", "/.well-known/jwks.json", nil, &jwks, 200)
		if active == "" || !slices.ContainsFunc(jwks.Keys, func(k struct{ Kid string }) bool { return k.Kid == active }) {
			t.Fatalf("the SigningKeys resource made key %q; the JWKS has %v", active, jwks.Keys)
		}
		// The last Create reads the secret after the Delete.
		for _, rt := range []cfn.RequestType{cfn.RequestCreate, cfn.RequestUpdate, cfn.RequestDelete, cfn.RequestCreate} {
			resp, err := h.CustomResource(context.Background(), "SigningKeys", rt)
			if err != nil {
				t.Fatalf("%s: %v", rt, err)
			}
			if got, _ := resp.Data["ActiveKeyId"].(string); rt != cfn.RequestDelete && got != active {
				t.Errorf("%s: active key %q, want %q kept", rt, got, active)
			}
		}
	})

	// Definitions through the API.
	raw, err := os.ReadFile("../local/sample/definitions.json")
	if err != nil {
		t.Fatal(err)
	}
	var sample struct{ Definitions []json.RawMessage }
	if err := json.Unmarshal(raw, &sample); err != nil {
		t.Fatal(err)
	}
	for _, def := range sample.Definitions {
		admin.must("POST", "/api/definitions", def, nil, http.StatusCreated)
	}
	var defs struct{ Items []credbatch.Definition }
	issuer.must("GET", "/api/definitions", nil, &defs, 200)
	if len(defs.Items) != len(sample.Definitions) {
		t.Fatalf("%d definitions listed, created %d", len(defs.Items), len(sample.Definitions))
	}

	// A file outside uploads/ triggers nothing.
	wb, err := os.ReadFile("../local/sample/northwind-awards.xlsx")
	if err != nil {
		t.Fatal(err)
	}
	put(t, h, "incoming/northwind-awards.xlsx", wb, xlsxType, nil)

	// The approval-timeout batch starts first: it expires after the stack's 60 s.
	expireKey := "uploads/expire.csv"
	put(t, h, expireKey, csvFile("expire", 3), csvType, map[string]string{"label": "expires", "uploader": issuerEmail})
	expiring := issuer.batchOf(expireKey)
	issuer.submit(expiring)

	// The sample workbook into the bucket.
	key := "uploads/northwind-awards.xlsx"
	put(t, h, key, wb, xlsxType, map[string]string{"label": "Autumn 2026 awards", "uploader": issuerEmail})
	b := issuer.batchOf(key)
	eventually(t, time.Minute, "error report", func() bool { b = issuer.batch(b.ID); return b.ReportKey != "" })
	t.Logf("batch %s: %s, %d rows, %d valid, %d invalid", b.ID, b.Status, b.Counts.Rows, b.Counts.Valid, b.Counts.Invalid)
	if b.Counts.Invalid == 0 || b.Counts.Valid == 0 || b.ReportKey == "" {
		t.Fatalf("batch %+v: want valid and invalid rows and an error report", b.Counts)
	}

	t.Run("findings and error report", func(t *testing.T) {
		issuer := issuer.on(t)
		var rows struct{ Items []credbatch.Row }
		issuer.must("GET", "/api/batches/"+b.ID+"/rows?status=invalid", nil, &rows, 200)
		if len(rows.Items) != b.Counts.Invalid {
			t.Errorf("%d invalid rows listed, batch counts %d", len(rows.Items), b.Counts.Invalid)
		}
		for _, r := range rows.Items {
			if len(r.Findings) == 0 || r.Findings[0].Code == "" {
				t.Errorf("invalid row %d has no coded finding", r.Number)
			}
		}
		obj, err := h.S3Client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(d.Buckets["Bucket"].Name), Key: aws.String(b.ReportKey)})
		if err != nil || aws.ToInt64(obj.ContentLength) == 0 {
			t.Errorf("error report %s: %v", b.ReportKey, err)
		}
		if n := h.S3.Delivered(b.ReportKey); n != 0 {
			t.Errorf("the error report under reports/ got %d S3 events; the filter is uploads/", n)
		}
	})
	if n := h.S3.Delivered("incoming/northwind-awards.xlsx"); n != 0 {
		t.Errorf("a key outside uploads/ got %d S3 events", n)
	}

	// Submit the valid rows; four-eyes approval.
	issuer.submit(b)
	eventually(t, 2*time.Minute, "awaiting approval", func() bool { return issuer.batch(b.ID).Status == credbatch.BatchAwaitingApproval })
	time.Sleep(2 * time.Second) // the approval function stores the task token after the status
	if got := issuer.do("POST", "/api/batches/"+b.ID+"/approve", nil, nil); got < 400 {
		t.Errorf("the submitter approved their own batch: %d", got)
	}
	user(t, h, issuerEmail, "approver", "issuer").do("POST", "/api/batches/"+b.ID+"/approve", nil, nil)
	eventually(t, time.Minute, "approve", func() bool {
		return approver.do("POST", "/api/batches/"+b.ID+"/approve", nil, nil) == 200 || issuer.batch(b.ID).Status != credbatch.BatchAwaitingApproval
	})
	eventually(t, 5*time.Minute, "issued", func() bool { return issuer.batch(b.ID).Status.Terminal() })
	b = issuer.batch(b.ID)
	t.Logf("batch %s: %s, issued %d of %d, failed %d", b.ID, b.Status, b.Counts.Issued, b.Counts.Valid, b.Counts.Failed)
	if b.Counts.Issued != b.Counts.Valid || b.Counts.Issued == 0 {
		t.Fatalf("batch %s: issued %d of %d valid rows", b.Status, b.Counts.Issued, b.Counts.Valid)
	}
	if b.ApprovedBy != approverEmail && !strings.Contains(b.ApprovedBy, "approver") {
		t.Errorf("approved by %q", b.ApprovedBy)
	}

	var issued struct{ Items []credbatch.Row }
	issuer.must("GET", "/api/batches/"+b.ID+"/rows?status=issued", nil, &issued, 200)
	t.Run("credentials verified from the public routes", func(t *testing.T) {
		public := public.on(t)
		checked := 0
		for _, r := range issued.Items {
			if r.CredentialID == "" || checked >= 3 {
				continue
			}
			req, _ := http.NewRequest("GET", h.URL+"/credentials/"+r.CredentialID+"/jwt", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			jwt, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || len(jwt) == 0 {
				t.Fatalf("GET /credentials/%s/jwt: %d", r.CredentialID, resp.StatusCode)
			}
			var v struct{ Valid bool }
			public.must("POST", "/verify", map[string]string{"jwt": strings.TrimSpace(string(jwt))}, &v, 200)
			if !v.Valid {
				t.Errorf("credential %s does not verify", r.CredentialID)
			}
			// The JSON-LD credential and its page, from the public function, with the keys
			// the keys function published.
			var ld json.RawMessage
			public.must("GET", "/credentials/"+r.CredentialID+"/json", nil, &ld, 200)
			v.Valid = false
			public.must("POST", "/verify", map[string]json.RawMessage{"credential": ld}, &v, 200)
			if !v.Valid {
				t.Errorf("credential %s (JSON-LD) does not verify", r.CredentialID)
			}
			public.must("GET", "/credentials/"+r.CredentialID, nil, nil, 200)
			checked++
		}
		if checked == 0 {
			t.Fatal("no issued row has a credential")
		}
	})

	var bounced, complained string
	var feedbackAt time.Time
	t.Run("bounce and complaint recorded with suppression", func(t *testing.T) {
		issuer, admin := issuer.on(t), admin.on(t)
		for _, r := range issued.Items {
			switch {
			case strings.HasPrefix(r.Email, "bounce"):
				bounced = r.Email
			case strings.HasPrefix(r.Email, "complaint"):
				complained = r.Email
			}
		}
		if bounced == "" || complained == "" {
			t.Fatalf("the sample has no bounce and complaint recipients among the issued rows")
		}
		eventually(t, time.Minute, "feedback", func() bool {
			c := issuer.batch(b.ID).Counts
			return c.Bounced > 0 && c.Complained > 0 && c.Delivered > 0
		})
		feedbackAt = time.Now()
		for _, e := range []string{bounced, complained} {
			var s credbatch.Suppression
			admin.must("GET", "/api/suppressions/"+url.PathEscape(e), nil, &s, 200)
			if s.Reason == "" {
				t.Errorf("suppression of %s has no reason", e)
			}
		}
	})

	t.Run("a chunk that fails for good", func(t *testing.T) {
		issuer, approver := issuer.on(t), approver.on(t)
		fkey := "uploads/paused-account.csv"
		put(t, h, fkey, csvFile("paused", 4), csvType, map[string]string{"label": "paused account", "uploader": issuerEmail})
		fb := issuer.batchOf(fkey)
		h.SES.SetRefuse(func(e deployed.Email) *deployed.Fault {
			// Only the batch's credential emails: notifications carry its batch_id too.
			if e.Tags["batch_id"] == fb.ID && e.Tags["credential_id"] != "" {
				return deployed.Paused
			}
			return nil
		})
		defer h.SES.SetRefuse(nil)
		issuer.submit(fb)
		eventually(t, 2*time.Minute, "awaiting approval", func() bool { return issuer.batch(fb.ID).Status == credbatch.BatchAwaitingApproval })
		eventually(t, time.Minute, "approve", func() bool {
			return approver.do("POST", "/api/batches/"+fb.ID+"/approve", nil, nil) == 200 || issuer.batch(fb.ID).Status != credbatch.BatchAwaitingApproval
		})
		eventually(t, 5*time.Minute, "finished", func() bool { return issuer.batch(fb.ID).Status.Terminal() })
		fb = issuer.batch(fb.ID)
		t.Logf("batch %s: %s, issued %d, failed %d, sends refused %d", fb.ID, fb.Status, fb.Counts.Issued, fb.Counts.Failed, h.SES.Refused())
		if fb.Status != credbatch.BatchCompletedFailed || fb.Counts.Failed == 0 {
			t.Fatalf("batch %s with a failed chunk: %s, failed %d, issued %d", fb.ID, fb.Status, fb.Counts.Failed, fb.Counts.Issued)
		}
		var failed struct{ Items []credbatch.Row }
		issuer.must("GET", "/api/batches/"+fb.ID+"/rows?status=failed", nil, &failed, 200)
		if len(failed.Items) == 0 || failed.Items[0].Error == "" {
			t.Errorf("failed rows carry no last error: %+v", failed.Items)
		}
		if h.SES.Refused() == 0 {
			t.Error("no send was refused")
		}
	})

	t.Run("aborted execution marked failed and the administrators told", func(t *testing.T) {
		abortedExecution(t, h, issuer.on(t), approver.on(t))
	})

	t.Run("poison execution event dead-lettered", func(t *testing.T) { poisonExecutionEvent(t, h) })

	// Issue 15: the console works the same on Lambda. The approver signs in through the
	// console's form (the stack's AuthIssuer is the harness's OpenID provider, whose keys
	// the api function fetches), finds the batch under "awaiting my approval", reviews,
	// confirms and approves it; every request is an API Gateway v2 event on a public route.
	t.Run("approval through the console", func(t *testing.T) {
		issuer := issuer.on(t)
		ckey := "uploads/console.csv"
		put(t, h, ckey, csvFile("console", 3), csvType, map[string]string{"label": "console approval", "uploader": issuerEmail})
		cb := issuer.batchOf(ckey)
		issuer.submit(cb)
		eventually(t, 2*time.Minute, "awaiting approval", func() bool { return issuer.batch(cb.ID).Status == credbatch.BatchAwaitingApproval })
		time.Sleep(2 * time.Second) // the approval function stores the task token after the status

		anon := &browser{t: t, h: h}
		if st, _, loc := anon.send("GET", "/", nil); st != http.StatusFound || !strings.HasPrefix(loc, "/login") {
			t.Errorf("the console without a session: %d to %q, want 302 to /login", st, loc)
		}
		if st, _, _ := anon.send("POST", "/approvals", url.Values{"batch": {cb.ID}, "confirm": {"yes"}}); st != http.StatusForbidden {
			t.Errorf("an approval without a session: %d, want 403", st)
		}

		br := &browser{t: t, h: h}
		br.signIn(token(t, h, approverEmail, "approver"))
		_, home := br.must("GET", "/?mine=1", nil, http.StatusOK)
		if !strings.Contains(home, `id="pick-`+cb.ID+`"`) {
			t.Fatalf("the approver's home page does not offer %s under awaiting my approval", cb.ID)
		}
		_, review := br.must("GET", "/review/"+cb.ID, nil, http.StatusOK)
		_, confirm := br.must("POST", "/approvals/confirm", url.Values{"csrf": {csrfOf(t, review)}, "batch": {cb.ID}}, http.StatusOK)
		if !strings.Contains(confirm, "console approval") {
			t.Errorf("the confirmation does not name the batch's label")
		}
		loc, _ := br.must("POST", "/approvals", url.Values{"csrf": {csrfOf(t, confirm)}, "confirm": {"yes"}, "batch": {cb.ID}}, http.StatusSeeOther)
		if !strings.HasPrefix(loc, "/?done=approved") {
			t.Errorf("after approving: redirected to %q", loc)
		}
		eventually(t, 3*time.Minute, "issued", func() bool { return issuer.batch(cb.ID).Status.Terminal() })
		cb = issuer.batch(cb.ID)
		t.Logf("batch %s approved in the console by %s: %s, issued %d of %d", cb.ID, cb.ApprovedBy, cb.Status, cb.Counts.Issued, cb.Counts.Valid)
		if cb.Status != credbatch.BatchCompleted || cb.Counts.Issued != 3 || !strings.Contains(cb.ApprovedBy, "approver") {
			t.Errorf("batch approved in the console: %s, issued %d, approved by %q", cb.Status, cb.Counts.Issued, cb.ApprovedBy)
		}
	})

	t.Run("duplicate S3 event makes one batch", func(t *testing.T) {
		issuer := issuer.on(t)
		dkey := "uploads/duplicate.csv"
		put(t, h, dkey, csvFile("duplicate", 2), csvType, map[string]string{"label": "duplicate", "uploader": issuerEmail})
		db := issuer.batchOf(dkey)
		obj, err := h.S3Client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(d.Buckets["Bucket"].Name), Key: aws.String(dkey)})
		if err != nil {
			t.Fatal(err)
		}
		// S3 delivers at least once: the same event again.
		h.S3.Redeliver(context.Background(), dkey, aws.ToInt64(obj.ContentLength), strings.Trim(aws.ToString(obj.ETag), `"`), aws.ToString(obj.VersionId), aws.ToTime(obj.LastModified))
		h.S3.Wait()
		if n := h.S3.Delivered(dkey); n != 2 {
			t.Fatalf("%d events delivered for %s, want 2", n, dkey)
		}
		var page struct{ Items []batchOut }
		issuer.must("GET", "/api/batches", nil, &page, 200)
		n := 0
		for _, x := range page.Items {
			if x.Source.Key == dkey {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d batches for %s after a duplicate event, want 1 (%s)", n, dkey, db.ID)
		}
	})

	t.Run("approval timeout", func(t *testing.T) {
		issuer := issuer.on(t)
		eventually(t, 3*time.Minute, "expired", func() bool { return issuer.batch(expiring.ID).Status == credbatch.BatchExpired })
	})

	// The report's window ends a minute behind the clock (report.DefaultLag), so the
	// schedule fires once the feedback above is older than that, as a daily schedule would.
	t.Run("delivery report to the administrator", func(t *testing.T) {
		if wait := time.Until(feedbackAt.Add(report.DefaultLag + 2*time.Second)); wait > 0 {
			time.Sleep(wait)
		}
		before := len(h.SES.Emails())
		if err := h.RunSchedule(context.Background(), "ReportFunctionSchedule"); err != nil {
			t.Fatal(err)
		}
		var rep *deployed.Email
		for _, e := range h.SES.Emails()[before:] {
			if len(e.To) > 0 && e.To[0] == adminEmail {
				rep = &e
			}
		}
		if rep == nil {
			t.Fatal("no delivery report was sent to the administrator")
		}
		t.Logf("delivery report: %q", rep.Subject)
		cells := attachedWorkbook(t, rep.Raw)
		for _, want := range []string{bounced, complained} {
			if !strings.Contains(cells, want) {
				t.Errorf("the report's workbook does not list %s", want)
			}
		}
	})

	// Every other schedule of the stack (the ingest sweep) runs its target without error.
	t.Run("schedules", func(t *testing.T) {
		for id := range d.Schedules {
			if id == "ReportFunctionSchedule" {
				continue
			}
			if err := h.RunSchedule(context.Background(), id); err != nil {
				t.Errorf("schedule %s: %v", id, err)
			}
		}
	})

	t.Run("nothing dead-lettered", func(t *testing.T) { noDeadLetters(t, h) })
	// A stack update with a new SigningKeysRotation label: the keys function makes a new active
	// key and keeps the old one, publishes both, and the public function serves them within
	// its reload interval; credentials signed with the old key still verify. The same label
	// again (CloudFormation retrying, or an update that changes something else) makes none.
	t.Run("signing keys rotated by a stack update", func(t *testing.T) {
		public := public.on(t)
		old, _ := h.Custom["SigningKeys"].Data["ActiveKeyId"].(string)
		resp, err := h.UpdateCustomResource(context.Background(), "SigningKeys", map[string]any{"Rotation": "2026-12-04"})
		if err != nil {
			t.Fatal(err)
		}
		rotated, _ := resp.Data["ActiveKeyId"].(string)
		if rotated == "" || rotated == old {
			t.Fatalf("after the rotation the active key is %q, want a new one (was %q)", rotated, old)
		}
		again, err := h.UpdateCustomResource(context.Background(), "SigningKeys", map[string]any{"Rotation": "2026-12-04"})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := again.Data["ActiveKeyId"].(string); got != rotated {
			t.Errorf("the same label again: active key %q, want %q kept", got, rotated)
		}
		eventually(t, 30*time.Second, "the public function serving the rotated keys", func() bool {
			var jwks struct{ Keys []struct{ Kid string } }
			public.must("GET", "/.well-known/jwks.json", nil, &jwks, 200)
			kids := map[string]bool{}
			for _, k := range jwks.Keys {
				kids[k.Kid] = true
			}
			return kids[old] && kids[rotated]
		})
		for _, r := range issued.Items {
			if r.CredentialID == "" {
				continue
			}
			var ld json.RawMessage
			public.must("GET", "/credentials/"+r.CredentialID+"/json", nil, &ld, 200)
			var v struct{ Valid bool }
			public.must("POST", "/verify", map[string]json.RawMessage{"credential": ld}, &v, 200)
			if !v.Valid {
				t.Errorf("credential %s, signed before the rotation, does not verify after it", r.CredentialID)
			}
			break
		}
	})

	// Each function's AWS calls through the whole scenario against its role's actions.
	t.Run("every AWS call allowed by the function's role", func(t *testing.T) { callsAllowed(t, h) })

	if errs := h.Errors(); len(errs) > 0 {
		for _, err := range errs {
			t.Errorf("event delivery: %v", err)
		}
	}
	creds := 0
	var page struct{ Items []batchOut }
	issuer.must("GET", "/api/batches", nil, &page, 200)
	for _, x := range page.Items {
		creds += x.Counts.Issued
	}
	outcome := "PASS"
	if t.Failed() {
		outcome = "FAIL"
	}
	summary := h.Summary(creds, outcome)
	if f := os.Getenv("CREDBATCH_E2E_SUMMARY"); f != "" {
		_ = os.WriteFile(f, []byte(summary+"\n"), 0o644)
	}
	t.Log(summary)
	fmt.Println(summary)
}

// attachedWorkbook returns the text of every cell of the .xlsx attached to a raw MIME email.
func attachedWorkbook(t *testing.T, raw []byte) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the report email: %v", err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		t.Fatalf("the report email is not multipart: %v", err)
	}
	var walk func(r *multipart.Reader) []byte
	walk = func(r *multipart.Reader) []byte {
		for {
			p, err := r.NextPart()
			if err != nil {
				return nil
			}
			ct, ps, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			if strings.HasPrefix(ct, "multipart/") {
				if b := walk(multipart.NewReader(p, ps["boundary"])); b != nil {
					return b
				}
				continue
			}
			if ct == xlsxType {
				b, _ := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
				return b
			}
		}
	}
	b := walk(multipart.NewReader(m.Body, params["boundary"]))
	if b == nil {
		t.Fatal("the report email has no workbook attached")
	}
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the attached workbook: %v", err)
	}
	defer f.Close()
	var all strings.Builder
	for _, sh := range f.GetSheetList() {
		rows, _ := f.GetRows(sh)
		for _, r := range rows {
			all.WriteString(strings.Join(r, "\t") + "\n")
		}
	}
	return all.String()
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf returns the CSRF token of a page's form.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the page has no CSRF field: %.300s", page)
	}
	return html.UnescapeString(m[1])
}

// browser is a console user's browser against the stack's HTTP API: it keeps the cookies
// (the harness serves plain HTTP on loopback, so the Secure ones too) and does not follow
// redirects.
type browser struct {
	t       *testing.T
	h       *deployed.Harness
	cookies map[string]string
}

func (b *browser) send(method, path string, form url.Values) (int, string, string) {
	b.t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.h.URL+path, rd)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if b.cookies == nil {
		b.cookies = map[string]string{}
	}
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(b.cookies, ck.Name)
		} else {
			b.cookies[ck.Name] = ck.Value
		}
	}
	return resp.StatusCode, string(body), resp.Header.Get("Location")
}

// must sends and requires the status; it returns the redirect location and the page.
func (b *browser) must(method, path string, form url.Values, want int) (string, string) {
	b.t.Helper()
	st, body, loc := b.send(method, path, form)
	if st != want {
		b.t.Fatalf("%s %s: %d, want %d\n%.600s", method, path, st, want, body)
	}
	return loc, body
}

// signIn signs in through the console's form with a token of the OpenID provider.
func (b *browser) signIn(tok string) {
	b.t.Helper()
	_, form := b.must("GET", "/login?next=%2F", nil, http.StatusOK)
	loc, _ := b.must("POST", "/login", url.Values{"csrf": {csrfOf(b.t, form)}, "next": {"/"}, "token": {tok}}, http.StatusSeeOther)
	if loc != "/" {
		b.t.Errorf("signed in to %q, want /", loc)
	}
	if b.cookies[pages.SessionCookie] == "" {
		b.t.Fatalf("signing in set no %s cookie", pages.SessionCookie)
	}
}
