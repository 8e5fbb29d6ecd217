package loop

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamd/streamd/internal/testcert"
)

var (
	testCertOnce sync.Once
	testCert     *testcert.Cert
)

func cert() *testcert.Cert {
	testCertOnce.Do(func() { testCert = testcert.New() })
	return testCert
}

// tlsRoutes: /hello, /len (the body's length), /big?n= (n patterned
// bytes) and /whoami (the connection's TLS version and ALPN protocol).
func tlsRoutes(s *Server) {
	s.GET("/hello", func(c *Ctx) { c.Text(200, "hello") })
	s.POST("/len", func(c *Ctx) { c.Text(200, strconv.Itoa(len(c.Body()))) })
	s.GET("/big", func(c *Ctx) {
		q, _ := c.Query("n")
		n, _ := strconv.Atoi(q)
		c.Bytes(200, "application/octet-stream", pattern(n))
	})
	s.GET("/whoami", func(c *Ctx) {
		st := c.TLS()
		if st == nil {
			c.Text(200, "plain")
			return
		}
		c.Text(200, fmt.Sprintf("%s %s", tls.VersionName(st.Version), st.NegotiatedProtocol))
	})
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func startTLS(t *testing.T, cfg Config, routes func(*Server)) *testServer {
	t.Helper()
	if cfg.TLS == nil {
		cfg.TLS = cert().Server()
	}
	return startServer(t, cfg, routes)
}

// dialTLS is a TLS client connection (crypto/tls) with testTimeout
// deadlines.
func dialTLS(t *testing.T, addr string, conf *tls.Config) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	if conf == nil {
		conf = cert().Client()
	}
	d := &net.Dialer{Timeout: testTimeout}
	tc, err := tls.DialWithDialer(d, "tcp", addr, conf)
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	t.Cleanup(func() { tc.Close() })
	_ = tc.SetDeadline(time.Now().Add(testTimeout))
	return tc, bufio.NewReader(tc)
}

func TestTLSRequests(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		ts := startTLS(t, Config{Loops: loops}, tlsRoutes)
		for _, v := range []struct {
			name string
			max  uint16
		}{{"TLS 1.3", tls.VersionTLS13}, {"TLS 1.2", tls.VersionTLS12}} {
			t.Run(v.name, func(t *testing.T) {
				conf := cert().Client()
				conf.MaxVersion = v.max
				conf.NextProtos = []string{"h2", "http/1.1"}
				tc, br := dialTLS(t, ts.addr, conf)
				if st := tc.ConnectionState(); st.Version != v.max || st.NegotiatedProtocol != "http/1.1" {
					t.Errorf("negotiated %s, ALPN %q; want %s, http/1.1", tls.VersionName(st.Version), st.NegotiatedProtocol, v.name)
				}
				roundTrip := func(req, method string) (*http.Response, string) {
					t.Helper()
					if _, err := io.WriteString(tc, req); err != nil {
						t.Fatalf("write: %v", err)
					}
					resp, body, err := readResponse(br, method)
					if err != nil {
						t.Fatalf("read: %v", err)
					}
					return resp, body
				}
				if _, body := roundTrip(get("/whoami"), "GET"); body != v.name+" http/1.1" {
					t.Errorf("Conn.TLS in the handler: %q; want %q", body, v.name+" http/1.1")
				}

				// 64 requests pipelined in one write, answered in order.
				var reqs strings.Builder
				for i := range 64 {
					fmt.Fprintf(&reqs, "GET /big?n=%d HTTP/1.1\r\nHost: t\r\n\r\n", i)
				}
				if _, err := io.WriteString(tc, reqs.String()); err != nil {
					t.Fatal(err)
				}
				for i := range 64 {
					resp, body, err := readResponse(br, "GET")
					if err != nil {
						t.Fatalf("pipelined response %d: %v", i, err)
					}
					if resp.StatusCode != 200 || body != string(pattern(i)) {
						t.Fatalf("pipelined response %d: %d, %d bytes; want 200 and %d bytes", i, resp.StatusCode, len(body), i)
					}
				}

				// Bodies: Content-Length and chunked, 1 MiB each.
				body := pattern(1 << 20)
				if _, got := roundTrip("POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n"+string(body), "POST"); got != "1048576" {
					t.Errorf("Content-Length upload: server read %s bytes", got)
				}
				var chunked strings.Builder
				chunked.WriteString("POST /len HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
				for i := 0; i < len(body); i += 10000 {
					part := body[i:min(i+10000, len(body))]
					fmt.Fprintf(&chunked, "%x\r\n%s\r\n", len(part), part)
				}
				chunked.WriteString("0\r\n\r\n")
				if _, got := roundTrip(chunked.String(), "POST"); got != "1048576" {
					t.Errorf("chunked upload: server read %s bytes", got)
				}

				// A response bigger than the high watermark.
				if _, got := roundTrip(get("/big?n=3000000"), "GET"); got != string(pattern(3000000)) {
					t.Errorf("3 MB response: got %d bytes, not the pattern", len(got))
				}
			})
		}
	})
}

