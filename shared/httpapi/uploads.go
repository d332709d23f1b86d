package httpapi

import (
	"net/http"
	"time"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
)

type uploadRequest struct {
	DefinitionID string                     `json:"definition_id"`
	Filename     string                     `json:"filename"`
	Label        string                     `json:"label,omitempty"`
	DateOrder    credbatch.DateOrder        `json:"date_order,omitempty"`
	Sheet        string                     `json:"sheet,omitempty"`
	Mapping      map[string]credbatch.Field `json:"mapping,omitempty"`
	Size         int64                      `json:"size,omitempty"` // bytes: the URL then takes exactly this size
	Key          string                     `json:"key,omitempty"`  // sign this earlier upload again (after its evidence zip)
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
	u := ingest.Upload{Filename: req.Filename, DefinitionID: req.DefinitionID, Uploader: p.Name(),
		Label: req.Label, DateOrder: string(req.DateOrder), Sheet: req.Sheet, Mapping: mapping, Size: req.Size}
	var up ingest.Presigned
	var err error
	if req.Key != "" {
		up, err = a.ingest.RenewUpload(r.Context(), u, req.Key, a.d.UploadTTL)
	} else {
		up, err = a.ingest.PresignUpload(r.Context(), u, a.d.IDs(), a.d.UploadTTL)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, uploadResponse{URL: up.URL, Method: http.MethodPut, Key: up.Key, Headers: up.Headers,
		ExpiresAt: up.ExpiresAt})
	return nil
}

type evidenceZipRequest struct {
	Key  string `json:"key"`            // the spreadsheet's, as POST /api/uploads returned it
	Size int64  `json:"size,omitempty"` // bytes: the URL then takes exactly this size
}

// createEvidenceZipUpload returns a presigned PUT URL for the evidence zip of a spreadsheet
// upload (its key plus .zip): before the spreadsheet is uploaded (best), or after it while
// its batch is in review.
func (a *API) createEvidenceZipUpload(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req evidenceZipRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	up, err := a.ingest.PresignEvidenceZip(r.Context(), req.Key, p.Name(), req.Size, a.d.UploadTTL)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, uploadResponse{URL: up.URL, Method: http.MethodPut, Key: up.Key, Headers: up.Headers,
		ExpiresAt: up.ExpiresAt})
	return nil
}
