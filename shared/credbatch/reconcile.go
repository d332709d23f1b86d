package credbatch

import (
	"context"
	"fmt"
	"time"
)

// EmailTruth sums EmailCounts over a batch's credentials: what its email counters must say.
func EmailTruth(ctx context.Context, s Store, batchID string) (Counts, error) {
	var c Counts
	for cr, err := range BatchCredentials(ctx, s, batchID) {
		if err != nil {
			return c, fmt.Errorf("count emails of batch %s: %w", batchID, err)
		}
		c = c.Add(EmailCounts(cr.EmailStatus))
	}
	return c, nil
}

// Mismatch is a batch whose stored email counters differ from its credentials.
type Mismatch struct {
	BatchID   string
	Stored    Counts // the batch's email counters
	Truth     Counts // EmailTruth
	Corrected bool   // the counters were set to Truth (CorrectEmailCounts)
}

// QuietPeriod is how long a batch's credentials must have been unchanged before a difference
// between its counters and its credentials is corrected: a status move and its counting are
// two writes (Store.SetEmailStatus), and a correction made between them would count that
// move twice. It is longer than any invocation can live (a Lambda runs at most 15 minutes),
// so a difference older than it is one a crash left behind, never one still in flight.
const QuietPeriod = 20 * time.Minute

// Reconcile compares a batch's email counters with its credentials. Feedback may move both
// while they are read, so the counters are read before and after the credentials, and a
// difference is reported only when the counters did not move in between (ok is true when
// they agree, or when they kept moving and nothing can be said yet).
func Reconcile(ctx context.Context, s Store, batchID string) (m Mismatch, ok bool, err error) {
	before, err := s.GetBatch(ctx, batchID)
	if err != nil {
		return m, false, fmt.Errorf("reconcile batch %s: %w", batchID, err)
	}
	truth, err := EmailTruth(ctx, s, batchID)
	if err != nil {
		return m, false, err
	}
	after, err := s.GetBatch(ctx, batchID)
	if err != nil {
		return m, false, fmt.Errorf("reconcile batch %s: %w", batchID, err)
	}
	m = Mismatch{BatchID: batchID, Stored: after.Counts.Email(), Truth: truth}
	if before.Counts.Email() != after.Counts.Email() {
		return m, true, nil
	}
	return m, m.Stored == m.Truth, nil
}