// TestTLSNetHTTPClient: Go's HTTP client over TLS keeps one connection
// alive for a series of requests.
func TestTLSNetHTTPClient(t *testing.T) {
	ts := startTLS(t, Config{Loops: 1}, tlsRoutes)
	tr := &http.Transport{TLSClientConfig: cert().Client(), MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: testTimeout}
	reused := 0
	for i := range 20 {
		req, _ := http.NewRequest("GET", "https://"+ts.addr+"/big?n="+strconv.Itoa(1000*i), nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(ci httptrace.GotConnInfo) {
				if ci.Reused {
					reused++
				}
			},
		}))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(b, pattern(1000*i)) {
			t.Fatalf("request %d: %d, %d bytes, %v", i, resp.StatusCode, len(b), err)
		}
	}
	if reused != 19 {
		t.Errorf("%d of 19 requests reused the connection; want all", reused)
	}
	if st := ts.Stats(); st.TLSHandshakes != 1 {
		t.Errorf("Stats.TLSHandshakes = %d; want 1", st.TLSHandshakes)
	}
}

// dialRawTCP is a TCP connection under a test's own TLS client, closed
// when the test ends, with testTimeout deadlines.
func dialRawTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(testTimeout))
	return nc
}

// byteWriter writes one byte per system call, so the server receives its
// records a piece at a time.
type byteWriter struct{ net.Conn }

func (w byteWriter) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := w.Conn.Write(p[i : i+1]); err != nil {
			return i, err
		}
	}
	return len(p), nil
}

// TestTLSRecordsByteByByte: records (handshake and application data)
// arriving a byte at a time are reassembled.
func TestTLSRecordsByteByByte(t *testing.T) {
	ts := startTLS(t, Config{Loops: 1}, tlsRoutes)
	nc := dialRawTCP(t, ts.addr)
	tc := tls.Client(byteWriter{nc}, cert().Client())
	br := bufio.NewReader(tc)
	for i := range 3 {
		if _, err := io.WriteString(tc, "POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 3000\r\n\r\n"+string(pattern(3000))); err != nil {
			t.Fatal(err)
		}
		resp, body, err := readResponse(br, "POST")
		if err != nil || resp.StatusCode != 200 || body != "3000" {
			t.Fatalf("request %d: %v, %q", i, err, body)
		}
	}
}

// TestTLSBadRecord: a record that does not decrypt gets an alert and the
// connection closes with reason tls_error.
func TestTLSBadRecord(t *testing.T) {
	ts := startTLS(t, Config{Loops: 1}, tlsRoutes)
	nc := dialRawTCP(t, ts.addr)
	tc := tls.Client(nc, cert().Client())
	br := bufio.NewReader(tc)
	if _, err := io.WriteString(tc, get("/hello")); err != nil {
		t.Fatal(err)
	}
	if _, body, err := readResponse(br, "GET"); err != nil || body != "hello" {
		t.Fatalf("first request: %v %q", err, body)
	}
	// An application-data record of 32 bytes of garbage, under the TLS
	// layer.
	if _, err := nc.Write(append([]byte{23, 3, 3, 0, 32}, bytes.Repeat([]byte{0x5a}, 32)...)); err != nil {
		t.Fatal(err)
	}
	_, err := br.ReadByte()
	if err == nil || !strings.Contains(err.Error(), "bad record MAC") {
		t.Errorf("read after a bad record: %v; want the bad_record_mac alert", err)
	}
	waitFor(t, "the close counted as tls_error", func() bool { return ts.Stats().Closes["tls_error"] == 1 })
}

