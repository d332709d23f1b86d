package credential

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/piprate/json-gold/ld"
)

// Expansion templates: what makes signing fast without changing a byte of the canonical
// form or of the signature (TestSecureMatchesReference, TestTemplatedMatchesReference and
// FuzzTemplated compare with json-gold's own Normalize, which signing used before).
//
// Credentials of one definition differ only in string values, and json-gold spends most of
// a credential's time on what does not depend on them: parsing the OB 3.0 type-scoped
// contexts at every typed node during expansion, and validating every http(s) IRI with a
// large regular expression (ld.IsURL) when converting to RDF. So json-gold itself expands
// and converts to RDF a document's template once, with a placeholder for each such value,
// and each credential only puts its values back into a copy of the template's RDF quads,
// which json-gold then canonicalizes (RDFC-1.0). That is exact because of how JSON-LD
// expansion and the conversion to RDF treat a string value (see below, templateValue,
// checkTemplate and checkQuads); anything outside those rules goes through json-gold as
// usual.

// The rules.
//
// The template of a document is the document with each templated string value replaced by
// a placeholder; the placeholders are numbered in a fixed walk order, one number per
// distinct string, so two documents with the same template differ only in those values
// and have the same strings equal (which decides which nodes and values json-gold merges).
// A string is templated when JSON-LD
// expansion (json-gold v0.9.1, as the JSON-LD 1.1 API specifies) does not look at its
// content, given where the placeholder ends up in the expanded output:
//
//   - as the value of "@value": value expansion put the string there unchanged (it only
//     looks at the term's type mapping, language and direction, never at the string), so
//     any other string would be put there the same way;
//   - as the value of "@id", for a placeholder of the same form as the value: http(s) IRIs
//     ("scheme://…" is returned as it is, IRI expansion step 4.2, whatever the context) and
//     urn:uuid IRIs (returned as they are unless the context defines a "urn" prefix or
//     such a term, which the embedded contexts do not: templateSafe checks).
//
// Strings under @context, type and @type are never templated (they pick contexts), nor
// strings with another scheme (did:, mailto:), which are IRIs whose expansion depends on
// prefixes. A template with a placeholder anywhere else is not used; the document goes
// through json-gold itself. (Which strings get which placeholder decides only how often a
// template can be used, never the output.)
//
// The conversion to RDF (node map, then statements) then only compares @id strings for
// equality, which the numbering preserves, and copies strings into IRIs and literals,
// except for a JSON literal (re-serialized; checkQuads refuses it) and the IRI check that
// drops statements with an invalid http(s) IRI (fill makes it on the values). Blank node
// labels may differ from a direct conversion; RDFC-1.0's output does not depend on them.
// A filled template in which two statements come out the same (a value equal to a
// constant of the template) is not used either.

// shapeEntry is what one shape (all candidate strings replaced) has learned: the values
// that must stay in the template (keep: they landed somewhere else, e.g. proofPurpose,
// whose term expands it as a vocabulary IRI), and a template per combination of those.
type shapeEntry struct {
	keep     map[int]bool
	variants map[string]*template // by the template's JSON; one when keep is empty
}

type template struct {
	quads []*ld.Quad     // json-gold's RDF of the template (default graph), placeholders in
	slots map[string]int // placeholder → value number
	ok    bool
}

// templateStats counts, for tests, how documents were expanded.
type templateStats struct{ hits, built, rejected, skipped atomic.Int64 }

const maxTemplates = 256

// dateTime matches the xsd:dateTime values credentials carry (validFrom, proof created):
// they contain a colon but are not IRIs, so they get a plain placeholder.
var dateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)

var uuidIRI = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// templater builds templates for one loader.
type templater struct {
	nonce string
	safe  bool // the embedded contexts define no term that breaks the @id rule above
	mu    sync.Mutex
	byKey map[string]*shapeEntry
	stats templateStats
}

func newTemplater(docs map[string]any) *templater {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &templater{nonce: "cb" + hex.EncodeToString(b), safe: templateSafe(docs), byKey: map[string]*shapeEntry{}}
}

// templateSafe reports whether no embedded context (scoped contexts included) defines a
// term that IRI expansion would apply to an http(s) or urn:uuid value: a term containing
// "://", a term "urn" or one starting with "urn:".
func templateSafe(docs map[string]any) bool {
	var walk func(v any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if strings.Contains(k, "://") || k == "urn" || strings.HasPrefix(k, "urn:") || !walk(e) {
					return false
				}
			}
		case []any:
			for _, e := range v {
				if !walk(e) {
					return false
				}
			}
		}
		return true
	}
	for _, d := range docs {
		if !walk(d) {
			return false
		}
	}
	return true
}

