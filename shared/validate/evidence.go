package validate

import (
	"fmt"
	"path"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// MaxNarrativeLength is the longest Evidence Narrative accepted, in characters.
const MaxNarrativeLength = 2000

// MaxEvidenceNameLength is the longest Evidence File name accepted, in characters.
const MaxEvidenceNameLength = 255

// evidence checks the row's Evidence URL, Evidence Narrative and Evidence File cells into
// r.Evidence under the definition's evidence policy. The file is only named here: the
// ingest matches the name to the upload's zip, checks the file and stores it (Files.Match),
// which is also where a required row without any evidence gets missing_evidence.
func (v *Validator) evidence(r *credbatch.Row, p *plan) {
	raw := [3]string{cell(r.Cells, v.idxEvURL), cell(r.Cells, v.idxEvNarrative), cell(r.Cells, v.idxEvFile)}
	cols := [3]int{v.idxEvURL, v.idxEvNarrative, v.idxEvFile}
	policy := p.def.Evidence.EffectivePolicy()
	if policy == credbatch.EvidenceNone {
		for i, s := range raw {
			if s != "" {
				fail(r, v.header(cols[i]), credbatch.CodeEvidenceNotAllowed, fmt.Sprintf(
					"%s credentials carry no evidence, so %s must stay empty; clear the cell, or ask an administrator to allow evidence for %s",
					p.def.ID, v.header(cols[i]), p.def.ID))
			}
		}
		return
	}
	var e credbatch.Evidence
	if s := raw[0]; s != "" {
		h := v.header(v.idxEvURL)
		switch {
		case tooLong(s, 2000):
			fail(r, h, credbatch.CodeValueTooLong, fmt.Sprintf("%s is longer than 2000 characters; use a shorter link", h))
		default:
			if msg := urlProblem(s); msg != "" {
				fail(r, h, credbatch.CodeInvalidURL, fmt.Sprintf("%s is not a web address: it %s; write a full address such as https://example.com/page", quote(s), msg))
			} else {
				e.URL = s
			}
		}
	}
	if s := raw[1]; s != "" {
		h := v.header(v.idxEvNarrative)
		if c, bad := unsafeRune(s, true); bad {
			fail(r, h, credbatch.CodeUnsafeValue, fmt.Sprintf("%s contains a control character (%U); retype it as plain text", h, c))
		} else if tooLong(s, MaxNarrativeLength) {
			fail(r, h, credbatch.CodeValueTooLong, fmt.Sprintf("%s is longer than %d characters; shorten it", h, MaxNarrativeLength))
		} else {
			e.Narrative = s
		}
	}
	if s := raw[2]; s != "" {
		h := v.header(v.idxEvFile)
		if msg := EvidenceNameProblem(s); msg != "" {
			fail(r, h, credbatch.CodeUnsafeValue, fmt.Sprintf("%s %s; write the file's name as it is in the zip, e.g. kim-certificate.pdf or photos/kim.jpg", quote(s), msg))
		} else {
			e.File = &credbatch.EvidenceFile{Name: s}
		}
	}
	if !e.Empty() {
		r.Evidence = &e
	}
}

// EvidenceNameProblem says what is wrong with the name of an evidence file ("" when nothing):
// it must be a relative path with no ".." or empty segment, no backslash and no control
// character, at most MaxEvidenceNameLength characters. The same rule checks the names
// inside an evidence zip.
func EvidenceNameProblem(name string) string {
	switch {
	case name == "":
		return "is empty"
	case tooLong(name, MaxEvidenceNameLength):
		return fmt.Sprintf("is longer than %d characters", MaxEvidenceNameLength)
	case strings.ContainsRune(name, '\\'):
		return "contains a backslash (use / between folders)"
	case strings.HasPrefix(name, "/") || (len(name) > 1 && name[1] == ':'):
		return "is an absolute path"
	}
	if c, bad := unsafeRune(name, false); bad {
		return fmt.Sprintf("contains a control character (%U)", c)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "has an empty, . or .. folder"
		}
	}
	if path.Clean(name) != name {
		return "is not a plain path"
	}
	return ""
}
