package loop

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Hostile clients: what one client can make the server hold is bounded by
// configuration. The tests count bytes the server holds (its connections'
// queued output and buffered input, read on the loops) and bytes it
// copies, never time.

// held sums, on the loops, the output queued and the input buffered by
// every open connection.
func held(t *testing.T, s *Server) (out, in int) {
	t.Helper()
	for _, l := range s.Loops() {
		el := l.el
		done := make(chan [2]int, 1)
		if err := el.postControl(func() {
			var o, i int
			for c := el.conns; c != nil; c = c.lnext {
				o += c.gc.OutboundBuffered()
				i += c.gc.InboundBuffered()
				if c.pend != nil {
					i += len(c.pend.in)
				}
			}
			done <- [2]int{o, i}
		}); err != nil {
			t.Fatalf("post: %v", err)
		}
		select {
		case r := <-done:
			out += r[0]
			in += r[1]
		case <-time.After(testTimeout):
			t.Fatal("loop did not answer")
		}
	}
	return out, in
}

// TestNonReadingPipeliner: a client that pipelines requests and never
// reads the answers must not make the server buffer answers without
// bound. Above the high watermark the server stops reading it, so the
// client's writes stall once the kernel buffers are full; the server holds
// at most HighWatermark plus one answer of output, and MaxPendingInput
// plus one read of input.
func TestNonReadingPipeliner(t *testing.T) {
	cfg := Config{Loops: 1, HighWatermark: 64 << 10, LowWatermark: 16 << 10, WriteTimeout: time.Minute}
	ts := startServer(t, cfg, basicRoutes)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	batch := []byte(strings.Repeat(get("/hello"), 256))
	const maxSend = 256 << 20 // the bound of the loop; a server that keeps reading gets this far
	sent := 0
	for sent < maxSend {
		_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Write(batch)
		sent += n
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("write after %d bytes: %v", sent, err)
			}
			break // the server stopped reading us: TCP backpressure
		}
	}
	if sent >= maxSend {
		t.Fatalf("the client wrote %d MiB of requests without reading and the server kept reading", sent>>20)
	}
	out, in := held(t, ts.Server)
	// Each request is served only while the queued and corked answers
	// are within the watermark, so the queue holds at most the watermark
	// plus one answer (a /hello answer is about 150 bytes).
	if limit := cfg.HighWatermark + 1024; out > limit {
		t.Errorf("server holds %d bytes of output for one non-reading client; want ≤ %d", out, limit)
	}
	if limit := DefaultMaxPendingInput + 64<<10; in > limit {
		t.Errorf("server holds %d bytes of input for one non-reading client; want ≤ %d", in, limit)
	}
	if st := ts.Stats(); st.ReadPauses == 0 {
		t.Errorf("Stats.ReadPauses = 0; want the connection's reading paused")
	}
	t.Logf("client wrote %d KiB before stalling; server holds %d B out, %d B in", sent>>10, out, in)

	// Reading resumes the connection: every request sent is answered.
	br := bufio.NewReaderSize(c, 64<<10)
	want := sent / len(get("/hello"))
	for i := 0; i < want; i++ {
		if i%1024 == 0 {
			_ = c.SetDeadline(time.Now().Add(testTimeout))
		}
		resp, body, err := readResponse(br, "GET")
		if err != nil {
			t.Fatalf("response %d of %d: %v", i, want, err)
		}
		if resp.StatusCode != 200 || body != helloBody {
			t.Fatalf("response %d: %d %q", i, resp.StatusCode, body)
		}
	}
}

// chunkedBody encodes body in chunks of size chunk with sizes padded to
// 16 hex digits, the most framing per data byte the parser accepts.
func chunkedBody(body []byte, chunk int) []byte {
	var b []byte
	for len(body) > 0 {
		n := min(chunk, len(body))
		b = fmt.Appendf(b, "%016x\r\n", n)
		b = append(b, body[:n]...)
		b = append(b, "\r\n"...)
		body = body[n:]
	}
	return append(b, "0\r\n\r\n"...)
}

