package loop

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var badRequests = []struct {
	name   string
	req    string // %s is the path
	status int
}{
	{"malformed request line", "GET %s\r\nHost: x\r\n\r\n", 400},
	{"lower-case version", "GET %s http/1.1\r\nHost: x\r\n\r\n", 400},
	{"URI too long", "GET %s?" + strings.Repeat("a", 5000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
	{"headers too large", "GET %s HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 9000) + "\r\n\r\n", 431},
	{"body too large", "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413},
	{"HTTP/2.0", "GET %s HTTP/2.0\r\nHost: x\r\n\r\n", 505},
	{"Transfer-Encoding gzip", "POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
	{"CL and TE", "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
	{"two Content-Lengths", "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
	{"obs-fold", "GET %s HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", 400},
	{"space before colon", "GET %s HTTP/1.1\r\nHost : x\r\n\r\n", 400},
	{"NUL in header", "GET %s HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400},
	{"missing Host", "GET %s HTTP/1.1\r\n\r\n", 400},
	{"bad chunk size", "POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
}

func TestBadRequests(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		ts := startServer(t, Config{Loops: loops}, basicRoutes)
		for _, tt := range badRequests {
			// Limits and framing are checked before routing: an unknown
			// path gets the same answer.
			for _, path := range []string{"/hello", "/does/not/exist"} {
				t.Run(tt.name+" "+path, func(t *testing.T) {
					c := dial(t, ts.addr)
					c.send(fmt.Sprintf(tt.req, path))
					resp, _ := c.read("GET")
					checkStatus(t, resp, tt.status)
					if !hasConnClose(resp) {
						t.Errorf("no Connection: close; header %v", resp.Header)
					}
					c.expectClosed()
				})
			}
		}
		// After all that, fresh connections (sharing the loops' parsers)
		// are served normally.
		for range 2 * loops {
			c := dial(t, ts.addr)
			resp, body := c.roundTrip("GET", get("/hello"))
			if resp.StatusCode != 200 || body != helloBody {
				t.Errorf("after bad requests: %d %q", resp.StatusCode, body)
			}
		}
	})
}

// TestBadRequestResetsSharedParser sends a bad request whose first bytes
// look like a valid start, then a good request on a new connection of the
// same loop: the loop's shared parser must not keep the failed state.
func TestBadRequestResetsSharedParser(t *testing.T) {
	ts := startServer(t, Config{Loops: 1}, basicRoutes)
	for _, tt := range badRequests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			c.send(fmt.Sprintf(tt.req, "/hello"))
			resp, _ := c.read("GET")
			checkStatus(t, resp, tt.status)
			c.expectClosed()

			c2 := dial(t, ts.addr)
			resp, body := c2.roundTrip("GET", get("/echo/7"))
			if resp.StatusCode != 200 || body != "n=7" {
				t.Errorf("next connection: %d %q; want 200 n=7", resp.StatusCode, body)
			}
		})
	}
}

// TestBadRequestAfterGood checks a bad request pipelined behind good ones:
// the good ones are answered, then the error, then the close.
func TestBadRequestAfterGood(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		ts := startServer(t, Config{Loops: loops}, basicRoutes)
		c := dial(t, ts.addr)
		c.send(get("/echo/1") + get("/echo/2") + "GET /x HTTP/2.0\r\nHost: x\r\n\r\n" + get("/echo/3"))
		for _, want := range []string{"n=1", "n=2"} {
			resp, body := c.read("GET")
			if resp.StatusCode != 200 || body != want {
				t.Fatalf("%d %q; want 200 %q", resp.StatusCode, body, want)
			}
		}
		resp, _ := c.read("GET")
		checkStatus(t, resp, 505)
		c.expectClosed()
	})
}

func timeoutConfig(loops int) Config {
	return Config{Loops: loops, ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}
}

// TestHeaderTimeout: a head that does not arrive within ReadHeaderTimeout
// is answered 408 and the connection closed, counted in Stats().Closes as
// header_timeout.
func TestHeaderTimeout(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		ts := startServer(t, timeoutConfig(loops), basicRoutes)
		// closedAs waits for the subtest's one connection to be counted
		// closed, and checks it was counted under reason.
		closedAs := func(t *testing.T, before Stats, reason string) {
			t.Helper()
			total := func(st Stats) (n int64) {
				for _, v := range st.Closes {
					n += v
				}
				return n
			}
			waitFor(t, "the close to be counted", func() bool { return total(ts.Stats()) > total(before) })
			after := ts.Stats()
			if d := after.Closes[reason] - before.Closes[reason]; d != 1 || total(after)-total(before) != 1 {
				t.Errorf("Stats().Closes went from %v to %v; want one more %s and nothing else", before.Closes, after.Closes, reason)
			}
		}
		t.Run("partial head", func(t *testing.T) {
			before := ts.Stats()
			c := dial(t, ts.addr)
			c.send("GET /hello HTTP/1.1\r\nHost: x\r\n")
			resp, _ := c.read("GET")
			checkStatus(t, resp, 408)
			if !hasConnClose(resp) {
				t.Errorf("408 without Connection: close")
			}
			c.expectClosed()
			closedAs(t, before, "header_timeout")
		})
		t.Run("partial second request", func(t *testing.T) {
			before := ts.Stats()
			c := dial(t, ts.addr)
			c.send(get("/echo/1") + "GET /echo/2 HTTP/1.1\r\n")
			resp, body := c.read("GET")
			if resp.StatusCode != 200 || body != "n=1" {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			resp, _ = c.read("GET")
			checkStatus(t, resp, 408)
			c.expectClosed()
			closedAs(t, before, "header_timeout")
		})
		t.Run("silent connection", func(t *testing.T) {
			before := ts.Stats()
			c := dial(t, ts.addr)
			c.expectClosed()                      // closed without a response
			closedAs(t, before, "header_timeout") // the head never started: still the header deadline
		})
	})
}

func TestIdleTimeout(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		ts := startServer(t, timeoutConfig(loops), basicRoutes)
		c := dial(t, ts.addr)
		resp, _ := c.roundTrip("GET", get("/hello"))
		checkStatus(t, resp, 200)
		c.expectClosed()
	})
}

