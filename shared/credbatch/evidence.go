package credbatch

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// EvidencePolicy says whether the rows of a definition carry evidence (a link, a narrative
// or a file shown with the credential and referenced in it as OB 3.0 Evidence).
type EvidencePolicy string

// Evidence policies.
const (
	EvidenceNone     EvidencePolicy = "none"     // no evidence; evidence columns are refused
	EvidenceOptional EvidencePolicy = "optional" // a row may carry evidence
	EvidenceRequired EvidencePolicy = "required" // every row needs an evidence file or URL before the batch is submitted
)

// DefaultEvidenceMaxBytes is the size limit of one evidence file when a definition sets none.
const DefaultEvidenceMaxBytes = 10 << 20

// MaxEvidenceMaxBytes is the largest per-file limit a definition may set.
const MaxEvidenceMaxBytes = 100 << 20

// MediaType is an evidence file type credbatch recognises by content.
type MediaType struct {
	Type string   // the media type served as Content-Type
	Ext  string   // the extension of stored files (with the dot)
	Exts []string // the extensions a file name of this type may have
}

// EvidenceMediaTypes lists the file types evidence may have (a definition allows a subset).
// Each is recognised by its content (net/http.DetectContentType), never by its name.
var EvidenceMediaTypes = []MediaType{
	{"application/pdf", ".pdf", []string{".pdf"}},
	{"image/png", ".png", []string{".png"}},
	{"image/jpeg", ".jpg", []string{".jpg", ".jpeg", ".jpe", ".jfif"}},
	{"image/gif", ".gif", []string{".gif"}},
	{"image/webp", ".webp", []string{".webp"}},
}

// DefaultEvidenceTypes are the media types allowed when a definition names none.
var DefaultEvidenceTypes = []string{"application/pdf", "image/png", "image/jpeg"}

// LookupMediaType returns the evidence media type named t.
func LookupMediaType(t string) (MediaType, bool) {
	for _, m := range EvidenceMediaTypes {
		if m.Type == t {
			return m, true
		}
	}
	return MediaType{}, false
}

// MediaTypeOfName returns the evidence media type a file name's extension claims.
func MediaTypeOfName(name string) (MediaType, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return MediaType{}, false
	}
	ext := strings.ToLower(name[i:])
	for _, m := range EvidenceMediaTypes {
		if slices.Contains(m.Exts, ext) {
			return m, true
		}
	}
	return MediaType{}, false
}

// EvidenceSettings is a definition's evidence setting. Every field is a policy field
// (PolicyFields): only an administrator may change it.
type EvidenceSettings struct {
	Policy     EvidencePolicy `json:"policy,omitempty"`      // "" = none
	MediaTypes []string       `json:"media_types,omitempty"` // nil = DefaultEvidenceTypes
	MaxBytes   int64          `json:"max_bytes,omitempty"`   // 0 = DefaultEvidenceMaxBytes
}

// EffectivePolicy is the policy with the default filled in.
func (e EvidenceSettings) EffectivePolicy() EvidencePolicy {
	if e.Policy == "" {
		return EvidenceNone
	}
	return e.Policy
}

// Types is the allowed media types with the default filled in.
func (e EvidenceSettings) Types() []string {
	if len(e.MediaTypes) == 0 {
		return DefaultEvidenceTypes
	}
	return e.MediaTypes
}

// Limit is the per-file size limit with the default filled in.
func (e EvidenceSettings) Limit() int64 {
	if e.MaxBytes <= 0 {
		return DefaultEvidenceMaxBytes
	}
	return e.MaxBytes
}

// Allows reports whether a media type is allowed.
func (e EvidenceSettings) Allows(mediaType string) bool { return slices.Contains(e.Types(), mediaType) }

// problems lists what is wrong with the setting, each prefixed with where it is.
func (e EvidenceSettings) problems() []string {
	var out []string
	switch e.Policy {
	case "", EvidenceNone, EvidenceOptional, EvidenceRequired:
	default:
		out = append(out, fmt.Sprintf("evidence.policy %q: use none, optional or required", e.Policy))
	}
	seen := map[string]bool{}
	for _, t := range e.MediaTypes {
		if _, ok := LookupMediaType(t); !ok {
			names := make([]string, len(EvidenceMediaTypes))
			for i, m := range EvidenceMediaTypes {
				names[i] = m.Type
			}
			out = append(out, fmt.Sprintf("evidence.media_types %q: use one of %s", t, strings.Join(names, ", ")))
		}
		if seen[t] {
			out = append(out, fmt.Sprintf("evidence.media_types %q is listed twice", t))
		}
		seen[t] = true
	}
	if e.MaxBytes < 0 || e.MaxBytes > MaxEvidenceMaxBytes {
		out = append(out, fmt.Sprintf("evidence.max_bytes %d: use 1 to %d bytes (100 MiB), or leave it out for 10 MiB", e.MaxBytes, MaxEvidenceMaxBytes))
	}
	return out
}

