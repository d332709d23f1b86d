package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/sheet"
)

// testClock is a clock the test moves by hand; the service and the store both read it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var errKilled = errors.New("process killed")

// dyingStore is the store as a process sees it when it is killed at one call: that call
// (the crashAt-th call of method) and every call after it fail and write nothing, as if the
// process had stopped there; what was written before stays.
type dyingStore struct {
	credbatch.Store
	method  string
	crashAt int

	mu    sync.Mutex
	calls map[string]int
	dead  bool
}

func (d *dyingStore) hit(method string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.calls == nil {
		d.calls = map[string]int{}
	}
	d.calls[method]++
	if method == d.method && d.calls[method] == d.crashAt {
		d.dead = true
	}
	if d.dead {
		return errKilled
	}
	return nil
}

func (d *dyingStore) GetBatch(ctx context.Context, id string) (credbatch.Batch, error) {
	if err := d.hit("GetBatch"); err != nil {
		return credbatch.Batch{}, err
	}
	return d.Store.GetBatch(ctx, id)
}

func (d *dyingStore) CreateBatch(ctx context.Context, b credbatch.Batch) error {
	if err := d.hit("CreateBatch"); err != nil {
		return err
	}
	return d.Store.CreateBatch(ctx, b)
}

func (d *dyingStore) UpdateBatch(ctx context.Context, id string, ch credbatch.BatchChange) (credbatch.Batch, error) {
	if err := d.hit("UpdateBatch"); err != nil {
		return credbatch.Batch{}, err
	}
	return d.Store.UpdateBatch(ctx, id, ch)
}

func (d *dyingStore) TransitionBatch(ctx context.Context, id string, from, to credbatch.BatchStatus, ch credbatch.BatchChange) (credbatch.Batch, error) {
	if err := d.hit("TransitionBatch"); err != nil {
		return credbatch.Batch{}, err
	}
	return d.Store.TransitionBatch(ctx, id, from, to, ch)
}

func (d *dyingStore) PutRows(ctx context.Context, rows []credbatch.Row) error {
	if err := d.hit("PutRows"); err != nil {
		return err
	}
	return d.Store.PutRows(ctx, rows)
}

func (d *dyingStore) DeleteRows(ctx context.Context, id string) error {
	if err := d.hit("DeleteRows"); err != nil {
		return err
	}
	return d.Store.DeleteRows(ctx, id)
}

func (d *dyingStore) ListRows(ctx context.Context, id string, f credbatch.RowFilter) (credbatch.Page[credbatch.Row], error) {
	if err := d.hit("ListRows"); err != nil {
		return credbatch.Page[credbatch.Row]{}, err
	}
	return d.Store.ListRows(ctx, id, f)
}

// recordingSubmitter stands in for issuance.Actions: it records each submit and, as Actions
// does, records an execution on the batch. With dieFirst, the first call is where the
// process is killed (nothing recorded).
type recordingSubmitter struct {
	store    credbatch.Store
	dieFirst bool

	mu      sync.Mutex
	calls   int
	submits map[string]int
}

func (r *recordingSubmitter) Submit(ctx context.Context, id string, _ bool) (credbatch.Batch, error) {
	r.mu.Lock()
	r.calls++
	if r.dieFirst && r.calls == 1 {
		r.mu.Unlock()
		return credbatch.Batch{}, errKilled
	}
	if r.submits == nil {
		r.submits = map[string]int{}
	}
	r.submits[id]++
	r.mu.Unlock()
	exec := "arn:aws:states:local:000000000000:execution:issuance:" + id
	return r.store.UpdateBatch(ctx, id, credbatch.BatchChange{ExecutionID: &exec})
}

// recordingNotifier counts the rejected-rows emails.
type recordingNotifier struct {
	mu    sync.Mutex
	calls int
}

func (n *recordingNotifier) Rejected(context.Context, credbatch.Batch, string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls++
	return nil
}

func (n *recordingNotifier) LateEvidence(context.Context, credbatch.Batch, string) error { return nil }

