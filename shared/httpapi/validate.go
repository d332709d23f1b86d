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
// through exactly the pipeline a file does.
func (a *API) validateRowsInput(w http.ResponseWriter, r *http.Request, tmp string) (ingest.Input, error) {
	var req batchRequest
	if err := a.decode(w, r, &req); err != nil {
		return ingest.Input{}, err
	}
	order, err := ingest.ParseDateOrder(string(req.DateOrder))
	if err != nil {
		return ingest.Input{}, err
	}
	header, records := ingest.RecipientsTable(req.DefinitionID, req.Rows)
	path := filepath.Join(tmp, "rows.csv")
	f, err := os.Create(path)
	if err != nil {
		return ingest.Input{}, fmt.Errorf("spool rows: %w", err)
	}
	cw := csv.NewWriter(f)
	_ = cw.Write(header)
	_ = cw.WriteAll(records)
	if err := f.Close(); err != nil || cw.Error() != nil {
		return ingest.Input{}, fmt.Errorf("spool rows: %w", errors.Join(err, cw.Error()))
	}
	return ingest.Input{Path: path, Name: "rows.csv", Options: credbatch.Options{DefinitionID: req.DefinitionID, DateOrder: order}}, nil
}
