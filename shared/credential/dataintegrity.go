package credential

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mr-tron/base58"
	"github.com/piprate/json-gold/ld"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Data Integrity proof (W3C "Data Integrity EdDSA Cryptosuites v1.0", eddsa-rdfc-2022).
const (
	ProofType    = "DataIntegrityProof"
	Cryptosuite  = "eddsa-rdfc-2022"
	ProofPurpose = "assertionMethod"
)

// MediaTypeLD is the media type of a credential secured with an embedded proof (VC 2.0).
const MediaTypeLD = "application/vc+ld+json"

//go:embed contexts/*.json contexts/*.jsonld
var contextFiles embed.FS

// EmbeddedContexts maps each JSON-LD context URL credbatch knows to its pinned copy in
// contexts/: VC 2.0, OB 3.0.3 (what credentials use), DID v1 and Multikey v1 (what the DID
// document uses). Nothing else is ever loaded, and nothing is fetched.
var EmbeddedContexts = map[string]string{
	"https://www.w3.org/ns/credentials/v2":                       "contexts/credentials-v2.jsonld",
	"https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json": "contexts/ob-context-3.0.3.json",
	"https://www.w3.org/ns/did/v1":                               "contexts/did-v1.jsonld",
	"https://w3id.org/security/multikey/v1":                      "contexts/multikey-v1.jsonld",
}

// Loader is a JSON-LD document loader over EmbeddedContexts only: any other URL is an
// error, so canonicalization never touches the network. It parses each context document
// once, and keeps each distinct @context it has processed and the expansion templates
// (see Canonicalize and canonical.go).
type Loader struct {
	once      sync.Once
	docs      map[string]any
	err       error
	templates *templater

	mu     sync.Mutex
	active map[string]*ld.Context // processed @context, by its JSON
}

var defaultLoader = &Loader{}

// DefaultLoader returns the shared loader.
func DefaultLoader() *Loader { return defaultLoader }

func (l *Loader) load() error {
	l.once.Do(func() {
		l.docs = map[string]any{}
		for url, name := range EmbeddedContexts {
			data, err := contextFiles.ReadFile(name)
			if err != nil {
				l.err = err
				return
			}
			var v any
			if err := json.Unmarshal(data, &v); err != nil {
				l.err = fmt.Errorf("context %s: %w", name, err)
				return
			}
			l.docs[url] = v
		}
		l.templates = newTemplater(l.docs)
	})
	return l.err
}

// LoadDocument implements ld.DocumentLoader.
func (l *Loader) LoadDocument(u string) (*ld.RemoteDocument, error) {
	if err := l.load(); err != nil {
		return nil, err
	}
	d, ok := l.docs[u]
	if !ok {
		return nil, ld.NewJsonLdError(ld.LoadingDocumentFailed, fmt.Sprintf("context %s is not one credbatch embeds; it is never fetched", u))
	}
	return &ld.RemoteDocument{DocumentURL: u, Document: d}, nil
}

func (l *Loader) options() *ld.JsonLdOptions {
	opts := ld.NewJsonLdOptions("")
	opts.Algorithm = ld.AlgorithmURDNA2015
	opts.Format = "application/n-quads"
	opts.ProcessingMode = ld.JsonLd_1_1
	opts.DocumentLoader = l
	opts.SafeMode = true
	return opts
}

// CanonicalizeReference is json-gold's own RDFC-1.0 (URDNA2015) normalization of a JSON-LD
// document, context processing included: what Canonicalize must equal byte for byte.
func (l *Loader) CanonicalizeReference(doc any) (string, error) {
	out, err := ld.NewJsonLdProcessor().Normalize(doc, l.options())
	if err != nil {
		return "", fmt.Errorf("canonicalize: %w", err)
	}
	s, _ := out.(string)
	return s, nil
}

