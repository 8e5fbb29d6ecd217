package wsinterop

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	fasthttpws "github.com/fasthttp/websocket"
	gorilla "github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/streamd/streamd/internal/testsrv"
	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/ws"
)

// testTimeout bounds every wait: generous, so a loaded 2-core machine
// under -race never turns a slow step into a failure.
const testTimeout = 15 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testsrv.GoleakOptions()...)
}

// opcode is a data frame's type as the clients send and see it: the
// RFC 6455 opcode, which gorilla, fasthttp and coder use as their message
// types too.
type opcode int

const (
	opText   opcode = 1
	opBinary opcode = 2
)

func (op opcode) String() string {
	switch op {
	case opText:
		return "text"
	case opBinary:
		return "binary"
	}
	return fmt.Sprintf("opcode(%d)", int(op))
}

// closeNormalCode is the close code 1000 (RFC 6455, Section 7.4.1).
const closeNormalCode = 1000

// interopClient is what the tests need of a client library.
type interopClient interface {
	write(op opcode, p []byte) error
	read() (opcode, []byte, error)
	// ping sends a ping with payload and returns once its pong arrived
	// (a concurrent read may be needed to process it: the adapter does it).
	ping(payload string) error
	// closeNormal starts the closing handshake and waits for the server's
	// close frame.
	closeNormal(reason string) error
	// closeCode extracts the peer's close code from a read error (-1 if none).
	closeCode(err error) int
	compressed() bool
	pings() int64 // server pings seen so far (-1 if the library hides them)
	abort()
}

// clientTLS is the TLS configuration for url: one trusting the test
// certificate (testsrv.Cert) for wss://, nil for ws://.
func clientTLS(url string) *tls.Config {
	if strings.HasPrefix(url, "wss://") {
		return testsrv.Transports[1].ClientTLS()
	}
	return nil
}

// wsURL is the URL of path on srv, ws:// or wss:// as srv serves.
func wsURL(srv *testsrv.Server, path string) string {
	return testsrv.TransportOf(srv.Server).Scheme("ws") + "://" + srv.HostPort + path
}

type interopLib struct {
	name string
	dial func(t testing.TB, url string, compress bool) interopClient
}

var interopLibs = []interopLib{
	{"gorilla", func(t testing.TB, url string, compress bool) interopClient {
		d := gorilla.Dialer{EnableCompression: compress, HandshakeTimeout: testTimeout, TLSClientConfig: clientTLS(url)}
		c, resp, err := d.Dial(url, nil)
		if err != nil {
			t.Fatalf("gorilla dial %s: %v", url, err)
		}
		g := &gorillaClient{conn: c, ext: resp.Header.Get("Sec-WebSocket-Extensions"),
			closeErr: func(err error) int {
				var ce *gorilla.CloseError
				if errors.As(err, &ce) {
					return ce.Code
				}
				return -1
			}}
		g.init()
		t.Cleanup(g.abort)
		return g
	}},
	{"fasthttp", func(t testing.TB, url string, compress bool) interopClient {
		d := fasthttpws.Dialer{EnableCompression: compress, HandshakeTimeout: testTimeout, TLSClientConfig: clientTLS(url)}
		c, resp, err := d.Dial(url, nil)
		if err != nil {
			t.Fatalf("fasthttp dial %s: %v", url, err)
		}
		g := &gorillaClient{conn: c, ext: resp.Header.Get("Sec-WebSocket-Extensions"),
			closeErr: func(err error) int {
				var ce *fasthttpws.CloseError
				if errors.As(err, &ce) {
					return ce.Code
				}
				return -1
			}}
		g.init()
		t.Cleanup(g.abort)
		return g
	}},
	{"coder", func(t testing.TB, url string, compress bool) interopClient {
		mode := coder.CompressionDisabled
		if compress {
			mode = coder.CompressionContextTakeover
		}
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		opts := &coder.DialOptions{CompressionMode: mode, CompressionThreshold: 1}
		if conf := clientTLS(url); conf != nil {
			tr := &http.Transport{TLSClientConfig: conf}
			t.Cleanup(tr.CloseIdleConnections)
			opts.HTTPClient = &http.Client{Transport: tr}
		}
		c, resp, err := coder.Dial(ctx, url, opts)
		if err != nil {
			t.Fatalf("coder dial %s: %v", url, err)
		}
		c.SetReadLimit(4 << 20)
		cc := &coderClient{conn: c, ext: resp.Header.Get("Sec-WebSocket-Extensions")}
		t.Cleanup(cc.abort)
		return cc
	}},
}