// TestActiveNotClosed keeps a connection busy for several idle timeouts.
// The timeouts are larger than in the other tests so a stalled test
// machine does not close the connection legitimately.
func TestActiveNotClosed(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		cfg := Config{Loops: loops, ReadHeaderTimeout: time.Second, IdleTimeout: time.Second}
		ts := startServer(t, cfg, basicRoutes)
		c := dial(t, ts.addr)
		tick := time.NewTicker(100 * time.Millisecond) // pacing, not synchronisation
		defer tick.Stop()
		end := time.Now().Add(3 * time.Second)
		for i := 0; time.Now().Before(end); i++ {
			resp, body := c.roundTrip("GET", get("/echo/"+strconv.Itoa(i)))
			if resp.StatusCode != 200 || body != "n="+strconv.Itoa(i) {
				t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
			}
			<-tick.C
		}
	})
}

// TestIdleTimeoutSlowReader checks that a connection whose (large)
// response is still being written is not closed as idle.
func TestIdleTimeoutSlowReader(t *testing.T) {
	big := strings.Repeat("z", 8<<20)
	ts := startServer(t, Config{Loops: 1, IdleTimeout: 300 * time.Millisecond}, func(s *Server) {
		s.GET("/big", func(c *Ctx) { c.Text(200, big) })
	})
	c := dial(t, ts.addr)
	c.send(get("/big"))
	// Do not read for a few idle timeouts: the output stays queued.
	waitFor(t, "request served", func() bool { return ts.Stats().Requests == 1 })
	// Stall for several idle timeouts (this wait is the test, not a
	// synchronisation): 8 MiB cannot fit in the socket buffers, so output
	// stays queued on the server.
	stall := time.NewTimer(time.Second)
	<-stall.C
	resp, body := c.read("GET")
	if resp.StatusCode != 200 || len(body) != len(big) {
		t.Errorf("%d, body len %d; want 200, %d", resp.StatusCode, len(body), len(big))
	}
}

