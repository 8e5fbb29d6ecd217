package chunked

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamd/streamd/internal/testsrv"
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
		if err := w.Err(); err != nil {
			t.Fatalf("Err() of an open response = %v; want nil", err)
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
		if err := w.Err(); err != ErrClosed {
			t.Errorf("Err() after Close = %v; want ErrClosed", err)
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
		if err := context.Cause(ctx); err != ErrClosed {
			t.Errorf("context.Cause after Close = %v; want ErrClosed", err)
		}
		if err := w.Err(); err != ErrClosed {
			t.Errorf("Err() after the response was sent = %v; want ErrClosed", err)
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
		if err := w.Err(); err != ErrAborted {
			t.Errorf("Err() after Abort = %v; want ErrAborted", err)
		}
		if _, err := w.WriteString("late"); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrAborted) {
			t.Errorf("Write after Abort = %v; want ErrClosed wrapping ErrAborted", err)
		}
		if err := w.Close(); !errors.Is(err, ErrClosed) {
			t.Errorf("Close after Abort = %v; want ErrClosed", err)
		}
		select {
		case <-w.Context().Done():
		case <-time.After(testTimeout):
			t.Fatal("Context not cancelled after Abort")
		}
		if err := context.Cause(w.Context()); err != ErrAborted {
			t.Errorf("context.Cause after Abort = %v; want ErrAborted", err)
		}
		body, err := io.ReadAll(resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) || string(body) != "partial" {
			t.Fatalf("body = %q, %v; want \"partial\" and an unexpected EOF", body, err)
		}
	})
}

// TestGoProducerErrorIsTheReason checks that a failed Go producer's error
// is what Err and the context's cause report, under ErrAborted.
func TestGoProducerErrorIsTheReason(t *testing.T) {
	errDB := errors.New("database went away")
	writers := make(chan *Writer, 1)
	addr := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/fail", func(c *loop.Ctx) {
			writers <- Go(c, Options{}, func(w *Writer) error {
				if _, err := w.Write([]byte("partial")); err != nil {
					return err
				}
				return errDB
			})
		})
	})
	resp := httpGet(t, "http://"+addr+"/fail")
	w := recvWriter(t, writers)
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading the body: %v; want an unexpected EOF", err)
	}
	select {
	case <-w.Context().Done():
	case <-time.After(testTimeout):
		t.Fatal("Context not cancelled after the producer failed")
	}
	for what, err := range map[string]error{"Err()": w.Err(), "context.Cause": context.Cause(w.Context())} {
		if !errors.Is(err, ErrAborted) || !errors.Is(err, errDB) {
			t.Errorf("%s = %v; want ErrAborted wrapping the producer's error", what, err)
		}
	}
}

