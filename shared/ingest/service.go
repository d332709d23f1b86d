package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/credbatch/credbatch/shared/blobfile"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/sheet"
	"github.com/credbatch/credbatch/shared/validate"
	"github.com/credbatch/credbatch/shared/workbook"
	"github.com/credbatch/credbatch/shared/zipguard"
)

// Metadata keys read from the uploaded object's user metadata (x-amz-meta-<key>).
const (
	MetaLabel      = "label"      // the batch label shown in lists and searches
	MetaUploader   = "uploader"   // who uploaded (email or user id); four-eyes approval uses it
	MetaDefinition = "definition" // the definition id when the file has no ID column and the key has no definition prefix
	MetaDateOrder  = "date-order" // DMY or MDY for ambiguous text dates
	MetaSheet      = "sheet"      // the sheet to read instead of the first visible one
	MetaMapping    = "mapping"    // JSON object: header as written → field or "skip"
)

// UploadsPrefix is where uploads land; ReportsPrefix where error reports are written.
const (
	UploadsPrefix = "uploads/"
	ReportsPrefix = "reports/"
)

// Notifier tells people about an ingested batch (the rejected-file email, the late evidence
// zip). Optional.
type Notifier interface {
	// Rejected is called when a batch has invalid rows or the file was rejected; reportKey is
	// the error-report object ("" when the whole file was rejected).
	Rejected(ctx context.Context, b credbatch.Batch, reportKey string) error
	// LateEvidence is called when an evidence zip (zipKey) arrived after its batch left
	// review: none of its files were attached.
	LateEvidence(ctx context.Context, b credbatch.Batch, zipKey string) error
}

// Submitter starts issuance of a parsed batch (issuance.Actions).
type Submitter interface {
	Submit(ctx context.Context, batchID string, skipInvalid bool) (credbatch.Batch, error)
}

// Service ingests uploaded objects into batches.
type Service struct {
	Store     credbatch.Store
	Blob      credbatch.Blob
	Submitter Submitter // nil: a fully valid batch stays parsed
	Notifier  Notifier  // nil: nobody is told
	Clock     credbatch.Clock
	IDs       credbatch.IDs // ids of batches created without an idempotency key (default random)
	Limits    sheet.Limits
	// EvidenceZip bounds the evidence zip uploaded with a spreadsheet (zero:
	// DefaultEvidenceZipLimits).
	EvidenceZip zipguard.Limits
	TmpDir      string
	Log         *slog.Logger
	// BaseURL is the console's public URL: error reports link to the batch ("" = no links).
	BaseURL string
	// Lease is how long a batch in received counts as being worked on by another delivery
	// after its last heartbeat (default 2 minutes); a quieter one was left by a crash and is
	// resumed.
	Lease time.Duration
	// SweepWindow is how far back Sweep looks, by creation time (default 7 days).
	SweepWindow time.Duration
	// AbandonAfter is how long Sweep leaves a JSON-row batch in received for its client to
	// send the request again before rejecting it (default 24 hours).
	AbandonAfter time.Duration
}

// Object identifies an uploaded object (from an S3 event or the local drop folder).
type Object struct {
	Bucket    string
	Key       string
	VersionID string
	ETag      string
}

