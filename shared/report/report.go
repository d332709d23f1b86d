// Package report builds and emails the scheduled delivery report: per-batch delivery figures, SES review thresholds and a workbook of failed recipients.
package report

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// MarkName is the watermark holding the end of the last reported window.
const MarkName = "delivery-report"

// SES's review thresholds: an account whose bounce rate reaches 5 % or complaint rate 0.1 %
// is put under review.
const (
	BounceThreshold    = 0.05
	ComplaintThreshold = 0.001
)

// Defaults of Config.
const (
	DefaultFirstWindow = 24 * time.Hour
	DefaultLag         = time.Minute
	// completedLookback bounds how far back (by creation) batches are scanned for ones that
	// completed inside the window.
	completedLookback = 30 * 24 * time.Hour
)

// Config configures the report.
type Config struct {
	From      string   // sender
	Admins    []string // recipients
	SendEmpty bool     // email a report even when nothing happened in the window
	BaseURL   string   // public base URL, for links to batches ("" = no links)
	// Location is the zone the report's period is written in (the schedule's; default UTC).
	Location *time.Location
	// FirstWindow is the window of the very first run (default 24h).
	FirstWindow time.Duration
	// Lag keeps the window's end this far behind the clock, so that an event stamped just
	// before the end but written just after is not missed (default 1 minute; negative = none).
	Lag time.Duration
}

// Service builds and sends delivery reports.
type Service struct {
	Store  credbatch.Store
	Mailer credbatch.Mailer
	Clock  credbatch.Clock // default time.Now
	Log    *slog.Logger    // default slog.Default()
	Config Config
}

// Report is one run's result.
type Report struct {
	From, To time.Time      // the window [From, To)
	Events   int            // feedback events in the window: those recorded, and the Delivery events stamped on credentials (DeliveredAt)
	Batches  []BatchSummary // batches with events in the window or completed in it
	Failed   []Failure      // failed recipients of the window
	Sent     bool           // the email went out
	Skipped  string         // why the run did nothing ("" when it ran)
}

// Warnings returns every batch's warnings.
func (r Report) Warnings() []string {
	var out []string
	for _, b := range r.Batches {
		out = append(out, b.Warnings...)
	}
	return out
}

// Empty reports whether nothing happened in the window.
func (r Report) Empty() bool { return r.Events == 0 && len(r.Batches) == 0 && len(r.Failed) == 0 }

// BatchSummary is a batch's email figures over its whole life (rates over its sends), plus
// what happened in the report's window.
type BatchSummary struct {
	BatchID     string                `json:"batch_id"`
	Label       string                `json:"label,omitempty"`
	Status      credbatch.BatchStatus `json:"status"`
	Issued      int                   `json:"issued"`       // credentials
	Sent        int                   `json:"sent"`         // emails SES accepted
	Delivered   int                   `json:"delivered"`    // delivered (complaints included, as SES counts them)
	Bounced     int                   `json:"bounced"`      // permanent bounces and rejections
	SoftBounced int                   `json:"soft_bounced"` // transient or undetermined bounces, last word so far
	Complained  int                   `json:"complained"`
	Suppressed  int                   `json:"suppressed"` // not sent: our list, or refused by SES's suppression list
	Rejected    int                   `json:"rejected"`   // of Bounced: SES rejected the message
	Failed      int                   `json:"failed"`     // the mailer refused the message
	Pending     int                   `json:"pending"`    // sent, no final event yet (sent, delayed, soft-bounced)
	NotSent     int                   `json:"not_sent"`
	// BounceTypes counts bounced and soft-bounced emails by "Type/SubType".
	BounceTypes   map[string]int `json:"bounce_types,omitempty"`
	BounceRate    float64        `json:"bounce_rate"`
	ComplaintRate float64        `json:"complaint_rate"`
	Warnings      []string       `json:"warnings,omitempty"`
	// Window counts the batch's events inside the report's window by event type.
	Window map[credbatch.EventType]int `json:"window,omitempty"`
	URL    string                      `json:"url,omitempty"`
	// Mismatch is set when the batch's stored counters disagree with its credentials.
	Mismatch *credbatch.Mismatch `json:"mismatch,omitempty"`
}