// fillOnLoop sends on w's loop until the connection's own queue is above
// the high watermark: the kernel's buffers are full, and with a client
// that does not read, the output makes no more progress.
func fillOnLoop(t *testing.T, w *Writer) {
	t.Helper()
	payload := make([]byte, 32<<10)
	res := make(chan loop.WriteResult, 1)
	err := w.conn.Post(func(*loop.Conn) {
		r := loop.Written
		for r == loop.Written {
			r = w.Send(payload)
		}
		res <- r
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		if r != loop.Queued {
			t.Fatalf("filling the response: %v; want queued", r)
		}
	case <-time.After(testTimeout):
		t.Fatal("filling the response did not finish")
	}
}

// TestWriterCloseReasons provokes, over real sockets, every way a
// response can end before Close, and checks that the reason reaches Err,
// the context's cause and the error of a later Write (which also matches
// ErrClosed), and that Stats().Closes counts the close under its reason.
func TestWriterCloseReasons(t *testing.T) {
	tests := []struct {
		name    string
		cfg     loop.Config
		slow    bool // the client's receive buffer is tiny and it never reads
		provoke func(t *testing.T, ts *testsrv.Server, hc *httpClient, w *Writer)
		want    error  // matched with errors.Is
		exact   bool   // Err is want itself
		reason  string // the key of Stats().Closes that counts the close
	}{{
		name:    "peer EOF",
		provoke: func(t *testing.T, _ *testsrv.Server, hc *httpClient, _ *Writer) { hc.conn.Close() },
		want:    io.EOF, reason: "peer",
	}, {
		name:    "peer reset",
		provoke: func(t *testing.T, _ *testsrv.Server, hc *httpClient, _ *Writer) { resetConn(t, hc.conn) },
		want:    syscall.ECONNRESET, reason: "peer",
	}, {
		name: "write timeout",
		cfg:  loop.Config{WriteTimeout: 300 * time.Millisecond},
		slow: true,
		provoke: func(t *testing.T, _ *testsrv.Server, _ *httpClient, w *Writer) {
			fillOnLoop(t, w)
		},
		want: loop.ErrWriteTimeout, exact: true, reason: "write_timeout",
	}, {
		name: "input overflow",
		cfg:  loop.Config{MaxPendingInput: 4 << 10},
		provoke: func(t *testing.T, _ *testsrv.Server, hc *httpClient, _ *Writer) {
			// A large request pipelined behind the stream waits in the
			// connection's input until the response ends: over the limit.
			big := "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 16384\r\n\r\n" + strings.Repeat("b", 16<<10)
			if _, err := io.WriteString(hc.conn, big); err != nil {
				t.Fatal(err)
			}
		},
		want: loop.ErrInputOverflow, exact: true, reason: "input_overflow",
	}, {
		name: "shutdown deadline",
		cfg:  loop.Config{ShutdownTimeout: 300 * time.Millisecond},
		provoke: func(t *testing.T, ts *testsrv.Server, _ *httpClient, _ *Writer) {
			ts.Cancel() // the response goes on until the deadline cuts it
		},
		want: loop.ErrShutdown, exact: true, reason: "shutdown",
	}, {
		name: "closed by the application",
		provoke: func(t *testing.T, _ *testsrv.Server, _ *httpClient, w *Writer) {
			if err := w.conn.Post(func(c *loop.Conn) { c.Close() }); err != nil {
				t.Fatal(err)
			}
		},
		want: ErrAborted, exact: true, reason: "app",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if why := map[string]string{
				"peer reset":     "net/http does not tell a client's reset from its close (the error is io.EOF)",
				"write timeout":  "here the kernel takes net/http's writes to a client that does not read (4 KiB receive buffer) whole, so nothing stalls for WriteTimeout within the test",
				"input overflow": "input after the request is net/http's: it never reaches the stream",
			}[tt.name]; why != "" {
				testsrv.GnetOnly(t, why)
			}
			writers := make(chan *Writer, 1)
			ts := testsrv.Start(t, tt.cfg, func(s *loop.Server) {
				s.GET("/stream", func(c *loop.Ctx) { writers <- Start(c, Options{}) })
			})
			var hc *httpClient
			if tt.slow {
				d := net.Dialer{Timeout: testTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
					return rc.Control(func(fd uintptr) {
						_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
					})
				}}
				c, err := d.Dial("tcp", ts.HostPort)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				if _, err := io.WriteString(c, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
			} else {
				hc = dialHTTP(t, ts.HostPort)
				if resp := hc.get(t, "/stream"); resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			w := recvWriter(t, writers)
			tt.provoke(t, ts, hc, w)
			select {
			case <-w.Context().Done():
			case <-time.After(testTimeout):
				t.Fatal("Context not cancelled")
			}
			err, cause := w.Err(), context.Cause(w.Context())
			if !errors.Is(err, tt.want) || (tt.exact && err != tt.want) || cause != err {
				t.Errorf("Err() = %v, context.Cause = %v; want %v", err, cause, tt.want)
			}
			_, werr := w.WriteString("late")
			if !errors.Is(werr, ErrClosed) || !errors.Is(werr, tt.want) {
				t.Errorf("Write after the end = %v; want ErrClosed wrapping %v", werr, tt.want)
			}
			if err := w.Close(); !errors.Is(err, ErrClosed) || !errors.Is(err, tt.want) {
				t.Errorf("Close after the end = %v; want ErrClosed wrapping %v", err, tt.want)
			}
			// The loop counts the close before the Writer hears of it; one
			// connection, so exactly one close, under tt.reason alone.
			closes := ts.Stats().Closes
			var total int64
			for _, n := range closes {
				total += n
			}
			if closes[tt.reason] != 1 || total != 1 {
				t.Errorf("Stats().Closes = %v; want %s: 1 and nothing else", closes, tt.reason)
			}
		})
	}
}

// resetConn closes c with SO_LINGER 0: the kernel sends RST, not FIN.
func resetConn(t *testing.T, c net.Conn) {
	t.Helper()
	tc, ok := c.(*net.TCPConn)
	if !ok {
		t.Fatalf("%T is not a *net.TCPConn", c)
	}
	if err := tc.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	_ = tc.Close()
}
