package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/validate"
)

// TestLabelsWithLineBreaksRefused: a label with CR/LF (which made the summary email
// unsendable) is refused where it comes in, with a clear error, and nothing is stored.
func TestLabelsWithLineBreaksRefused(t *testing.T) {
	e := newEnv(t)
	must(t, e.call("POST", "/api/definitions", "admin", course(false)), http.StatusCreated, nil)
	for _, label := range []string{"Spring\r\nBcc: all@example.org", "Spring\ncohort", "Spring\rcohort", "Tab\there", "Bell\a"} {
		t.Run(label, func(t *testing.T) {
			body := batchBody(2, 0, false)
			body["label"] = label
			w := e.call("POST", "/api/batches", "issuer", body)
			if w.Code != http.StatusBadRequest || errorOf(t, w).Error.Code != "invalid_label" {
				t.Fatalf("POST /api/batches = %d %s, want 400 invalid_label", w.Code, w.Body.String())
			}
			if msg := errorOf(t, w).Error.Message; !strings.Contains(msg, "one line") {
				t.Errorf("message %q does not say how to fix it", msg)
			}
			w = e.call("POST", "/api/uploads", "issuer", map[string]string{"definition_id": "course", "filename": "a.csv", "label": label})
			if w.Code != http.StatusBadRequest || errorOf(t, w).Error.Code != "invalid_label" {
				t.Fatalf("POST /api/uploads = %d %s, want 400 invalid_label", w.Code, w.Body.String())
			}
		})
	}
	page, err := e.store.ListBatches(t.Context(), credbatch.BatchFilter{})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("refused requests stored batches: %+v (%v)", page.Items, err)
	}
	var b batchOut
	body := batchBody(1, 0, false)
	body["label"] = "Cohorte d’été — 2026"
	must(t, e.call("POST", "/api/batches", "issuer", body), http.StatusCreated, &b)
}

// TestIssuerURLSchemes: issuer.url is https: only (http: on loopback), so a javascript: link
// never reaches a credential or a page.
func TestIssuerURLSchemes(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		url  string
		want int
	}{
		{"javascript:alert(document.cookie)", http.StatusBadRequest},
		{"JavaScript:alert(1)", http.StatusBadRequest},
		{"data:text/html,<script>alert(1)</script>", http.StatusBadRequest},
		{"vbscript:msgbox", http.StatusBadRequest},
		{"http://academy.example.org", http.StatusBadRequest},
		{"//academy.example.org", http.StatusBadRequest},
		{"academy.example.org", http.StatusBadRequest},
		{"https://", http.StatusBadRequest},
		{"https://user@academy.example.org", http.StatusBadRequest},
		{"https://academy.example.org/about", http.StatusCreated},
		{"http://localhost:8080/", http.StatusCreated},
		{"http://127.0.0.1:8080/", http.StatusCreated},
		{"http://[::1]:8080/", http.StatusCreated},
	}
	for i, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			d := course(true)
			d.ID = "course-" + string(rune('a'+i))
			d.Issuer = &credbatch.Issuer{Name: "Academy", URL: tc.url}
			w := e.call("POST", "/api/definitions", "admin", d)
			if w.Code != tc.want {
				t.Fatalf("issuer.url %q: %d %s, want %d", tc.url, w.Code, w.Body.String(), tc.want)
			}
			if tc.want == http.StatusBadRequest && !strings.Contains(errorOf(t, w).Error.Message, "issuer.url") {
				t.Errorf("the error does not name issuer.url: %s", w.Body.String())
			}
		})
	}
	if _, err := credbatch.ParseDefinitions(strings.NewReader(`{"issuer":{"name":"X","url":"javascript:alert(1)"},
		"definitions":[{"id":"a","name":"A"}]}`)); !credbatch.IsKind(err, credbatch.KindInvalid) || !strings.Contains(err.Error(), "issuer.url") {
		t.Errorf("a definitions file with a javascript: issuer.url: %v, want refused", err)
	}
}

// TestOneEmailCheck: resend, upload validation and definitions agree with validate's email
// check; resend accepted kim@berg before.
func TestOneEmailCheck(t *testing.T) {
	e := newEnv(t)
	b := e.setup(false, 1, 0)
	c := e.issue(b.ID, 2)
	addresses := []string{"kim@berg", "kim@berg.example", "kim@@berg.example", "kim berg@example.org", "kim@berg..example",
		"kim.berg@example.org", ".kim@example.org", "kim@-berg.example", "kim@berg.example.", "<kim@berg.example>"}
	for i, addr := range addresses {
		t.Run(addr, func(t *testing.T) {
			ok := validate.EmailProblem(addr) == ""
			w := e.call("POST", "/api/credentials/"+c.ID+"/resend", "issuer", map[string]string{"email": addr})
			if got := w.Code == http.StatusOK; got != ok {
				t.Fatalf("resend to %q: %d %s; validate says ok=%v", addr, w.Code, w.Body.String(), ok)
			}
			if !ok && errorOf(t, w).Error.Code != credbatch.CodeInvalidEmail {
				t.Errorf("resend to %q: code %s, want invalid_email", addr, errorOf(t, w).Error.Code)
			}
			body := batchBody(1, 0, false)
			body["rows"].([]map[string]any)[0]["email"] = addr
			body["label"] = "Check " + addr
			var out batchOut
			must(t, e.call("POST", "/api/batches", "issuer", body, "Idempotency-Key", "check-"+addr), http.StatusCreated, &out)
			if got := out.Counts.Valid == 1; got != ok {
				t.Errorf("upload validation of %q: valid=%v; validate says ok=%v", addr, got, ok)
			}
			d := course(true)
			d.ID = "mail-" + string(rune('a'+i))
			d.Issuer = &credbatch.Issuer{Name: "Academy", Email: addr}
			w = e.call("POST", "/api/definitions", "admin", d)
			if got := w.Code == http.StatusCreated; got != ok {
				t.Errorf("definition with issuer.email %q: %d %s; validate says ok=%v", addr, w.Code, w.Body.String(), ok)
			}
		})
	}
}
