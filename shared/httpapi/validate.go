package httpapi

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/validate"
)

// validate is a dry run: a file (multipart field "file") or JSON rows go through the same
// pipeline as an upload, with the store only read (definitions, already_issued,
// suppressions). The answer is the CLI's validate document (ingest.Result).
func (a *API) validate(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	ctx := r.Context()
	tmp, err := os.MkdirTemp(a.d.TmpDir, "validate-*")
	if err != nil {
		return fmt.Errorf("validate: temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	var in ingest.Input
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "multipart/form-data":
		in, err = a.validateFileInput(w, r, tmp)
	default:
		in, err = a.validateRowsInput(w, r, tmp)
	}
	if err != nil {
		return err
	}
	defs, err := credbatch.ActiveDefinitions(ctx, a.d.Store)
	if err != nil {
		return err
	}
	in.Definitions, in.Limits, in.TmpDir = defs, a.d.Limits, tmp
	in.Today = a.now().Format(time.DateOnly)
	lookup := ingest.StoreLookup{Store: a.d.Store}
	doc, err := ingest.Validate(ctx, in, func(ctx context.Context, rows []credbatch.Row) error {
		return validate.CheckRecipients(ctx, rows, defs, lookup)
	}, nil)
	if err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	defer doc.Close()
	// The findings are streamed from disk: memory does not grow with them.
	jsonHeader(w, http.StatusOK)
	if err := doc.WriteJSON(w, false, ""); err != nil {
		a.d.Log.Warn("validate: write the document", "err", err)
	}
	return nil
}

// validateFileInput spools the multipart file to disk and reads the option fields.
func (a *API) validateFileInput(w http.ResponseWriter, r *http.Request, tmp string) (ingest.Input, error) {
	var in ingest.Input
	limit := a.d.Limits.MaxFileBytes
	if limit <= 0 {
		limit = 100 << 20
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return in, credbatch.E(credbatch.KindInvalid, "invalid_multipart", "the multipart body could not be read")
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit+1<<20)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return in, credbatch.FileError(credbatch.CodeFileTooLarge, fmt.Sprintf("the file is over %d bytes", limit))
			}
			return in, credbatch.E(credbatch.KindInvalid, "invalid_multipart", "the multipart body could not be read")
		}
		switch part.FormName() {
		case "file":
			name, err := ingest.CleanFilename(part.FileName())
			if err != nil {
				return in, err
			}
			path := filepath.Join(tmp, "upload"+filepath.Ext(name))
			f, err := os.Create(path)
			if err != nil {
				return in, fmt.Errorf("spool upload: %w", err)
			}
			n, err := io.Copy(f, io.LimitReader(part, limit+1))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					return in, credbatch.FileError(credbatch.CodeFileTooLarge, fmt.Sprintf("the file is over %d bytes", limit))
				}
				return in, credbatch.E(credbatch.KindInvalid, "invalid_multipart", "the uploaded file could not be read")
			}
			if n > limit {
				return in, credbatch.FileError(credbatch.CodeFileTooLarge, fmt.Sprintf("the file is over %d bytes", limit))
			}
			in.Path, in.Name = path, name
		case "definition_id", "date_order", "mapping", "sheet":
			v, err := io.ReadAll(io.LimitReader(part, 64<<10))
			if err != nil {
				return in, credbatch.E(credbatch.KindInvalid, "invalid_multipart", "the multipart body could not be read")
			}
			if err := setOption(&in.Options, part.FormName(), string(v)); err != nil {
				return in, err
			}
		}
	}
	if in.Path == "" {
		return in, credbatch.E(credbatch.KindInvalid, "missing_file", `send the spreadsheet in the multipart field "file"`)
	}
	return in, nil
}

func setOption(o *credbatch.Options, name, v string) error {
	switch name {
	case "definition_id":
		o.DefinitionID = trim(v)
	case "sheet":
		o.Sheet = v
	case "date_order":
		order, err := ingest.ParseDateOrder(v)
		if err != nil {
			return err
		}
		o.DateOrder = order
	case "mapping":
		if trim(v) == "" {
			return nil
		}
		if err := json.Unmarshal([]byte(v), &o.Mapping); err != nil {
			return credbatch.E(credbatch.KindInvalid, validate.CodeInvalidMapping, `mapping must be a JSON object of "header as written": "field"`)
		}
	}
	return nil
}

