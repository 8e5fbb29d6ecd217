package ws

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/streamd/streamd/internal/testsrv"
	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/ws/internal/wsframe"
)

// testTimeout bounds every wait on the network. It is generous so that a
// loaded machine (or -race) never turns a slow step into a failure; a
// passing test never waits for it.
const testTimeout = 15 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testsrv.GoleakOptions()...)
}

// wsServer is a loop.Server serving WebSocket routes on 127.0.0.1:0.
type wsServer = testsrv.Server

// startServer runs a loop.Server with cfg (a short ShutdownTimeout filled
// in when empty) and the routes registered by routes. Cleanup stops it and
// checks that Serve returned nil.
func startServer(t testing.TB, cfg loop.Config, routes func(s *loop.Server)) *wsServer {
	t.Helper()
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	return testsrv.Start(t, cfg, routes)
}

// startEcho serves an echo socket on "/" with up's Options.
func startEcho(t testing.TB, cfg loop.Config, up *Upgrader) *wsServer {
	return startServer(t, cfg, func(s *loop.Server) {
		s.GET("/", func(c *loop.Ctx) { up.Upgrade(c, echoHandler) })
	})
}

var echoHandler = Handler{
	OnMessage: func(s *Socket, m Message) {
		if m.Op == OpText {
			_, _ = s.SendText(m.Data)
		} else {
			s.SendBinary(m.Data)
		}
	},
}

// splitMode is how a rawClient cuts its output into TCP writes.
type splitMode int

const (
	splitWhole  splitMode = iota // one write per call
	splitBytes                   // one write per byte
	splitRandom                  // random cuts of 1 to 64 bytes
)

func (m splitMode) String() string {
	return [...]string{"whole", "bytewise", "random"}[m]
}

// rawClient is a WebSocket client that sends any bytes it is given, so
// tests can break every rule, and reads server frames without judging
// them beyond the basics.
type rawClient struct {
	t     testing.TB
	conn  net.Conn
	br    *bufio.Reader
	split splitMode
	rng   *mrand.Rand
	werr  error // first write error (the server may have closed early)
}

// frame is one server frame.
type frame struct {
	op      wsframe.Opcode
	fin     bool
	rsv1    bool
	payload []byte
}

func (f frame) String() string {
	p := string(f.payload)
	if len(p) > 40 {
		p = fmt.Sprintf("%.40q…(%d bytes)", p, len(p))
	} else {
		p = strconv.Quote(p)
	}
	return fmt.Sprintf("{%v fin=%v rsv1=%v %s}", f.op, f.fin, f.rsv1, p)
}

// closeCode returns the code of a close frame (CloseNoStatus for an
// empty body).
func (f frame) closeCode() StatusCode {
	if len(f.payload) < 2 {
		return CloseNoStatus
	}
	return StatusCode(binary.BigEndian.Uint16(f.payload))
}

// handshakeRequest builds an upgrade request for path with a fresh key;
// extra header lines ("Name: value") are added, and a line "-Name"
// removes a default header.
func handshakeRequest(addr, path string, extra ...string) string {
	var key [16]byte
	_, _ = rand.Read(key[:])
	hdr := []string{
		"Host: " + addr,
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]),
		"Sec-WebSocket-Version: 13",
	}
	for _, e := range extra {
		if name, ok := strings.CutPrefix(e, "-"); ok {
			for i, h := range hdr {
				if strings.HasPrefix(h, name+":") {
					hdr = append(hdr[:i], hdr[i+1:]...)
					break
				}
			}
			continue
		}
		name, _, _ := strings.Cut(e, ":")
		replaced := false
		for i, h := range hdr {
			if strings.HasPrefix(h, name+":") {
				hdr[i], replaced = e, true
			}
		}
		if !replaced {
			hdr = append(hdr, e)
		}
	}
	return "GET " + path + " HTTP/1.1\r\n" + strings.Join(hdr, "\r\n") + "\r\n\r\n"
}

// dialRaw connects to addr and sends req as is.
func dialRaw(t testing.TB, addr string, d *net.Dialer) *rawClient {
	t.Helper()
	if d == nil {
		d = &net.Dialer{}
	}
	d.Timeout = testTimeout
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn, br: bufio.NewReaderSize(conn, 64<<10), rng: mrand.New(mrand.NewPCG(1, 2))}
}