// TestChunkAmplification: a legal 1 MiB chunked body in 1-byte chunks with
// 16-digit sizes is 21 MiB on the wire. The server must hold its decoded
// size (plus the head and one chunk line), not its wire size.
func TestChunkAmplification(t *testing.T) {
	cfg := Config{Loops: 2}
	ts := startServer(t, cfg, basicRoutes)
	body := []byte(strings.Repeat("x", 1<<20))
	wire := chunkedBody(body, 1)
	const conns = 3
	errc := make(chan error, conns)
	for i := 0; i < conns; i++ {
		go func() {
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				errc <- err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(6 * testTimeout))
			br := bufio.NewReader(c)
			go func() {
				_, _ = io.WriteString(c, "POST /post HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
				_, _ = c.Write(wire)
			}()
			resp, got, err := readResponse(br, "POST")
			switch {
			case err != nil:
				errc <- err
			case resp.StatusCode != 200 || got != string(body):
				errc <- fmt.Errorf("status %d, body of %d bytes", resp.StatusCode, len(got))
			default:
				errc <- nil
			}
		}()
	}
	for i := 0; i < conns; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	st := ts.Stats()
	// Each connection holds its decoded body, grown by append (up to 2×).
	if limit := int64(conns) * (2*int64(len(body)) + 64<<10); st.BufferedInputPeak > limit {
		t.Errorf("peak buffered input %d bytes for %d bodies of %d; want ≤ %d (decoded size, not wire size %d)",
			st.BufferedInputPeak, conns, len(body), limit, len(wire))
	}
	t.Logf("wire %d B per body; peak buffered input %d B for %d connections", len(wire), st.BufferedInputPeak, conns)
}

// TestTrickledBodyCopiesOnce: a body that arrives in many small reads is
// copied into the connection's buffer once (O(new bytes) per read), not
// re-copied whole on every read.
func TestTrickledBodyCopiesOnce(t *testing.T) {
	ts := startServer(t, Config{Loops: 1}, basicRoutes)
	c := dial(t, ts.addr)
	const size = 256 << 10
	body := strings.Repeat("y", size)
	c.send("POST /post HTTP/1.1\r\nHost: test\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n")
	for i := 0; i < size; i += 1 << 10 {
		c.send(body[i : i+1<<10])
		if i%(64<<10) == 0 {
			// Let the server read separately now and then (pacing; the
			// assertion does not depend on how the pieces are read).
			held(t, ts.Server)
		}
	}
	resp, got := c.read("POST")
	if resp.StatusCode != 200 || len(got) != size {
		t.Fatalf("status %d, %d bytes", resp.StatusCode, len(got))
	}
	if copied := ts.Stats().InputCopied; copied > 2*size {
		t.Errorf("copied %d bytes of input for a %d-byte request; want ≤ %d (each byte once)", copied, size, 2*size)
	}
}

// TestSlowBodyReadTimeout: a client trickling a body a byte at a time
// keeps the connection "active" forever under an idle timeout alone; the
// whole-request ReadTimeout cuts it with 408.
func TestSlowBodyReadTimeout(t *testing.T) {
	cfg := Config{Loops: 1, ReadTimeout: time.Second, IdleTimeout: 30 * time.Second}
	ts := startServer(t, cfg, basicRoutes)
	c := dial(t, ts.addr)
	c.send("POST /post HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000\r\n\r\n")
	got := make(chan *httpResult, 1)
	go func() {
		resp, body, err := readResponse(c.br, "POST")
		got <- &httpResult{resp != nil && resp.StatusCode == 408, body, err}
	}()
	tick := time.NewTicker(100 * time.Millisecond) // the client's pace, not synchronisation
	defer tick.Stop()
	deadline := time.After(testTimeout)
	for {
		select {
		case r := <-got:
			if r.err != nil || !r.ok {
				t.Fatalf("response: ok=%v body=%q err=%v; want 408", r.ok, r.body, r.err)
			}
			if n := ts.Stats().Closes["read_timeout"]; n != 1 {
				waitFor(t, "the read_timeout close to be counted", func() bool { return ts.Stats().Closes["read_timeout"] == 1 })
			}
			return
		case <-tick.C:
			_, _ = c.Write([]byte("z"))
		case <-deadline:
			t.Fatal("a trickled body was never cut by ReadTimeout")
		}
	}
}

type httpResult struct {
	ok   bool
	body string
	err  error
}

