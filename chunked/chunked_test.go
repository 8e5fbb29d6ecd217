package chunked

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/streamd/streamd/internal/testsrv"
	"github.com/streamd/streamd/loop"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testsrv.GoleakOptions()...)
}

func decodeChunked(t *testing.T, wire []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(wire)))
	if err != nil {
		t.Fatalf("decoding %q: %v", wire, err)
	}
	return out
}

func TestAppendChunkRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 15, 16, 255, 256, 4095, 4096, 65536, 1 << 20} {
		p := bytes.Repeat([]byte("abcdefghij"), size/10+1)[:size]
		wire := AppendLastChunk(AppendChunk(nil, p), nil)
		if got := decodeChunked(t, wire); !bytes.Equal(got, p) {
			t.Errorf("size %d: round trip lost data (got %d bytes)", size, len(got))
		}
	}
	if got := AppendChunk([]byte("x"), nil); string(got) != "x" {
		t.Errorf("AppendChunk(empty) = %q; want nothing appended (an empty chunk ends the body)", got)
	}
}

func TestAppendLastChunkTrailers(t *testing.T) {
	got := string(AppendLastChunk(nil, []Trailer{{"Checksum", "abc"}, {"Bad Name", "x"}, {"Inject", "a\r\nEvil: 1"}}))
	want := "0\r\nChecksum: abc\r\nInject: a  Evil: 1\r\n\r\n"
	if got != want {
		t.Errorf("AppendLastChunk = %q; want %q", got, want)
	}
}

func FuzzAppendChunk(f *testing.F) {
	f.Add([]byte("hello"), uint8(3))
	f.Add([]byte{}, uint8(0))
	f.Add(bytes.Repeat([]byte{0}, 300), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, pieces uint8) {
		var wire []byte
		n := int(pieces%8) + 1
		step := len(data)/n + 1
		for i := 0; i < len(data); i += step {
			wire = AppendChunk(wire, data[i:min(i+step, len(data))])
		}
		wire = AppendLastChunk(wire, nil)
		got, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(wire)))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip of %d bytes in %d pieces: %v, %d bytes back", len(data), n, err, len(got))
		}
	})
}

// startServer runs a loop server with routes on 127.0.0.1:0 (2 loops by
// default) and returns its address.
func startServer(t *testing.T, cfg loop.Config, routes func(*loop.Server)) string {
	t.Helper()
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	return testsrv.Start(t, cfg, routes).HostPort
}

func httpGet(t *testing.T, url string) *http.Response {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestOnLoopWithTimersAndTrailers(t *testing.T) {
	addr := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/ticks", func(c *loop.Ctx) {
			w := Start(c, Options{ContentType: "text/plain", Trailers: []string{"X-Count"}})
			n := 0
			var next func()
			next = func() {
				if n == 5 {
					if err := w.SetTrailer("X-Count", "5"); err != nil {
						t.Errorf("SetTrailer: %v", err)
					}
					if err := w.SetTrailer("X-Other", "1"); !errors.Is(err, ErrTrailerNotAnnounced) {
						t.Errorf("SetTrailer(unannounced) = %v; want ErrTrailerNotAnnounced", err)
					}
					_ = w.Close()
					if err := w.Close(); !errors.Is(err, ErrClosed) {
						t.Errorf("second Close = %v; want ErrClosed", err)
					}
					return
				}
				w.Send([]byte(fmt.Sprintf("tick %d\n", n)))
				n++
				w.After(10*time.Millisecond, next)
			}
			next()
		})
	})
	resp := httpGet(t, "http://"+addr+"/ticks")
	// net/http moves the announced names from the Trailer header into
	// resp.Trailer before the body is read.
	if _, ok := resp.Trailer["X-Count"]; !ok {
		t.Errorf("announced trailers = %v; want X-Count", resp.Trailer)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	if want := "tick 0\ntick 1\ntick 2\ntick 3\ntick 4\n"; string(body) != want {
		t.Errorf("body = %q; want %q", body, want)
	}
	if got := resp.Trailer.Get("X-Count"); got != "5" {
		t.Errorf("trailer X-Count = %q; want 5", got)
	}
}

