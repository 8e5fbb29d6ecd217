package ws

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/streamd/streamd/internal/testsrv"
	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/ws/internal/wsframe"
)

// The tests in this file hold Socket to its per-method concurrency docs:
// a method documented "on the loop" panics with its name elsewhere, and
// every method documented "safe from any goroutine" does its job when
// called from one. The test's own goroutine is never the loop.

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

func TestSocketLoopOnlyMethodsPanicOffLoop(t *testing.T) {
	ev := newConnEvents()
	up := &Upgrader{Options: Options{PingInterval: -1}}
	ws := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/", func(c *loop.Ctx) { up.Upgrade(c, ev.handler(echoHandler)) })
	})
	rc := openWS(t, ws.HostPort, "/")
	s := recv(t, ev.open, "OnOpen")

	mustPanicNaming(t, "Socket.OnDrain", func() { s.OnDrain(func() {}) })

	// The socket is intact: it sends, echoes and closes normally.
	if r := s.Send("still here"); r == loop.Dropped {
		t.Fatalf("Send after the panic = %v", r)
	}
	rc.expectText("still here")
	rc.send(wsframe.OpText, true, []byte("echo"))
	rc.expectText("echo")
	if s.Closed() {
		t.Error("Closed() = true after the panic")
	}
	if err := s.Join("t"); !errors.Is(err, ErrNoHub) {
		t.Errorf("Join without Options.Hub = %v; want ErrNoHub", err)
	}
}

// TestSocketMethodsFromGoroutine calls every method documented safe from
// any goroutine from the test's goroutine and checks the effect on the
// wire, on the socket's state and as seen from its loop.
func TestSocketMethodsFromGoroutine(t *testing.T) {
	hub := newHub(t, loop.HubConfig{})
	ev := newConnEvents()
	up := &Upgrader{Options: Options{Hub: hub, PingInterval: -1, Subprotocols: []string{"chat"}}}
	ws := startServer(t, loop.Config{Loops: 2}, func(s *loop.Server) {
		s.GET("/", func(c *loop.Ctx) {
			up.Upgrade(c, ev.handler(Handler{OnMessage: func(s *Socket, m Message) {
				// On the loop: report what SetData stored from the test.
				if v, _ := s.Data().(string); m.Text() == "data?" {
					s.Send("data=" + v)
				}
			}}))
		})
	})
	rc := openWS(t, ws.HostPort, "/", "Sec-WebSocket-Protocol: chat")
	s := recv(t, ev.open, "OnOpen")

	if got := s.Subprotocol(); got != "chat" {
		t.Errorf("Subprotocol() = %q; want chat", got)
	}
	if s.Compressed() {
		t.Error("Compressed() = true without permessage-deflate")
	}
	if got, want := s.RemoteAddr().String(), rc.conn.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr() = %s; want %s", got, want)
	}
	if s.Closed() {
		t.Error("Closed() = true on an open socket")
	}

	if s.Data() != nil {
		t.Errorf("Data() = %v before SetData; want nil", s.Data())
	}
	s.SetData("from the test")
	if got := s.Data(); got != "from the test" {
		t.Errorf("Data() = %v; want the value SetData stored", got)
	}
	rc.send(wsframe.OpText, true, []byte("data?"))
	rc.expectText("data=from the test")

	if r := s.Send("text"); r == loop.Dropped {
		t.Fatalf("Send = %v", r)
	}
	if r, err := s.SendText([]byte("utf-8 ✓")); err != nil || r == loop.Dropped {
		t.Fatalf("SendText = %v, %v", r, err)
	}
	if _, err := s.SendText([]byte{0xff}); !errors.Is(err, ErrInvalidUTF8) {
		t.Errorf("SendText(invalid UTF-8) = %v; want ErrInvalidUTF8", err)
	}
	if r := s.SendBinary([]byte{0, 1, 2}); r == loop.Dropped {
		t.Fatalf("SendBinary = %v", r)
	}
	if err := s.Ping([]byte("p")); err != nil {
		t.Fatalf("Ping = %v", err)
	}
	if err := s.Ping(make([]byte, 126)); !errors.Is(err, ErrControlTooLong) {
		t.Errorf("Ping(126 bytes) = %v; want ErrControlTooLong", err)
	}
	rc.expectText("text")
	rc.expectText("utf-8 ✓")
	if op, data := rc.readMessage(false); op != wsframe.OpBinary || !bytes.Equal(data, []byte{0, 1, 2}) {
		t.Fatalf("got %v %q; want binary 00 01 02", op, data)
	}
	if f := rc.mustFrame(); f.op != wsframe.OpPing || string(f.payload) != "p" {
		t.Fatalf("got %v; want ping \"p\"", f)
	}

	// Join and Leave from a goroutine are queued on the loop ahead of the
	// sends made after them.
	if err := s.Join("t"); err != nil {
		t.Fatalf("Join from a goroutine = %v", err)
	}
	s.Send("joined")
	rc.expectText("joined")
	if n := hub.TopicStats("t").Subscribers; n != 1 {
		t.Fatalf("Subscribers after Join = %d; want 1", n)
	}
	if err := Publish(hub, "t", "published"); err != nil {
		t.Fatal(err)
	}
	rc.expectText("published")
	if err := s.Leave("t"); err != nil {
		t.Fatalf("Leave from a goroutine = %v", err)
	}
	s.Send("left")
	rc.expectText("left")
	if n := hub.TopicStats("t").Subscribers; n != 0 {
		t.Fatalf("Subscribers after Leave = %d; want 0", n)
	}

	if err := s.Close(CloseNormal, "bye"); err != nil {
		t.Fatalf("Close = %v", err)
	}
	f := rc.mustFrame()
	if f.op != wsframe.OpClose || f.closeCode() != CloseNormal || string(f.payload[2:]) != "bye" {
		t.Fatalf("got %v; want close 1000 \"bye\"", f)
	}
	// The close frame was written after the socket left stateOpen.
	if !s.Closed() {
		t.Error("Closed() = false after the close frame arrived")
	}
	if err := s.Close(CloseNormal, ""); !errors.Is(err, ErrSocketClosed) {
		t.Errorf("second Close = %v; want ErrSocketClosed", err)
	}
	onLoop := make(chan error, 1)
	if err := s.conn.Post(func(*loop.Conn) { onLoop <- s.Close(CloseNormal, "") }); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, onLoop, "Close on the loop"); !errors.Is(err, ErrSocketClosed) {
		t.Errorf("second Close on the loop = %v; want ErrSocketClosed", err)
	}
	if err := s.Ping(nil); !errors.Is(err, ErrSocketClosed) {
		t.Errorf("Ping after Close = %v; want ErrSocketClosed", err)
	}
	if r := s.Send("late"); r != loop.Dropped {
		t.Errorf("Send after Close = %v; want dropped", r)
	}
	if err := s.Join("u"); err != nil && !errors.Is(err, loop.ErrServerClosed) {
		t.Errorf("Join after Close = %v", err)
	}
	rc.send(wsframe.OpClose, true, f.payload[:2])
	rc.expectClosed()
	rc.conn.Close() // the server lingers until the client closes too
	if code := recv(t, ev.closed, "OnClose"); code != CloseNormal {
		t.Errorf("OnClose code %v; want %v", code, CloseNormal)
	}
	if n := hub.TopicStats("u").Subscribers; n != 0 {
		t.Errorf("Join after Close subscribed: %d subscribers", n)
	}
	select {
	case err := <-ev.errs:
		t.Errorf("OnError(%v) on a clean close", err)
	default:
	}
}

