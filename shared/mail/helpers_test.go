package mail

import (
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
)

func quotedPrintableReader(r io.Reader) io.Reader { return quotedprintable.NewReader(r) }

func decodeBase64(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(b)))
	if err != nil {
		t.Fatalf("decode base64: %v", err)
	}
	return out
}
