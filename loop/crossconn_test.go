package loop_test

// Cross-connection tests: one connection's callbacks acting on another
// connection's stream on the same loop, streams ending outside their own
// input with requests pipelined behind them, and the truth of the outcomes
// that goroutine senders are told. They are an external test package so
// that they can drive the real sse, ws and chunked streams; TestMain (in
// helpers_test.go) checks for leaked goroutines.
//
// Every exchange is checked byte for byte, from the first byte a client
// receives to the server's close (EOF), with only the Date header's value
// normalised. Waits are bounded by deadlines on reads, never by sleeps.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/streamd/streamd/chunked"
	"github.com/streamd/streamd/internal/testsrv"
	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/sse"
	"github.com/streamd/streamd/ws"
)

// promptly bounds the wait for bytes that are due. It is generous for a
// loaded 2-core machine under -race, and far below crossConfig's
// IdleTimeout: a request nobody serves fails the test instead of ending
// quietly with the idle close.
const promptly = 10 * time.Second

// crossConfig is one loop (every connection shares the loop's output
// buffer) and an idle timeout that no wait of these tests reaches.
func crossConfig() loop.Config {
	return loop.Config{Loops: 1, IdleTimeout: 60 * time.Second, ShutdownTimeout: 5 * time.Second}
}

func startCross(t *testing.T, cfg loop.Config, routes func(*loop.Server)) string {
	t.Helper()
	return testsrv.Start(t, cfg, routes).HostPort
}

// Wire forms, written out by hand rather than with the codecs under test.
const (
	headSSE = "HTTP/1.1 200 OK\r\nServer: streamd\r\nDate: *\r\n" +
		"Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\r\n"
	headChunked = "HTTP/1.1 200 OK\r\nServer: streamd\r\nDate: *\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nTransfer-Encoding: chunked\r\n\r\n"
	headChunkedClose = "HTTP/1.1 200 OK\r\nServer: streamd\r\nDate: *\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
	// The handshake of RFC 6455, Section 1.3.
	wsKey  = "dGhlIHNhbXBsZSBub25jZQ=="
	headWS = "HTTP/1.1 101 Switching Protocols\r\nServer: streamd\r\nDate: *\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	lastChunk = "0\r\n\r\n"
	// wsClose1000 is a server close frame with code 1000 and no reason.
	wsClose1000 = "\x88\x02\x03\xe8"
)

// reqKeep and reqClose are GET requests without and with "Connection: close".
func reqKeep(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n" }
func reqClose(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
}

func reqWS(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + wsKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
}

// textResp is the response of Ctx.Text(200, body) to a request with
// "Connection: close".
func textResp(body string) string {
	return "HTTP/1.1 200 OK\r\nServer: streamd\r\nDate: *\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body
}

func chunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

// wsText is an unmasked text frame with a payload under 126 bytes.
func wsText(s string) string { return "\x81" + string(rune(len(s))) + s }

// wsCloseFrame is an unmasked close frame with code and a short reason.
func wsCloseFrame(code uint16, reason string) string {
	return "\x88" + string(rune(2+len(reason))) + string([]byte{byte(code >> 8), byte(code)}) + reason
}

func sseData(s string) string { return "data: " + s + "\n\n" }

// Frame opcodes (RFC 6455, Section 5.2); the codec is internal to ws.
const (
	opText  = 0x1
	opClose = 0x8
)

// maskedFrame is a whole client frame (masked, as RFC 6455 requires)
// with a payload under 126 bytes.
func maskedFrame(op byte, payload []byte) string {
	key := [4]byte{1, 2, 3, 4}
	b := append([]byte{0x80 | op, 0x80 | byte(len(payload))}, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i&3])
	}
	return string(b)
}

var clientClose1000 = maskedFrame(opClose, []byte{0x03, 0xe8})

var dateLine = regexp.MustCompile(`(?m)^Date: [^\r\n]*\r\n`)

// norm replaces the Date header's value, the only byte that varies.
func norm(b []byte) string { return dateLine.ReplaceAllString(string(b), "Date: *\r\n") }

// peer is a raw client connection that keeps a transcript of every byte
// it received.
type peer struct {
	t    *testing.T
	name string
	conn net.Conn
	got  []byte
	mark int // readUntil searches from here
}

