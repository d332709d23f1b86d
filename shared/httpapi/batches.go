package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/validate"
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

// rowInput is one recipient of POST /api/batches.
type rowInput struct {
	DefinitionID string            `json:"definition_id,omitempty"` // overrides the batch's, for mixed batches
	FirstName    string            `json:"first_name"`
	LastName     string            `json:"last_name"`
	Email        string            `json:"email"`
	IssueDate    string            `json:"issue_date,omitempty"`
	Expiry       string            `json:"expiry,omitempty"` // a date or a duration
	Attributes   map[string]string `json:"attributes,omitempty"`
}

type batchRequest struct {
	DefinitionID string              `json:"definition_id"`
	Label        string              `json:"label,omitempty"`
	DateOrder    credbatch.DateOrder `json:"date_order,omitempty"`
	Rows         []rowInput          `json:"rows"`
	Submit       bool                `json:"submit,omitempty"`
}

// rowsTable turns JSON rows into a header and records as a file would hold them: the
// built-in columns under their canonical headers, then one column per attribute name in
// order of first appearance, and an ID column first when a row names its own definition.
func rowsTable(defID string, rows []rowInput) ([]string, [][]string) {
	header := []string{}
	mixed := false
	for _, r := range rows {
		if r.DefinitionID != "" && r.DefinitionID != defID {
			mixed = true
		}
	}
	builtin := func(f credbatch.Field) string { b, _ := credbatch.Builtin(f); return b.Header }
	if mixed {
		header = append(header, builtin(credbatch.FieldDefinition))
	}
	header = append(header, builtin(credbatch.FieldFirstName), builtin(credbatch.FieldLastName), builtin(credbatch.FieldEmail),
		builtin(credbatch.FieldIssueDate), builtin(credbatch.FieldExpiry))
	fixed := len(header)
	var attrs []string
	for _, r := range rows {
		names := make([]string, 0, len(r.Attributes))
		for n := range r.Attributes {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			if !slices.Contains(attrs, n) {
				attrs = append(attrs, n)
			}
		}
	}
	header = append(header, attrs...)
	records := make([][]string, len(rows))
	for i, r := range rows {
		rec := make([]string, 0, len(header))
		if mixed {
			id := r.DefinitionID
			if id == "" {
				id = defID
			}
			rec = append(rec, id)
		}
		rec = append(rec, r.FirstName, r.LastName, r.Email, r.IssueDate, r.Expiry)
		for _, n := range header[fixed:] {
			rec = append(rec, r.Attributes[n])
		}
		records[i] = rec
	}
	return header, records
}

// createBatch creates a batch from JSON rows. With an Idempotency-Key header the batch id is
// derived from the key, so a repeated request answers 200 with the batch it created first.
func (a *API) createBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req batchRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	key := trim(r.Header.Get("Idempotency-Key"))
	if len(key) > 255 {
		return credbatch.E(credbatch.KindInvalid, "invalid_idempotency_key", "the Idempotency-Key header is longer than 255 characters")
	}
	src := credbatch.Source{IdempotencyKey: key}
	id := "b_" + a.d.IDs()
	if key != "" {
		id = credbatch.BatchIDFor(src)
		existing, err := a.d.Store.GetBatch(ctx, id)
		if err == nil {
			if existing.Uploader != p.Name() {
				return credbatch.E(credbatch.KindConflict, "idempotency_key_reused", "this Idempotency-Key was used by another caller; use a new key")
			}
			writeJSON(w, http.StatusOK, a.view(r.Context(), existing))
			return nil
		}
		if !credbatch.IsKind(err, credbatch.KindNotFound) {
			return fmt.Errorf("load batch %s: %w", id, err)
		}
	}
	if req.DefinitionID == "" {
		for _, row := range req.Rows {
			if row.DefinitionID == "" {
				return credbatch.E(credbatch.KindInvalid, "missing_definition", "name the definition (definition_id) for the batch or for every row")
			}
		}
	}
	if len(req.Rows) == 0 {
		return credbatch.E(credbatch.KindInvalid, credbatch.CodeEmptyFile, "the request has no rows; send at least one recipient in rows")
	}
	if a.d.Limits.MaxRows > 0 && len(req.Rows) > a.d.Limits.MaxRows {
		return credbatch.E(credbatch.KindInvalid, credbatch.CodeTooManyRows,
			fmt.Sprintf("the request has %d rows; at most %d are accepted at once", len(req.Rows), a.d.Limits.MaxRows))
	}
	order, err := dateOrder(req.DateOrder)
	if err != nil {
		return err
	}
	label := trim(req.Label)
	if label == "" {
		label = "API batch " + a.now().Format("2006-01-02 15:04")
	}
	header, records := rowsTable(req.DefinitionID, req.Rows)
	if err := a.checkHeader(ctx, header, credbatch.Options{DefinitionID: req.DefinitionID, DateOrder: order}); err != nil {
		return err
	}
	b := credbatch.Batch{ID: id, Label: label, Source: src, Uploader: p.Name(), Format: "json",
		Options: credbatch.Options{DefinitionID: req.DefinitionID, DateOrder: order}}
	b, err = a.ingest.IngestRows(ctx, b, header, records)
	if err != nil {
		return fmt.Errorf("create batch %s: %w", id, err)
	}
	if req.Submit && b.Status == credbatch.BatchParsed {
		if b, err = a.d.Actions.Submit(ctx, b.ID, false); err != nil {
			return fmt.Errorf("submit batch %s: %w", id, err)
		}
	}
	w.Header().Set("Location", "/api/batches/"+b.ID)
	writeJSON(w, http.StatusCreated, a.view(r.Context(), b))
	return nil
}

