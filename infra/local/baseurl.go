package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// defaultAddr is where `demo` issues and `serve` listens unless told otherwise.
const defaultAddr = "127.0.0.1:8080"

// baseURLFile is the file in a data directory that records the base URL its credentials
// were issued under (their ids, the issuer's did:web, the status list URLs all name it), so
// that `serve` and `report` default to it.
const baseURLFile = "base-url"

// checkAddr checks a HOST:PORT given with --addr: a credential's URLs and did:web are made
// from it, so it needs a host and a fixed port.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" || port == "0" {
		return fmt.Errorf("--addr %q: want HOST:PORT with a fixed port, like %s", addr, defaultAddr)
	}
	return nil
}

// readBaseURL returns the base URL recorded in dir ("" when none is).
func readBaseURL(dir string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, baseURLFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	base := strings.TrimSpace(string(raw))
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" || checkAddr(u.Host) != nil {
		return "", fmt.Errorf("%s: %q is not an http://HOST:PORT base URL; delete the file or serve with --addr HOST:PORT", filepath.Join(dir, baseURLFile), base)
	}
	return base, nil
}

// writeBaseURL records base in dir.
func writeBaseURL(dir, base string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, baseURLFile), []byte(base+"\n"), 0o600)
}