// templateValue returns the placeholder for value number n, or "" when the string is kept
// as it is (part of the template).
func (t *templater) templateValue(s string, n int) string {
	switch {
	case strings.HasPrefix(s, "https://"), strings.HasPrefix(s, "http://"):
		return "https://" + t.nonce + ".invalid/" + strconv.Itoa(n)
	case strings.HasPrefix(s, "urn:uuid:"):
		if uuidIRI.MatchString(s) {
			return "urn:uuid:" + t.nonce + "-" + strconv.Itoa(n)
		}
		return ""
	case strings.Contains(s, ":") && !dateTime.MatchString(s):
		return ""
	}
	return "\u0000" + t.nonce + "#" + strconv.Itoa(n)
}

// split returns the template of a document and its templated values, or ok false when the
// document cannot be templated (an inline @context, or a string containing the nonce).
func (t *templater) split(doc map[string]any) (shape map[string]any, values []string, ok bool) {
	switch c := doc["@context"].(type) {
	case string:
	case []any:
		for _, e := range c {
			if _, isString := e.(string); !isString {
				return nil, nil, false
			}
		}
	default:
		return nil, nil, false
	}
	ok = true
	index := map[string]int{} // equal strings share a placeholder
	var walk func(v any, key string) any
	walk = func(v any, key string) any {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				if strings.Contains(k, t.nonce) {
					ok = false
				}
				keys = append(keys, k)
			}
			sort.Strings(keys)
			out := make(map[string]any, len(v))
			for _, k := range keys {
				out[k] = walk(v[k], k)
			}
			return out
		case []any:
			out := make([]any, len(v))
			for i, e := range v {
				out[i] = walk(e, key)
			}
			return out
		case string:
			if strings.Contains(v, t.nonce) {
				ok = false
				return v
			}
			if key == "@context" || key == "type" || key == "@type" {
				return v
			}
			n, seen := index[v]
			if !seen {
				n = len(values)
			}
			p := t.templateValue(v, n)
			if p != "" && !seen {
				index[v] = n
				values = append(values, v)
			}
			if p != "" {
				return p
			}
			return v
		}
		return v
	}
	shape, _ = walk(doc, "").(map[string]any)
	return shape, values, ok
}

// dataset returns the RDF dataset of doc, from a template when it can. expand is
// json-gold's expansion (with the processed context, as a node list), toRDF json-gold's
// conversion to RDF.
func (t *templater) dataset(doc map[string]any, expand func(map[string]any) ([]any, error), toRDF func([]any) (*ld.RDFDataset, error)) (*ld.RDFDataset, error) {
	raw := func(doc map[string]any) (*ld.RDFDataset, error) {
		exp, err := expand(doc)
		if err != nil {
			return nil, err
		}
		return toRDF(exp)
	}
	if !t.safe {
		t.stats.skipped.Add(1)
		return raw(doc)
	}
	shape, values, ok := t.split(doc)
	if !ok {
		t.stats.skipped.Add(1)
		return raw(doc)
	}
	key, err := json.Marshal(shape)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	e := t.byKey[string(key)]
	t.mu.Unlock()
	if e == nil {
		// Learn which values must stay: expand the shape with every placeholder.
		e = &shapeEntry{variants: map[string]*template{}}
		exp, err := expand(shape)
		if err != nil {
			t.stats.skipped.Add(1)
			return raw(doc)
		}
		tpl, bad := t.checkTemplate(exp, allValues(len(values)))
		switch {
		case bad == nil: // a placeholder in a key or altered beyond recognition
			e.variants[string(key)] = &template{}
		case len(bad) == 0:
			e.variants[string(key)] = t.convert(exp, tpl, toRDF)
		default:
			e.keep = bad
		}
		t.mu.Lock()
		if len(t.byKey) < maxTemplates {
			t.byKey[string(key)] = e
		}
		t.mu.Unlock()
	}
	variant, vkey := shape, key
	if len(e.keep) > 0 {
		variant, _ = keepValues(shape, e.keep, values, t.nonce).(map[string]any)
		if vkey, err = json.Marshal(variant); err != nil {
			return nil, err
		}
	}
	t.mu.Lock()
	tpl := e.variants[string(vkey)]
	t.mu.Unlock()
	if tpl == nil {
		tpl = &template{}
		if exp, err := expand(variant); err == nil {
			want := allValues(len(values))
			for i := range e.keep {
				delete(want, i)
			}
			if got, bad := t.checkTemplate(exp, want); bad != nil && len(bad) == 0 {
				tpl = t.convert(exp, got, toRDF)
			}
		}
		t.mu.Lock()
		if len(e.variants) < maxTemplates {
			e.variants[string(vkey)] = tpl
		}
		t.mu.Unlock()
	}
	if !tpl.ok {
		t.stats.rejected.Add(1)
		return raw(doc)
	}
	ds, ok := fill(tpl, values)
	if !ok {
		t.stats.rejected.Add(1)
		return raw(doc)
	}
	t.stats.hits.Add(1)
	return ds, nil
}

