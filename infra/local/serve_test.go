package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServeTimeoutsAreSet: serve's own timeouts are all set and below the figures the attack
// measured (trickled bodies still open after 45 s, an idle keep-alive connection still
// usable after 30 s).
func TestServeTimeoutsAreSet(t *testing.T) {
	tests := []struct {
		name     string
		got, max time.Duration
	}{
		{"read header", serveTimeouts.readHeader, 30 * time.Second},
		{"read", serveTimeouts.read, 45 * time.Second},
		{"write", serveTimeouts.write, 5 * time.Minute},
		{"idle", serveTimeouts.idle, 30 * time.Second},
	}
	for _, tt := range tests {
		if tt.got <= 0 || tt.got >= tt.max {
			t.Errorf("%s timeout = %s, want set and below %s", tt.name, tt.got, tt.max)
		}
	}
	srv := newServer(http.NotFoundHandler(), serveTimeouts)
	if srv.ReadHeaderTimeout != serveTimeouts.readHeader || srv.ReadTimeout != serveTimeouts.read ||
		srv.WriteTimeout != serveTimeouts.write || srv.IdleTimeout != serveTimeouts.idle {
		t.Errorf("server timeouts = %s %s %s %s, want serve's", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
}

// TestServerCutsOffSlowConnections runs newServer with the timeouts scaled down: three
// connections trickling their headers, three trickling a body, one not reading its
// response and one idling after a keep-alive request are each closed by the server soon
// after their timeout, not left open.
func TestServerCutsOffSlowConnections(t *testing.T) {
	to := timeouts{readHeader: 300 * time.Millisecond, read: 600 * time.Millisecond, write: 600 * time.Millisecond, idle: 400 * time.Millisecond}
	const slack = 2 * time.Second
	const trickleEvery = 50 * time.Millisecond
	writeErr := make(chan time.Duration, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		chunk := make([]byte, 32<<10)
		for range 1 << 13 { // 256 MiB, far beyond the socket buffers
			if _, err := w.Write(chunk); err != nil {
				writeErr <- time.Since(start)
				return
			}
		}
		writeErr <- -1
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(mux, to)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	dial := func(t *testing.T) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closedWithin sends head on c, then one byte of trickle every trickleEvery, and returns
	// how long the server took to end the connection (an error when it is still open after
	// 10 s). It runs on its own goroutine: it reports, the caller fails.
	closedWithin := func(c net.Conn, head, trickle string) (time.Duration, error) {
		start := time.Now()
		if _, err := io.WriteString(c, head); err != nil {
			return 0, err
		}
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(trickleEvery):
				}
				if _, err := c.Write([]byte{trickle[i%len(trickle)]}); err != nil {
					return
				}
			}
		}()
		c.SetReadDeadline(start.Add(10 * time.Second))
		_, err := io.Copy(io.Discard, c) // a 400/408 response may come first; then the close
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, errors.New("connection still open after 10 s")
		}
		return time.Since(start), nil
	}

	cases := []struct {
		name          string
		head, trickle string
		limit         time.Duration
	}{
		{"trickled headers", "POST /upload HTTP/1.1\r\nHost: x\r\n", "X-Slow: aaaaaaaa\r\n", to.readHeader},
		{"trickled body", "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n", "a", to.read},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for _, c := range []net.Conn{dial(t), dial(t), dial(t)} {
				wg.Go(func() {
					d, err := closedWithin(c, tc.head, tc.trickle)
					switch {
					case err != nil:
						t.Error(err)
					case d > tc.limit+slack:
						t.Errorf("closed after %s, want within %s of the %s timeout", d, slack, tc.limit)
					}
				})
			}
			wg.Wait()
		})
	}

	t.Run("response not read", func(t *testing.T) {
		c := dial(t)
		if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-writeErr:
			if d < 0 {
				t.Fatal("256 MiB written to a client that reads nothing")
			}
			if d > to.write+slack {
				t.Errorf("write failed after %s, want within %s of the %s timeout", d, slack, to.write)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the handler is still writing to a client that reads nothing after 10 s")
		}
	})

	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial(t)
		br := bufio.NewReader(c)
		get := func() error {
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				return err
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err == nil && strings.TrimSpace(string(b)) != "ok" {
				err = errors.New("unexpected body " + string(b))
			}
			return err
		}
		if err := get(); err != nil {
			t.Fatal(err)
		}
		if err := get(); err != nil { // keep-alive works while the connection is in use
			t.Fatalf("second request on the connection: %v", err)
		}
		start := time.Now()
		c.SetReadDeadline(start.Add(10 * time.Second))
		_, err := br.ReadByte()
		d := time.Since(start)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("an idle keep-alive connection is still open after 10 s")
		}
		if d > to.idle+slack {
			t.Errorf("idle connection closed after %s, want within %s of the %s timeout", d, slack, to.idle)
		}
		if err := get(); err == nil {
			t.Error("a request on the idle connection after the timeout still worked")
		}
	})
}