// dialPeer connects to addr; rcvBuf > 0 sets SO_RCVBUF first (a small
// receive window makes the server's output back up quickly).
func dialPeer(t *testing.T, name, addr string, rcvBuf int) *peer {
	t.Helper()
	d := net.Dialer{Timeout: promptly}
	if rcvBuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &peer{t: t, name: name, conn: conn}
}

func (p *peer) send(s string) {
	p.t.Helper()
	_ = p.conn.SetWriteDeadline(time.Now().Add(promptly))
	if _, err := io.WriteString(p.conn, s); err != nil {
		p.t.Fatalf("%s: write: %v", p.name, err)
	}
}

// fill reads once into the transcript.
func (p *peer) fill(deadline time.Time) error {
	var buf [32 << 10]byte
	_ = p.conn.SetReadDeadline(deadline)
	n, err := p.conn.Read(buf[:])
	p.got = append(p.got, buf[:n]...)
	return err
}

// readUntil reads until want has arrived after the previous readUntil's
// match.
func (p *peer) readUntil(want string) {
	p.t.Helper()
	deadline := time.Now().Add(promptly)
	for {
		if i := bytes.Index(p.got[p.mark:], []byte(want)); i >= 0 {
			p.mark += i + len(want)
			return
		}
		if err := p.fill(deadline); err != nil {
			p.t.Fatalf("%s: waiting %v for %q: %v; received %q", p.name, promptly, want, err, norm(p.got))
		}
	}
}

// readEOF reads until the server closes the connection.
func (p *peer) readEOF() {
	p.t.Helper()
	deadline := time.Now().Add(promptly)
	for {
		err := p.fill(deadline)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return
		}
		p.t.Fatalf("%s: waiting %v for the server to close: %v; received %q", p.name, promptly, err, norm(p.got))
	}
}

// expect compares the whole transcript with want.
func (p *peer) expect(want string) {
	p.t.Helper()
	if got := norm(p.got); got != want {
		p.t.Errorf("%s received\n\t%q\nwant\n\t%q", p.name, got, want)
	}
}

// registry shares stream handles between the handlers of different
// connections, keyed by the "id" query parameter.
type registry struct {
	mu sync.Mutex
	m  map[string]any
}

func (r *registry) put(id string, h any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]any)
	}
	r.m[id] = h
}

func (r *registry) get(id string) any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[id]
}

func queryID(c *loop.Ctx) string {
	id, _ := c.Query("id")
	return id
}

// ---------------------------------------------------------------------
// 1. Output-buffer ownership.

// crossStream is a stream of connection C that another connection acts on.
type crossStream struct {
	name    string
	request string // C's request, for /c?id=c
	head    string // C's response head
	first   string // what C's handler sends, as it appears on the wire
	ws      bool   // C is a WebSocket: the client answers its close frame
	// keepAlive: the connection outlives the response; once it has ended
	// the client sends "GET /hello" (with "Connection: close") on it.
	keepAlive bool
	route     func(s *loop.Server, reg *registry)
	// end ends the stream from the test's goroutine, after an action that
	// does not end it; endWire is what that puts on the wire.
	end     func(h any)
	endWire string
	actions []crossAction
}

// crossAction is what a callback of connection D does to C's stream.
type crossAction struct {
	name string
	do   func(h any) // runs on the loop, in one of D's callbacks
	wire string      // the bytes it sends on C
	ends bool        // it ends C's stream
}

var wsOptions = ws.Options{PingInterval: -1, CloseTimeout: 30 * time.Second}

