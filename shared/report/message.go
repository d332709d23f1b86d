package report

import (
	"bytes"
	"fmt"
	"html/template"
	"iter"
	"sort"
	"strconv"
	"strings"
	ttemplate "text/template"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/mail"
	"github.com/credbatch/credbatch/shared/workbook"
)

// XLSXType is the content type of the attached workbook.
const XLSXType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// BodyNames is how many failed recipients the email names; the workbook lists them all.
const BodyNames = 20

// Columns of the failed-recipients workbook that an upload of it back reads.
const (
	CredentialIDHeader   = workbook.CredentialIDHeader
	CorrectedEmailHeader = workbook.CorrectedEmailHeader
)

// FailedSheet is the sheet of the failed-recipients workbook.
const FailedSheet = "Failed recipients"

// Headers are the columns of the failed-recipients workbook. "Corrected email" is left empty
// for the administrator to fill in; uploading the workbook back resends the corrected rows.
var Headers = []string{"Batch", "Batch label", "Row", "First name", "Last name", "Email", CorrectedEmailHeader,
	"Reason", "Next step", "Diagnostic", CredentialIDHeader, "Time (UTC)"}

// Workbook writes the failed recipients as .xlsx: one sheet, text cells formula-safe, the row
// number a number cell and the time a date-time cell.
func Workbook(w *bytes.Buffer, failed []Failure) error {
	rows := func(yield func([]any, error) bool) {
		for _, f := range failed {
			var row any
			if f.Row > 0 {
				row = f.Row
			}
			if !yield([]any{f.BatchID, f.BatchLabel, row, f.FirstName, f.LastName, f.Email, nil, f.Reason,
				f.Problem.NextStep(), f.Diagnostic, f.CredentialID, f.At.Truncate(time.Second)}, nil) {
				return
			}
		}
	}
	return workbook.Cells(w, FailedSheet, Headers, iter.Seq2[[]any, error](rows))
}

// Message composes the report email: a text and an HTML body saying the same thing and, when
// recipients failed, the workbook attached.
func (s *Service) Message(rep Report) (credbatch.Message, error) {
	v := newView(rep, s.Config.Location)
	var text, html bytes.Buffer
	if err := textTemplate.Execute(&text, v); err != nil {
		return credbatch.Message{}, fmt.Errorf("text body: %w", err)
	}
	if err := htmlTemplate.Execute(&html, v); err != nil {
		return credbatch.Message{}, fmt.Errorf("html body: %w", err)
	}
	msg := credbatch.Message{From: s.Config.From, To: s.Config.Admins, Subject: v.Subject, Text: text.String(), HTML: html.String(),
		Tags: map[string]string{"kind": "delivery-report"}}
	if len(rep.Failed) > 0 {
		var buf bytes.Buffer
		if err := Workbook(&buf, rep.Failed); err != nil {
			return credbatch.Message{}, err
		}
		msg.Attachments = []credbatch.Attachment{{Filename: "failed-recipients-" + rep.To.Format("20060102T1504Z") + ".xlsx",
			ContentType: XLSXType, Data: buf.Bytes()}}
	}
	return msg, nil
}

// view is what both bodies say.
type view struct {
	Subject  string
	Period   string   // "4 March 2025, 08:00 to 09:00 UTC (1 hour)"
	Lead     string   // the one-sentence summary
	Groups   []group  // failed recipients by problem
	More     int      // failed recipients not named in the body
	Batches  []batch  // every batch in the report
	Warnings []string // all batches' warnings
	Events   string   // "12 feedback events in this period."
}

type group struct {
	Title, NextStep string
	Count           int
	Names           []string // "Ada Lovelace <ada@example.org>, row 3 of Spring cohort"
}

type batch struct {
	Name, URL, Status string
	Figures           string   // credentials and emails, in words
	Window            string   // what happened in the period ("" = nothing)
	Rates             string   // bounce and complaint rates against SES's thresholds
	Warnings          []string // this batch's
}

