package issuance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/mail"
	"github.com/credbatch/credbatch/shared/statuslist"
)

// Chunk is one Map item: which rows of which batch to issue, the worker's planned send rate
// and the account's. With an account rate the worker takes its slots from the shared send
// schedule (pace.go); without one (a chunk planned before it existed) it paces at Rate alone.
type Chunk struct {
	BatchID     string  `json:"batch_id"`
	Chunk       int     `json:"chunk"`
	FirstRow    int     `json:"first_row"`
	ChunkSize   int     `json:"chunk_size"`
	ChunkCount  int     `json:"chunk_count"`
	Rate        float64 `json:"rate"`
	AccountRate float64 `json:"account_rate,omitempty"`
}

// pacer returns what the chunk's sends wait on.
func (c Chunk) pacer(store credbatch.Store) waiter {
	if c.AccountRate > 0 {
		return newSchedule(store, c.AccountRate, c.Rate)
	}
	return mail.NewPacer(c.Rate)
}

// rows returns the chunk's row-number range; the last chunk is open-ended so that rows after
// skipped blank lines are never left out.
func (c Chunk) rows() (from, to int) {
	from = c.FirstRow + c.Chunk*c.ChunkSize
	if c.Chunk < c.ChunkCount-1 {
		to = from + c.ChunkSize
	}
	if c.Chunk == 0 {
		from = 0
	}
	return from, to
}

// ChunkResult is what a chunk did (this run only).
type ChunkResult struct {
	Issued     int `json:"issued"`
	Sent       int `json:"sent"`
	Suppressed int `json:"suppressed"`
	Failed     int `json:"failed"`
	Skipped    int `json:"skipped"` // rows already done by an earlier run
}

// bounceCheckEvery is how many rows pass between checks of the batch's bounce rate.
const bounceCheckEvery = 25

// IssueChunk issues the chunk's rows: sign, store, send, record. Each step is a conditional
// write, so a retried or concurrently re-run chunk never issues a second credential or sends
// a sent email again. The one possible duplicate: a crash after the mailer accepted a message
// and before it was recorded as sent; the re-run sends that one message again.
func (s *Service) IssueChunk(ctx context.Context, c Chunk) (ChunkResult, error) {
	res, err := s.issueChunk(ctx, c)
	var unfinished *ChunkUnfinishedError
	if errors.As(err, &unfinished) {
		s.log().Info("chunk unfinished, to be continued", "batch_id", c.BatchID, "chunk", c.Chunk, "sent", res.Sent, "reason", unfinished.Msg)
		return res, unfinished
	}
	if err != nil {
		s.log().Error("chunk failed", "batch_id", c.BatchID, "chunk", c.Chunk, "err", err)
	}
	return res, named(err)
}

func (s *Service) issueChunk(ctx context.Context, c Chunk) (ChunkResult, error) {
	var res ChunkResult
	b, err := s.Store.GetBatch(ctx, c.BatchID)
	if err != nil {
		return res, err
	}
	if b.Status == credbatch.BatchPaused {
		return res, &BatchPausedError{Msg: fmt.Sprintf("batch %s is paused: %s", b.ID, b.Reason)}
	}
	if b.Status != credbatch.BatchIssuing {
		return res, &BatchNotReadyError{Msg: fmt.Sprintf("batch %s is %s, not issuing", b.ID, b.Status)}
	}
	w := &chunkWorker{s: s, b: b, defs: map[string]credbatch.Definition{}, pacer: c.pacer(s.Store), res: &res}
	defer w.flush(context.WithoutCancel(ctx))
	from, to := c.rows()
	f := credbatch.RowFilter{FromNumber: from, ToNumber: to}
	n := 0
	for r, err := range paced(w.pacer, credbatch.BatchRows(ctx, s.Store, b.ID, f)) {
		if err != nil {
			return res, err
		}
		if n%bounceCheckEvery == 0 && n > 0 {
			w.flush(ctx)
			if err := w.checkBounces(ctx); err != nil {
				return res, err
			}
		}
		n++
		if err := w.row(ctx, r); err != nil {
			return res, err
		}
	}
	return res, nil
}