// gorillaConn is the API gorilla/websocket and its fasthttp fork share.
type gorillaConn interface {
	ReadMessage() (int, []byte, error)
	WriteMessage(int, []byte) error
	WriteControl(int, []byte, time.Time) error
	SetPingHandler(func(string) error)
	SetPongHandler(func(string) error)
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
	Close() error
}

type gorillaClient struct {
	conn     gorillaConn
	ext      string
	closeErr func(error) int
	nPings   atomic.Int64
	pongs    chan string
}

func (g *gorillaClient) init() {
	g.pongs = make(chan string, 16)
	g.conn.SetPingHandler(func(p string) error {
		g.nPings.Add(1)
		// As gorilla's default handler: a ping crossing our close frame
		// is not an error.
		err := g.conn.WriteControl(gorilla.PongMessage, []byte(p), time.Now().Add(testTimeout))
		if errors.Is(err, gorilla.ErrCloseSent) || errors.Is(err, fasthttpws.ErrCloseSent) {
			return nil
		}
		return err
	})
	g.conn.SetPongHandler(func(p string) error { g.pongs <- p; return nil })
}

func (g *gorillaClient) write(op opcode, p []byte) error {
	g.conn.SetWriteDeadline(time.Now().Add(testTimeout))
	return g.conn.WriteMessage(int(op), p)
}

func (g *gorillaClient) read() (opcode, []byte, error) {
	g.conn.SetReadDeadline(time.Now().Add(testTimeout))
	op, p, err := g.conn.ReadMessage()
	return opcode(op), p, err
}

func (g *gorillaClient) ping(payload string) error {
	if err := g.conn.WriteControl(gorilla.PingMessage, []byte(payload), time.Now().Add(testTimeout)); err != nil {
		return err
	}
	// The pong handler runs inside a read: trigger one with an echo.
	if err := g.write(opText, []byte("after ping")); err != nil {
		return err
	}
	if _, p, err := g.read(); err != nil || string(p) != "after ping" {
		return fmt.Errorf("echo after ping: %q, %v", p, err)
	}
	select {
	case p := <-g.pongs:
		if p != payload {
			return fmt.Errorf("pong %q; want %q", p, payload)
		}
		return nil
	default:
		return errors.New("no pong before the echo that followed the ping")
	}
}

func (g *gorillaClient) closeNormal(reason string) error {
	msg := gorilla.FormatCloseMessage(gorilla.CloseNormalClosure, reason)
	if err := g.conn.WriteControl(gorilla.CloseMessage, msg, time.Now().Add(testTimeout)); err != nil {
		return err
	}
	_, _, err := g.read()
	if code := g.closeErr(err); code != closeNormalCode {
		return fmt.Errorf("read after close: %v; want close 1000", err)
	}
	return nil
}

func (g *gorillaClient) closeCode(err error) int { return g.closeErr(err) }
func (g *gorillaClient) compressed() bool        { return g.ext != "" }
func (g *gorillaClient) pings() int64            { return g.nPings.Load() }
func (g *gorillaClient) abort()                  { g.conn.Close() }

type coderClient struct {
	conn *coder.Conn
	ext  string
}

func (c *coderClient) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), testTimeout)
}

func (c *coderClient) write(op opcode, p []byte) error {
	ctx, cancel := c.ctx()
	defer cancel()
	return c.conn.Write(ctx, coder.MessageType(op), p)
}

func (c *coderClient) read() (opcode, []byte, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	typ, p, err := c.conn.Read(ctx)
	return opcode(typ), p, err
}

func (c *coderClient) ping(payload string) error {
	// coder's Ping picks its own payload and needs a concurrent reader
	// to see the pong.
	ctx, cancel := c.ctx()
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- c.conn.Ping(ctx) }()
	// The ping may go out after an echo request: read echoes until the
	// pong has been seen.
	for {
		if err := c.write(opText, []byte("after ping")); err != nil {
			return err
		}
		if _, p, err := c.read(); err != nil || string(p) != "after ping" {
			return fmt.Errorf("echo after ping: %q, %v", p, err)
		}
		select {
		case err := <-errc:
			return err
		default:
		}
	}
}

func (c *coderClient) closeNormal(reason string) error {
	return c.conn.Close(coder.StatusNormalClosure, reason)
}

func (c *coderClient) closeCode(err error) int { return int(coder.CloseStatus(err)) }
func (c *coderClient) compressed() bool        { return c.ext != "" }
func (c *coderClient) pings() int64            { return -1 }
func (c *coderClient) abort()                  { c.conn.CloseNow() }

