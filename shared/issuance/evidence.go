package issuance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
)

// CodeEvidenceRemoved is the code of a credential's evidence file that an administrator
// removed (the credential keeps its digest; the bytes are gone).
const CodeEvidenceRemoved = "evidence_removed"

// CredentialEvidence is a credential's evidence file as its signed document names it. The
// blob key is derived from the document's digest (credbatch.EvidenceKey), so the bytes
// stored under it are the bytes the credential's digestSRI was computed over.
type CredentialEvidence struct {
	Credential credbatch.Credential
	URL        string // the evidence id in the document (<credential URL>/evidence/1)
	Name       string // the file's name as the document gives it
	MediaType  string
	Digest     string // digestSRI: "sha384-" + base64
	Key        string // where the file is stored
}

// Evidence returns the evidence file credential id's signed document names. Errors:
// KindNotFound when there is no such credential or its document names no evidence file
// (a credential issued before evidence, or with a link only).
func (s *Service) Evidence(ctx context.Context, id string) (CredentialEvidence, error) {
	c, err := s.Store.GetCredential(ctx, id)
	if err != nil {
		return CredentialEvidence{}, fmt.Errorf("load credential %s: %w", id, err)
	}
	none := credbatch.E(credbatch.KindNotFound, "no_evidence", fmt.Sprintf("credential %s has no evidence file", id))
	if !strings.HasPrefix(c.JWT, "{") {
		return CredentialEvidence{Credential: c}, none // the earlier format carries no evidence
	}
	var doc struct {
		Evidence []credential.Evidence `json:"evidence"`
	}
	if err := json.Unmarshal([]byte(c.JWT), &doc); err != nil {
		return CredentialEvidence{Credential: c}, fmt.Errorf("read credential %s: %w", id, err)
	}
	suffix := credential.EvidenceURL("/credentials/" + c.ID)
	for _, e := range doc.Evidence {
		if e.DigestSRI == "" || !strings.HasSuffix(e.ID, suffix) {
			continue
		}
		key, err := credbatch.EvidenceKey(c.BatchID, c.RowNumber, e.DigestSRI, e.MediaType)
		if err != nil {
			return CredentialEvidence{Credential: c}, fmt.Errorf("evidence of credential %s: %w", id, err)
		}
		return CredentialEvidence{Credential: c, URL: e.ID, Name: path.Base(e.Name), MediaType: e.MediaType, Digest: e.DigestSRI, Key: key}, nil
	}
	return CredentialEvidence{Credential: c}, none
}

// OpenEvidence opens a credential's evidence file; the caller closes the reader. Errors:
// KindNotFound with CodeEvidenceRemoved when the file was removed; KindUnavailable.
func (s *Service) OpenEvidence(ctx context.Context, e CredentialEvidence) (io.ReadCloser, credbatch.ObjectInfo, error) {
	if s.Blob == nil {
		return nil, credbatch.ObjectInfo{}, credbatch.E(credbatch.KindUnavailable, "no_blob", "this deployment keeps no evidence files")
	}
	rc, info, err := s.Blob.Get(ctx, e.Key)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		return nil, info, removed(e)
	}
	if err != nil {
		return nil, info, fmt.Errorf("open evidence of credential %s: %w", e.Credential.ID, err)
	}
	return rc, info, nil
}

// EvidenceLink returns a URL that downloads a credential's evidence file for ttl (for files
// too large to pass through the function). Errors: KindNotFound with CodeEvidenceRemoved.
func (s *Service) EvidenceLink(ctx context.Context, e CredentialEvidence, ttl time.Duration) (string, error) {
	if s.Blob == nil {
		return "", credbatch.E(credbatch.KindUnavailable, "no_blob", "this deployment keeps no evidence files")
	}
	if _, err := s.Blob.Head(ctx, e.Key); credbatch.IsKind(err, credbatch.KindNotFound) {
		return "", removed(e)
	} else if err != nil {
		return "", fmt.Errorf("evidence of credential %s: %w", e.Credential.ID, err)
	}
	u, err := s.Blob.PresignGet(ctx, e.Key, ttl)
	if err != nil {
		return "", fmt.Errorf("link to the evidence of credential %s: %w", e.Credential.ID, err)
	}
	return u, nil
}

func removed(e CredentialEvidence) error {
	return credbatch.E(credbatch.KindNotFound, CodeEvidenceRemoved, fmt.Sprintf(
		"the evidence file of credential %s was removed by the issuer; the credential still records its digest (%s)", e.Credential.ID, e.Digest))
}