// chunkWorker carries one chunk run's state.
type chunkWorker struct {
	s       *Service
	b       credbatch.Batch
	defs    map[string]credbatch.Definition
	pacer   waiter
	res     *ChunkResult
	indexes []int            // status-list slots reserved and not yet used
	ensured map[int]bool     // status lists this worker found published
	emails  credbatch.Counts // the email counters of this run's sends (moved Uncounted)
	flushed credbatch.Counts // what flush has added to the batch's counters
}

// delta is what this run has to add to the batch's counters: its issued and failed rows, and
// its sends (the store counts every other email status move itself).
func (w *chunkWorker) delta() credbatch.Counts {
	return credbatch.Counts{Issued: w.res.Issued, Failed: w.res.Failed}.Add(w.emails)
}

// flush adds what this run counted since the last flush to the batch's counters, in one
// write: before each bounce check (every bounceCheckEvery rows) and when the chunk ends, so
// the counters lag a running chunk by at most that many rows. A crash loses at most those:
// Finalize recounts the rows, and the report run corrects the email counters
// (credbatch.QuietPeriod).
func (w *chunkWorker) flush(ctx context.Context) {
	d := w.delta()
	if d == w.flushed {
		return
	}
	if err := w.s.Store.AddCounts(ctx, w.b.ID, d.Sub(w.flushed)); err != nil {
		w.s.log().Warn("progress counters not updated (finalize recounts; the report run corrects the email ones)", "batch_id", w.b.ID, "err", err)
		return
	}
	w.flushed = d
}

func (w *chunkWorker) definition(ctx context.Context, id string) (credbatch.Definition, error) {
	if d, ok := w.defs[id]; ok {
		return d, nil
	}
	d, err := w.s.Store.GetDefinition(ctx, id, w.b.Definitions[id])
	if err != nil {
		return d, fmt.Errorf("definition %s: %w", id, err)
	}
	w.defs[id] = d
	return d, nil
}

// statusIndex hands out a status-list index: the store's counter reserves slots in blocks,
// and the signer shuffles each slot to a random-looking, never reused index of its list.
func (w *chunkWorker) statusIndex(ctx context.Context) (int, error) {
	if len(w.indexes) == 0 {
		if err := w.s.readyForShuffle(ctx); err != nil {
			return 0, err
		}
		const block = 64
		first, err := w.s.Store.AllocateStatusIndexes(ctx, block)
		if err != nil {
			return 0, err
		}
		for i := range block {
			w.indexes = append(w.indexes, first+i)
		}
		// Every list these slots fall into is published before a credential points at it
		// (a slot's list is slot/Size+1, shuffled within the list).
		for n := first/statuslist.Size + 1; n <= (first+block-1)/statuslist.Size+1; n++ {
			if w.ensured[n] {
				continue
			}
			if err := w.s.StatusLists().Ensure(ctx, n); err != nil {
				return 0, err
			}
			if w.ensured == nil {
				w.ensured = map[int]bool{}
			}
			w.ensured[n] = true
		}
	}
	slot := w.indexes[0]
	w.indexes = w.indexes[1:]
	return w.s.Signer.StatusIndex(slot), nil
}

// row takes one row as far as it can go: issuing → credential → email → issued.
func (w *chunkWorker) row(ctx context.Context, r credbatch.Row) error {
	s := w.s
	minted := false // the claim below gave the row a new credential id
	switch r.Status {
	case credbatch.RowValid, credbatch.RowFailed:
		next := r
		next.Status = credbatch.RowIssuing
		next.Attempts++
		next.UpdatedAt = s.now()
		if next.CredentialID == "" {
			next.CredentialID, minted = s.newID(), true
		}
		updated, err := s.Store.UpdateRow(ctx, next, r.Status)
		if credbatch.IsKind(err, credbatch.KindConflict) {
			w.res.Skipped++ // another run took it
			return nil
		}
		if err != nil {
			return err
		}
		r = updated
	case credbatch.RowIssuing:
		// An earlier run stopped part way; carry on from where the credential is.
	default:
		w.res.Skipped++
		return nil
	}
	def, err := w.definition(ctx, r.DefinitionID)
	if err != nil {
		return err
	}
	cred, fresh, err := w.credential(ctx, def, r, minted)
	if err != nil {
		if credbatch.IsKind(err, credbatch.KindUnavailable) {
			return err
		}
		w.res.Failed++
		_, ferr := s.failRow(ctx, r, "could not issue the credential: "+credbatch.ErrorMessage(err))
		return ferr
	}
	if fresh && cred.EmailStatus == credbatch.EmailSending {
		// Created already claimed for sending: no other run can hold it.
		err = w.send(ctx, def, cred)
	} else {
		err = w.email(ctx, def, cred)
	}
	if err != nil {
		return err
	}
	next := r
	next.Status = credbatch.RowIssued
	next.Error = ""
	next.UpdatedAt = s.now()
	if _, err := s.Store.UpdateRow(ctx, next, credbatch.RowIssuing); err != nil {
		if credbatch.IsKind(err, credbatch.KindConflict) {
			return nil
		}
		return err
	}
	w.res.Issued++
	return nil
}

