// Package unsubscribe lets the people credbatch notifies opt out of each kind of notification with one click (List-Unsubscribe, RFC 8058).
package unsubscribe

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Path is where the one-click links point: POST Path+token unsubscribes, GET shows a page
// that asks first.
const Path = "/unsubscribe/"

// Marks kept in the store (named timestamps, credbatch.Store.GetMark/SetMark): a link we
// issued (by the hash of its token, so the store never holds a usable token), and an opt-out.
const (
	issuedMark = "unsubscribe-link:"
	optOutMark = "unsubscribed:"
)

// Kinds name the notifications, by the message tag "kind" their senders set.
var Kinds = map[string]string{
	"delivery-report": "the delivery report",
	"summary":         "batch summaries",
	"approval":        "approval requests",
	"declined":        "rejected or sent-back batches",
	"pause":           "paused-batch alerts",
	"rejected":        "uploads that need fixing",
}

// Service issues one-click unsubscribe links and records opt-outs.
type Service struct {
	Store   credbatch.Store
	BaseURL string          // the public URL the links start with ("" = no links, nothing is skipped)
	Clock   credbatch.Clock // default time.Now
	Log     *slog.Logger    // default slog.Default()
}

func (s *Service) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func optOut(kind, address string) string { return optOutMark + kind + ":" + strings.ToLower(address) }

func issued(token string) string {
	sum := sha256.Sum256([]byte(token))
	return issuedMark + hex.EncodeToString(sum[:])
}

// Link returns the one-click link that unsubscribes address from kind, and records that it
// was issued (a link is accepted only when the store knows it, and its random part makes it
// unguessable).
func (s *Service) Link(ctx context.Context, kind, address string) (string, error) {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails
	token := base64.RawURLEncoding.EncodeToString([]byte(kind + "\n" + strings.ToLower(address) + "\n" + hex.EncodeToString(nonce)))
	if err := s.Store.SetMark(ctx, issued(token), time.Time{}, s.now()); err != nil {
		return "", fmt.Errorf("unsubscribe link: %w", err)
	}
	return strings.TrimRight(s.BaseURL, "/") + Path + token, nil
}

// Unsubscribed reports whether address opted out of kind.
func (s *Service) Unsubscribed(ctx context.Context, kind, address string) (bool, error) {
	_, err := s.Store.GetMark(ctx, optOut(kind, address))
	switch {
	case err == nil:
		return true, nil
	case credbatch.IsKind(err, credbatch.KindNotFound):
		return false, nil
	}
	return false, fmt.Errorf("unsubscribe: %w", err)
}

// Link is what a token says: who stops getting which notifications.
type Link struct {
	Kind, Address string
}

// Describe says in words what the link stops.
func (l Link) Describe() string {
	if d, ok := Kinds[l.Kind]; ok {
		return d
	}
	return l.Kind + " emails"
}

// Check reads a token; KindNotFound when it is not a link this deployment issued.
func (s *Service) Check(ctx context.Context, token string) (Link, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	parts := strings.Split(string(raw), "\n")
	if err != nil || len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return Link{}, notFound()
	}
	if _, err := s.Store.GetMark(ctx, issued(token)); err != nil {
		if credbatch.IsKind(err, credbatch.KindNotFound) {
			return Link{}, notFound()
		}
		return Link{}, fmt.Errorf("unsubscribe: %w", err)
	}
	return Link{Kind: parts[0], Address: parts[1]}, nil
}

func notFound() error {
	return credbatch.E(credbatch.KindNotFound, "unknown_link", "this unsubscribe link is not valid; use the link in the latest email")
}

// Unsubscribe records the opt-out a token names. Unsubscribing twice is not an error.
// Errors: KindNotFound for a token this deployment did not issue.
func (s *Service) Unsubscribe(ctx context.Context, token string) (Link, error) {
	l, err := s.Check(ctx, token)
	if err != nil {
		return l, err
	}
	if err := s.Store.SetMark(ctx, optOut(l.Kind, l.Address), time.Time{}, s.now()); err != nil && !credbatch.IsKind(err, credbatch.KindConflict) {
		return l, fmt.Errorf("unsubscribe: %w", err)
	}
	s.log().Info("unsubscribed", "kind", l.Kind)
	return l, nil
}

// Mailer sends notifications (messages tagged with a "kind" and no credential) one message
// per recipient, each with its own one-click unsubscribe link, and leaves out the recipients
// who opted out of that kind; credential emails and untagged messages go through unchanged.
// A notification counts as sent when at least one recipient's message went out: the others'
// errors are logged, so that a retry by the caller does not email the rest twice.
type Mailer struct {
	Next  credbatch.Mailer
	Links *Service
}

var _ credbatch.Mailer = (*Mailer)(nil)

// Wrap returns next with unsubscribe links and opt-outs applied (next itself when links is nil
// or has no BaseURL).
func Wrap(next credbatch.Mailer, links *Service) credbatch.Mailer {
	if next == nil || links == nil || links.BaseURL == "" {
		return next
	}
	return &Mailer{Next: next, Links: links}
}

// Send sends msg; see Mailer.
func (m *Mailer) Send(ctx context.Context, msg credbatch.Message) (string, error) {
	kind := msg.Tags["kind"]
	if kind == "" || msg.Tags["credential_id"] != "" {
		return m.Next.Send(ctx, msg)
	}
	var first string
	var errs []error
	sent := 0
	for _, to := range msg.To {
		a, err := mail.ParseAddress(to)
		if err != nil {
			return "", credbatch.E(credbatch.KindInvalid, "invalid_message", fmt.Sprintf("the To address %q is not a valid email address", to))
		}
		out, err := m.Links.Unsubscribed(ctx, kind, a.Address)
		if err != nil {
			return "", err
		}
		if out {
			m.Links.log().Info("notification not sent: the recipient unsubscribed", "kind", kind)
			continue
		}
		link, err := m.Links.Link(ctx, kind, a.Address)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		one := msg
		one.To, one.Unsubscribe = []string{to}, link
		id, err := m.Next.Send(ctx, one)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if sent == 0 {
			first = id
		}
		sent++
	}
	if sent == 0 && len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	if len(errs) > 0 {
		m.Links.log().Error("notification not sent to some recipients", "kind", kind, "sent", sent, "err", errors.Join(errs...))
	}
	return first, nil
}
