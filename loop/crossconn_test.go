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
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
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
	// headChunkedTrailer is headChunked with the trailer X-T announced.
	headChunkedTrailer = "HTTP/1.1 200 OK\r\nServer: streamd\r\nDate: *\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n"
	// headRaw is the head the raw loop.Conn stream writes itself.
	headRaw = "HTTP/1.1 200 OK\r\nServer: streamd\r\nDate: *\r\nContent-Type: application/octet-stream\r\n\r\n"
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

// textRespKeep is the response of a text reply of body to a request
// without "Connection: close".
func textRespKeep(body string) string {
	return "HTTP/1.1 200 OK\r\nServer: streamd\r\nDate: *\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
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
// connections, keyed by the "id" query parameter, and holds the hub the
// streams of a case join.
type registry struct {
	mu  sync.Mutex
	m   map[string]any
	hub *loop.Hub
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
	// then, if set, runs on the test's goroutine once wire has arrived
	// (before the stream is ended), to show the action took effect on C
	// (a publication to a topic the action joined); thenWire is what it
	// puts on C.
	then     func(reg *registry)
	thenWire string
}

// Topic history of the hub of every case (see runCrossCase): C's SSE
// stream asks to resume from an id the topic no longer has, so its Join
// replays a reset and the ring (WHATWG HTML §9.2, as sse.Stream.Join
// documents).
const (
	crossTopic   = "t"
	sseReplay    = "event: reset\ndata: " + crossTopic + "\n\n" + "id: h1\ndata: p1\n\n"
	sseLastEvent = "Last-Event-ID: gone\r\n"
)

// rawMode is the Mode of a stream written on the loop.Conn itself; it
// ignores input, and has no timers.
type rawMode struct{}

func (rawMode) OnData(*loop.Conn, []byte) (int, error) { return 0, nil }
func (rawMode) OnTimer(*loop.Conn)                     {}
func (rawMode) OnDrain(*loop.Conn)                     {}
func (rawMode) OnShutdown(*loop.Conn)                  {}
func (rawMode) OnClose(*loop.Conn, error)              {}

var wsOptions = ws.Options{PingInterval: -1, CloseTimeout: 30 * time.Second}

func crossStreams() []crossStream {
	chunkedActions := []crossAction{
		{name: "Close", do: func(h any) { _ = h.(*chunked.Writer).Close() }, wire: lastChunk, ends: true},
		{name: "Abort", do: func(h any) { h.(*chunked.Writer).Abort() }, ends: true},
		{name: "Send", do: func(h any) { h.(*chunked.Writer).Send([]byte("x1")) }, wire: chunk("x1")},
		{name: "Write", do: func(h any) { _, _ = h.(*chunked.Writer).Write([]byte("x1")) }, wire: chunk("x1")},
		{name: "SetTrailer+Close", do: func(h any) {
			w := h.(*chunked.Writer)
			_ = w.SetTrailer("X-T", "1")
			_ = w.Close()
		}, wire: "0\r\nX-T: 1\r\n\r\n", ends: true},
	}
	sseJoin := func(h any) { _ = h.(*sse.Stream).Join(crossTopic) }
	return []crossStream{
		{
			// C asks to resume (Last-Event-ID) but joins nothing in Open:
			// the replay comes with the first Join, from D.
			name: "sse.Stream", request: "GET /c?id=c HTTP/1.1\r\nHost: test\r\n" + sseLastEvent + "\r\n", head: headSSE, first: sseData("c1"),
			route: func(s *loop.Server, reg *registry) {
				s.GET("/c", func(c *loop.Ctx) {
					id := queryID(c)
					sse.Open(c, sse.Options{Heartbeat: -1, Hub: reg.hub}, func(st *sse.Stream) {
						st.Send("c1")
						reg.put(id, st)
					})
				})
			},
			end: func(h any) { h.(*sse.Stream).Close() },
			actions: []crossAction{
				{name: "Close", do: func(h any) { h.(*sse.Stream).Close() }, ends: true},
				{name: "Send", do: func(h any) { h.(*sse.Stream).Send("x1") }, wire: sseData("x1")},
				{name: "Event", do: func(h any) { _, _ = h.(*sse.Stream).Event("e", "x1") }, wire: "event: e\ndata: x1\n\n"},
				{name: "ID", do: func(h any) { _, _ = h.(*sse.Stream).ID("i1") }, wire: "id: i1\n\n"},
				{name: "Retry", do: func(h any) { h.(*sse.Stream).Retry(1500 * time.Millisecond) }, wire: "retry: 1500\n\n"},
				{name: "Comment", do: func(h any) { h.(*sse.Stream).Comment("x1") }, wire: ": x1\n\n"},
				{
					name: "Join", do: sseJoin, wire: sseReplay,
					then: func(reg *registry) {
						_, _ = sse.Publish(reg.hub, crossTopic, sse.Event{ID: "h2", Data: "p2"})
					},
					thenWire: "id: h2\ndata: p2\n\n",
				},
				{name: "Join+Leave", do: func(h any) {
					sseJoin(h)
					h.(*sse.Stream).Leave(crossTopic)
				}, wire: sseReplay},
			},
		},
		{
			name: "ws.Socket", request: reqWS("/c?id=c"), head: headWS, first: wsText("c1"), ws: true,
			route: func(s *loop.Server, reg *registry) {
				up := &ws.Upgrader{Options: wsOptions}
				up.Options.Hub = reg.hub
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
				{name: "Close", do: func(h any) { _ = h.(*ws.Socket).Close(4000, "by-d") }, wire: wsCloseFrame(4000, "by-d"), ends: true},
				{name: "SendText", do: func(h any) { _, _ = h.(*ws.Socket).SendText([]byte("x1")) }, wire: wsText("x1")},
				{name: "Send", do: func(h any) { h.(*ws.Socket).Send("x1") }, wire: wsText("x1")},
				{name: "SendBinary", do: func(h any) { h.(*ws.Socket).SendBinary([]byte("x1")) }, wire: "\x82\x02x1"},
				{name: "Ping", do: func(h any) { _ = h.(*ws.Socket).Ping([]byte("p1")) }, wire: "\x89\x02p1"},
				{
					// A WebSocket join replays nothing: the message sent
					// after it (on the loop, so after the join) tells the
					// test the join was made, and the publication that
					// follows shows the subscription is C's.
					name: "Join", do: func(h any) {
						so := h.(*ws.Socket)
						_ = so.Join(crossTopic)
						so.Send("j1")
					},
					wire:     wsText("j1"),
					then:     func(reg *registry) { _ = ws.Publish(reg.hub, crossTopic, "p2") },
					thenWire: wsText("p2"),
				},
			},
		},
		{
			name: "chunked.Start", request: reqKeep("/c?id=c"), head: headChunkedTrailer, first: chunk("c1"), keepAlive: true,
			route: func(s *loop.Server, reg *registry) {
				s.GET("/c", func(c *loop.Ctx) {
					w := chunked.Start(c, chunked.Options{Trailers: []string{"X-T"}})
					w.Send([]byte("c1"))
					reg.put(queryID(c), w)
				})
			},
			end:     func(h any) { _ = h.(*chunked.Writer).Close() },
			endWire: lastChunk,
			actions: chunkedActions,
		},
		{
			name: "chunked.Go", request: reqKeep("/c?id=c"), head: headChunkedTrailer, first: chunk("c1"), keepAlive: true,
			route: func(s *loop.Server, reg *registry) {
				s.GET("/c", func(c *loop.Ctx) {
					w := chunked.Go(c, chunked.Options{Trailers: []string{"X-T"}}, func(w *chunked.Writer) error {
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
		{
			// The connection itself, as protocol packages drive it: a
			// Mode, bytes written with Conn.Write, ended with Close or
			// handed back to HTTP with EndMode.
			name: "loop.Conn", request: reqKeep("/c?id=c"), head: headRaw, first: "c1", keepAlive: true,
			route: func(s *loop.Server, reg *registry) {
				s.GET("/c", func(c *loop.Ctx) {
					conn := c.TakeOver(rawMode{})
					c.WriteStreamHead(200, "Content-Type: application/octet-stream\r\n")
					conn.Write([]byte("c1"))
					reg.put(queryID(c), conn)
				})
			},
			end: func(h any) { _ = h.(*loop.Conn).Post(func(c *loop.Conn) { c.Close() }) },
			actions: []crossAction{
				{name: "Write", do: func(h any) { h.(*loop.Conn).Write([]byte("x1")) }, wire: "x1"},
				{name: "Close", do: func(h any) { h.(*loop.Conn).Close() }, ends: true},
				{name: "Write+EndMode", do: func(h any) {
					conn := h.(*loop.Conn)
					conn.Write([]byte("x1"))
					conn.EndMode(true)
				}, wire: "x1", ends: true},
			},
		},
	}
}

// crossKind is a kind of callback of connection D that runs act (the
// action on C) and writes D's own bytes before and after it.
type crossKind struct {
	name    string
	request string
	ws      bool // D is a WebSocket: the client sends "go", then answers the close
	// clientCloses: once these last bytes of want have arrived, D's client
	// closes the connection (the server does not).
	clientCloses string
	// trigger, if set, runs on the test's goroutine once D's response head
	// has arrived, makes the callback run and waits for it, while D's
	// client reads nothing more.
	trigger func(t *testing.T, reg *registry)
	// partial: D is closed with output still queued, so its transcript is
	// a prefix of want (at least the head), not all of it.
	partial bool
	rcvBuf  int // D's SO_RCVBUF, if > 0
	route   func(t *testing.T, s *loop.Server, reg *registry, act func())
	want    string // D's whole transcript
}

// hubDeliveryKind acts on C from a hub delivery: D's stream, far behind
// its client (which does not read), is over its topic's budget when a
// message for it is delivered; PolicyClose closes it from the delivery,
// with D's output corked, and the stream's OnClose acts on C there. (The
// application gets no other callback from a delivery: sse and ws write
// delivered messages themselves.) Each case moves megabytes, so
// TestCrossConnOutputOwnershipHubDelivery runs it for two actions of
// each stream, one that ends it and one that sends on it.
func hubDeliveryKind() crossKind {
	return crossKind{
		name: "hub-delivery", request: reqKeep("/d"), partial: true, rcvBuf: 4 << 10,
		want: headSSE + sseData(bigD()),
		trigger: func(t *testing.T, reg *registry) {
			if _, err := sse.Publish(reg.hub, slowTopic, sse.Event{Data: "dp"}); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			// Until the delivery has closed D, its client must not
			// read: the backlog that makes D slow would drain.
			select {
			case <-reg.get("d-closed").(chan struct{}):
			case <-time.After(promptly):
				t.Fatalf("D not closed by the delivery within %v (%+v)", promptly, reg.hub.TopicStats(slowTopic))
			}
		},
		route: func(_ *testing.T, s *loop.Server, reg *registry, act func()) {
			closed := make(chan struct{})
			reg.put("d-closed", closed)
			s.GET("/d", func(c *loop.Ctx) {
				sse.Open(c, sse.Options{Heartbeat: -1, Hub: reg.hub, MaxBuffered: 2 * len(bigD())}, func(st *sse.Stream) {
					// Joined before the head can reach the client (a
					// large write flushes it at once), so before the
					// test publishes.
					_ = st.Join(slowTopic)
					st.OnClose(func() {
						act()
						close(closed)
					})
					st.Send(bigD()) // more than the sockets hold
				})
			})
		},
	}
}

// TestCrossConnOutputOwnershipHubDelivery is TestCrossConnOutputOwnership
// for an action made in a hub delivery to D, over TCP and TLS.
func TestCrossConnOutputOwnershipHubDelivery(t *testing.T) {
	k := hubDeliveryKind()
	for _, overTLS := range []bool{false, true} {
		for _, st := range crossStreams() {
			var ending, sending bool
			for _, a := range st.actions {
				if (a.ends && ending) || (!a.ends && sending) {
					continue
				}
				ending, sending = ending || a.ends, sending || !a.ends
				t.Run(fmt.Sprintf("tls=%v/%s/%s", overTLS, st.name, a.name), func(t *testing.T) {
					runCrossCase(t, st, a, k, overTLS)
				})
			}
		}
	}
}

// slowTopic closes a subscriber more than a byte behind (see the kind
// hub-delivery); bigD is more than the kernel holds for a client that
// does not read (about 3 MB on loopback with a 4 KiB receive buffer), so
// the rest stays queued on the server.
const slowTopic = "slow"

var bigD = sync.OnceValue(func() string { return strings.Repeat("D", 8<<20) })

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
			route: func(_ *testing.T, s *loop.Server, _ *registry, act func()) {
				s.GET("/d", func(c *loop.Ctx) {
					c.Text(200, "d:ok") // D's response is in the loop's output buffer...
					act()               // ...while C's stream is acted on
				})
			},
		},
		{
			name: "handler-responds-after", request: reqClose("/d"), want: textResp("d:ok"),
			route: func(_ *testing.T, s *loop.Server, _ *registry, act func()) {
				s.GET("/d", func(c *loop.Ctx) {
					act()
					c.Text(200, "d:ok")
				})
			},
		},
		{
			name: "timer", request: reqClose("/d"), want: chunkedD,
			route: func(_ *testing.T, s *loop.Server, _ *registry, act func()) {
				s.GET("/d", func(c *loop.Ctx) {
					w := chunked.Start(c, chunked.Options{})
					w.Send([]byte("d0"))
					w.After(time.Millisecond, func() { actAndFinish(w, act) })
				})
			},
		},
		{
			name: "drain", request: reqClose("/d"), want: chunkedD,
			route: func(_ *testing.T, s *loop.Server, _ *registry, act func()) {
				s.GET("/d", func(c *loop.Ctx) {
					w := chunked.Start(c, chunked.Options{})
					w.Send([]byte("d0"))
					w.OnDrain(func() { actAndFinish(w, act) })
				})
			},
		},
		{
			name: "goroutine-post", request: reqClose("/d"), want: chunkedD,
			route: func(t *testing.T, s *loop.Server, _ *registry, act func()) {
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
			route: func(_ *testing.T, s *loop.Server, _ *registry, act func()) {
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
		{
			// The task that writes a Deferred's reply serves the request
			// pipelined behind it (sent in the same write), whose handler
			// acts on C with the reply still in D's corked output.
			name: "deferred-reply", request: reqKeep("/d-defer") + reqClose("/d"),
			want: textRespKeep("d:deferred") + textResp("d:ok"),
			route: func(t *testing.T, s *loop.Server, _ *registry, act func()) {
				s.GET("/d-defer", func(c *loop.Ctx) {
					dr := c.Defer()
					go func() {
						if err := dr.Text(200, "d:deferred"); err != nil {
							t.Errorf("Deferred.Text: %v", err)
						}
					}()
				})
				s.GET("/d", func(c *loop.Ctx) {
					act()
					c.Text(200, "d:ok")
				})
			},
		},
		{
			// D's stream ends itself; its OnClose acts on C.
			name: "sse-onclose", request: reqKeep("/d"), want: headSSE + sseData("d0"),
			route: func(_ *testing.T, s *loop.Server, _ *registry, act func()) {
				s.GET("/d", func(c *loop.Ctx) {
					sse.Open(c, sse.Options{Heartbeat: -1}, func(st *sse.Stream) {
						st.Send("d0")
						st.OnClose(act)
						st.Close()
					})
				})
			},
		},
		{
			// D's client goes away; the OnClose of D's stream acts on C.
			name: "sse-onclose-peer", request: reqKeep("/d"), want: headSSE + sseData("d0"), clientCloses: sseData("d0"),
			route: func(_ *testing.T, s *loop.Server, _ *registry, act func()) {
				s.GET("/d", func(c *loop.Ctx) {
					sse.Open(c, sse.Options{Heartbeat: -1}, func(st *sse.Stream) {
						st.Send("d0")
						st.OnClose(act)
					})
				})
			},
		},
		{
			// D's closing handshake completes; its OnClose acts on C.
			name: "ws-onclose", request: reqWS("/d"), ws: true,
			want: headWS + wsText("d1") + wsClose1000,
			route: func(_ *testing.T, s *loop.Server, _ *registry, act func()) {
				up := &ws.Upgrader{Options: wsOptions}
				s.GET("/d", func(c *loop.Ctx) {
					up.Upgrade(c, ws.Handler{
						OnMessage: func(so *ws.Socket, _ ws.Message) {
							so.Send("d1")
							_ = so.Close(1000, "")
						},
						OnClose: func(*ws.Socket, ws.StatusCode, string) { act() },
					})
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
	runCrossMatrix(t, crossKinds(), false)
}

// TestCrossConnOutputOwnershipTLS is TestCrossConnOutputOwnership over
// TLS, whose output takes its own path (the cork is encrypted into
// records for the connection it belongs to).
func TestCrossConnOutputOwnershipTLS(t *testing.T) {
	runCrossMatrix(t, crossKinds(), true)
}

func runCrossMatrix(t *testing.T, kinds []crossKind, overTLS bool) {
	for _, st := range crossStreams() {
		for _, a := range st.actions {
			for _, k := range kinds {
				t.Run(st.name+"/"+a.name+"/"+k.name, func(t *testing.T) {
					runCrossCase(t, st, a, k, overTLS)
				})
			}
		}
	}
}

func runCrossCase(t *testing.T, st crossStream, a crossAction, k crossKind, overTLS bool) {
	hub, err := loop.NewHub(loop.HubConfig{Topics: map[string]loop.TopicConfig{
		slowTopic: {Policy: loop.PolicyClose, Budget: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hub.Close() }) // after the server stops
	if _, err := sse.Publish(hub, crossTopic, sse.Event{ID: "h1", Data: "p1"}); err != nil {
		t.Fatal(err)
	}
	reg := &registry{hub: hub}
	cfg := crossConfig()
	if overTLS {
		cfg.TLS = testsrv.Cert().Server()
	}
	addr := startCross(t, cfg, func(s *loop.Server) {
		s.GET("/hello", func(c *loop.Ctx) { c.Text(200, "hello") })
		st.route(s, reg)
		k.route(t, s, reg, func() {
			h := reg.get("c")
			if h == nil {
				t.Errorf("D acts before C's stream is registered")
				return
			}
			a.do(h)
		})
	})

	dial := func(name string, rcvBuf int) *peer {
		p := dialPeer(t, name, addr, rcvBuf)
		if overTLS {
			tc := tls.Client(p.conn, testsrv.Cert().Client())
			_ = tc.SetDeadline(time.Now().Add(promptly))
			if err := tc.Handshake(); err != nil {
				t.Fatalf("%s: TLS handshake: %v", name, err)
			}
			p.conn = tc
		}
		return p
	}

	c := dial("C", 0)
	c.send(st.request)
	c.readUntil(st.first)

	d := dial("D", k.rcvBuf)
	d.send(k.request)
	if k.ws {
		d.readUntil("\r\n\r\n")
		d.send(maskedFrame(opText, []byte("go")))
		d.readUntil(wsClose1000)
		d.send(clientClose1000)
	}
	if k.trigger != nil {
		d.readUntil("\r\n\r\n")
		k.trigger(t, reg)
	}
	switch {
	case k.clientCloses != "":
		d.readUntil(k.clientCloses)
		_ = d.conn.Close()
	case k.partial && overTLS:
		// Cut with output queued: the last TLS record may be cut too.
		deadline := time.Now().Add(promptly)
		for {
			err := d.fill(deadline)
			if err == nil {
				continue
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("D: waiting %v for the server to close: %v", promptly, err)
			}
			break
		}
	default:
		d.readEOF()
	}
	if k.partial {
		// Megabytes: normalise the head only.
		got := string(d.got)
		if i := strings.Index(got, "\r\n\r\n"); i >= 0 {
			got = norm(d.got[:i+4]) + got[i+4:]
		}
		if !strings.HasPrefix(k.want, got) || !strings.Contains(got, "\r\n\r\n") {
			t.Errorf("D received %d bytes, not a prefix of its own response that holds the head: %.200q ... %.200q", len(got), got, got[max(0, len(got)-200):])
		}
	} else {
		d.expect(k.want)
	}

	want := st.head + st.first + a.wire
	end := a.wire // the stream's last bytes
	if !a.ends {
		// The action was made before D's response ended (or, after a
		// client's close, in D's OnClose): end C's stream from here (a
		// goroutine of the test) once the action's bytes are in, to see
		// everything C gets.
		c.readUntil(a.wire)
		if a.then != nil {
			a.then(reg)
			c.readUntil(a.thenWire)
			want += a.thenWire
		}
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
