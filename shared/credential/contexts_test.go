package credential

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// TestEmbeddedContextsPinned: the embedded contexts are byte for byte the documents the
// standards publish (the VC 2.0 and OB 3.0.3 hashes are those of the reference copies the
// project keeps; DID v1 is did-context 3.1.1, Multikey v1 @digitalbazaar/multikey-context
// 2.0.1, the copies the verifier libraries pin).
func TestEmbeddedContextsPinned(t *testing.T) {
	want := map[string]string{
		"https://www.w3.org/ns/credentials/v2":                       "59955ced6697d61e03f2b2556febe5308ab16842846f5b586d7f1f7adec92734",
		"https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json": "ef2fa9c7846dce233cc166b43639027278be4ee44f00bb1d45c75de2dd0cd761",
		"https://www.w3.org/ns/did/v1":                               "62c1054bf404d6dd3a4b26b64f830fd72095f6a26edc4469908c94351352ce5f",
		"https://w3id.org/security/multikey/v1":                      "c5f3806f8286920573221938917988a18a4cc5a09e968d29649613c7a1c2b1f6",
	}
	if len(EmbeddedContexts) != len(want) {
		t.Errorf("%d embedded contexts, want %d", len(EmbeddedContexts), len(want))
	}
	for url, sum := range want {
		data, err := contextFiles.ReadFile(EmbeddedContexts[url])
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		got := sha256.Sum256(data)
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: sha256 %x, want %s", url, got, sum)
		}
		if _, err := DefaultLoader().LoadDocument(url); err != nil {
			t.Errorf("LoadDocument(%s): %v", url, err)
		}
	}
	if _, err := DefaultLoader().LoadDocument("https://w3id.org/security/data-integrity/v2"); err == nil {
		t.Error("the loader returned a context it does not embed")
	}
}
