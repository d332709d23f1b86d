package credential

import (
	"path"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Evidence is an OB 3.0 Evidence of the credential. A file is referenced by its stable URL
// under the credential (EvidenceURL) with its media type and an SRI digest of its bytes
// (digestSRI, "sha384-" + base64, VC 2.0 §5.3 Integrity of Related Resources): a verifier
// fetches the URL and compares the hash, so a changed or swapped file is detected. digestSRI
// rather than digestMultibase because any tool can check it (openssl dgst -sha384 -binary |
// base64, the browser's SRI), and both terms and mediaType are defined by the VC 2.0
// context, so the Data Integrity proof covers them without another context.
type Evidence struct {
	ID        string   `json:"id,omitempty"`
	Type      []string `json:"type"`
	Name      string   `json:"name,omitempty"`
	Narrative string   `json:"narrative,omitempty"`
	Genre     string   `json:"genre,omitempty"`
	MediaType string   `json:"mediaType,omitempty"`
	DigestSRI string   `json:"digestSRI,omitempty"`
}

// EvidenceGenre is the OB 3.0 genre of an evidence file of a media type: Image or Document.
func EvidenceGenre(mediaType string) string {
	if strings.HasPrefix(mediaType, "image/") {
		return "Image"
	}
	return "Document"
}

// EvidenceURL is the stable public URL of a credential's evidence file.
func EvidenceURL(credentialURL string) string { return credentialURL + "/evidence/1" }

// evidence returns the Evidence of a credential's row: the stored file (with the narrative),
// then the external link (with the narrative when there is no file); nil when there is none.
func evidence(credentialURL string, e *credbatch.Evidence) []Evidence {
	if e.Empty() {
		return nil
	}
	var out []Evidence
	narrative := e.Narrative
	if f := e.File; f.Stored() {
		out = append(out, Evidence{ID: EvidenceURL(credentialURL), Type: []string{"Evidence"}, Name: path.Base(f.Name),
			Narrative: narrative, Genre: EvidenceGenre(f.MediaType), MediaType: f.MediaType, DigestSRI: f.Digest})
		narrative = ""
	}
	if e.URL != "" {
		out = append(out, Evidence{ID: e.URL, Type: []string{"Evidence"}, Narrative: narrative, Genre: "Web page"})
		narrative = ""
	}
	if narrative != "" {
		out = append(out, Evidence{Type: []string{"Evidence"}, Narrative: narrative})
	}
	return out
}
