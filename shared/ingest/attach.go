package ingest

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/evidence"
	"github.com/credbatch/credbatch/shared/validate"
)

// EvidenceUploadTTL is how long a presigned evidence upload URL works.
const EvidenceUploadTTL = 15 * time.Minute

// CodeBatchNotAmendable is the code of a change to a batch's rows (amending a row, attaching
// its evidence) once the batch was submitted: only a parsed or rejected batch can change.
const CodeBatchNotAmendable = "batch_not_amendable"

// EvidenceUpload is a presigned PUT for one row's evidence file: the client PUTs the file to
// URL with the Content-Type header ContentType, then confirms Key (ConfirmEvidence).
type EvidenceUpload struct {
	URL         string            `json:"url"`
	Method      string            `json:"method"`
	ContentType string            `json:"content_type"`
	Headers     map[string]string `json:"headers"` // send every one of them with the PUT
	Key         string            `json:"key"`
	ExpiresAt   time.Time         `json:"expires_at"`
}

// EvidenceLockTTL is how long an attachment holds a row's evidence lock (Evidence.Lock)
// before another may take it over: longer than storing one file takes.
const EvidenceLockTTL = 2 * time.Minute

// evidenceLockWait is how long an attachment waits for a row's evidence lock held by
// another (attaching to the same row) before giving up with evidence_busy.
const evidenceLockWait = 20 * time.Second

// CodeEvidenceBusy is the code of a change to a row while another evidence file is being
// attached to it.
const CodeEvidenceBusy = "evidence_busy"

// AttachEvidence makes a file the evidence of one row of a batch not yet submitted (parsed
// or rejected), replacing the row's earlier file: the file is checked as every evidence
// file is (evidence.Read: type by content, the definition's types and size limit), stored
// under the batch (credbatch.EvidenceKey), and the row's evidence findings (missing_evidence,
// evidence_file_not_found, evidence_wrong_type, evidence_too_large and any finding on its
// Evidence File cell) are cleared, so a row that lacked only its file becomes valid.
//
// Attachments to one row take turns: each holds the row's evidence lock (taken and released
// with Store.UpdateRowEvidence's compare-and-swap) while it stores its file, points the row
// at it and deletes the file it replaced, so that racing attachments and retries of the
// same file leave exactly one stored file, the one the row names. The change is audited
// (evidence.attached); the same file sent again changes nothing. Errors: KindInvalid
// (invalid_row, evidence_not_allowed, evidence_wrong_type, evidence_too_large),
// KindNotFound, KindConflict (batch_not_amendable after submission, row_not_amendable,
// evidence_busy when the row stays locked by another attachment).
func (s *Service) AttachEvidence(ctx context.Context, id string, number int, name string, body io.Reader, by string) (credbatch.Row, credbatch.Batch, error) {
	b, old, def, err := s.evidenceTarget(ctx, id, number)
	if err != nil {
		return old, b, err
	}
	name = evidenceName(name)
	read := name
	if read == "" {
		read = "the uploaded file"
	}
	f, err := evidence.Read(read, body, def.Evidence, s.TmpDir)
	if err != nil {
		return old, b, err
	}
	defer f.Close()
	if name == "" {
		m, _ := credbatch.LookupMediaType(f.MediaType)
		f.Name = fmt.Sprintf("row-%d-evidence%s", number, m.Ext)
	}
	b, locked, err := s.lockEvidence(ctx, id, number)
	if err != nil {
		return locked, b, err
	}
	lock := locked.Evidence.Lock
	held := locked
	defer func() {
		if held.Evidence != nil && held.Evidence.Lock == lock { // an error left the row locked
			s.unlockEvidence(context.WithoutCancel(ctx), held, lock)
		}
	}()
	now := s.now()
	ef, err := f.Store(ctx, s.Blob, id, number, by, now)
	if err != nil {
		return locked, b, err
	}
	prev := locked.Evidence.FileNamed()
	same := prev.Stored() && prev.Key == ef.Key
	next := withEvidence(b, locked, ef, now)
	if !same {
		next.Evidence.Lock = lock // kept until the replaced file is deleted
	}
	saved, err := s.Store.UpdateRowEvidence(ctx, next, locked.Status, lock)
	if err != nil {
		return locked, b, fmt.Errorf("attach evidence to row %d of %s: %w", number, id, err)
	}
	held = saved
	if delta := statusDelta(locked.Status, saved.Status); delta != (credbatch.Counts{}) {
		if err := s.Store.AddCounts(ctx, id, delta); err != nil {
			return saved, b, fmt.Errorf("count row %d of %s: %w", number, id, err)
		}
	}
	if same {
		return saved, b, nil // the same file again: nothing changed
	}
	if prev.Stored() {
		if err := s.Blob.Delete(ctx, prev.Key); err != nil {
			s.log().WarnContext(ctx, "replaced evidence file not deleted", "batch_id", id, "row", number, "key", prev.Key, "err", err)
		}
	}
	if saved, err = s.unlockEvidence(ctx, saved, lock); err != nil {
		return saved, b, err
	}
	held = saved
	change := credbatch.Change{Field: "evidence.file", New: ef.Name + " " + ef.Digest}
	if prev.Stored() {
		change.Old = prev.Name + " " + prev.Digest
	}
	if err := s.Store.RecordAudit(ctx, credbatch.AuditEntry{ID: "au_" + strings.ToLower(rand.Text()), At: now, Actor: by,
		Action: credbatch.AuditEvidenceAttached, Target: "batch/" + id + "/row/" + strconv.Itoa(number), Changes: []credbatch.Change{change}}); err != nil {
		return saved, b, fmt.Errorf("audit the evidence of row %d of %s: %w", number, id, err)
	}
	if b, err = s.settle(ctx, id); err != nil {
		return saved, b, err
	}
	s.log().InfoContext(ctx, "evidence attached", "batch_id", id, "row", number, "by", by, "media_type", ef.MediaType, "size", ef.Size)
	return saved, b, nil
}

