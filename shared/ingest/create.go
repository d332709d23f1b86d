package ingest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/validate"
)

// Recipient is one row of a batch given as JSON (the API's POST /api/batches, the
// console's manual entry form).
type Recipient struct {
	DefinitionID string            `json:"definition_id,omitempty"` // overrides the batch's, for mixed batches
	FirstName    string            `json:"first_name"`
	LastName     string            `json:"last_name"`
	Email        string            `json:"email"`
	IssueDate    string            `json:"issue_date,omitempty"`
	Expiry       string            `json:"expiry,omitempty"` // a date or a duration
	Locale       string            `json:"locale,omitempty"` // the email's language (credbatch.Locales; "" = the definition's or the deployment's)
	Attributes   map[string]string `json:"attributes,omitempty"`
}

// NewBatch is a batch given as recipients rather than a file.
type NewBatch struct {
	IdempotencyKey string // "" = a new batch every time; else the same key gives the same batch
	Uploader       string // who creates it (four-eyes approval compares it)
	Label          string // "" = "<Via> batch <date>"
	Via            string // what created it, for the default label ("API", "Manual entry")
	DefinitionID   string
	DateOrder      credbatch.DateOrder
	Recipients     []Recipient
}

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 255

// CreateBatch validates and stores a batch of recipients exactly as a file's rows are read.
// With an idempotency key the batch id is derived from it, so a repeated request returns
// the batch it created first (existing = true). Errors: KindInvalid (missing_definition,
// empty_file, too_many_rows, invalid_idempotency_key, or the file-level code of columns the
// definitions cannot take, with the finding in Details); KindConflict when another caller
// used the key.
func (s *Service) CreateBatch(ctx context.Context, nb NewBatch) (b credbatch.Batch, existing bool, err error) {
	key := strings.TrimSpace(nb.IdempotencyKey)
	if len(key) > MaxIdempotencyKey {
		return b, false, credbatch.E(credbatch.KindInvalid, "invalid_idempotency_key", "the Idempotency-Key is longer than 255 characters")
	}
	src := credbatch.Source{IdempotencyKey: key}
	id := "b_" + s.newID()
	if key != "" {
		id = credbatch.BatchIDFor(src)
		found, err := s.Store.GetBatch(ctx, id)
		if err == nil && found.Uploader != nb.Uploader {
			return b, false, credbatch.E(credbatch.KindConflict, "idempotency_key_reused", "this Idempotency-Key was used by another caller; use a new key")
		}
		if err == nil && found.Status != credbatch.BatchReceived {
			return found, true, nil
		}
		// A batch still in received was left part way by a request that stopped: the retry
		// carries on below (IngestRows resumes it once its lease has expired).
		if err != nil && !credbatch.IsKind(err, credbatch.KindNotFound) {
			return b, false, fmt.Errorf("load batch %s: %w", id, err)
		}
	}
	if nb.DefinitionID == "" {
		for _, row := range nb.Recipients {
			if row.DefinitionID == "" {
				return b, false, credbatch.E(credbatch.KindInvalid, "missing_definition", "name the definition (definition_id) for the batch or for every row")
			}
		}
	}
	if len(nb.Recipients) == 0 {
		return b, false, credbatch.E(credbatch.KindInvalid, credbatch.CodeEmptyFile, "the request has no rows; send at least one recipient in rows")
	}
	if s.Limits.MaxRows > 0 && len(nb.Recipients) > s.Limits.MaxRows {
		return b, false, credbatch.E(credbatch.KindInvalid, credbatch.CodeTooManyRows,
			fmt.Sprintf("the request has %d rows; at most %d are accepted at once", len(nb.Recipients), s.Limits.MaxRows))
	}
	order, err := ParseDateOrder(string(nb.DateOrder))
	if err != nil {
		return b, false, err
	}
	label := strings.TrimSpace(nb.Label)
	if err := credbatch.CheckLabel(label); err != nil {
		return b, false, err
	}
	if label == "" {
		via := nb.Via
		if via == "" {
			via = "API"
		}
		label = via + " batch " + s.now().Format("2006-01-02 15:04")
	}
	opts := credbatch.Options{DefinitionID: nb.DefinitionID, DateOrder: order}
	header, records := RecipientsTable(nb.DefinitionID, nb.Recipients)
	if err := s.CheckHeader(ctx, header, opts); err != nil {
		return b, false, err
	}
	b = credbatch.Batch{ID: id, Label: label, Source: src, Uploader: nb.Uploader, Format: "json", Options: opts}
	if b, err = s.IngestRows(ctx, b, header, records); err != nil {
		return b, false, fmt.Errorf("create batch %s: %w", id, err)
	}
	return b, false, nil
}