// Canonicalize returns the RDFC-1.0 canonical N-Quads of a JSON-LD object, with json-gold
// and the embedded contexts. A term that no context defines is an error (safe mode), since
// it would silently drop out of what is signed.
//
// It runs json-gold's own steps (expand, to RDF, normalize) but processes each distinct
// top-level @context once and reuses it: processing the OB 3.0 context was most of the cost
// of every credential. The expansion of a document is a function of the processed context
// and the rest of the document, so the output is the same as CanonicalizeReference, which
// a test checks byte for byte.
func (l *Loader) Canonicalize(doc map[string]any) (string, error) {
	return l.canonicalize(doc, false)
}

// canonicalizeTemplated is Canonicalize through expansion templates (canonical.go): what
// signing uses, since credbatch's own documents repeat a few shapes. Verifying, which takes
// documents from anyone, does not fill the template cache.
func (l *Loader) canonicalizeTemplated(doc map[string]any) (string, error) {
	return l.canonicalize(doc, true)
}

func (l *Loader) canonicalize(doc map[string]any, templated bool) (string, error) {
	if err := l.load(); err != nil {
		return "", fmt.Errorf("canonicalize: %w", err)
	}
	opts := l.options()
	api := ld.NewJsonLdApi()
	expand := func(doc map[string]any) ([]any, error) {
		active, err := l.activeContext(doc["@context"], opts)
		if err != nil {
			return nil, err
		}
		body := make(map[string]any, len(doc))
		for k, v := range doc {
			if k != "@context" {
				body[k] = v
			}
		}
		expanded, err := api.Expand(active, "", body, opts, false, nil)
		if err != nil {
			return nil, err
		}
		return nodeList(expanded), nil
	}
	toRDF := func(list []any) (*ld.RDFDataset, error) { return api.ToRDF(list, opts) }
	var dataset *ld.RDFDataset
	var err error
	if templated {
		dataset, err = l.templates.dataset(doc, expand, toRDF)
	} else {
		var list []any
		if list, err = expand(doc); err == nil {
			dataset, err = toRDF(list)
		}
	}
	if err != nil {
		return "", fmt.Errorf("canonicalize: %w", err)
	}
	return canonicalNQuads(dataset, opts)
}