func TestMaxConns(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		ts := startServer(t, Config{Loops: loops, MaxConns: 2}, basicRoutes)
		c1, c2 := dial(t, ts.addr), dial(t, ts.addr)
		for _, c := range []*rawConn{c1, c2} {
			resp, _ := c.roundTrip("GET", get("/hello"))
			checkStatus(t, resp, 200)
		}
		c3 := dial(t, ts.addr)
		resp, _ := c3.read("GET") // sent unprompted
		checkStatus(t, resp, 503)
		if !hasConnClose(resp) {
			t.Errorf("503 without Connection: close")
		}
		c3.expectClosed()

		c1.Close()
		waitFor(t, "server to see the close", func() bool { return ts.Stats().Open == 1 })
		c4 := dial(t, ts.addr)
		resp, body := c4.roundTrip("GET", get("/hello"))
		if resp.StatusCode != 200 || body != helloBody {
			t.Errorf("after a close: %d %q", resp.StatusCode, body)
		}
		resp, _ = c2.roundTrip("GET", get("/hello"))
		checkStatus(t, resp, 200)
		if st := ts.Stats(); st.Refused != 1 || st.Open != 2 {
			t.Errorf("Stats = %+v; want Refused 1, Open 2", st)
		}
	})
}

func TestHandlerPanic(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		ts := startServer(t, Config{Loops: loops}, basicRoutes)
		other := dial(t, ts.addr)
		resp, _ := other.roundTrip("GET", get("/hello"))
		checkStatus(t, resp, 200)
		for range 2 * loops {
			c := dial(t, ts.addr)
			c.send(get("/panic") + get("/hello"))
			resp, _ := c.read("GET")
			checkStatus(t, resp, 500)
			if !hasConnClose(resp) {
				t.Errorf("500 without Connection: close")
			}
			c.expectClosed()
		}
		// The loops keep serving, including connections opened before.
		resp, body := other.roundTrip("GET", get("/hello"))
		if resp.StatusCode != 200 || body != helloBody {
			t.Errorf("old connection: %d %q", resp.StatusCode, body)
		}
		c := dial(t, ts.addr)
		resp, body = c.roundTrip("GET", get("/hello"))
		if resp.StatusCode != 200 || body != helloBody {
			t.Errorf("new connection: %d %q", resp.StatusCode, body)
		}
	})
}

func TestHandlerNoResponse(t *testing.T) {
	ts := startServer(t, Config{Loops: 1}, func(s *Server) {
		s.GET("/silent", func(*Ctx) {})
	})
	c := dial(t, ts.addr)
	resp, _ := c.roundTrip("GET", get("/silent"))
	checkStatus(t, resp, 500)
}

func TestGracefulShutdown(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		g := newGate()
		ts := startServer(t, Config{Loops: loops}, g.routes)
		idle := dial(t, ts.addr)
		resp, _ := idle.roundTrip("GET", get("/hello"))
		checkStatus(t, resp, 200)

		c := dial(t, ts.addr)
		c.send(get("/defer/x"))
		g.waitStarted(t, "x")

		ts.cancel()
		waitFor(t, "drain to start", ts.draining.Load)
		idle.expectClosed() // idle keep-alive connections close at once

		// New connections during the drain are refused or get 503.
		if nc, err := net.DialTimeout("tcp", ts.addr, testTimeout); err == nil {
			rc := &rawConn{t: t, Conn: nc, br: bufio.NewReader(nc)}
			_ = nc.SetDeadline(time.Now().Add(testTimeout))
			if resp, _, err := readResponse(rc.br, "GET"); err == nil {
				checkStatus(t, resp, 503)
			}
			nc.Close()
		}

		select {
		case err := <-ts.done:
			t.Fatalf("Serve returned %v with a reply outstanding", err)
		default:
		}
		close(g.ch("x"))
		resp, body := c.read("GET")
		if resp.StatusCode != 200 || body != "deferred x" {
			t.Errorf("deferred reply: %d %q", resp.StatusCode, body)
		}
		if !hasConnClose(resp) {
			t.Errorf("reply during drain without Connection: close")
		}
		c.expectClosed()
		if err := ts.wait(t); err != nil {
			t.Errorf("Serve = %v; want nil", err)
		}
	})
}

