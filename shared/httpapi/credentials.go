package httpapi

import (
	"context"
	"fmt"
	"net/http"
	netmail "net/mail"
	"strings"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/mail"
)

func (a *API) getCredential(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	c, err := a.d.Store.GetCredential(r.Context(), r.PathValue("id"))
	if err != nil {
		return fmt.Errorf("load credential %s: %w", r.PathValue("id"), err)
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) listCredentials(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	email := trim(r.URL.Query().Get("email"))
	if email == "" {
		return credbatch.E(credbatch.KindInvalid, "missing_email", "name the recipient: ?email=someone@example.org")
	}
	cursor, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	page, err := a.d.Store.ListCredentialsByEmail(r.Context(), email, cursor, limit)
	if err != nil {
		return fmt.Errorf("list credentials: %w", err)
	}
	if page.Items == nil {
		page.Items = []credbatch.Credential{}
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (a *API) revokeCredential(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req reasonRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if trim(req.Reason) == "" {
		return missingReason()
	}
	c, err := a.d.Store.GetCredential(r.Context(), r.PathValue("id"))
	if err != nil {
		return fmt.Errorf("load credential %s: %w", r.PathValue("id"), err)
	}
	if c.Status == credbatch.CredentialRevoked {
		return credbatch.E(credbatch.KindConflict, "already_revoked", fmt.Sprintf("credential %s was revoked on %s", c.ID, c.RevokedAt.Format("2006-01-02")))
	}
	c, err = a.revoke(r.Context(), c, p.Name()+": "+trim(req.Reason))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// revoke revokes a credential, marks its row revoked, moves it from issued to revoked in its
// batch's counts (as the issuance recount does) and clears the cached status list.
// KindConflict when it was revoked already.
func (a *API) revoke(ctx context.Context, c credbatch.Credential, reason string) (credbatch.Credential, error) {
	c, err := a.d.Store.RevokeCredential(ctx, c.ID, reason, a.now())
	if err != nil {
		return c, fmt.Errorf("revoke credential %s: %w", c.ID, err)
	}
	a.clearStatus()
	row, err := a.d.Store.GetRow(ctx, c.BatchID, c.RowNumber)
	if err == nil && row.Status == credbatch.RowIssued && row.CredentialID == c.ID {
		row.Status, row.UpdatedAt = credbatch.RowRevoked, a.now()
		if _, err := a.d.Store.UpdateRow(ctx, row, credbatch.RowIssued); err == nil {
			if err := a.d.Store.AddCounts(ctx, c.BatchID, credbatch.Counts{Issued: -1, Revoked: 1}); err != nil {
				a.d.Log.Warn("count revocation", "batch_id", c.BatchID, "credential_id", c.ID, "err", err)
			}
		} else if !credbatch.IsKind(err, credbatch.KindConflict) {
			a.d.Log.Warn("mark row revoked", "batch_id", c.BatchID, "row", c.RowNumber, "err", err)
		}
	} else if err != nil && !credbatch.IsKind(err, credbatch.KindNotFound) {
		a.d.Log.Warn("load row of revoked credential", "batch_id", c.BatchID, "row", c.RowNumber, "err", err)
	}
	return c, nil
}

type resendRequest struct {
	Email string `json:"email,omitempty"` // "" = the credential's own address
}

// resendStatuses are the email statuses a resend may start from: anything but a send in
// flight (sending).
var resendStatuses = []credbatch.EmailStatus{credbatch.EmailPending, credbatch.EmailSent, credbatch.EmailDelivered,
	credbatch.EmailDelayed, credbatch.EmailSoftBounce, credbatch.EmailBounced, credbatch.EmailComplained,
	credbatch.EmailRejected, credbatch.EmailSuppressed, credbatch.EmailFailed}

// resendCredential sends a credential's email again, to its address or a corrected one.
//
// The signed credential is not changed: it identifies the recipient by the address it was
// issued to, and the store keeps that address. A corrected address only receives the same
// link; the new message id is recorded on the credential, so its delivery feedback joins it.
// To change the address inside the credential, revoke it and issue a new one.
func (a *API) resendCredential(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	ctx := r.Context()
	var req resendRequest
	if err := a.decodeOptional(w, r, &req); err != nil {
		return err
	}
	if a.d.Mailer == nil {
		return credbatch.E(credbatch.KindUnavailable, "mail_unavailable", "this deployment has no mailer configured")
	}
	c, err := a.d.Store.GetCredential(ctx, r.PathValue("id"))
	if err != nil {
		return fmt.Errorf("load credential %s: %w", r.PathValue("id"), err)
	}
	if c.Status != credbatch.CredentialIssued {
		return credbatch.E(credbatch.KindConflict, "credential_revoked", fmt.Sprintf("credential %s is revoked; it is not sent again", c.ID))
	}
	to := c.Email
	if e := trim(req.Email); e != "" {
		addr, err := netmail.ParseAddress(e)
		if err != nil || addr.Name != "" || !strings.Contains(addr.Address, "@") {
			return credbatch.E(credbatch.KindInvalid, credbatch.CodeInvalidEmail, fmt.Sprintf("%q is not an email address", e))
		}
		to = strings.ToLower(addr.Address)
	}
	if _, err := a.d.Store.GetSuppression(ctx, to); err == nil {
		return credbatch.E(credbatch.KindConflict, credbatch.CodeSuppressedRecipient,
			fmt.Sprintf("%s is on the suppression list (it bounced or complained); an administrator must remove it first", to))
	} else if !credbatch.IsKind(err, credbatch.KindNotFound) {
		return fmt.Errorf("check suppression: %w", err)
	}
	def, err := a.d.Store.GetDefinition(ctx, c.DefinitionID, c.DefinitionVer)
	if err != nil {
		return fmt.Errorf("load definition %s: %w", c.DefinitionID, err)
	}
	first, last, _ := strings.Cut(c.Name, " ")
	issuerName := a.d.Issuer.Name
	if def.Issuer != nil && def.Issuer.Name != "" {
		issuerName = def.Issuer.Name
	}
	subject, text, html, err := mail.Render(def.Email, mail.Data{FirstName: first, LastName: last, FullName: c.Name, Email: to,
		CredentialName: def.Name, CredentialURL: a.d.Issuer.CredentialURL(c.ID), IssuerName: issuerName, IssueDate: c.IssueDate,
		ExpiryDate: c.ExpiryDate, Attributes: c.Attributes, BatchID: c.BatchID, CredentialID: c.ID})
	if err != nil {
		return fmt.Errorf("render email of %s: %w", c.ID, err)
	}
	prev := c.EmailStatus
	// Claim the send with a conditional write, so two resends (or a worker) never overlap.
	if _, err := a.d.Store.SetEmailStatus(ctx, c.ID, resendStatuses, credbatch.EmailSending, credbatch.EmailChange{}); err != nil {
		if credbatch.IsKind(err, credbatch.KindConflict) {
			return credbatch.E(credbatch.KindConflict, "send_in_progress", fmt.Sprintf("the email of credential %s is being sent right now", c.ID))
		}
		return fmt.Errorf("mark credential %s sending: %w", c.ID, err)
	}
	msgID, err := a.d.Mailer.Send(ctx, credbatch.Message{From: a.d.From, To: []string{to}, Subject: subject, Text: text, HTML: html,
		Tags: map[string]string{"credential_id": c.ID, "batch_id": c.BatchID}})
	if err != nil {
		back, last := prev, ""
		if credbatch.IsKind(err, credbatch.KindInvalid) {
			back, last = credbatch.EmailFailed, credbatch.ErrorMessage(err)
		}
		if _, serr := a.d.Store.SetEmailStatus(context.WithoutCancel(ctx), c.ID, []credbatch.EmailStatus{credbatch.EmailSending}, back,
			credbatch.EmailChange{LastError: last}); serr != nil {
			a.d.Log.Warn("email status after a failed resend", "credential_id", c.ID, "err", serr)
		}
		return fmt.Errorf("resend credential %s: %w", c.ID, err)
	}
	c, err = a.d.Store.SetEmailStatus(ctx, c.ID, []credbatch.EmailStatus{credbatch.EmailSending}, credbatch.EmailSent,
		credbatch.EmailChange{MessageID: msgID, SentAt: a.now()})
	if err != nil {
		return fmt.Errorf("record resend of %s: %w", c.ID, err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"credential": c, "message_id": msgID, "sent_to": to})
	return nil
}

// deliveryReport is a batch's email outcome: the counters and every recipient whose email
// did not arrive.
type deliveryReport struct {
	BatchID string                 `json:"batch_id"`
	Status  credbatch.BatchStatus  `json:"status"`
	Counts  credbatch.Counts       `json:"counts"`
	Emails  map[string]int         `json:"emails"` // email status → credentials
	Failed  []credbatch.Credential `json:"failed"` // bounced, complained, suppressed, failed, rejected
}

func (a *API) batchDelivery(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	ctx := r.Context()
	id := r.PathValue("id")
	b, err := a.d.Store.GetBatch(ctx, id)
	if err != nil {
		return fmt.Errorf("load batch %s: %w", id, err)
	}
	rep := deliveryReport{BatchID: id, Status: b.Status, Counts: b.Counts, Emails: map[string]int{}, Failed: []credbatch.Credential{}}
	for c, err := range credbatch.BatchCredentials(ctx, a.d.Store, id) {
		if err != nil {
			return fmt.Errorf("list credentials of %s: %w", id, err)
		}
		rep.Emails[string(c.EmailStatus)]++
		switch c.EmailStatus {
		case credbatch.EmailBounced, credbatch.EmailComplained, credbatch.EmailSuppressed, credbatch.EmailFailed, credbatch.EmailRejected:
			rep.Failed = append(rep.Failed, c)
		}
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (a *API) getSuppression(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	s, err := a.d.Store.GetSuppression(r.Context(), r.PathValue("email"))
	if err != nil {
		return fmt.Errorf("load suppression: %w", err)
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

func (a *API) deleteSuppression(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	email := r.PathValue("email")
	if err := a.d.Store.DeleteSuppression(r.Context(), email); err != nil {
		return fmt.Errorf("delete suppression: %w", err)
	}
	a.d.Log.Info("suppression removed", "by", p.Subject)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
