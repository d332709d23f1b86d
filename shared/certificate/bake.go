package certificate

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Keyword is the iTXt keyword of an Open Badges 3.0 baked PNG.
const Keyword = "openbadgecredential"

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// maxExtract bounds the text read back from a (possibly compressed) chunk.
const maxExtract = 8 << 20

// ErrNotPNG is returned for data that is not a well-formed PNG.
var ErrNotPNG = errors.New("not a PNG image")

type chunk struct {
	typ  string
	data []byte
}

// chunks splits a PNG into its chunks, checking the signature, the lengths, the CRCs and
// that IHDR comes first and IEND last.
func chunks(img []byte) ([]chunk, error) {
	if !bytes.HasPrefix(img, pngSignature) {
		return nil, ErrNotPNG
	}
	var out []chunk
	rest := img[len(pngSignature):]
	for len(rest) > 0 {
		if len(rest) < 12 {
			return nil, fmt.Errorf("%w: truncated chunk", ErrNotPNG)
		}
		n := binary.BigEndian.Uint32(rest)
		if uint64(n) > uint64(len(rest)-12) {
			return nil, fmt.Errorf("%w: chunk longer than the file", ErrNotPNG)
		}
		typ, data := string(rest[4:8]), rest[8:8+n]
		if crc32.ChecksumIEEE(rest[4:8+n]) != binary.BigEndian.Uint32(rest[8+n:]) {
			return nil, fmt.Errorf("%w: bad CRC in chunk %q", ErrNotPNG, typ)
		}
		out = append(out, chunk{typ, data})
		rest = rest[12+n:]
		if typ == "IEND" {
			break
		}
	}
	if len(out) < 2 || out[0].typ != "IHDR" || out[len(out)-1].typ != "IEND" {
		return nil, fmt.Errorf("%w: IHDR or IEND missing", ErrNotPNG)
	}
	return out, nil
}

func writeChunk(w *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	w.Write(n[:])
	start := w.Len()
	w.WriteString(typ)
	w.Write(data)
	binary.BigEndian.PutUint32(n[:], crc32.ChecksumIEEE(w.Bytes()[start:]))
	w.Write(n[:])
}

// Bake returns the PNG with the credential (its JSON, or a compact JWS) in one uncompressed
// iTXt chunk with keyword openbadgecredential, right after IHDR; an openbadgecredential
// chunk already there is replaced (OB 3.0 §5.3.1: there must be only one).
func Bake(img []byte, credential string) ([]byte, error) {
	cs, err := chunks(img)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(img) + len(credential) + 64)
	b.Write(pngSignature)
	// keyword NUL, compression flag 0, method 0, language tag "" NUL, translated keyword "" NUL, text
	text := append([]byte(Keyword), 0, 0, 0, 0, 0)
	text = append(text, credential...)
	for i, c := range cs {
		if c.typ == "iTXt" && isBadgeChunk(c.data) {
			continue
		}
		writeChunk(&b, c.typ, c.data)
		if i == 0 {
			writeChunk(&b, "iTXt", text)
		}
	}
	return b.Bytes(), nil
}

func isBadgeChunk(data []byte) bool {
	return bytes.HasPrefix(data, append([]byte(Keyword), 0))
}

// Extract returns the credential baked into a PNG; an error when there is none.
func Extract(img []byte) (string, error) {
	cs, err := chunks(img)
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		if c.typ != "iTXt" || !isBadgeChunk(c.data) {
			continue
		}
		d := c.data[len(Keyword)+1:]
		if len(d) < 2 {
			return "", fmt.Errorf("%w: short iTXt chunk", ErrNotPNG)
		}
		compressed := d[0] == 1
		d = d[2:]
		for range 2 { // language tag, translated keyword
			i := bytes.IndexByte(d, 0)
			if i < 0 {
				return "", fmt.Errorf("%w: malformed iTXt chunk", ErrNotPNG)
			}
			d = d[i+1:]
		}
		if !compressed {
			return string(d), nil
		}
		zr, err := zlib.NewReader(bytes.NewReader(d))
		if err != nil {
			return "", fmt.Errorf("%w: iTXt chunk: %v", ErrNotPNG, err)
		}
		text, err := io.ReadAll(io.LimitReader(zr, maxExtract))
		if err != nil {
			return "", fmt.Errorf("%w: iTXt chunk: %v", ErrNotPNG, err)
		}
		return string(text), nil
	}
	return "", errors.New("the image has no " + Keyword + " chunk: it is not a baked Open Badges 3.0 badge")
}
