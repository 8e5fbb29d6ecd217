package harness

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/streamd/streamd/benchmarks/internal/client"
)

var smokeDialer = client.Dialer{Timeout: 5 * time.Second}

func hello(addr string, cfg *tls.Config) (int, []byte, error) {
	return client.Request(client.Dialer{Timeout: time.Second, TLS: cfg}, addr, "GET", "/hello", nil)
}

// Check is one named smoke check result.
type Check struct {
	Name string
	Err  error
	Took time.Duration
}

// Smoke checks every endpoint the server has; timings are not asserted, only
// generous timeouts bound each check.
func Smoke(s ServerInfo, addr string) []Check {
	var out []Check
	run := func(name string, f func() error) {
		t := time.Now()
		err := f()
		out = append(out, Check{Name: name, Err: err, Took: time.Since(t)})
	}
	d := smokeDialer
	run("hello", func() error { return checkHello(d, addr) })
	if s.Has(CapSSE) {
		run("sse+publish", func() error { return checkSSE(d, addr) })
	}
	if s.Has(CapWSEcho) {
		run("ws/echo", func() error { return checkWSEcho(addr) })
	}
	if s.Has(CapWS) {
		run("ws/sub+publish", func() error { return checkWSSub(addr) })
	}
	if s.Has(CapChunked) {
		run("chunked", func() error { return checkChunked(d, addr) })
	}
	if s.Has(CapUpload) {
		run("upload", func() error { return checkUpload(addr) })
	}
	return out
}

// SmokeTLS checks a server started with -tls-cert/-tls-key (StartServerTLS)
// over HTTPS with cfg: /hello (keep-alive, pipelined), SSE with a publish,
// chunked downloads, and that a second handshake with cfg's session cache
// (if any) is resumed.
func SmokeTLS(s ServerInfo, addr string, cfg *tls.Config) []Check {
	var out []Check
	run := func(name string, f func() error) {
		t := time.Now()
		err := f()
		out = append(out, Check{Name: name, Err: err, Took: time.Since(t)})
	}
	d := smokeDialer
	d.TLS = cfg
	run("tls hello", func() error { return checkHello(d, addr) })
	if s.Has(CapSSE) {
		run("tls sse+publish", func() error { return checkSSE(d, addr) })
	}
	if s.Has(CapChunked) {
		run("tls chunked", func() error { return checkChunked(d, addr) })
	}
	if cfg.ClientSessionCache != nil {
		run("tls resumed", func() error { return checkResumed(d, addr) })
	}
	return out
}

// checkResumed reads a response on one connection (which delivers the
// server's TLS 1.3 session ticket), then checks that the next handshake
// resumed the session.
func checkResumed(d client.Dialer, addr string) error {
	for i := range 2 {
		c, err := d.Dial(addr)
		if err != nil {
			return err
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			c.Close()
			return err
		}
		st, _, err := client.ReadResponse(bufio.NewReader(c), "GET")
		cs := c.(*tls.Conn).ConnectionState()
		c.Close()
		if err != nil || st != 200 {
			return fmt.Errorf("GET /hello: status %d: %v", st, err)
		}
		if cs.Version != tls.VersionTLS13 {
			return fmt.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(cs.Version))
		}
		if i == 1 && !cs.DidResume {
			return fmt.Errorf("second handshake not resumed")
		}
	}
	return nil
}

// checkUpload posts bodies to /upload with Content-Length and chunked
// (including a zero-padded 15-hex-digit chunk size and a 1-byte chunk) on
// one keep-alive connection; each answer is the decoded body length.
// RFC 9112 puts no limit on the digits; 15 is the most fasthttp accepts
// (16, which net/http and streamd allow, gets 400 from fasthttp).
func checkUpload(addr string) error {
	c, err := smokeDialer.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	const head = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
	chunkedBody := fmt.Sprintf("%015x\r\n%s\r\n1\r\nz\r\n%x\r\n%s\r\n0\r\n\r\n",
		5000, strings.Repeat("a", 5000), 70000, strings.Repeat("b", 70000))
	for _, tc := range []struct {
		name, req string
		want      int
	}{
		{"empty", head + "Content-Length: 0\r\n\r\n", 0},
		{"content-length", head + "Content-Length: 100003\r\n\r\n" + strings.Repeat("c", 100003), 100003},
		{"chunked", head + "Transfer-Encoding: chunked\r\n\r\n" + chunkedBody, 75001},
	} {
		if _, err := io.WriteString(c, tc.req); err != nil {
			return fmt.Errorf("POST /upload (%s): %v", tc.name, err)
		}
		st, body, err := client.ReadResponse(br, "POST")
		if err != nil {
			return fmt.Errorf("POST /upload (%s): %v", tc.name, err)
		}
		if st != 200 || string(body) != strconv.Itoa(tc.want) {
			return fmt.Errorf("POST /upload (%s): status %d body %.40q; want 200 %q", tc.name, st, body, strconv.Itoa(tc.want))
		}
	}
	return nil
}

