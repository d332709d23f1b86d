package feedback_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/feedback"
)

// sesMessage is a recorded SES event (testdata) rewritten for one credential's message.
func sesMessage(t *testing.T, fixture, credentialID, batchID, messageID, email string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", fixture+".json"))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	var ev events.SNSEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatalf("decode fixture %s: %v", fixture, err)
	}
	var msg map[string]any
	if err := json.Unmarshal([]byte(ev.Records[0].SNS.Message), &msg); err != nil {
		t.Fatalf("decode message: %v", err)
	}
	mail := msg["mail"].(map[string]any)
	mail["messageId"] = messageID
	mail["destination"] = []string{email}
	tags, _ := mail["tags"].(map[string]any)
	if tags == nil {
		tags = map[string]any{}
		mail["tags"] = tags
	}
	tags["credential_id"] = []string{credentialID}
	tags["batch_id"] = []string{batchID}
	for section, list := range map[string]string{"bounce": "bouncedRecipients", "complaint": "complainedRecipients", "deliveryDelay": "delayedRecipients"} {
		if sec, ok := msg[section].(map[string]any); ok {
			for _, r := range sec[list].([]any) {
				r.(map[string]any)["emailAddress"] = email
			}
		}
	}
	if sec, ok := msg["delivery"].(map[string]any); ok {
		sec["recipients"] = []string{email}
	}
	out, err := json.Marshal(msg)
	if err != nil {
		t.Fatalf("encode message: %v", err)
	}
	return string(out)
}

// TestConcurrentFeedbackCounts delivers 3,000 feedback events for 1,000 sent credentials in
// random order from 8 goroutines (with SNS redeliveries among them), while another goroutine
// keeps replacing the counters with a recount as Finalize does, and requires the batch's
// counters to equal what the credentials say and what the events imply: the 3,000-row run in
// which counts.delivered said 2,986 is the reproduction.
func TestConcurrentFeedbackCounts(t *testing.T) {
	const (
		creds   = 1000
		perCred = 3
		workers = 8
	)
	kinds := []struct {
		fixture string
		status  credbatch.EmailStatus
	}{
		{"delivery", credbatch.EmailDelivered},
		{"delivery", credbatch.EmailDelivered},
		{"delivery", credbatch.EmailDelivered},
		{"delivery-delay", credbatch.EmailDelayed},
		{"bounce-transient", credbatch.EmailSoftBounce},
		{"bounce", credbatch.EmailBounced},
		{"complaint", credbatch.EmailComplained},
	}
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			s := be.Open(t)
			ctx := t.Context()
			rnd := rand.New(rand.NewPCG(16, 3000))
			if err := s.CreateBatch(ctx, credbatch.Batch{ID: "b1", Status: credbatch.BatchReceived, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatalf("create batch: %v", err)
			}
			type delivery struct{ snsID, message string }
			var evs []delivery
			want := map[string]credbatch.EmailStatus{}
			for i := range creds {
				id, msgID, email := fmt.Sprintf("c%04d", i), fmt.Sprintf("m-%04d", i), fmt.Sprintf("r%04d@example.com", i)
				c := credbatch.Credential{ID: id, BatchID: "b1", RowNumber: i + 2, DefinitionID: "course", Email: email, Name: "R",
					IssueDate: "2025-03-01", Status: credbatch.CredentialIssued, EmailStatus: credbatch.EmailSent, MessageID: msgID,
					IssuedAt: now, UpdatedAt: now}
				if err := s.CreateCredential(ctx, c); err != nil {
					t.Fatalf("create credential: %v", err)
				}
				want[id] = credbatch.EmailSent
				for j := range perCred {
					k := kinds[rnd.IntN(len(kinds))]
					snsID := fmt.Sprintf("sns-%s-%d", id, j)
					if j == perCred-1 && rnd.IntN(4) == 0 {
						snsID = fmt.Sprintf("sns-%s-%d", id, j-1) // SNS redelivers the previous one
						k = kinds[0]
						evs = append(evs, delivery{snsID, evs[len(evs)-1].message})
						continue
					}
					evs = append(evs, delivery{snsID, sesMessage(t, k.fixture, id, "b1", msgID, email)})
					if credbatch.EmailAdvances(want[id], k.status) {
						want[id] = k.status
					}
				}
			}
			if len(evs) != creds*perCred {
				t.Fatalf("built %d events, want %d", len(evs), creds*perCred)
			}
			rnd.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
			svc := &feedback.Service{Store: s, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			work := make(chan delivery)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var errs []error
			start := time.Now()
			for range workers {
				wg.Go(func() {
					for ev := range work {
						// Lambda retries a failed invocation; so does this worker.
						var err error
						for try := 0; try < 5; try++ {
							if err = svc.HandleMessage(ctx, ev.snsID, ev.message); err == nil {
								break
							}
						}
						if err != nil {
							mu.Lock()
							errs = append(errs, err)
							mu.Unlock()
						}
					}
				})
			}
			// Meanwhile Finalize-like writers replace the counters with a recount read a
			// moment earlier (the race that lost deliveries in the 3,000-row run).
			stop := make(chan struct{})
			var recounts sync.WaitGroup
			recounts.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					c, err := credbatch.EmailTruth(ctx, s, "b1")
					if err == nil {
						c.Rows, c.Valid, c.Issued = creds, creds, creds
						_, err = s.UpdateBatch(ctx, "b1", credbatch.BatchChange{Counts: &c})
					}
					if err != nil && !credbatch.IsKind(err, credbatch.KindUnavailable) {
						mu.Lock()
						errs = append(errs, fmt.Errorf("recount: %w", err))
						mu.Unlock()
						return
					}
				}
			})
			for _, ev := range evs {
				work <- ev
			}
			close(work)
			wg.Wait()
			close(stop)
			recounts.Wait()
			t.Logf("%d events from %d goroutines in %v", len(evs), workers, time.Since(start))
			if len(errs) > 0 {
				t.Fatalf("%d events failed; first: %v", len(errs), errs[0])
			}
			var expect credbatch.Counts
			for id, st := range want {
				c, err := s.GetCredential(ctx, id)
				if err != nil {
					t.Fatalf("get %s: %v", id, err)
				}
				// Statuses of equal rank (delayed, soft_bounced) keep whichever came first.
				if credbatch.EmailAdvances(c.EmailStatus, st) || credbatch.EmailAdvances(st, c.EmailStatus) {
					t.Errorf("credential %s: email %s, want %s", id, c.EmailStatus, st)
				}
				expect = expect.Add(credbatch.EmailCounts(st))
			}
			truth, err := credbatch.EmailTruth(ctx, s, "b1")
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.GetBatch(ctx, "b1")
			if err != nil {
				t.Fatal(err)
			}
			if b.Counts.Email() != truth || truth != expect {
				t.Fatalf("batch counters %+v, credentials say %+v, events imply %+v", b.Counts.Email(), truth, expect)
			}
			if m, ok, err := credbatch.Reconcile(ctx, s, "b1"); err != nil || !ok {
				t.Fatalf("reconcile: %+v, %v, %v", m, ok, err)
			}
			t.Logf("counts %+v", truth)
		})
	}
}
