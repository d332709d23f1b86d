package issuance

import (
	"context"
	"crypto/rand"
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
	return EvidenceOf(c)
}

// EvidenceOf returns the evidence file a credential's signed document names. Errors:
// KindNotFound (no_evidence) when it names none; KindInvalid for a document that does not
// read.
func EvidenceOf(c credbatch.Credential) (CredentialEvidence, error) {
	id := c.ID
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

// EvidenceStored reports whether a credential's evidence file is still in the bucket (false
// once an administrator removed it). Errors: KindUnavailable.
func (s *Service) EvidenceStored(ctx context.Context, e CredentialEvidence) (bool, error) {
	if s.Blob == nil {
		return false, nil
	}
	_, err := s.Blob.Head(ctx, e.Key)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("evidence of credential %s: %w", e.Credential.ID, err)
	}
	return true, nil
}

// RemoveEvidence deletes the evidence file of credential id from the bucket, every version
// of it (Blob.Delete): from then on its evidence URL answers 410 "Evidence removed", while
// the credential keeps its signed document, the file's digestSRI included, so that a copy
// kept elsewhere can still be checked against it. The removal is audited (evidence.removed,
// target credential/<id>, with the reason; recorded before the delete). Removing a file
// already removed changes nothing
// (removed = false, no second audit entry). Only administrators may call it; the caller
// checks the role. Errors: KindNotFound (no such credential, or it has no evidence file),
// KindUnavailable.
func (s *Service) RemoveEvidence(ctx context.Context, id, by, reason string) (ev CredentialEvidence, removed bool, err error) {
	if ev, err = s.Evidence(ctx, id); err != nil {
		return ev, false, err
	}
	stored, err := s.EvidenceStored(ctx, ev)
	if err != nil || !stored {
		return ev, false, err
	}
	// Audited first: a removal that fails after its entry is retried (and audited again);
	// a removal is never without its entry.
	change := credbatch.Change{Field: "evidence.file", Old: ev.Name + " " + ev.Digest, New: "removed"}
	if reason = strings.TrimSpace(reason); reason != "" {
		change.New += ": " + reason
	}
	if err := s.Store.RecordAudit(ctx, credbatch.AuditEntry{ID: "au_" + strings.ToLower(rand.Text()), At: s.now().UTC(), Actor: by,
		Action: credbatch.AuditEvidenceRemoved, Target: "credential/" + id, Changes: []credbatch.Change{change}}); err != nil {
		return ev, false, fmt.Errorf("audit the removal of the evidence of credential %s: %w", id, err)
	}
	if err := s.Blob.Delete(ctx, ev.Key); err != nil {
		return ev, false, fmt.Errorf("remove the evidence of credential %s: %w", id, err)
	}
	s.log().InfoContext(ctx, "evidence removed", "credential", id, "batch_id", ev.Credential.BatchID, "by", by)
	return ev, true, nil
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
