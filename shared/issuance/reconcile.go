package issuance

import (
	"context"
	"iter"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// ReconciliationHeaders are the columns of Reconciliation.
var ReconciliationHeaders = []string{"Row", "Row status", "Codes", "First name", "Last name", "Email", "Definition",
	"Credential", "Credential status", "Revoked reason", "Email status", "Bounce type", "Message id", "Sent at (UTC)", "Last error"}

// Reconciliation yields one line per input row of a batch: the row, its credential and its
// delivery, so every row is accounted for (issued, rejected with codes, failed with its
// error, or revoked). Rows and credentials are both read in row order and joined as they
// stream, so memory stays flat however large the batch. Cells are workbook.Cells values: the
// row number an int, the send time a time.Time (a date-time cell), the rest text.
func Reconciliation(ctx context.Context, st credbatch.Store, batchID string) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		next, stop := iter.Pull2(credbatch.BatchCredentials(ctx, st, batchID))
		defer stop()
		var cur *credbatch.Credential
		advance := func() error {
			c, err, ok := next()
			if !ok {
				cur = nil
				return nil
			}
			if err != nil {
				return err
			}
			cur = &c
			return nil
		}
		if err := advance(); err != nil {
			yield(nil, err)
			return
		}
		for r, err := range credbatch.BatchRows(ctx, st, batchID, credbatch.RowFilter{}) {
			if err != nil {
				yield(nil, err)
				return
			}
			for cur != nil && cur.RowNumber < r.Number {
				if err := advance(); err != nil {
					yield(nil, err)
					return
				}
			}
			codes := ""
			for _, f := range r.Findings {
				if codes != "" {
					codes += " "
				}
				codes += f.Code
			}
			line := []any{r.Number, string(r.Status), codes, r.FirstName, r.LastName, r.Email, r.DefinitionID}
			if cur != nil && cur.RowNumber == r.Number {
				c := cur
				line = append(line, c.ID, string(c.Status), c.RevokedReason, string(c.EmailStatus), c.BounceType, c.MessageID,
					c.SentAt.Truncate(time.Second), c.LastError)
			} else {
				line = append(line, "", "", "", "", "", "", nil, r.Error)
			}
			if !yield(line, nil) {
				return
			}
		}
	}
}