// handshake sends an upgrade request and returns the response (body read).
func (rc *rawClient) handshake(req string) *http.Response {
	rc.t.Helper()
	rc.write([]byte(req))
	if rc.werr != nil {
		rc.t.Fatalf("write handshake: %v", rc.werr)
	}
	rc.conn.SetReadDeadline(time.Now().Add(testTimeout))
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		rc.t.Fatalf("read handshake response: %v", err)
	}
	if resp.StatusCode != 101 {
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	return resp
}

// openWS dials addr and completes a handshake for path, failing the test
// unless the server answers 101.
func openWS(t testing.TB, addr, path string, extra ...string) *rawClient {
	t.Helper()
	rc := dialRaw(t, addr, nil)
	resp := rc.handshake(handshakeRequest(addr, path, extra...))
	if resp.StatusCode != 101 {
		t.Fatalf("handshake: status %d; want 101", resp.StatusCode)
	}
	return rc
}

// write sends b cut according to rc.split. A write error is kept, not
// fatal: the server may legitimately close before reading everything.
func (rc *rawClient) write(b []byte) {
	if rc.werr != nil {
		return
	}
	rc.conn.SetWriteDeadline(time.Now().Add(testTimeout))
	for len(b) > 0 {
		n := len(b)
		switch rc.split {
		case splitBytes:
			n = 1
		case splitRandom:
			n = min(len(b), 1+rc.rng.IntN(64))
		}
		if _, err := rc.conn.Write(b[:n]); err != nil {
			rc.werr = err
			return
		}
		b = b[n:]
	}
}

// Frame header bits (RFC 6455, Section 5.2), for the raw client.
const (
	bitFIN  = 0x80
	bitRSV1 = 0x40
	bitRSV2 = 0x20
	bitRSV3 = 0x10
	bitMask = 0x80
)

// deflateTail ends a sync flush; permessage-deflate strips it from every
// message (RFC 7692, Section 7.2.1).
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// send writes a masked client frame with a random key.
func (rc *rawClient) send(op wsframe.Opcode, fin bool, payload []byte) {
	rc.write(maskedFrame(op, fin, false, payload))
}

func maskedFrame(op wsframe.Opcode, fin, rsv1 bool, payload []byte) []byte {
	var key [4]byte
	_, _ = rand.Read(key[:])
	return wsframe.AppendMaskedFrame(nil, op, fin, rsv1, key, payload)
}