func crossStreams() []crossStream {
	chunkedActions := []crossAction{
		{"Close", func(h any) { _ = h.(*chunked.Writer).Close() }, lastChunk, true},
		{"Abort", func(h any) { h.(*chunked.Writer).Abort() }, "", true},
		{"Send", func(h any) { h.(*chunked.Writer).Send([]byte("x1")) }, chunk("x1"), false},
	}
	return []crossStream{
		{
			name: "sse.Stream", request: reqKeep("/c?id=c"), head: headSSE, first: sseData("c1"),
			route: func(s *loop.Server, reg *registry) {
				s.GET("/c", func(c *loop.Ctx) {
					id := queryID(c)
					sse.Open(c, sse.Options{Heartbeat: -1}, func(st *sse.Stream) {
						st.Send("c1")
						reg.put(id, st)
					})
				})
			},
			end: func(h any) { h.(*sse.Stream).Close() },
			actions: []crossAction{
				{"Close", func(h any) { h.(*sse.Stream).Close() }, "", true},
				{"Send", func(h any) { h.(*sse.Stream).Send("x1") }, sseData("x1"), false},
			},
		},
		{
			name: "ws.Socket", request: reqWS("/c?id=c"), head: headWS, first: wsText("c1"), ws: true,
			route: func(s *loop.Server, reg *registry) {
				up := &ws.Upgrader{Options: wsOptions}
				s.GET("/c", func(c *loop.Ctx) {
					id := queryID(c)
					up.Upgrade(c, ws.Handler{OnOpen: func(so *ws.Socket) {
						so.Send("c1")
						reg.put(id, so)
					}})
				})
			},
			end:     func(h any) { _ = h.(*ws.Socket).Close(1000, "") },
			endWire: wsClose1000,
			actions: []crossAction{
				{"Close", func(h any) { _ = h.(*ws.Socket).Close(4000, "by-d") }, wsCloseFrame(4000, "by-d"), true},
				{"SendText", func(h any) { _, _ = h.(*ws.Socket).SendText([]byte("x1")) }, wsText("x1"), false},
			},
		},
		{
			name: "chunked.Start", request: reqKeep("/c?id=c"), head: headChunked, first: chunk("c1"), keepAlive: true,
			route: func(s *loop.Server, reg *registry) {
				s.GET("/c", func(c *loop.Ctx) {
					w := chunked.Start(c, chunked.Options{})
					w.Send([]byte("c1"))
					reg.put(queryID(c), w)
				})
			},
			end:     func(h any) { _ = h.(*chunked.Writer).Close() },
			endWire: lastChunk,
			actions: chunkedActions,
		},
		{
			name: "chunked.Go", request: reqKeep("/c?id=c"), head: headChunked, first: chunk("c1"), keepAlive: true,
			route: func(s *loop.Server, reg *registry) {
				s.GET("/c", func(c *loop.Ctx) {
					w := chunked.Go(c, chunked.Options{}, func(w *chunked.Writer) error {
						if _, err := w.Write([]byte("c1")); err != nil {
							return err
						}
						<-w.Context().Done() // until someone ends the response
						return nil
					})
					reg.put(queryID(c), w)
				})
			},
			end:     func(h any) { _ = h.(*chunked.Writer).Close() },
			endWire: lastChunk,
			actions: chunkedActions,
		},
	}
}

// crossKind is a kind of callback of connection D that runs act (the
// action on C) and writes D's own bytes before and after it.
type crossKind struct {
	name    string
	request string
	ws      bool // D is a WebSocket: the client sends "go", then answers the close
	route   func(t *testing.T, s *loop.Server, act func())
	want    string // D's whole transcript
}

// chunkedD is D's response in the kinds that act from a stream callback:
// a chunked response (with "Connection: close") of d0 from the handler,
// then d1, the action, d2 and the end from the callback.
const chunkedD = headChunkedClose + "2\r\nd0\r\n2\r\nd1\r\n2\r\nd2\r\n" + lastChunk

// actAndFinish is the body of D's callbacks: a chunk, the action on C,
// a chunk, the end of D's response. On the loop.
func actAndFinish(w *chunked.Writer, act func()) {
	w.Send([]byte("d1"))
	act()
	w.Send([]byte("d2"))
	_ = w.Close()
}