// lockEvidence takes the evidence lock of a row that can still take evidence, waiting for
// one held by another attachment (up to evidenceLockWait) and taking over an expired one.
// It returns the batch and the row as locked.
func (s *Service) lockEvidence(ctx context.Context, id string, number int) (credbatch.Batch, credbatch.Row, error) {
	token := strings.ToLower(rand.Text())
	deadline := time.Now().Add(evidenceLockWait)
	for {
		b, row, _, err := s.evidenceTarget(ctx, id, number)
		if err != nil {
			return b, row, err
		}
		held := ""
		if row.Evidence != nil {
			held = row.Evidence.Lock
		}
		if held != "" && !lockExpired(held, time.Now()) {
			if time.Now().After(deadline) {
				return b, row, evidenceBusy(number)
			}
			if err := pause(ctx, 20*time.Millisecond+time.Duration(mrand.Int64N(int64(80*time.Millisecond)))); err != nil {
				return b, row, err
			}
			continue
		}
		next := row
		ev := credbatch.Evidence{}
		if row.Evidence != nil {
			ev = *row.Evidence
		}
		ev.Lock = token + " " + time.Now().Add(EvidenceLockTTL).UTC().Format(time.RFC3339)
		next.Evidence = &ev
		saved, err := s.Store.UpdateRowEvidence(ctx, next, row.Status, held)
		if credbatch.IsKind(err, credbatch.KindConflict) {
			continue // taken or changed meanwhile: read it again
		}
		if err != nil {
			return b, row, fmt.Errorf("lock the evidence of row %d of %s: %w", number, id, err)
		}
		return b, saved, nil
	}
}

// unlockEvidence releases the row's evidence lock held as lock.
func (s *Service) unlockEvidence(ctx context.Context, r credbatch.Row, lock string) (credbatch.Row, error) {
	next := r
	ev := *r.Evidence
	ev.Lock = ""
	next.Evidence = &ev
	saved, err := s.Store.UpdateRowEvidence(ctx, next, r.Status, lock)
	if err != nil {
		s.log().WarnContext(ctx, "evidence lock not released; it expires", "batch_id", r.BatchID, "row", r.Number, "err", err)
		return r, fmt.Errorf("release the evidence lock of row %d of %s: %w", r.Number, r.BatchID, err)
	}
	return saved, nil
}

// lockExpired reports whether an evidence lock ("<token> <expiry>") has expired at now; a
// lock that does not parse has.
func lockExpired(lock string, now time.Time) bool {
	_, at, _ := strings.Cut(lock, " ")
	t, err := time.Parse(time.RFC3339, at)
	return err != nil || !now.Before(t)
}

// lockOf is the row's evidence lock as stored, held or expired ("" = none).
func lockOf(r credbatch.Row) string {
	if r.Evidence == nil {
		return ""
	}
	return r.Evidence.Lock
}