func (s *Service) now() time.Time {
	if s.Clock != nil {
		return s.Clock().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return 2 * time.Minute
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Ingest turns one uploaded object into a batch. It is idempotent: the same object (bucket,
// key, version id or ETag) always yields the same batch, whether delivered twice at once or
// hours apart; a batch left half-written by a crash (status received, its lease expired) is
// redone, and a batch a crash left between its last two steps gets them (see finish).
// Errors: a KindUnavailable error with CodeInProgress when another delivery holds the
// batch's lease, so that this delivery is retried later instead of being taken as done: if
// the other one crashed, the retry (or Sweep) resumes the batch once the lease has expired.
//
// An evidence zip (a spreadsheet's key plus ".zip", see SheetKeyOfZip) is not a batch of its
// own: it goes to IngestZip, which returns the batch of its spreadsheet (zero when that
// batch is not there yet).
func (s *Service) Ingest(ctx context.Context, obj Object) (credbatch.Batch, error) {
	if _, ok := SheetKeyOfZip(obj.Key); ok {
		return s.IngestZip(ctx, obj)
	}
	src := credbatch.Source{Bucket: obj.Bucket, Key: obj.Key, VersionID: obj.VersionID, ETag: strings.Trim(obj.ETag, `"`)}
	id := credbatch.BatchIDFor(src)
	log := s.log().With("batch_id", id, "key", obj.Key)

	b, err := s.Store.GetBatch(ctx, id)
	switch {
	case err == nil && b.Status != credbatch.BatchReceived && s.leased(b):
		// Just moved on by a live delivery, which takes its last steps itself.
		log.Info("object already ingested", "status", b.Status)
		return b, nil
	case err == nil && b.Status != credbatch.BatchReceived:
		log.Info("object already ingested", "status", b.Status)
		return s.finish(ctx, b, log)
	case err == nil && s.leased(b):
		log.Info("object is being ingested by another delivery", "last_heartbeat", b.UpdatedAt)
		return b, s.inProgress(b)
	case err == nil:
		// An earlier attempt stopped part way. The same object always gives the same rows
		// and rows are written by number, so carrying on overwrites what it left.
		log.Warn("resuming a batch left in received (an earlier attempt stopped)", "last_heartbeat", b.UpdatedAt)
		if b, err = s.Store.UpdateBatch(ctx, id, credbatch.BatchChange{}); err != nil { // take the lease
			return b, fmt.Errorf("ingest %s: heartbeat: %w", id, err)
		}
	case credbatch.IsKind(err, credbatch.KindNotFound):
		b, err = s.create(ctx, id, src, obj)
		if credbatch.IsKind(err, credbatch.KindConflict) {
			// A concurrent delivery of the same event created it first and is working on it.
			existing, gerr := s.Store.GetBatch(ctx, id)
			if gerr != nil {
				return existing, fmt.Errorf("ingest %s: %w", id, gerr)
			}
			log.Info("object is being ingested by a concurrent delivery", "status", existing.Status)
			if existing.Status != credbatch.BatchReceived {
				return existing, nil
			}
			return existing, s.inProgress(existing)
		}
		if err != nil {
			return b, err
		}
	default:
		return b, fmt.Errorf("ingest %s: load batch: %w", id, err)
	}
	return s.process(ctx, b, log)
}

// create stores the new batch in status received, with the options from the object's metadata.
func (s *Service) create(ctx context.Context, id string, src credbatch.Source, obj Object) (credbatch.Batch, error) {
	info, err := s.Blob.Head(ctx, obj.Key)
	if err != nil {
		return credbatch.Batch{}, fmt.Errorf("ingest %s: head %s: %w", id, obj.Key, err)
	}
	now := s.now()
	b := credbatch.Batch{ID: id, Source: src, Status: credbatch.BatchReceived, CreatedAt: now, UpdatedAt: now,
		Label: info.Metadata[MetaLabel], Uploader: info.Metadata[MetaUploader]}
	if b.Label == "" {
		b.Label = path.Base(obj.Key)
	}
	b.Options, b.Findings = OptionsFromMetadata(obj.Key, info.Metadata)
	if err := s.Store.CreateBatch(ctx, b); err != nil {
		return b, fmt.Errorf("ingest %s: create batch: %w", id, err)
	}
	if b.Options.Replaces != "" {
		s.supersede(ctx, b.Options.Replaces, b.ID)
	}
	return b, nil
}

// OptionsFromMetadata reads the upload options from object metadata and the key. The
// definition comes from the key prefix uploads/<definition-id>/ or the definition metadata.
// Unreadable options become warnings (the file is still read with the defaults).
func OptionsFromMetadata(key string, meta map[string]string) (credbatch.Options, []credbatch.Finding) {
	var opts credbatch.Options
	var warns []credbatch.Finding
	if rest, ok := strings.CutPrefix(key, UploadsPrefix); ok {
		if def, _, ok := strings.Cut(rest, "/"); ok && def != "" {
			opts.DefinitionID = def
		}
	}
	if d := meta[MetaDefinition]; d != "" {
		opts.DefinitionID = d
	}
	switch o := credbatch.DateOrder(strings.ToUpper(meta[MetaDateOrder])); o {
	case credbatch.DateOrderDMY, credbatch.DateOrderMDY, credbatch.DateOrderAuto:
		opts.DateOrder = o
	default:
		warns = append(warns, credbatch.Finding{Code: "invalid_option", Severity: credbatch.SeverityWarning,
			Message: fmt.Sprintf("date-order %q is not DMY or MDY; dates were read without a fixed order", meta[MetaDateOrder])})
	}
	opts.Sheet = meta[MetaSheet]
	opts.Replaces = meta[MetaReplaces]
	if m := meta[MetaMapping]; m != "" {
		if err := json.Unmarshal([]byte(m), &opts.Mapping); err != nil {
			warns = append(warns, credbatch.Finding{Code: "invalid_option", Severity: credbatch.SeverityWarning,
				Message: "the mapping metadata is not a JSON object of header → field; it was ignored"})
		}
	}
	return opts, warns
}

// process reads the object, stores its rows and moves the batch out of received.
func (s *Service) process(ctx context.Context, b credbatch.Batch, log *slog.Logger) (credbatch.Batch, error) {
	defs, err := credbatch.ActiveDefinitions(ctx, s.Store)
	if err != nil {
		return b, err
	}
	file, _, err := blobfile.DownloadToTemp(ctx, s.Blob, b.Source.Key, s.TmpDir)
	if err != nil {
		return b, fmt.Errorf("ingest %s: download: %w", b.ID, err)
	}
	defer os.Remove(file)
	ev, err := s.openEvidence(ctx, b)
	if err != nil {
		return b, fmt.Errorf("ingest %s: %w", b.ID, err)
	}
	defer ev.Close()
	// The zip's files are stored while the next rows are read; all are stored before the
	// batch leaves received (Wait below).
	ev.StoreInBackground(ctx, evidencePuts)

	lookup := StoreLookup{Store: s.Store}
	var stored int
	beat := s.now()
	sink := func(ctx context.Context, rows []credbatch.Row) error {
		if s.now().Sub(beat) > s.lease()/4 {
			// Heartbeat: a concurrent delivery of the same event sees the batch is alive.
			if _, err := s.Store.UpdateBatch(ctx, b.ID, credbatch.BatchChange{}); err != nil {
				return fmt.Errorf("heartbeat: %w", err)
			}
			beat = s.now()
		}
		for i := range rows {
			rows[i].BatchID = b.ID
			rows[i].UpdatedAt = s.now()
		}
		if err := validate.CheckRecipients(ctx, rows, defs, lookup); err != nil {
			return fmt.Errorf("check recipients: %w", err)
		}
		if err := s.Store.PutRows(ctx, rows); err != nil {
			return fmt.Errorf("store rows: %w", err)
		}
		stored += len(rows)
		return nil
	}
	res, v, err := Run(ctx, Input{Path: file, Name: path.Base(b.Source.Key), Definitions: defs, Options: b.Options,
		Today: s.now().Format(time.DateOnly), Limits: s.Limits, TmpDir: s.TmpDir, Corrections: StoreCorrector{Store: s.Store},
		Evidence: ev}, sink)
	if err == nil {
		if err = ev.Wait(); err != nil {
			err = fmt.Errorf("evidence zip: %w", err)
		}
	}
	if err != nil {
		return b, fmt.Errorf("ingest %s: %w", b.ID, err)
	}
	if res.Error != nil {
		return s.reject(ctx, b, res, log)
	}
	if err := s.resolve(ctx, b, &res, v, defs, lookup); err != nil {
		return b, err
	}

	if b, err = s.complete(ctx, b, res, defs, log); err != nil {
		return b, err
	}
	return s.zipAfter(ctx, b, ev, log)
}

// fileWarnings keeps the file-level warnings (row findings stay on their rows).
func fileWarnings(ws []credbatch.Finding) []credbatch.Finding {
	var out []credbatch.Finding
	for _, w := range ws {
		if w.Code == credbatch.CodeUnknownColumns || w.Code == credbatch.CodeInvalidEncoding || w.Row == 0 {
			out = append(out, w)
		}
	}
	return out
}

// reject records a file-level rejection: no rows stay stored.
func (s *Service) reject(ctx context.Context, b credbatch.Batch, res Result, log *slog.Logger) (credbatch.Batch, error) {
	if err := s.Store.DeleteRows(ctx, b.ID); err != nil {
		return b, fmt.Errorf("ingest %s: remove rows of a rejected file: %w", b.ID, err)
	}
	to := credbatch.BatchRejected
	if res.Error.Code == credbatch.CodeMissingColumns || res.Error.Code == credbatch.CodeDuplicateColumns {
		to = credbatch.BatchNeedsMapping
	}
	findings := append(b.Findings, credbatch.Finding{Code: res.Error.Code, Message: res.Error.Message})
	counts := credbatch.Counts{}
	b, err := s.Store.TransitionBatch(ctx, b.ID, credbatch.BatchReceived, to,
		credbatch.BatchChange{Findings: &findings, Counts: &counts, Format: &res.Format})
	if err != nil {
		return b, fmt.Errorf("ingest %s: reject: %w", b.ID, err)
	}
	log.Info("file rejected", "code", res.Error.Code, "status", b.Status)
	if s.Notifier != nil {
		if err := s.Notifier.Rejected(ctx, b, ""); err != nil {
			log.Error("notify uploader", "err", err)
		}
	}
	return b, nil
}

// resolve re-validates the rows whose ambiguous dates a later value of their column proved.
func (s *Service) resolve(ctx context.Context, b credbatch.Batch, res *Result, v *validate.Validator, defs map[string]credbatch.Definition, l validate.Lookup) error {
	var fixed []credbatch.Row
	for _, r := range res.Resolutions {
		for _, n := range r.Rows {
			before, err := s.Store.GetRow(ctx, b.ID, n)
			if err != nil {
				return fmt.Errorf("ingest %s: reload row %d: %w", b.ID, n, err)
			}
			after := v.Revalidate(before)
			after.BatchID = b.ID
			fixed = append(fixed, after)
			res.Amend(before, after)
		}
	}
	if len(fixed) == 0 {
		return nil
	}
	if err := validate.CheckRecipients(ctx, fixed, defs, l); err != nil {
		return fmt.Errorf("ingest %s: check recipients: %w", b.ID, err)
	}
	return s.Store.PutRows(ctx, fixed)
}

// ReportKey is where a batch's error-report workbook is written.
func ReportKey(batchID string) string { return ReportsPrefix + batchID + "-errors.xlsx" }

// WriteReport writes the batch's error-report workbook to the blob store and records its key.
func (s *Service) WriteReport(ctx context.Context, b credbatch.Batch) (string, error) {
	return s.writeReport(ctx, b, "")
}

// writeReport writes the error report; replacedBy names the batch that replaced b ("" = none).
// Dates and numbers are real cells by the types of the definitions b was validated against.
func (s *Service) writeReport(ctx context.Context, b credbatch.Batch, replacedBy string) (string, error) {
	var buf bytes.Buffer
	defs, err := s.BatchDefinitions(ctx, b)
	if err != nil {
		return "", fmt.Errorf("error report for %s: %w", b.ID, err)
	}
	in := workbook.ErrorReportInput{Columns: workbook.TypedColumns(b.Columns, defs),
		Rows: credbatch.BatchRows(ctx, s.Store, b.ID, credbatch.RowFilter{}), FileFindings: b.Findings,
		About: s.about(b, replacedBy)}
	if err := workbook.ErrorReport(&buf, in); err != nil {
		return "", fmt.Errorf("error report for %s: %w", b.ID, err)
	}
	key := ReportKey(b.ID)
	if _, err := s.Blob.Put(ctx, key, &buf, ContentTypeXLSX, map[string]string{"batch": b.ID}); err != nil {
		return "", fmt.Errorf("store error report for %s: %w", b.ID, err)
	}
	if _, err := s.Store.UpdateBatch(ctx, b.ID, credbatch.BatchChange{ReportKey: &key}); err != nil {
		return "", fmt.Errorf("record error report for %s: %w", b.ID, err)
	}
	return key, nil
}

// about is the Batch sheet of b's error report.
func (s *Service) about(b credbatch.Batch, replacedBy string) workbook.About {
	a := workbook.About{BatchID: b.ID, Label: b.Label, File: path.Base(b.Source.Key), Status: credbatch.StatusWords(b)}
	link := func(id string) string {
		if s.BaseURL == "" {
			return ""
		}
		return strings.TrimRight(s.BaseURL, "/") + "/batches/" + id
	}
	a.URL = link(b.ID)
	switch {
	case replacedBy != "":
		a.Status = "replaced"
		a.ReplacedBy, a.ReplacedByURL = replacedBy, link(replacedBy)
		a.Advice = "This batch was replaced by batch " + replacedBy + ", uploaded to take its place; follow that one instead."
	case a.Status == "needs fixing":
		a.Advice = fmt.Sprintf("%d of the %d rows need fixing. Fix the marked cells on the Rows sheet and upload this workbook again "+
			"(its Status and Problems columns are ignored), fix the rows in the console, or issue only the valid rows.",
			b.Counts.Invalid, b.Counts.Rows)
	}
	return a
}

// StoreLookup answers the validator's store-backed checks (already_issued,
// suppressed_recipient) from the store, a few lookups at a time.
type StoreLookup struct{ Store credbatch.Store }

var _ validate.Lookup = StoreLookup{}

const lookupParallel = 8

// ActiveCredentials reports which recipients already hold an active credential of the definition.
func (l StoreLookup) ActiveCredentials(ctx context.Context, keys []validate.Recipient) (map[validate.Recipient]bool, error) {
	out := make(map[validate.Recipient]bool, len(keys))
	var mu sync.Mutex
	err := parallel(ctx, len(keys), func(i int) error {
		_, err := l.Store.FindActiveCredential(ctx, keys[i].DefinitionID, keys[i].Email)
		if credbatch.IsKind(err, credbatch.KindNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		mu.Lock()
		out[keys[i]] = true
		mu.Unlock()
		return nil
	})
	return out, err
}

// Suppressed reports which addresses are on the suppression list.
func (l StoreLookup) Suppressed(ctx context.Context, emails []string) (map[string]bool, error) {
	out := make(map[string]bool, len(emails))
	var mu sync.Mutex
	err := parallel(ctx, len(emails), func(i int) error {
		_, err := l.Store.GetSuppression(ctx, emails[i])
		if credbatch.IsKind(err, credbatch.KindNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		mu.Lock()
		out[emails[i]] = true
		mu.Unlock()
		return nil
	})
	return out, err
}

// parallel runs fn(0..n-1) with at most lookupParallel at once and returns the first error.
func parallel(ctx context.Context, n int, fn func(i int) error) error {
	sem := make(chan struct{}, lookupParallel)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			if err := fn(i); err != nil {
				once.Do(func() { first = err })
			}
		}(i)
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// KeyFromEvent decodes an S3 event object key (URL-encoded, '+' for spaces).
func KeyFromEvent(raw string) (string, error) {
	k, err := url.QueryUnescape(raw)
	if err != nil {
		return "", credbatch.Errorf(credbatch.KindInvalid, "object key %q is not URL-encoded correctly", raw)
	}
	return k, nil
}

// evidencePuts is how many files of an evidence zip are stored at once while the
// spreadsheet's ingest reads on.
const evidencePuts = 8

// ContentTypeXLSX is the media type of the workbooks credbatch writes.
const ContentTypeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