func newView(rep Report, loc *time.Location) view {
	if loc == nil {
		loc = time.UTC
	}
	v := view{Period: period(rep.From.In(loc), rep.To.In(loc)), Warnings: rep.Warnings()}
	day := rep.To.In(loc).Format("2 January 2006")
	switch {
	case len(rep.Failed) > 0:
		v.Lead = mail.Count(len(rep.Failed), "recipient needs", "recipients need") + " attention; what to do for each is below."
		v.Subject = fmt.Sprintf("Delivery report, %s: %s attention", day, mail.Count(len(rep.Failed), "recipient needs", "recipients need"))
	case len(rep.Batches) > 0:
		v.Lead = "No recipient needs attention."
		v.Subject = "Delivery report, " + day + ": no failed recipients"
	default:
		v.Lead = "No batch had email activity in this period."
		v.Subject = "Delivery report, " + day + ": no email activity"
	}
	if n := len(v.Warnings); n > 0 {
		v.Subject += ", " + mail.Count(n, "warning", "warnings")
	}
	v.Events = mail.Count(rep.Events, "feedback event", "feedback events") + " from the mail service in this period."
	named := 0
	for _, p := range Problems {
		g := group{Title: p.Title(), NextStep: p.NextStep()}
		for _, f := range rep.Failed {
			if f.Problem != p {
				continue
			}
			g.Count++
			if named < BodyNames {
				g.Names = append(g.Names, who(f))
				named++
			}
		}
		if g.Count > 0 {
			v.Groups = append(v.Groups, g)
		}
	}
	v.More = len(rep.Failed) - named
	for _, b := range rep.Batches {
		v.Batches = append(v.Batches, batchView(b))
	}
	return v
}

// who names a failed recipient: "Ada Lovelace <ada@example.org>, row 3 of Spring cohort".
func who(f Failure) string {
	s := f.Email
	if n := f.Name(); n != "" {
		s = n + " <" + f.Email + ">"
	}
	if f.Row > 0 {
		s += ", row " + strconv.Itoa(f.Row)
		if f.BatchLabel != "" {
			s += " of " + f.BatchLabel
		} else if f.BatchID != "" {
			s += " of batch " + f.BatchID
		}
	}
	return s
}

func batchView(b BatchSummary) batch {
	v := batch{Name: b.BatchID, URL: b.URL, Status: strings.ReplaceAll(string(b.Status), "_", " "), Warnings: b.Warnings}
	if b.Label != "" {
		v.Name = b.Label + " (" + b.BatchID + ")"
	}
	parts := []string{mail.Count(b.Issued, "credential", "credentials") + " issued",
		mail.Count(b.Sent, "email", "emails") + " sent",
		strconv.Itoa(b.Delivered) + " delivered"}
	for _, x := range []struct {
		n         int
		one, many string
	}{
		{b.Bounced, "bounced", "bounced"}, {b.SoftBounced, "temporary failure", "temporary failures"},
		{b.Complained, "spam complaint", "spam complaints"}, {b.Suppressed, "on the suppression list", "on the suppression list"},
		{b.Failed, "refused by the mail service", "refused by the mail service"},
		{b.Pending - b.SoftBounced, "waiting for the mail service's answer", "waiting for the mail service's answer"},
		{b.NotSent, "not sent yet", "not sent yet"},
	} {
		if x.n > 0 {
			parts = append(parts, strconv.Itoa(x.n)+" "+map[bool]string{true: x.one, false: x.many}[x.n == 1])
		}
	}
	v.Figures = strings.Join(parts, ", ") + "."
	if len(b.Window) > 0 {
		v.Window = "In this period: " + events(b.Window) + "."
	}
	if b.Sent > 0 {
		v.Rates = fmt.Sprintf("Bounce rate %s, complaint rate %s (SES reviews an account at 5 %% and 0.1 %%).", percent(b.BounceRate), percent(b.ComplaintRate))
	}
	return v
}

