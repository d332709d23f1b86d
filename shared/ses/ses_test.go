package ses

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/credbatch/credbatch/shared/credbatch"
	cbmail "github.com/credbatch/credbatch/shared/mail"
)

// fakeSES is an API whose SendEmail returns the queued errors first, then message ids.
type fakeSES struct {
	mu         sync.Mutex
	errs       []error
	sent       []*sesv2.SendEmailInput
	calls      int
	account    *sesv2.GetAccountOutput
	accountErr error
}

func (f *fakeSES) SendEmail(_ context.Context, in *sesv2.SendEmailInput, _ ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	f.sent = append(f.sent, in)
	return &sesv2.SendEmailOutput{MessageId: aws.String(fmt.Sprintf("msg-%d", len(f.sent)))}, nil
}

func (f *fakeSES) GetAccount(context.Context, *sesv2.GetAccountInput, ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error) {
	return f.account, f.accountErr
}

var _ API = (*fakeSES)(nil)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// opErr wraps err the way the SDK does.
func opErr(err error) error {
	return &smithy.OperationError{ServiceID: "SESv2", OperationName: "SendEmail", Err: err}
}

func message() credbatch.Message {
	return credbatch.Message{
		To:      []string{"Zoë <zoe@example.com>"},
		Subject: "Your credential",
		Text:    "hello",
		HTML:    "<p>hello</p>",
		Tags:    map[string]string{"credential_id": "c-1", "batch_id": "b.2@x"},
	}
}

func TestSendErrors(t *testing.T) {
	throttle := opErr(&types.TooManyRequestsException{Message: aws.String("slow down")})
	tests := []struct {
		name       string
		errs       []error
		maxRetries int
		wantKind   credbatch.Kind // "" for success
		wantCode   string
		wantCalls  int
		wantSleeps int
	}{
		{name: "success", wantCalls: 1},
		{name: "throttled twice then success", errs: []error{throttle, opErr(&types.LimitExceededException{})}, maxRetries: 3, wantCalls: 3, wantSleeps: 2},
		{name: "generic throttling code", errs: []error{opErr(&smithy.GenericAPIError{Code: "Throttling"})}, maxRetries: 3, wantCalls: 2, wantSleeps: 1},
		{name: "server error retried", errs: []error{opErr(&types.InternalServiceErrorException{}), opErr(&smithy.GenericAPIError{Code: "InternalFailure", Fault: smithy.FaultServer})}, maxRetries: 3, wantCalls: 3, wantSleeps: 2},
		{name: "throttled beyond retries", errs: []error{throttle, throttle, throttle, throttle}, maxRetries: 3,
			wantKind: credbatch.KindUnavailable, wantCode: string(credbatch.KindUnavailable), wantCalls: 4, wantSleeps: 3},
		{name: "no retries", errs: []error{throttle}, maxRetries: -1,
			wantKind: credbatch.KindUnavailable, wantCode: string(credbatch.KindUnavailable), wantCalls: 1},
		{name: "message rejected", errs: []error{opErr(&types.MessageRejected{Message: aws.String("Email address is not verified.")})},
			wantKind: credbatch.KindInvalid, wantCode: CodeRejected, wantCalls: 1},
		{name: "bad request", errs: []error{opErr(&types.BadRequestException{Message: aws.String("Missing final '@domain'")})},
			wantKind: credbatch.KindInvalid, wantCode: CodeRejected, wantCalls: 1},
		{name: "account suspended", errs: []error{opErr(&types.AccountSuspendedException{})},
			wantKind: credbatch.KindForbidden, wantCode: credbatch.CodeSendingStopped, wantCalls: 1},
		{name: "sending paused", errs: []error{opErr(&types.SendingPausedException{})},
			wantKind: credbatch.KindForbidden, wantCode: credbatch.CodeSendingStopped, wantCalls: 1},
		{name: "configuration set not found", errs: []error{opErr(&types.NotFoundException{})},
			wantKind: credbatch.KindForbidden, wantCode: credbatch.CodeSendingStopped, wantCalls: 1},
		{name: "mail from domain not verified", errs: []error{opErr(&types.MailFromDomainNotVerifiedException{})},
			wantKind: credbatch.KindForbidden, wantCode: credbatch.CodeSendingStopped, wantCalls: 1},
		{name: "access denied", errs: []error{opErr(&smithy.GenericAPIError{Code: "AccessDeniedException"})},
			wantKind: credbatch.KindForbidden, wantCode: credbatch.CodeSendingStopped, wantCalls: 1},
		{name: "unexpected client error", errs: []error{opErr(&smithy.GenericAPIError{Code: "SomethingOdd", Fault: smithy.FaultClient})},
			wantKind: credbatch.KindInternal, wantCode: string(credbatch.KindInternal), wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeSES{errs: tt.errs}
			var sleeps []time.Duration
			m := New(fake, Options{
				From: "noreply@example.com", ConfigurationSet: "cs", MaxRetries: tt.maxRetries,
				BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second,
				Sleep: func(d time.Duration) { sleeps = append(sleeps, d) }, Logger: quietLogger(),
			})
			id, err := m.Send(context.Background(), message())
			if tt.wantKind == "" {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if id != "msg-1" {
					t.Errorf("id = %q, want msg-1", id)
				}
			} else {
				if err == nil {
					t.Fatalf("Send succeeded with id %q, want a %s error", id, tt.wantKind)
				}
				if got := credbatch.ErrorKind(err); got != tt.wantKind {
					t.Errorf("kind = %q, want %q (err %v)", got, tt.wantKind, err)
				}
				if got := credbatch.ErrorCode(err); got != tt.wantCode {
					t.Errorf("code = %q, want %q", got, tt.wantCode)
				}
			}
			if fake.calls != tt.wantCalls {
				t.Errorf("SendEmail calls = %d, want %d", fake.calls, tt.wantCalls)
			}
			if len(sleeps) != tt.wantSleeps {
				t.Fatalf("sleeps = %v, want %d of them", sleeps, tt.wantSleeps)
			}
			for i, d := range sleeps {
				ceil := min(100*time.Millisecond<<i, time.Second)
				if d < ceil/2 || d > ceil {
					t.Errorf("sleep %d = %v, want within [%v, %v]", i, d, ceil/2, ceil)
				}
			}
		})
	}
}