// TestBufferedInputBudget: partly received bodies count against the
// server-wide MaxBufferedInput; a client that would take it past the
// budget gets 503 and the connection closes.
func TestBufferedInputBudget(t *testing.T) {
	cfg := Config{Loops: 1, MaxBufferedInput: 2500 << 10}
	ts := startServer(t, cfg, basicRoutes)
	const size = 1000000
	head := "POST /post HTTP/1.1\r\nHost: test\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n"
	// Two bodies 900 KiB into their 1 MB are charged what they hold:
	// buffers of up to their declared size, ~2 MB.
	part := strings.Repeat("b", 900<<10)
	a, b := dial(t, ts.addr), dial(t, ts.addr)
	a.send(head + part)
	b.send(head + part)
	waitFor(t, "two bodies to be buffered", func() bool { return ts.Stats().BufferedInput >= 2*900<<10 })
	// A third with 600 KiB sent does not fit the 2.5 MB budget.
	c := dial(t, ts.addr)
	c.send(head + strings.Repeat("b", 600<<10))
	resp, _ := c.read("POST")
	checkStatus(t, resp, 503)
	c.expectClosed()
	if n := ts.Stats().Closes["input_budget"]; n != 1 {
		t.Errorf("Closes[input_budget] = %d; want 1", n)
	}
	// The first two are unaffected and finish.
	for _, x := range []*rawConn{a, b} {
		x.send(strings.Repeat("b", size-len(part)))
		resp, body := x.read("POST")
		if resp.StatusCode != 200 || len(body) != size {
			t.Fatalf("status %d, %d bytes", resp.StatusCode, len(body))
		}
	}
	waitFor(t, "the budget to be released", func() bool { return ts.Stats().BufferedInput == 0 })
}

// TestDeclaredBodiesCostWhatArrives: a head that declares a big body and
// sends one byte of it is charged for what it sent, not for what it
// declared, so a handful of tiny heads cannot take the input budget and
// get everyone's uploads refused. Before, each was charged its
// Content-Length when its head arrived: with a 4 MiB budget the fourth
// such head, and then a real 1 MB upload, got 503.
func TestDeclaredBodiesCostWhatArrives(t *testing.T) {
	ts := startServer(t, Config{Loops: 1, MaxBufferedInput: 4 << 20}, basicRoutes)
	const size = 1000000
	head := "POST /post HTTP/1.1\r\nHost: test\r\nContent-Length: " + strconv.Itoa(1<<20) + "\r\n\r\n"
	const n = 32
	for range n {
		dial(t, ts.addr).send(head + "b")
	}
	waitFor(t, "the 32 heads to be held", func() bool { return ts.Stats().BufferedInput >= n*int64(len(head)+1) })
	if held := ts.Stats().BufferedInput; held > n*1024 {
		t.Errorf("32 heads of %d bytes plus one body byte each hold %d bytes of budget; want about what they sent", len(head)+1, held)
	}
	up := dial(t, ts.addr)
	up.send("POST /post HTTP/1.1\r\nHost: test\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n" + strings.Repeat("u", size))
	resp, body := up.read("POST")
	if resp.StatusCode != 200 || len(body) != size {
		t.Fatalf("an upload beside the parked heads: status %d, %d bytes; want 200 and its body back", resp.StatusCode, len(body))
	}
	if peak := ts.Stats().BufferedInputPeak; peak > 2*size+n*1024 {
		t.Errorf("input peak %d bytes for one 1 MB upload; want at most twice the body", peak)
	}
}

// TestMaxConnsPerIP: one address cannot take more than MaxConnsPerIP
// slots; other addresses still get in, and a closed connection frees its
// slot.
func TestMaxConnsPerIP(t *testing.T) {
	ts := startServer(t, Config{Loops: 2, MaxConnsPerIP: 3}, basicRoutes)
	var conns []*rawConn
	for i := 0; i < 3; i++ {
		c := dial(t, ts.addr)
		resp, _ := c.roundTrip("GET", get("/hello"))
		checkStatus(t, resp, 200)
		conns = append(conns, c)
	}
	over := dial(t, ts.addr)
	resp, body := over.read("GET")
	checkStatus(t, resp, 503)
	if !strings.Contains(body, "too many connections") {
		t.Errorf("body %q; want the per-address message", body)
	}
	over.expectClosed()

	// Another source address is not affected.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: testTimeout}
	_, port, _ := net.SplitHostPort(ts.addr)
	other, err := d.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Skipf("cannot bind 127.0.0.2 here: %v", err)
	}
	defer other.Close()
	oc := &rawConn{t: t, Conn: other, br: bufio.NewReader(other)}
	_ = other.SetDeadline(time.Now().Add(testTimeout))
	resp, _ = oc.roundTrip("GET", get("/hello"))
	checkStatus(t, resp, 200)

	conns[0].Close()
	waitFor(t, "the slot to be freed", func() bool { return ts.Stats().Open == 3 })
	again := dial(t, ts.addr)
	resp, _ = again.roundTrip("GET", get("/hello"))
	checkStatus(t, resp, 200)
}

