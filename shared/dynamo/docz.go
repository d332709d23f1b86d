package dynamo

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	_ "embed"
	"encoding/base64"
	"encoding/binary"
	"io"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// A credential's document item holds its signed document and detached VC-JWT in one binary
// attribute, DEFLATE-compressed with a preset dictionary (docDictV1): the contexts, types,
// property names, proof, status-list entry and JWT header that every credbatch credential
// repeats, so that only what is particular to the credential is left to compress. A typical
// credential's item is 0.8-1 KB, one write unit (gzip alone, with the VC-JWT beside it:
// 1.1-1.7 KB, two); one with a long evidence narrative or long texts still takes two
// (TestDocItemSizes).
//
// The attribute's name says the dictionary and the layout: Docz1 is docdict/v1.txt with the
// layout of encodeDocz. A stored item can only be read with the exact bytes it was written
// with, so a dictionary is never changed: a better one is docdict/v2.txt under a new attribute
// name (Docz2), read beside the old ones. Items written before (JWT plain, JWTgz gzip with
// JWTDetached beside it) are read as they are.
const (
	attrDocz1 = "Docz1"
	// maxDocBytes bounds what decompressing a stored document may produce (documents are
	// 2-5 KB; a DynamoDB item is at most 400 KB): a corrupt or hostile item is an error, not an
	// allocation.
	maxDocBytes = 1 << 20
)

// docDictV1 is the preset dictionary of Docz1 items. Its SHA-256 is pinned by a test
// (TestDocDictPinned); TestDocDictGenerate writes a new version from sample credentials.
//
//go:embed docdict/v1.txt
var docDictV1 []byte

// Layout of a Docz1 value before compression:
//
//	uvarint len(document) | document | detached VC-JWT
//
// where the detached VC-JWT ("<header>..<signature>", RFC 7515 Appendix F) is empty (none),
// 0x00 and the string as it is, or 0x01, uvarint len(header JSON), the header's JSON and the
// signature's bytes: the header decoded, so that its "did:web:..." compresses against the
// document's. The decoded form is used only when encoding it again gives the same string.
const (
	detachedRaw     = 0
	detachedDecoded = 1
)

// encodeDocz returns the Docz1 value of a document and its detached VC-JWT.
func encodeDocz(doc, detached string) ([]byte, error) {
	p := binary.AppendUvarint(make([]byte, 0, len(doc)+len(detached)+16), uint64(len(doc)))
	p = append(p, doc...)
	if detached != "" {
		if header, sig, ok := decodeDetached(detached); ok {
			p = append(p, detachedDecoded)
			p = binary.AppendUvarint(p, uint64(len(header)))
			p = append(append(p, header...), sig...)
		} else {
			p = append(p, detachedRaw)
			p = append(p, detached...)
		}
	}
	var z bytes.Buffer
	w, _ := doczWriters.Get().(*flate.Writer)
	if w == nil {
		var err error
		if w, err = flate.NewWriterDict(&z, flate.BestCompression, docDictV1); err != nil {
			return nil, credbatch.Errorf(credbatch.KindInternal, "compress the document: %v", err)
		}
	} else {
		w.Reset(&z) // as NewWriterDict with the same level and dictionary
	}
	defer doczWriters.Put(w)
	if _, err := w.Write(p); err != nil {
		return nil, credbatch.Errorf(credbatch.KindInternal, "compress the document: %v", err)
	}
	if err := w.Close(); err != nil {
		return nil, credbatch.Errorf(credbatch.KindInternal, "compress the document: %v", err)
	}
	return z.Bytes(), nil
}

// doczWriters keeps Docz1 compressors for reuse: a new one allocates about 800 KB.
var doczWriters sync.Pool

// decodeDetached splits a detached compact JWS into its header and signature bytes, when
// both are canonical unpadded base64url (so that encoding them again gives the same string).
func decodeDetached(detached string) (header, sig []byte, ok bool) {
	h, s, found := strings.Cut(detached, "..")
	if !found || strings.Contains(s, ".") {
		return nil, nil, false
	}
	enc := base64.RawURLEncoding.Strict()
	header, err1 := enc.DecodeString(h)
	sig, err2 := enc.DecodeString(s)
	if err1 != nil || err2 != nil || enc.EncodeToString(header) != h || enc.EncodeToString(sig) != s {
		return nil, nil, false
	}
	return header, sig, true
}

// decodeDocz reads a Docz1 value back into the document and detached VC-JWT it was made of.
func decodeDocz(v []byte) (storedDoc, error) {
	p, err := inflate(flate.NewReaderDict(bytes.NewReader(v), docDictV1))
	if err != nil {
		return storedDoc{}, err
	}
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return storedDoc{}, errCorruptDoc
	}
	p = p[k:]
	d := storedDoc{jwt: string(p[:n])}
	p = p[n:]
	switch {
	case len(p) == 0:
	case p[0] == detachedRaw:
		d.detached = string(p[1:])
	case p[0] == detachedDecoded:
		n, k := binary.Uvarint(p[1:])
		if k <= 0 || n > uint64(len(p)-1-k) {
			return storedDoc{}, errCorruptDoc
		}
		header, sig := p[1+k:1+k+int(n)], p[1+k+int(n):]
		enc := base64.RawURLEncoding
		d.detached = enc.EncodeToString(header) + ".." + enc.EncodeToString(sig)
	default:
		return storedDoc{}, errCorruptDoc
	}
	return d, nil
}

var errCorruptDoc = credbatch.Errorf(credbatch.KindInternal, "decompress a credential document: the stored value is corrupt")

// inflate reads a decompressing reader to its end, at most maxDocBytes.
func inflate(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxDocBytes+1))
	switch {
	case err != nil:
		return nil, credbatch.Errorf(credbatch.KindInternal, "decompress a credential document: %v", err)
	case len(b) > maxDocBytes:
		return nil, credbatch.Errorf(credbatch.KindInternal, "decompress a credential document: over %d bytes", maxDocBytes)
	}
	return b, nil
}

// storedDocOf reads a document item, or a head that kept its document (ok false when it holds
// none): Docz1, or the forms written before it, JWTgz (gzip, with JWTDetached beside it) and
// JWT (plain).
func storedDocOf(item map[string]types.AttributeValue) (d storedDoc, ok bool, err error) {
	if v, isBin := item[attrDocz1].(*types.AttributeValueMemberB); isBin {
		d, err = decodeDocz(v.Value)
		return d, err == nil, err
	}
	if v, isStr := item[attrJWTDet].(*types.AttributeValueMemberS); isStr {
		d.detached = v.Value
	}
	if v, isStr := item[attrJWT].(*types.AttributeValueMemberS); isStr {
		d.jwt = v.Value
		return d, true, nil
	}
	v, isBin := item[attrDocGz].(*types.AttributeValueMemberB)
	if !isBin {
		return storedDoc{}, false, nil
	}
	r, err := gzip.NewReader(bytes.NewReader(v.Value))
	if err != nil {
		return storedDoc{}, false, credbatch.Errorf(credbatch.KindInternal, "decompress a credential document: %v", err)
	}
	b, err := inflate(r)
	if err != nil {
		return storedDoc{}, false, err
	}
	d.jwt = string(b)
	return d, true, nil
}
