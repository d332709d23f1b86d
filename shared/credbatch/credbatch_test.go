package credbatch_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

func TestParseDefinitions(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		wantErr []string // substrings of the error; none = valid
	}{
		{name: "issue example", json: `{"definitions":[{"id":"web-101","name":"Web Fundamentals","description":"…",
			"attributes":[{"name":"Score","type":"number","required":true,"min":0,"max":100},
			{"name":"Certificate Number","type":"text","max_length":32},
			{"name":"Level","type":"choice","choices":["Bronze","Silver","Gold"]}],
			"expiry":{"policy":"optional","default":"P2Y"},"approval_required":true,"duplicates":"reject"}]}`},
		{name: "defaults filled", json: `{"definitions":[{"id":"a","name":"A"}]}`},
		{name: "empty", json: `{"definitions":[]}`, wantErr: []string{"empty"}},
		{name: "unknown key", json: `{"definitions":[{"id":"a","name":"A","colour":"red"}]}`, wantErr: []string{"colour"}},
		{name: "not json", json: `{`, wantErr: []string{"definitions file"}},
		{name: "bad id", json: `{"definitions":[{"id":"Web 101","name":"A"}]}`, wantErr: []string{`id "Web 101"`}},
		{name: "duplicate id", json: `{"definitions":[{"id":"a","name":"A"},{"id":"a","name":"B"}]}`, wantErr: []string{"used twice"}},
		{name: "no name", json: `{"definitions":[{"id":"a"}]}`, wantErr: []string{"name:"}},
		{name: "bad expiry policy", json: `{"definitions":[{"id":"a","name":"A","expiry":{"policy":"never"}}]}`, wantErr: []string{"expiry.policy"}},
		{name: "bad default duration", json: `{"definitions":[{"id":"a","name":"A","expiry":{"policy":"optional","default":"2 years"}}]}`, wantErr: []string{"expiry.default"}},
		{name: "default with none", json: `{"definitions":[{"id":"a","name":"A","expiry":{"policy":"none","default":"P1Y"}}]}`, wantErr: []string{"policy \"none\""}},
		{name: "bad duplicates", json: `{"definitions":[{"id":"a","name":"A","duplicates":"merge"}]}`, wantErr: []string{"duplicates"}},
		{name: "builtin clash", json: `{"definitions":[{"id":"a","name":"A","attributes":[{"name":"E-mail","type":"text"}]}]}`, wantErr: []string{"built-in"}},
		{name: "attribute clash", json: `{"definitions":[{"id":"a","name":"A","attributes":[{"name":"Score","type":"text"},{"name":"score ","type":"text"}]}]}`, wantErr: []string{"same column"}},
		{name: "choice without choices", json: `{"definitions":[{"id":"a","name":"A","attributes":[{"name":"L","type":"choice"}]}]}`, wantErr: []string{"at least one choice"}},
		{name: "bad type", json: `{"definitions":[{"id":"a","name":"A","attributes":[{"name":"L","type":"colour"}]}]}`, wantErr: []string{"type \"colour\""}},
		{name: "min above max", json: `{"definitions":[{"id":"a","name":"A","attributes":[{"name":"S","type":"number","min":5,"max":1}]}]}`, wantErr: []string{"min is greater"}},
		{name: "min on text", json: `{"definitions":[{"id":"a","name":"A","attributes":[{"name":"S","type":"text","min":5}]}]}`, wantErr: []string{"only a number"}},
		{name: "every problem named", json: `{"definitions":[{"id":"A B","name":"","duplicates":"x"}]}`, wantErr: []string{"id", "name:", "duplicates"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := credbatch.ParseDefinitions(strings.NewReader(tt.json))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				for _, d := range f.Definitions {
					if d.Expiry.Policy == "" || d.Duplicates == "" {
						t.Errorf("defaults not filled: %+v", d)
					}
				}
				return
			}
			if err == nil {
				t.Fatal("got no error")
			}
			if got := credbatch.ErrorKind(err); got != credbatch.KindInvalid {
				t.Errorf("kind = %s, want invalid", got)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestCanTransition(t *testing.T) {
	tests := []struct {
		from, to credbatch.BatchStatus
		want     bool
	}{
		{credbatch.BatchReceived, credbatch.BatchParsed, true},
		{credbatch.BatchReceived, credbatch.BatchApproved, false},
		{credbatch.BatchAwaitingApproval, credbatch.BatchApproved, true},
		{credbatch.BatchAwaitingApproval, credbatch.BatchExpired, true},
		{credbatch.BatchApproved, credbatch.BatchAwaitingApproval, false},
		{credbatch.BatchIssuing, credbatch.BatchCompleted, true},
		{credbatch.BatchIssuing, credbatch.BatchPaused, true},
		{credbatch.BatchPaused, credbatch.BatchIssuing, true},
		{credbatch.BatchCompleted, credbatch.BatchIssuing, false},
		{credbatch.BatchCancelled, credbatch.BatchApproved, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s to %s", tt.from, tt.to), func(t *testing.T) {
			if got := credbatch.CanTransition(tt.from, tt.to); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	for _, s := range []credbatch.BatchStatus{credbatch.BatchCompleted, credbatch.BatchCompletedFailed, credbatch.BatchCancelled, credbatch.BatchExpired} {
		if !s.Terminal() {
			t.Errorf("%s should be terminal", s)
		}
	}
}

func TestEmailAdvances(t *testing.T) {
	tests := []struct {
		from, to credbatch.EmailStatus
		want     bool
	}{
		{credbatch.EmailSent, credbatch.EmailDelivered, true},
		{credbatch.EmailDelivered, credbatch.EmailBounced, true},
		{credbatch.EmailBounced, credbatch.EmailDelivered, false},
		{credbatch.EmailComplained, credbatch.EmailDelivered, false},
		{credbatch.EmailDelivered, credbatch.EmailComplained, true},
		{credbatch.EmailDelivered, credbatch.EmailDelivered, false},
		{credbatch.EmailSoftBounce, credbatch.EmailDelivered, true},
	}
	for _, tt := range tests {
		if got := credbatch.EmailAdvances(tt.from, tt.to); got != tt.want {
			t.Errorf("EmailAdvances(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestBatchIDFor(t *testing.T) {
	a := credbatch.Source{Bucket: "b", Key: "uploads/x.xlsx", VersionID: "v1"}
	tests := []struct {
		name string
		x, y credbatch.Source
		same bool
	}{
		{"same object", a, a, true},
		{"other version", a, credbatch.Source{Bucket: "b", Key: "uploads/x.xlsx", VersionID: "v2"}, false},
		{"other key", a, credbatch.Source{Bucket: "b", Key: "uploads/y.xlsx", VersionID: "v1"}, false},
		{"unversioned by etag", credbatch.Source{Bucket: "b", Key: "k", ETag: "e1"}, credbatch.Source{Bucket: "b", Key: "k", VersionID: "null", ETag: "e1"}, true},
		{"unversioned other etag", credbatch.Source{Bucket: "b", Key: "k", ETag: "e1"}, credbatch.Source{Bucket: "b", Key: "k", ETag: "e2"}, false},
		{"idempotency key", credbatch.Source{IdempotencyKey: "k1"}, credbatch.Source{IdempotencyKey: "k1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := credbatch.BatchIDFor(tt.x) == credbatch.BatchIDFor(tt.y); got != tt.same {
				t.Errorf("same id = %v, want %v", got, tt.same)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	base := credbatch.NotFound("batch", "b1")
	wrapped := fmt.Errorf("load: %w", base)
	tests := []struct {
		name     string
		err      error
		kind     credbatch.Kind
		code     string
		clientOK string
	}{
		{"not found wrapped", wrapped, credbatch.KindNotFound, "not_found", `batch "b1" not found`},
		{"plain error is internal", errors.New("disk on fire"), credbatch.KindInternal, "internal", "internal error"},
		{"internal kind hides text", &credbatch.Error{Kind: credbatch.KindInternal, Message: "secret"}, credbatch.KindInternal, "internal", "internal error"},
		{"file code", credbatch.FileError(credbatch.CodeEmptyFile, "add rows"), credbatch.KindInvalid, "empty_file", "add rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := credbatch.ErrorKind(tt.err); got != tt.kind {
				t.Errorf("kind = %s, want %s", got, tt.kind)
			}
			if got := credbatch.ErrorCode(tt.err); got != tt.code {
				t.Errorf("code = %s, want %s", got, tt.code)
			}
			if got := credbatch.ErrorMessage(tt.err); got != tt.clientOK {
				t.Errorf("message = %q, want %q", got, tt.clientOK)
			}
		})
	}
}

func TestNormalizeHeader(t *testing.T) {
	tests := map[string]string{"E-mail Address": "emailaddress", " First  Name ": "firstname",
		"Expiration Date/Duration": "expirationdateduration", "Prénom": "prénom", "": ""}
	for in, want := range tests {
		if got := credbatch.NormalizeHeader(in); got != want {
			t.Errorf("NormalizeHeader(%q) = %q, want %q", in, got, want)
		}
	}
}