// liveLock is the row's evidence lock when it is held and not expired ("" otherwise).
func liveLock(r credbatch.Row) string {
	if r.Evidence == nil || r.Evidence.Lock == "" || lockExpired(r.Evidence.Lock, time.Now()) {
		return ""
	}
	return r.Evidence.Lock
}

func evidenceBusy(number int) error {
	return credbatch.E(credbatch.KindConflict, CodeEvidenceBusy, fmt.Sprintf(
		"an evidence file is being attached to row %d right now; wait until it is done and send your change again", number))
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// withEvidence returns row old with ef as its evidence file: its link and narrative kept,
// its Evidence File cell naming the file (so that amending the row later keeps it:
// validate.KeepEvidenceFile) and its evidence findings cleared.
func withEvidence(b credbatch.Batch, old credbatch.Row, ef credbatch.EvidenceFile, now time.Time) credbatch.Row {
	next := old
	next.Evidence = &credbatch.Evidence{File: &ef}
	if old.Evidence != nil {
		next.Evidence.URL, next.Evidence.Narrative = old.Evidence.URL, old.Evidence.Narrative
	}
	headers, mapping := batchHeaders(b)
	column := ""
	for i, h := range headers {
		if mapping[h] == credbatch.FieldEvidenceFile {
			column = h
			next.Cells = slices.Clone(old.Cells)
			for len(next.Cells) <= i {
				next.Cells = append(next.Cells, "")
			}
			next.Cells[i] = ef.Name
		}
	}
	next.Findings = slices.DeleteFunc(slices.Clone(old.Findings), func(f credbatch.Finding) bool {
		switch f.Code {
		case credbatch.CodeMissingEvidence, credbatch.CodeEvidenceFileNotFound, credbatch.CodeEvidenceWrongType, credbatch.CodeEvidenceTooLarge:
			return true
		}
		return column != "" && f.Column == column
	})
	next.Status, next.UpdatedAt = validateStatus(next.Findings), now
	return next
}

// PresignEvidence returns a presigned PUT for one row's evidence file (for files larger than
// a request to the function can carry: Lambda takes at most 6 MB). The object lands under
// credbatch.EvidenceUploadPrefix and becomes the row's evidence only when confirmed
// (ConfirmEvidence). size > 0 is the file's size: over the definition's limit it is refused
// at once (evidence_too_large), and the URL then takes exactly that many bytes. Errors: as
// AttachEvidence's before the file is read; KindInvalid invalid_size.
func (s *Service) PresignEvidence(ctx context.Context, id string, number int, size int64) (EvidenceUpload, error) {
	_, _, def, err := s.evidenceTarget(ctx, id, number)
	if err != nil {
		return EvidenceUpload{}, err
	}
	switch lim := def.Evidence.Limit(); {
	case size < 0:
		return EvidenceUpload{}, credbatch.E(credbatch.KindInvalid, "invalid_size", "give the file's size in bytes, or leave it out")
	case size > lim:
		return EvidenceUpload{}, credbatch.E(credbatch.KindInvalid, credbatch.CodeEvidenceTooLarge, fmt.Sprintf(
			"The evidence file is %d bytes, larger than the %d bytes %s credentials take; make it smaller and upload it again.", size, lim, def.ID))
	}
	key := evidenceUploadKey(id, number) + strings.ToLower(rand.Text())
	const ct = "application/octet-stream"
	var u string
	if mp, ok := s.Blob.(MetadataPresigner); ok && size > 0 {
		u, err = mp.PresignPutMetadata(ctx, key, ct, nil, size, EvidenceUploadTTL)
	} else {
		u, err = s.Blob.PresignPut(ctx, key, ct, EvidenceUploadTTL)
	}
	if err != nil {
		return EvidenceUpload{}, fmt.Errorf("presign the evidence upload of row %d of %s: %w", number, id, err)
	}
	return EvidenceUpload{URL: u, Method: "PUT", ContentType: ct, Headers: map[string]string{"Content-Type": ct}, Key: key,
		ExpiresAt: s.now().Add(EvidenceUploadTTL).UTC()}, nil
}

// ConfirmEvidence attaches the file uploaded to key (a PresignEvidence key of this row) as
// AttachEvidence does, then deletes the uploaded object. Errors: those of AttachEvidence;
// KindInvalid invalid_upload_key for a key not issued for this row; KindNotFound
// upload_not_found when nothing was uploaded there.
func (s *Service) ConfirmEvidence(ctx context.Context, id string, number int, key, name, by string) (credbatch.Row, credbatch.Batch, error) {
	rest, ok := strings.CutPrefix(key, evidenceUploadKey(id, number))
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return credbatch.Row{}, credbatch.Batch{}, credbatch.E(credbatch.KindInvalid, "invalid_upload_key", fmt.Sprintf(
			"%q is not an evidence upload of row %d of batch %s; ask for an upload URL (POST .../evidence/upload) and send its key", key, number, id))
	}
	rc, _, err := s.Blob.Get(ctx, key)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		return credbatch.Row{}, credbatch.Batch{}, credbatch.E(credbatch.KindNotFound, "upload_not_found", fmt.Sprintf(
			"nothing was uploaded to %s (or the upload was confirmed already); PUT the file to the upload URL first", key))
	}
	if err != nil {
		return credbatch.Row{}, credbatch.Batch{}, fmt.Errorf("open evidence upload %s: %w", key, err)
	}
	row, b, err := s.AttachEvidence(ctx, id, number, name, rc, by)
	rc.Close()
	if err != nil && credbatch.ErrorKind(err) != credbatch.KindInvalid {
		return row, b, err // the upload stays for a retry
	}
	if derr := s.Blob.Delete(ctx, key); derr != nil {
		s.log().WarnContext(ctx, "evidence upload not deleted", "key", key, "err", derr)
	}
	return row, b, err
}