// fillOnLoop sends on s's loop until the connection's own queue is above
// the high watermark: the kernel's buffers are full, and with a client
// that does not read, the output makes no more progress.
func fillOnLoop(t *testing.T, s *Socket) {
	t.Helper()
	payload := bytes.Repeat([]byte("x"), 32<<10)
	res := make(chan loop.WriteResult, 1)
	err := s.conn.Post(func(*loop.Conn) {
		r := loop.Written
		for r == loop.Written {
			r = s.SendBinary(payload)
		}
		res <- r
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := recv(t, res, "filling the socket"); r != loop.Queued {
		t.Fatalf("filling the socket: %v; want queued", r)
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

// TestSocketCloseReasons provokes the ways a connection ends without a
// close frame from the client, over real sockets: the loop's reasons
// reach OnError, as is, before OnClose reports CloseAbnormal; a client
// that goes away is no error.
func TestSocketCloseReasons(t *testing.T) {
	tests := []struct {
		name    string
		cfg     loop.Config
		opts    Options
		dialer  *net.Dialer
		provoke func(t *testing.T, ws *wsServer, rc *rawClient, s *Socket)
		wantErr error // nil: no OnError
	}{{
		name: "peer EOF",
		provoke: func(t *testing.T, _ *wsServer, rc *rawClient, _ *Socket) {
			rc.conn.Close()
		},
	}, {
		name: "peer reset",
		provoke: func(t *testing.T, _ *wsServer, rc *rawClient, _ *Socket) {
			resetConn(t, rc.conn)
		},
	}, {
		name:   "write timeout",
		cfg:    loop.Config{WriteTimeout: 300 * time.Millisecond},
		dialer: slowDialer(), // and the client never reads
		provoke: func(t *testing.T, _ *wsServer, _ *rawClient, s *Socket) {
			fillOnLoop(t, s)
		},
		wantErr: loop.ErrWriteTimeout,
	}, {
		name: "input overflow",
		cfg:  loop.Config{MaxPendingInput: 4 << 10},
		provoke: func(t *testing.T, _ *wsServer, rc *rawClient, _ *Socket) {
			// Half of a 32 KiB frame: below the size the socket gathers
			// itself, so it waits in the loop's input, over its limit.
			rc.write(maskedFrame(wsframe.OpBinary, true, false, make([]byte, 32<<10))[:16<<10])
		},
		wantErr: loop.ErrInputOverflow,
	}, {
		name: "shutdown deadline",
		cfg:  loop.Config{ShutdownTimeout: 300 * time.Millisecond},
		opts: Options{CloseTimeout: time.Minute},
		provoke: func(t *testing.T, ws *wsServer, rc *rawClient, _ *Socket) {
			ws.Cancel()
			// The server closes with 1001; the client never answers, and
			// the shutdown deadline cuts the closing handshake.
			if f := rc.mustFrame(); f.op != wsframe.OpClose || f.closeCode() != CloseGoingAway {
				t.Fatalf("got %v; want close 1001", f)
			}
		},
		wantErr: loop.ErrShutdown,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "write timeout" {
				testsrv.GnetOnly(t, "here the kernel takes net/http's writes to a client that does not read (4 KiB receive buffer) whole, so nothing stalls for WriteTimeout within the test")
			}
			ev := newConnEvents()
			tt.opts.PingInterval = -1
			up := &Upgrader{Options: tt.opts}
			ws := startServer(t, tt.cfg, func(s *loop.Server) {
				s.GET("/", func(c *loop.Ctx) { up.Upgrade(c, ev.handler(Handler{})) })
			})
			rc := dialRaw(t, ws.HostPort, tt.dialer)
			if resp := rc.handshake(handshakeRequest(ws.HostPort, "/")); resp.StatusCode != 101 {
				t.Fatalf("handshake: status %d", resp.StatusCode)
			}
			s := recv(t, ev.open, "OnOpen")
			tt.provoke(t, ws, rc, s)
			code := recv(t, ev.closed, "OnClose")
			// OnError, if any, ran before OnClose on the same goroutine.
			var gotErr error
			select {
			case gotErr = <-ev.errs:
			default:
			}
			if gotErr != tt.wantErr { // as is: errors.Is would pass a wrapped one too
				t.Errorf("OnError(%v); want %v", gotErr, tt.wantErr)
			}
			if code != CloseAbnormal {
				t.Errorf("OnClose code %v; want %v", code, CloseAbnormal)
			}
			if !s.Closed() {
				t.Error("Closed() = false after OnClose")
			}
		})
	}
}

// TestSocketPingBufferFull checks that Ping from another goroutine
// reports ErrBufferFull once the socket's queued output, as last seen by
// the loop, is at Options.MaxBuffered.
func TestSocketPingBufferFull(t *testing.T) {
	testsrv.GnetOnly(t, "here the kernel takes net/http's writes to a client that does not read (4 KiB receive buffer) whole, so the queue never backs up")
	ev := newConnEvents()
	up := &Upgrader{Options: Options{PingInterval: -1, MaxBuffered: 64 << 10}}
	ws := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/", func(c *loop.Ctx) { up.Upgrade(c, ev.handler(Handler{})) })
	})
	rc := dialRaw(t, ws.HostPort, slowDialer()) // never reads after the handshake
	if resp := rc.handshake(handshakeRequest(ws.HostPort, "/")); resp.StatusCode != 101 {
		t.Fatalf("handshake: status %d", resp.StatusCode)
	}
	s := recv(t, ev.open, "OnOpen")
	// Back the connection up past MaxBuffered with raw bytes the client
	// will never read (nothing checks them).
	filled := make(chan loop.WriteResult, 1)
	chunk := make([]byte, 32<<10)
	if err := s.conn.Post(func(c *loop.Conn) {
		r := loop.Written
		for r == loop.Written {
			r = c.Write(chunk)
		}
		filled <- r
	}); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, filled, "filling the connection"); r != loop.Queued {
		t.Fatalf("filling the connection: %v; want queued", r)
	}
	// The first Ping is admitted against the queue as last seen (empty);
	// writing it shows the loop the real queue.
	if err := s.Ping(nil); err != nil {
		t.Fatalf("first Ping = %v", err)
	}
	synced := make(chan struct{})
	if err := s.conn.Post(func(*loop.Conn) { close(synced) }); err != nil {
		t.Fatal(err)
	}
	recv(t, synced, "the loop")
	if err := s.Ping(nil); !errors.Is(err, ErrBufferFull) {
		t.Errorf("Ping over MaxBuffered = %v; want ErrBufferFull", err)
	}
}