// readFrame reads one server frame; it fails the test on a malformed
// one (server frames are never masked).
func (rc *rawClient) readFrame() (frame, error) {
	rc.conn.SetReadDeadline(time.Now().Add(testTimeout))
	var h [2]byte
	if _, err := io.ReadFull(rc.br, h[:]); err != nil {
		return frame{}, err
	}
	f := frame{op: wsframe.Opcode(h[0] & 0x0f), fin: h[0]&bitFIN != 0, rsv1: h[0]&bitRSV1 != 0}
	if h[0]&(bitRSV2|bitRSV3) != 0 || h[1]&bitMask != 0 {
		rc.t.Fatalf("server frame header % x: RSV2/RSV3 or mask bit set", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(rc.br, b[:]); err != nil {
			return frame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(rc.br, b[:]); err != nil {
			return frame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 64<<20 {
		rc.t.Fatalf("server frame of %d bytes", n)
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(rc.br, f.payload); err != nil {
		return frame{}, err
	}
	return f, nil
}

// mustFrame is readFrame failing the test on a read error.
func (rc *rawClient) mustFrame() frame {
	rc.t.Helper()
	f, err := rc.readFrame()
	if err != nil {
		rc.t.Fatalf("read frame: %v", err)
	}
	return f
}

// readMessage reads a whole data message, answering nothing; control
// frames in between fail the test unless skipPings is set (pings are
// then dropped).
func (rc *rawClient) readMessage(skipPings bool) (wsframe.Opcode, []byte) {
	rc.t.Helper()
	var op wsframe.Opcode
	var data []byte
	first := true
	for {
		f := rc.mustFrame()
		if f.op == wsframe.OpPing && skipPings {
			continue
		}
		if f.op.IsControl() {
			rc.t.Fatalf("got %v; want a data frame", f)
		}
		if first {
			op, first = f.op, false
		}
		data = append(data, f.payload...)
		if f.fin {
			return op, data
		}
	}
}

// expectText reads a text message and compares it with want.
func (rc *rawClient) expectText(want string) {
	rc.t.Helper()
	op, data := rc.readMessage(true)
	if op != wsframe.OpText || string(data) != want {
		rc.t.Fatalf("got %v %.60q; want text %.60q", op, data, want)
	}
}

// expectClosed reads until the server closes TCP (EOF or a reset) and
// fails if a frame arrives or nothing happens within testTimeout.
func (rc *rawClient) expectClosed() {
	rc.t.Helper()
	f, err := rc.readFrame()
	if err == nil {
		rc.t.Fatalf("got %v; want the TCP connection closed", f)
	}
	if !isClosedErr(err) {
		rc.t.Fatalf("read after close: %v; want EOF", err)
	}
}

func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// expectClose reads a close frame with code, then the end of TCP.
func (rc *rawClient) expectClose(code StatusCode) {
	rc.t.Helper()
	f := rc.mustFrame()
	if f.op != wsframe.OpClose || f.closeCode() != code {
		rc.t.Fatalf("got %v; want close %v", f, code)
	}
	rc.expectClosed()
}

// closeBodyBytes is a close frame body.
func closeBodyBytes(code StatusCode, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// inflateMsg decompresses a permessage-deflate payload.
func inflateMsg(t testing.TB, p []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader(deflateTail)))
	out, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("inflate server message: %v", err)
	}
	return out
}

// connEvents records a socket's callbacks for a test.
type connEvents struct {
	open   chan *Socket
	closed chan StatusCode
	errs   chan error
}

func newConnEvents() *connEvents {
	return &connEvents{open: make(chan *Socket, 64), closed: make(chan StatusCode, 64), errs: make(chan error, 64)}
}

func (ev *connEvents) handler(h Handler) Handler {
	open := h.OnOpen
	h.OnOpen = func(s *Socket) {
		if open != nil {
			open(s)
		}
		ev.open <- s
	}
	h.OnClose = func(s *Socket, code StatusCode, reason string) { ev.closed <- code }
	h.OnError = func(s *Socket, err error) { ev.errs <- err }
	return h
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// TestSocketKeepalivePings checks that the server pings every
// PingInterval and that a client answering pongs stays connected.
func TestSocketKeepalivePings(t *testing.T) {
	up := &Upgrader{Options: Options{PingInterval: 200 * time.Millisecond}}
	ws := startEcho(t, loop.Config{}, up)
	rc := openWS(t, ws.HostPort, "/")
	for i := range 3 {
		f := rc.mustFrame()
		if f.op != wsframe.OpPing {
			t.Fatalf("frame %d: got %v; want a ping", i, f)
		}
		rc.send(wsframe.OpPong, true, f.payload)
	}
	rc.send(wsframe.OpText, true, []byte("still here"))
	rc.expectText("still here")
}

// TestSocketPongTimeout checks that a client that never answers pings is
// disconnected.
func TestSocketPongTimeout(t *testing.T) {
	ev := newConnEvents()
	up := &Upgrader{Options: Options{PingInterval: 200 * time.Millisecond}}
	ws := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/", func(c *loop.Ctx) { up.Upgrade(c, ev.handler(echoHandler)) })
	})
	rc := openWS(t, ws.HostPort, "/")
	start := time.Now()
	for {
		f, err := rc.readFrame()
		if err != nil {
			if !isClosedErr(err) {
				t.Fatalf("read: %v; want EOF", err)
			}
			break
		}
		if f.op != wsframe.OpPing {
			t.Fatalf("got %v; want pings only", f)
		}
	}
	// A ping, then a missed pong deadline: at least a couple of wheel
	// ticks (the wheel has a 100ms resolution, so allow for rounding).
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("disconnected after %v; want about two PingIntervals", d)
	}
	if err := recv(t, ev.errs, "OnError"); !errors.Is(err, ErrPongTimeout) {
		t.Errorf("OnError(%v); want ErrPongTimeout", err)
	}
	if code := recv(t, ev.closed, "OnClose"); code != CloseAbnormal {
		t.Errorf("OnClose code %v; want %v", code, CloseAbnormal)
	}
}

// TestSocketCloseTimeout checks that a client that never answers the
// server's close frame is disconnected after CloseTimeout.
func TestSocketCloseTimeout(t *testing.T) {
	const closeTimeout = 300 * time.Millisecond
	up := &Upgrader{Options: Options{PingInterval: -1, CloseTimeout: closeTimeout}}
	ws := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/", func(c *loop.Ctx) {
			up.Upgrade(c, Handler{OnMessage: func(s *Socket, m Message) { _ = s.Close(CloseNormal, "bye") }})
		})
	})
	rc := openWS(t, ws.HostPort, "/")
	rc.send(wsframe.OpText, true, []byte("close please"))
	f := rc.mustFrame()
	if f.op != wsframe.OpClose || f.closeCode() != CloseNormal || string(f.payload[2:]) != "bye" {
		t.Fatalf("got %v; want close 1000 \"bye\"", f)
	}
	start := time.Now()
	rc.expectClosed()
	if d := time.Since(start); d < closeTimeout/2 { // the wheel rounds to 100ms ticks
		t.Errorf("TCP closed %v after the close frame; want about CloseTimeout (%v)", d, closeTimeout)
	}
}

