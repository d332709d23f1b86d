package stack

import (
	"net/http"
	"strings"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/site"
)

// BucketPath is where the local server answers the folder bucket's "presigned" URLs.
const BucketPath = "/local-bucket"

// Handler serves the local stack over HTTP: the JSON API, the pages (credential, review,
// login), and the folder bucket's upload and download URLs, as the API on AWS would with S3.
func (s *Stack) Handler(a auth.Authenticator) *httpapi.API {
	api := site.New(site.Deps{Store: s.Store, Blob: s.Bucket, Workflow: s.Engine, Mailer: s.Outbox, Keys: s.Keys, Signer: s.Signer,
		Issuer: s.Config.Issuer, From: s.Config.From, APIAuth: a, Flow: s.Config.Flow, Log: s.Config.Log})
	api.Handle("PUT "+BucketPath+"/{key...}", http.HandlerFunc(s.bucketPut))
	api.Handle("GET "+BucketPath+"/{key...}", http.HandlerFunc(s.bucketGet))
	return api
}

// bucketPut stores an upload sent to a presigned PUT URL, like S3: the URL's signature must
// hold (see dirblob.Store.Verify), and the metadata stored is the signed one, so the uploader
// is whoever the API signed the URL for. Only uploads/ (which the drop-folder watcher
// ingests) and evidence-uploads/ (confirmed through the API) can be written.
func (s *Stack) bucketPut(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	meta, err := s.Bucket.Verify(r, key)
	if err != nil {
		http.Error(w, credbatch.ErrorMessage(err), httpapi.StatusOf(err))
		return
	}
	if !strings.HasPrefix(key, ingest.UploadsPrefix) && !strings.HasPrefix(key, credbatch.EvidenceUploadPrefix) {
		http.Error(w, "only uploads/ and evidence-uploads/ can be written", http.StatusForbidden)
		return
	}
	info, err := s.Bucket.Put(r.Context(), key, http.MaxBytesReader(w, r.Body, 200<<20), r.Header.Get("Content-Type"), meta)
	if err != nil {
		http.Error(w, credbatch.ErrorMessage(err), http.StatusBadRequest)
		return
	}
	w.Header().Set("ETag", `"`+info.ETag+`"`)
	w.WriteHeader(http.StatusOK)
}

// bucketGet serves a presigned download, as S3 serves one: error reports (whose rows hold
// names and emails) as attachments, evidence files (too large for the credential's evidence
// URL to stream) inline with their stored type. Without a valid, unexpired signature for the
// key it is 403.
func (s *Stack) bucketGet(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if _, err := s.Bucket.Verify(r, key); err != nil {
		http.Error(w, credbatch.ErrorMessage(err), httpapi.StatusOf(err))
		return
	}
	report, evidence := strings.HasPrefix(key, ingest.ReportsPrefix), strings.HasPrefix(key, credbatch.EvidencePrefix)
	if !report && !evidence {
		http.NotFound(w, r)
		return
	}
	path, err := s.Bucket.Path(key)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if evidence {
		info, err := s.Bucket.Head(r.Context(), key)
		if err != nil {
			http.Error(w, credbatch.ErrorMessage(err), httpapi.StatusOf(err))
			return
		}
		w.Header().Set("Content-Type", info.ContentType)
		w.Header().Set("X-Content-Type-Options", "nosniff")
	} else {
		w.Header().Set("Content-Disposition", `attachment; filename="`+strings.ReplaceAll(key[len(ingest.ReportsPrefix):], `"`, "")+`"`)
	}
	http.ServeFile(w, r, path)
}
