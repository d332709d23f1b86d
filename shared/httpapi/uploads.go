package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

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

// createUpload returns a presigned PUT URL under uploads/<definition-id>/ and the metadata
// headers that carry the upload's options to ingest.
func (a *API) createUpload(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req uploadRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if req.DefinitionID == "" {
		return credbatch.E(credbatch.KindInvalid, "missing_definition", "name the definition the file is for (definition_id)")
	}
	var mapping map[string]credbatch.Field
	if len(req.Mapping) > 0 {
		mapping = req.Mapping
	}
	up, err := a.ingest.PrepareUpload(r.Context(), ingest.Upload{Filename: req.Filename, DefinitionID: req.DefinitionID, Uploader: p.Name(),
		Label: req.Label, DateOrder: string(req.DateOrder), Sheet: req.Sheet, Mapping: mapping}, a.d.IDs())
	if err != nil {
		return err
	}
	key, ctype, meta := up.Key, up.ContentType, up.Metadata
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