// credential returns the row's credential, creating and signing it the first time (fresh).
// A new credential is created with its email already claimed (sending), or suppressed when
// the address is on the suppression list: one write instead of two.
// minted says this run claimed the row with a credential id it just made up: no credential
// can have it yet, so it is not looked up (a read saved per credential).
func (w *chunkWorker) credential(ctx context.Context, def credbatch.Definition, r credbatch.Row, minted bool) (c credbatch.Credential, fresh bool, err error) {
	s := w.s
	if !minted {
		c, err = s.Store.GetCredential(ctx, r.CredentialID)
		if err == nil || !credbatch.IsKind(err, credbatch.KindNotFound) {
			return c, false, err
		}
	}
	idx, err := w.statusIndex(ctx)
	if err != nil {
		return c, false, err
	}
	now := s.now()
	c = credbatch.Credential{ID: r.CredentialID, BatchID: r.BatchID, RowNumber: r.Number, DefinitionID: def.ID,
		DefinitionVer: def.Version, Email: strings.ToLower(r.Email), Name: strings.TrimSpace(r.FirstName + " " + r.LastName),
		IssueDate: r.IssueDate, ExpiryDate: r.ExpiryDate, Attributes: r.Attributes, Locale: r.Locale, Evidence: r.Evidence, StatusListIndex: idx,
		Status: credbatch.CredentialIssued, EmailStatus: credbatch.EmailSending, IssuedAt: now, UpdatedAt: now}
	switch _, err := s.Store.GetSuppression(ctx, c.Email); {
	case err == nil:
		c.EmailStatus, c.LastError = credbatch.EmailSuppressed, "address is on the suppression list"
	case !credbatch.IsKind(err, credbatch.KindNotFound):
		return c, false, err
	}
	doc, err := credential.Build(s.cfg().Issuer, def, c)
	if err != nil {
		return c, false, err
	}
	secured, err := s.Signer.Secure(doc, now)
	if err != nil {
		return c, false, err
	}
	c.JWT = string(secured)
	// The VC-JWT is signed here too and kept detached, so that the public route serves it
	// without the signing key.
	if c.JWTDetached, err = s.Signer.SignStored(secured); err != nil {
		return c, false, err
	}
	if def.Duplicates == credbatch.DuplicatesReplace {
		if err := w.supersede(ctx, def, c); err != nil {
			return c, false, err
		}
	}
	if err := s.Store.CreateCredential(ctx, c); err != nil {
		if credbatch.IsKind(err, credbatch.KindConflict) {
			c, err = s.Store.GetCredential(ctx, c.ID)
			return c, false, err
		}
		return c, false, err
	}
	if c.EmailStatus == credbatch.EmailSuppressed {
		w.res.Suppressed++
	}
	return c, true, nil
}

// supersede revokes the recipient's earlier active credential of a "replace" definition.
func (w *chunkWorker) supersede(ctx context.Context, def credbatch.Definition, c credbatch.Credential) error {
	old, err := w.s.Store.FindActiveCredential(ctx, def.ID, c.Email)
	if credbatch.IsKind(err, credbatch.KindNotFound) || (err == nil && old.ID == c.ID) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = w.s.Store.RevokeCredential(ctx, old.ID, "superseded by "+c.ID, w.s.now())
	if err != nil && !credbatch.IsKind(err, credbatch.KindConflict) {
		return err
	}
	// Also when another run revoked it first: it may have stopped before publishing.
	return w.s.publishRevoked(ctx, old.StatusListIndex)
}