// rawExchange writes req on a raw connection (plain or TLS, as tr says)
// and reads until the server closes it or the deadline passes.
func rawExchange(t *testing.T, tr testsrv.Transport, addr, req string) string {
	t.Helper()
	c, err := tr.Dial(nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading: %v (got %q)", err, out)
	}
	return string(out)
}

// TestHTTP10HEADAndPipelining runs over plain TCP and over TLS.
func TestHTTP10HEADAndPipelining(t *testing.T) {
	for _, tr := range testsrv.Transports {
		t.Run(tr.Name, func(t *testing.T) { testHTTP10HEADAndPipelining(t, tr) })
	}
}

func testHTTP10HEADAndPipelining(t *testing.T, tr testsrv.Transport) {
	addr := startServer(t, tr.Config(loop.Config{}), func(s *loop.Server) {
		s.GET("/three", func(c *loop.Ctx) {
			w := Start(c, Options{})
			w.Send([]byte("a"))
			w.Send([]byte("bb"))
			w.Send([]byte("ccc"))
			_ = w.Close()
		})
		s.GET("/hello", func(c *loop.Ctx) { c.Text(200, "hi") })
	})
	t.Run("HTTP/1.0 gets the raw body until close", func(t *testing.T) {
		out := rawExchange(t, tr, addr, "GET /three HTTP/1.0\r\n\r\n")
		if strings.Contains(out, "Transfer-Encoding") || !strings.HasSuffix(out, "\r\n\r\nabbccc") {
			t.Errorf("response = %q; want a raw body and no Transfer-Encoding", out)
		}
	})
	t.Run("HEAD gets the head only", func(t *testing.T) {
		out := rawExchange(t, tr, addr, "HEAD /three HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		first, rest, ok := strings.Cut(out, "\r\n\r\n")
		if !ok || !strings.Contains(first, "Transfer-Encoding: chunked") || !strings.HasPrefix(rest, "HTTP/1.1 200") || !strings.HasSuffix(rest, "hi") {
			t.Errorf("response = %q; want a chunked head, no body, then the next response", out)
		}
	})
	t.Run("pipelined requests after the stream are served in order", func(t *testing.T) {
		out := rawExchange(t, tr, addr, "GET /three HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		want := []string{"1\r\na\r\n2\r\nbb\r\n3\r\nccc\r\n0\r\n\r\n", "\r\n\r\nhi", "1\r\na\r\n2\r\nbb\r\n3\r\nccc\r\n0\r\n\r\n"}
		pos := 0
		for _, w := range want {
			i := strings.Index(out[pos:], w)
			if i < 0 {
				t.Fatalf("response %q lacks %q after offset %d", out, w, pos)
			}
			pos += i + len(w)
		}
	})
}

// producer serves GET /big: a goroutine (Go) writing total bytes in
// 32 KiB writes, each 8-byte word its own offset (big-endian), so a lost,
// repeated or reordered piece shows. produced counts the bytes Write
// took; done gets the producer's result.
type producer struct {
	total    int64
	produced atomic.Int64
	done     chan error
}

func startProducer(t *testing.T, tr testsrv.Transport, total int64) (string, *producer) {
	t.Helper()
	p := &producer{total: total, done: make(chan error, 1)}
	addr := startServer(t, tr.Config(loop.Config{}), func(s *loop.Server) {
		s.GET("/big", func(c *loop.Ctx) {
			Go(c, Options{}, func(w *Writer) error {
				buf := make([]byte, 32<<10)
				for off := int64(0); off < p.total; off += int64(len(buf)) {
					for i := 0; i < len(buf); i += 8 {
						binary.BigEndian.PutUint64(buf[i:], uint64(off)+uint64(i))
					}
					if _, err := w.Write(buf); err != nil {
						p.done <- err
						return err
					}
					p.produced.Add(int64(len(buf)))
				}
				p.done <- nil
				return nil
			})
		})
	})
	return addr, p
}

// dialSlowReader connects with a 16 KiB receive buffer, asks for /big and
// reads the status line only.
func dialSlowReader(t *testing.T, tr testsrv.Transport, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := &net.Dialer{Timeout: testTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
	}}
	c, err := tr.Dial(d, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(testTimeout))
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("status line %q, %v", line, err)
	}
	return c, br
}

