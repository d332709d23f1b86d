package credbatch

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// BatchStatus is a step of a batch's lifecycle (DESIGN §5).
type BatchStatus string

// Batch statuses.
const (
	BatchReceived         BatchStatus = "received"          // created; rows being stored
	BatchParsed           BatchStatus = "parsed"            // every row stored and validated
	BatchNeedsMapping     BatchStatus = "needs_mapping"     // columns could not be mapped; re-upload with a mapping
	BatchRejected         BatchStatus = "rejected"          // rows are invalid; fix them, re-upload, or submit skipping them
	BatchAwaitingApproval BatchStatus = "awaiting_approval" // waiting for an approver
	BatchApproved         BatchStatus = "approved"          // approved (or needs no approval); issuance about to start
	BatchIssuing          BatchStatus = "issuing"
	BatchPaused           BatchStatus = "paused_bounce_rate" // issue workers stopped: hard-bounce rate too high
	BatchCompleted        BatchStatus = "completed"
	BatchCompletedFailed  BatchStatus = "completed_with_failures"
	BatchCancelled        BatchStatus = "cancelled" // rejected by an approver or cancelled by the issuer
	BatchExpired          BatchStatus = "expired"   // approval timed out
)

// batchTransitions lists every legal batch transition; stores refuse all others with a conflict.
var batchTransitions = map[BatchStatus][]BatchStatus{
	BatchReceived:         {BatchParsed, BatchNeedsMapping, BatchRejected},
	BatchParsed:           {BatchRejected, BatchAwaitingApproval, BatchApproved, BatchCancelled},
	BatchNeedsMapping:     {BatchCancelled},
	BatchRejected:         {BatchParsed, BatchAwaitingApproval, BatchApproved, BatchCancelled},
	BatchAwaitingApproval: {BatchApproved, BatchCancelled, BatchExpired, BatchRejected},
	BatchApproved:         {BatchIssuing, BatchCancelled, BatchExpired}, // expired: an approval that lost the race with the timeout
	BatchIssuing:          {BatchCompleted, BatchCompletedFailed, BatchPaused},
	BatchPaused:           {BatchIssuing, BatchCompletedFailed, BatchCancelled},
	BatchCompletedFailed:  {BatchIssuing}, // retry: only its failed rows are issued again
}