// TestTLSHandshakeFailures: plain HTTP to the TLS port and a client that
// never starts its handshake both fail the handshake, are closed and are
// counted; the server goes on serving.
func TestTLSHandshakeFailures(t *testing.T) {
	ts := startTLS(t, Config{Loops: 1, TLSHandshakeTimeout: 300 * time.Millisecond}, tlsRoutes)

	plain := dial(t, ts.addr)
	plain.send(get("/hello"))
	plain.expectClosed()

	silent := dial(t, ts.addr)
	silent.expectClosed() // after TLSHandshakeTimeout

	waitFor(t, "two failed handshakes", func() bool { return ts.Stats().TLSHandshakeErrors == 2 })
	tc, br := dialTLS(t, ts.addr, nil)
	if _, err := io.WriteString(tc, get("/hello")); err != nil {
		t.Fatal(err)
	}
	if _, body, err := readResponse(br, "GET"); err != nil || body != "hello" {
		t.Fatalf("after the failures: %v %q", err, body)
	}
	// The handshake goroutine counts itself out after the hand-over.
	waitFor(t, "no handshake in flight", func() bool { return ts.Stats().TLSHandshaking == 0 })
	if st := ts.Stats(); st.TLSHandshakes != 1 {
		t.Errorf("Stats: %d handshakes; want 1", st.TLSHandshakes)
	}
}

// TestTLSSilentClientsHoldNoSlot: clients that connect and send nothing,
// or stop in the middle of their ClientHello, hold no handshake slot: with
// one slot and five of them waiting for TLSHandshakeTimeout (an hour), a
// real client's handshake still completes at once. Before, the first
// silent client held the only slot, and accepting waited behind it.
func TestTLSSilentClientsHoldNoSlot(t *testing.T) {
	ts := startTLS(t, Config{Loops: 1, MaxTLSHandshakes: 1, TLSHandshakeTimeout: time.Hour}, tlsRoutes)
	for range 4 {
		dial(t, ts.addr)
	}
	trickler := dial(t, ts.addr)
	// A handshake record header announcing 512 bytes, and 3 of them.
	if _, err := trickler.Write([]byte{22, 3, 1, 2, 0, 1, 0, 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "five handshakes in flight", func() bool { return ts.Stats().TLSHandshaking == 5 })

	tc, br := dialTLS(t, ts.addr, nil) // fails at testTimeout if it waits for a slot
	if _, err := io.WriteString(tc, get("/hello")); err != nil {
		t.Fatal(err)
	}
	if _, body, err := readResponse(br, "GET"); err != nil || body != "hello" {
		t.Fatalf("request: %v %q", err, body)
	}
	// The finished handshake's goroutine counts itself out after handing
	// the connection over, which may be after the answer.
	waitFor(t, "the finished handshake to leave the in-flight count", func() bool { return ts.Stats().TLSHandshaking == 5 })
	if st := ts.Stats(); st.TLSHandshakes != 1 || st.TLSHandshakeWaiting != 0 {
		t.Errorf("stats: %d done, %d waiting; want 1, 0", st.TLSHandshakes, st.TLSHandshakeWaiting)
	}
}

// TestTLSHandshakeLimit: MaxTLSHandshakes bounds the handshakes computing
// at once. With one slot, a handshake held inside crypto/tls (its
// GetConfigForClient blocks, so it holds the slot) makes the next client's
// handshake wait for the slot once its ClientHello arrived; it goes on
// when the first one ends.
func TestTLSHandshakeLimit(t *testing.T) {
	entered := make(chan string, 2)
	release := make(chan struct{})
	base := cert().Server()
	conf := &tls.Config{
		Certificates: base.Certificates,
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			entered <- h.ServerName
			if h.ServerName == "first" {
				<-release
			}
			return nil, nil
		},
	}
	ts := startTLS(t, Config{Loops: 1, MaxTLSHandshakes: 1, TLSHandshakeTimeout: time.Hour, TLS: conf}, tlsRoutes)
	client := func(name string) chan error {
		done := make(chan error, 1)
		go func() {
			c := cert().Client()
			c.ServerName = name
			c.InsecureSkipVerify = true // the certificate is for 127.0.0.1; the names tell the handshakes apart
			d := &net.Dialer{Timeout: testTimeout}
			tc, err := tls.DialWithDialer(d, "tcp", ts.addr, c)
			if err == nil {
				tc.Close()
			}
			done <- err
		}()
		return done
	}
	first := client("first")
	if got := <-entered; got != "first" {
		t.Fatalf("entered %q first", got)
	}
	second := client("second")
	waitFor(t, "the second handshake waiting for the slot", func() bool { return ts.Stats().TLSHandshakeWaiting == 1 })
	select {
	case got := <-entered:
		t.Fatalf("%q computed while the only slot was held", got)
	default:
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first handshake: %v", err)
	}
	if got := <-entered; got != "second" {
		t.Fatalf("entered %q; want second", got)
	}
	if err := <-second; err != nil {
		t.Fatalf("second handshake: %v", err)
	}
	waitFor(t, "no handshake in flight", func() bool { return ts.Stats().TLSHandshaking == 0 })
	if st := ts.Stats(); st.TLSHandshakes != 2 || st.TLSHandshakeWaiting != 0 {
		t.Errorf("stats: %d done, %d waiting; want 2, 0", st.TLSHandshakes, st.TLSHandshakeWaiting)
	}
}

