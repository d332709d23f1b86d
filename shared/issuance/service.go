package issuance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/mail"
)

// Config holds the deployment settings the flow needs.
type Config struct {
	Issuer          credential.Issuer // issuer profile and the public base URL
	From            string            // sender address of every email
	FromName        string            // display name of notifications' From (default: the issuer's name); credential emails show their definition's issuer
	Locale          string            // language of credential emails when neither the row nor the definition names one (credbatch.Locales; default en)
	Approvers       []string          // who gets approval requests
	Admins          []string          // who gets batch summaries and pause alerts
	ApprovalTimeout time.Duration     // how long a batch waits for approval (default 7 days)
	SendRate        float64           // messages per second for the whole deployment (SES MaxSendRate)
	MaxConcurrency  int               // most chunks issued at once (default 10, at most 40)
	ChunkSeconds    int               // how long one chunk may take to send (default 600)
	ChunkSize       int               // fixed chunk size; 0 = derived from the rows and the rate
	BounceRate      float64           // pause a batch above this hard-bounce rate (default 0.05)
	BounceMinSends  int               // ... once it has sent at least this many (default 200)
	// SendLease is how long an email marked sending belongs to the run that marked it
	// (default 2 minutes: longer than one send with its retries). A run that finds an email
	// sending waits this long before it concludes the sender died and sends it again.
	SendLease time.Duration
}

// sender is the From of notifications: the configured address with FromName.
func (c Config) sender() string { return mail.From(c.FromName, c.From) }

func (c Config) withDefaults() Config {
	if c.FromName == "" {
		c.FromName = c.Issuer.Name
	}
	if c.ApprovalTimeout <= 0 {
		c.ApprovalTimeout = 7 * 24 * time.Hour
	}
	if c.SendRate <= 0 {
		c.SendRate = 14
	}
	if c.MaxConcurrency <= 0 {
		c.MaxConcurrency = 10
	}
	c.MaxConcurrency = min(c.MaxConcurrency, 40)
	if c.ChunkSeconds <= 0 {
		c.ChunkSeconds = 600
	}
	if c.BounceRate <= 0 {
		c.BounceRate = 0.05
	}
	if c.BounceMinSends <= 0 {
		c.BounceMinSends = 200
	}
	if c.SendLease <= 0 {
		c.SendLease = 2 * time.Minute
	}
	return c
}

// Service runs the flow's steps against the store, the mailer and the signer.
type Service struct {
	Store  credbatch.Store
	Mailer credbatch.Mailer
	Blob   credbatch.Blob // credentials' evidence files (nil: none are served)
	Signer *credential.Signer
	Clock  credbatch.Clock
	IDs    credbatch.IDs
	Config Config
	Log    *slog.Logger
	// StatusCache is cleared after each revocation (the API's cached status lists).
	StatusCache StatusCache
}

