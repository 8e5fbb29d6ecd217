package chunked

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streamd/streamd/loop"
)

// The tests in this file hold Writer to its per-method concurrency docs:
// a method documented "on the loop" panics with its name elsewhere, and
// every method documented "safe from any goroutine" does its job when
// called from one. The test's own goroutine is never the loop.

const testTimeout = 20 * time.Second

// mustPanicNaming calls f and fails unless it panics with a message that
// names name.
func mustPanicNaming(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		msg, _ := r.(string)
		if !strings.Contains(msg, name) {
			t.Errorf("%s off the loop: recovered %v; want a panic naming %s", name, r, name)
		}
	}()
	f()
}

func recvWriter(t *testing.T, ch <-chan *Writer) *Writer {
	t.Helper()
	select {
	case w := <-ch:
		return w
	case <-time.After(testTimeout):
		t.Fatal("no response started")
		return nil
	}
}

// startRoutes serves GET /stream with a Writer started with opts and
// handed to the test, and GET /hello with a plain "hi".
func startRoutes(t *testing.T, cfg loop.Config, opts Options) (string, <-chan *Writer) {
	t.Helper()
	writers := make(chan *Writer, 4)
	addr := startServer(t, cfg, func(s *loop.Server) {
		s.GET("/stream", func(c *loop.Ctx) { writers <- Start(c, opts) })
		s.GET("/hello", func(c *loop.Ctx) { c.Text(200, "hi") })
	})
	return addr, writers
}

// httpClient is a keep-alive HTTP/1.1 client on one raw connection.
type httpClient struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialHTTP(t *testing.T, addr string) *httpClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &httpClient{conn: c, br: bufio.NewReader(c)}
}

// get sends a GET for path and reads the response head.
func (hc *httpClient) get(t *testing.T, path string) *http.Response {
	t.Helper()
	_ = hc.conn.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(hc.conn, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(hc.br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp
}

func TestWriterLoopOnlyMethodsPanicOffLoop(t *testing.T) {
	addr, writers := startRoutes(t, loop.Config{}, Options{})
	hc := dialHTTP(t, addr)
	resp := hc.get(t, "/stream")
	w := recvWriter(t, writers)

	mustPanicNaming(t, "Writer.Send", func() { w.Send([]byte("x")) })
	mustPanicNaming(t, "Writer.After", func() { w.After(time.Millisecond, func() {}) })
	mustPanicNaming(t, "Writer.OnDrain", func() { w.OnDrain(func() {}) })

	// The response is intact: nothing was written, and it goes on.
	if _, err := w.WriteString("intact"); err != nil {
		t.Fatalf("Write after the panics = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "intact" {
		t.Fatalf("body = %q, %v; want \"intact\"", body, err)
	}
}

// TestWriterMethodsFromGoroutine calls every method documented safe from
// any goroutine from the test's goroutine and checks what the client gets.
func TestWriterMethodsFromGoroutine(t *testing.T) {
	addr, writers := startRoutes(t, loop.Config{}, Options{Trailers: []string{"X-Sum"}})
	hc := dialHTTP(t, addr)

	t.Run("Write, WriteString, SetTrailer, Close, Context", func(t *testing.T) {
		resp := hc.get(t, "/stream")
		w := recvWriter(t, writers)
		ctx := w.Context()
		if ctx.Err() != nil {
			t.Fatalf("Context() of an open response: %v", ctx.Err())
		}
		if n, err := w.Write([]byte("ab")); n != 2 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		if n, err := w.WriteString("cde"); n != 3 || err != nil {
			t.Fatalf("WriteString = %d, %v", n, err)
		}
		if err := w.SetTrailer("x-sum", "5"); err != nil {
			t.Fatalf("SetTrailer = %v", err)
		}
		if err := w.SetTrailer("X-Other", "1"); !errors.Is(err, ErrTrailerNotAnnounced) {
			t.Errorf("SetTrailer(unannounced) = %v; want ErrTrailerNotAnnounced", err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
		if err := w.Close(); !errors.Is(err, ErrClosed) {
			t.Errorf("second Close = %v; want ErrClosed", err)
		}
		if _, err := w.WriteString("late"); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after Close = %v; want ErrClosed", err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != "abcde" {
			t.Fatalf("body = %q, %v; want \"abcde\"", body, err)
		}
		if got := resp.Trailer.Get("X-Sum"); got != "5" {
			t.Errorf("trailer X-Sum = %q; want 5", got)
		}
		select {
		case <-ctx.Done():
		case <-time.After(testTimeout):
			t.Fatal("Context not cancelled after Close")
		}
		// Abort after Close must not touch the connection, which now
		// serves the next request.
		w.Abort()
		resp = hc.get(t, "/hello")
		if body, err := io.ReadAll(resp.Body); err != nil || string(body) != "hi" {
			t.Fatalf("next request on the connection: %q, %v; want \"hi\"", body, err)
		}
	})
	t.Run("Abort", func(t *testing.T) {
		resp := hc.get(t, "/stream")
		w := recvWriter(t, writers)
		if _, err := w.WriteString("partial"); err != nil {
			t.Fatal(err)
		}
		w.Abort()
		if _, err := w.WriteString("late"); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after Abort = %v; want ErrClosed", err)
		}
		if err := w.Close(); !errors.Is(err, ErrClosed) {
			t.Errorf("Close after Abort = %v; want ErrClosed", err)
		}
		select {
		case <-w.Context().Done():
		case <-time.After(testTimeout):
			t.Fatal("Context not cancelled after Abort")
		}
		body, err := io.ReadAll(resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) || string(body) != "partial" {
			t.Fatalf("body = %q, %v; want \"partial\" and an unexpected EOF", body, err)
		}
	})
}