// CredentialURL is the public page of a credential.
func CredentialURL(base, id string) string {
	return strings.TrimRight(base, "/") + "/credentials/" + id
}

// email sends the credential's email unless it was sent already or the address is suppressed.
func (w *chunkWorker) email(ctx context.Context, def credbatch.Definition, c credbatch.Credential) error {
	s := w.s
	switch c.EmailStatus {
	case credbatch.EmailPending:
		if _, err := s.Store.GetSuppression(ctx, c.Email); err == nil {
			if _, err := s.Store.SetEmailStatus(ctx, c.ID, []credbatch.EmailStatus{credbatch.EmailPending}, credbatch.EmailSuppressed,
				credbatch.EmailChange{LastError: "address is on the suppression list"}); err == nil {
				w.res.Suppressed++
			}
			return nil
		} else if !credbatch.IsKind(err, credbatch.KindNotFound) {
			return err
		}
		if _, err := s.Store.SetEmailStatus(ctx, c.ID, []credbatch.EmailStatus{credbatch.EmailPending}, credbatch.EmailSending, credbatch.EmailChange{}); err != nil {
			if credbatch.IsKind(err, credbatch.KindConflict) {
				return nil // another run is sending it
			}
			return err
		}
	case credbatch.EmailSending:
		// Another run is sending it right now, or an earlier run stopped between sending and
		// recording. Wait out the send lease: if it is still sending after that, the sender
		// is gone, and this run sends again (the one documented possible duplicate).
		cur, err := w.awaitSend(ctx, c)
		if err != nil || cur.EmailStatus != credbatch.EmailSending {
			return err
		}
		if _, err := s.Store.SetEmailStatus(ctx, c.ID, []credbatch.EmailStatus{credbatch.EmailSending}, credbatch.EmailSending, credbatch.EmailChange{}); err != nil {
			if credbatch.IsKind(err, credbatch.KindConflict) {
				return nil
			}
			return err
		}
	default:
		return nil
	}
	return w.send(ctx, def, c)
}

// send sends a credential email this run has claimed (status sending) and records the result.
func (w *chunkWorker) send(ctx context.Context, def credbatch.Definition, c credbatch.Credential) error {
	out, err := w.s.sendClaimed(ctx, def, c, c.Email, credbatch.EmailPending, w.pacer, &w.emails)
	switch {
	case out == sendSent:
		w.res.Sent++
		return err
	case out == sendFailed:
		w.res.Failed++
		return err
	case credbatch.ErrorCode(err) == credbatch.CodeSendingStopped:
		return &SendingStoppedError{Err: err}
	default:
		return &ChunkRetryableError{Err: err}
	}
}

// sendOutcome is how one claimed send ended.
type sendOutcome int

const (
	sendRetry  sendOutcome = iota // not sent; the email went back to the retry status
	sendSent                      // accepted by the mailer and recorded as sent
	sendFailed                    // cannot be sent (bad template, address refused); recorded as failed
)