// bigCSV is a file of n rows (spreadsheet rows 2..n+1); with bad > 0 every bad-th row has an
// out-of-range score.
func bigCSV(n, bad int) string {
	var b strings.Builder
	b.WriteString(hdr)
	for i := 1; i <= n; i++ {
		score := 85
		if bad > 0 && i%bad == 0 {
			score = 140
		}
		fmt.Fprintf(&b, "Person%d,Lee,p%d@example.com,2026-03-04,,%d,C-%d,Gold,\n", i, i, score, i)
	}
	return b.String()
}

// TestIngestCrashThenOneRestartCompletes kills the ingest at several points (the store or the
// submitter dying mid-call), then restarts once: the S3 retry that arrives within the dead
// delivery's lease fails (so that it is not taken as done), and once the lease has expired
// the retry or the sweep completes the batch, with every row stored once and nothing done
// twice.
func TestIngestCrashThenOneRestartCompletes(t *testing.T) {
	const rows = 1100 // three chunks of 500, 500 and 100 rows
	cases := []struct {
		name        string
		method      string // the store call that is killed ("" = none)
		crashAt     int
		dieSubmit   bool // the process is killed in the submit call
		bad         int  // every bad-th row invalid (0 = none)
		wantInLease bool // the batch is left in received (a retry within the lease must fail)
		retryOnly   bool // no batch is left to sweep
	}{
		// Killed before the batch is recorded: nothing durable names the object yet, so its
		// recovery is the event's retry (which meets no lease), never the sweep.
		{name: "creating the batch", method: "CreateBatch", crashAt: 1, retryOnly: true},
		{name: "first rows", method: "PutRows", crashAt: 1, wantInLease: true},
		{name: "after 500 of 1,100 rows", method: "PutRows", crashAt: 2, wantInLease: true},
		{name: "last rows", method: "PutRows", crashAt: 3, wantInLease: true},
		{name: "finishing the batch", method: "TransitionBatch", crashAt: 1, wantInLease: true},
		{name: "submitting", dieSubmit: true},
		{name: "rejecting: rows stored", method: "TransitionBatch", crashAt: 1, bad: 17, wantInLease: true},
		{name: "rejecting: before the error report", method: "UpdateBatch", crashAt: 1, bad: 17},
	}
	for _, tc := range cases {
		// retry: S3's retries (the first too early); sweep only: the retries never came (or
		// ran out), the sweep alone.
		for _, recovery := range []string{"retry", "sweep only"} {
			if tc.retryOnly && recovery != "retry" {
				continue
			}
			t.Run(tc.name+"/"+recovery, func(t *testing.T) {
				for _, be := range backends {
					t.Run(be.name, func(t *testing.T) {
						clock := &testClock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
						e := be.open(t, clock.Now)
						ctx := context.Background()
						for _, d := range testDefinitions(t) {
							if _, err := e.store.PutDefinition(ctx, d); err != nil {
								t.Fatal(err)
							}
						}
						sub := &recordingSubmitter{store: e.store, dieFirst: tc.dieSubmit}
						notes := &recordingNotifier{}
						service := func(st credbatch.Store) *ingest.Service {
							return &ingest.Service{Store: st, Blob: e.blob, Submitter: sub, Notifier: notes,
								Limits: sheet.DefaultLimits(), TmpDir: t.TempDir(), Clock: clock.Now}
						}
						ev := upload(t, e, "uploads/web-101/crash.csv", []byte(bigCSV(rows, tc.bad)), nil)

						// The first delivery is killed part way.
						dying := &dyingStore{Store: e.store, method: tc.method, crashAt: tc.crashAt}
						if err := service(dying).HandleS3(ctx, ev); !errors.Is(err, errKilled) {
							t.Fatalf("the killed delivery returned %v, want it killed", err)
						}

						// Restart once. S3/Lambda retries the event a minute later, inside the
						// dead delivery's lease: a batch left in received must fail it.
						svc := service(e.store)
						clock.Add(time.Minute)
						if recovery != "sweep only" {
							err := svc.HandleS3(ctx, ev)
							if tc.wantInLease {
								if credbatch.ErrorCode(err) != ingest.CodeInProgress {
									t.Fatalf("retry within the lease: err = %v, want code %s", err, ingest.CodeInProgress)
								}
							} else if err != nil {
								t.Fatalf("retry: %v", err)
							}
						}

						// The lease expires; the next retry or the sweep completes the batch.
						clock.Add(2 * time.Minute)
						switch recovery {
						case "retry":
							if err := svc.HandleS3(ctx, ev); err != nil {
								t.Fatalf("retry after the lease: %v", err)
							}
						default:
							if _, err := svc.Sweep(ctx); err != nil {
								t.Fatalf("sweep: %v", err)
							}
						}
						// The batch is complete now, before anything else comes.
						completed := func(when string) {
							t.Helper()
							b := onlyBatch(t, e.store)
							checkRows(t, e.store, b.ID, rows)
							invalid := 0
							if tc.bad > 0 {
								invalid = rows / tc.bad
							}
							if b.Counts.Rows != rows || b.Counts.Invalid != invalid || b.Counts.Valid != rows-invalid {
								t.Errorf("%s: counts = %+v, want %d rows, %d invalid", when, b.Counts, rows, invalid)
							}
							if invalid == 0 {
								if b.Status != credbatch.BatchParsed || b.ExecutionID == "" || sub.submits[b.ID] != 1 {
									t.Errorf("%s: batch %s, execution %q, submitted %d times; want parsed and submitted once", when, b.Status, b.ExecutionID, sub.submits[b.ID])
								}
							} else {
								if b.Status != credbatch.BatchRejected || b.ReportKey == "" || notes.calls != 1 || len(sub.submits) != 0 {
									t.Errorf("%s: batch %s, report %q, %d emails, %d submits; want rejected with a report and one email", when, b.Status, b.ReportKey, notes.calls, len(sub.submits))
								}
							}
						}
						completed("after the recovery")

						// Later sweeps and a late duplicate delivery change nothing.
						clock.Add(10 * time.Minute)
						again, err := svc.Sweep(ctx)
						if err != nil || again.Resumed+again.Finished+again.Abandoned != 0 {
							t.Fatalf("second sweep: %+v, %v; want nothing left to do", again, err)
						}
						if err := svc.HandleS3(ctx, ev); err != nil {
							t.Fatalf("late duplicate delivery: %v", err)
						}
						completed("after a late duplicate delivery")
					})
				}
			})
		}
	}
}

