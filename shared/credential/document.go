// Package credential builds, signs and verifies Open Badges 3.0 credentials.
//
// A credential is an OpenBadgeCredential (W3C Verifiable Credentials Data Model 2.0) secured
// two ways: an embedded Data Integrity proof (DataIntegrityProof, eddsa-rdfc-2022, RDFC-1.0
// over pinned, embedded contexts; what the DCC wallet and verifiers check), and a VC-JWT in
// OB 3.0's JSON Web Token proof format (ES256, kid a DID URL, claims iss/jti/nbf/sub/exp,
// the credential as the payload; what 1EdTech's validator checks). The issuer is the
// deployment's did:web; its DID document lists every key. Revocation uses a W3C Bitstring
// Status List entry. Credentials of the earlier format (EdDSA "vc+jwt", kid a thumbprint)
// still verify.
package credential

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/statuslist"
)

// Contexts are the JSON-LD contexts of an OpenBadgeCredential (VC 2.0 and OB 3.0.3).
var Contexts = []string{
	"https://www.w3.org/ns/credentials/v2",
	"https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
}

// Types are the types of an OpenBadgeCredential.
var Types = []string{"VerifiableCredential", "OpenBadgeCredential"}

// StatusListPath is the path, under the base URL, of the status list credentials: list n
// (1-based) is at StatusListPath + "/" + n.
const StatusListPath = "/status"

// Issuer is the deployment's issuer configuration. A definition's Issuer overrides Name,
// URL, Email and Image field by field.
type Issuer struct {
	BaseURL string // public base URL of the API ("https://creds.example.org"); required
	Name    string
	URL     string // the issuer's home page
	Email   string
	Image   string // URL of the issuer's logo
	// URLID makes the issuer id the base URL instead of its did:web (ISSUER_ID=url). The keys
	// stay in the did:web document either way: proofs and JWT kids name them there.
	URLID bool
	// PlainEmail puts the recipient's email address in the credential in clear text instead
	// of a salted SHA-256 hash.
	PlainEmail bool
}

// DID returns the deployment's did:web, from the base URL (keys.DIDWeb); KindInvalid when the
// base URL cannot give one.
func (iss Issuer) DID() (string, error) { return keys.DIDWeb(iss.BaseURL) }

// ID returns the issuer id: the did:web of the base URL, or the base URL itself when URLID
// (or when the base URL has no did:web, which Build refuses).
func (iss Issuer) ID() string {
	if !iss.URLID {
		if did, err := iss.DID(); err == nil {
			return did
		}
	}
	return strings.TrimRight(iss.BaseURL, "/")
}

func (iss Issuer) base() string { return strings.TrimRight(iss.BaseURL, "/") }

// CredentialURL returns the public URL (and the id) of a credential: <base>/credentials/<id>.
func (iss Issuer) CredentialURL(id string) string { return iss.base() + "/credentials/" + id }

// AchievementURL returns the id of a definition's achievement: <base>/definitions/<id>.
func (iss Issuer) AchievementURL(definitionID string) string {
	return iss.base() + "/definitions/" + definitionID
}

// For returns the issuer profile of a definition's credentials: the definition's own issuer
// fields over the deployment's.
func (iss Issuer) For(d credbatch.Definition) Issuer {
	if o := d.Issuer; o != nil {
		iss.Name = firstNonEmpty(o.Name, iss.Name)
		iss.URL = firstNonEmpty(o.URL, iss.URL)
		iss.Email = firstNonEmpty(o.Email, iss.Email)
		iss.Image = firstNonEmpty(o.Image, iss.Image)
	}
	return iss
}

// StatusListURL returns the URL (and id) of the first status list credential: <base>/status/1.
func (iss Issuer) StatusListURL() string { return iss.StatusListURLFor(1) }

// StatusListURLFor returns the URL (and id) of status list n (1-based): <base>/status/<n>.
func (iss Issuer) StatusListURLFor(n int) string {
	return iss.base() + StatusListPath + "/" + strconv.Itoa(n)
}

// StatusPosition splits a credential's status index (global across the deployment, as the
// store allocates them) into its list number (1-based) and its index within that list. A
// list holds statuslist.Size entries, so a deployment is not capped at one list.
func StatusPosition(global int) (list, index int) {
	return global/statuslist.Size + 1, global % statuslist.Size
}

