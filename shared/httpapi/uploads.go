package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
)

// MetadataPresigner is implemented by blob stores that can presign an upload carrying user
// metadata. S3 refuses x-amz-meta-* headers that the presigned URL did not sign, so on S3
// the metadata must be part of the signature; a store without this method gets a plain
// PresignPut (the directory store, which takes no headers).
type MetadataPresigner interface {
	PresignPutMetadata(ctx context.Context, key, contentType string, metadata map[string]string, ttl time.Duration) (string, error)
}

type uploadRequest struct {
	DefinitionID string                     `json:"definition_id"`
	Filename     string                     `json:"filename"`
	Label        string                     `json:"label,omitempty"`
	DateOrder    credbatch.DateOrder        `json:"date_order,omitempty"`
	Sheet        string                     `json:"sheet,omitempty"`
	Mapping      map[string]credbatch.Field `json:"mapping,omitempty"`
}

type uploadResponse struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Key       string            `json:"key"`
	Headers   map[string]string `json:"headers"` // send every one of them with the PUT
	ExpiresAt time.Time         `json:"expires_at"`
}

// uploadTypes are the accepted upload extensions and their content types.
var uploadTypes = map[string]string{
	".xlsx": ingest.ContentTypeXLSX,
	".csv":  "text/csv",
	".txt":  "text/plain",
}

// createUpload returns a presigned PUT URL under uploads/<definition-id>/ and the metadata
// headers that carry the upload's options to ingest.
func (a *API) createUpload(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req uploadRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	name, err := cleanFilename(req.Filename)
	if err != nil {
		return err
	}
	ctype, ok := uploadTypes[strings.ToLower(path.Ext(name))]
	if !ok {
		return credbatch.E(credbatch.KindInvalid, credbatch.CodeUnsupportedFormat,
			fmt.Sprintf("%q: upload an .xlsx, .csv or .txt file (save other spreadsheets as Excel Workbook .xlsx or CSV UTF-8)", name))
	}
	if req.DefinitionID == "" {
		return credbatch.E(credbatch.KindInvalid, "missing_definition", "name the definition the file is for (definition_id)")
	}
	def, err := a.d.Store.GetDefinition(r.Context(), req.DefinitionID, 0)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		return credbatch.E(credbatch.KindInvalid, credbatch.CodeUnknownDefinition, fmt.Sprintf("there is no definition %q", req.DefinitionID))
	}
	if err != nil {
		return fmt.Errorf("load definition %s: %w", req.DefinitionID, err)
	}
	if def.Archived {
		return credbatch.E(credbatch.KindConflict, "definition_archived", fmt.Sprintf("definition %q is archived", def.ID))
	}
	order, err := ingest.ParseDateOrder(string(req.DateOrder))
	if err != nil {
		return err
	}
	meta := map[string]string{ingest.MetaUploader: p.Name()}
	label := trim(req.Label)
	if err := credbatch.CheckLabel(label); err != nil {
		return err
	}
	if label == "" {
		label = name
	}
	meta[ingest.MetaLabel] = label
	if order != credbatch.DateOrderAuto {
		meta[ingest.MetaDateOrder] = string(order)
	}
	if req.Sheet != "" {
		meta[ingest.MetaSheet] = req.Sheet
	}
	if len(req.Mapping) > 0 {
		m, _ := json.Marshal(req.Mapping)
		meta[ingest.MetaMapping] = string(m)
	}
	for k, v := range meta {
		if !headerSafe(v) {
			return credbatch.E(credbatch.KindInvalid, "invalid_metadata",
				fmt.Sprintf("%s: use printable ASCII only (it travels as an HTTP header)", k))
		}
	}
	key := ingest.UploadsPrefix + def.ID + "/" + a.d.IDs() + "-" + name
	var url string
	if mp, ok := a.d.Blob.(MetadataPresigner); ok {
		url, err = mp.PresignPutMetadata(r.Context(), key, ctype, meta, a.d.UploadTTL)
	} else {
		url, err = a.d.Blob.PresignPut(r.Context(), key, ctype, a.d.UploadTTL)
	}
	if err != nil {
		return fmt.Errorf("presign upload %s: %w", key, err)
	}
	headers := map[string]string{"Content-Type": ctype}
	for k, v := range meta {
		headers["x-amz-meta-"+k] = v
	}
	writeJSON(w, http.StatusCreated, uploadResponse{URL: url, Method: http.MethodPut, Key: key, Headers: headers,
		ExpiresAt: a.now().Add(a.d.UploadTTL)})
	return nil
}

// cleanFilename keeps the base name of an upload and refuses names that cannot be a key.
func cleanFilename(s string) (string, error) {
	s = trim(s)
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	bad := s == "" || s == "." || s == ".." || len(s) > 200
	for _, r := range s {
		if unicode.IsControl(r) {
			bad = true
		}
	}
	if bad {
		return "", credbatch.E(credbatch.KindInvalid, "invalid_filename", "give the file's name (up to 200 characters, no control characters)")
	}
	return s, nil
}

func headerSafe(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
}