// checkRows checks that the batch holds rows 2..n+1, each once, each with its own data.
func checkRows(t *testing.T, st credbatch.Store, batchID string, n int) {
	t.Helper()
	want := 2
	for r, err := range credbatch.BatchRows(context.Background(), st, batchID, credbatch.RowFilter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Number != want || r.Email != fmt.Sprintf("p%d@example.com", want-1) {
			t.Fatalf("row %d is number %d (%s); want rows 2..%d in order, each once", want-1, r.Number, r.Email, n+1)
		}
		want++
	}
	if want-2 != n {
		t.Fatalf("%d rows stored, want %d", want-2, n)
	}
}

// TestSweepAbandonsAnInterruptedJSONBatch: a batch of JSON rows whose request stopped part
// way is resumed by the client's retry with the same key; one never retried is rejected by
// the sweep after AbandonAfter, its rows removed, so that no half request is ever issued.
func TestSweepAbandonsAnInterruptedJSONBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e env) {
		ctx := context.Background()
		clock := &testClock{now: time.Now().UTC()} // the stores here stamp real time
		svc := setup(t, e)
		svc.Clock = clock.Now
		b := credbatch.Batch{ID: "b_json_abandoned", Source: credbatch.Source{IdempotencyKey: "k1"}, Uploader: "api@example.com",
			Status: credbatch.BatchReceived, CreatedAt: clock.Now(), UpdatedAt: clock.Now(), Options: credbatch.Options{DefinitionID: "web-101"}}
		if err := e.store.CreateBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := e.store.PutRows(ctx, []credbatch.Row{{BatchID: b.ID, Number: 2, Status: credbatch.RowValid, Email: "ann@example.com"}}); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Hour) // past the lease, within AbandonAfter: left for the client
		if res, err := svc.Sweep(ctx); err != nil || res.Abandoned != 0 {
			t.Fatalf("sweep within AbandonAfter: %+v, %v", res, err)
		}
		clock.Add(ingest.DefaultAbandonAfter)
		if res, err := svc.Sweep(ctx); err != nil || res.Abandoned != 1 {
			t.Fatalf("sweep after AbandonAfter: %+v, %v; want one abandoned", res, err)
		}
		got, _ := e.store.GetBatch(ctx, b.ID)
		page, _ := e.store.ListRows(ctx, b.ID, credbatch.RowFilter{})
		if got.Status != credbatch.BatchRejected || len(page.Items) != 0 || len(got.Findings) != 1 || got.Findings[0].Code != ingest.CodeInterrupted {
			t.Fatalf("batch %s, %d rows, findings %+v; want rejected, no rows, %s", got.Status, len(page.Items), got.Findings, ingest.CodeInterrupted)
		}
	})
}