// CanTransition reports whether a batch may move from one status to another.
func CanTransition(from, to BatchStatus) bool {
	for _, s := range batchTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Terminal reports whether the flow is done with a batch: no step moves it on by itself (a
// completed_with_failures batch may still be retried by hand).
func (s BatchStatus) Terminal() bool {
	return len(batchTransitions[s]) == 0 || s == BatchCompletedFailed
}

// Source identifies the uploaded object a batch came from. The same object always maps to
// the same batch: see BatchIDFor.
type Source struct {
	Bucket    string `json:"bucket,omitempty"`
	Key       string `json:"key,omitempty"`
	VersionID string `json:"version_id,omitempty"`
	ETag      string `json:"etag,omitempty"`
	// IdempotencyKey identifies an API-created batch (the Idempotency-Key header).
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// BatchIDFor derives the batch id of a source: the same bucket, key and version (or ETag when
// the bucket is unversioned), or the same idempotency key, always give the same id.
func BatchIDFor(s Source) string {
	h := sha256.New()
	if s.IdempotencyKey != "" {
		h.Write([]byte("api\x00" + s.IdempotencyKey))
	} else {
		v := s.VersionID
		if v == "" || v == "null" {
			v = "etag:" + s.ETag
		}
		h.Write([]byte("s3\x00" + s.Bucket + "\x00" + s.Key + "\x00" + v))
	}
	return "b_" + hex.EncodeToString(h.Sum(nil))[:24]
}

// Options are the per-upload reading options (from object metadata, the API or the CLI).
type Options struct {
	DefinitionID string           `json:"definition_id,omitempty"` // when the file has no ID column
	DateOrder    DateOrder        `json:"date_order,omitempty"`
	Sheet        string           `json:"sheet,omitempty"`
	Mapping      map[string]Field `json:"mapping,omitempty"`  // header as written → field
	Replaces     string           `json:"replaces,omitempty"` // the batch this upload replaced (cancelled by it)
}

// DateOrder is how ambiguous text dates (03/04/2025) are read.
type DateOrder string

// Date orders.
const (
	DateOrderAuto DateOrder = ""    // a column proves its order, else ambiguous values are errors
	DateOrderDMY  DateOrder = "DMY" // 03/04/2025 is 3 April
	DateOrderMDY  DateOrder = "MDY" // 03/04/2025 is 4 March
)

// Counts are a batch's row and email counters. The email counters (Sent, Delivered,
// Bounced, Complained, Suppressed) are kept by the store with each email status change (see
// EmailCounts); the others are set by ingest and Finalize. SentAtResume and BouncedAtResume
// are the email counters when a paused batch was last resumed: the bounce rate is measured
// from there.
type Counts struct {
	Rows       int `json:"rows"`
	Valid      int `json:"valid"`
	Invalid    int `json:"invalid"`
	Issued     int `json:"issued"`
	Failed     int `json:"failed"`
	Revoked    int `json:"revoked"`
	Sent       int `json:"sent"`
	Delivered  int `json:"delivered"`
	Bounced    int `json:"bounced"`
	Complained int `json:"complained"`
	Suppressed int `json:"suppressed"`

	SentAtResume    int `json:"sent_at_resume,omitempty"`
	BouncedAtResume int `json:"bounced_at_resume,omitempty"`
}

// Add returns c plus d, field by field.
func (c Counts) Add(d Counts) Counts {
	return Counts{c.Rows + d.Rows, c.Valid + d.Valid, c.Invalid + d.Invalid, c.Issued + d.Issued,
		c.Failed + d.Failed, c.Revoked + d.Revoked, c.Sent + d.Sent, c.Delivered + d.Delivered,
		c.Bounced + d.Bounced, c.Complained + d.Complained, c.Suppressed + d.Suppressed,
		c.SentAtResume + d.SentAtResume, c.BouncedAtResume + d.BouncedAtResume}
}

// Sub returns c minus d, field by field.
func (c Counts) Sub(d Counts) Counts {
	return c.Add(Counts{-d.Rows, -d.Valid, -d.Invalid, -d.Issued, -d.Failed, -d.Revoked, -d.Sent,
		-d.Delivered, -d.Bounced, -d.Complained, -d.Suppressed, -d.SentAtResume, -d.BouncedAtResume})
}

// Email returns only the email counters of c (those EmailCounts adds up).
func (c Counts) Email() Counts {
	return Counts{Sent: c.Sent, Delivered: c.Delivered, Bounced: c.Bounced, Complained: c.Complained, Suppressed: c.Suppressed}
}

// WithEmail returns c with its email counters taken from e.
func (c Counts) WithEmail(e Counts) Counts {
	c.Sent, c.Delivered, c.Bounced, c.Complained, c.Suppressed = e.Sent, e.Delivered, e.Bounced, e.Complained, e.Suppressed
	return c
}

// Batch is one upload (a file or an API request) and its progress.
type Batch struct {
	ID          string         `json:"id"`
	Label       string         `json:"label,omitempty"`
	Source      Source         `json:"source"`
	Uploader    string         `json:"uploader,omitempty"`
	Status      BatchStatus    `json:"status"`
	Format      string         `json:"format,omitempty"` // xlsx, csv, json
	Options     Options        `json:"options"`
	Columns     []Column       `json:"columns,omitempty"`
	Definitions map[string]int `json:"definitions,omitempty"`  // definition id → version validated against
	SkipInvalid bool           `json:"skip_invalid,omitempty"` // issue the valid rows only
	Counts      Counts         `json:"counts"`
	Findings    []Finding      `json:"findings,omitempty"` // file-level findings (warnings)
	ReportKey   string         `json:"report_key,omitempty"`
	TaskToken   string         `json:"-"`
	ExecutionID string         `json:"execution_id,omitempty"`
	ApprovedBy  string         `json:"approved_by,omitempty"`
	Reason      string         `json:"reason,omitempty"` // why cancelled, rejected, paused or changes requested
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	CompletedAt time.Time      `json:"completed_at,omitzero"`
}

// RowStatus is a step of a row's lifecycle.
type RowStatus string

// Row statuses.
const (
	RowValid   RowStatus = "valid"
	RowInvalid RowStatus = "invalid"
	RowIssuing RowStatus = "issuing"
	RowIssued  RowStatus = "issued"
	RowFailed  RowStatus = "failed"  // retryable; Error holds the last error
	RowRevoked RowStatus = "revoked" // its credential was revoked
	RowSkipped RowStatus = "skipped" // invalid, and the batch was submitted with skip_invalid: ends as rejected
)

var rowTransitions = map[RowStatus][]RowStatus{
	RowValid:   {RowValid, RowInvalid, RowIssuing},
	RowInvalid: {RowValid, RowInvalid, RowSkipped},
	RowIssuing: {RowIssued, RowFailed},
	RowFailed:  {RowIssuing},
	RowIssued:  {RowRevoked},
}

// CanTransitionRow reports whether a row may move from one status to another.
func CanTransitionRow(from, to RowStatus) bool {
	for _, s := range rowTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Row is one data row of an upload after validation. Number is the spreadsheet row number
// as the user sees it (header = 1), unique within the batch.
type Row struct {
	BatchID      string            `json:"batch_id"`
	Number       int               `json:"row"`
	DefinitionID string            `json:"definition_id,omitempty"`
	FirstName    string            `json:"first_name,omitempty"`
	LastName     string            `json:"last_name,omitempty"`
	Email        string            `json:"email,omitempty"`
	IssueDate    string            `json:"issue_date,omitempty"`  // YYYY-MM-DD
	ExpiryDate   string            `json:"expiry_date,omitempty"` // YYYY-MM-DD, "" = never
	Locale       string            `json:"locale,omitempty"`      // the Locale column's code ("" = none given)
	Attributes   map[string]string `json:"attributes,omitempty"`  // attribute name → normalised value
	Cells        []string          `json:"cells,omitempty"`       // the row as read, in column order (for reports and amending)
	Evidence     *Evidence         `json:"evidence,omitempty"`    // its evidence link, narrative and file (definitions with evidence)
	Status       RowStatus         `json:"status"`
	Findings     []Finding         `json:"findings,omitempty"`
	CredentialID string            `json:"credential_id,omitempty"`
	Error        string            `json:"error,omitempty"` // last error of a failed row
	Attempts     int               `json:"attempts,omitempty"`
	UpdatedAt    time.Time         `json:"updated_at,omitzero"`
}

// Codes returns the codes of the row's blocking findings.
func (r Row) Codes() []string {
	var out []string
	for _, f := range r.Findings {
		if f.Severity != SeverityWarning {
			out = append(out, f.Code)
		}
	}
	return out
}

// HasErrors reports whether any finding blocks the row.
func HasErrors(fs []Finding) bool {
	for _, f := range fs {
		if f.Severity != SeverityWarning {
			return true
		}
	}
	return false
}
