package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/keys"
)

// benchSign signs Open Badges 3.0 credentials in every form credbatch makes, each figure
// next to baselines measured in this run: the Digital Bazaar JavaScript signer (vc.issue +
// eddsa-rdfc-2022) on the same credential, json-gold's Normalize without expansion templates,
// and a bare Ed25519 signature. Single-threaded throughout.
func benchSign() error {
	const n, jsN = 2000, 300
	fmt.Println("\n== signing: Open Badges 3.0 credentials, one core")
	set, err := keys.New(time.Now())
	if err != nil {
		return err
	}
	iss := credential.Issuer{BaseURL: "http://127.0.0.1:8080", Name: "Benchmark Academy", URL: "https://academy.example.org"}
	signer, err := credential.NewSigner(set, iss.ID())
	if err != nil {
		return err
	}
	def := credbatch.Definition{ID: "bench", Version: 1, Name: "Benchmark Certificate", Description: "Certifies a benchmark.",
		Criteria: "Signed many times.", Image: "https://academy.example.org/badge.png",
		Attributes: []credbatch.Attribute{{Name: "Score", Type: credbatch.AttrNumber}, {Name: "Instructor", Type: credbatch.AttrText}}}
	credentialN := func(i int) (credential.Document, error) {
		return credential.Build(iss, def, credbatch.Credential{ID: fmt.Sprintf("%032x", i+1), Email: fmt.Sprintf("r%d@example.com", i),
			Name: fmt.Sprintf("Recipient %d Zoë", i), IssueDate: "2026-05-01", StatusListIndex: i,
			Attributes: map[string]string{"Score": fmt.Sprint(i % 100), "Instructor": "Dr Ng"}})
	}
	rate := func(count int, f func(i int) error) (float64, error) {
		start := time.Now()
		for i := range count {
			if err := f(i); err != nil {
				return 0, err
			}
		}
		return float64(count) / time.Since(start).Seconds(), nil
	}

	secure, err := rate(n, func(i int) error {
		doc, err := credentialN(i)
		if err == nil {
			_, err = signer.Secure(doc, time.Now())
		}
		return err
	})
	if err != nil {
		return err
	}
	// The same proof with json-gold's Normalize on the whole document, no templates.
	k, err := set.ActiveKey()
	if err != nil {
		return err
	}
	loader := credential.DefaultLoader()
	reference, err := rate(n/10, func(i int) error {
		doc, err := credentialN(i)
		if err != nil {
			return err
		}
		var m map[string]any
		if err := remarshal(doc, &m); err != nil {
			return err
		}
		canonDoc, err := loader.CanonicalizeReference(m)
		if err != nil {
			return err
		}
		cfg := map[string]any{"@context": m["@context"], "type": credential.ProofType, "cryptosuite": credential.Cryptosuite,
			"created": time.Now().UTC().Format(time.RFC3339), "verificationMethod": signer.VerificationMethod(), "proofPurpose": credential.ProofPurpose}
		canonCfg, err := loader.CanonicalizeReference(cfg)
		if err != nil {
			return err
		}
		h1, h2 := sha256.Sum256([]byte(canonCfg)), sha256.Sum256([]byte(canonDoc))
		_ = ed25519.Sign(k.Private, append(h1[:], h2[:]...))
		return nil
	})
	if err != nil {
		return err
	}
	jwt, err := rate(n, func(i int) error {
		doc, err := credentialN(i)
		if err == nil {
			_, err = signer.SignJWT(doc)
		}
		return err
	})
	if err != nil {
		return err
	}
	hash := sha256.Sum256([]byte("credbatch"))
	bare, err := rate(n*10, func(int) error { _ = ed25519.Sign(k.Private, append(hash[:], hash[:]...)); return nil })
	if err != nil {
		return err
	}
	js, err := jsSigner(credentialN, jsN)
	if err != nil {
		return err
	}
	fmt.Printf("  %-62s %8.0f per second\n", "Data Integrity eddsa-rdfc-2022 (Secure, json-gold + templates)", secure)
	fmt.Printf("  %-62s %8.0f per second  (Secure is %.1fx)\n", "baseline: digitalbazaar JS vc.issue + eddsa-rdfc-2022, Node", js, secure/js)
	fmt.Printf("  %-62s %8.0f per second  (Secure is %.1fx)\n", "baseline: json-gold Normalize of the whole document, no templates", reference, secure/reference)
	fmt.Printf("  %-62s %8.0f per second  (Secure is %.2fx)\n", "OB 3.0 VC-JWT, ES256 (SignJWT)", jwt, secure/jwt)
	fmt.Printf("  %-62s %8.0f per second  (Secure is %.3fx)\n", "baseline: bare Ed25519 signature of 64 bytes", bare, secure/bare)
	fmt.Println("target: Data Integrity at least 2x the JavaScript signer")
	return nil
}

// jsSigner runs infra/testenv/jsverify/sign-di.mjs on credential 0 and returns its rate.
func jsSigner(credentialN func(int) (credential.Document, error), count int) (float64, error) {
	doc, err := credentialN(0)
	if err != nil {
		return 0, err
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return 0, err
	}
	cmd := exec.Command("node", filepath.Join("infra", "testenv", "jsverify", "sign-di.mjs"), fmt.Sprint(count))
	cmd.Stdin, cmd.Stderr = bytes.NewReader(data), os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("JavaScript signer (make setup installs it): %w", err)
	}
	var res struct{ PerSecond float64 }
	if err := json.Unmarshal(out, &res); err != nil || res.PerSecond <= 0 {
		return 0, fmt.Errorf("JavaScript signer printed %q: %v", out, err)
	}
	return res.PerSecond, nil
}

func remarshal(v, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
