package ingest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/mail"
)

// MailNotifier emails the uploader (and the administrators) when a file is rejected or has
// invalid rows, with the error-report workbook linked by a presigned URL.
type MailNotifier struct {
	Mailer    credbatch.Mailer
	Blob      credbatch.Blob
	Store     credbatch.Store
	From      string
	Admins    []string      // copied on every rejection
	BaseURL   string        // public URL of the console: the email links to the batch's page ("" = no link)
	LinkTTL   time.Duration // how long the report link works (default 7 days)
	MaxListed int           // findings listed in the email (default 20)
}

var _ Notifier = (*MailNotifier)(nil)

// LateEvidence tells the uploader (or, with none, the administrators) that an evidence zip
// arrived after its batch left review, so none of its files were attached.
func (n *MailNotifier) LateEvidence(ctx context.Context, b credbatch.Batch, zipKey string) error {
	to := n.Admins
	if strings.Contains(b.Uploader, "@") {
		to = []string{b.Uploader}
	}
	if len(to) == 0 {
		return nil
	}
	label := b.Label
	if label == "" {
		label = b.ID
	}
	var text strings.Builder
	fmt.Fprintf(&text, "The evidence zip %s arrived after batch %s was submitted (it is %s now), so none of its files were attached.\n\n", zipKey, label, strings.ReplaceAll(string(b.Status), "_", " "))
	text.WriteString("A batch takes its evidence zip only while it is being reviewed. Attach files to its rows in the console")
	if n.BaseURL != "" {
		fmt.Fprintf(&text, ":\n%s/batches/%s\n", strings.TrimRight(n.BaseURL, "/"), b.ID)
	} else {
		text.WriteString(".\n")
	}
	text.WriteString("\nCredentials already issued keep the evidence they were issued with.\n")
	_, err := n.Mailer.Send(ctx, credbatch.Message{From: n.From, To: to, Subject: "Evidence zip not used: " + label, Text: text.String(),
		Tags: map[string]string{"batch_id": b.ID, "kind": "late_evidence"}})
	return err
}

// Rejected sends the rejected-file email for a batch.
func (n *MailNotifier) Rejected(ctx context.Context, b credbatch.Batch, reportKey string) error {
	var to []string
	if strings.Contains(b.Uploader, "@") {
		to = append(to, b.Uploader)
	}
	to = append(to, n.Admins...)
	if len(to) == 0 {
		return nil
	}
	ttl := n.LinkTTL
	if ttl <= 0 {
		ttl = 7 * 24 * time.Hour
	}
	limit := n.MaxListed
	if limit <= 0 {
		limit = 20
	}
	label := b.Label
	if label == "" {
		label = b.ID
	}
	var text strings.Builder
	if reportKey == "" {
		fmt.Fprintf(&text, "The file %s was not accepted, so nothing was stored:\n\n", b.Source.Key)
		for _, f := range b.Findings {
			if f.Severity != credbatch.SeverityWarning {
				fmt.Fprintf(&text, "  %s: %s\n", f.Code, f.Message)
			}
		}
		text.WriteString("\nFix the file and upload it again.\n")
		if n.BaseURL != "" {
			fmt.Fprintf(&text, "\nThe batch in the console (assign the columns there when they could not be matched):\n%s/batches/%s\n", strings.TrimRight(n.BaseURL, "/"), b.ID)
		}
	} else {
		fmt.Fprintf(&text, "%d of the %d rows in %s have problems, so the batch was not sent for approval.\n\n",
			b.Counts.Invalid, b.Counts.Rows, b.Source.Key)
		page, err := n.Store.ListRows(ctx, b.ID, credbatch.RowFilter{Status: credbatch.RowInvalid, Limit: limit})
		if err != nil {
			return fmt.Errorf("rows of %s: %w", b.ID, err)
		}
		for _, r := range page.Items {
			for _, f := range r.Findings {
				if f.Severity != credbatch.SeverityWarning {
					fmt.Fprintf(&text, "  row %d, %s: %s\n", f.Row, f.Column, f.Message)
				}
			}
		}
		if page.Next != "" {
			fmt.Fprintf(&text, "  … and more in the report.\n")
		}
		url, err := n.Blob.PresignGet(ctx, reportKey, ttl)
		if err != nil {
			return fmt.Errorf("link the report of %s: %w", b.ID, err)
		}
		fmt.Fprintf(&text, "\nThe error report marks every problem cell (link valid for %s):\n%s\n\n", mail.Duration(ttl.Round(time.Hour)), url)
		text.WriteString("Fix the rows and upload the report again (its extra Status and Problems columns are ignored), " +
			"fix them in the console, or issue only the valid rows.\n")
		if n.BaseURL != "" {
			fmt.Fprintf(&text, "\nThe batch in the console:\n%s/batches/%s\n", strings.TrimRight(n.BaseURL, "/"), b.ID)
		}
	}
	_, err := n.Mailer.Send(ctx, credbatch.Message{From: n.From, To: to, Subject: "Upload needs fixing: " + label,
		Text: text.String(), Tags: map[string]string{"batch_id": b.ID, "kind": "rejected"}})
	return err
}