// evidenceUploadKey is the prefix of row number's presigned evidence uploads.
func evidenceUploadKey(id string, number int) string {
	return credbatch.EvidenceUploadPrefix + id + "/" + strconv.Itoa(number) + "/"
}

// evidenceTarget loads the batch, the row and its definition an evidence file may be
// attached to.
func (s *Service) evidenceTarget(ctx context.Context, id string, number int) (credbatch.Batch, credbatch.Row, credbatch.Definition, error) {
	var (
		b   credbatch.Batch
		row credbatch.Row
		def credbatch.Definition
	)
	if number < 2 {
		return b, row, def, credbatch.E(credbatch.KindInvalid, "invalid_row", "the row is its spreadsheet row number (2 or more)")
	}
	b, err := s.Store.GetBatch(ctx, id)
	if err != nil {
		return b, row, def, fmt.Errorf("load batch %s: %w", id, err)
	}
	if b.Status != credbatch.BatchParsed && b.Status != credbatch.BatchRejected {
		return b, row, def, credbatch.E(credbatch.KindConflict, CodeBatchNotAmendable, fmt.Sprintf(
			"batch %s is %s; evidence can be attached only before the batch is submitted for approval (while it is parsed or rejected). "+
				"An approver can ask for changes, which gives the batch back", id, b.Status))
	}
	row, err = s.Store.GetRow(ctx, id, number)
	if err != nil {
		return b, row, def, fmt.Errorf("load row %d of %s: %w", number, id, err)
	}
	if row.Status != credbatch.RowValid && row.Status != credbatch.RowInvalid {
		return b, row, def, credbatch.E(credbatch.KindConflict, "row_not_amendable", fmt.Sprintf("row %d is %s and can no longer be changed", number, row.Status))
	}
	defs, err := s.BatchDefinitions(ctx, b)
	if err != nil {
		return b, row, def, err
	}
	defID := row.DefinitionID
	if defID == "" {
		defID = b.Options.DefinitionID
	}
	def, ok := defs[defID]
	if !ok {
		return b, row, def, credbatch.E(credbatch.KindInvalid, credbatch.CodeUnknownDefinition, fmt.Sprintf(
			"row %d names no known definition; fix its ID cell before attaching evidence", number))
	}
	if def.Evidence.EffectivePolicy() == credbatch.EvidenceNone {
		return b, row, def, credbatch.E(credbatch.KindInvalid, credbatch.CodeEvidenceNotAllowed, fmt.Sprintf(
			"%s credentials carry no evidence; ask an administrator to allow evidence for %s", def.ID, def.ID))
	}
	return b, row, def, nil
}

// evidenceName is the base name of an uploaded file's name ("" when it gives none usable).
func evidenceName(name string) string {
	name = strings.TrimSpace(path.Base(strings.ReplaceAll(name, "\\", "/")))
	if name == "." || name == "/" || validate.EvidenceNameProblem(name) != "" {
		return ""
	}
	return name
}