// checkHeader refuses, before anything is stored, rows whose columns the definitions cannot
// take (unknown definition, a required attribute missing from every row): the error is
// KindInvalid with the file-level code and the finding in details.
func (a *API) checkHeader(ctx context.Context, header []string, opts credbatch.Options) error {
	defs, err := credbatch.ActiveDefinitions(ctx, a.d.Store)
	if err != nil {
		return err
	}
	_, err = validate.New(validate.Config{Definitions: defs, Options: opts, Today: a.now().Format("2006-01-02")}, header, 1)
	var e *credbatch.Error
	if err != nil && errors.As(err, &e) && e.Kind == credbatch.KindInvalid {
		return &credbatch.Error{Kind: credbatch.KindInvalid, Code: e.Code, Message: e.Message, Err: err,
			Details: []credbatch.Finding{{Row: 1, Code: e.Code, Message: e.Message, Severity: credbatch.SeverityError}}}
	}
	if err != nil {
		return fmt.Errorf("check columns: %w", err)
	}
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
	ctx := r.Context()
	id := r.PathValue("id")
	number, err := strconv.Atoi(r.PathValue("row"))
	if err != nil || number < 2 {
		return credbatch.E(credbatch.KindInvalid, "invalid_row", "the row is its spreadsheet row number (2 or more)")
	}
	var req amendRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if len(req.Values) == 0 {
		return credbatch.E(credbatch.KindInvalid, "missing_values", `send the cells to change: {"values": {"<column header>": "<new value>"}}`)
	}
	b, err := a.d.Store.GetBatch(ctx, id)
	if err != nil {
		return fmt.Errorf("load batch %s: %w", id, err)
	}
	if b.Status != credbatch.BatchParsed && b.Status != credbatch.BatchRejected {
		return credbatch.E(credbatch.KindConflict, "batch_not_amendable",
			fmt.Sprintf("batch %s is %s; rows can be changed only while a batch is parsed or rejected", id, b.Status))
	}
	old, err := a.d.Store.GetRow(ctx, id, number)
	if err != nil {
		return fmt.Errorf("load row %d of %s: %w", number, id, err)
	}
	if old.Status != credbatch.RowValid && old.Status != credbatch.RowInvalid {
		return credbatch.E(credbatch.KindConflict, "row_not_amendable", fmt.Sprintf("row %d is %s and can no longer be changed", number, old.Status))
	}
	headers := make([]string, len(b.Columns))
	mapping := make(map[string]credbatch.Field, len(b.Columns))
	for i, c := range b.Columns {
		headers[i] = c.Header
		mapping[c.Header] = c.Field
		if c.Field == "" {
			mapping[c.Header] = credbatch.FieldSkip
		}
	}
	cells := make([]string, len(headers))
	copy(cells, old.Cells)
	var unknown []string
	for h, v := range req.Values {
		i := slices.Index(headers, h)
		if i < 0 {
			unknown = append(unknown, h)
			continue
		}
		cells[i] = v
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return &credbatch.Error{Kind: credbatch.KindInvalid, Code: "unknown_columns",
			Message: fmt.Sprintf("the batch has no column %s; use the headers as in the batch (%s)", strings.Join(quote(unknown), ", "), strings.Join(quote(headers), ", ")),
			Details: unknown}
	}
	defs, err := a.batchDefinitions(ctx, b)
	if err != nil {
		return err
	}
	opts := b.Options
	opts.Mapping = mapping
	v, err := validate.New(validate.Config{Definitions: defs, Options: opts, Today: b.CreatedAt.Format("2006-01-02")}, headers, 1)
	if err != nil {
		return fmt.Errorf("rebuild validator of %s: %w", id, err)
	}
	next := v.Row(number, cells)
	next.BatchID, next.UpdatedAt, next.CredentialID = id, a.now(), old.CredentialID
	rows := []credbatch.Row{next}
	if err := validate.CheckRecipients(ctx, rows, defs, ingest.StoreLookup{Store: a.d.Store}); err != nil {
		return fmt.Errorf("check recipient of row %d: %w", number, err)
	}
	next = rows[0]
	saved, err := a.d.Store.UpdateRow(ctx, next, old.Status)
	if err != nil {
		return fmt.Errorf("update row %d of %s: %w", number, id, err)
	}
	var delta credbatch.Counts
	if old.Status != saved.Status {
		if saved.Status == credbatch.RowValid {
			delta.Valid, delta.Invalid = 1, -1
		} else {
			delta.Valid, delta.Invalid = -1, 1
		}
		if err := a.d.Store.AddCounts(ctx, id, delta); err != nil {
			return fmt.Errorf("count row %d of %s: %w", number, id, err)
		}
	}
	if b, err = a.d.Store.GetBatch(ctx, id); err != nil {
		return fmt.Errorf("load batch %s: %w", id, err)
	}
	switch {
	case b.Status == credbatch.BatchRejected && b.Counts.Invalid == 0 && b.Counts.Valid > 0:
		b, err = a.d.Store.TransitionBatch(ctx, id, credbatch.BatchRejected, credbatch.BatchParsed, credbatch.BatchChange{Reason: new(string)})
		if err != nil {
			return fmt.Errorf("batch %s back to parsed: %w", id, err)
		}
	case b.Status == credbatch.BatchParsed && b.Counts.Invalid > 0:
		b, err = a.d.Store.TransitionBatch(ctx, id, credbatch.BatchParsed, credbatch.BatchRejected, credbatch.BatchChange{})
		if err != nil {
			return fmt.Errorf("batch %s to rejected: %w", id, err)
		}
	}
	if b.Counts.Invalid > 0 {
		// Keep the error report in step with the rows.
		if _, err := a.ingest.WriteReport(ctx, b); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"row": saved, "batch": a.view(r.Context(), b)})
	return nil
}