// TestShutdownTimeout cuts a deferred reply that never comes.
func TestShutdownTimeout(t *testing.T) {
	g := newGate()
	ts := startServer(t, Config{Loops: 1, ShutdownTimeout: 200 * time.Millisecond}, g.routes)
	c := dial(t, ts.addr)
	c.send(get("/defer/never"))
	g.waitStarted(t, "never")
	if err := ts.stop(t); err != nil {
		t.Errorf("Serve = %v; want nil", err)
	}
	c.expectClosed()
	close(g.ch("never")) // the reply now fails quietly
}

func TestServeTwice(t *testing.T) {
	ts := startServer(t, Config{Loops: 1}, nil)
	if err := ts.Serve(t.Context()); err == nil {
		t.Errorf("second Serve = nil; want an error")
	}
}

// lineMode is a test Mode: it counts callbacks and reports its close.
type lineMode struct {
	closed  chan error
	data    atomic.Int64
	onShut  func(*Conn)
	onTimer func(*Conn)
}

func (m *lineMode) OnData(c *Conn, in []byte) (int, error) {
	m.data.Add(int64(len(in)))
	return len(in), nil
}
func (m *lineMode) OnTimer(c *Conn) {
	if m.onTimer != nil {
		m.onTimer(c)
	}
}
func (m *lineMode) OnDrain(*Conn) {}
func (m *lineMode) OnShutdown(c *Conn) {
	if m.onShut != nil {
		m.onShut(c)
	} else {
		c.Close()
	}
}
func (m *lineMode) OnClose(_ *Conn, err error) { m.closed <- err }

func TestTakeOverPost(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		modes := make(chan *lineMode, 4)
		conns := make(chan *Conn, 4)
		const lines = 500
		ts := startServer(t, Config{Loops: loops}, func(s *Server) {
			s.GET("/stream", func(ctx *Ctx) {
				m := &lineMode{closed: make(chan error, 1)}
				c := ctx.TakeOver(m)
				ctx.WriteStreamHead(200, "Content-Type: text/plain\r\n")
				modes <- m
				conns <- c
				go func() {
					for i := range lines {
						line := []byte(strconv.Itoa(i) + "\n")
						for {
							err := c.Post(func(c *Conn) { c.Write(line) })
							if err == nil {
								break
							}
							if !errors.Is(err, ErrQueueFull) {
								return
							}
							time.Sleep(time.Millisecond) // back off, then retry
						}
					}
					// CloseAfterFlush keeps the mode attached (unlike
					// EndMode), so its OnClose reports the close.
					_ = c.PostControl(func(c *Conn) { c.CloseAfterFlush() })
				}()
			})
		})
		c := dial(t, ts.addr)
		resp, body := c.roundTrip("GET", get("/stream"))
		checkStatus(t, resp, 200)
		var want strings.Builder
		for i := range lines {
			want.WriteString(strconv.Itoa(i) + "\n")
		}
		if body != want.String() {
			t.Errorf("stream body: %d bytes, want %d; out of order or lost", len(body), want.Len())
		}
		m, conn := <-modes, <-conns
		select {
		case err := <-m.closed:
			if err != nil {
				t.Errorf("OnClose err = %v; want nil after CloseAfterFlush", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("mode OnClose not called")
		}

		// Post after close does not run fn.
		var ran atomic.Bool
		if err := conn.Post(func(*Conn) { ran.Store(true) }); err != nil {
			t.Fatalf("Post after close: %v", err)
		}
		marker := make(chan struct{})
		if err := conn.Loop().Post(func() { close(marker) }); err != nil {
			t.Fatal(err)
		}
		<-marker
		if ran.Load() {
			t.Errorf("Post ran fn on a closed connection")
		}
	})
}

