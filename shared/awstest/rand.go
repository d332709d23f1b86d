package awstest

import (
	"crypto/rand"
	"encoding/hex"
)

func randSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