// Document is an OpenBadgeCredential; it marshals to the JSON-LD that is signed.
type Document struct {
	Context           []string     `json:"@context"`
	ID                string       `json:"id"`
	Type              []string     `json:"type"`
	Name              string       `json:"name"`
	Description       string       `json:"description,omitempty"`
	Image             *Image       `json:"image,omitempty"`
	Issuer            Profile      `json:"issuer"`
	ValidFrom         string       `json:"validFrom"`
	ValidUntil        string       `json:"validUntil,omitempty"`
	CredentialSubject Subject      `json:"credentialSubject"`
	CredentialStatus  *StatusEntry `json:"credentialStatus,omitempty"`
	Evidence          []Evidence   `json:"evidence,omitempty"`
}

// Profile is the issuer of a credential (OB 3.0 Profile).
type Profile struct {
	ID    string   `json:"id"`
	Type  []string `json:"type"`
	Name  string   `json:"name,omitempty"`
	URL   string   `json:"url,omitempty"`
	Email string   `json:"email,omitempty"`
	Image *Image   `json:"image,omitempty"`
}

// Image is an OB 3.0 Image.
type Image struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// Subject is the credentialSubject (OB 3.0 AchievementSubject). ID is a per-credential
// "urn:uuid:" (SubjectID): OB 3.0 allows id or identifier and a VC-JWT's sub needs an id,
// while an email (mailto:) or a cross-credential id would let anyone link the recipient's
// credentials; the recipient is identified by the hashed email identifier.
type Subject struct {
	ID          string           `json:"id,omitempty"`
	Type        []string         `json:"type"`
	Identifier  []IdentityObject `json:"identifier,omitempty"`
	Achievement Achievement      `json:"achievement"`
	Result      []SubjectResult  `json:"result,omitempty"`
}

// IdentityObject identifies the recipient: the email (hashed or not) and the name.
type IdentityObject struct {
	Type         string `json:"type"`
	IdentityType string `json:"identityType"`
	Hashed       bool   `json:"hashed"`
	IdentityHash string `json:"identityHash"`
	Salt         string `json:"salt,omitempty"`
}

// Achievement is what the credential recognises (one per definition).
type Achievement struct {
	ID                string              `json:"id"`
	Type              []string            `json:"type"`
	Name              string              `json:"name"`
	Description       string              `json:"description"`
	Criteria          Criteria            `json:"criteria"`
	Image             *Image              `json:"image,omitempty"`
	ResultDescription []ResultDescription `json:"resultDescription,omitempty"`
}

// Criteria says how the achievement is earned.
type Criteria struct {
	Narrative string `json:"narrative"`
}

// ResultDescription describes one definition attribute.
type ResultDescription struct {
	ID           string   `json:"id"`
	Type         []string `json:"type"`
	Name         string   `json:"name"`
	ResultType   string   `json:"resultType"`
	AllowedValue []string `json:"allowedValue,omitempty"`
	ValueMin     string   `json:"valueMin,omitempty"`
	ValueMax     string   `json:"valueMax,omitempty"`
}

// SubjectResult is the recipient's value of one attribute; ResultDescription is the id of its
// ResultDescription in the achievement.
type SubjectResult struct {
	Type              []string `json:"type"`
	ResultDescription string   `json:"resultDescription,omitempty"`
	Value             string   `json:"value"`
}

// StatusEntry is a BitstringStatusListEntry.
type StatusEntry struct {
	ID                   string `json:"id"`
	Type                 string `json:"type"`
	StatusPurpose        string `json:"statusPurpose"`
	StatusListIndex      string `json:"statusListIndex"`
	StatusListCredential string `json:"statusListCredential"`
}

// Index returns the status list index; KindInvalid when it is not a non-negative integer.
func (e StatusEntry) Index() (int, error) {
	i, err := strconv.Atoi(e.StatusListIndex)
	if err != nil || i < 0 {
		return 0, credbatch.Errorf(credbatch.KindInvalid, "statusListIndex %q is not a non-negative integer", e.StatusListIndex)
	}
	return i, nil
}