// validateRowsInput writes JSON rows (the POST /api/batches body) as a CSV file, so they go
// through exactly the pipeline a file does. The body is spooled to disk and read twice, one
// row at a time (the attribute names for the header, then the records), so memory does not
// grow with it; more rows than a batch accepts are refused with too_many_rows, as batches
// are, more columns (with the attribute names) than a file may have with too_many_columns.
func (a *API) validateRowsInput(w http.ResponseWriter, r *http.Request, tmp string) (ingest.Input, error) {
	body, err := a.spoolBody(w, r, filepath.Join(tmp, "body.json"))
	if err != nil {
		return ingest.Input{}, err
	}
	defer body.Close()
	var cols *ingest.RecipientColumns
	n := 0
	req, err := streamBatchRequest(body, func(req batchRequest, rec ingest.Recipient) error {
		if cols == nil {
			cols = ingest.NewRecipientColumns(req.DefinitionID)
		}
		if n++; a.d.Limits.MaxRows > 0 && n > a.d.Limits.MaxRows {
			return credbatch.E(credbatch.KindInvalid, credbatch.CodeTooManyRows,
				fmt.Sprintf("the request has more than %d rows; at most %d are accepted at once", a.d.Limits.MaxRows, a.d.Limits.MaxRows))
		}
		cols.Add(rec)
		if a.d.Limits.MaxColumns > 0 && cols.Columns() > a.d.Limits.MaxColumns {
			return credbatch.E(credbatch.KindInvalid, credbatch.CodeTooManyColumns,
				fmt.Sprintf("the rows make %d columns with their attributes; at most %d are accepted", cols.Columns(), a.d.Limits.MaxColumns))
		}
		return nil
	})
	if err != nil {
		return ingest.Input{}, err
	}
	order, err := ingest.ParseDateOrder(string(req.DateOrder))
	if err != nil {
		return ingest.Input{}, err
	}
	if cols == nil {
		cols = ingest.NewRecipientColumns(req.DefinitionID)
	}
	path := filepath.Join(tmp, "rows.csv")
	f, err := os.Create(path)
	if err != nil {
		return ingest.Input{}, fmt.Errorf("spool rows: %w", err)
	}
	defer f.Close()
	cw := csv.NewWriter(f)
	_ = cw.Write(cols.Header())
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return ingest.Input{}, fmt.Errorf("spool rows: %w", err)
	}
	if _, err := streamBatchRequest(body, func(_ batchRequest, rec ingest.Recipient) error {
		return cw.Write(cols.Record(rec))
	}); err != nil {
		return ingest.Input{}, err
	}
	cw.Flush()
	if err := errors.Join(cw.Error(), f.Close()); err != nil {
		return ingest.Input{}, fmt.Errorf("spool rows: %w", err)
	}
	return ingest.Input{Path: path, Name: "rows.csv", Options: credbatch.Options{DefinitionID: req.DefinitionID, DateOrder: order}}, nil
}

// spoolBody copies the request body (at most MaxBodyBytes) to a file at path, opened for
// reading from the start.
func (a *API) spoolBody(w http.ResponseWriter, r *http.Request, path string) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("spool body: %w", err)
	}
	_, err = io.Copy(f, http.MaxBytesReader(w, r.Body, a.d.MaxBodyBytes))
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, credbatch.E(credbatch.KindInvalid, "body_too_large", fmt.Sprintf("the request body is over %d bytes", tooBig.Limit))
		}
		return nil, credbatch.E(credbatch.KindInvalid, "invalid_body", "the request body could not be read")
	}
	return f, nil
}

// streamBatchRequest reads a batch request (batchRequest's JSON) from r with the rows one at
// a time: each is given to row with the fields read before it, and the fields are returned
// (Rows empty). It is as strict as decode: unknown fields, a body that is not one JSON
// object, or rows that are not an array are invalid_json.
func streamBatchRequest(r io.Reader, row func(batchRequest, ingest.Recipient) error) (batchRequest, error) {
	var req batchRequest
	invalid := func(msg string) error {
		return credbatch.E(credbatch.KindInvalid, "invalid_json", "the request body is not valid JSON for this endpoint: "+msg)
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return req, credbatch.E(credbatch.KindInvalid, "invalid_json", "the request needs a JSON body")
	}
	if err != nil || tok != json.Delim('{') {
		return req, invalid("the body is not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return req, invalid(err.Error())
		}
		key, _ := tok.(string)
		var field any
		switch strings.ToLower(key) { // encoding/json matches field names case-insensitively
		case "definition_id":
			field = &req.DefinitionID
		case "label":
			field = &req.Label
		case "date_order":
			field = &req.DateOrder
		case "submit":
			field = &req.Submit
		case "rows":
			if err := streamRows(dec, func(rec ingest.Recipient) error { return row(req, rec) }); err != nil {
				return req, err
			}
			continue
		default:
			return req, invalid(fmt.Sprintf("json: unknown field %q", key))
		}
		if err := dec.Decode(field); err != nil {
			return req, invalid(err.Error())
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return req, invalid(err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, credbatch.E(credbatch.KindInvalid, "invalid_json", "the request body holds more than one JSON value")
	}
	return req, nil
}

// streamRows reads the rows array (or null) one recipient at a time.
func streamRows(dec *json.Decoder, row func(ingest.Recipient) error) error {
	invalid := func(msg string) error {
		return credbatch.E(credbatch.KindInvalid, "invalid_json", "the request body is not valid JSON for this endpoint: rows: "+msg)
	}
	tok, err := dec.Token()
	if err != nil {
		return invalid(err.Error())
	}
	if tok == nil {
		return nil
	}
	if tok != json.Delim('[') {
		return invalid("rows must be an array of recipients")
	}
	for dec.More() {
		var rec ingest.Recipient
		if err := dec.Decode(&rec); err != nil {
			return invalid(err.Error())
		}
		if err := row(rec); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return invalid(err.Error())
	}
	return nil
}