func crossKinds() []crossKind {
	return []crossKind{
		{
			name: "handler-responds-first", request: reqClose("/d"), want: textResp("d:ok"),
			route: func(_ *testing.T, s *loop.Server, act func()) {
				s.GET("/d", func(c *loop.Ctx) {
					c.Text(200, "d:ok") // D's response is in the loop's output buffer...
					act()               // ...while C's stream is acted on
				})
			},
		},
		{
			name: "handler-responds-after", request: reqClose("/d"), want: textResp("d:ok"),
			route: func(_ *testing.T, s *loop.Server, act func()) {
				s.GET("/d", func(c *loop.Ctx) {
					act()
					c.Text(200, "d:ok")
				})
			},
		},
		{
			name: "timer", request: reqClose("/d"), want: chunkedD,
			route: func(_ *testing.T, s *loop.Server, act func()) {
				s.GET("/d", func(c *loop.Ctx) {
					w := chunked.Start(c, chunked.Options{})
					w.Send([]byte("d0"))
					w.After(time.Millisecond, func() { actAndFinish(w, act) })
				})
			},
		},
		{
			name: "drain", request: reqClose("/d"), want: chunkedD,
			route: func(_ *testing.T, s *loop.Server, act func()) {
				s.GET("/d", func(c *loop.Ctx) {
					w := chunked.Start(c, chunked.Options{})
					w.Send([]byte("d0"))
					w.OnDrain(func() { actAndFinish(w, act) })
				})
			},
		},
		{
			name: "goroutine-post", request: reqClose("/d"), want: chunkedD,
			route: func(t *testing.T, s *loop.Server, act func()) {
				s.GET("/d", func(c *loop.Ctx) {
					w := chunked.Start(c, chunked.Options{})
					w.Send([]byte("d0"))
					conn := c.Conn()
					go func() {
						if err := conn.Post(func(*loop.Conn) { actAndFinish(w, act) }); err != nil {
							t.Errorf("Post: %v", err)
						}
					}()
				})
			},
		},
		{
			name: "ws-message", request: reqWS("/d"), ws: true,
			want: headWS + wsText("d1") + wsText("d2") + wsClose1000,
			route: func(_ *testing.T, s *loop.Server, act func()) {
				up := &ws.Upgrader{Options: wsOptions}
				s.GET("/d", func(c *loop.Ctx) {
					up.Upgrade(c, ws.Handler{OnMessage: func(so *ws.Socket, _ ws.Message) {
						so.Send("d1")
						act()
						so.Send("d2")
						_ = so.Close(1000, "")
					}})
				})
			},
		},
	}
}

// TestCrossConnOutputOwnership: a callback of connection D acts on the
// stream of connection C on the same loop (ends it, or sends on it). D's
// bytes must reach D only and C's bytes C only, complete and in order. The
// loop has one output buffer; before "one owner of the cork buffer at a
// time", ending a chunked response of C from D's callback flushed D's
// gathered output to C's socket and left D's later output unsent.
func TestCrossConnOutputOwnership(t *testing.T) {
	runCrossMatrix(t, crossKinds())
}

func runCrossMatrix(t *testing.T, kinds []crossKind) {
	for _, st := range crossStreams() {
		for _, a := range st.actions {
			for _, k := range kinds {
				t.Run(st.name+"/"+a.name+"/"+k.name, func(t *testing.T) {
					runCrossCase(t, st, a, k)
				})
			}
		}
	}
}

func runCrossCase(t *testing.T, st crossStream, a crossAction, k crossKind) {
	reg := &registry{}
	addr := startCross(t, crossConfig(), func(s *loop.Server) {
		s.GET("/hello", func(c *loop.Ctx) { c.Text(200, "hello") })
		st.route(s, reg)
		k.route(t, s, func() {
			h := reg.get("c")
			if h == nil {
				t.Errorf("D acts before C's stream is registered")
				return
			}
			a.do(h)
		})
	})

	c := dialPeer(t, "C", addr, 0)
	c.send(st.request)
	c.readUntil(st.first)

	d := dialPeer(t, "D", addr, 0)
	d.send(k.request)
	if k.ws {
		d.readUntil("\r\n\r\n")
		d.send(maskedFrame(opText, []byte("go")))
		d.readUntil(wsClose1000)
		d.send(clientClose1000)
	}
	d.readEOF()
	d.expect(k.want)

	want := st.head + st.first + a.wire
	end := a.wire // the stream's last bytes
	if !a.ends {
		// The action was made before D's response ended: end C's stream
		// from here (a goroutine of the test) to see everything C gets.
		c.readUntil(a.wire)
		st.end(reg.get("c"))
		want += st.endWire
		end = st.endWire
	}
	switch {
	case st.ws:
		c.readUntil(end)
		_, _ = io.WriteString(c.conn, clientClose1000)
	case st.keepAlive && end != "":
		// The response ended and the connection goes on: nothing of D's
		// may be left behind for it either.
		c.readUntil(end)
		c.send(reqClose("/hello"))
		want += textResp("hello")
	}
	c.readEOF()
	c.expect(want)
}