// TestExpectContinueAfterRouting: "Expect: 100-continue" is answered with
// 100 only when a handler will read the body; a request for a missing
// path gets its 404 at once, without 100 Continue.
func TestExpectContinueAfterRouting(t *testing.T) {
	ts := startServer(t, Config{Loops: 1}, basicRoutes)
	c := dial(t, ts.addr)
	c.send("POST /missing HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	line, err := c.br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "HTTP/1.1 404") {
		t.Fatalf("first line %q; want the 404 (no 100 Continue for a missing route)", line)
	}

	c = dial(t, ts.addr)
	c.send("POST /post HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	line, err = c.br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("first line %q; want 100 Continue", line)
	}
	if _, err := c.br.ReadString('\n'); err != nil { // the blank line ending the 100 head
		t.Fatal(err)
	}
	c.send("hello")
	resp, body := c.read("POST")
	if resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

// TestExpectContinueFinalStatus: a request with "Expect: 100-continue"
// that will not be served gets its final status first, never a "100
// Continue" inviting a body that is then refused (RFC 9110, Section
// 10.1.1): a route for another method (405) and a Content-Length above
// Limits.MaxBodyBytes (413). The body is not read, so the connection
// closes after the answer.
func TestExpectContinueFinalStatus(t *testing.T) {
	tests := []struct {
		name    string
		request string
		status  int
	}{
		{"405 route for GET only", "POST /hello HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", 405},
		{"413 body above MaxBodyBytes", "POST /post HTTP/1.1\r\nHost: test\r\nContent-Length: 1025\r\nExpect: 100-continue\r\n\r\n", 413},
	}
	cfg := Config{Loops: 1}
	cfg.Limits.MaxBodyBytes = 1024
	ts := startServer(t, cfg, basicRoutes)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			c.send(tt.request)
			// http.ReadResponse returns a 100 Continue as a response of
			// its own: the first response read must be the final one.
			resp, _ := c.read("POST")
			if resp.StatusCode != tt.status {
				t.Fatalf("first response %q; want %d with no 100 Continue before it", resp.Status, tt.status)
			}
			if !hasConnClose(resp) {
				t.Errorf("%d without Connection: close; the unread body would be taken for the next request", tt.status)
			}
			c.expectClosed()
		})
	}
}

// flakyListener fails its first accepts the way a process at its file
// limit does, then accepts for real.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAcceptErrorsBackOff: accept errors such as EMFILE never stop the
// server (gnet's own accept stops its engine on them): the accept loop
// backs off, counts them and serves the client waiting in the backlog.
func TestAcceptErrorsBackOff(t *testing.T) {
	ts := startServer(t, Config{Loops: 1}, basicRoutes)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln}
	fl.fails.Store(5)
	// A second accept loop of the running server, on the failing listener.
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- ts.Server.acceptLoop(fl, stop) }()
	c := dial(t, ln.Addr().String())
	resp, body := c.roundTrip("GET", get("/hello"))
	if resp.StatusCode != 200 || body != helloBody {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if n := ts.Stats().AcceptErrors; n != 5 {
		t.Errorf("Stats.AcceptErrors = %d; want 5", n)
	}
	close(stop)
	ln.Close()
	if err := <-done; err != nil {
		t.Errorf("acceptLoop = %v; want nil after stop", err)
	}
}

// TestServeReportsEngineStopped: if the event loops stop although Serve
// did not stop them, Serve returns an error wrapping ErrEngineStopped
// (cmd/streamd then exits non-zero) instead of running on without loops.
func TestServeReportsEngineStopped(t *testing.T) {
	s := New(Config{Addr: "127.0.0.1:0", Loops: 1, Logger: testLogger()})
	done := make(chan error, 1)
	go func() { done <- s.Serve(t.Context()) }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	_ = s.cli.Stop() // as if gnet stopped its engine on its own
	select {
	case err := <-done:
		if !errors.Is(err, ErrEngineStopped) {
			t.Fatalf("Serve returned %v; want ErrEngineStopped", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Serve still running after its event loops stopped")
	}
}
