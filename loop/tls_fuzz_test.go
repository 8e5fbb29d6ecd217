package loop

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Fuzz input modes (the first argument's low bits).
const (
	fuzzTLS12      = 1 << iota // the client stops at TLS 1.2 (else 1.3)
	fuzzPlaintext              // the bytes go through the client's TLS layer (else raw, under it)
	fuzzAfterHello             // a request is answered on the connection first
)

// FuzzTLSRecords completes a real handshake with Go's TLS client, then
// sends the fuzzed bytes either raw on the socket, under the TLS layer
// (records that do not decrypt, bad headers, oversized or partial
// records, records crypto/tls ignores), or as plaintext through the
// client's TLS layer (input for the HTTP parser behind the decryption).
// Then the client ends its side (close_notify when it has a TLS layer in
// use, then FIN). The server must not panic, must end the fuzzed
// connection (answering it or not) rather than hold it, must forget it
// (Stats.Open back to 0), and must go on serving: a fresh TLS connection
// gets /hello after every input. One server serves the whole run.
func FuzzTLSRecords(f *testing.F) {
	ts := startServer(f, Config{Loops: 1, TLS: cert().Server()}, func(s *Server) {
		s.GET("/hello", func(c *Ctx) { c.Text(200, "hello") })
		s.POST("/len", func(c *Ctx) { c.Text(200, strconv.Itoa(len(c.Body()))) })
	})
	rec := func(typ byte, body ...byte) []byte {
		return append([]byte{typ, 3, 3, byte(len(body) >> 8), byte(len(body))}, body...)
	}
	rep := func(b []byte, n int) []byte {
		var out []byte
		for range n {
			out = append(out, b...)
		}
		return out
	}
	garbage := rep([]byte{0x5a}, 32)
	for _, mode := range []byte{0, fuzzTLS12, fuzzAfterHello} {
		f.Add(mode, rec(23, garbage...))                     // application data that does not decrypt
		f.Add(mode, rep(rec(20, 1), 20))                     // ChangeCipherSpec, ignored up to a limit in TLS 1.3
		f.Add(mode, rec(21, 1, 0))                           // a plaintext close_notify alert
		f.Add(mode, append([]byte{23, 3, 3, 0xff, 0xff}, 1)) // a header over the record size limit, then a byte
		f.Add(mode, []byte{23, 3})                           // half a header
		f.Add(mode, rec(22, 24, 0, 0, 1, 0))                 // a plaintext KeyUpdate
		f.Add(mode, rec(24, 1, 0, 3, 'a', 'b', 'c'))         // a heartbeat (not a TLS 1.2/1.3 content type here)
	}
	for _, mode := range []byte{fuzzPlaintext, fuzzPlaintext | fuzzTLS12, fuzzPlaintext | fuzzAfterHello} {
		f.Add(mode, []byte(get("/hello")))
		f.Add(mode, []byte(get("/hello")+"GET /hel"))
		f.Add(mode, []byte("POST /len HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
		f.Add(mode, []byte("GET /hello HTTP/1.0\r\n\r\n"))
		f.Add(mode, []byte("\x00\xff garbage\r\n\r\n"))
		f.Add(mode, []byte{})
	}
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		fuzzTLSConn(t, ts.addr, mode, data)
		waitFor(t, "the fuzzed connection forgotten (Stats.Open 0)", func() bool { return ts.Stats().Open == 0 })
		// A fresh client is served.
		tc, br := dialTLS(t, ts.addr, nil)
		if _, err := io.WriteString(tc, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatalf("fresh connection: %v", err)
		}
		if resp, body, err := readResponse(br, "GET"); err != nil || resp.StatusCode != 200 || body != "hello" {
			t.Fatalf("fresh connection after the fuzzed one: %v %q", err, body)
		}
		tc.Close()
		// A TLS 1.3 client is done before the server has read its
		// Finished: the count drops a moment later.
		waitFor(t, "no handshake in flight", func() bool { return ts.Stats().TLSHandshaking == 0 })
	})
}

// fuzzTLSConn runs one fuzzed connection (see FuzzTLSRecords) and returns
// once the server has closed it.
func fuzzTLSConn(t *testing.T, addr string, mode byte, data []byte) {
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(testTimeout))
	conf := cert().Client()
	if mode&fuzzTLS12 != 0 {
		conf.MaxVersion = tls.VersionTLS12
	}
	tc := tls.Client(nc, conf)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if mode&fuzzAfterHello != 0 {
		if _, err := io.WriteString(tc, get("/hello")); err != nil {
			t.Fatal(err)
		}
		if _, body, err := readResponse(bufio.NewReader(tc), "GET"); err != nil || body != "hello" {
			t.Fatalf("request before the fuzzed bytes: %v %q", err, body)
		}
	}
	// The server may close while the bytes go out (a bad record ends the
	// connection): write errors are not failures.
	if mode&fuzzPlaintext != 0 {
		if _, err := tc.Write(data); err == nil {
			_ = tc.CloseWrite() // close_notify
		}
	} else {
		_, _ = nc.Write(data)
	}
	_ = nc.(*net.TCPConn).CloseWrite()
	// Whatever the server answers, raw; then it must close.
	_, err = io.Copy(io.Discard, nc)
	switch {
	case err == nil, errors.Is(err, syscall.ECONNRESET):
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("the server held the connection %v after the client ended its side (mode %d, %q)", testTimeout, mode, data)
	default:
		t.Fatalf("reading until the server closed: %v", err)
	}
}
