// Package ses sends credbatch email through Amazon SES v2, paced to the account's send rate.
package ses

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/mail"
)

// CodeRejected is the error code of a message SES refused (it will never be accepted).
const CodeRejected = "message_rejected"

// API is the part of the SES v2 client the mailer uses.
type API interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, optFns ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
	GetAccount(ctx context.Context, in *sesv2.GetAccountInput, optFns ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error)
}

// Options configure a Mailer. Zero values take the defaults noted.
type Options struct {
	// ConfigurationSet names the SES configuration set that publishes the sending events.
	ConfigurationSet string
	// From is the sender used when a message has none.
	From string
	// Pacer limits the send rate; share one per process. Nil means no pacing until InitRate.
	Pacer *mail.Pacer
	// DefaultRate is the send rate InitRate falls back to when GetAccount fails (default 1/s).
	DefaultRate float64
	// RateShare is the fraction of the account's MaxSendRate this process may use, e.g.
	// 1/MaxConcurrency when several workers send at once (default 1).
	RateShare float64
	// MaxRetries is how many times a throttled send is retried (default 5; negative: none).
	MaxRetries int
	// BaseDelay and MaxDelay bound the exponential backoff with full jitter (defaults 200ms, 10s).
	BaseDelay, MaxDelay time.Duration
	// Sleep replaces the context-aware backoff sleep in tests.
	Sleep func(time.Duration)
	// Now is the clock for the Date header of raw messages (default time.Now).
	Now func() time.Time
	// Logger receives retries and rate changes (default slog.Default()).
	Logger *slog.Logger
}

// Mailer is a credbatch.Mailer on SES v2.
type Mailer struct {
	client API
	opts   Options
	pacer  *mail.Pacer
}

var _ credbatch.Mailer = (*Mailer)(nil)