// waitStalled waits until the producer stalls while the client reads
// nothing (its count stops moving) and returns how much it produced. It
// fails the test if that is a quarter of the total or more: kernel socket
// buffers on loopback hold a few MiB at most, so without backpressure the
// producer would have pushed everything into the server's memory.
func (p *producer) waitStalled(t *testing.T) int64 {
	t.Helper()
	// Bounded polling of a condition, not a timed assumption.
	var last int64 = -1
	deadline := time.Now().Add(20 * time.Second)
	for stable := 0; stable < 5 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		if n := p.produced.Load(); n == last {
			stable++
		} else {
			last, stable = n, 0
		}
	}
	n := p.produced.Load()
	if n >= p.total/4 {
		t.Fatalf("producer wrote %d MiB while the client read nothing; backpressure failed", n>>20)
	}
	return n
}

// TestProducerBackpressure checks, over plain TCP and over TLS, that a
// producer goroutine is held back by a client that does not read,
// instead of queueing without bound, and that it gets an error and exits
// once the client is gone.
func TestProducerBackpressure(t *testing.T) {
	for _, tr := range testsrv.Transports {
		t.Run(tr.Name, func(t *testing.T) {
			addr, p := startProducer(t, tr, 256<<20)
			c, _ := dialSlowReader(t, tr, addr)
			p.waitStalled(t)
			c.Close()
			select {
			case err := <-p.done:
				if err == nil {
					t.Fatal("producer finished although the client left")
				}
			case <-time.After(20 * time.Second):
				t.Fatal("producer still blocked 20s after the client left")
			}
		})
	}
}

// TestProducerBackpressureSlowReader: a client that reads nothing for a
// while holds the producer back; once it reads, every byte arrives, in
// order, and the producer finishes. Over plain TCP and over TLS (where
// what is held back is ciphertext).
func TestProducerBackpressureSlowReader(t *testing.T) {
	for _, tr := range testsrv.Transports {
		t.Run(tr.Name, func(t *testing.T) {
			addr, p := startProducer(t, tr, 32<<20)
			c, br := dialSlowReader(t, tr, addr)
			stalled := p.waitStalled(t)
			resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader("HTTP/1.1 200 OK\r\n"), br)), &http.Request{Method: "GET"})
			if err != nil {
				t.Fatalf("response head: %v", err)
			}
			var got int64
			buf := make([]byte, 64<<10) // the total is a multiple of it
			for {
				_ = c.SetReadDeadline(time.Now().Add(testTimeout))
				n, err := io.ReadFull(resp.Body, buf)
				for i := 0; i+8 <= n; i += 8 {
					if w := binary.BigEndian.Uint64(buf[i:]); w != uint64(got) {
						t.Fatalf("word at offset %d holds %d: lost, repeated or reordered bytes", got, w)
					}
					got += 8
				}
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("body after %d bytes: %v", got, err)
				}
			}
			if got != p.total {
				t.Fatalf("body of %d bytes; want %d", got, p.total)
			}
			select {
			case err := <-p.done:
				if err != nil {
					t.Fatalf("producer: %v", err)
				}
			case <-time.After(testTimeout):
				t.Fatal("producer did not finish after the client read everything")
			}
			t.Logf("producer held at %d KiB of %d MiB until the client read", stalled>>10, p.total>>20)
		})
	}
}

// TestAbortCutsTheBody checks that a failed producer leaves the client with
// an incomplete body, never a falsely complete one.
func TestAbortCutsTheBody(t *testing.T) {
	addr := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/fail", func(c *loop.Ctx) {
			Go(c, Options{}, func(w *Writer) error {
				if _, err := w.Write([]byte("partial")); err != nil {
					return err
				}
				return errors.New("database went away")
			})
		})
	})
	resp := httpGet(t, "http://"+addr+"/fail")
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("body %q read without error; want an unexpected EOF", body)
	}
}

// TestContextEndsWhenClientLeaves checks that the writer's context is
// cancelled once the client is gone and later writes fail.
func TestContextEndsWhenClientLeaves(t *testing.T) {
	results := make(chan error, 1)
	addr := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/stream", func(c *loop.Ctx) {
			w := Start(c, Options{})
			w.Send([]byte("first"))
			go func() {
				<-w.Context().Done()
				_, err := w.Write([]byte("more"))
				results <- err
			}()
		})
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 256)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case err := <-results:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Write after the client left = %v; want ErrClosed", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the writer's context was not cancelled after the client left")
	}
}