// TestTLSShutdownDuringHandshake: Serve returns promptly while a handshake
// waits for its client, and leaves no goroutine behind (TestMain checks).
func TestTLSShutdownDuringHandshake(t *testing.T) {
	ts := startTLS(t, Config{Loops: 1, TLSHandshakeTimeout: time.Hour}, tlsRoutes)
	silent := dial(t, ts.addr)
	waitFor(t, "the handshake in flight", func() bool { return ts.Stats().TLSHandshaking == 1 })
	start := time.Now()
	if err := ts.stop(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if d := time.Since(start); d > testTimeout {
		t.Errorf("shutdown took %v with a handshake in flight", d)
	}
	silent.expectClosed()
	if st := ts.Stats(); st.TLSHandshaking != 0 || st.TLSHandshakeErrors != 1 {
		t.Errorf("after shutdown: %d in flight, %d failed; want 0, 1", st.TLSHandshaking, st.TLSHandshakeErrors)
	}
}

// TestTLSReadBackpressure: a TLS client that pipelines requests and never
// reads makes the server stop reading it, as over TCP: its writes stall
// and the server holds a bounded amount of its input.
func TestTLSReadBackpressure(t *testing.T) {
	ts := startTLS(t, Config{Loops: 1}, tlsRoutes)
	tc, _ := dialTLS(t, ts.addr, nil)
	batch := strings.Repeat(get("/big?n=4096"), 64)
	sent := 0
	_ = tc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	for sent < 256<<20 {
		n, err := io.WriteString(tc, batch)
		sent += n
		if err != nil {
			break // the server stopped reading: the kernel buffers are full
		}
	}
	if sent >= 256<<20 {
		t.Fatalf("the server read 256 MiB of requests from a client that reads nothing")
	}
	st := ts.Stats()
	if st.ReadPauses == 0 {
		t.Errorf("no read pause; want the connection paused")
	}
	if st.BufferedInputPeak > 4<<20 {
		t.Errorf("the server held %d bytes of input; want at most a few reads' worth", st.BufferedInputPeak)
	}
}

func TestTLSConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		conf *tls.Config
		want string
	}{
		{"h2", &tls.Config{Certificates: cert().Server().Certificates, NextProtos: []string{"h2", "http/1.1"}}, "h2"},
		{"no certificate", &tls.Config{}, "no certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Config{Addr: "127.0.0.1:0", TLS: tc.conf, Logger: testLogger()})
			err := s.Serve(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Serve = %v; want an error about %s", err, tc.want)
			}
		})
	}
}

// idleStream is a mode that holds a stream open and ignores input.
type idleStream struct{}

func (idleStream) OnData(_ *Conn, in []byte) (int, error) { return len(in), nil }
func (idleStream) OnTimer(*Conn)                          {}
func (idleStream) OnDrain(*Conn)                          {}
func (idleStream) OnShutdown(c *Conn)                     { c.Close() }
func (idleStream) OnClose(*Conn, error)                   {}

