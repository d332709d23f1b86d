package credential

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// TestStoredJWT checks the VC-JWT kept at issuance in detached form (SignStored) and served
// by AttachJWT: byte for byte the JWS the issuer signed, its payload the one SignJWT signs
// for the same document, and it verifies; malformed stored forms are refused.
func TestStoredJWT(t *testing.T) {
	set := newKeys(t)
	s := mustSigner(t, set)
	doc := mustBuild(t, testIssuer, testDefinition(), testCredential())
	secured := []byte(mustSecure(t, s, doc))

	detached, err := s.SignStored(secured)
	if err != nil {
		t.Fatalf("SignStored: %v", err)
	}
	if parts := strings.Split(detached, "."); len(parts) != 3 || parts[0] == "" || parts[1] != "" || parts[2] == "" {
		t.Fatalf("SignStored = %q, want <header>..<signature>", detached)
	}
	token, err := AttachJWT(secured, detached)
	if err != nil {
		t.Fatalf("AttachJWT: %v", err)
	}

	// The same JWS object serialized whole and detached: attaching gives the whole one.
	payload, err := StoredJWTPayload(secured)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.jwt.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	whole, _ := jws.CompactSerialize()
	det, _ := jws.DetachedCompactSerialize()
	if got, err := AttachJWT(secured, det); err != nil || got != whole {
		t.Errorf("AttachJWT(detached) = %q, %v\nwant the compact JWS signed %q", got, err, whole)
	}

	// The payload is what SignJWT signs for the document (what the route signed before).
	old := strings.Split(mustSign(t, s, doc), ".")[1]
	if got := strings.Split(token, ".")[1]; got != old || got != base64.RawURLEncoding.EncodeToString(payload) {
		t.Errorf("payload differs from SignJWT's:\n%s\n%s", got, old)
	}

	res, err := NewVerifier(set, nil).Verify(t.Context(), token, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || !res.Valid || res.Format != FormatJWT || res.KeyID != s.KeyID() {
		t.Errorf("Verify(attached) = %+v, %v; want a valid %s signed by %s", res, err, FormatJWT, s.KeyID())
	}
	// Rebuilt from another document, the signature does not match.
	other := testCredential()
	other.Name = "Grace Hopper"
	forged, err := AttachJWT([]byte(mustSecure(t, s, mustBuild(t, testIssuer, testDefinition(), other))), detached)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := NewVerifier(set, nil).Verify(t.Context(), forged, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)); err == nil && res.Valid {
		t.Error("a stored signature attached to another document verifies")
	}

	for _, bad := range []string{"", whole, "h..", "..s", "h...s", "h.x..s"} {
		if _, err := AttachJWT(secured, bad); err == nil {
			t.Errorf("AttachJWT(%q) succeeded, want an error", bad)
		}
	}
}
