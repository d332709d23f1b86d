package credbatch

import (
	"context"
	"fmt"
	"time"
)

// Page is one page of a listing. Next is an opaque cursor for the following page; "" means
// there is no more.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// DefaultPageSize and MaxPageSize bound listings; a Limit of 0 means DefaultPageSize.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// BatchFilter selects batches; results are newest first.
type BatchFilter struct {
	Status BatchStatus // "" = any
	Label  string      // case-insensitive prefix of the label; "" = any
	Cursor string
	Limit  int
}

// RowFilter selects rows of a batch; results are in row-number order.
type RowFilter struct {
	Status RowStatus // "" = any
	Code   string    // rows with a finding of this code; "" = any
	// FromNumber and ToNumber select row numbers in [FromNumber, ToNumber); 0 = unbounded.
	// The issue workers read their chunk this way.
	FromNumber int
	ToNumber   int
	Cursor     string
	Limit      int
}

// BatchChange holds the fields a batch update sets; nil fields are left as they are.
type BatchChange struct {
	TaskToken   *string
	ExecutionID *string
	ApprovedBy  *string
	Reason      *string
	ReportKey   *string
	SkipInvalid *bool
	Counts      *Counts // replaces the counters except the email ones, which only email status changes move (use AddCounts to increment)
	Findings    *[]Finding
	CompletedAt *time.Time
	Columns     *[]Column
	Definitions *map[string]int
	Format      *string
}

// EmailChange holds the fields an email status change sets; zero fields are left as they are.
type EmailChange struct {
	MessageID  string
	LastError  string
	BounceType string
	SentAt     time.Time
	// DeliveredAt sets the credential's DeliveredAt (replacing an earlier delivery's).
	DeliveredAt time.Time
	// Uncounted: the caller adds the move's EmailDelta to the batch's counters itself, with
	// AddCounts, batched over several moves (the chunk worker's sends); the store does not.
	Uncounted bool
}

