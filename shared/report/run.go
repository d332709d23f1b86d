package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"iter"
	"sort"
	"strconv"
	"strings"
	ttemplate "text/template"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/workbook"
)

// XLSXType is the content type of the attached workbook.
const XLSXType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// Run reports the window from the watermark (or FirstWindow ago, the first time) to now
// (less Lag) and moves the watermark to the window's end.
//
// Order: the watermark is claimed first (SetMark from the value read to the new end, one
// conditional write), then the report is built and sent. A concurrent run that read the
// same watermark loses the claim and sends nothing (Skipped); a repeated run at the same time
// finds an empty window; a missed run leaves the watermark where it was, so the next run's
// window starts there. When building or sending fails after the claim, the watermark is
// moved back and the error returned, so the next run (or Lambda's retry) reports the window
// again. The one gap: a crash between the claim and the send loses that window's email.
func (s *Service) Run(ctx context.Context) (Report, error) {
	end := s.now()
	lag := s.Config.Lag
	if lag == 0 {
		lag = DefaultLag
	}
	if lag > 0 {
		end = end.Add(-lag)
	}
	prev, err := s.Store.GetMark(ctx, MarkName)
	if err != nil && !credbatch.IsKind(err, credbatch.KindNotFound) {
		return Report{}, fmt.Errorf("delivery report: read watermark: %w", err)
	}
	start := prev
	if start.IsZero() {
		first := s.Config.FirstWindow
		if first <= 0 {
			first = DefaultFirstWindow
		}
		start = end.Add(-first)
	}
	rep := Report{From: start.UTC(), To: end}
	if !end.After(start) {
		rep.Skipped = "nothing new since the last report"
		return rep, nil
	}
	if err := s.Store.SetMark(ctx, MarkName, prev, end); err != nil {
		if credbatch.IsKind(err, credbatch.KindConflict) {
			s.log().Info("delivery report claimed by another run", "from", start, "to", end)
			rep.Skipped = "another run reported this window"
			return rep, nil
		}
		return rep, fmt.Errorf("delivery report: claim window: %w", err)
	}
	release := func(cause error) error {
		if err := s.Store.SetMark(context.WithoutCancel(ctx), MarkName, end, start); err != nil {
			s.log().Error("delivery report: watermark not moved back; this window will not be reported again",
				"from", start, "to", end, "err", err)
			return errors.Join(cause, fmt.Errorf("move watermark back: %w", err))
		}
		return cause
	}
	if err := s.build(ctx, &rep); err != nil {
		return rep, release(fmt.Errorf("delivery report: %w", err))
	}
	if rep.Empty() && !s.Config.SendEmpty {
		s.log().Info("delivery report: nothing happened; no email", "from", start, "to", end)
		return rep, nil
	}
	if len(s.Config.Admins) == 0 {
		s.log().Warn("delivery report: no administrators configured; no email", "from", start, "to", end)
		return rep, nil
	}
	msg, err := s.Message(rep)
	if err != nil {
		return rep, release(fmt.Errorf("delivery report: compose: %w", err))
	}
	if _, err := s.Mailer.Send(ctx, msg); err != nil {
		return rep, release(fmt.Errorf("delivery report: send: %w", err))
	}
	rep.Sent = true
	s.log().Info("delivery report sent", "from", start, "to", end, "batches", len(rep.Batches),
		"failed", len(rep.Failed), "events", rep.Events)
	return rep, nil
}

