package issuance_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/ses"
)

// sesRecorder is the SES v2 client under the real SES adapter: it records when each
// SendEmail call arrives, and for which batch.
type sesRecorder struct {
	mu    sync.Mutex
	calls []sesCall
}

type sesCall struct {
	at    time.Time
	batch string
}

func (r *sesRecorder) SendEmail(_ context.Context, in *sesv2.SendEmailInput, _ ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := sesCall{at: time.Now()}
	for _, tag := range in.EmailTags {
		if aws.ToString(tag.Name) == "batch_id" {
			c.batch = aws.ToString(tag.Value)
		}
	}
	r.calls = append(r.calls, c)
	return &sesv2.SendEmailOutput{MessageId: aws.String(fmt.Sprintf("m-%d", len(r.calls)))}, nil
}

func (r *sesRecorder) GetAccount(context.Context, *sesv2.GetAccountInput, ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error) {
	return nil, fmt.Errorf("GetAccount is not expected in this test")
}

// rate is the calls' send rate: the gaps between the first and the last call.
func rate(calls []sesCall) float64 {
	if len(calls) < 2 {
		return 0
	}
	return float64(len(calls)-1) / calls[len(calls)-1].at.Sub(calls[0].at).Seconds()
}

// issuingBatch stores an issuing batch of n valid rows.
func issuingBatch(t *testing.T, st credbatch.Store, id, defID string, defVer, n int) {
	t.Helper()
	ctx := t.Context()
	if err := st.CreateBatch(ctx, credbatch.Batch{ID: id, Status: credbatch.BatchReceived, Definitions: map[string]int{defID: defVer}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	rows := make([]credbatch.Row, n)
	for i := range rows {
		rows[i] = credbatch.Row{BatchID: id, Number: i + 2, DefinitionID: defID, FirstName: "Ann", LastName: fmt.Sprint("Lee", i),
			Email: fmt.Sprintf("%s-r%d@example.com", id, i), IssueDate: "2026-11-02", Status: credbatch.RowValid}
	}
	if err := st.PutRows(ctx, rows); err != nil {
		t.Fatal(err)
	}
	counts := credbatch.Counts{Rows: n, Valid: n}
	for _, step := range [][2]credbatch.BatchStatus{{credbatch.BatchReceived, credbatch.BatchParsed}, {credbatch.BatchParsed, credbatch.BatchApproved}, {credbatch.BatchApproved, credbatch.BatchIssuing}} {
		if _, err := st.TransitionBatch(ctx, id, step[0], step[1], credbatch.BatchChange{Counts: &counts}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAccountWidePacing issues three batches at once, each planned for the whole send rate and
// run as the Map runs it (MaxConcurrency chunk workers, each a service of its own, as separate
// Lambda instances are), and measures the combined rate of the SES adapter's SendEmail calls.
// The same run without the shared schedule (chunks planned before it: no account rate) is the
// baseline: three times the rate.
func TestAccountWidePacing(t *testing.T) {
	const (
		sendRate = 12.0
		batches  = 3
		rows     = 40
	)
	for _, be := range stores {
		t.Run(be.name, func(t *testing.T) {
			st := be.open(t)
			ctx := t.Context()
			def, err := st.PutDefinition(ctx, credbatch.Definition{ID: "web-101", Name: "Web Fundamentals",
				Expiry: credbatch.Expiry{Policy: credbatch.ExpiryNone}, Duplicates: credbatch.DuplicatesAllow})
			if err != nil {
				t.Fatal(err)
			}
			set, err := keys.New(time.Now())
			if err != nil {
				t.Fatal(err)
			}
			signer, err := credential.NewSigner(set, "did:web:creds.example")
			if err != nil {
				t.Fatal(err)
			}
			cfg := issuance.Config{Issuer: credential.Issuer{BaseURL: "https://creds.example", Name: "Northwind"}, From: "certs@example.com",
				SendRate: sendRate, MaxConcurrency: 4, ChunkSize: 10}
			run := func(t *testing.T, prefix string, shared bool) []sesCall {
				rec := &sesRecorder{}
				var wg sync.WaitGroup
				errs := make(chan error, batches*rows)
				for b := range batches {
					id := fmt.Sprintf("%s%d", prefix, b)
					issuingBatch(t, st, id, def.ID, def.Version, rows)
					plan, err := issuance.PlanFor(cfg, 2, rows)
					if err != nil {
						t.Fatal(err)
					}
					if !shared {
						plan.AccountRate = 0
					}
					sem := make(chan struct{}, plan.MaxConcurrency)
					for _, n := range plan.Chunks {
						wg.Go(func() {
							sem <- struct{}{}
							defer func() { <-sem }()
							svc := &issuance.Service{Store: st, Signer: signer, Config: cfg,
								Mailer: ses.New(rec, ses.Options{From: cfg.From, ConfigurationSet: "credbatch"})}
							_, err := svc.IssueChunk(ctx, issuance.Chunk{BatchID: id, Chunk: n, FirstRow: plan.FirstRow, ChunkSize: plan.ChunkSize,
								ChunkCount: plan.ChunkCount, Rate: plan.Rate, AccountRate: plan.AccountRate})
							if err != nil {
								errs <- fmt.Errorf("batch %s chunk %d: %w", id, n, err)
							}
						})
					}
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
				calls := slices.Clone(rec.calls)
				slices.SortFunc(calls, func(a, b sesCall) int { return a.at.Compare(b.at) })
				if len(calls) != batches*rows {
					t.Fatalf("SendEmail calls = %d, want %d", len(calls), batches*rows)
				}
				return calls
			}
			base := run(t, "solo", false)
			calls := run(t, "shared", true)
			got := rate(calls)
			t.Logf("%s: combined SendEmail rate %.2f/s with the shared schedule (configured %.0f/s, %.1f%% off); %.2f/s without it (%.2fx the configured rate)",
				be.name, got, sendRate, 100*(got-sendRate)/sendRate, rate(base), rate(base)/sendRate)
			if math.Abs(got-sendRate) > 0.05*sendRate {
				t.Errorf("combined rate %.2f/s, want %.0f/s within 5%%", got, sendRate)
			}
			// The three batches sent at once, not one after the other: each one's sends span
			// most of the run.
			total := calls[len(calls)-1].at.Sub(calls[0].at)
			for b := range batches {
				var own []sesCall
				for _, c := range calls {
					if c.batch == fmt.Sprintf("shared%d", b) {
						own = append(own, c)
					}
				}
				if span := own[len(own)-1].at.Sub(own[0].at); span < total*3/4 {
					t.Errorf("batch %d sent over %v of the run's %v: the batches did not issue concurrently", b, span, total)
				}
			}
			// Within any one second, never more than the rate, plus the slot on the edge and one
			// send its worker made late (a slot is kept to, but on a loaded machine a worker can
			// wake after it and send close to the next slot's worker). Without the schedule a
			// second holds about three times the rate.
			for i, c := range calls {
				j := i
				for j < len(calls) && calls[j].at.Sub(c.at) < time.Second {
					j++
				}
				if j-i > int(sendRate)+2 {
					t.Fatalf("%d sends in the second from call %d, want at most %d", j-i, i, int(sendRate)+2)
				}
			}
		})
	}
}