func quote(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// batchDefinitions loads the definitions a batch was validated against, at those versions,
// plus the batch's own definition (latest) when no row named it yet.
func (a *API) batchDefinitions(ctx context.Context, b credbatch.Batch) (map[string]credbatch.Definition, error) {
	defs := map[string]credbatch.Definition{}
	for id, ver := range b.Definitions {
		d, err := a.d.Store.GetDefinition(ctx, id, ver)
		if err != nil {
			return nil, fmt.Errorf("load definition %s v%d: %w", id, ver, err)
		}
		defs[id] = d
	}
	if id := b.Options.DefinitionID; id != "" {
		if _, ok := defs[id]; !ok {
			d, err := a.d.Store.GetDefinition(ctx, id, 0)
			if err != nil && !credbatch.IsKind(err, credbatch.KindNotFound) {
				return nil, fmt.Errorf("load definition %s: %w", id, err)
			}
			if err == nil {
				defs[id] = d
			}
		}
	}
	return defs, nil
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
	ctx := r.Context()
	id := r.PathValue("id")
	var req reasonRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if trim(req.Reason) == "" {
		return missingReason()
	}
	if _, err := a.d.Store.GetBatch(ctx, id); err != nil {
		return fmt.Errorf("load batch %s: %w", id, err)
	}
	revoked := 0
	for c, err := range credbatch.BatchCredentials(ctx, a.d.Store, id) {
		if err != nil {
			return fmt.Errorf("list credentials of %s: %w", id, err)
		}
		if c.Status != credbatch.CredentialIssued {
			continue
		}
		if _, err := a.revoke(ctx, c, p.Name()+": "+trim(req.Reason)); err != nil {
			if credbatch.IsKind(err, credbatch.KindConflict) {
				continue // revoked meanwhile
			}
			return err
		}
		revoked++
	}
	b, err := a.d.Store.GetBatch(ctx, id)
	if err != nil {
		return fmt.Errorf("load batch %s: %w", id, err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"revoked": revoked, "batch": a.view(r.Context(), b)})
	return nil
}
