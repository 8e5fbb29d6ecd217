package loop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// testTimeout bounds every wait in these tests. It is generous so a loaded
// machine (or -race) never turns a slow step into a failure.
const testTimeout = 10 * time.Second

func TestMain(m *testing.M) {
	// gnet's default worker pool (ants) starts its housekeeping goroutines
	// at package init: they are not ours to stop.
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}

// testLogger discards logs unless STREAMD_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("STREAMD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testServer is a running Server plus the means to stop it.
type testServer struct {
	*Server
	addr   string
	cancel context.CancelFunc
	done   chan error // receives Serve's result once
	err    error
	ended  bool
}

// wait cancels nothing; it waits for Serve to return and reports its error.
func (ts *testServer) wait(t testing.TB) error {
	t.Helper()
	if ts.ended {
		return ts.err
	}
	select {
	case ts.err = <-ts.done:
		ts.ended = true
		return ts.err
	case <-time.After(3 * testTimeout):
		t.Fatalf("Serve did not return")
		return nil
	}
}

// stop cancels Serve's context and waits for it to return.
func (ts *testServer) stop(t testing.TB) error {
	t.Helper()
	ts.cancel()
	return ts.wait(t)
}

// startServer runs Serve on 127.0.0.1:0 with cfg (Addr and Logger filled in
// when empty) and the routes registered by routes. Cleanup cancels the
// context and waits for Serve to return nil.
func startServer(t testing.TB, cfg Config, routes func(s *Server)) *testServer {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	s := New(cfg)
	if routes != nil {
		routes(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: s, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ctx) }()
	select {
	case <-s.Ready():
	case err := <-ts.done:
		cancel()
		t.Fatalf("Serve: %v", err)
	case <-time.After(testTimeout):
		cancel()
		t.Fatalf("server not ready after %v", testTimeout)
	}
	a := s.Addr()
	if a == nil {
		cancel()
		<-ts.done
		t.Fatal("Addr() = nil after Ready")
	}
	ts.addr = a.String()
	t.Cleanup(func() {
		if err := ts.stop(t); err != nil {
			t.Errorf("Serve returned %v; want nil", err)
		}
	})
	return ts
}

// forLoops runs f as subtests with 1 and 2 event loops.
func forLoops(t *testing.T, f func(t *testing.T, loops int)) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", n), func(t *testing.T) { f(t, n) })
	}
}

// rawConn is a client TCP connection with a deadline of testTimeout.
type rawConn struct {
	t *testing.T
	net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	return &rawConn{t: t, Conn: c, br: bufio.NewReader(c)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read reads one response to a request with the given method; the body is
// read in full.
func (c *rawConn) read(method string) (*http.Response, string) {
	c.t.Helper()
	resp, body, err := readResponse(c.br, method)
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	return resp, body
}

func readResponse(br *bufio.Reader, method string) (*http.Response, string, error) {
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, "", fmt.Errorf("body: %w", err)
	}
	return resp, string(b), nil
}

// expectClosed waits (up to the conn's deadline) for the server to close
// the connection, with no further bytes.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	var buf [256]byte
	n, err := c.br.Read(buf[:])
	switch {
	case n > 0:
		c.t.Errorf("read %q after the last response; want the connection closed", buf[:n])
	case err == io.EOF || errors.Is(err, syscall.ECONNRESET):
	default:
		c.t.Errorf("read after the last response: %v; want EOF (connection closed)", err)
	}
}

// roundTrip sends req and reads the response.
func (c *rawConn) roundTrip(method, req string) (*http.Response, string) {
	c.t.Helper()
	c.send(req)
	return c.read(method)
}

func get(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n"
}

// waitFor polls cond until it holds or testTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func checkStatus(t *testing.T, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Errorf("status = %d %q; want %d", resp.StatusCode, resp.Status, want)
	}
}

func hasConnClose(resp *http.Response) bool {
	for _, v := range resp.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "close") {
				return true
			}
		}
	}
	return resp.Close
}
