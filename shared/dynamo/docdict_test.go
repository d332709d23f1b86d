package dynamo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"index/suffixarray"
	"os"
	"testing"
	"unicode/utf8"
)

// docDictV1SHA256 pins docdict/v1.txt: Docz1 items are readable only with these exact bytes.
// Never change the file or this hash; a new dictionary is a new file and attribute (docz.go).
const docDictV1SHA256 = "9c510ca5ce8d5aa07342950309d961cc480c0799a458aa0724221f5373fbd89f"

var docDictOut = flag.String("docdict-out", "", "TestDocDictGenerate writes a document dictionary to this file (a new version: docdict/v<N>.txt)")

func TestDocDictPinned(t *testing.T) {
	sum := sha256.Sum256(docDictV1)
	if got := hex.EncodeToString(sum[:]); got != docDictV1SHA256 {
		t.Fatalf("docdict/v1.txt has SHA-256 %s, want %s: a stored Docz1 item reads only with the dictionary it was written with; "+
			"restore the file (git checkout), and put a new dictionary in a new version (docz.go)", got, docDictV1SHA256)
	}
	if !utf8.Valid(docDictV1) {
		t.Error("docdict/v1.txt is not UTF-8")
	}
}

// TestDocDictGenerate writes a document dictionary (-docdict-out FILE) from credentials of
// the sample deployments 1-3 (testdata/docsamples.json), built and signed like the issue
// function's: go test ./shared/dynamo -run TestDocDictGenerate -docdict-out docdict/v2.txt.
// v1.txt was made this way (docdict/README.md).
func TestDocDictGenerate(t *testing.T) {
	if *docDictOut == "" {
		t.Skip("writes a new dictionary with -docdict-out FILE")
	}
	var samples [][]byte
	var group []int
	for dep := 1; dep <= 3; dep++ {
		for _, d := range sampleDocs(t, dep, 24, "docdict") {
			header, _, ok := decodeDetached(d.doc.detached)
			if !ok {
				t.Fatalf("%s: detached VC-JWT %q", d.name, d.doc.detached)
			}
			samples = append(samples, append([]byte(d.doc.jwt), header...))
			group = append(group, dep)
		}
	}
	dict := commonParts(samples, group, 6)
	if err := os.WriteFile(*docDictOut, dict, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(dict)
	t.Logf("%s: %d bytes, SHA-256 %s", *docDictOut, len(dict), hex.EncodeToString(sum[:]))
}

// commonParts returns what the samples of every group (deployment) have in common: each
// sample is walked in turn, and at each position the longest run (at least minLen bytes, cut
// to whole UTF-8 characters) that occurs in a sample of every group is appended, unless the
// dictionary holds it already. The runs are the fixed parts of the documents (property names,
// contexts, types, the proof's and status entry's constants, the JWT header's) with the
// values between them left out; kept in document order they give DEFLATE long matches.
func commonParts(samples [][]byte, group []int, minLen int) []byte {
	byGroup := map[int][]byte{}
	for i, s := range samples {
		byGroup[group[i]] = append(append(byGroup[group[i]], s...), 0xff) // 0xff: in no UTF-8 text
	}
	var idx []*suffixarray.Index
	for _, all := range byGroup {
		idx = append(idx, suffixarray.New(all))
	}
	inAll := func(b []byte) bool {
		for _, x := range idx {
			if len(x.Lookup(b, 1)) == 0 {
				return false
			}
		}
		return true
	}
	var dict []byte
	for _, s := range samples {
		for i := 0; i < len(s); {
			l := 0
			for i+l < len(s) && inAll(s[i:i+l+1]) {
				l++
			}
			run := s[i : i+l]
			for len(run) > 0 && !utf8.RuneStart(run[0]) {
				run = run[1:]
			}
			for len(run) > 0 && !utf8.Valid(run) {
				run = run[:len(run)-1]
			}
			if len(run) >= minLen && !bytes.Contains(dict, run) {
				dict = append(dict, run...)
			}
			if l >= minLen {
				i += l
			} else {
				i++
			}
		}
	}
	return dict
}