// build fills the report for its window: the events, the batches they touch plus those that
// completed in the window, and the failed recipients.
func (s *Service) build(ctx context.Context, rep *Report) error {
	window := map[string]map[credbatch.EventType]int{}
	creds := map[string]credbatch.Credential{}
	for d, err := range credbatch.All(func(cursor string) (credbatch.Page[credbatch.Delivery], error) {
		return s.Store.ListDeliveries(ctx, rep.From, rep.To, cursor, credbatch.MaxPageSize)
	}) {
		if err != nil {
			return fmt.Errorf("list deliveries: %w", err)
		}
		rep.Events++
		if d.BatchID != "" {
			if window[d.BatchID] == nil {
				window[d.BatchID] = map[credbatch.EventType]int{}
			}
			window[d.BatchID][d.Event]++
		}
		reason := failureReason(d)
		if reason == "" {
			continue
		}
		f := Failure{BatchID: d.BatchID, Email: d.Email, Reason: reason, Diagnostic: d.Diagnostic,
			CredentialID: d.CredentialID, At: d.At}
		if d.CredentialID != "" {
			c, ok := creds[d.CredentialID]
			if !ok {
				c, err = s.Store.GetCredential(ctx, d.CredentialID)
				if err != nil && !credbatch.IsKind(err, credbatch.KindNotFound) {
					return fmt.Errorf("load credential %s: %w", d.CredentialID, err)
				}
				creds[d.CredentialID] = c
			}
			f.Row = c.RowNumber
		}
		rep.Failed = append(rep.Failed, f)
	}
	completed, err := s.completedIn(ctx, rep.From, rep.To)
	if err != nil {
		return err
	}
	labels := map[string]string{}
	ids := make([]string, 0, len(window)+len(completed))
	for id := range window {
		ids = append(ids, id)
	}
	for id := range completed {
		if window[id] == nil {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		b, ok := completed[id]
		if !ok {
			if b, err = s.Store.GetBatch(ctx, id); err != nil {
				if credbatch.IsKind(err, credbatch.KindNotFound) {
					continue
				}
				return fmt.Errorf("load batch %s: %w", id, err)
			}
		}
		sum, unsent, err := s.summarize(ctx, b, ok)
		if err != nil {
			return err
		}
		sum.Window = window[id]
		rep.Batches = append(rep.Batches, sum)
		rep.Failed = append(rep.Failed, unsent...)
		labels[id] = b.Label
	}
	for i := range rep.Failed {
		rep.Failed[i].BatchLabel = labels[rep.Failed[i].BatchID]
	}
	sortReport(rep)
	return nil
}

// completedIn returns the batches whose CompletedAt is in [from, to), scanning batches
// newest first back to completedLookback before the window.
func (s *Service) completedIn(ctx context.Context, from, to time.Time) (map[string]credbatch.Batch, error) {
	out := map[string]credbatch.Batch{}
	f := credbatch.BatchFilter{Limit: credbatch.MaxPageSize}
	for {
		p, err := s.Store.ListBatches(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("list batches: %w", err)
		}
		for _, b := range p.Items {
			if b.CreatedAt.Before(from.Add(-completedLookback)) {
				return out, nil
			}
			if !b.CompletedAt.IsZero() && !b.CompletedAt.Before(from) && b.CompletedAt.Before(to) {
				out[b.ID] = b
			}
		}
		if p.Next == "" {
			return out, nil
		}
		f.Cursor = p.Next
	}
}

// failureReason is the report's reason for a failed delivery event, "" when it is not one.
func failureReason(d credbatch.Delivery) string {
	switch d.Event {
	case credbatch.EventBounce:
		r := "bounce " + d.BounceType
		if d.BounceSubType != "" {
			r += "/" + d.BounceSubType
		}
		return r
	case credbatch.EventComplaint:
		return "complaint"
	case credbatch.EventReject:
		return "rejected"
	}
	return ""
}

// Headers are the columns of the failed-recipients workbook.
var Headers = []string{"Batch", "Batch label", "Row", "Email", "Reason", "Diagnostic", "Credential ID", "Time (UTC)"}

// Workbook writes the failed recipients as .xlsx (one sheet, every cell formula-safe).
func Workbook(w *bytes.Buffer, failed []Failure) error {
	rows := func(yield func([]string, error) bool) {
		for _, f := range failed {
			row := ""
			if f.Row > 0 {
				row = strconv.Itoa(f.Row)
			}
			at := ""
			if !f.At.IsZero() {
				at = f.At.UTC().Format("2006-01-02 15:04:05")
			}
			if !yield([]string{f.BatchID, f.BatchLabel, row, f.Email, f.Reason, f.Diagnostic, f.CredentialID, at}, nil) {
				return
			}
		}
	}
	return workbook.Table(w, "Failed recipients", Headers, iter.Seq2[[]string, error](rows))
}

// Message composes the report email: a text and an HTML body and, when recipients failed,
// the workbook attached.
func (s *Service) Message(rep Report) (credbatch.Message, error) {
	warnings := rep.Warnings()
	subject := fmt.Sprintf("credbatch delivery report %s – %s UTC: %d batch(es), %d failed recipient(s)",
		rep.From.Format("2006-01-02 15:04"), rep.To.Format("2006-01-02 15:04"), len(rep.Batches), len(rep.Failed))
	if len(warnings) > 0 {
		subject += ", " + strconv.Itoa(len(warnings)) + " warning(s)"
	}
	data := view{Report: rep, Warnings: warnings}
	var text, html bytes.Buffer
	if err := textTemplate.Execute(&text, data); err != nil {
		return credbatch.Message{}, fmt.Errorf("text body: %w", err)
	}
	if err := htmlTemplate.Execute(&html, data); err != nil {
		return credbatch.Message{}, fmt.Errorf("html body: %w", err)
	}
	msg := credbatch.Message{From: s.Config.From, To: s.Config.Admins, Subject: subject, Text: text.String(), HTML: html.String(),
		Tags: map[string]string{"kind": "delivery-report"}}
	if len(rep.Failed) > 0 {
		var buf bytes.Buffer
		if err := Workbook(&buf, rep.Failed); err != nil {
			return credbatch.Message{}, err
		}
		msg.Attachments = []credbatch.Attachment{{Filename: "delivery-report-" + rep.To.Format("20060102T1504Z") + ".xlsx",
			ContentType: XLSXType, Data: buf.Bytes()}}
	}
	return msg, nil
}

type view struct {
	Report
	Warnings []string
}

var funcs = template.FuncMap{
	"percent": percent,
	"time":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"types": func(m map[string]int) string {
		var parts []string
		for k, v := range m {
			parts = append(parts, k+": "+strconv.Itoa(v))
		}
		sort.Strings(parts)
		return strings.Join(parts, ", ")
	},
	"events": func(m map[credbatch.EventType]int) string {
		var parts []string
		for k, v := range m {
			parts = append(parts, string(k)+" "+strconv.Itoa(v))
		}
		sort.Strings(parts)
		return strings.Join(parts, ", ")
	},
}

var textTemplate = ttemplate.Must(ttemplate.New("text").Funcs(ttemplate.FuncMap(funcs)).Parse(`Delivery report for {{time .From}} to {{time .To}}.

{{if .Warnings}}WARNINGS
{{range .Warnings}}  ! {{.}}
{{end}}
{{end}}{{if not .Batches}}No batch had email activity in this window.
{{end}}{{range .Batches}}Batch {{if .Label}}{{.Label}} ({{.BatchID}}){{else}}{{.BatchID}}{{end}} — {{.Status}}
  issued {{.Issued}}, sent {{.Sent}}, delivered {{.Delivered}}, bounced {{.Bounced}}, soft-bounced {{.SoftBounced}}, complained {{.Complained}}, suppressed {{.Suppressed}}, rejected {{.Rejected}}, failed {{.Failed}}, pending {{.Pending}}
  bounce rate {{percent .BounceRate}} (SES review at 5 %), complaint rate {{percent .ComplaintRate}} (SES review at 0.1 %)
{{if .BounceTypes}}  bounces by type: {{types .BounceTypes}}
{{end}}{{if .Window}}  events in this window: {{events .Window}}
{{end}}{{if .URL}}  {{.URL}}
{{end}}
{{end}}{{.Events}} feedback event(s) in the window; {{len .Failed}} failed recipient(s){{if .Failed}}, listed in the attached workbook{{end}}.
`))

var htmlTemplate = template.Must(template.New("html").Funcs(funcs).Parse(`<!DOCTYPE html>
<html><body style="font-family:sans-serif">
<h2>Delivery report</h2>
<p>{{time .From}} to {{time .To}}</p>
{{if .Warnings}}<ul style="color:#9C0006">{{range .Warnings}}<li><strong>{{.}}</strong></li>{{end}}</ul>{{end}}
{{if .Batches}}<table border="1" cellpadding="4" style="border-collapse:collapse">
<tr><th>Batch</th><th>Status</th><th>Issued</th><th>Sent</th><th>Delivered</th><th>Bounced</th><th>Soft-bounced</th><th>Complained</th><th>Suppressed</th><th>Rejected</th><th>Failed</th><th>Pending</th><th>Bounce rate</th><th>Complaint rate</th></tr>
{{range .Batches}}<tr><td>{{if .URL}}<a href="{{.URL}}">{{end}}{{if .Label}}{{.Label}}{{else}}{{.BatchID}}{{end}}{{if .URL}}</a>{{end}}</td><td>{{.Status}}</td><td>{{.Issued}}</td><td>{{.Sent}}</td><td>{{.Delivered}}</td><td>{{.Bounced}}</td><td>{{.SoftBounced}}</td><td>{{.Complained}}</td><td>{{.Suppressed}}</td><td>{{.Rejected}}</td><td>{{.Failed}}</td><td>{{.Pending}}</td><td>{{percent .BounceRate}}</td><td>{{percent .ComplaintRate}}</td></tr>
{{end}}</table>{{else}}<p>No batch had email activity in this window.</p>{{end}}
<p>{{.Events}} feedback event(s) in the window; {{len .Failed}} failed recipient(s){{if .Failed}}, listed in the attached workbook{{end}}.</p>
<p style="color:#666">SES reviews accounts whose bounce rate reaches 5 % or complaint rate 0.1 %.</p>
</body></html>
`))