// sendClaimed is the one send path (the chunk worker and resends): it sends the email of a
// credential claimed for sending (status sending) to `to`, paced, and records the outcome:
// sent with the message id; failed with the error when the message cannot be sent; back to
// retryStatus when sending stopped or failed for a moment. The error is the mailer's (or
// the renderer's) for a failed or retried send, a store error otherwise. The message id is
// recorded on the credential, so its delivery feedback joins it whatever the address. With
// counts, the move to sent is made Uncounted and its change added to *counts when this call
// made it (the caller adds them to the batch, batched); without, the store counts it.
func (s *Service) sendClaimed(ctx context.Context, def credbatch.Definition, c credbatch.Credential, to string,
	retryStatus credbatch.EmailStatus, pacer waiter, counts *credbatch.Counts) (sendOutcome, error) {
	msg, err := s.message(def, c, to)
	if err != nil {
		if _, serr := s.Store.SetEmailStatus(ctx, c.ID, []credbatch.EmailStatus{credbatch.EmailSending}, credbatch.EmailFailed,
			credbatch.EmailChange{LastError: credbatch.ErrorMessage(err)}); serr != nil {
			return sendFailed, serr
		}
		return sendFailed, nil
	}
	if pacer != nil {
		if err := pacer.Wait(ctx); err != nil {
			s.revert(ctx, c, retryStatus)
			return sendRetry, err
		}
	}
	id, err := s.Mailer.Send(ctx, msg)
	switch {
	case err == nil:
		_, err = s.Store.SetEmailStatus(ctx, c.ID, []credbatch.EmailStatus{credbatch.EmailSending}, credbatch.EmailSent,
			credbatch.EmailChange{MessageID: id, SentAt: s.now(), Uncounted: counts != nil})
		if err == nil && counts != nil {
			*counts = counts.Add(credbatch.EmailDelta(credbatch.EmailSending, credbatch.EmailSent))
		}
		if credbatch.IsKind(err, credbatch.KindConflict) {
			// Feedback (a Delivery or Bounce) can arrive before this write; the message was
			// accepted either way.
			if cur, gerr := s.Store.GetCredential(ctx, c.ID); gerr == nil && credbatch.EmailAdvances(credbatch.EmailSending, cur.EmailStatus) {
				err = nil
			}
		}
		if err != nil {
			return sendRetry, err
		}
		return sendSent, nil
	case credbatch.ErrorCode(err) != credbatch.CodeSendingStopped && credbatch.IsKind(err, credbatch.KindInvalid):
		if _, serr := s.Store.SetEmailStatus(ctx, c.ID, []credbatch.EmailStatus{credbatch.EmailSending}, credbatch.EmailFailed,
			credbatch.EmailChange{LastError: credbatch.ErrorMessage(err)}); serr != nil {
			return sendFailed, serr
		}
		return sendFailed, nil
	default:
		s.revert(ctx, c, retryStatus)
		return sendRetry, err
	}
}

// awaitSend polls a credential whose email is being sent until its status changes or the
// send lease since its last update has passed, and returns it as last read.
func (w *chunkWorker) awaitSend(ctx context.Context, c credbatch.Credential) (credbatch.Credential, error) {
	lease := w.s.cfg().SendLease
	for w.s.now().Sub(c.UpdatedAt) < lease {
		select {
		case <-ctx.Done():
			return c, ctx.Err()
		case <-time.After(lease / 20):
		}
		cur, err := w.s.Store.GetCredential(ctx, c.ID)
		if err != nil {
			return c, err
		}
		if cur.EmailStatus != credbatch.EmailSending {
			return cur, nil
		}
		c = cur
	}
	return c, nil
}

// revert puts an email that was not sent back to status `to` (pending: a re-run sends it).
func (s *Service) revert(ctx context.Context, c credbatch.Credential, to credbatch.EmailStatus) {
	if _, err := s.Store.SetEmailStatus(context.WithoutCancel(ctx), c.ID, []credbatch.EmailStatus{credbatch.EmailSending},
		to, credbatch.EmailChange{}); err != nil {
		s.log().Warn("email left in sending; a re-run sends it", "credential_id", c.ID, "err", err)
	}
}

// message renders the credential email, addressed to `to`.
func (s *Service) message(def credbatch.Definition, c credbatch.Credential, to string) (credbatch.Message, error) {
	cfg := s.cfg()
	first, last, _ := strings.Cut(c.Name, " ")
	iss := cfg.Issuer.For(def)
	loc := mail.Pick(c.Locale, def.Locale, cfg.Locale)
	d := mail.Data{Locale: loc, FirstName: first, LastName: last, FullName: c.Name, Email: to, CredentialName: def.Name,
		CredentialURL: CredentialURL(cfg.Issuer.BaseURL, c.ID), IssuerName: iss.Name, IssueDate: loc.Date(c.IssueDate),
		ExpiryDate: loc.Date(c.ExpiryDate), Attributes: c.Attributes, BatchID: c.BatchID, CredentialID: c.ID}
	subject, text, html, err := mail.Render(def.Email, d)
	if err != nil {
		return credbatch.Message{}, err
	}
	name := iss.Name
	if name == "" {
		name = cfg.FromName
	}
	return credbatch.Message{From: mail.From(name, cfg.From), To: []string{to}, Subject: subject, Text: text, HTML: html,
		Tags: map[string]string{"credential_id": c.ID, "batch_id": c.BatchID}}, nil
}