// convert finishes a template whose expansion passed checkTemplate: json-gold converts the
// expanded template to RDF, and checkQuads decides whether the quads can be filled.
func (t *templater) convert(exp []any, tpl *template, toRDF func([]any) (*ld.RDFDataset, error)) *template {
	ds, err := toRDF(exp)
	if err != nil || len(ds.Graphs) != 1 || ds.Graphs["@default"] == nil || !t.checkQuads(ds.Graphs["@default"], tpl.slots) {
		return &template{}
	}
	t.stats.built.Add(1)
	return &template{quads: ds.Graphs["@default"], slots: tpl.slots, ok: true}
}

// checkQuads reports whether every placeholder of the template's RDF is a whole node that
// the conversion to RDF made from the string without looking at it: an IRI placeholder as
// the subject or object IRI (from an @id), or any placeholder as the lexical form of a
// literal that is not a JSON literal (from a @value; rdf:JSON literals are re-serialized).
// Every value must appear, and nothing else may mention the nonce.
func (t *templater) checkQuads(quads []*ld.Quad, slots map[string]int) bool {
	seen := make(map[int]bool, len(slots))
	node := func(n ld.Node, subjectOrObject bool) bool {
		switch n := n.(type) {
		case nil:
			return true
		case ld.IRI:
			if !strings.Contains(n.Value, t.nonce) {
				return true
			}
			num, ok := slots[n.Value]
			if !ok || !subjectOrObject || strings.HasPrefix(n.Value, "\u0000") {
				return false
			}
			seen[num] = true
			return true
		case ld.BlankNode:
			return !strings.Contains(n.Attribute, t.nonce)
		case ld.Literal:
			if strings.Contains(n.Datatype, t.nonce) || strings.Contains(n.Language, t.nonce) {
				return false
			}
			if !strings.Contains(n.Value, t.nonce) {
				return true
			}
			num, ok := slots[n.Value]
			if !ok || !subjectOrObject || n.Datatype == ld.RDFJSONLiteral {
				return false
			}
			seen[num] = true
			return true
		}
		return false
	}
	for _, q := range quads {
		if !node(q.Subject, true) || !node(q.Predicate, false) || !node(q.Object, true) || !node(q.Graph, false) {
			return false
		}
	}
	return len(seen) == len(slots)
}

// fill returns the template's RDF with each placeholder replaced by its value, less the
// statements json-gold drops because a value is not a valid IRI (its check is ld.IsURL for
// http(s) IRIs). It refuses (ok false) when two statements come out the same (a value
// equal to a constant of the template: json-gold might have merged them).
func fill(tpl *template, values []string) (*ld.RDFDataset, bool) {
	out := make([]*ld.Quad, 0, len(tpl.quads))
	seen := make(map[[4]ld.Node]bool, len(tpl.quads))
	valid := true
	checked := make([]int8, len(values)) // 0 unchecked, 1 valid, -1 invalid
	put := func(n ld.Node) ld.Node {
		switch v := n.(type) {
		case ld.IRI:
			if i, ok := tpl.slots[v.Value]; ok {
				iri := values[i]
				if checked[i] == 0 {
					checked[i] = 1
					if (strings.HasPrefix(iri, "http://") || strings.HasPrefix(iri, "https://")) && !urls.isURL(iri) {
						checked[i] = -1
					}
				}
				if checked[i] < 0 {
					valid = false
				}
				return ld.NewIRI(iri)
			}
		case ld.Literal:
			if i, ok := tpl.slots[v.Value]; ok {
				v.Value = values[i]
				return v
			}
		}
		return n
	}
	for _, q := range tpl.quads {
		valid = true
		f := &ld.Quad{Subject: put(q.Subject), Predicate: q.Predicate, Object: put(q.Object), Graph: q.Graph}
		if !valid {
			continue
		}
		k := [4]ld.Node{f.Subject, f.Predicate, f.Object, f.Graph}
		if seen[k] {
			return nil, false
		}
		seen[k] = true
		out = append(out, f)
	}
	ds := ld.NewRDFDataset()
	ds.Graphs["@default"] = out
	return ds, true
}