// TestSocketShutdownGoingAway checks that a graceful shutdown closes
// sockets with 1001 and that Serve returns once the handshake completes.
func TestSocketShutdownGoingAway(t *testing.T) {
	up := &Upgrader{Options: Options{PingInterval: -1}}
	ws := startEcho(t, loop.Config{Loops: 2}, up)
	var rcs []*rawClient
	for range 4 {
		rc := openWS(t, ws.HostPort, "/")
		rc.send(wsframe.OpText, true, []byte("hi")) // make sure the socket is up
		rc.expectText("hi")
		rcs = append(rcs, rc)
	}
	ws.Cancel()
	for _, rc := range rcs {
		f := rc.mustFrame()
		if f.op != wsframe.OpClose || f.closeCode() != CloseGoingAway {
			t.Fatalf("got %v; want close 1001", f)
		}
		rc.send(wsframe.OpClose, true, f.payload[:2])
		rc.expectClosed()
	}
	start := time.Now()
	if err := ws.Stop(); err != nil {
		t.Fatalf("Serve = %v", err)
	}
	// The shutdown must not have waited for ShutdownTimeout (5s here).
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Serve returned %v after the last socket closed", d)
	}
}

// TestSocketSendFromGoroutine checks that sends from other goroutines
// arrive whole and in call order, interleaved with sends on the loop.
func TestSocketSendFromGoroutine(t *testing.T) {
	const n = 2000
	var wg sync.WaitGroup
	defer wg.Wait()
	up := &Upgrader{Options: Options{PingInterval: -1}}
	ws := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/", func(c *loop.Ctx) {
			up.Upgrade(c, Handler{
				OnOpen: func(s *Socket) {
					wg.Add(2)
					for g := range 2 {
						go func() {
							defer wg.Done()
							for i := range n {
								var r loop.WriteResult
								if g == 0 {
									r = s.Send("a" + strconv.Itoa(i))
								} else {
									r = s.SendBinary([]byte("b" + strconv.Itoa(i)))
								}
								if r == loop.Dropped {
									t.Errorf("Send %d from goroutine %d dropped", i, g)
									return
								}
							}
						}()
					}
				},
				OnMessage: echoHandler.OnMessage,
			})
		})
	})
	rc := openWS(t, ws.HostPort, "/")
	rc.send(wsframe.OpText, true, []byte("ping-from-client"))
	next := [2]int{}
	echoed := false
	for next[0] < n || next[1] < n || !echoed {
		op, data := rc.readMessage(false)
		s := string(data)
		switch {
		case s == "ping-from-client":
			echoed = true
		case op == wsframe.OpText && strings.HasPrefix(s, "a"):
			if s != "a"+strconv.Itoa(next[0]) {
				t.Fatalf("got %q; want a%d", s, next[0])
			}
			next[0]++
		case op == wsframe.OpBinary && strings.HasPrefix(s, "b"):
			if s != "b"+strconv.Itoa(next[1]) {
				t.Fatalf("got %q; want b%d", s, next[1])
			}
			next[1]++
		default:
			t.Fatalf("unexpected %v %q", op, s)
		}
	}
}