// checkBounces pauses the batch when its hard-bounce rate passed the threshold, and stops the
// chunk when the batch was paused (by this or another worker).
func (w *chunkWorker) checkBounces(ctx context.Context) error {
	s := w.s
	b, err := s.Store.GetBatch(ctx, w.b.ID)
	if err != nil {
		return err
	}
	if b.Status == credbatch.BatchPaused {
		return &BatchPausedError{Msg: fmt.Sprintf("batch %s is paused: %s", b.ID, b.Reason)}
	}
	cfg := s.cfg()
	// Measured since the batch was last resumed (zero when it never was).
	sent, bounced := b.Counts.Sent-b.Counts.SentAtResume, b.Counts.Bounced-b.Counts.BouncedAtResume
	if sent < cfg.BounceMinSends {
		return nil
	}
	rate := float64(bounced) / float64(sent)
	if rate <= cfg.BounceRate {
		return nil
	}
	reason := fmt.Sprintf("hard-bounce rate %.1f%% after %d sends is above %.1f%%; check the addresses, then resume the batch",
		rate*100, sent, cfg.BounceRate*100)
	if _, err := s.Store.TransitionBatch(ctx, b.ID, credbatch.BatchIssuing, credbatch.BatchPaused, credbatch.BatchChange{Reason: &reason}); err != nil &&
		!credbatch.IsKind(err, credbatch.KindConflict) {
		return err
	}
	s.log().Warn("batch paused", "batch_id", b.ID, "bounce_rate", rate)
	if len(cfg.Admins) > 0 {
		if _, err := s.Mailer.Send(ctx, credbatch.Message{From: cfg.sender(), To: cfg.Admins, Subject: "Batch paused: " + label(b),
			Text: fmt.Sprintf("Issuing batch %s was paused: %s.\n\nFix the addresses, then resume it here:\n%s/batches/%s\n", label(b), reason, strings.TrimRight(cfg.Issuer.BaseURL, "/"), b.ID),
			Tags: map[string]string{"batch_id": b.ID, "kind": "pause"}}); err != nil {
			s.log().Error("pause alert email", "batch_id", b.ID, "err", err)
		}
	}
	return &BatchPausedError{Msg: reason}
}

// ShuffleMark is the store mark set when this deployment began shuffling status indexes.
const ShuffleMark = "status_indexes_shuffled"

// readyForShuffle keeps shuffled status indexes out of every list that sequential ones were
// handed out in (credbatch before indexes were shuffled used the counter's value as the
// index): there a shuffled slot could land on an index already in use. Before each block it
// allocates (one read per 64 credentials), a worker that does not find ShuffleMark moves the
// counter to the next list boundary when anything was allocated before, then sets the mark;
// once the mark is set, all later slots are past that boundary. Workers racing here may each
// move the counter, which only leaves indexes unused. A deployment with nothing allocated
// starts in list 1.
// Upgrading while an older version still issues is not covered: drain issuing first.
func (s *Service) readyForShuffle(ctx context.Context) error {
	_, err := s.Store.GetMark(ctx, ShuffleMark)
	switch {
	case err == nil:
		return nil
	case !credbatch.IsKind(err, credbatch.KindNotFound):
		return fmt.Errorf("status index shuffle mark: %w", err)
	}
	// Every index allocated before this slot may be a sequential one; the first list that
	// starts at or after it holds none.
	c, err := s.Store.AllocateStatusIndexes(ctx, 1)
	if err != nil {
		return err
	}
	if _, err := s.Store.GetMark(ctx, ShuffleMark); err == nil {
		return nil // another worker moved the counter before setting the mark: later slots are past it
	}
	if boundary := (c + statuslist.Size - 1) / statuslist.Size * statuslist.Size; boundary > c+1 {
		if _, err := s.Store.AllocateStatusIndexes(ctx, boundary-(c+1)); err != nil {
			return err
		}
	}
	if err := s.Store.SetMark(ctx, ShuffleMark, time.Time{}, s.now()); err != nil && !credbatch.IsKind(err, credbatch.KindConflict) {
		return fmt.Errorf("status index shuffle mark: %w", err)
	}
	return nil
}