// New returns a Mailer sending through client.
func New(client API, opts Options) *Mailer {
	if opts.DefaultRate <= 0 {
		opts.DefaultRate = 1
	}
	if opts.RateShare <= 0 || opts.RateShare > 1 {
		opts.RateShare = 1
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = 5
	} else if opts.MaxRetries < 0 {
		opts.MaxRetries = 0
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = 200 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Mailer{client: client, opts: opts, pacer: opts.Pacer}
}

// Pacer returns the mailer's pacer (nil before InitRate when none was given).
func (m *Mailer) Pacer() *mail.Pacer { return m.pacer }

// InitRate sets the pacer to the account's SendQuota.MaxSendRate (times RateShare) read with
// GetAccount. When GetAccount fails or reports no rate (emulators, missing permission) it
// logs a warning and uses DefaultRate instead; it fails only when ctx has ended. Call it once
// at start-up, before the mailer is shared between goroutines.
func (m *Mailer) InitRate(ctx context.Context) error {
	r := m.opts.DefaultRate
	out, err := m.client.GetAccount(ctx, &sesv2.GetAccountInput{})
	switch {
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("ses get account: %w", unavailable("reading the SES send quota was cancelled", ctx.Err()))
	case err != nil:
		m.opts.Logger.Warn("ses: cannot read the send quota; using the default rate", "rate", r, "error", err)
	case out.SendQuota == nil || out.SendQuota.MaxSendRate <= 0:
		m.opts.Logger.Warn("ses: account reports no send rate; using the default rate", "rate", r)
	default:
		r = out.SendQuota.MaxSendRate * m.opts.RateShare
		m.opts.Logger.Info("ses: send rate set from the account quota", "max_send_rate", out.SendQuota.MaxSendRate, "rate", r)
	}
	if m.pacer == nil {
		m.pacer = mail.NewPacer(r)
	} else {
		m.pacer.SetRate(r)
	}
	return nil
}

// Send sends one message and returns the SES message id. Plain messages go as Simple content;
// messages with attachments go as Raw MIME. Errors: KindInvalid when SES refused this message
// (or it is malformed); KindUnavailable when throttled after MaxRetries, or SES is down;
// KindForbidden with Code credbatch.CodeSendingStopped when the account cannot send at all.
func (m *Mailer) Send(ctx context.Context, msg credbatch.Message) (string, error) {
	if msg.From == "" {
		msg.From = m.opts.From
	}
	msg, err := mail.Validate(msg)
	if err != nil {
		return "", fmt.Errorf("ses send: %w", err)
	}
	in, err := m.input(msg)
	if err != nil {
		return "", fmt.Errorf("ses send: %w", err)
	}
	for attempt := 0; ; attempt++ {
		if m.pacer != nil {
			if err := m.pacer.Wait(ctx); err != nil {
				return "", fmt.Errorf("ses send: %w", err)
			}
		}
		out, err := m.client.SendEmail(ctx, in)
		if err == nil {
			return aws.ToString(out.MessageId), nil
		}
		cerr, retry := classify(err)
		if ctx.Err() != nil {
			return "", fmt.Errorf("ses send: %w", unavailable("sending was cancelled", err))
		}
		if !retry || attempt >= m.opts.MaxRetries {
			if retry {
				cerr.Message = fmt.Sprintf("SES is still throttling or failing after %d retries; try again later", attempt)
			}
			return "", fmt.Errorf("ses send: %w", cerr)
		}
		d := m.backoff(attempt)
		m.opts.Logger.Warn("ses: send throttled or failed; retrying", "attempt", attempt+1, "delay", d, "error", err)
		if err := m.sleep(ctx, d); err != nil {
			return "", fmt.Errorf("ses send: %w", unavailable("sending was cancelled", err))
		}
	}
}

func (m *Mailer) input(msg credbatch.Message) (*sesv2.SendEmailInput, error) {
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(msg.From),
		Destination:      &types.Destination{ToAddresses: msg.To},
		EmailTags:        Tags(msg.Tags),
	}
	if msg.ReplyTo != "" {
		in.ReplyToAddresses = []string{msg.ReplyTo}
	}
	if m.opts.ConfigurationSet != "" {
		in.ConfigurationSetName = aws.String(m.opts.ConfigurationSet)
	}
	if len(msg.Attachments) > 0 {
		raw, err := mail.BuildMIME(msg, newMessageID(), m.opts.Now())
		if err != nil {
			return nil, err
		}
		in.Content = &types.EmailContent{Raw: &types.RawMessage{Data: raw}}
		return in, nil
	}
	body := &types.Body{}
	if msg.Text != "" {
		body.Text = &types.Content{Data: aws.String(msg.Text), Charset: aws.String("UTF-8")}
	}
	if msg.HTML != "" {
		body.Html = &types.Content{Data: aws.String(msg.HTML), Charset: aws.String("UTF-8")}
	}
	simple := &types.Message{
		Subject: &types.Content{Data: aws.String(msg.Subject), Charset: aws.String("UTF-8")},
		Body:    body,
	}
	for _, h := range mail.UnsubscribeHeaders(msg) {
		simple.Headers = append(simple.Headers, types.MessageHeader{Name: aws.String(h[0]), Value: aws.String(h[1])})
	}
	in.Content = &types.EmailContent{Simple: simple}
	return in, nil
}

// newMessageID returns a random Message-ID for raw messages (SES replaces it with its own).
func newMessageID() string {
	b := make([]byte, 16)
	_, _ = crand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b) + "@credbatch.local"
}

// Tags turns message tags into SES message tags, sorted by name. SES allows only ASCII
// letters, digits, '_' and '-' in names and values, up to 256 characters: other characters
// become '_' and longer strings are cut. Tags with an empty name or value are dropped.
func Tags(tags map[string]string) []types.MessageTag {
	if len(tags) == 0 {
		return nil
	}
	names := make([]string, 0, len(tags))
	for k := range tags {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]types.MessageTag, 0, len(names))
	for _, k := range names {
		name, value := sanitizeTag(k), sanitizeTag(tags[k])
		if name == "" || value == "" {
			continue
		}
		out = append(out, types.MessageTag{Name: aws.String(name), Value: aws.String(value)})
	}
	return out
}