// policyText is each evidence policy field's value as PolicyFields compares it.
func (e EvidenceSettings) policyText() (policy, types, limit string) {
	ts := slices.Clone(e.Types())
	slices.Sort(ts)
	return string(e.EffectivePolicy()), strings.Join(ts, ","), strconv.FormatInt(e.Limit(), 10)
}

// Evidence is what a row (and then its credential) carries as evidence: a link, a
// narrative, a file, or any of them.
type Evidence struct {
	URL       string        `json:"url,omitempty"`       // an external page (validated like url attributes)
	Narrative string        `json:"narrative,omitempty"` // what the evidence shows
	File      *EvidenceFile `json:"file,omitempty"`
	// Lock is held while a file is attached to the row (one attachment at a time, so that a
	// replaced file can be deleted safely): "<token> <expiry, RFC 3339>"; "" = none.
	Lock string `json:"lock,omitempty"`
}

// Empty reports whether e carries nothing.
func (e *Evidence) Empty() bool {
	return e == nil || (e.URL == "" && e.Narrative == "" && e.File == nil)
}

// HasEvidence reports whether e carries what a required policy asks: a stored file or a URL.
func (e *Evidence) HasEvidence() bool {
	return e != nil && (e.URL != "" || (e.File != nil && e.File.Stored()))
}

// EvidenceFile is one row's evidence file. Name is how the upload named it (the Evidence
// File column, or the attached file's name); the rest is set once the file is checked and
// stored.
type EvidenceFile struct {
	Name      string    `json:"name"`
	Key       string    `json:"key,omitempty"`        // blob key (EvidenceKey)
	MediaType string    `json:"media_type,omitempty"` // by content
	Size      int64     `json:"size,omitempty"`
	Digest    string    `json:"digest,omitempty"` // SRI hash expression of the content: "sha384-" + base64
	AddedBy   string    `json:"added_by,omitempty"`
	AddedAt   time.Time `json:"added_at,omitzero"`
}

// Stored reports whether the file was checked and stored.
func (f *EvidenceFile) Stored() bool { return f != nil && f.Key != "" && f.Digest != "" }

// EvidencePrefix is the blob prefix of every evidence file (EvidenceKey).
const EvidencePrefix = "evidence/"

// EvidenceUploadPrefix is where presigned evidence uploads land before they are checked
// and attached to their row (evidence-uploads/<batch>/<row>/<nonce>); the bucket's
// lifecycle expires what is never confirmed.
const EvidenceUploadPrefix = "evidence-uploads/"

// EvidenceKey returns the blob key of a row's evidence file: evidence/<batch>/<row>-<hash>.<ext>,
// where hash is the first 32 hex digits of the file's SHA-384 (from its SRI digest) and ext
// is the stored extension of its media type. The same file of the same row always has the
// same key, so storing it again (a retried upload) writes the same object.
func EvidenceKey(batchID string, row int, digestSRI, mediaType string) (string, error) {
	raw, ok := strings.CutPrefix(digestSRI, "sha384-")
	sum, err := base64.StdEncoding.DecodeString(raw)
	if !ok || err != nil || len(sum) != 48 {
		return "", Errorf(KindInvalid, "evidence digest %q is not a sha384 SRI hash", digestSRI)
	}
	m, ok := LookupMediaType(mediaType)
	if !ok {
		return "", Errorf(KindInvalid, "evidence media type %q is not one credbatch serves", mediaType)
	}
	return fmt.Sprintf(EvidencePrefix+"%s/%d-%s%s", batchID, row, hex.EncodeToString(sum[:16]), m.Ext), nil
}

// FileNamed returns e's file, or nil when e is nil or names none.
func (e *Evidence) FileNamed() *EvidenceFile {
	if e == nil {
		return nil
	}
	return e.File
}