// hubServer serves "/" with sockets that join topic on open and then
// send "joined", so a client that read "joined" is subscribed.
func hubServer(t testing.TB, cfg loop.Config, hub *loop.Hub, topic string, ev *connEvents) *wsServer {
	up := &Upgrader{Options: Options{Hub: hub, PingInterval: -1, CloseTimeout: time.Second}}
	h := Handler{OnOpen: func(s *Socket) {
		if err := s.Join(topic); err != nil {
			t.Errorf("Join: %v", err)
		}
		s.Send("joined")
	}}
	if ev != nil {
		h = ev.handler(h)
	}
	return startServer(t, cfg, func(s *loop.Server) {
		s.GET("/", func(c *loop.Ctx) { up.Upgrade(c, h) })
	})
}

func newHub(t testing.TB, cfg loop.HubConfig) *loop.Hub {
	hub, err := loop.NewHub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	return hub
}

// TestSocketPublishBothLoops checks that Publish reaches sockets on every
// loop, in order.
func TestSocketPublishBothLoops(t *testing.T) {
	hub := newHub(t, loop.HubConfig{})
	ev := newConnEvents()
	ws := hubServer(t, loop.Config{Loops: 2}, hub, "news", ev)
	loops := map[int]bool{}
	var rcs []*rawClient
	for range 6 {
		rc := openWS(t, ws.HostPort, "/")
		rc.expectText("joined")
		s := recv(t, ev.open, "OnOpen")
		loops[s.conn.Loop().Index()] = true
		rcs = append(rcs, rc)
	}
	if len(loops) != 2 {
		t.Fatalf("sockets on loops %v; want both loops", loops)
	}
	const n = 200
	for i := range n {
		if err := Publish(hub, "news", "item "+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, rc := range rcs {
		for j := range n {
			op, data := rc.readMessage(false)
			if op != wsframe.OpText || string(data) != "item "+strconv.Itoa(j) {
				t.Fatalf("socket %d: got %v %q; want text \"item %d\"", i, op, data, j)
			}
		}
	}
}

// TestSocketNoFramesAfterClose checks that messages published after the
// server sent its close frame are not sent: nothing may follow a close
// frame (RFC 6455, Section 5.5.1).
func TestSocketNoFramesAfterClose(t *testing.T) {
	hub := newHub(t, loop.HubConfig{})
	up := &Upgrader{Options: Options{Hub: hub, PingInterval: -1, CloseTimeout: 500 * time.Millisecond}}
	ws := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/", func(c *loop.Ctx) {
			up.Upgrade(c, Handler{
				OnOpen:    func(s *Socket) { _ = s.Join("t"); s.Send("joined") },
				OnMessage: func(s *Socket, m Message) { _ = s.Close(CloseNormal, "") },
			})
		})
	})
	rc := openWS(t, ws.HostPort, "/")
	rc.expectText("joined")
	rc.send(wsframe.OpText, true, []byte("close"))
	f := rc.mustFrame()
	if f.op != wsframe.OpClose {
		t.Fatalf("got %v; want close", f)
	}
	for i := range 10 {
		if err := Publish(hub, "t", "late "+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The client never answers; the server closes after CloseTimeout, by
	// when the publishes above have long been delivered (or not).
	rc.expectClosed()
}

// slowDialer dials with a tiny receive buffer, so the server's output
// backs up almost at once when the client does not read.
func slowDialer() *net.Dialer {
	return &net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		})
		if err != nil {
			return err
		}
		return serr
	}}
}