func (s *Service) now() time.Time {
	if s.Clock != nil {
		return s.Clock().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) newID() string {
	if s.IDs != nil {
		return s.IDs()
	}
	return NewID()
}

// NewID returns a random 128-bit id in hex: credential ids are unguessable.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Service) cfg() Config { return s.Config.withDefaults() }

// Task is the payload the state machine sends to the workflow and approval functions.
type Task struct {
	Action    string `json:"action"` // prepare, request_approval, plan, expire, cancel, chunk_failed, finalize, fail
	BatchID   string `json:"batch_id"`
	TaskToken string `json:"task_token,omitempty"`
	Execution string `json:"execution,omitempty"` // prepare: the execution's own id ($$.Execution.Id)
	Error     string `json:"error,omitempty"`     // chunk_failed, fail: the error name Step Functions caught
	Cause     string `json:"cause,omitempty"`     // ... and its Cause (a Lambda error document for a failed Lambda task)
	// chunk_failed: the chunk that failed.
	Chunk      int `json:"chunk,omitempty"`
	FirstRow   int `json:"first_row,omitempty"`
	ChunkSize  int `json:"chunk_size,omitempty"`
	ChunkCount int `json:"chunk_count,omitempty"`
}

// Prepared is Prepare's output.
type Prepared struct {
	ApprovalRequired       bool `json:"approval_required"`
	ApprovalTimeoutSeconds int  `json:"approval_timeout_seconds"`
	Rows                   int  `json:"rows"`
}

// Plan is PlanChunks' output: chunk numbers, never rows.
type Plan struct {
	Chunks         []int   `json:"chunks"`
	FirstRow       int     `json:"first_row"`
	ChunkSize      int     `json:"chunk_size"`
	ChunkCount     int     `json:"chunk_count"`
	Rate           float64 `json:"rate"`         // messages per second for each chunk worker
	AccountRate    float64 `json:"account_rate"` // ... for all of them together, every batch's (the shared send schedule)
	MaxConcurrency int     `json:"max_concurrency"`
}

// Finalized is Finalize's output.
type Finalized struct {
	Status credbatch.BatchStatus `json:"status"`
	Counts credbatch.Counts      `json:"counts"`
}

// Handle runs one step of the workflow function; errors are the named types of errors.go.
func (s *Service) Handle(ctx context.Context, t Task) (any, error) {
	var out any
	var err error
	switch t.Action {
	case "prepare":
		out, err = s.prepare(ctx, t.BatchID, t.Execution)
	case "request_approval":
		err = s.RequestApproval(ctx, t.BatchID, t.TaskToken)
		out = map[string]string{}
	case "plan":
		out, err = s.PlanChunks(ctx, t.BatchID)
	case "expire":
		err = s.Expire(ctx, t.BatchID)
		out = map[string]string{}
	case "cancel":
		err = s.cancelled(ctx, t.BatchID, t.Cause)
		out = map[string]string{}
	case "chunk_failed":
		err = s.ChunkFailed(ctx, Chunk{BatchID: t.BatchID, Chunk: t.Chunk, FirstRow: t.FirstRow, ChunkSize: t.ChunkSize, ChunkCount: t.ChunkCount}, t.Error, t.Cause)
		out = map[string]string{}
	case "finalize":
		out, err = s.Finalize(ctx, t.BatchID)
	case "fail":
		err = s.Fail(ctx, t.BatchID, t.Error, t.Cause)
		out = map[string]string{}
	default:
		err = &TaskFailedError{Err: fmt.Errorf("unknown action %q", t.Action)}
	}
	if err != nil {
		s.log().Error("workflow step failed", "action", t.Action, "batch_id", t.BatchID, "err", err)
	}
	return out, named(err)
}

// Prepare checks that the batch can be issued and moves it on: to awaiting_approval when a
// definition requires approval, else to approved. A re-run after success answers the same.
func (s *Service) Prepare(ctx context.Context, id string) (Prepared, error) {
	return s.prepare(ctx, id, "")
}

// prepare is Prepare for the execution exec ($$.Execution.Id; "" when unknown). The
// execution that moves the batch on records itself as the batch's execution in the same
// conditional write, so that of two executions of one submission (a second Submit that read
// the batch before the first one's Prepare ran starts a second one) exactly one goes on; the
// other ends as not ready, without touching the batch: no rejection by its failed
// transition, no second approval request.
func (s *Service) prepare(ctx context.Context, id, exec string) (Prepared, error) {
	b, err := s.Store.GetBatch(ctx, id)
	if err != nil {
		return Prepared{}, err
	}
	pol, err := PolicyOf(ctx, s.Store, b)
	if err != nil {
		return Prepared{}, err
	}
	out := Prepared{ApprovalRequired: pol.ApprovalRequired, Rows: b.Counts.Valid,
		ApprovalTimeoutSeconds: int(s.cfg().ApprovalTimeout / time.Second)}
	switch b.Status {
	case credbatch.BatchParsed, credbatch.BatchRejected:
		if b.Status == credbatch.BatchRejected && b.Counts.Invalid > 0 && !b.SkipInvalid {
			return out, &BatchNotReadyError{Msg: fmt.Sprintf("batch %s has %d invalid rows: fix them or submit with skip_invalid", id, b.Counts.Invalid)}
		}
		if b.Counts.Valid == 0 {
			return out, &BatchNotReadyError{Msg: fmt.Sprintf("batch %s has no valid rows to issue", id)}
		}
		if _, err := PlanFor(s.cfg(), 0, b.Counts.Rows); err != nil {
			return out, s.refuse(ctx, b, err)
		}
		to := credbatch.BatchApproved
		if pol.ApprovalRequired {
			to = credbatch.BatchAwaitingApproval
		}
		ch := credbatch.BatchChange{}
		if exec != "" {
			ch.ExecutionID = &exec
		}
		if _, err := s.Store.TransitionBatch(ctx, id, b.Status, to, ch); err != nil {
			if credbatch.IsKind(err, credbatch.KindConflict) {
				// Another execution of the same submission moved it first.
				return out, &BatchNotReadyError{Msg: fmt.Sprintf("batch %s was moved on by another execution: %v", id, err)}
			}
			return out, err
		}
	case credbatch.BatchAwaitingApproval, credbatch.BatchApproved:
		// Moved on by an execution: this one (Prepare run again) goes on; another one
		// of the same submission ends. Without the execution's id, a token already
		// stored says that another execution requested the approval (Prepare runs before
		// the request, so never this one).
		if other := b.ExecutionID != "" && b.ExecutionID != exec; (exec != "" && other) || (exec == "" && b.TaskToken != "") {
			return out, &BatchNotReadyError{Msg: fmt.Sprintf("batch %s is %s in another execution (%s)", id, b.Status, b.ExecutionID)}
		}
		out.ApprovalRequired = b.Status == credbatch.BatchAwaitingApproval
	case credbatch.BatchIssuing:
		// Resume and Retry move the batch to issuing before they start an execution: it
		// becomes the batch's execution.
		if exec != "" && b.ExecutionID != exec {
			if _, err := s.Store.UpdateBatch(ctx, id, credbatch.BatchChange{ExecutionID: &exec}); err != nil {
				return out, err
			}
		}
		out.ApprovalRequired = false
	default:
		return out, &BatchNotReadyError{Msg: fmt.Sprintf("batch %s is %s: nothing to issue", id, b.Status)}
	}
	return out, nil
}

// refuse rejects a batch that cannot be issued as a whole (PlanFor's batch_too_large) before
// approval is asked or anything is sent: the batch becomes rejected with the reason and a
// batch-level finding (row 0, no column) carrying the code, and the step ends the execution
// as not ready. A re-run finds the batch rejected with the same finding and refuses again.
func (s *Service) refuse(ctx context.Context, b credbatch.Batch, why error) error {
	var e *credbatch.Error
	if !errors.As(why, &e) {
		return why
	}
	findings := slices.DeleteFunc(slices.Clone(b.Findings), func(f credbatch.Finding) bool { return f.Row == 0 && f.Code == e.Code })
	findings = append(findings, credbatch.Finding{Code: e.Code, Message: e.Message, Severity: credbatch.SeverityError})
	reason := e.Code + ": " + e.Message
	ch := credbatch.BatchChange{Reason: &reason, Findings: &findings}
	var err error
	if b.Status == credbatch.BatchRejected {
		_, err = s.Store.UpdateBatch(ctx, b.ID, ch)
	} else {
		_, err = s.Store.TransitionBatch(ctx, b.ID, b.Status, credbatch.BatchRejected, ch)
	}
	if err != nil {
		return fmt.Errorf("refuse batch %s (%s): %w", b.ID, e.Code, err)
	}
	s.log().Warn("batch refused", "batch_id", b.ID, "code", e.Code, "rows", b.Counts.Rows)
	return &BatchNotReadyError{Msg: fmt.Sprintf("batch %s refused (%s): %s", b.ID, e.Code, e.Message)}
}

// Policy is what a batch's definitions require of its approval.
type Policy struct {
	ApprovalRequired bool // some definition requires approval
	FourEyes         bool // some definition forbids the uploader approving their own batch
}

// PolicyOf derives a batch's approval policy from the definitions it was validated against
// (at those versions), so it is never stored twice.
func PolicyOf(ctx context.Context, st credbatch.Store, b credbatch.Batch) (Policy, error) {
	var p Policy
	for id, version := range b.Definitions {
		d, err := st.GetDefinition(ctx, id, version)
		if err != nil {
			return p, fmt.Errorf("definition %s v%d of batch %s: %w", id, version, b.ID, err)
		}
		p.ApprovalRequired = p.ApprovalRequired || d.ApprovalRequired || d.FourEyes
		p.FourEyes = p.FourEyes || d.FourEyes
	}
	return p, nil
}

// RequestApproval stores the task token on the batch and emails the approvers a summary with
// the review link. A retry with the same token does not email twice.
func (s *Service) RequestApproval(ctx context.Context, id, token string) error {
	b, err := s.Store.GetBatch(ctx, id)
	if err != nil {
		return err
	}
	if b.Status != credbatch.BatchAwaitingApproval {
		return &BatchNotReadyError{Msg: fmt.Sprintf("batch %s is %s, not awaiting approval", id, b.Status)}
	}
	if b.TaskToken == token {
		return nil
	}
	if _, err := s.Store.UpdateBatch(ctx, id, credbatch.BatchChange{TaskToken: &token}); err != nil {
		return err
	}
	to := s.cfg().Approvers
	if len(to) == 0 {
		to = s.cfg().Admins
	}
	if len(to) == 0 {
		s.log().Warn("no approver addresses configured; approve through the API", "batch_id", id)
		return nil
	}
	msg := approvalMessage(s.cfg(), b)
	msg.To = to
	if _, err := s.Mailer.Send(ctx, msg); err != nil {
		return fmt.Errorf("email approvers of %s: %w", id, err)
	}
	return nil
}

// PlanChunks moves an approved batch to issuing and splits its rows into chunks sized so that
// each chunk worker, paced at its share of the send rate, finishes in ChunkSeconds; at most
// MaxChunks chunks keep the Map's history and state small.
func (s *Service) PlanChunks(ctx context.Context, id string) (Plan, error) {
	b, err := s.Store.GetBatch(ctx, id)
	if err != nil {
		return Plan{}, err
	}
	switch b.Status {
	case credbatch.BatchApproved:
		if b, err = s.Store.TransitionBatch(ctx, id, credbatch.BatchApproved, credbatch.BatchIssuing, credbatch.BatchChange{}); err != nil {
			return Plan{}, err
		}
	case credbatch.BatchIssuing:
	default:
		return Plan{}, &BatchNotReadyError{Msg: fmt.Sprintf("batch %s is %s, not approved", id, b.Status)}
	}
	first, err := s.Store.ListRows(ctx, id, credbatch.RowFilter{Limit: 1})
	if err != nil {
		return Plan{}, err
	}
	if len(first.Items) == 0 {
		return Plan{Chunks: []int{}, AccountRate: s.cfg().SendRate}, nil
	}
	p, err := PlanFor(s.cfg(), first.Items[0].Number, b.Counts.Rows)
	if err != nil {
		// Prepare refuses such a batch; the rate or the batch changed since (a retry).
		return p, &TaskFailedError{Err: err}
	}
	return p, nil
}

// MaxChunks bounds the number of Map iterations. An execution's history holds 25,000 events
// and Step Functions counts 18 for a chunk that fails after two retries (MapIterationStarted,
// IssueChunk entered, three times TaskScheduled/TaskStarted/TaskFailed, exited, ChunkFailed's
// five, MapIterationSucceeded): 1,250 such chunks make 22,500 events, plus about 30 for the
// other states (flowtest's TestCapAllChunksFailing counts them).
const MaxChunks = 1250

// IssueTimeout is the issue function's Timeout in template.yaml (Lambda's maximum); the
// template test in infra/deployed checks that they agree.
const IssueTimeout = 900 * time.Second

// ChunkLimit is how long a planned chunk may take: IssueTimeout less a tenth for the chunk's
// start (batch, definitions, status-list slots), SES throttling backoff and its last writes.
const ChunkLimit = IssueTimeout - IssueTimeout/10

// RowWork is the least time a chunk worker spends on one row whatever the send rate: it
// issues its rows one after another (row and credential writes, signing, the SES call), so a
// worker's pace is the slower of its share of the send rate and this.
const RowWork = 100 * time.Millisecond

// PlanFor splits rows starting at firstRow into chunks for the configuration, so that every
// chunk finishes within ChunkLimit at its worker's share of the send rate and the Map has at
// most MaxChunks iterations. The chunk size follows ChunkSeconds (or the fixed ChunkSize),
// raised to keep within MaxChunks and lowered to keep within ChunkLimit; when a chunk that
// large cannot finish in time at the workers' shares of the rate, fewer workers run, each at
// a larger share (the batch's total rate, and so its duration, stays the same). A batch
// that cannot be planned even with one worker at the whole rate is refused with
// credbatch.CodeBatchTooLarge (KindInvalid), whose message gives the largest batch that fits.
func PlanFor(c Config, firstRow, rows int) (Plan, error) {
	c = c.withDefaults()
	conc := max(1, min(c.MaxConcurrency, int(math.Floor(c.SendRate))))
	size := c.ChunkSize
	if size <= 0 {
		size = min(5000, max(50, int(c.SendRate/float64(conc)*float64(c.ChunkSeconds))))
	}
	least := (rows + MaxChunks - 1) / MaxChunks // the history limit
	size = max(least, min(size, rowsWithin(c.SendRate, conc)))
	for conc > 1 && size > rowsWithin(c.SendRate, conc) {
		conc--
	}
	if size > rowsWithin(c.SendRate, conc) {
		most := MaxChunks * rowsWithin(c.SendRate, 1)
		return Plan{}, credbatch.E(credbatch.KindInvalid, credbatch.CodeBatchTooLarge, fmt.Sprintf(
			"the batch has %d rows; at %g emails a second one batch can hold at most %d (%d chunks of %d rows, each sent within the issue function's %d-second limit): split the file into batches of at most %d rows, or raise the account's SES sending rate",
			rows, c.SendRate, most, MaxChunks, rowsWithin(c.SendRate, 1), int(IssueTimeout/time.Second), most))
	}
	n := max(1, (rows+size-1)/size)
	chunks := make([]int, n)
	for i := range chunks {
		chunks[i] = i
	}
	return Plan{Chunks: chunks, FirstRow: firstRow, ChunkSize: size, ChunkCount: n, Rate: c.SendRate / float64(conc), AccountRate: c.SendRate, MaxConcurrency: min(conc, n)}, nil
}

// rowsWithin is how many rows one of conc workers sharing rate issues within ChunkLimit.
func rowsWithin(rate float64, conc int) int {
	perRow := max(float64(conc)/rate, RowWork.Seconds())
	return int(ChunkLimit.Seconds() / perRow)
}

// Expire marks a batch whose approval timed out. Already moved on: nothing to do.
func (s *Service) Expire(ctx context.Context, id string) error {
	_, err := s.Store.TransitionBatch(ctx, id, credbatch.BatchAwaitingApproval, credbatch.BatchExpired,
		credbatch.BatchChange{Reason: ptr("approval timed out")})
	if credbatch.IsKind(err, credbatch.KindConflict) {
		return nil
	}
	return err
}

// cancelled marks a batch cancelled by the flow (the API normally did it already).
func (s *Service) cancelled(ctx context.Context, id, cause string) error {
	_, err := s.Store.TransitionBatch(ctx, id, credbatch.BatchAwaitingApproval, credbatch.BatchCancelled,
		credbatch.BatchChange{Reason: &cause})
	if credbatch.IsKind(err, credbatch.KindConflict) {
		return nil
	}
	return err
}

// ChunkFailed marks the rows a chunk left unissued (valid or issuing) as failed with the
// chunk's error, after its retries ran out.
func (s *Service) ChunkFailed(ctx context.Context, c Chunk, errName, cause string) error {
	reason := fmt.Sprintf("not issued: chunk %d failed (%s): %s; retry the failed rows from the batch page (or POST /api/batches/{id}/retry)", c.Chunk, errName, CauseMessage(cause))
	from, to := c.rows()
	f := credbatch.RowFilter{FromNumber: from, ToNumber: to}
	for r, err := range credbatch.BatchRows(ctx, s.Store, c.BatchID, f) {
		if err != nil {
			return err
		}
		if r.Status != credbatch.RowValid && r.Status != credbatch.RowIssuing {
			continue
		}
		if _, err := s.failRow(ctx, r, reason); err != nil && !credbatch.IsKind(err, credbatch.KindConflict) {
			return err
		}
	}
	return nil
}

// Finalize counts rows and emails, marks rows that no chunk issued as failed, and moves the
// batch to completed or completed_with_failures (a paused batch stays paused), then sends the
// summary email. A re-run after success answers the same.
func (s *Service) Finalize(ctx context.Context, id string) (Finalized, error) {
	b, err := s.Store.GetBatch(ctx, id)
	if err != nil {
		return Finalized{}, err
	}
	if b.Status != credbatch.BatchIssuing {
		return Finalized{Status: b.Status, Counts: b.Counts}, nil
	}
	counts, err := s.recount(ctx, b, "not issued: its chunk failed or sending stopped; retry the failed rows from the batch page (or POST /api/batches/{id}/retry)")
	if err != nil {
		return Finalized{}, err
	}
	to := credbatch.BatchCompleted
	if counts.Failed > 0 {
		to = credbatch.BatchCompletedFailed
	}
	now := s.now()
	b, err = s.Store.TransitionBatch(ctx, id, credbatch.BatchIssuing, to, credbatch.BatchChange{Counts: &counts, CompletedAt: &now})
	if credbatch.IsKind(err, credbatch.KindConflict) {
		cur, gerr := s.Store.GetBatch(ctx, id)
		if gerr != nil {
			return Finalized{}, gerr
		}
		return Finalized{Status: cur.Status, Counts: cur.Counts}, nil
	}
	if err != nil {
		return Finalized{}, err
	}
	s.log().Info("batch finished", "batch_id", id, "status", b.Status, "issued", counts.Issued, "failed", counts.Failed)
	if b.Counts.Email() != counts.Email() {
		// Feedback arriving during the recount also explains a difference; the report run
		// reconciles again (credbatch.Reconcile).
		s.log().Warn("email counters differ from the credentials at finalize", "batch_id", id,
			"stored", b.Counts.Email(), "credentials", counts.Email())
	}
	if err := s.sendSummary(ctx, b); err != nil {
		s.log().Error("batch summary email", "batch_id", id, "err", err)
	}
	return Finalized{Status: b.Status, Counts: b.Counts}, nil
}

// Fail records that the workflow failed for good at some step (errName and cause as Step
// Functions caught them), so that no execution ends with its batch stuck. A batch that had
// not started issuing can be submitted again: parsed or rejected stays where it is,
// awaiting_approval goes back to rejected (as when an approver requests changes). An
// approved or issuing batch ends as Finalize ends it, its unissued rows failed with the
// cause. A paused batch stays paused (Resume continues it); a finished one is left alone.
// The reason on the batch names the error. A re-run after success changes nothing more.
func (s *Service) Fail(ctx context.Context, id, errName, cause string) error {
	msg := fmt.Sprintf("the issuance workflow failed (%s): %s", errName, CauseMessage(cause))
	b, err := s.Store.GetBatch(ctx, id)
	if err != nil {
		return err
	}
	s.log().Error("workflow failed", "batch_id", id, "status", b.Status, "error", errName, "cause", CauseMessage(cause))
	again := msg + "; submit the batch again"
	switch b.Status {
	case credbatch.BatchParsed, credbatch.BatchRejected:
		_, err = s.Store.UpdateBatch(ctx, id, credbatch.BatchChange{Reason: &again})
		return err
	case credbatch.BatchAwaitingApproval:
		_, err = s.Store.TransitionBatch(ctx, id, b.Status, credbatch.BatchRejected, credbatch.BatchChange{Reason: &again, TaskToken: ptr("")})
		return ignoreConflict(err)
	case credbatch.BatchApproved:
		if b, err = s.Store.TransitionBatch(ctx, id, b.Status, credbatch.BatchIssuing, credbatch.BatchChange{}); err != nil {
			return ignoreConflict(err)
		}
	case credbatch.BatchIssuing:
	default:
		return nil
	}
	counts, err := s.recount(ctx, b, "not issued: "+again+" to retry")
	if err != nil {
		return err
	}
	to := credbatch.BatchCompleted
	if counts.Failed > 0 {
		to = credbatch.BatchCompletedFailed
	}
	now := s.now()
	b, err = s.Store.TransitionBatch(ctx, id, credbatch.BatchIssuing, to, credbatch.BatchChange{Counts: &counts, CompletedAt: &now, Reason: &msg})
	if err != nil {
		return ignoreConflict(err)
	}
	if err := s.sendSummary(ctx, b); err != nil {
		s.log().Error("batch summary email", "batch_id", id, "err", err)
	}
	return nil
}

// ignoreConflict drops a conflict: the batch moved on meanwhile (a re-run, an approver).
func ignoreConflict(err error) error {
	if credbatch.IsKind(err, credbatch.KindConflict) {
		return nil
	}
	return err
}

// recount derives a batch's counters from its rows and credentials (the store keeps the
// email ones itself and ignores them in a BatchChange; Finalize compares). With a
// failReason, rows that are still valid or issuing (their chunk failed or stopped) become
// failed with it.
func (s *Service) recount(ctx context.Context, b credbatch.Batch, failReason string) (credbatch.Counts, error) {
	var c credbatch.Counts
	for r, err := range credbatch.BatchRows(ctx, s.Store, b.ID, credbatch.RowFilter{}) {
		if err != nil {
			return c, err
		}
		if failReason != "" && (r.Status == credbatch.RowValid || r.Status == credbatch.RowIssuing) {
			if r, err = s.failRow(ctx, r, failReason); err != nil {
				return c, err
			}
		}
		c.Rows++
		switch r.Status {
		case credbatch.RowValid, credbatch.RowIssuing:
			c.Valid++
		case credbatch.RowInvalid, credbatch.RowSkipped:
			c.Invalid++
		case credbatch.RowIssued:
			c.Valid++
			c.Issued++
		case credbatch.RowFailed:
			c.Valid++
			c.Failed++
		case credbatch.RowRevoked:
			c.Valid++
			c.Revoked++
		}
	}
	for cr, err := range credbatch.BatchCredentials(ctx, s.Store, b.ID) {
		if err != nil {
			return c, err
		}
		c = c.Add(credbatch.EmailCounts(cr.EmailStatus))
		if cr.EmailStatus == credbatch.EmailFailed {
			c.Failed++
		}
	}
	return c, nil
}

// failRow moves a row that was not issued to failed with the reason.
func (s *Service) failRow(ctx context.Context, r credbatch.Row, reason string) (credbatch.Row, error) {
	if r.Status == credbatch.RowValid {
		next := r
		next.Status = credbatch.RowIssuing
		var err error
		if r, err = s.Store.UpdateRow(ctx, next, credbatch.RowValid); err != nil {
			return r, err
		}
	}
	next := r
	next.Status = credbatch.RowFailed
	next.Error = reason
	next.UpdatedAt = s.now()
	return s.Store.UpdateRow(ctx, next, credbatch.RowIssuing)
}

func ptr[T any](v T) *T { return &v }

// label is how a batch is named in emails.
func label(b credbatch.Batch) string {
	if b.Label != "" {
		return b.Label
	}
	return b.ID
}

func approvalMessage(c Config, b credbatch.Batch) credbatch.Message {
	link := strings.TrimRight(c.Issuer.BaseURL, "/") + "/review/" + b.ID
	text := fmt.Sprintf("A batch of credentials is waiting for your approval.\n\nBatch: %s\nUploaded by: %s\nRows: %d (%d valid, %d with errors)\n\nReview and approve or reject it here:\n%s\n\nIf nobody approves it within %s it expires.\n",
		label(b), orDash(b.Uploader), b.Counts.Rows, b.Counts.Valid, b.Counts.Invalid, link, mail.Duration(c.ApprovalTimeout))
	return credbatch.Message{From: c.sender(), Subject: "Approval needed: " + label(b), Text: text,
		Tags: map[string]string{"batch_id": b.ID, "kind": "approval"}}
}

// Declined emails the uploader (when it is an address; else the administrators) the reason an
// approver gave for rejecting a batch (it is cancelled) or for asking for changes (it is back
// with the issuer), with the link to the batch's console page.
func (s *Service) Declined(ctx context.Context, b credbatch.Batch, approver, reason string) error {
	var to []string
	if strings.Contains(b.Uploader, "@") {
		to = []string{b.Uploader}
	} else {
		to = s.cfg().Admins
	}
	if len(to) == 0 || s.Mailer == nil {
		return nil
	}
	who := orDash(approver)
	link := strings.TrimRight(s.cfg().Issuer.BaseURL, "/") + "/batches/" + b.ID
	var subject, text string
	if b.Status == credbatch.BatchRejected {
		subject = "Changes requested: " + label(b)
		text = fmt.Sprintf("%s asked for changes to batch %s before approving it:\n\n  %s\n\nFix the rows in the console (or upload a corrected file) and submit the batch again:\n%s\n",
			who, label(b), reason, link)
	} else {
		subject = "Batch rejected: " + label(b)
		text = fmt.Sprintf("%s rejected batch %s, so none of its credentials will be issued:\n\n  %s\n\nThe batch is cancelled. Upload a new file if the credentials are still needed. The batch:\n%s\n",
			who, label(b), reason, link)
	}
	_, err := s.Mailer.Send(ctx, credbatch.Message{From: s.cfg().sender(), To: to, Subject: mail.FoldSubject(subject), Text: text,
		Tags: map[string]string{"batch_id": b.ID, "kind": "declined"}})
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// sendSummary emails the uploader (when it is an address) and the administrators.
func (s *Service) sendSummary(ctx context.Context, b credbatch.Batch) error {
	var to []string
	if strings.Contains(b.Uploader, "@") {
		to = append(to, b.Uploader)
	}
	to = append(to, s.cfg().Admins...)
	if len(to) == 0 {
		return nil
	}
	c := b.Counts
	text := fmt.Sprintf("Batch %s finished: %s.\n\nRows: %d\nIssued: %d\nFailed: %d\nLeft out (invalid rows): %d\nEmails sent: %d\nSuppressed addresses (not sent): %d\n\nOpen the batch in the console:\n%s/batches/%s\n",
		label(b), credbatch.StatusWords(b), c.Rows, c.Issued, c.Failed, c.Invalid, c.Sent, c.Suppressed, strings.TrimRight(s.cfg().Issuer.BaseURL, "/"), b.ID)
	_, err := s.Mailer.Send(ctx, credbatch.Message{From: s.cfg().sender(), To: to, Subject: fmt.Sprintf("Batch %s: %s", label(b), credbatch.StatusWords(b)),
		Text: text, Tags: map[string]string{"batch_id": b.ID, "kind": "summary"}})
	return err
}