// TestTLSTrim: crypto/tls's read and handshake buffers are released once
// empty on a stream, and after a big record on a keep-alive connection;
// small ones are kept between keep-alive requests. It also fails when a
// Go release moves the fields tls_trim.go releases.
func TestTLSTrim(t *testing.T) {
	if !tlsFields.ok {
		t.Fatal("crypto/tls's rawInput, input and hand fields were not found: tls_trim.go needs updating for this Go release")
	}
	conns := make(chan *Conn, 4)
	ts := startTLS(t, Config{Loops: 1}, func(s *Server) {
		tlsRoutes(s)
		s.GET("/stream", func(c *Ctx) {
			c.WriteStreamHead(200, "Content-Type: text/event-stream\r\n")
			conns <- c.TakeOver(idleStream{})
		})
		s.POST("/conn", func(c *Ctx) {
			conns <- c.Conn()
			c.Text(200, strconv.Itoa(len(c.Body())))
		})
	})
	caps := func(c *Conn) (raw, hand int) {
		t.Helper()
		done := make(chan struct{})
		if err := c.Post(func(c *Conn) {
			raw, hand = tlsBufferCaps(c.el.tls[c].tc)
			close(done)
		}); err != nil {
			t.Fatal(err)
		}
		<-done
		return raw, hand
	}

	tc, br := dialTLS(t, ts.addr, nil)
	if _, err := io.WriteString(tc, get("/stream")); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(br, &http.Request{Method: "GET"}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v", err)
	}
	if raw, hand := caps(<-conns); raw != 0 || hand != 0 {
		t.Errorf("an idle stream keeps %d bytes of read buffer and %d of handshake buffer; want 0, 0", raw, hand)
	}

	kc, kbr := dialTLS(t, ts.addr, nil)
	post := func(n int) *Conn {
		t.Helper()
		if _, err := io.WriteString(kc, "POST /conn HTTP/1.1\r\nHost: t\r\nContent-Length: "+strconv.Itoa(n)+"\r\n\r\n"+string(pattern(n))); err != nil {
			t.Fatal(err)
		}
		if _, body, err := readResponse(kbr, "POST"); err != nil || body != strconv.Itoa(n) {
			t.Fatalf("POST %d bytes: %v %q", n, err, body)
		}
		return <-conns
	}
	c := post(10)
	if raw, hand := caps(c); raw == 0 || raw > maxKeptTLSRead || hand != 0 {
		t.Errorf("after a small request: read buffer %d, handshake buffer %d; want a small read buffer kept and no handshake buffer", raw, hand)
	}
	post(256 << 10)
	if raw, _ := caps(c); raw > maxKeptTLSRead {
		t.Errorf("after a 256 KiB body the read buffer keeps %d bytes; want it released", raw)
	}
}

// TestTLSPartialRecordTimeout: a client that starts a record and never
// finishes it (a 16 KiB record sent a byte at a time holds crypto/tls's
// read buffer) is closed after ReadTimeout, on a stream and between
// keep-alive requests alike.
func TestTLSPartialRecordTimeout(t *testing.T) {
	ts := startTLS(t, Config{Loops: 1, ReadTimeout: 300 * time.Millisecond, IdleTimeout: time.Hour}, func(s *Server) {
		tlsRoutes(s)
		s.GET("/stream", func(c *Ctx) {
			c.WriteStreamHead(200, "Content-Type: text/event-stream\r\n")
			c.TakeOver(idleStream{})
		})
	})
	for i, path := range []string{"/stream", "/hello"} {
		nc, err := net.DialTimeout("tcp", ts.addr, testTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(testTimeout))
		tc := tls.Client(nc, cert().Client())
		br := bufio.NewReader(tc)
		if _, err := io.WriteString(tc, get(path)); err != nil {
			t.Fatal(err)
		}
		if resp, err := http.ReadResponse(br, &http.Request{Method: "GET"}); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v", path, err)
		}
		if path == "/hello" {
			if _, err := io.ReadAll(io.LimitReader(br, 5)); err != nil {
				t.Fatal(err)
			}
		}
		// The head of a 16,000-byte application-data record and 100 bytes
		// of it, under the TLS layer; the rest never comes.
		if _, err := nc.Write(append([]byte{23, 3, 3, 0x3e, 0x80}, make([]byte, 100)...)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, nc); err != nil {
			t.Fatalf("%s: waiting for the close: %v", path, err)
		}
		waitFor(t, "the close counted as read_timeout", func() bool { return ts.Stats().Closes["read_timeout"] == int64(i+1) })
	}
}