func checkHello(d client.Dialer, addr string) error {
	st, body, err := client.Request(d, addr, "GET", "/hello", nil)
	if err != nil {
		return err
	}
	if st != 200 || string(body) != "Hello, World!" {
		return fmt.Errorf("GET /hello: status %d body %q", st, body)
	}
	// Keep-alive and pipelining: two requests in one write on one conn.
	c, err := d.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
	if _, err := c.Write([]byte(req + req)); err != nil {
		return err
	}
	var got []byte
	buf := make([]byte, 4096)
	for bytes.Count(got, []byte("Hello, World!")) < 2 {
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("pipelined /hello: %v after %q", err, got)
		}
		got = append(got, buf[:n]...)
	}
	return nil
}

// publishUntil publishes payload to topic every 200 ms until recv reports it
// (a subscriber may register just after its head went out) or 5 s pass.
func publishUntil(d client.Dialer, addr, topic string, payload []byte, recv <-chan []byte, errc <-chan error) error {
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		st, _, err := client.Request(d, addr, "POST", "/publish?topic="+topic, payload)
		if err != nil {
			return fmt.Errorf("POST /publish: %v", err)
		}
		if st != 204 {
			return fmt.Errorf("POST /publish: status %d, want 204", st)
		}
		select {
		case got := <-recv:
			if !bytes.Equal(got, payload) {
				return fmt.Errorf("subscriber got %q, want %q", got, payload)
			}
			return nil
		case err := <-errc:
			return fmt.Errorf("subscriber: %v", err)
		case <-deadline:
			return fmt.Errorf("subscriber received nothing in 5 s")
		case <-tick.C:
		}
	}
}

func smokeTopic() string { return "smoke" + strconv.Itoa(rand.IntN(1e9)) }

func checkSSE(d client.Dialer, addr string) error {
	topic := smokeTopic()
	s, err := d.DialSSE(addr, "/sse?topic="+topic)
	if err != nil {
		return err
	}
	defer s.Conn.Close()
	recv, errc := make(chan []byte, 16), make(chan error, 1)
	go func() {
		for {
			p, err := s.ReadData()
			if err != nil {
				errc <- err
				return
			}
			recv <- append([]byte(nil), p...)
		}
	}()
	payload := []byte(strconv.FormatInt(time.Now().UnixNano(), 10) + "-0-smoke")
	return publishUntil(d, addr, topic, payload, recv, errc)
}

func checkWSEcho(addr string) error {
	w, err := smokeDialer.DialWS(addr, "/ws/echo")
	if err != nil {
		return err
	}
	defer w.Conn.Close()
	w.Conn.SetDeadline(time.Now().Add(5 * time.Second))
	cases := []struct {
		op byte
		p  []byte
	}{
		{client.OpText, []byte("hello, echo")},
		{client.OpBinary, []byte{0, 1, 2, 0xff, 0xfe}},
		{client.OpText, bytes.Repeat([]byte("a"), 300)},    // 16-bit length
		{client.OpBinary, bytes.Repeat([]byte{7}, 70_000)}, // 64-bit length
	}
	for _, tc := range cases {
		if err := w.WriteMessage(tc.op, tc.p); err != nil {
			return err
		}
		op, p, err := w.ReadMessage()
		if err != nil {
			return fmt.Errorf("echo of %d-byte op %d: %v", len(tc.p), tc.op, err)
		}
		if op != tc.op || !bytes.Equal(p, tc.p) {
			return fmt.Errorf("echo of %d-byte op %d: got op %d, %d bytes", len(tc.p), tc.op, op, len(p))
		}
	}
	return nil
}