// echoHandler echoes every message with its type.
var echoHandler = ws.Handler{
	OnMessage: func(s *ws.Socket, m ws.Message) {
		if m.Op == ws.OpText {
			_, _ = s.SendText(m.Data)
		} else {
			s.SendBinary(m.Data)
		}
	},
}

// newHub returns a hub closed when the test ends.
func newHub(t testing.TB, cfg loop.HubConfig) *loop.Hub {
	hub, err := loop.NewHub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	return hub
}

// interopServer serves /echo (an echo; "close-me" makes the server close
// with 4001), /chat (welcome, then every text is published to "wall")
// and /ping (an echo pinging every 300ms), over tr (ws:// or wss://).
func interopServer(t testing.TB, tr testsrv.Transport, serverNoCtx bool) *testsrv.Server {
	hub := newHub(t, loop.HubConfig{})
	opts := ws.Options{
		Hub:         hub,
		Compression: ws.DeflateConfig{Enabled: true, ServerNoContextTakeover: serverNoCtx},
		ReadLimit:   2 << 20,
	}
	echo := ws.Handler{OnError: func(s *ws.Socket, err error) { t.Logf("server socket error: %v", err) }, OnMessage: func(s *ws.Socket, m ws.Message) {
		if m.Op == ws.OpText && string(m.Data) == "close-me" {
			_ = s.Close(4001, "requested")
			return
		}
		echoHandler.OnMessage(s, m)
	}}
	chat := ws.Handler{
		OnOpen: func(s *ws.Socket) {
			s.Send("Welcome to the wall")
			_ = s.Join("wall")
		},
		OnMessage: func(s *ws.Socket, m ws.Message) {
			if err := ws.Publish(hub, "wall", "says: "+m.Text()); err != nil {
				t.Errorf("Publish: %v", err)
			}
		},
	}
	up := &ws.Upgrader{Options: opts}
	pingOpts := opts
	// A pong is due before the next ping: keep that well above the
	// wheel's 100ms tick and a loaded machine's scheduling delays.
	pingOpts.PingInterval = 300 * time.Millisecond
	upPing := &ws.Upgrader{Options: pingOpts}
	return testsrv.Start(t, tr.Config(loop.Config{Loops: 2, ShutdownTimeout: 5 * time.Second}), func(s *loop.Server) {
		s.GET("/echo", func(c *loop.Ctx) { up.Upgrade(c, echo) })
		s.GET("/chat", func(c *loop.Ctx) { up.Upgrade(c, chat) })
		s.GET("/ping", func(c *loop.Ctx) { upPing.Upgrade(c, echoHandler) })
	})
}

func interopPayloads() []struct {
	op opcode
	p  []byte
} {
	rng := rand.New(rand.NewPCG(7, 7))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	greek := []byte(strings.Repeat("κόσμε 😀 ", 20000)) // multi-byte runes across every fragment boundary
	return []struct {
		op opcode
		p  []byte
	}{
		{opText, nil},
		{opText, []byte("Hello, world!")},
		{opText, bytes.Repeat([]byte("a"), 125)},
		{opText, bytes.Repeat([]byte("b"), 126)},
		{opBinary, random(1000)},
		{opText, bytes.Repeat([]byte("compressible "), 5041)}, // 65533 bytes
		{opBinary, random(65535)},
		{opBinary, random(65536)},
		{opText, greek},
		{opBinary, random(1 << 20)},
	}
}

// TestInteropEcho: every payload (up to 1 MiB, which the Go clients send
// fragmented) comes back unchanged with and without permessage-deflate,
// then a ping gets its pong and the close handshake completes. Over ws://
// with and without server context takeover, and over wss:// (TLS on the
// loop) with it.
func TestInteropEcho(t *testing.T) {
	for _, sv := range []struct {
		tr          testsrv.Transport
		serverNoCtx bool
	}{
		{testsrv.Transports[0], false},
		{testsrv.Transports[0], true},
		{testsrv.Transports[1], false},
	} {
		srv := interopServer(t, sv.tr, sv.serverNoCtx)
		for _, lib := range interopLibs {
			for _, compress := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/compress=%v/server_no_context_takeover=%v", sv.tr.Name, lib.name, compress, sv.serverNoCtx)
				t.Run(name, func(t *testing.T) {
					url := wsURL(srv, "/echo")
					c := lib.dial(t, url, compress)
					if c.compressed() != compress {
						t.Fatalf("compression negotiated = %v; want %v", c.compressed(), compress)
					}
					for i, m := range interopPayloads() {
						if err := c.write(m.op, m.p); err != nil {
							t.Fatalf("write %d: %v", i, err)
						}
						op, p, err := c.read()
						if err != nil {
							t.Fatalf("read %d: %v", i, err)
						}
						if op != m.op || !bytes.Equal(p, m.p) {
							t.Fatalf("message %d: got %v of %d bytes; want %v of %d bytes", i, op, len(p), m.op, len(m.p))
						}
					}
					if err := c.ping("are you there"); err != nil {
						t.Fatalf("ping: %v", err)
					}
					if err := c.closeNormal("bye"); err != nil {
						t.Fatalf("close: %v", err)
					}
				})
			}
		}
	}
}