// TestSocketSlowSubscriberClosed checks PolicyClose: a socket that never
// reads is closed while fast sockets receive every message. The publisher
// stays at most a few messages ahead of the fast readers, so only the
// slow socket can go over the topic's budget.
func TestSocketSlowSubscriberClosed(t *testing.T) {
	const budget = 64 << 10
	hub := newHub(t, loop.HubConfig{Default: loop.TopicConfig{Policy: loop.PolicyClose, Budget: budget}})
	ev := newConnEvents()
	ws := hubServer(t, loop.Config{Loops: 2}, hub, "firehose", ev)

	slow := dialRaw(t, ws.HostPort, slowDialer())
	if resp := slow.handshake(handshakeRequest(ws.HostPort, "/")); resp.StatusCode != 101 {
		t.Fatalf("slow handshake: %d", resp.StatusCode)
	}
	slow.expectText("joined")
	recv(t, ev.open, "OnOpen")

	const fast, size, ahead, maxMsgs = 3, 4 << 10, 4, 50000
	payload := strings.Repeat("x", size-8)
	var wg sync.WaitGroup
	errs := make(chan error, fast)
	progress := make(chan int, fast*(ahead+2))
	for i := range fast {
		rc := openWS(t, ws.HostPort, "/")
		rc.expectText("joined")
		recv(t, ev.open, "OnOpen")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				f, err := rc.readFrame()
				if err != nil {
					errs <- fmt.Errorf("fast socket %d, message %d: %v", i, j, err)
					progress <- -1
					return
				}
				if string(f.payload) == "END" {
					return
				}
				if want := fmt.Sprintf("%07d ", j) + payload; string(f.payload) != want {
					errs <- fmt.Errorf("fast socket %d: got %v; want message %d", i, f, j)
					progress <- -1
					return
				}
				progress <- i
			}
		}()
	}
	received := make([]int, fast)
	minReceived := func() int { return min(received[0], received[1], received[2]) }
	slowClosed := false
	n := 0
	deadline := time.Now().Add(testTimeout)
publish:
	for ; n < maxMsgs && time.Now().Before(deadline); n++ {
		for n-minReceived() >= ahead {
			i := recv(t, progress, "fast reader progress")
			if i < 0 {
				break publish
			}
			received[i]++
		}
		if err := Publish(hub, "firehose", fmt.Sprintf("%07d ", n)+payload); err != nil {
			t.Fatalf("Publish %d: %v", n, err)
		}
		select {
		case code := <-ev.closed:
			slowClosed = true
			t.Logf("slow socket closed (OnClose %v) after %d messages", code, n+1)
			break publish
		default:
		}
	}
	if err := Publish(hub, "firehose", "END"); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range progress { // keep readers unblocked
		}
	}()
	wg.Wait()
	close(progress)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if !slowClosed {
		t.Fatalf("slow socket still open after %d messages of %d bytes", n, size)
	}
	if st := hub.TopicStats("firehose"); st.Closed != 1 || st.Subscribers != fast {
		t.Errorf("TopicStats = %+v; want Closed 1, Subscribers %d", st, fast)
	}
}

// BenchmarkEcho measures a round trip of a 32-byte text message over a
// real socket, one message in flight.
func BenchmarkEcho(b *testing.B) {
	up := &Upgrader{Options: Options{PingInterval: -1}}
	ws := startEcho(b, loop.Config{Loops: 1}, up)
	rc := openWS(b, ws.HostPort, "/")
	msg := bytes.Repeat([]byte("x"), 32)
	req := maskedFrame(wsframe.OpText, true, false, msg)
	resp := make([]byte, 2+len(msg))
	rc.conn.SetDeadline(time.Time{})
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := rc.conn.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(rc.br, resp); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSocketSendAfterBackpressure checks that a socket whose output
// backed up accepts sends from other goroutines again once the client
// has read everything. (A send from another goroutine that is accepted
// may still be dropped on the loop if the output is full by then: its
// WriteResult is an estimate, so the client reads until it sees a
// message sent after the backlog.)
func TestSocketSendAfterBackpressure(t *testing.T) {
	ev := newConnEvents()
	up := &Upgrader{Options: Options{PingInterval: -1}}
	ws := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/", func(c *loop.Ctx) { up.Upgrade(c, ev.handler(Handler{})) })
	})
	rc := openWS(t, ws.HostPort, "/")
	s := recv(t, ev.open, "OnOpen")
	payload := bytes.Repeat([]byte("y"), 64<<10)
	// The client does not read yet: fill the socket until sends are dropped.
	accepted := 0
	for ; accepted < 10000; accepted++ {
		if s.SendBinary(payload) == loop.Dropped {
			break
		}
	}
	if accepted == 10000 {
		t.Fatal("no send was dropped")
	}
	// Now read everything, until a message sent after the backlog.
	seen := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		defer close(seen)
		for {
			f, err := rc.readFrame()
			if err != nil {
				readErr <- err
				return
			}
			if f.op != wsframe.OpBinary {
				readErr <- fmt.Errorf("got %v; want binary messages", f)
				return
			}
			if strings.HasPrefix(string(f.payload), "again") {
				return
			}
		}
	}()
	deadline := time.After(testTimeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		// As big as the backlog's messages: a stale view of the queued
		// output would refuse it.
		s.SendBinary(append([]byte("again "+strconv.Itoa(i)+" "), payload...))
		select {
		case <-seen:
			select {
			case err := <-readErr:
				t.Fatal(err)
			default:
			}
			return
		case <-deadline:
			t.Fatalf("no send after the backlog arrived within %v (%d accepted before the first drop)", testTimeout, accepted)
		case <-tick.C:
		}
	}
}