func TestTakeOverInput(t *testing.T) {
	// Input after the head goes to the mode; EndMode(true) resumes HTTP.
	ts := startServer(t, Config{Loops: 1}, func(s *Server) {
		basicRoutes(s)
		s.GET("/upgrade", func(ctx *Ctx) {
			m := &lineMode{closed: make(chan error, 1)}
			var got []byte
			mode := &funcMode{lineMode: m, onData: func(c *Conn, in []byte) (int, error) {
				i := strings.IndexByte(string(in), '\n')
				if i < 0 {
					return 0, nil
				}
				got = append(got, in[:i]...)
				c.Write([]byte("got " + string(got) + "\n"))
				c.EndMode(true)
				return i + 1, nil
			}}
			ctx.TakeOver(mode)
			ctx.WriteStreamHead(101, "Upgrade: test\r\nConnection: Upgrade\r\n")
		})
	})
	c := dial(t, ts.addr)
	c.send(get("/upgrade") + "abc")
	resp, _ := c.read("GET")
	checkStatus(t, resp, 101)
	c.send("def\n" + get("/echo/9"))
	line, err := c.br.ReadString('\n')
	if err != nil || line != "got abcdef\n" {
		t.Fatalf("mode reply = %q, %v", line, err)
	}
	resp, body := c.read("GET")
	if resp.StatusCode != 200 || body != "n=9" {
		t.Errorf("after EndMode: %d %q", resp.StatusCode, body)
	}
}

type funcMode struct {
	*lineMode
	onData func(*Conn, []byte) (int, error)
}

func (m *funcMode) OnData(c *Conn, in []byte) (int, error) { return m.onData(c, in) }

func TestQueueFull(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		const limit = 8
		ts := startServer(t, Config{Loops: loops, QueueLimit: limit}, basicRoutes)
		c := dial(t, ts.addr)
		resp, _ := c.roundTrip("GET", get("/hello"))
		checkStatus(t, resp, 200)
		l := ts.Loops()[0]

		blocked, unblock := make(chan struct{}), make(chan struct{})
		if err := l.Post(func() { close(blocked); <-unblock }); err != nil {
			t.Fatal(err)
		}
		<-blocked // the loop is stuck in our task; the queue fills up
		var mu sync.Mutex
		var ran []int
		accepted := 0
		var full error
		for i := 0; i < 2*limit; i++ {
			err := l.Post(func() { mu.Lock(); ran = append(ran, i); mu.Unlock() })
			if err != nil {
				full = err
				break
			}
			accepted++
		}
		close(unblock)
		if !errors.Is(full, ErrQueueFull) {
			t.Fatalf("Post on a full queue = %v; want ErrQueueFull", full)
		}
		if accepted > limit {
			t.Errorf("accepted %d posts; limit %d", accepted, limit)
		}
		done := make(chan struct{})
		for {
			if err := l.Post(func() { close(done) }); err == nil {
				break
			}
		}
		<-done
		mu.Lock()
		defer mu.Unlock()
		if len(ran) != accepted {
			t.Errorf("%d posted tasks ran; want %d", len(ran), accepted)
		}
		for i, v := range ran {
			if v != i {
				t.Errorf("tasks ran out of order: %v", ran)
				break
			}
		}
		// The loop serves again.
		resp, _ = c.roundTrip("GET", get("/hello"))
		checkStatus(t, resp, 200)
	})
}

func TestLoopPostAndOnLoop(t *testing.T) {
	ts := startServer(t, Config{Loops: 2}, func(s *Server) {
		s.GET("/onloop", func(c *Ctx) {
			c.Text(200, strconv.FormatBool(c.Conn().OnLoop())+" "+strconv.FormatBool(c.Conn().Loop().OnLoop()))
		})
	})
	c := dial(t, ts.addr)
	resp, body := c.roundTrip("GET", get("/onloop"))
	if resp.StatusCode != 200 || body != "true true" {
		t.Errorf("OnLoop in handler: %q", body)
	}
	for _, l := range ts.Loops() {
		if l.OnLoop() {
			t.Errorf("Loop %d: OnLoop true on the test goroutine", l.Index())
		}
		ch := make(chan bool, 1)
		if err := l.Post(func() { ch <- l.OnLoop() }); err != nil {
			t.Fatal(err)
		}
		if !<-ch {
			t.Errorf("Loop %d: OnLoop false inside Post", l.Index())
		}
	}
}