// Store persists definitions, batches, rows, credentials, deliveries and the suppression
// list, and enforces the lifecycles (DESIGN §5). Errors are *Error values: KindNotFound when
// the thing does not exist, KindConflict when it exists already or its current state does not
// allow the change (also when a concurrent writer got there first), KindInvalid for bad
// arguments, KindUnavailable when the backend throttles or is down after retries.
type Store interface {
	// PutDefinition stores a new version of a definition and returns it with Version and
	// CreatedAt set: version 1 for a new id, latest+1 otherwise. When d.Version > 0 it must
	// equal the latest stored version (optimistic update) or KindConflict is returned. The
	// audit entries (the policy changes the version makes) are stored in the same write, with
	// At and Version set to the new version's, so a change is never stored without its record.
	PutDefinition(ctx context.Context, d Definition, audit ...AuditEntry) (Definition, error)
	// GetDefinition returns a version of a definition (0 = the latest); KindNotFound.
	GetDefinition(ctx context.Context, id string, version int) (Definition, error)
	// ListDefinitions returns the latest version of every definition, ordered by id.
	ListDefinitions(ctx context.Context, includeArchived bool) ([]Definition, error)

	// CreateBatch stores a new batch (its status must be BatchReceived); KindConflict when a
	// batch with the id exists (the caller then loads it: same source, same batch).
	CreateBatch(ctx context.Context, b Batch) error
	// GetBatch returns a batch; KindNotFound.
	GetBatch(ctx context.Context, id string) (Batch, error)
	// TransitionBatch moves a batch from status `from` to `to`, applying ch, in one conditional
	// write. KindConflict when the batch is not in `from` or the move is not legal
	// (CanTransition); KindNotFound.
	TransitionBatch(ctx context.Context, id string, from, to BatchStatus, ch BatchChange) (Batch, error)
	// UpdateBatch applies ch without changing the status; KindNotFound.
	UpdateBatch(ctx context.Context, id string, ch BatchChange) (Batch, error)
	// AddCounts atomically adds delta to the batch's counters; KindNotFound.
	AddCounts(ctx context.Context, id string, delta Counts) error
	// CorrectEmailCounts sets the batch's email counters (Counts.Email) to truth's when they
	// are still stored's (a compare-and-swap): the repair of counters a crash left short of
	// the credentials, with stored as read before truth was derived from them. false (and
	// nothing changed) when they moved meanwhile; KindNotFound when there is no batch.
	CorrectEmailCounts(ctx context.Context, id string, stored, truth Counts) (bool, error)
	// ListBatches lists batches newest first.
	ListBatches(ctx context.Context, f BatchFilter) (Page[Batch], error)

	// PutRows writes rows (any number, any batches) idempotently: a row with the same batch
	// and number is replaced. Either every row is stored or an error is returned (a retry
	// is then safe).
	PutRows(ctx context.Context, rows []Row) error
	// DeleteRows removes every row of a batch (used when a file-level error is found after
	// some rows were written, so that nothing is half-stored). Deleting none is not an error.
	DeleteRows(ctx context.Context, batchID string) error
	// GetRow returns one row; KindNotFound.
	GetRow(ctx context.Context, batchID string, number int) (Row, error)
	// ListRows lists a batch's rows in row-number order.
	ListRows(ctx context.Context, batchID string, f RowFilter) (Page[Row], error)
	// UpdateRow replaces a row whose current status is `from` (conditional write); r.Status
	// is the new status and must be a legal move (CanTransitionRow). KindConflict otherwise.
	UpdateRow(ctx context.Context, r Row, from RowStatus) (Row, error)
	// UpdateRowEvidence replaces a row as UpdateRow does, and only while the row's evidence
	// lock (Evidence.Lock) is still lock ("" = none): the compare-and-swap that attaching an
	// evidence file takes the row's lock with, and that amending a row checks it against.
	// KindConflict otherwise.
	UpdateRowEvidence(ctx context.Context, r Row, from RowStatus, lock string) (Row, error)

	// CreateCredential stores a new credential and adds EmailCounts of its email status to its
	// batch's counters (see SetEmailStatus for how exactly); KindConflict when the id exists.
	CreateCredential(ctx context.Context, c Credential) error
	// GetCredential returns a credential; KindNotFound.
	GetCredential(ctx context.Context, id string) (Credential, error)
	// ListCredentialsByEmail lists a recipient's credentials (email matched case-insensitively), newest first.
	ListCredentialsByEmail(ctx context.Context, email, cursor string, limit int) (Page[Credential], error)
	// ListCredentialsByBatch lists a batch's credentials in row order.
	ListCredentialsByBatch(ctx context.Context, batchID, cursor string, limit int) (Page[Credential], error)
	// FindActiveCredential returns an issued (not revoked) credential of the definition held
	// by the email; KindNotFound when there is none.
	FindActiveCredential(ctx context.Context, definitionID, email string) (Credential, error)
	// SetEmailStatus moves a credential's email status to `to` when it is currently one of
	// `from`, applying ch, in one conditional write, and moves its batch's email counters by
	// EmailDelta (when the batch exists): only the writer whose move succeeded counts it, so
	// racing writers count each move exactly once. A store may count in a second write after
	// the move (DynamoDB does, a transaction costing twice both writes): a crash between the
	// two leaves the counters short, which the report run finds and CorrectEmailCounts
	// repairs. It returns the credential as moved, without its signed document (JWT and
	// JWTDetached empty: GetCredential reads them). KindConflict when the status is not one
	// of from; KindNotFound.
	SetEmailStatus(ctx context.Context, id string, from []EmailStatus, to EmailStatus, ch EmailChange) (Credential, error)
	// RevokeCredential marks an issued credential revoked; KindConflict when already revoked.
	RevokeCredential(ctx context.Context, id, reason string, at time.Time) (Credential, error)
	// ListRevoked lists revoked credentials (for the status list), in any stable order.
	ListRevoked(ctx context.Context, cursor string, limit int) (Page[Credential], error)
	// GetStatusList returns the signed status list credential n (1-based), as last published;
	// KindNotFound when it was never published.
	GetStatusList(ctx context.Context, n int) (StatusList, error)
	// PutStatusList publishes list l.Number at l.Version in one conditional write: version 1
	// when the list does not exist yet, else when the stored one is at l.Version-1 (a
	// compare-and-swap, so two publishers never overwrite each other's revocations);
	// KindConflict otherwise, KindInvalid for a version below 1.
	PutStatusList(ctx context.Context, l StatusList) error
	// AllocateStatusIndexes reserves n consecutive status-list indexes and returns the first.
	AllocateStatusIndexes(ctx context.Context, n int) (int, error)
	// ReserveSends reserves n consecutive slots, interval apart, on the deployment's one send
	// schedule (shared by every batch and every process) and returns the first slot's time:
	// slot i is at first + i·interval, and no other reservation gets a slot before
	// first + n·interval. An idle schedule restarts at now (idle time earns no burst).
	// KindBusy, reserving nothing, when the first free slot is after latest; KindInvalid for
	// n < 1, interval <= 0 or latest before now.
	ReserveSends(ctx context.Context, n int, interval time.Duration, now, latest time.Time) (time.Time, error)

	// RecordDelivery stores a feedback event; it returns false (and no error) when an event
	// with the same ID was recorded before.
	RecordDelivery(ctx context.Context, d Delivery) (bool, error)
	// ListDeliveries lists events with since <= RecordedAt < until, oldest first.
	ListDeliveries(ctx context.Context, since, until time.Time, cursor string, limit int) (Page[Delivery], error)

	// PutSuppression adds or replaces an address on the suppression list.
	PutSuppression(ctx context.Context, s Suppression) error
	// GetSuppression returns the entry for an address (case-insensitive); KindNotFound.
	GetSuppression(ctx context.Context, email string) (Suppression, error)
	// DeleteSuppression removes an address; KindNotFound.
	DeleteSuppression(ctx context.Context, email string) error

	// RecordAudit stores one audit entry of an action that changes no definition (an
	// evidence file attached or removed); e.ID and e.At must be set. KindConflict when the id
	// is taken.
	RecordAudit(ctx context.Context, e AuditEntry) error
	// ListAudit lists the audit trail, newest first.
	ListAudit(ctx context.Context, cursor string, limit int) (Page[AuditEntry], error)

	// CreateSession stores a new browser session; KindConflict when the key exists.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session with the key, also an expired one (the caller checks
	// ExpiresAt); KindNotFound.
	GetSession(ctx context.Context, key string) (Session, error)
	// DeleteSession ends a session; deleting a missing one is not an error.
	DeleteSession(ctx context.Context, key string) error

	// GetMark returns a named watermark (for example the last delivery report's end);
	// KindNotFound when never set.
	GetMark(ctx context.Context, name string) (time.Time, error)
	// SetMark moves a watermark from `from` (zero = never set) to `to` in one conditional
	// write; KindConflict when another writer moved it first.
	SetMark(ctx context.Context, name string, from, to time.Time) error
}

// ActiveDefinitions returns the store's active definitions (latest versions) by id.
func ActiveDefinitions(ctx context.Context, s Store) (map[string]Definition, error) {
	list, err := s.ListDefinitions(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("load definitions: %w", err)
	}
	out := make(map[string]Definition, len(list))
	for _, d := range list {
		out[d.ID] = d
	}
	return out, nil
}
