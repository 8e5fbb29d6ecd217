package sse

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/streamd/streamd/internal/testsrv"
	"github.com/streamd/streamd/loop"
)

const testTimeout = testsrv.Timeout

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testsrv.GoleakOptions()...)
}

func startServer(t *testing.T, cfg loop.Config, routes func(*loop.Server)) *loop.Server {
	t.Helper()
	return testsrv.Start(t, cfg, routes).Server
}

func newHub(t *testing.T, cfg loop.HubConfig) *loop.Hub {
	t.Helper()
	h, err := loop.NewHub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
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

// client is a raw-socket event-stream client: an HTTP/1.1 request, the
// response head read with net/http, and the body fed to specParser.
type client struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response
	p    *specParser
	next int // index of the next event to hand out
	buf  []byte
}

type dialOpts struct {
	rcvBuf  int // SO_RCVBUF, 0 = default
	headers string
	method  string
}

// dialSSE opens path on srv over srv's transport (plain TCP or TLS).
func dialSSE(t *testing.T, srv *loop.Server, path string, o dialOpts) *client {
	t.Helper()
	d := net.Dialer{Timeout: testTimeout}
	if o.rcvBuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.rcvBuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	conn, err := testsrv.TransportOf(srv).Dial(&d, testsrv.HostPortOf(srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	method := o.method
	if method == "" {
		method = "GET"
	}
	req := method + " " + path + " HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n" + o.headers + "\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: conn, p: newSpecParser(), buf: make([]byte, 64<<10)}
	if o.rcvBuf > 0 {
		return c // a slow client reads nothing, not even the head
	}
	c.readHead(method)
	return c
}

func (c *client) readHead(method string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(testTimeout))
	c.br = bufio.NewReaderSize(c.conn, 64<<10)
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("reading response head: %v", err)
	}
	c.resp = resp
}

// fill reads once from the body into the parser.
func (c *client) fill() error {
	_ = c.conn.SetReadDeadline(time.Now().Add(testTimeout))
	n, err := c.br.Read(c.buf)
	c.p.feed(c.buf[:n])
	return err
}

// event returns the next dispatched event.
func (c *client) event() specEvent {
	c.t.Helper()
	for c.next >= len(c.p.events) {
		if err := c.fill(); err != nil {
			c.t.Fatalf("waiting for event %d: %v (%d events)", c.next, err, len(c.p.events))
		}
	}
	c.next++
	return c.p.events[c.next-1]
}

// tryEvent is event for goroutines other than the test's: it returns
// the error instead of failing the test.
func (c *client) tryEvent() (specEvent, error) {
	for c.next >= len(c.p.events) {
		if err := c.fill(); err != nil {
			return specEvent{}, fmt.Errorf("waiting for event %d: %w", c.next, err)
		}
	}
	c.next++
	return c.p.events[c.next-1], nil
}

// events returns the next n events.
func (c *client) events(n int) []specEvent {
	c.t.Helper()
	out := make([]specEvent, 0, n)
	for range n {
		out = append(out, c.event())
	}
	return out
}

// until reads until cond holds for the parser state.
func (c *client) until(what string, cond func(*specParser) bool) {
	c.t.Helper()
	for !cond(c.p) {
		if err := c.fill(); err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
	}
}

// expectEOF reads until the server closes the stream.
func (c *client) expectEOF() {
	c.t.Helper()
	for {
		err := c.fill()
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return
		}
		c.t.Fatalf("waiting for the server to close: %v", err)
	}
}

func expectData(t *testing.T, got []specEvent, want ...string) {
	t.Helper()
	var g []string
	for _, e := range got {
		g = append(g, e.Data)
	}
	if strings.Join(g, "|") != strings.Join(want, "|") {
		t.Fatalf("events = %q; want %q", g, want)
	}
}