// TestLoopsAll checks that Loops lists every event loop as soon as the
// server is ready, before any client connected, and that the placeholder
// connections which find the loops are not counted as clients.
func TestLoopsAll(t *testing.T) {
	const n = 3
	ts := startServer(t, Config{Loops: n}, basicRoutes)
	loops := ts.Loops()
	if len(loops) != n {
		t.Fatalf("len(Loops()) = %d before any connection; want %d", len(loops), n)
	}
	for i, l := range loops {
		if l.Index() != i {
			t.Errorf("Loops()[%d].Index() = %d; want %d", i, l.Index(), i)
		}
		ch := make(chan bool, 1)
		if err := l.Post(func() { ch <- l.OnLoop() }); err != nil {
			t.Fatalf("Loops()[%d].Post: %v", i, err)
		}
		if !<-ch {
			t.Errorf("Loops()[%d]: OnLoop false inside Post", i)
		}
	}
	if st := ts.Stats(); st.Accepted != 0 || st.Open != 0 {
		t.Errorf("Stats() Accepted %d, Open %d before any client; want 0, 0", st.Accepted, st.Open)
	}
	// Clients land on the listed loops: no loop is created later.
	var conns []*rawConn
	for range 2 * n {
		c := dial(t, ts.addr)
		resp, _ := c.roundTrip("GET", get("/hello"))
		checkStatus(t, resp, 200)
		conns = append(conns, c)
	}
	if got := len(ts.Loops()); got != n {
		t.Errorf("len(Loops()) = %d after %d clients; want %d", got, len(conns), n)
	}
}

// TestSlowBodyNotHeaderTimeout checks that the header deadline stops once
// the head is complete: a body that trickles in slower than
// ReadHeaderTimeout (but within IdleTimeout between reads) is served.
func TestSlowBodyNotHeaderTimeout(t *testing.T) {
	cfg := Config{Loops: 1, ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 10 * time.Second}
	ts := startServer(t, cfg, basicRoutes)
	c := dial(t, ts.addr)
	c.send("POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
	// The stimulus is time passing: five header timeouts without input.
	time.Sleep(time.Second)
	c.send("world")
	resp, body := c.read("POST")
	checkStatus(t, resp, 200)
	if !strings.Contains(body, "helloworld") {
		t.Errorf("body = %q; want the echoed request body", body)
	}
}

// TestRefusedBodyResponseSurvives checks the lingering close: a client
// that is still uploading a body we refused (413 at the head) reads the
// response and finishes its upload without a connection reset (the
// server half-closes and drains instead of closing with unread input).
func TestRefusedBodyResponseSurvives(t *testing.T) {
	ts := startServer(t, Config{Loops: 1}, basicRoutes)
	for i := 0; i < 5; i++ {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(testTimeout))
		const size = 4 << 20
		if _, err := fmt.Fprintf(c, "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size); err != nil {
			t.Fatal(err)
		}
		wrote := make(chan error, 1)
		go func() {
			chunk := make([]byte, 64<<10)
			for sent := 0; sent < size; sent += len(chunk) {
				if _, err := c.Write(chunk); err != nil {
					wrote <- err
					return
				}
			}
			wrote <- nil
		}()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("attempt %d: reading the 413 failed: %v", i, err)
		}
		if resp.StatusCode != 413 {
			t.Fatalf("attempt %d: status %d; want 413", i, resp.StatusCode)
		}
		if err := <-wrote; err != nil {
			t.Fatalf("attempt %d: upload after the 413 failed: %v (want the server to drain, not reset)", i, err)
		}
		c.Close()
	}
}