func TestSendInput(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*credbatch.Message)
		wantRaw bool
	}{
		{name: "simple"},
		{name: "raw with attachment", wantRaw: true, mutate: func(m *credbatch.Message) {
			m.Attachments = []credbatch.Attachment{{Filename: "r.csv", ContentType: "text/csv", Data: []byte("a,b\n")}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeSES{}
			m := New(fake, Options{From: "Académie <noreply@example.com>", ConfigurationSet: "credbatch-events", Logger: quietLogger()})
			msg := message()
			msg.ReplyTo = "help@example.com"
			msg.Unsubscribe = "https://creds.example.org/unsubscribe/tok"
			if tt.mutate != nil {
				tt.mutate(&msg)
			}
			if _, err := m.Send(context.Background(), msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			in := fake.sent[0]
			if got := aws.ToString(in.ConfigurationSetName); got != "credbatch-events" {
				t.Errorf("configuration set = %q", got)
			}
			if got, want := aws.ToString(in.FromEmailAddress), "=?utf-8?q?Acad=C3=A9mie?= <noreply@example.com>"; got != want {
				t.Errorf("from = %q, want %q", got, want)
			}
			if got := in.Destination.ToAddresses; len(got) != 1 || !strings.HasSuffix(got[0], "<zoe@example.com>") {
				t.Errorf("to = %q", got)
			}
			if got := in.ReplyToAddresses; len(got) != 1 || got[0] != "help@example.com" {
				t.Errorf("reply-to = %q", got)
			}
			if got, want := tagString(in.EmailTags), "batch_id=b_2_x,credential_id=c-1"; got != want {
				t.Errorf("tags = %q, want %q", got, want)
			}
			if tt.wantRaw {
				if in.Content.Raw == nil || in.Content.Simple != nil {
					t.Fatalf("content = %+v, want raw", in.Content)
				}
				parsed, err := mail.ReadMessage(strings.NewReader(string(in.Content.Raw.Data)))
				if err != nil {
					t.Fatalf("parse raw: %v", err)
				}
				subject, _ := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject"))
				if subject != msg.Subject {
					t.Errorf("raw subject = %q", subject)
				}
				if ct := parsed.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/mixed") {
					t.Errorf("raw content type = %q", ct)
				}
				if parsed.Header.Get("List-Unsubscribe") != "<"+msg.Unsubscribe+">" || parsed.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
					t.Errorf("raw unsubscribe headers %q / %q", parsed.Header.Get("List-Unsubscribe"), parsed.Header.Get("List-Unsubscribe-Post"))
				}
				return
			}
			s := in.Content.Simple
			if s == nil || in.Content.Raw != nil {
				t.Fatalf("content = %+v, want simple", in.Content)
			}
			headers := map[string]string{}
			for _, h := range s.Headers {
				headers[aws.ToString(h.Name)] = aws.ToString(h.Value)
			}
			if headers["List-Unsubscribe"] != "<"+msg.Unsubscribe+">" || headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
				t.Errorf("simple headers %v; want the one-click unsubscribe headers", headers)
			}
			if aws.ToString(s.Subject.Data) != msg.Subject || aws.ToString(s.Body.Text.Data) != msg.Text || aws.ToString(s.Body.Html.Data) != msg.HTML {
				t.Errorf("simple content = %q / %q / %q", aws.ToString(s.Subject.Data), aws.ToString(s.Body.Text.Data), aws.ToString(s.Body.Html.Data))
			}
		})
	}
}

