package issuance

import (
	"context"
	"fmt"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/statuslist"
	"github.com/credbatch/credbatch/shared/validate"
)

// StatusCache is a cache of the revocation lists that a revocation must clear
// (statuslist.Lists); nil when nothing is cached.
type StatusCache interface{ Forget() }

// Resent is what a resend did.
type Resent struct {
	Credential credbatch.Credential `json:"credential"`
	MessageID  string               `json:"message_id"`
	SentTo     string               `json:"sent_to"`
}

// resendStatuses are the email statuses a resend may start from: anything but a send in
// flight (sending).
var resendStatuses = []credbatch.EmailStatus{credbatch.EmailPending, credbatch.EmailSent, credbatch.EmailDelivered,
	credbatch.EmailDelayed, credbatch.EmailSoftBounce, credbatch.EmailBounced, credbatch.EmailComplained,
	credbatch.EmailRejected, credbatch.EmailSuppressed, credbatch.EmailFailed}

// Resend sends a credential's email again, to its address or a corrected one (checked as
// upload validation checks addresses), through the chunk worker's send path.
//
// The signed credential is not changed: it identifies the recipient by the address it was
// issued to, and the store keeps that address. A corrected address only receives the same
// link; the new message id is recorded on the credential, so its delivery feedback joins it.
// To change the address inside the credential, revoke it and issue a new one.
//
// Errors: KindNotFound; KindInvalid (invalid_email); KindConflict when the credential is
// revoked, the address is suppressed or a send is in flight; KindUnavailable without a mailer.
func (s *Service) Resend(ctx context.Context, id, email string) (Resent, error) {
	if s.Mailer == nil {
		return Resent{}, credbatch.E(credbatch.KindUnavailable, "mail_unavailable", "this deployment has no mailer configured")
	}
	c, err := s.Store.GetCredential(ctx, id)
	if err != nil {
		return Resent{}, fmt.Errorf("load credential %s: %w", id, err)
	}
	if c.Status != credbatch.CredentialIssued {
		return Resent{}, credbatch.E(credbatch.KindConflict, "credential_revoked", fmt.Sprintf("credential %s is revoked; it is not sent again", c.ID))
	}
	to := c.Email
	if e := strings.TrimSpace(email); e != "" {
		if p := validate.EmailProblem(e); p != "" {
			return Resent{}, credbatch.E(credbatch.KindInvalid, credbatch.CodeInvalidEmail, fmt.Sprintf("%q %s; type the whole address, like name@example.org", e, p))
		}
		to = strings.ToLower(e)
	}
	if _, err := s.Store.GetSuppression(ctx, to); err == nil {
		return Resent{}, credbatch.E(credbatch.KindConflict, credbatch.CodeSuppressedRecipient,
			fmt.Sprintf("%s is on the suppression list (it bounced or complained); an administrator must remove it first", to))
	} else if !credbatch.IsKind(err, credbatch.KindNotFound) {
		return Resent{}, fmt.Errorf("check suppression: %w", err)
	}
	def, err := s.Store.GetDefinition(ctx, c.DefinitionID, c.DefinitionVer)
	if err != nil {
		return Resent{}, fmt.Errorf("load definition %s: %w", c.DefinitionID, err)
	}
	prev := c.EmailStatus
	// Claim the send with a conditional write, so two resends (or a worker) never overlap.
	if c, err = s.Store.SetEmailStatus(ctx, c.ID, resendStatuses, credbatch.EmailSending, credbatch.EmailChange{}); err != nil {
		if credbatch.IsKind(err, credbatch.KindConflict) {
			return Resent{}, credbatch.E(credbatch.KindConflict, "send_in_progress", fmt.Sprintf("the email of credential %s is being sent right now", id))
		}
		return Resent{}, fmt.Errorf("mark credential %s sending: %w", id, err)
	}
	out, err := s.sendClaimed(ctx, def, c, to, prev, nil, nil)
	if out != sendSent {
		if err == nil {
			cur, _ := s.Store.GetCredential(ctx, id)
			err = credbatch.E(credbatch.KindInvalid, "send_failed", "the email could not be sent: "+cur.LastError)
		}
		return Resent{}, fmt.Errorf("resend credential %s: %w", id, err)
	}
	if err != nil {
		return Resent{}, fmt.Errorf("record resend of %s: %w", id, err)
	}
	if c, err = s.Store.GetCredential(ctx, id); err != nil {
		return Resent{}, fmt.Errorf("load credential %s: %w", id, err)
	}
	return Resent{Credential: c, MessageID: c.MessageID, SentTo: to}, nil
}

// Revoke revokes one credential with a reason ("who: why"), marks its row revoked, moves
// it from issued to revoked in its batch's counts (as the issuance recount does) and clears
// the cached status list. KindInvalid without a reason; KindConflict when revoked already.
func (s *Service) Revoke(ctx context.Context, id, by, reason string) (credbatch.Credential, error) {
	if strings.TrimSpace(reason) == "" {
		return credbatch.Credential{}, missingReason()
	}
	c, err := s.Store.GetCredential(ctx, id)
	if err != nil {
		return c, fmt.Errorf("load credential %s: %w", id, err)
	}
	if c.Status == credbatch.CredentialRevoked {
		// A revocation that stopped before its list was published is finished here.
		if err := s.publishRevoked(ctx, c.StatusListIndex); err != nil {
			return c, err
		}
		return c, credbatch.E(credbatch.KindConflict, "already_revoked", fmt.Sprintf("credential %s was revoked on %s", c.ID, c.RevokedAt.Format("2006-01-02")))
	}
	c, err = s.revoke(ctx, c, by+": "+strings.TrimSpace(reason))
	if err != nil {
		return c, err
	}
	return c, s.publishRevoked(ctx, c.StatusListIndex)
}