func (s *Service) newID() string {
	if s.IDs != nil {
		return s.IDs()
	}
	return strings.ToLower(rand.Text())
}

// ParseDateOrder reads a date order ("", DMY or MDY, any case); KindInvalid otherwise.
func ParseDateOrder(o string) (credbatch.DateOrder, error) {
	switch v := credbatch.DateOrder(strings.ToUpper(strings.TrimSpace(o))); v {
	case credbatch.DateOrderAuto, credbatch.DateOrderDMY, credbatch.DateOrderMDY:
		return v, nil
	}
	return "", credbatch.E(credbatch.KindInvalid, "invalid_date_order", fmt.Sprintf("date order %q: use DMY or MDY, or leave it out", o))
}

// CheckHeader refuses, before anything is stored, columns the definitions cannot take
// (unknown definition, a required attribute missing from every row): the error is
// KindInvalid with the file-level code and the finding in Details.
func (s *Service) CheckHeader(ctx context.Context, header []string, opts credbatch.Options) error {
	defs, err := credbatch.ActiveDefinitions(ctx, s.Store)
	if err != nil {
		return err
	}
	_, err = validate.New(validate.Config{Definitions: defs, Options: opts, Today: s.now().Format("2006-01-02")}, header, 1)
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

// RecipientsTable turns recipients into a header and records as a file would hold them: the
// built-in columns under their canonical headers, then one column per attribute name in
// order of first appearance, and an ID column first when a row names its own definition.
func RecipientsTable(defID string, rows []Recipient) ([]string, [][]string) {
	cols := NewRecipientColumns(defID)
	for _, r := range rows {
		cols.Add(r)
	}
	header := cols.Header()
	records := make([][]string, len(rows))
	for i, r := range rows {
		records[i] = cols.Record(r)
	}
	return header, records
}

// RecipientColumns is RecipientsTable one recipient at a time, for rows streamed from a
// request: Add every recipient (a first pass), then Header, then Record each one (a second
// pass). Memory holds the attribute names, not the rows.
type RecipientColumns struct {
	defID   string
	mixed   bool
	locales bool
	attrs   []string
	seen    map[string]bool
}

// NewRecipientColumns starts the columns of recipients whose batch names defID.
func NewRecipientColumns(defID string) *RecipientColumns {
	return &RecipientColumns{defID: defID, seen: map[string]bool{}}
}

// Add takes one recipient's definition and attribute names into the header.
func (c *RecipientColumns) Add(r Recipient) {
	if r.DefinitionID != "" && r.DefinitionID != c.defID {
		c.mixed = true
	}
	if r.Locale != "" {
		c.locales = true
	}
	names := make([]string, 0, len(r.Attributes))
	for n := range r.Attributes {
		if !c.seen[n] {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		c.seen[n] = true
		c.attrs = append(c.attrs, n)
	}
}

// Columns is the number of columns of Header.
func (c *RecipientColumns) Columns() int { return len(c.fixed()) + len(c.attrs) }

func (c *RecipientColumns) fixed() []string {
	builtin := func(f credbatch.Field) string { b, _ := credbatch.Builtin(f); return b.Header }
	var h []string
	if c.mixed {
		h = append(h, builtin(credbatch.FieldDefinition))
	}
	h = append(h, builtin(credbatch.FieldFirstName), builtin(credbatch.FieldLastName), builtin(credbatch.FieldEmail),
		builtin(credbatch.FieldIssueDate), builtin(credbatch.FieldExpiry))
	if c.locales {
		h = append(h, builtin(credbatch.FieldLocale))
	}
	return h
}

// Header is the header row: the built-in columns (with the definition column first when rows
// name other definitions, the locale column when a row has one), then every attribute name in the order first seen.
func (c *RecipientColumns) Header() []string { return append(c.fixed(), c.attrs...) }

// Record is one recipient's record under Header.
func (c *RecipientColumns) Record(r Recipient) []string {
	rec := make([]string, 0, 7+len(c.attrs))
	if c.mixed {
		id := r.DefinitionID
		if id == "" {
			id = c.defID
		}
		rec = append(rec, id)
	}
	rec = append(rec, r.FirstName, r.LastName, r.Email, r.IssueDate, r.Expiry)
	if c.locales {
		rec = append(rec, r.Locale)
	}
	for _, n := range c.attrs {
		rec = append(rec, r.Attributes[n])
	}
	return rec
}
