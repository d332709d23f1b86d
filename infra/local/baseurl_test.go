package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// freeAddr returns a loopback HOST:PORT nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startServe runs `serve` with args until the test ends and returns the base URL it prints.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--report-every", "0", "--sweep-every", "0"}, args...), pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("serve %q exited %d", args, code)
		}
	})
	line, err := readLine(pr)
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`credbatch local stack on (\S+) `).FindStringSubmatch(line)
	if err != nil || m == nil {
		t.Fatalf("serve %q printed %q (%v)", args, line, err)
	}
	return m[1]
}

func readLine(r io.Reader) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for {
		if _, err := r.Read(one); err != nil {
			return string(b), err
		}
		if one[0] == '\n' {
			return string(b), nil
		}
		b = append(b, one[0])
	}
}

// verifyURL posts {"url": u} to base/verify and returns the answer.
func verifyURL(t *testing.T, base, u string) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"url": u})
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err = http.Post(base+"/verify", "application/json", bytes.NewReader(body)); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s/verify {url: %s} = %d, %v (%v)", base, u, resp.StatusCode, out, err)
	}
	return out
}

// TestDemoAddrIsWhatServeServes (issue 13 item 5): `demo --addr HOST:PORT` issues under
// http://HOST:PORT and records it; `serve --addr HOST:PORT` and `serve` without --addr both
// serve there, and POST /verify with a credential's own URL finds it valid.
func TestDemoAddrIsWhatServeServes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"demo", "--data", dir, "--addr", addr}, &out, &errOut); code != exitOK {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	want := "http://" + addr
	if raw, err := os.ReadFile(filepath.Join(dir, baseURLFile)); err != nil || strings.TrimSpace(string(raw)) != want {
		t.Fatalf("%s = %q, %v; want %s", baseURLFile, raw, err, want)
	}
	m := regexp.MustCompile(`credential page (\S+) `).FindStringSubmatch(out.String())
	if m == nil || !strings.HasPrefix(m[1], want+"/credentials/") {
		t.Fatalf("demo printed no credential page under %s:\n%s", want, out.String())
	}
	credURL := m[1]
	for _, tt := range []struct {
		name string
		args []string
	}{{"serve --addr", []string{"--data", dir, "--addr", addr}}, {"serve without --addr", []string{"--data", dir}}} {
		args := tt.args
		t.Run(tt.name, func(t *testing.T) {
			base := startServe(t, args...)
			if base != want {
				t.Fatalf("serve %q serves %s; want %s, where the demo issued", args, base, want)
			}
			if got := verifyURL(t, base, credURL); got["valid"] != true || got["format"] != "data-integrity" {
				t.Fatalf("POST /verify {url: %s} = %v; want valid", credURL, got)
			}
			resp, err := http.Get(base + "/.well-known/did.json")
			if err != nil {
				t.Fatal(err)
			}
			var doc struct{ ID string }
			json.NewDecoder(resp.Body).Decode(&doc)
			resp.Body.Close()
			if wantDID := "did:web:" + strings.Replace(addr, ":", "%3A", 1); doc.ID != wantDID {
				t.Errorf("did.json id %q; want %s", doc.ID, wantDID)
			}
		})
	}
}

// TestResolveAddr: --addr wins, else the recorded base URL, else 127.0.0.1:8080; what is
// served is recorded; moving it warns; a bad --addr or record is refused.
func TestResolveAddr(t *testing.T) {
	tests := []struct {
		name, recorded, addr string
		wantAddr, wantErr    string
		wantWarn             bool
	}{
		{name: "nothing recorded", wantAddr: defaultAddr},
		{name: "recorded", recorded: "http://127.0.0.1:9123", wantAddr: "127.0.0.1:9123"},
		{name: "same as recorded", recorded: "http://127.0.0.1:9123", addr: "127.0.0.1:9123", wantAddr: "127.0.0.1:9123"},
		{name: "moved", recorded: "http://127.0.0.1:9123", addr: "localhost:9000", wantAddr: "localhost:9000", wantWarn: true},
		{name: "port 0", addr: "127.0.0.1:0", wantErr: "fixed port"},
		{name: "no port", addr: "localhost", wantErr: "HOST:PORT"},
		{name: "bad record", recorded: "https://example.org/x", wantErr: "not an http://HOST:PORT base URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.recorded != "" {
				if err := writeBaseURL(dir, tt.recorded); err != nil {
					t.Fatal(err)
				}
			}
			var logged bytes.Buffer
			sf := stackFlags{data: dir, addr: tt.addr}
			err := sf.resolveAddr(slog.New(slog.NewJSONHandler(&logged, nil)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || sf.addr != tt.wantAddr {
				t.Fatalf("addr = %q, %v; want %q", sf.addr, err, tt.wantAddr)
			}
			if got, _ := readBaseURL(dir); got != "http://"+tt.wantAddr {
				t.Errorf("recorded %q; want http://%s", got, tt.wantAddr)
			}
			if warned := strings.Contains(logged.String(), "issued_under"); warned != tt.wantWarn {
				t.Errorf("warned = %v (%s); want %v", warned, logged.String(), tt.wantWarn)
			}
		})
	}
}