// publishRevoked signs and stores the status lists of revoked credentials' indexes
// (statuslist.Publisher) and clears the cached lists.
func (s *Service) publishRevoked(ctx context.Context, indexes ...int) error {
	if len(indexes) == 0 {
		return nil
	}
	err := s.StatusLists().Revoke(ctx, indexes...)
	if s.StatusCache != nil {
		s.StatusCache.Forget()
	}
	if err != nil {
		return fmt.Errorf("publish the status list: %w", err)
	}
	return nil
}

// StatusLists is the publisher of the deployment's status lists, signing with Signer.
func (s *Service) StatusLists() *statuslist.Publisher {
	iss := s.cfg().Issuer
	return &statuslist.Publisher{Store: s.Store, Signer: s.signer(), Issuer: iss.ID(), ListURL: iss.StatusListURLFor, Clock: s.Clock}
}

// signer is Signer as a statuslist.Signer: nil (publishing fails clearly) when unset.
func (s *Service) signer() statuslist.Signer {
	if s.Signer == nil {
		return nil
	}
	return s.Signer
}

// RevokeBatch revokes every issued credential of a batch and returns how many it revoked
// and the batch after. KindInvalid without a reason; KindNotFound.
func (s *Service) RevokeBatch(ctx context.Context, batchID, by, reason string) (int, credbatch.Batch, error) {
	if strings.TrimSpace(reason) == "" {
		return 0, credbatch.Batch{}, missingReason()
	}
	if _, err := s.Store.GetBatch(ctx, batchID); err != nil {
		return 0, credbatch.Batch{}, fmt.Errorf("load batch %s: %w", batchID, err)
	}
	full := by + ": " + strings.TrimSpace(reason)
	revoked := 0
	// Every revoked credential's entry is published once at the end, also those revoked
	// before (a revocation of the batch that stopped part way is finished by the next one).
	var indexes []int
	for c, err := range credbatch.BatchCredentials(ctx, s.Store, batchID) {
		if err != nil {
			return revoked, credbatch.Batch{}, fmt.Errorf("list credentials of %s: %w", batchID, err)
		}
		if c.Status != credbatch.CredentialIssued {
			indexes = append(indexes, c.StatusListIndex)
			continue
		}
		if _, err := s.revoke(ctx, c, full); err != nil {
			if credbatch.IsKind(err, credbatch.KindConflict) {
				indexes = append(indexes, c.StatusListIndex)
				continue // revoked meanwhile
			}
			if perr := s.publishRevoked(ctx, indexes...); perr != nil {
				s.log().Warn("publish the status list after a failed batch revocation", "batch_id", batchID, "err", perr)
			}
			return revoked, credbatch.Batch{}, err
		}
		indexes = append(indexes, c.StatusListIndex)
		revoked++
	}
	if err := s.publishRevoked(ctx, indexes...); err != nil {
		return revoked, credbatch.Batch{}, err
	}
	b, err := s.Store.GetBatch(ctx, batchID)
	if err != nil {
		return revoked, b, fmt.Errorf("load batch %s: %w", batchID, err)
	}
	return revoked, b, nil
}

func (s *Service) revoke(ctx context.Context, c credbatch.Credential, reason string) (credbatch.Credential, error) {
	c, err := s.Store.RevokeCredential(ctx, c.ID, reason, s.now())
	if err != nil {
		return c, fmt.Errorf("revoke credential %s: %w", c.ID, err)
	}
	row, err := s.Store.GetRow(ctx, c.BatchID, c.RowNumber)
	if err == nil && row.Status == credbatch.RowIssued && row.CredentialID == c.ID {
		row.Status, row.UpdatedAt = credbatch.RowRevoked, s.now()
		if _, err := s.Store.UpdateRow(ctx, row, credbatch.RowIssued); err == nil {
			if err := s.Store.AddCounts(ctx, c.BatchID, credbatch.Counts{Issued: -1, Revoked: 1}); err != nil {
				s.log().Warn("count revocation", "batch_id", c.BatchID, "credential_id", c.ID, "err", err)
			}
		} else if !credbatch.IsKind(err, credbatch.KindConflict) {
			s.log().Warn("mark row revoked", "batch_id", c.BatchID, "row", c.RowNumber, "err", err)
		}
	} else if err != nil && !credbatch.IsKind(err, credbatch.KindNotFound) {
		s.log().Warn("load row of revoked credential", "batch_id", c.BatchID, "row", c.RowNumber, "err", err)
	}
	return c, nil
}

func missingReason() error {
	return credbatch.E(credbatch.KindInvalid, "missing_reason", "give a reason; it is recorded and shown to the people concerned")
}