// eventWords name SES event types in the report.
var eventWords = map[credbatch.EventType][2]string{
	credbatch.EventSend:          {"email sent", "emails sent"},
	credbatch.EventDelivery:      {"delivery", "deliveries"},
	credbatch.EventBounce:        {"bounce", "bounces"},
	credbatch.EventComplaint:     {"spam complaint", "spam complaints"},
	credbatch.EventReject:        {"refusal by SES", "refusals by SES"},
	credbatch.EventDeliveryDelay: {"delay", "delays"},
}

// events says a batch's events in the window: "3 emails sent, 2 deliveries, 1 bounce".
func events(m map[credbatch.EventType]int) string {
	order := []credbatch.EventType{credbatch.EventSend, credbatch.EventDelivery, credbatch.EventBounce, credbatch.EventComplaint,
		credbatch.EventReject, credbatch.EventDeliveryDelay}
	var parts []string
	for _, e := range order {
		if n := m[e]; n > 0 {
			parts = append(parts, mail.Count(n, eventWords[e][0], eventWords[e][1]))
		}
	}
	var other []string
	for e, n := range m {
		if _, ok := eventWords[e]; !ok && n > 0 {
			other = append(other, mail.Count(n, string(e)+" event", string(e)+" events"))
		}
	}
	sort.Strings(other)
	return strings.Join(append(parts, other...), ", ")
}

// period says a report's window in words, in the zone of its times: "4 March 2025, 08:00 to
// 09:00 UTC (1 hour)", or with both dates when it spans days; the zone by its abbreviation
// ("CET") and the end's.
func period(from, to time.Time) string {
	end := to.Format("15:04")
	if from.Format("2006-01-02") != to.Format("2006-01-02") {
		end = to.Format("2 January 2006, 15:04")
	}
	return from.Format("2 January 2006, 15:04") + " to " + end + " " + to.Format("MST") + " (" + mail.Duration(to.Sub(from)) + ")"
}

var textTemplate = ttemplate.Must(ttemplate.New("text").Parse(`Delivery report: {{.Period}}

{{.Lead}}
{{range .Groups}}
{{.Title}} ({{.Count}})
Next step: {{.NextStep}}
{{range .Names}}  - {{.}}
{{end}}{{end}}{{if .More}}
{{.More}} more in the attached workbook, which lists everyone above too.
{{else if .Groups}}
The attached workbook lists them with their rows and a "Corrected email" column.
{{end}}{{range .Batches}}
Batch {{.Name}}: {{.Status}}
  {{.Figures}}
{{if .Window}}  {{.Window}}
{{end}}{{if .Rates}}  {{.Rates}}
{{end}}{{range .Warnings}}  Warning: {{.}}
{{end}}{{if .URL}}  Open the batch: {{.URL}}
{{end}}{{end}}
{{.Events}}
`))

var htmlTemplate = template.Must(template.New("html").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family:sans-serif;line-height:1.4;max-width:40rem">
<h1 style="font-size:1.3rem">Delivery report: {{.Period}}</h1>
<p>{{.Lead}}</p>
{{range .Groups}}<h2 style="font-size:1.1rem">{{.Title}} ({{.Count}})</h2>
<p><strong>Next step:</strong> {{.NextStep}}</p>
{{if .Names}}<ul>{{range .Names}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{end}}{{if .More}}<p>{{.More}} more in the attached workbook, which lists everyone above too.</p>
{{else if .Groups}}<p>The attached workbook lists them with their rows and a "Corrected email" column.</p>
{{end}}{{range .Batches}}<h2 style="font-size:1.1rem">Batch {{.Name}}: {{.Status}}</h2>
<p>{{.Figures}}{{if .Window}}<br>{{.Window}}{{end}}{{if .Rates}}<br>{{.Rates}}{{end}}</p>
{{range .Warnings}}<p><strong>Warning:</strong> {{.}}</p>
{{end}}{{if .URL}}<p><a href="{{.URL}}">Open the batch</a></p>
{{end}}{{end}}<p>{{.Events}}</p>
</body></html>
`))