// canonicalNQuads is json-gold's Normalize to N-Quads (RDFC-1.0 steps 1 to 7, then the
// sorted lines) without its final loop, which joins the lines with += and so copies the
// output once per line: for a credential that join was nine tenths of canonicalizing.
// The lines are json-gold's own serialization of the relabelled quads, sorted as it sorts
// them, so the output is CanonicalizeReference's byte for byte (TestTemplatedMatchesReference,
// TestSecureMatchesReference).
func canonicalNQuads(dataset *ld.RDFDataset, opts *ld.JsonLdOptions) (string, error) {
	na := ld.NewNormalisationAlgorithm(opts.Algorithm)
	na.Normalize(dataset)
	// Normalize gave every quad its canonical labels and its graph; serialize them under
	// those graph names, as json-gold's Main does.
	relabelled := &ld.RDFDataset{Graphs: map[string][]*ld.Quad{}}
	for _, q := range na.Quads() {
		name := "@default"
		if q.Graph != nil && q.Graph.GetValue() != "" {
			name = q.Graph.GetValue()
		}
		relabelled.Graphs[name] = append(relabelled.Graphs[name], q)
	}
	var buf strings.Builder
	if err := (&ld.NQuadRDFSerializer{}).SerializeTo(&buf, relabelled); err != nil {
		return "", fmt.Errorf("canonicalize: %w", err)
	}
	// Each quad is one line ending in "\n" (literals escape their newlines).
	lines := strings.SplitAfter(buf.String(), "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	sort.Strings(lines)
	return strings.Join(lines, ""), nil
}

// nodeList is the end of json-gold's expand: a lone @graph unwrapped, the result as an array.
func nodeList(expanded any) []any {
	var list []any
	switch e := expanded.(type) {
	case map[string]any:
		if g, ok := e["@graph"]; ok && len(e) == 1 {
			if gl, ok := g.([]any); ok {
				list = gl
			} else {
				list = []any{g}
			}
		} else if len(e) > 0 {
			list = []any{e}
		}
	case []any:
		list = e
	case nil:
	default:
		list = []any{e}
	}
	if list == nil {
		list = []any{}
	}
	return list
}

// activeContext returns the processed form of a top-level @context, processing it on first
// use. A processed context is only read by expansion (scoped contexts are copies), so one
// is shared by every goroutine.
func (l *Loader) activeContext(ctx any, opts *ld.JsonLdOptions) (*ld.Context, error) {
	key, err := json.Marshal(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	c, ok := l.active[string(key)]
	l.mu.Unlock()
	if ok {
		return c, nil
	}
	if ctx == nil {
		return ld.NewContext(nil, opts), nil
	}
	c, err = ld.NewContext(nil, opts).Parse(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.active == nil {
		l.active = map[string]*ld.Context{}
	}
	if len(l.active) < 64 { // a deployment uses two; never grow without bound
		l.active[string(key)] = c
	}
	l.mu.Unlock()
	return c, nil
}

// Proof is a DataIntegrityProof.
type Proof struct {
	Context            any    `json:"@context,omitempty"`
	Type               string `json:"type"`
	Cryptosuite        string `json:"cryptosuite"`
	Created            string `json:"created,omitempty"`
	VerificationMethod string `json:"verificationMethod"`
	ProofPurpose       string `json:"proofPurpose"`
	ProofValue         string `json:"proofValue,omitempty"`
}

// hashData is the eddsa-rdfc-2022 input to the signature: SHA-256 of the canonical proof
// configuration, then SHA-256 of the canonical document (the spec's order).
func (l *Loader) hashData(doc map[string]any, cfg Proof, signing bool) ([]byte, error) {
	canon := l.Canonicalize
	if signing {
		canon = l.canonicalizeTemplated
	}
	canonDoc, err := canon(doc)
	if err != nil {
		return nil, err
	}
	cfg.ProofValue = ""
	cfg.Context = doc["@context"]
	raw, err := toJSONValue(cfg)
	if err != nil {
		return nil, err
	}
	canonCfg, err := canon(raw)
	if err != nil {
		return nil, fmt.Errorf("proof configuration: %w", err)
	}
	h1 := sha256.Sum256([]byte(canonCfg))
	h2 := sha256.Sum256([]byte(canonDoc))
	return append(h1[:], h2[:]...), nil
}

// Secure returns the document (a Document, a statuslist.Document or any value that
// marshals to a JSON-LD object without a proof) with an embedded eddsa-rdfc-2022 proof made
// with the active Ed25519 key at time created.
func (s *Signer) Secure(doc any, created time.Time) ([]byte, error) {
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("secure: marshal document: %w", err)
	}
	m, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("secure: %w", err)
	}
	if _, ok := m["proof"]; ok {
		return nil, fmt.Errorf("secure: the document already has a proof")
	}
	proof := Proof{Type: ProofType, Cryptosuite: Cryptosuite, Created: created.UTC().Truncate(time.Second).Format(time.RFC3339),
		VerificationMethod: s.VerificationMethod(), ProofPurpose: ProofPurpose}
	hash, err := s.contexts.hashData(m, proof, true)
	if err != nil {
		return nil, fmt.Errorf("secure %v: %w", m["id"], err)
	}
	proof.ProofValue = "z" + base58.Encode(ed25519.Sign(s.ed.Private, hash))
	p, err := json.Marshal(proof)
	if err != nil {
		return nil, fmt.Errorf("secure: %w", err)
	}
	// The document's own JSON, then the proof: what /json serves is what was canonicalized.
	// The proof is a one-element array: Data Integrity allows an object or a set, and the
	// OB 3.0 JSON Schema requires an array.
	var b bytes.Buffer
	b.Write(data[:len(data)-1])
	b.WriteString(`,"proof":[`)
	b.Write(p)
	b.WriteString(`]}`)
	return b.Bytes(), nil
}

// VerifyProof checks the embedded eddsa-rdfc-2022 proof of a secured document against the
// keys and returns the proof. Errors: KindInvalid (code invalid_signature) when the document
// is malformed, the proof is not one credbatch makes, the key is unknown or the signature
// wrong; other kinds when the keys could not be read.
func VerifyProof(secured []byte, resolver KeyResolver, l *Loader) (Proof, error) {
	invalid := func(msg string) error { return credbatch.E(credbatch.KindInvalid, "invalid_signature", msg) }
	m, err := decodeObject(secured)
	if err != nil {
		return Proof{}, invalid(err.Error())
	}
	rawProof, ok := m["proof"]
	if !ok {
		return Proof{}, invalid("the credential has no proof")
	}
	delete(m, "proof")
	if set, ok := rawProof.([]any); ok {
		if len(set) != 1 {
			return Proof{}, invalid(fmt.Sprintf("the credential has %d proofs; credbatch makes one", len(set)))
		}
		rawProof = set[0]
	}
	pb, _ := json.Marshal(rawProof)
	var proof Proof
	if err := json.Unmarshal(pb, &proof); err != nil {
		return Proof{}, invalid("the proof is not a single DataIntegrityProof")
	}
	switch {
	case proof.Type != ProofType || proof.Cryptosuite != Cryptosuite:
		return proof, invalid(fmt.Sprintf("proof type/cryptosuite %s/%s, want %s/%s", proof.Type, proof.Cryptosuite, ProofType, Cryptosuite))
	case proof.ProofPurpose != ProofPurpose:
		return proof, invalid(fmt.Sprintf("proofPurpose %q, want %q", proof.ProofPurpose, ProofPurpose))
	case !strings.HasPrefix(proof.ProofValue, "z"):
		return proof, invalid("proofValue is not base58btc multibase")
	}
	if proof.Created != "" {
		if _, err := time.Parse(time.RFC3339, proof.Created); err != nil {
			return proof, invalid(fmt.Sprintf("proof created %q is not an RFC 3339 time", proof.Created))
		}
	}
	if proof.Context != nil {
		// A proof with its own @context must use the document's (the spec's check).
		a, _ := json.Marshal(proof.Context)
		b, _ := json.Marshal(m["@context"])
		if !bytes.Equal(a, b) {
			return proof, invalid("the proof's @context differs from the document's")
		}
	}
	sig, err := base58.Decode(proof.ProofValue[1:])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return proof, invalid("proofValue is not a base58btc Ed25519 signature")
	}
	k, err := resolver.Key(proof.VerificationMethod)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		return proof, invalid(fmt.Sprintf("signing key %s is not published by this issuer", proof.VerificationMethod))
	}
	if err != nil {
		return proof, fmt.Errorf("look up key %s: %w", proof.VerificationMethod, err)
	}
	if k.IsES256() || len(k.Public) != ed25519.PublicKeySize {
		return proof, invalid(fmt.Sprintf("verification method %s is not an Ed25519 key", proof.VerificationMethod))
	}
	hash, err := l.hashData(m, proof, false)
	if err != nil {
		return proof, invalid("the credential cannot be canonicalized: " + err.Error())
	}
	if !ed25519.Verify(k.Public, hash, sig) {
		return proof, invalid("the signature does not match the content")
	}
	return proof, nil
}

func decodeObject(data []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("the credential is not a JSON object")
	}
	if d.More() {
		return nil, fmt.Errorf("the credential has trailing data")
	}
	return m, nil
}

func toJSONValue(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return decodeObject(b)
}

// Unsecured returns a secured document without its proof, members in their order (the
// JSON-LD credential a VC-JWT carries). A document without a proof is returned as it is.
func Unsecured(secured []byte) ([]byte, error) {
	m, err := decodeObject(secured)
	if err != nil {
		return nil, err
	}
	if _, ok := m["proof"]; !ok {
		return secured, nil
	}
	// Secure puts the proof last; anything else is rebuilt without it.
	if i := bytes.LastIndex(secured, []byte(`,"proof":`)); i > 0 {
		out := append(append([]byte(nil), secured[:i]...), '}')
		if o, err := decodeObject(out); err == nil && len(o) == len(m)-1 {
			return out, nil
		}
	}
	delete(m, "proof")
	return json.Marshal(m)
}
