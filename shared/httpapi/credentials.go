package httpapi

import (
	"fmt"
	"net/http"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
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
	c, err := a.d.Flow.Revoke(r.Context(), r.PathValue("id"), p.Name(), req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

type resendRequest struct {
	Email string `json:"email,omitempty"` // "" = the credential's own address
}

// resendCredential sends a credential's email again, to its address or a corrected one
// (issuance.Service.Resend).
func (a *API) resendCredential(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var req resendRequest
	if err := a.decodeOptional(w, r, &req); err != nil {
		return err
	}
	res, err := a.d.Flow.Resend(r.Context(), r.PathValue("id"), req.Email)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
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