func sanitizeTag(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 256 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// backoff returns the delay before retry attempt+1: full jitter over an exponential cap.
func (m *Mailer) backoff(attempt int) time.Duration {
	ceil := m.opts.BaseDelay << min(attempt, 30)
	if ceil <= 0 || ceil > m.opts.MaxDelay {
		ceil = m.opts.MaxDelay
	}
	return ceil/2 + rand.N(ceil/2+1)
}

func (m *Mailer) sleep(ctx context.Context, d time.Duration) error {
	if m.opts.Sleep != nil {
		m.opts.Sleep(d)
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func unavailable(msg string, err error) *credbatch.Error {
	return &credbatch.Error{Kind: credbatch.KindUnavailable, Code: string(credbatch.KindUnavailable), Message: msg, Err: err}
}

// throttlingCodes are the API error codes of a throttled request.
var throttlingCodes = map[string]bool{
	"TooManyRequestsException": true, "LimitExceededException": true, "Throttling": true,
	"ThrottlingException": true, "ThrottledException": true, "RequestThrottled": true,
	"RequestLimitExceeded": true, "SlowDown": true,
}

// stoppedCodes are the API error codes after which no message of the batch can be sent.
var stoppedCodes = map[string]string{
	"AccountSuspendedException":          "the SES account is suspended",
	"SendingPausedException":             "sending is paused for the SES account or configuration set",
	"NotFoundException":                  "the SES configuration set or sending identity does not exist",
	"MailFromDomainNotVerifiedException": "the sender's MAIL FROM domain is not verified in SES",
	"AccessDeniedException":              "the function is not allowed to send through SES",
}

// classify maps an SES error to a credbatch error, and says whether to retry.
func classify(err error) (*credbatch.Error, bool) {
	var (
		suspended  *types.AccountSuspendedException
		paused     *types.SendingPausedException
		notFound   *types.NotFoundException
		mailFrom   *types.MailFromDomainNotVerifiedException
		rejected   *types.MessageRejected
		badRequest *types.BadRequestException
		tooMany    *types.TooManyRequestsException
		limit      *types.LimitExceededException
		internal   *types.InternalServiceErrorException
		api        smithy.APIError
	)
	stopped := func(code string) (*credbatch.Error, bool) {
		return &credbatch.Error{Kind: credbatch.KindForbidden, Code: credbatch.CodeSendingStopped,
			Message: stoppedCodes[code] + "; sending stopped until an administrator fixes it", Err: err}, false
	}
	refused := func(what string) (*credbatch.Error, bool) {
		msg := what
		if errors.As(err, &api) && api.ErrorMessage() != "" {
			msg += ": " + api.ErrorMessage()
		}
		return &credbatch.Error{Kind: credbatch.KindInvalid, Code: CodeRejected, Message: msg, Err: err}, false
	}
	switch {
	case errors.As(err, &suspended):
		return stopped("AccountSuspendedException")
	case errors.As(err, &paused):
		return stopped("SendingPausedException")
	case errors.As(err, &notFound):
		return stopped("NotFoundException")
	case errors.As(err, &mailFrom):
		return stopped("MailFromDomainNotVerifiedException")
	case errors.As(err, &rejected):
		return refused("SES rejected the message")
	case errors.As(err, &badRequest):
		return refused("SES refused the request (check the addresses)")
	case errors.As(err, &tooMany), errors.As(err, &limit):
		return unavailable("SES is throttling sends", err), true
	case errors.As(err, &internal):
		return unavailable("SES had an internal error", err), true
	case errors.As(err, &api):
		code := api.ErrorCode()
		switch {
		case throttlingCodes[code]:
			return unavailable("SES is throttling sends", err), true
		case stoppedCodes[code] != "":
			return stopped(code)
		case code == "MessageRejected":
			return refused("SES rejected the message")
		case code == "BadRequestException", code == "InvalidParameterValue", code == "ValidationException":
			return refused("SES refused the request (check the addresses)")
		case api.ErrorFault() == smithy.FaultServer:
			return unavailable("SES had a server error", err), true
		}
		return &credbatch.Error{Kind: credbatch.KindInternal, Code: string(credbatch.KindInternal),
			Message: "unexpected SES error " + code, Err: err}, false
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return unavailable("SES could not be reached", err), true
	}
	return unavailable("SES send failed", err), true
}
