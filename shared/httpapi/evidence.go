package httpapi

import (
	"mime"
	"net/http"
	"strconv"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
)

// rowNumber reads the {row} path value.
func rowNumber(r *http.Request) (int, error) {
	n, err := strconv.Atoi(r.PathValue("row"))
	if err != nil || n < 2 {
		return 0, credbatch.E(credbatch.KindInvalid, "invalid_row", "the row is its spreadsheet row number (2 or more)")
	}
	return n, nil
}

// evidenceFileName is the name an upload gives its file: ?name=, else the filename of a
// Content-Disposition header.
func evidenceFileName(r *http.Request) string {
	if n := r.URL.Query().Get("name"); n != "" {
		return n
	}
	if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Disposition")); err == nil {
		return params["filename"]
	}
	return ""
}

// attachEvidence serves PUT /api/batches/{id}/rows/{row}/evidence: the body is the file
// (ingest.Service.AttachEvidence). On AWS a request carries at most 6 MB, so larger files go
// through POST .../evidence/upload and .../evidence/confirm.
func (a *API) attachEvidence(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	n, err := rowNumber(r)
	if err != nil {
		return err
	}
	body := http.MaxBytesReader(w, r.Body, credbatch.MaxEvidenceMaxBytes+1)
	row, b, err := a.ingest.AttachEvidence(r.Context(), r.PathValue("id"), n, evidenceFileName(r), body, p.Name())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"row": row, "batch": a.view(r.Context(), b)})
	return nil
}

// presignEvidence serves POST /api/batches/{id}/rows/{row}/evidence/upload: a presigned PUT
// for the row's file.
func (a *API) presignEvidence(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	n, err := rowNumber(r)
	if err != nil {
		return err
	}
	var req struct {
		Size int64 `json:"size,omitempty"` // bytes: the URL then takes exactly this size
	}
	if err := a.decodeOptional(w, r, &req); err != nil {
		return err
	}
	up, err := a.ingest.PresignEvidence(r.Context(), r.PathValue("id"), n, req.Size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, up)
	return nil
}

type confirmEvidenceRequest struct {
	Key  string `json:"key"`
	Name string `json:"name,omitempty"`
}

// confirmEvidence serves POST /api/batches/{id}/rows/{row}/evidence/confirm: the file PUT to
// the upload URL becomes the row's evidence.
func (a *API) confirmEvidence(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	n, err := rowNumber(r)
	if err != nil {
		return err
	}
	var req confirmEvidenceRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	row, b, err := a.ingest.ConfirmEvidence(r.Context(), r.PathValue("id"), n, req.Key, req.Name, p.Name())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"row": row, "batch": a.view(r.Context(), b)})
	return nil
}

// removeEvidence serves DELETE /api/credentials/{id}/evidence/1 (administrators only): the
// credential's evidence file deleted from the bucket (issuance.Service.RemoveEvidence).
func (a *API) removeEvidence(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ev, removed, err := a.d.Flow.RemoveEvidence(r.Context(), r.PathValue("id"), p.Name(), r.URL.Query().Get("reason"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"credential_id": ev.Credential.ID, "name": ev.Name, "media_type": ev.MediaType,
		"digest_sri": ev.Digest, "removed": removed})
	return nil
}