// TestCreateBatchRetryResumesAnInterruptedRequest: the client's retry with the same
// Idempotency-Key of a request that stopped part way completes the batch (within the lease it
// is told to retry).
func TestCreateBatchRetryResumesAnInterruptedRequest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e env) {
		ctx := context.Background()
		clock := &testClock{now: time.Now().UTC()}
		svc := setup(t, e)
		svc.Clock = clock.Now
		nb := ingest.NewBatch{IdempotencyKey: "resume-me", Uploader: "api@example.com", DefinitionID: "web-101",
			Recipients: []ingest.Recipient{
				{FirstName: "Ann", LastName: "Lee", Email: "ann@example.com", Attributes: map[string]string{"Score": "90"}},
				{FirstName: "Bo", LastName: "Ng", Email: "bo@example.com", Attributes: map[string]string{"Score": "80"}}}}
		id := credbatch.BatchIDFor(credbatch.Source{IdempotencyKey: nb.IdempotencyKey})
		if err := e.store.CreateBatch(ctx, credbatch.Batch{ID: id, Source: credbatch.Source{IdempotencyKey: nb.IdempotencyKey},
			Uploader: nb.Uploader, Status: credbatch.BatchReceived, Format: "json", Options: credbatch.Options{DefinitionID: "web-101"}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.CreateBatch(ctx, nb); credbatch.ErrorCode(err) != ingest.CodeInProgress {
			t.Fatalf("retry within the lease: %v, want %s", err, ingest.CodeInProgress)
		}
		clock.Add(3 * time.Minute)
		b, _, err := svc.CreateBatch(ctx, nb)
		if err != nil {
			t.Fatal(err)
		}
		if b.Status != credbatch.BatchParsed || b.Counts.Rows != 2 || b.Counts.Valid != 2 {
			t.Fatalf("resumed batch %s %+v; want parsed with 2 valid rows", b.Status, b.Counts)
		}
	})
}

// TestHandleRoutesTheSweepSchedule: the ingest Lambda's one handler takes the S3 event, the
// sweep schedule's {"action":"sweep"} (a batch a crash left is resumed) and ignores
// anything else (S3's test event) without an error that Lambda would retry.
func TestHandleRoutesTheSweepSchedule(t *testing.T) {
	e := backends[0].open(t, nil)
	ctx := context.Background()
	clock := &testClock{now: time.Now().UTC()}
	svc := setup(t, e)
	svc.Clock = clock.Now
	ev := upload(t, e, "uploads/web-101/swept.csv", []byte(bigCSV(3, 0)), nil)
	dying := *svc
	dying.Store = &dyingStore{Store: e.store, method: "PutRows", crashAt: 1}
	if err := dying.HandleS3(ctx, ev); !errors.Is(err, errKilled) {
		t.Fatalf("killed delivery: %v", err)
	}
	for _, raw := range []string{`{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}`, `{"action":"other"}`} {
		if err := svc.Handle(ctx, json.RawMessage(raw)); err != nil {
			t.Errorf("Handle(%s) = %v, want it ignored", raw, err)
		}
	}
	if b := onlyBatch(t, e.store); b.Status != credbatch.BatchReceived {
		t.Fatalf("an ignored event changed the batch: %s", b.Status)
	}
	clock.Add(3 * time.Minute)
	if err := svc.Handle(ctx, json.RawMessage(`{"action":"sweep"}`)); err != nil {
		t.Fatal(err)
	}
	if b := onlyBatch(t, e.store); b.Status != credbatch.BatchParsed || b.Counts.Rows != 3 {
		t.Fatalf("after the sweep: %s %+v; want parsed with 3 rows", b.Status, b.Counts)
	}
}