// Failure is one failed recipient: a credential whose email is still a problem (its latest
// failure). Notifications that bounced are not listed (nothing to correct and upload back).
type Failure struct {
	BatchID      string
	BatchLabel   string
	Row          int // row number in the original upload
	FirstName    string
	LastName     string
	Email        string
	Problem      Problem
	Reason       string // in plain words, with SES's bounce type: "Bounced: the address does not exist or refuses mail (Permanent/General)"
	Diagnostic   string // SES's diagnostic or the mailer's last error
	CredentialID string
	At           time.Time
}

func (s *Service) now() time.Time {
	if s.Clock != nil {
		return s.Clock().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Summary returns a batch's email figures over its whole life (no window counts); KindNotFound.
func (s *Service) Summary(ctx context.Context, batchID string) (BatchSummary, error) {
	b, err := s.Store.GetBatch(ctx, batchID)
	if err != nil {
		return BatchSummary{}, fmt.Errorf("summary of batch %s: %w", batchID, err)
	}
	sum, _, err := s.summarize(ctx, b, false, time.Time{}, time.Time{})
	return sum, err
}

// summarize counts a batch's credentials by email status; with unsent it also returns the
// credentials that were never sent (suppressed by us, or failed) as failures. The emails sent
// in [from, to) (the credentials' SentAt) are its Window's Send count: the configuration set
// publishes no Send events (one SES event, one SNS publish, one feedback invocation and
// write per email saved), and a credential email's send is recorded on the credential. Its
// Delivery count is likewise the credentials' DeliveredAt in [from, to): feedback stamps a
// credential with its Delivery event instead of recording the event (2 write units saved
// per credential).
func (s *Service) summarize(ctx context.Context, b credbatch.Batch, unsent bool, from, to time.Time) (BatchSummary, []Failure, error) {
	sum := BatchSummary{BatchID: b.ID, Label: b.Label, Status: b.Status, BounceTypes: map[string]int{}}
	if s.Config.BaseURL != "" {
		sum.URL = trimSlash(s.Config.BaseURL) + "/batches/" + b.ID
	}
	var fails []Failure
	var truth credbatch.Counts
	var changed time.Time // the latest change of any of its credentials
	for c, err := range credbatch.BatchCredentials(ctx, s.Store, b.ID) {
		if err != nil {
			return sum, nil, fmt.Errorf("credentials of batch %s: %w", b.ID, err)
		}
		sum.Issued++
		if c.UpdatedAt.After(changed) {
			changed = c.UpdatedAt
		}
		for _, w := range [...]struct {
			e  credbatch.EventType
			at time.Time
		}{{credbatch.EventSend, c.SentAt}, {credbatch.EventDelivery, c.DeliveredAt}} {
			if !w.at.IsZero() && !w.at.Before(from) && w.at.Before(to) {
				if sum.Window == nil {
					sum.Window = map[credbatch.EventType]int{}
				}
				sum.Window[w.e]++
			}
		}
		// Sent, delivered, bounced (rejections included), complained and suppressed are
		// counted exactly as the batch's own counters are (credbatch.EmailCounts).
		truth = truth.Add(credbatch.EmailCounts(c.EmailStatus))
		if unsent {
			if f, ok := unsentFailure(b, c); ok {
				fails = append(fails, f)
			}
		}
		switch c.EmailStatus {
		case credbatch.EmailBounced:
			sum.BounceTypes[c.BounceType]++
		case credbatch.EmailSoftBounce:
			sum.SoftBounced++
			sum.Pending++
			sum.BounceTypes[c.BounceType]++
		case credbatch.EmailSent, credbatch.EmailDelayed:
			sum.Pending++
		case credbatch.EmailRejected:
			sum.Rejected++
		case credbatch.EmailFailed:
			sum.Failed++
		case credbatch.EmailPending, credbatch.EmailSending:
			sum.NotSent++
		}
	}
	sum.Sent, sum.Delivered, sum.Bounced, sum.Complained, sum.Suppressed = truth.Sent, truth.Delivered, truth.Bounced, truth.Complained, truth.Suppressed
	// Reconciliation: the batch's stored counters must say what its credentials say. They are
	// compared only when they did not move while the credentials were read (feedback may
	// be arriving), and corrected only once the credentials have been quiet for
	// credbatch.QuietPeriod (a difference then is one a crash left, not a move being counted).
	if after, err := s.Store.GetBatch(ctx, b.ID); err == nil && after.Counts.Email() == b.Counts.Email() && b.Counts.Email() != truth {
		m := &credbatch.Mismatch{BatchID: b.ID, Stored: b.Counts.Email(), Truth: truth}
		if s.now().Sub(changed) >= credbatch.QuietPeriod {
			ok, err := s.Store.CorrectEmailCounts(ctx, b.ID, after.Counts, truth)
			if err != nil {
				return sum, nil, fmt.Errorf("correct the counters of batch %s: %w", b.ID, err)
			}
			m.Corrected = ok
		}
		sum.Mismatch = m
		s.log().Error("batch counters disagree with its credentials", "batch_id", b.ID, "stored", b.Counts.Email(), "credentials", truth, "corrected", m.Corrected)
	}
	if len(sum.BounceTypes) == 0 {
		sum.BounceTypes = nil
	}
	if sum.Sent > 0 {
		sum.BounceRate = float64(sum.Bounced) / float64(sum.Sent)
		sum.ComplaintRate = float64(sum.Complained) / float64(sum.Sent)
	}
	name := b.ID
	if b.Label != "" {
		name = b.Label + " (" + b.ID + ")"
	}
	if sum.Sent > 0 && sum.BounceRate >= BounceThreshold {
		sum.Warnings = append(sum.Warnings, fmt.Sprintf("%s: bounce rate %s is at or above SES's review threshold of 5 %%: correct or remove the bounced addresses before sending more", name, percent(sum.BounceRate)))
	}
	if sum.Sent > 0 && sum.ComplaintRate >= ComplaintThreshold {
		sum.Warnings = append(sum.Warnings, fmt.Sprintf("%s: complaint rate %s is at or above SES's review threshold of 0.1 %%: send only to people who expect the email", name, percent(sum.ComplaintRate)))
	}
	if m := sum.Mismatch; m != nil {
		sum.Warnings = append(sum.Warnings, fmt.Sprintf("%s: counts check failed: the batch's counters say sent %d, delivered %d, bounced %d, complained %d, suppressed %d, but its credentials say sent %d, delivered %d, bounced %d, complained %d, suppressed %d; the figures in this report are the credentials'",
			name, m.Stored.Sent, m.Stored.Delivered, m.Stored.Bounced, m.Stored.Complained, m.Stored.Suppressed,
			m.Truth.Sent, m.Truth.Delivered, m.Truth.Bounced, m.Truth.Complained, m.Truth.Suppressed)+corrected(m.Corrected))
	}
	return sum, fails, nil
}

// corrected is what the counts check's warning adds when the counters were corrected.
func corrected(done bool) string {
	if done {
		return "; the counters were corrected to them"
	}
	return ""
}

// percent formats a rate with at most two decimals: 0.0123 → "1.23 %", 0.2 → "20 %".
func percent(r float64) string {
	s := strconv.FormatFloat(r*100, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + " %"
}

func trimSlash(s string) string { return strings.TrimRight(s, "/") }

// sortReport orders batches by label then id, failures by batch, row and address.
func sortReport(r *Report) {
	sort.Slice(r.Batches, func(i, j int) bool {
		a, b := r.Batches[i], r.Batches[j]
		if a.Label != b.Label {
			return a.Label < b.Label
		}
		return a.BatchID < b.BatchID
	})
	sort.SliceStable(r.Failed, func(i, j int) bool {
		a, b := r.Failed[i], r.Failed[j]
		if a.BatchID != b.BatchID {
			return a.BatchID < b.BatchID
		}
		if a.Row != b.Row {
			return a.Row < b.Row
		}
		if a.Email != b.Email {
			return a.Email < b.Email
		}
		return a.At.Before(b.At)
	})
}
