package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/issuance"
)

// batchView is a batch as the API shows it: the stored batch plus its issuing progress and
// the approval policy of its definitions.
type batchView struct {
	credbatch.Batch
	// Progress is (issued + failed) / valid, from 0 to 1.
	Progress         float64 `json:"progress"`
	ApprovalRequired bool    `json:"approval_required"`
	FourEyes         bool    `json:"four_eyes"`
}

// view derives the batch's progress and approval policy (from the definition versions it was
// validated against; a batch still being read has none yet).
func (a *API) view(ctx context.Context, b credbatch.Batch) batchView {
	v := batchView{Batch: b}
	if b.Counts.Valid > 0 {
		v.Progress = min(1, float64(b.Counts.Issued+b.Counts.Failed+b.Counts.Revoked)/float64(b.Counts.Valid))
	}
	if pol, err := issuance.PolicyOf(ctx, a.d.Store, b); err == nil {
		v.ApprovalRequired, v.FourEyes = pol.ApprovalRequired, pol.FourEyes
	} else {
		a.d.Log.Warn("approval policy of batch", "batch_id", b.ID, "err", err)
	}
	return v
}

type batchRequest struct {
	DefinitionID string              `json:"definition_id"`
	Label        string              `json:"label,omitempty"`
	DateOrder    credbatch.DateOrder `json:"date_order,omitempty"`
	Rows         []ingest.Recipient  `json:"rows"`
	Submit       bool                `json:"submit,omitempty"`
}

// createBatch creates a batch from JSON rows. With an Idempotency-Key header the batch id is
// derived from the key, so a repeated request answers 200 with the batch it created first.
func (a *API) createBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req batchRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	b, existing, err := a.ingest.CreateBatch(ctx, ingest.NewBatch{IdempotencyKey: r.Header.Get("Idempotency-Key"), Uploader: p.Name(),
		Label: req.Label, Via: "API", DefinitionID: req.DefinitionID, DateOrder: req.DateOrder, Recipients: req.Rows})
	if err != nil {
		return err
	}
	if existing {
		writeJSON(w, http.StatusOK, a.view(ctx, b))
		return nil
	}
	if req.Submit && b.Status == credbatch.BatchParsed {
		if b, err = a.d.Actions.Submit(ctx, b.ID, false); err != nil {
			return fmt.Errorf("submit batch %s: %w", b.ID, err)
		}
	}
	w.Header().Set("Location", "/api/batches/"+b.ID)
	writeJSON(w, http.StatusCreated, a.view(ctx, b))
	return nil
}