func allValues(n int) map[int]bool {
	m := make(map[int]bool, n)
	for i := range n {
		m[i] = true
	}
	return m
}

// keepValues copies a shape with the placeholders of the kept values replaced by the values.
func keepValues(v any, keep map[int]bool, values []string, nonce string) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = keepValues(e, keep, values, nonce)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = keepValues(e, keep, values, nonce)
		}
		return out
	case string:
		if n, ok := placeholderNumber(v, nonce); ok && keep[n] {
			return values[n]
		}
	}
	return v
}

var placeholderNum = regexp.MustCompile(`(?:\.invalid/|-|#)([0-9]+)`)

// placeholderNumber returns the value number of a placeholder, or of a string expansion
// made from one (a placeholder expanded as a vocabulary term ends with it).
func placeholderNumber(s, nonce string) (int, bool) {
	i := strings.Index(s, nonce)
	if i < 0 {
		return 0, false
	}
	m := placeholderNum.FindStringSubmatchIndex(s[i+len(nonce):])
	if m == nil || m[0] != 0 {
		return 0, false
	}
	n, err := strconv.Atoi(s[i+len(nonce)+m[2] : i+len(nonce)+m[3]])
	return n, err == nil
}

// checkTemplate finds the placeholders of the wanted values in an expanded template. Each
// must appear, and every occurrence unchanged, as the value of "@value" (any placeholder)
// or "@id" (an IRI placeholder). It returns the template and the wanted values that did not (empty
// when the template can be used), or nil bad when a placeholder is where no value can be
// told apart (in a key, or a string that does not say which value it came from).
func (t *templater) checkTemplate(exp []any, want map[int]bool) (tpl *template, bad map[int]bool) {
	slots := make(map[string]int, len(want))
	seen := map[int]int{}
	bad = map[int]bool{}
	broken := false
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if strings.Contains(k, t.nonce) {
					broken = true
				}
				walk(e, k)
			}
		case []any:
			for _, e := range v {
				walk(e, key)
			}
		case string:
			if !strings.Contains(v, t.nonce) {
				return
			}
			num, ok := placeholderNumber(v, t.nonce)
			if !ok || !want[num] {
				broken = true
				return
			}
			seen[num]++
			isIRI := !strings.HasPrefix(v, "\u0000")
			if t.templateValue(placeholderForm(v), num) != v || (key != "@value" && !(key == "@id" && isIRI)) {
				bad[num] = true
				return
			}
			slots[v] = num
		}
	}
	walk(exp, "")
	if broken {
		return nil, nil
	}
	for num := range want {
		if seen[num] == 0 {
			bad[num] = true
		}
	}
	if len(bad) > 0 {
		return nil, bad
	}
	return &template{slots: slots}, bad
}

// placeholderForm returns a value of the form a placeholder stands for, so that
// templateValue recreates the same placeholder (a consistency check).
func placeholderForm(p string) string {
	switch {
	case strings.HasPrefix(p, "https://"):
		return "https://x"
	case strings.HasPrefix(p, "urn:uuid:"):
		return "urn:uuid:00000000-0000-0000-0000-000000000000"
	}
	return "x"
}

// urls remembers ld.IsURL, json-gold's check of an http(s) IRI (a large regular expression):
// the IRIs a definition's credentials share (image, issuer, status list) are checked once.
// Two generations of at most urlMemoSize results each keep it bounded.
var urls urlMemo

const urlMemoSize = 1024

type urlMemo struct {
	mu       sync.Mutex
	cur, old map[string]bool
}

func (m *urlMemo) isURL(iri string) bool {
	m.mu.Lock()
	ok, seen := m.cur[iri]
	if !seen {
		ok, seen = m.old[iri]
	}
	m.mu.Unlock()
	if !seen {
		ok = ld.IsURL(iri)
	}
	m.mu.Lock()
	if m.cur == nil || len(m.cur) >= urlMemoSize {
		m.old, m.cur = m.cur, make(map[string]bool, 64)
	}
	m.cur[iri] = ok
	m.mu.Unlock()
	return ok
}