// TestInteropServerClose checks that the clients see the server's close
// code and reason, over ws:// and wss://.
func TestInteropServerClose(t *testing.T) {
	for _, tr := range testsrv.Transports {
		t.Run(tr.Name, func(t *testing.T) { testInteropServerClose(t, tr) })
	}
}

func testInteropServerClose(t *testing.T, tr testsrv.Transport) {
	srv := interopServer(t, tr, true)
	for _, lib := range interopLibs {
		for _, compress := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/compress=%v", lib.name, compress), func(t *testing.T) {
				c := lib.dial(t, wsURL(srv, "/echo"), compress)
				if err := c.write(opText, []byte("close-me")); err != nil {
					t.Fatal(err)
				}
				_, _, err := c.read()
				if code := c.closeCode(err); code != 4001 || !strings.Contains(err.Error(), "requested") {
					t.Fatalf("read: %v; want close 4001 \"requested\"", err)
				}
			})
		}
	}
}

// TestInteropKeepalive keeps each client busy for several ping intervals
// of a server pinging every 300ms: the library's automatic pongs must
// keep the socket open, over ws:// and wss://.
func TestInteropKeepalive(t *testing.T) {
	for _, tr := range testsrv.Transports {
		t.Run(tr.Name, func(t *testing.T) { testInteropKeepalive(t, tr) })
	}
}

func testInteropKeepalive(t *testing.T, tr testsrv.Transport) {
	srv := interopServer(t, tr, true)
	for _, lib := range interopLibs {
		t.Run(lib.name, func(t *testing.T) {
			t.Parallel()
			c := lib.dial(t, wsURL(srv, "/ping"), true)
			start := time.Now()
			// Long enough for several pings; gorilla and fasthttp also count them.
			for i := 0; time.Since(start) < 1500*time.Millisecond || c.pings() == 0 || c.pings() == 1; i++ {
				if time.Since(start) > testTimeout {
					t.Fatalf("saw %d pings in %v", c.pings(), testTimeout)
				}
				msg := []byte(fmt.Sprint("tick ", i))
				if err := c.write(opText, msg); err != nil {
					t.Fatalf("write %d after %v: %v", i, time.Since(start), err)
				}
				if _, p, err := c.read(); err != nil || !bytes.Equal(p, msg) {
					t.Fatalf("read %d after %v: %q, %v", i, time.Since(start), p, err)
				}
				time.Sleep(10 * time.Millisecond) // pace the client: this test is about time passing
			}
			if err := c.closeNormal(""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestInteropChat runs the chat with one client of every library and
// compression setting: a message from each reaches all of them, over
// ws:// and wss://.
func TestInteropChat(t *testing.T) {
	for _, tr := range testsrv.Transports {
		t.Run(tr.Name, func(t *testing.T) { testInteropChat(t, tr) })
	}
}

func testInteropChat(t *testing.T, tr testsrv.Transport) {
	srv := interopServer(t, tr, true)
	type member struct {
		name string
		c    interopClient
	}
	var members []member
	for _, lib := range interopLibs {
		for _, compress := range []bool{false, true} {
			name := fmt.Sprintf("%s/compress=%v", lib.name, compress)
			c := lib.dial(t, wsURL(srv, "/chat"), compress)
			if _, p, err := c.read(); err != nil || string(p) != "Welcome to the wall" {
				t.Fatalf("%s: welcome: %q, %v", name, p, err)
			}
			members = append(members, member{name, c})
		}
	}
	// Long enough to be compressed where negotiated.
	long := strings.Repeat("la ", 200)
	for _, from := range members {
		text := "hello from " + from.name + " " + long
		if err := from.c.write(opText, []byte(text)); err != nil {
			t.Fatalf("%s: write: %v", from.name, err)
		}
		for _, to := range members {
			op, p, err := to.c.read()
			if err != nil || op != opText || string(p) != "says: "+text {
				t.Fatalf("%s → %s: got %v %.60q, %v", from.name, to.name, op, p, err)
			}
		}
	}
	for _, m := range members {
		if err := m.c.closeNormal(""); err != nil {
			t.Errorf("%s: close: %v", m.name, err)
		}
	}
}