// Global returns the entry's deployment-wide status index: its list number (the last path
// segment of statusListCredential) and its index within that list.
func (e StatusEntry) Global() (int, error) {
	i, err := e.Index()
	if err != nil {
		return 0, err
	}
	if i >= statuslist.Size {
		return 0, credbatch.Errorf(credbatch.KindInvalid, "statusListIndex %d is beyond a list of %d entries", i, statuslist.Size)
	}
	seg := e.StatusListCredential[strings.LastIndex(e.StatusListCredential, "/")+1:]
	n, err := strconv.Atoi(seg)
	if err != nil || n < 1 {
		return 0, credbatch.Errorf(credbatch.KindInvalid, "statusListCredential %q does not end in a list number", e.StatusListCredential)
	}
	return (n-1)*statuslist.Size + i, nil
}

// Build returns the OpenBadgeCredential for an issued credential of a definition.
//
//   - id is <base>/credentials/<c.ID>; the achievement id is <base>/definitions/<d.ID>.
//   - validFrom is the issue date at 00:00:00Z; validUntil is the expiry date at 23:59:59Z
//     (a credential is valid through its whole expiry day, UTC).
//   - The recipient is identified by a salted SHA-256 hash of the lower-cased email
//     ("sha256$" + hex(sha256(email + salt))), or the plain address when iss.PlainEmail,
//     plus the name as a "name" identity. The salt is derived from the credential id, so
//     building the same credential twice gives the same document (and, Ed25519 being
//     deterministic, the same JWS).
//   - Each attribute with a value becomes a Result pointing at a ResultDescription of the
//     achievement (one per definition attribute, in definition order).
//   - credentialStatus is a revocation BitstringStatusListEntry at c.StatusListIndex in
//     <base>/status/1.
//
// The error is KindInvalid (code invalid_credential) when something required is missing or
// malformed.
func Build(iss Issuer, d credbatch.Definition, c credbatch.Credential) (Document, error) {
	invalid := func(format string, args ...any) error {
		return credbatch.E(credbatch.KindInvalid, "invalid_credential", fmt.Sprintf("build credential %s: ", c.ID)+fmt.Sprintf(format, args...))
	}
	switch {
	case iss.BaseURL == "":
		return Document{}, invalid("the issuer has no base URL")
	case func() bool { _, err := iss.DID(); return err != nil }():
		return Document{}, invalid("the base URL %q gives no did:web", iss.BaseURL)
	case c.ID == "":
		return Document{}, invalid("the credential has no id")
	case strings.TrimSpace(c.Email) == "":
		return Document{}, invalid("the credential has no recipient email")
	case d.ID == "" || d.Name == "":
		return Document{}, invalid("the definition has no id or name")
	case c.StatusListIndex < 0:
		return Document{}, invalid("status list index %d is negative", c.StatusListIndex)
	}
	from, err := parseDate(c.IssueDate, false)
	if err != nil {
		return Document{}, invalid("issue date %q: %v", c.IssueDate, err)
	}
	var until string
	if c.ExpiryDate != "" {
		u, err := parseDate(c.ExpiryDate, true)
		if err != nil {
			return Document{}, invalid("expiry date %q: %v", c.ExpiryDate, err)
		}
		if u.Before(from) {
			return Document{}, invalid("expiry date %s is before the issue date %s", c.ExpiryDate, c.IssueDate)
		}
		until = u.Format(time.RFC3339)
	}

	iss = iss.For(d)
	achievementID := iss.AchievementURL(d.ID)
	achievement := Achievement{
		ID:          achievementID,
		Type:        []string{"Achievement"},
		Name:        d.Name,
		Description: firstNonEmpty(d.Description, d.Name),
		Criteria:    Criteria{Narrative: firstNonEmpty(d.Criteria, d.Description, d.Name)},
		Image:       image(d.Image),
	}
	results, descs := attributes(achievementID, d, c.Attributes)
	achievement.ResultDescription = descs

	listN, idx := StatusPosition(c.StatusListIndex)
	listURL := iss.StatusListURLFor(listN)
	index := strconv.Itoa(idx)
	return Document{
		Context:     Contexts,
		ID:          iss.CredentialURL(c.ID),
		Type:        Types,
		Name:        d.Name,
		Description: d.Description,
		Image:       image(d.Image),
		Issuer: Profile{
			ID:    iss.ID(),
			Type:  []string{"Profile"},
			Name:  iss.Name,
			URL:   iss.URL,
			Email: iss.Email,
			Image: image(iss.Image),
		},
		ValidFrom:  from.Format(time.RFC3339),
		ValidUntil: until,
		CredentialSubject: Subject{
			ID:          SubjectID(iss.CredentialURL(c.ID)),
			Type:        []string{"AchievementSubject"},
			Identifier:  identifiers(c, iss.PlainEmail),
			Achievement: achievement,
			Result:      results,
		},
		CredentialStatus: &StatusEntry{
			ID:                   listURL + "#" + index,
			Type:                 "BitstringStatusListEntry",
			StatusPurpose:        statuslist.Purpose,
			StatusListIndex:      index,
			StatusListCredential: listURL,
		},
		Evidence: evidence(iss.CredentialURL(c.ID), c.Evidence),
	}, nil
}