func (a *API) listBatches(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	cursor, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	page, err := a.d.Store.ListBatches(r.Context(), credbatch.BatchFilter{Status: credbatch.BatchStatus(q.Get("status")),
		Label: q.Get("label"), Cursor: cursor, Limit: limit})
	if err != nil {
		return fmt.Errorf("list batches: %w", err)
	}
	out := credbatch.Page[batchView]{Items: make([]batchView, len(page.Items)), Next: page.Next}
	for i, b := range page.Items {
		out.Items[i] = a.view(r.Context(), b)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getBatch(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	b, err := a.d.Store.GetBatch(r.Context(), r.PathValue("id"))
	if err != nil {
		return fmt.Errorf("load batch %s: %w", r.PathValue("id"), err)
	}
	writeJSON(w, http.StatusOK, a.view(r.Context(), b))
	return nil
}

func (a *API) listRows(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	id := r.PathValue("id")
	cursor, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	if _, err := a.d.Store.GetBatch(r.Context(), id); err != nil {
		return fmt.Errorf("load batch %s: %w", id, err)
	}
	q := r.URL.Query()
	page, err := a.d.Store.ListRows(r.Context(), id, credbatch.RowFilter{Status: credbatch.RowStatus(q.Get("status")),
		Code: q.Get("code"), Cursor: cursor, Limit: limit})
	if err != nil {
		return fmt.Errorf("list rows of %s: %w", id, err)
	}
	if page.Items == nil {
		page.Items = []credbatch.Row{}
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

type amendRequest struct {
	Values map[string]string `json:"values"` // header as in the batch → new cell value
}

// amendRow changes cells of a row of a parsed or rejected batch and validates it again.
func (a *API) amendRow(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	number, err := strconv.Atoi(r.PathValue("row"))
	if err != nil {
		return credbatch.E(credbatch.KindInvalid, "invalid_row", "the row is its spreadsheet row number (2 or more)")
	}
	var req amendRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	row, b, err := a.ingest.AmendRow(r.Context(), r.PathValue("id"), number, req.Values)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"row": row, "batch": a.view(r.Context(), b)})
	return nil
}

// batchReport redirects to a presigned download of the batch's error-report workbook.
func (a *API) batchReport(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	ctx := r.Context()
	id := r.PathValue("id")
	b, err := a.d.Store.GetBatch(ctx, id)
	if err != nil {
		return fmt.Errorf("load batch %s: %w", id, err)
	}
	key := b.ReportKey
	if key == "" {
		if b.Counts.Invalid == 0 || b.Status == credbatch.BatchReceived {
			return credbatch.E(credbatch.KindNotFound, "no_report", fmt.Sprintf("batch %s has no error report: no row was rejected", id))
		}
		if key, err = a.ingest.WriteReport(ctx, b); err != nil {
			return err
		}
	}
	url, err := a.d.Blob.PresignGet(ctx, key, a.d.ReportTTL)
	if err != nil {
		return fmt.Errorf("presign report of %s: %w", id, err)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, url, http.StatusFound)
	return nil
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

type submitRequest struct {
	SkipInvalid bool `json:"skip_invalid"`
}

func (a *API) submitBatch(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var req submitRequest
	if err := a.decodeOptional(w, r, &req); err != nil {
		return err
	}
	b, err := a.d.Actions.Submit(r.Context(), r.PathValue("id"), req.SkipInvalid)
	return a.batchResult(w, r, b, err, "submit")
}

func (a *API) approveBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := a.decodeOptional(w, r, &struct{}{}); err != nil {
		return err
	}
	b, err := a.d.Actions.Approve(r.Context(), r.PathValue("id"), p.Name())
	return a.batchResult(w, r, b, err, "approve")
}

func (a *API) rejectBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req reasonRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	b, err := a.d.Actions.Reject(r.Context(), r.PathValue("id"), p.Name(), req.Reason)
	return a.batchResult(w, r, b, err, "reject")
}

func (a *API) requestChanges(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req reasonRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	b, err := a.d.Actions.RequestChanges(r.Context(), r.PathValue("id"), p.Name(), req.Reason)
	return a.batchResult(w, r, b, err, "request changes to")
}

func (a *API) cancelBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req reasonRequest
	if err := a.decodeOptional(w, r, &req); err != nil {
		return err
	}
	reason := trim(req.Reason)
	if reason == "" {
		reason = "cancelled"
	}
	b, err := a.d.Actions.Cancel(r.Context(), r.PathValue("id"), p.Name()+": "+reason)
	return a.batchResult(w, r, b, err, "cancel")
}

func (a *API) resumeBatch(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if err := a.decodeOptional(w, r, &struct{}{}); err != nil {
		return err
	}
	b, err := a.d.Actions.Resume(r.Context(), r.PathValue("id"))
	return a.batchResult(w, r, b, err, "resume")
}

func (a *API) batchResult(w http.ResponseWriter, r *http.Request, b credbatch.Batch, err error, op string) error {
	if err != nil {
		return fmt.Errorf("%s batch: %w", op, err)
	}
	writeJSON(w, http.StatusOK, a.view(r.Context(), b))
	return nil
}

// revokeBatch revokes every issued credential of a batch.
func (a *API) revokeBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req reasonRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	revoked, b, err := a.d.Flow.RevokeBatch(r.Context(), r.PathValue("id"), p.Name(), req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"revoked": revoked, "batch": a.view(r.Context(), b)})
	return nil
}

// retryBatch issues again the rows of a batch that ended failed (idempotent).
func (a *API) retryBatch(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if err := a.decodeOptional(w, r, &struct{}{}); err != nil {
		return err
	}
	b, err := a.d.Actions.Retry(r.Context(), r.PathValue("id"))
	return a.batchResult(w, r, b, err, "retry")
}
