package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/streamd/streamd/cmd/streamd/internal/e2e"
)

// The tests in this file run the real streamd binary as a child process,
// as an operator would: signals, restarts on the same port, file limits.

// binaryTimeout bounds every wait on the child; generous for a loaded
// 2-core machine (the child may be built with -race).
const binaryTimeout = 30 * time.Second

// built is the streamd binary, built once per test run by binaryPath and
// removed by TestMain.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// binaryPath builds ./cmd/streamd once (with -race when the tests run
// with it) and returns the binary's path.
func binaryPath(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if _, err := os.Stat(goTool); err != nil {
			built.err = fmt.Errorf("no go command to build streamd: %w", err)
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "streamd-bin-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "streamd")
		args := []string{"build", "-o", built.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command(goTool, append(args, ".")...).CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// removeBinary runs after all tests (from TestMain).
func removeBinary() {
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
}

// freeAddr returns 127.0.0.1:PORT with a port that was free a moment ago.
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

// child is a running streamd process.
type child struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	base   string
	logs   *syncBuffer
	exited chan struct{} // closed once Wait returned
	err    error         // Wait's result, valid after exited
}

// startOpts are the knobs of startChild.
type startOpts struct {
	args []string // more flags
}

// startChild runs streamd on addr and waits until it listens. A child
// that exits first fails the test with its log.
func startChild(t *testing.T, addr string, o startOpts) *child {
	t.Helper()
	c, err := tryStartChild(t, addr, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tryStartChild is startChild returning the failure instead.
func tryStartChild(t *testing.T, addr string, o startOpts) (*child, error) {
	t.Helper()
	bin := binaryPath(t)
	args := append([]string{"-addr", addr, "-loops", "2", "-log-level", "info"}, o.args...)
	cmd := exec.Command(bin, args...)
	if raceEnabled && os.Getenv("GORACE") == "" {
		// A race in the child fails the test through its exit code (66);
		// skip the race runtime's 1 s sleep at exit.
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	}
	c := &child{t: t, cmd: cmd, addr: addr, base: "http://" + addr, logs: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout = c.logs
	cmd.Stderr = c.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = cmd.Process.Kill()
			<-c.exited
		}
		if t.Failed() {
			t.Logf("streamd %s log:\n%s", addr, c.logs.String())
		}
	})
	deadline := time.Now().Add(binaryTimeout)
	for !strings.Contains(c.logs.String(), "msg=listening") {
		select {
		case <-c.exited:
			return nil, fmt.Errorf("streamd %v exited before listening (%v):\n%s", args, c.err, c.logs.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("streamd %v not listening after %v:\n%s", args, binaryTimeout, c.logs.String())
		}
	}
	return c, nil
}

func (c *child) signal(sig os.Signal) {
	c.t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits up to d for the child to exit and returns its exit code.
func (c *child) wait(d time.Duration) int {
	c.t.Helper()
	select {
	case <-c.exited:
	case <-time.After(d):
		c.t.Fatalf("streamd still running %v after being asked to stop", d)
	}
	var ee *exec.ExitError
	switch {
	case c.err == nil:
		return 0
	case errors.As(c.err, &ee):
		return ee.ExitCode()
	default:
		c.t.Fatalf("waiting for streamd: %v", c.err)
		return -1
	}
}

// running reports whether the child has not exited.
func (c *child) running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// waitLog polls the child's log for s.
func (c *child) waitLog(s string) {
	c.t.Helper()
	deadline := time.Now().Add(binaryTimeout)
	for !strings.Contains(c.logs.String(), s) {
		if time.Now().After(deadline) {
			c.t.Fatalf("streamd log lacks %q after %v", s, binaryTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// healthz does one GET /healthz on a fresh connection.
func healthz(base string) error {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || string(body) != "ok" {
		return fmt.Errorf("GET /healthz = %d %q", resp.StatusCode, body)
	}
	return nil
}

// metricValue reads one unlabelled sample from GET /metrics.
func metricValue(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, body := get(t, base+"/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	return metricIn(t, body, name)
}

// metricIn reads one unlabelled sample from a /metrics page.
func metricIn(t *testing.T, page, name string) float64 {
	t.Helper()
	for line := range strings.Lines(page) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %q", name, line)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// getQuiet does one GET on a fresh connection and returns its status and
// body, or the error.
func getQuiet(url string) (int, string, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// endsCleanly reads the rest of an SSE stream: the server must end it
// with EOF (not a reset) at an event boundary.
func endsCleanly(r *sseReader) error {
	_ = r.conn.SetReadDeadline(time.Now().Add(binaryTimeout))
	rest, err := io.ReadAll(r.br)
	if err != nil {
		return fmt.Errorf("stream ended with %v, not EOF", err)
	}
	if len(rest) > 0 && !strings.HasSuffix(string(rest), "\n\n") {
		return fmt.Errorf("stream ended inside an event: %q", rest)
	}
	return nil
}

// chunkedStream is an open /chunked response read line by line.
type chunkedStream struct {
	conn  net.Conn
	lines *bufio.Reader // the de-chunked body
	body  io.ReadCloser
	n     int // lines read so far
}

func openChunked(t *testing.T, addr, query string) *chunkedStream {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, binaryTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte("GET /chunked?" + query + " HTTP/1.1\r\nHost: test\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(binaryTimeout))
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET /chunked?%s: %d", query, resp.StatusCode)
	}
	return &chunkedStream{conn: conn, lines: bufio.NewReader(resp.Body), body: resp.Body}
}

// next reads one line and checks it is the next one.
func (s *chunkedStream) next() error {
	_ = s.conn.SetReadDeadline(time.Now().Add(binaryTimeout))
	line, err := s.lines.ReadString('\n')
	if err != nil {
		return err
	}
	if want := "chunk " + strconv.Itoa(s.n) + "\n"; line != want {
		return fmt.Errorf("line %d = %q; want %q", s.n, line, want)
	}
	s.n++
	return nil
}

// TestBinaryRestartSameAddress (item 11): a server stopped with SIGTERM
// while it holds streams can be replaced on the same port at once. The
// server closes the streams, so their sockets sit in TIME_WAIT on its
// port; without SO_REUSEADDR on the listener the new process fails with
// "address already in use" for the kernel's 60 s.
func TestBinaryRestartSameAddress(t *testing.T) {
	addr := freeAddr(t)
	old := startChild(t, addr, startOpts{})
	const streams = 4
	var rs []*sseReader
	for range streams {
		r := openSSE(t, old.base, "/sse/clock", "")
		if ev := r.next(); ev.Type != "time" {
			t.Fatalf("first clock event = %+v", ev)
		}
		rs = append(rs, r)
	}
	// A keep-alive request too, so an idle HTTP connection is closed by
	// the shutdown as well.
	if err := healthz(old.base); err != nil {
		t.Fatal(err)
	}
	old.signal(syscall.SIGTERM)
	if code := old.wait(binaryTimeout); code != 0 {
		t.Fatalf("streamd exited %d after SIGTERM; want 0", code)
	}
	for i, r := range rs {
		if err := endsCleanly(r); err != nil {
			t.Errorf("stream %d: %v", i, err)
		}
	}
	start := time.Now()
	next, err := tryStartChild(t, addr, startOpts{})
	if err != nil {
		t.Fatalf("restart on %s right after the old process exited: %v", addr, err)
	}
	t.Logf("the new process listened %v after the old one exited", time.Since(start).Round(time.Millisecond))
	if err := healthz(next.base); err != nil {
		t.Fatalf("new process: %v", err)
	}
	r := openSSE(t, next.base, "/sse/clock", "")
	if ev := r.next(); ev.Type != "time" {
		t.Fatalf("clock event from the new process = %+v", ev)
	}
	next.signal(syscall.SIGTERM)
	if code := next.wait(binaryTimeout); code != 0 {
		t.Fatalf("new streamd exited %d after SIGTERM; want 0", code)
	}
}

// TestBinarySIGTERMMidStream: SIGTERM during streams. What the code
// promises (README, chunked OnShutdown): SSE streams end at once, at an
// event boundary, so clients reconnect; a chunked response may go on
// until -shutdown-timeout and is then cut, without its terminating
// chunk, so the client knows the body is incomplete; the process then
// exits 0 and logs a graceful shutdown.
func TestBinarySIGTERMMidStream(t *testing.T) {
	const shutdownTimeout = 2 * time.Second
	c := startChild(t, freeAddr(t), startOpts{args: []string{"-shutdown-timeout", shutdownTimeout.String()}})
	// 1000 lines at 100 ms: 100 s, far longer than the shutdown timeout.
	ch := openChunked(t, c.addr, "n=1000&interval=100ms")
	for range 2 {
		if err := ch.next(); err != nil {
			t.Fatalf("chunked before SIGTERM: %v", err)
		}
	}
	var rs []*sseReader
	for range 2 {
		r := openSSE(t, c.base, "/sse/clock", "")
		r.next()
		rs = append(rs, r)
	}

	sent := time.Now()
	c.signal(syscall.SIGTERM)
	for i, r := range rs {
		if err := endsCleanly(r); err != nil {
			t.Errorf("SSE stream %d after SIGTERM: %v", i, err)
		}
	}
	before := ch.n
	var err error
	for err == nil {
		err = ch.next()
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("chunked body ended with %v after %d lines; want io.ErrUnexpectedEOF (cut without the terminating chunk)", err, ch.n)
	}
	if ch.n >= 1000 {
		t.Errorf("chunked body has all %d lines; want it cut at the shutdown timeout", ch.n)
	}
	if ch.n == before {
		t.Errorf("no chunked line after SIGTERM; want the response to go on during the drain")
	}
	code := c.wait(shutdownTimeout + binaryTimeout)
	took := time.Since(sent)
	if code != 0 {
		t.Fatalf("streamd exited %d after SIGTERM; want 0", code)
	}
	if took < shutdownTimeout {
		t.Errorf("streamd exited %v after SIGTERM; want it to wait %v for the chunked response", took, shutdownTimeout)
	}
	logs := c.logs.String()
	for _, want := range []string{"signal received, shutting down gracefully", `msg="shutting down" open=3`, `msg="server stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(logs, "level=ERROR") {
		t.Errorf("log has errors")
	}
	t.Logf("exited %v after SIGTERM; chunked response cut after %d lines (%d during the drain)", took.Round(time.Millisecond), ch.n, ch.n-before)
}

// TestBinaryDrainRefusesNewConnections (item 12): during the graceful
// shutdown a new connection must fail at the network level (refused or
// reset), never get an HTTP 503: an EventSource treats a 503 as fatal
// and stops reconnecting, but retries after a network error — by then
// a new process, or another instance, takes it.
func TestBinaryDrainRefusesNewConnections(t *testing.T) {
	c := startChild(t, freeAddr(t), startOpts{args: []string{"-shutdown-timeout", "10s"}})
	ch := openChunked(t, c.addr, "n=1000&interval=100ms") // holds the drain open
	if err := ch.next(); err != nil {
		t.Fatal(err)
	}
	c.signal(syscall.SIGTERM)
	c.waitLog(`msg="shutting down"`)
	if !c.running() {
		t.Fatal("streamd exited although a chunked response was in flight")
	}

	conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
	switch {
	case err != nil:
		t.Logf("new connection during the drain: %v", err)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial during the drain: %v; want connection refused", err)
		}
	default:
		// Accepted by the kernel (a listen backlog): it must be reset or
		// closed without an HTTP response.
		defer conn.Close()
		_, _ = conn.Write([]byte("GET /sse/clock HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n"))
		_ = conn.SetReadDeadline(time.Now().Add(binaryTimeout))
		got, rerr := io.ReadAll(conn)
		if len(got) > 0 {
			t.Errorf("new connection during the drain got an HTTP answer %q; want connection refused (an EventSource gives up on 503)", firstLine(got))
		} else {
			t.Logf("new connection during the drain: accepted, then %v with no bytes", rerr)
		}
	}

	// End the drain: the last connection leaves, the process exits.
	ch.conn.Close()
	if code := c.wait(binaryTimeout); code != 0 {
		t.Fatalf("streamd exited %d; want 0", code)
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\r\n")
	return s
}

// TestE2EBrowserReconnectsAfterRestart: a page's EventSource survives a
// restart of the binary on the same port: it reconnects by itself
// (readyState back to OPEN, never CLOSED) and gets new events from the
// new process.
func TestE2EBrowserReconnectsAfterRestart(t *testing.T) {
	tab := e2e.NewBrowser(t)
	addr := freeAddr(t)
	old := startChild(t, addr, startOpts{})
	e2e.Run(t, tab, browserWait, chromedp.Navigate(old.base+"/clock"))
	e2e.WaitJS(t, tab, browserWait, "the stream to open", `es.readyState === 1 && Number(ticks.textContent) >= 1`)
	e2e.Eval[bool](t, tab, `(() => {
		window.opens = 0; window.gaveUp = false;
		es.addEventListener("open", () => { window.opens++; });
		es.addEventListener("error", () => { if (es.readyState === 2) window.gaveUp = true; });
		return true;
	})()`)

	old.signal(syscall.SIGTERM)
	if code := old.wait(binaryTimeout); code != 0 {
		t.Fatalf("streamd exited %d after SIGTERM; want 0", code)
	}
	ticksBefore := e2e.Eval[int](t, tab, `Number(ticks.textContent)`)

	next := startChild(t, addr, startOpts{})
	e2e.WaitJS(t, tab, browserWait, "the EventSource to reconnect or give up",
		fmt.Sprintf(`window.gaveUp || (es.readyState === 1 && window.opens >= 1 && Number(ticks.textContent) > %d)`, ticksBefore))
	if e2e.Eval[bool](t, tab, `window.gaveUp`) {
		t.Fatal("the EventSource gave up (readyState CLOSED) instead of reconnecting")
	}
	next.signal(syscall.SIGTERM)
	if code := next.wait(binaryTimeout); code != 0 {
		t.Fatalf("new streamd exited %d after SIGTERM; want 0", code)
	}
}

// dialFrom connects to addr from the local address src (any 127.0.0.0/8
// address works on loopback), failing the test on error.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: binaryTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// roundTrip writes req on conn and reads one response.
func roundTrip(conn net.Conn, br *bufio.Reader, req string) (*http.Response, string, error) {
	if _, err := conn.Write([]byte(req)); err != nil {
		return nil, "", err
	}
	_ = conn.SetReadDeadline(time.Now().Add(binaryTimeout))
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

// TestBinaryConnectionFlags: -max-conns-per-ip and -read-timeout reach
// the server: the connection over the per-address cap gets 503 while
// another address is served, and a request whose body stalls gets 408
// after the read timeout (the header timeout does not apply once the
// head is in, and the default read timeout is 30 s).
func TestBinaryConnectionFlags(t *testing.T) {
	c := startChild(t, freeAddr(t), startOpts{args: []string{"-max-conns-per-ip", "3", "-read-timeout", "1s"}})
	const healthzReq = "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"

	t.Run("read-timeout", func(t *testing.T) {
		conn := dialFrom(t, "127.0.0.2", c.addr)
		start := time.Now()
		resp, _, err := roundTrip(conn, bufio.NewReader(conn),
			"POST /chat HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly part of the body")
		if err != nil {
			t.Fatalf("stalled body: %v; want a 408 response", err)
		}
		took := time.Since(start)
		if resp.StatusCode != 408 || took > 20*time.Second {
			t.Fatalf("stalled body: %d after %v; want 408 after about the 1s read timeout", resp.StatusCode, took)
		}
		t.Logf("408 after %v", took.Round(time.Millisecond))
	})

	t.Run("max-conns-per-ip", func(t *testing.T) {
		// Three connections from 127.0.0.1, each known to the server once
		// it has answered on it.
		var held []net.Conn
		for i := range 3 {
			conn := dialFrom(t, "127.0.0.1", c.addr)
			if resp, _, err := roundTrip(conn, bufio.NewReader(conn), healthzReq); err != nil || resp.StatusCode != 200 {
				t.Fatalf("connection %d: %v, %v; want 200", i, resp, err)
			}
			held = append(held, conn)
		}
		over := dialFrom(t, "127.0.0.1", c.addr)
		resp, body, err := roundTrip(over, bufio.NewReader(over), healthzReq)
		if err != nil || resp.StatusCode != 503 || !strings.Contains(body, "too many connections from your address") {
			t.Fatalf("4th connection from 127.0.0.1: %v %q %v; want 503 too many connections from your address", resp, body, err)
		}
		other := dialFrom(t, "127.0.0.3", c.addr)
		if resp, _, err := roundTrip(other, bufio.NewReader(other), healthzReq); err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection from 127.0.0.3: %v, %v; want 200", resp, err)
		}
		// A slot frees when a connection closes.
		held[0].Close()
		deadline := time.Now().Add(binaryTimeout)
		for {
			conn := dialFrom(t, "127.0.0.1", c.addr)
			resp, _, err := roundTrip(conn, bufio.NewReader(conn), healthzReq)
			if err == nil && resp.StatusCode == 200 {
				break
			}
			conn.Close()
			if time.Now().After(deadline) {
				t.Fatalf("no slot for 127.0.0.1 %v after closing a connection: %v, %v", binaryTimeout, resp, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	c.signal(syscall.SIGTERM)
	if code := c.wait(binaryTimeout); code != 0 {
		t.Fatalf("streamd exited %d after SIGTERM; want 0", code)
	}
}

// TestBinaryReusePort: two streamd processes with -reuseport serve one
// port (the C45k setup); one without it cannot bind the port taken.
func TestBinaryReusePort(t *testing.T) {
	addr := freeAddr(t)
	a := startChild(t, addr, startOpts{args: []string{"-reuseport"}})
	b := startChild(t, addr, startOpts{args: []string{"-reuseport"}})
	for range 20 {
		if err := healthz(a.base); err != nil {
			t.Fatalf("healthz with two processes on %s: %v", addr, err)
		}
	}
	if _, err := tryStartChild(t, addr, startOpts{}); err == nil {
		t.Errorf("a third streamd without -reuseport bound %s too", addr)
	}
	for _, c := range []*child{a, b} {
		c.signal(syscall.SIGTERM)
		if code := c.wait(binaryTimeout); code != 0 {
			t.Errorf("streamd exited %d after SIGTERM; want 0", code)
		}
	}
}