// TestSocketErrors checks that each exported Socket error is what the
// documented call returns, on the socket's loop and from another
// goroutine. (ErrPongTimeout: TestSocketPongTimeout; ErrNeedMore and
// ErrClosed: the decoder tests.)
func TestSocketErrors(t *testing.T) {
	hub := newHub(t, loop.HubConfig{})
	type result struct {
		name      string
		err, want error
	}
	onLoop := make(chan result, 16)
	ev := newConnEvents()
	handler := func(withHub bool) Handler {
		return ev.handler(Handler{OnMessage: func(s *Socket, m Message) {
			check := func(name string, err, want error) { onLoop <- result{name, err, want} }
			if !withHub {
				check("Join without a hub", s.Join("topic"), ErrNoHub)
			}
			_, err := s.SendText([]byte("\xff"))
			check("SendText invalid UTF-8", err, ErrInvalidUTF8)
			check("Ping 126 bytes", s.Ping(make([]byte, 126)), ErrControlTooLong)
			check("Close", s.Close(CloseNormal, ""), nil)
			check("Ping after Close", s.Ping(nil), ErrSocketClosed)
			if withHub {
				check("Join after Close", s.Join("topic"), ErrSocketClosed)
			}
		}})
	}
	noHub := &Upgrader{Options: Options{PingInterval: -1}}
	withHub := &Upgrader{Options: Options{PingInterval: -1, Hub: hub}}
	ws := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/", func(c *loop.Ctx) { noHub.Upgrade(c, handler(false)) })
		s.GET("/hub", func(c *loop.Ctx) { withHub.Upgrade(c, handler(true)) })
	})
	for _, path := range []string{"/", "/hub"} {
		t.Run(path, func(t *testing.T) {
			rc := openWS(t, ws.HostPort, path)
			s := recv(t, ev.open, "OnOpen")
			var off []result
			if path == "/" {
				off = append(off, result{"Join without a hub", s.Join("topic"), ErrNoHub})
			}
			_, err := s.SendText([]byte("\xff"))
			off = append(off,
				result{"SendText invalid UTF-8", err, ErrInvalidUTF8},
				result{"Ping 126 bytes", s.Ping(make([]byte, 126)), ErrControlTooLong})
			rc.send(wsframe.OpText, true, []byte("check"))
			if f := rc.mustFrame(); f.op != wsframe.OpClose || f.closeCode() != CloseNormal {
				t.Fatalf("got %v; want the handler's close 1000", f)
			}
			rc.write(closeFr(CloseNormal, ""))
			rc.expectClosed()
			rc.conn.Close() // or the server lingers for our FIN
			recv(t, ev.closed, "OnClose")
			off = append(off,
				result{"Ping after close", s.Ping(nil), ErrSocketClosed},
				result{"Close after close", s.Close(CloseNormal, ""), ErrSocketClosed})
			for range 5 { // "/" checks Join without a hub, "/hub" Join after Close
				r := recv(t, onLoop, "an on-loop result")
				if !errors.Is(r.err, r.want) || (r.want == nil && r.err != nil) {
					t.Errorf("on the loop: %s = %v; want %v", r.name, r.err, r.want)
				}
			}
			for _, r := range off {
				if !errors.Is(r.err, r.want) {
					t.Errorf("off the loop: %s = %v; want %v", r.name, r.err, r.want)
				}
			}
		})
	}
}