func checkWSSub(addr string) error {
	topic := smokeTopic()
	w, err := smokeDialer.DialWS(addr, "/ws/sub?topic="+topic)
	if err != nil {
		return err
	}
	defer w.Conn.Close()
	recv, errc := make(chan []byte, 16), make(chan error, 1)
	go func() {
		for {
			op, p, err := w.ReadMessage()
			if err != nil {
				errc <- err
				return
			}
			if op != client.OpText {
				errc <- fmt.Errorf("ws/sub frame opcode %d, want text", op)
				return
			}
			recv <- append([]byte(nil), p...)
		}
	}()
	payload := []byte(strconv.FormatInt(time.Now().UnixNano(), 10) + "-0-smoke")
	return publishUntil(smokeDialer, addr, topic, payload, recv, errc)
}

func checkChunked(d client.Dialer, addr string) error {
	c, err := d.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	dl := client.NewDownloader(c, addr, 64<<10)
	// Odd size and chunk, then the defaults (64 MiB) on the same keep-alive conn.
	for _, tc := range []struct {
		target      string
		want, chunk int64
	}{
		{"/chunked?size=1000003&chunk=4096", 1000003, 4096},
		{"/chunked", 64 << 20, 16 << 10},
	} {
		res, err := dl.Get(tc.target)
		if err != nil {
			return fmt.Errorf("GET %s: %v", tc.target, err)
		}
		if res.Status != 200 || !res.Chunked || res.Body != tc.want {
			return fmt.Errorf("GET %s: status %d, chunked %v, %d bytes; want 200, chunked, %d bytes",
				tc.target, res.Status, res.Chunked, res.Body, tc.want)
		}
		if !res.Chunks.Conforms(tc.want, tc.chunk) {
			return fmt.Errorf("GET %s: %s; want %d-byte chunks, the last one shorter", tc.target, res.Chunks, tc.chunk)
		}
	}
	return nil
}

// SmokeAll builds and starts every present server selected by want (nil =
// all), smoke-checks it and stops it. It logs through logf and returns the
// number of failed checks; servers without main.go are logged as skipped.
func SmokeAll(root string, want map[string]bool, logf func(format string, args ...any)) (failed int, err error) {
	dir, err := os.MkdirTemp("", "streamd-bench-smoke-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	cert, err := NewTLSCert(dir)
	if err != nil {
		return 0, err
	}
	for _, s := range Servers(root) {
		if want != nil && !want[s.Name] {
			continue
		}
		if !s.Present {
			logf("SKIP %-9s no servers/%s/main.go yet", s.Name, s.Name)
			continue
		}
		t := time.Now()
		bins, err := Build(context.Background(), root, dir, map[string]string{s.Name: s.Package()})
		if err != nil {
			logf("FAIL %-9s build: %v", s.Name, err)
			failed++
			continue
		}
		logf("     %-9s built in %s", s.Name, time.Since(t).Round(time.Millisecond))
		p, err := StartServer(s.Name, bins[s.Name], -1, 1, s.Args...)
		if err != nil {
			logf("FAIL %-9s start: %v", s.Name, err)
			failed++
			continue
		}
		for _, c := range Smoke(s, p.Addr) {
			if c.Err != nil {
				logf("FAIL %-9s %-15s %v", s.Name, c.Name, c.Err)
				failed++
			} else {
				logf("ok   %-9s %-15s %s", s.Name, c.Name, c.Took.Round(time.Millisecond))
			}
		}
		if !p.Alive() {
			logf("FAIL %-9s process died: %s", s.Name, p.Output())
			failed++
		}
		p.Stop()
		if out := strings.TrimSpace(p.Output()); out != "" {
			logf("note %-9s printed output (servers should not log): %.200s", s.Name, out)
		}
		if !s.SpeaksTLS() {
			continue
		}
		cfg := cert.Client(true)
		pt, err := StartServerTLS(s.Name, bins[s.Name], -1, 1, cfg, append(cert.ServerArgs(), s.Args...)...)
		if err != nil {
			logf("FAIL %-9s start with TLS: %v", s.Name, err)
			failed++
			continue
		}
		for _, c := range SmokeTLS(s, pt.Addr, cfg) {
			if c.Err != nil {
				logf("FAIL %-9s %-15s %v", s.Name, c.Name, c.Err)
				failed++
			} else {
				logf("ok   %-9s %-15s %s", s.Name, c.Name, c.Took.Round(time.Millisecond))
			}
		}
		if !pt.Alive() {
			logf("FAIL %-9s TLS process died: %s", s.Name, pt.Output())
			failed++
		}
		pt.Stop()
	}
	return failed, nil
}