func TestSendRefusesBadMessage(t *testing.T) {
	fake := &fakeSES{}
	m := New(fake, Options{From: "noreply@example.com", Logger: quietLogger()})
	msg := message()
	msg.Subject = "hi\r\nBcc: x@example.com"
	_, err := m.Send(context.Background(), msg)
	if got := credbatch.ErrorKind(err); got != credbatch.KindInvalid {
		t.Fatalf("kind = %q (err %v), want invalid", got, err)
	}
	if fake.calls != 0 {
		t.Errorf("SendEmail called %d times for a refused message", fake.calls)
	}
}

func tagString(tags []types.MessageTag) string {
	var parts []string
	for _, t := range tags {
		parts = append(parts, aws.ToString(t.Name)+"="+aws.ToString(t.Value))
	}
	return strings.Join(parts, ",")
}

func TestTags(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		in   map[string]string
		want string
	}{
		{in: nil, want: ""},
		{in: map[string]string{"credential_id": "0123abcd", "batch_id": "B-1"}, want: "batch_id=B-1,credential_id=0123abcd"},
		{in: map[string]string{"to": "a.b+c@example.com", "é": "ü"}, want: "to=a_b_c_example_com,_=_"},
		{in: map[string]string{"empty": "", "": "x"}, want: ""},
		{in: map[string]string{"k": long}, want: "k=" + long[:256]},
	}
	for _, tt := range tests {
		if got := tagString(Tags(tt.in)); got != tt.want {
			t.Errorf("Tags(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestInitRate(t *testing.T) {
	tests := []struct {
		name    string
		account *sesv2.GetAccountOutput
		err     error
		share   float64
		want    float64
	}{
		{name: "from quota", account: &sesv2.GetAccountOutput{SendQuota: &types.SendQuota{MaxSendRate: 14}}, want: 14},
		{name: "share of quota", account: &sesv2.GetAccountOutput{SendQuota: &types.SendQuota{MaxSendRate: 14}}, share: 0.5, want: 7},
		{name: "GetAccount fails", err: errors.New("not implemented"), want: 3},
		{name: "no quota", account: &sesv2.GetAccountOutput{}, want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pacer := cbmail.NewPacer(0)
			m := New(&fakeSES{account: tt.account, accountErr: tt.err}, Options{Pacer: pacer, DefaultRate: 3, RateShare: tt.share, Logger: quietLogger()})
			if err := m.InitRate(context.Background()); err != nil {
				t.Fatalf("InitRate: %v", err)
			}
			if got := pacer.Rate(); got != tt.want {
				t.Errorf("rate = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("creates a pacer when none given", func(t *testing.T) {
		m := New(&fakeSES{account: &sesv2.GetAccountOutput{SendQuota: &types.SendQuota{MaxSendRate: 50}}}, Options{Logger: quietLogger()})
		if err := m.InitRate(context.Background()); err != nil {
			t.Fatalf("InitRate: %v", err)
		}
		if m.Pacer() == nil || m.Pacer().Rate() != 50 {
			t.Errorf("pacer = %v", m.Pacer())
		}
	})
}

// TestPacedConcurrentSends checks that goroutines sharing one pacer together stay within
// the rate, and that every send gets a distinct id.
func TestPacedConcurrentSends(t *testing.T) {
	const rate, workers, perWorker = 100.0, 4, 6
	fake := &fakeSES{}
	pacer := cbmail.NewPacer(rate)
	m := New(fake, Options{From: "noreply@example.com", Pacer: pacer, Logger: quietLogger()})
	start := time.Now()
	var wg sync.WaitGroup
	ids := make(chan string, workers*perWorker)
	for range workers {
		wg.Go(func() {
			for range perWorker {
				id, err := m.Send(context.Background(), message())
				if err != nil {
					t.Errorf("Send: %v", err)
					return
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	elapsed := time.Since(start)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != workers*perWorker {
		t.Errorf("got %d distinct ids, want %d", len(seen), workers*perWorker)
	}
	if min := time.Duration(float64(workers*perWorker-1) / rate * float64(time.Second)); elapsed < min-5*time.Millisecond {
		t.Errorf("%d sends at %v/s took %v, want at least %v", workers*perWorker, rate, elapsed, min)
	}
}

func TestSendCancelledDuringBackoff(t *testing.T) {
	throttle := opErr(&types.TooManyRequestsException{})
	fake := &fakeSES{errs: []error{throttle, throttle, throttle}}
	m := New(fake, Options{From: "noreply@example.com", BaseDelay: time.Hour, MaxDelay: time.Hour, Logger: quietLogger()})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := m.Send(ctx, message())
	if got := credbatch.ErrorKind(err); got != credbatch.KindUnavailable {
		t.Fatalf("kind = %q (err %v), want unavailable", got, err)
	}
	if fake.calls != 1 {
		t.Errorf("calls = %d, want 1", fake.calls)
	}
}