// SubjectID returns the credentialSubject.id of a credential: "urn:uuid:" and the name-based
// (SHA-1, RFC 9562 version 5) UUID of the credential's URL in the URL namespace. It is fixed
// by the credential and different for each one, so it links nothing.
func SubjectID(credentialURL string) string {
	return "urn:uuid:" + uuid.NewSHA1(uuid.NameSpaceURL, []byte(credentialURL)).String()
}

// HashEmail returns the OB identityHash of an email address with a salt:
// "sha256$" + hex(sha256(lower-cased, trimmed email + salt)).
func HashEmail(email, salt string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email)) + salt))
	return "sha256$" + hex.EncodeToString(sum[:])
}

// salt derives the per-credential salt from the credential id. The salt is published next
// to the hash anyway; what matters is that it differs per credential, so that two
// credentials of one recipient do not share a hash.
func salt(credentialID string) string {
	sum := sha256.Sum256([]byte("credbatch identity salt\x00" + credentialID))
	return hex.EncodeToString(sum[:16])
}

func identifiers(c credbatch.Credential, plain bool) []IdentityObject {
	email := IdentityObject{Type: "IdentityObject", IdentityType: "emailAddress"}
	if plain {
		email.IdentityHash = strings.ToLower(strings.TrimSpace(c.Email))
	} else {
		email.Hashed = true
		email.Salt = salt(c.ID)
		email.IdentityHash = HashEmail(c.Email, email.Salt)
	}
	ids := []IdentityObject{email}
	if name := strings.TrimSpace(c.Name); name != "" {
		ids = append(ids, IdentityObject{Type: "IdentityObject", IdentityType: "name", IdentityHash: name})
	}
	return ids
}

func attributes(achievementID string, d credbatch.Definition, values map[string]string) ([]SubjectResult, []ResultDescription) {
	var results []SubjectResult
	var descs []ResultDescription
	add := func(name string, a *credbatch.Attribute) {
		desc := ResultDescription{
			ID:         achievementID + "#attr-" + attrSlug(name),
			Type:       []string{"ResultDescription"},
			Name:       name,
			ResultType: "Result",
		}
		if a != nil {
			desc.AllowedValue = a.Choices
			if a.Min != nil {
				desc.ValueMin = strconv.FormatFloat(*a.Min, 'f', -1, 64)
			}
			if a.Max != nil {
				desc.ValueMax = strconv.FormatFloat(*a.Max, 'f', -1, 64)
			}
		}
		descs = append(descs, desc)
		if v := values[name]; v != "" {
			results = append(results, SubjectResult{Type: []string{"Result"}, ResultDescription: desc.ID, Value: v})
		}
	}
	known := map[string]bool{}
	for i := range d.Attributes {
		known[d.Attributes[i].Name] = true
		add(d.Attributes[i].Name, &d.Attributes[i])
	}
	// Values the definition does not list (an older definition version) are kept, sorted.
	var extra []string
	for name, v := range values {
		if !known[name] && v != "" {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		add(name, nil)
	}
	return results, descs
}

// attrSlug turns an attribute name into a fragment: the normalised header (letters and
// digits), which is unique within a definition; names without any fall back to a hash.
func attrSlug(name string) string {
	if s := credbatch.NormalizeHeader(name); s != "" && isASCII(s) {
		return s
	}
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:8])
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func image(url string) *Image {
	if url == "" {
		return nil
	}
	return &Image{ID: url, Type: "Image"}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// parseDate reads YYYY-MM-DD (or an RFC 3339 time) as UTC; a bare date is the start of the
// day, or its last second when endOfDay.
func parseDate(s string, endOfDay bool) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if endOfDay {
			t = t.Add(24*time.Hour - time.Second)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("use YYYY-MM-DD")
	}
	return t.UTC().Truncate(time.Second), nil
}
