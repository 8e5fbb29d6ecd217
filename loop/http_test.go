package loop

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const helloBody = "hello, world\n"

// basicRoutes registers the routes most tests use.
func basicRoutes(s *Server) {
	s.GET("/hello", func(c *Ctx) {
		c.SetHeader("X-Test", "yes")
		c.Text(200, helloBody)
	})
	s.GET("/echo/:n", func(c *Ctx) { c.Text(200, "n="+c.Param("n")) })
	s.GET("/users/:id/posts/:post", func(c *Ctx) {
		c.Text(200, c.Param("id")+"/"+c.Param("post"))
	})
	s.GET("/query", func(c *Ctx) {
		a, aok := c.Query("a")
		b, bok := c.Query("b")
		_, zok := c.Query("z")
		c.Text(200, fmt.Sprintf("a=%q:%v b=%q:%v z:%v", a, aok, b, bok, zok))
	})
	s.POST("/post", func(c *Ctx) {
		c.Bytes(200, "application/octet-stream", c.Body())
	})
	s.Handle("PUT", "/post", func(c *Ctx) { c.NoContent(204) })
	s.GET("/panic", func(*Ctx) { panic("boom") })
}

func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: testTimeout}
}

func checkHelloHeaders(t *testing.T, h http.Header, wantLen string) {
	t.Helper()
	if got := h.Get("Server"); got != "streamd" {
		t.Errorf("Server = %q; want streamd", got)
	}
	if got := h.Get("Content-Length"); got != wantLen {
		t.Errorf("Content-Length = %q; want %q", got, wantLen)
	}
	if got := h.Get("Content-Type"); got != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := h.Get("X-Test"); got != "yes" {
		t.Errorf("X-Test = %q; want yes", got)
	}
	d, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		t.Errorf("Date = %q: %v", h.Get("Date"), err)
	} else if diff := time.Since(d); diff < -time.Minute || diff > time.Minute {
		t.Errorf("Date = %q, %v away from now", h.Get("Date"), diff)
	}
}

func TestHelloNetHTTP(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		ts := startServer(t, Config{Loops: loops}, basicRoutes)
		cl := httpClient(t)
		for i := range 5 { // several requests: keep-alive reuse and both loops
			resp, err := cl.Get("http://" + ts.addr + "/hello")
			if err != nil {
				t.Fatalf("GET /hello #%d: %v", i, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			checkStatus(t, resp, 200)
			if string(body) != helloBody {
				t.Errorf("body = %q; want %q", body, helloBody)
			}
			checkHelloHeaders(t, resp.Header, strconv.Itoa(len(helloBody)))
			if resp.Close {
				t.Errorf("response asks to close a keep-alive connection")
			}
		}
	})
}

func TestHelloCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("curl is required in CI: %v", err)
		}
		t.Skipf("curl not found in PATH (%v); install curl to run this test", err)
	}
	forLoops(t, func(t *testing.T, loops int) {
		ts := startServer(t, Config{Loops: loops}, basicRoutes)
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		url := "http://" + ts.addr + "/hello"
		out, err := exec.CommandContext(ctx, curl, "-sS", "-i", "--http1.1", "--max-time", "10", url, url).CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		br := bufio.NewReader(bytes.NewReader(out))
		for i := range 2 { // curl reuses the connection for the second URL
			resp, body, err := readResponse(br, "GET")
			if err != nil {
				t.Fatalf("response %d from curl output: %v\n%s", i, err, out)
			}
			checkStatus(t, resp, 200)
			if body != helloBody {
				t.Errorf("body = %q; want %q", body, helloBody)
			}
			checkHelloHeaders(t, resp.Header, strconv.Itoa(len(helloBody)))
		}
	})
}

func TestPipelineRaw(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		ts := startServer(t, Config{Loops: loops}, basicRoutes)
		c := dial(t, ts.addr)
		const n = 100
		var b strings.Builder
		for i := range n {
			b.WriteString(get("/echo/" + strconv.Itoa(i)))
		}
		c.send(b.String()) // one write
		for i := range n {
			resp, body := c.read("GET")
			checkStatus(t, resp, 200)
			if want := "n=" + strconv.Itoa(i); body != want {
				t.Fatalf("response %d: body = %q; want %q", i, body, want)
			}
		}
		// The connection is still usable.
		resp, body := c.roundTrip("GET", get("/hello"))
		if resp.StatusCode != 200 || body != helloBody {
			t.Errorf("after pipeline: %d %q", resp.StatusCode, body)
		}
	})
}

func TestPipelineRawLarge(t *testing.T) {
	// Enough responses to exceed maxCork, so the cork is flushed mid-batch.
	ts := startServer(t, Config{Loops: 1}, func(s *Server) {
		big := strings.Repeat("x", 4000)
		s.GET("/big/:n", func(c *Ctx) { c.Text(200, c.Param("n")+big) })
	})
	c := dial(t, ts.addr)
	const n = 200
	var b strings.Builder
	for i := range n {
		b.WriteString(get("/big/" + strconv.Itoa(i)))
	}
	go func() { _, _ = io.WriteString(c.Conn, b.String()) }()
	for i := range n {
		resp, body := c.read("GET")
		checkStatus(t, resp, 200)
		if want := strconv.Itoa(i); !strings.HasPrefix(body, want+"x") || len(body) != len(want)+4000 {
			t.Fatalf("response %d: body %q... (len %d)", i, body[:min(len(body), 10)], len(body))
		}
	}
}

// gate lets a test release deferred replies one at a time.
type gate struct {
	started chan string
	release map[string]chan struct{}
	mu      sync.Mutex
}

func newGate() *gate {
	return &gate{started: make(chan string, 16), release: make(map[string]chan struct{})}
}

func (g *gate) ch(id string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch := g.release[id]
	if ch == nil {
		ch = make(chan struct{})
		g.release[id] = ch
	}
	return ch
}

// routes registers GET /defer/:id: the reply comes from a goroutine once
// the test closes g.ch(id).
func (g *gate) routes(s *Server) {
	basicRoutes(s)
	s.GET("/defer/:id", func(c *Ctx) {
		id := c.Param("id") // copied: the Ctx is reused
		d := c.Defer()
		ch := g.ch(id)
		go func() {
			g.started <- id
			<-ch
			_ = d.Text(200, "deferred "+id)
		}()
	})
}

func (g *gate) waitStarted(t *testing.T, want string) {
	t.Helper()
	select {
	case id := <-g.started:
		if id != want {
			t.Fatalf("deferred handler %q started; want %q", id, want)
		}
	case <-time.After(testTimeout):
		t.Fatalf("deferred handler %q did not start", want)
	}
}

func TestDeferredPipelined(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		g := newGate()
		ts := startServer(t, Config{Loops: loops}, g.routes)
		c := dial(t, ts.addr)
		c.send(get("/echo/0") + get("/defer/a") + get("/echo/1") + get("/echo/2") +
			"HEAD /defer/b HTTP/1.1\r\nHost: test\r\n\r\n" + get("/echo/3"))

		resp, body := c.read("GET")
		if resp.StatusCode != 200 || body != "n=0" {
			t.Fatalf("first response: %d %q", resp.StatusCode, body)
		}
		g.waitStarted(t, "a")
		// Nothing behind the deferred request may be answered before it.
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if b, err := c.br.Peek(1); err == nil {
			t.Fatalf("got %q before the deferred reply", b)
		}
		_ = c.SetDeadline(time.Now().Add(testTimeout))
		close(g.ch("a"))

		for _, want := range []string{"deferred a", "n=1", "n=2"} {
			resp, body := c.read("GET")
			if resp.StatusCode != 200 || body != want {
				t.Fatalf("response: %d %q; want 200 %q", resp.StatusCode, body, want)
			}
		}
		g.waitStarted(t, "b")
		close(g.ch("b"))
		resp, body = c.read("HEAD")
		checkStatus(t, resp, 200)
		if body != "" || resp.ContentLength != int64(len("deferred b")) {
			t.Errorf("deferred HEAD: body %q, Content-Length %d; want none, %d", body, resp.ContentLength, len("deferred b"))
		}
		resp, body = c.read("GET")
		if resp.StatusCode != 200 || body != "n=3" {
			t.Fatalf("last response: %d %q", resp.StatusCode, body)
		}
	})
}

// TestDeferredHeaders checks the headers of a deferred reply: those set
// with Ctx.SetHeader before Defer, those Deferred.SetHeader adds from the
// goroutine (invalid ones dropped, none after the reply), and the
// Connection header an HTTP/1.0 client needs to stay connected.
func TestDeferredHeaders(t *testing.T) {
	replied := make(chan struct{}, 4)
	ts := startServer(t, Config{Loops: 1}, func(s *Server) {
		basicRoutes(s)
		s.GET("/dh", func(c *Ctx) {
			c.SetHeader("X-Before", "1")
			d := c.Defer()
			go func() {
				d.SetHeader("X-After", "2")
				d.SetHeader("X-Bad", "a\r\nX-Injected: 1")
				_ = d.Text(200, "ok")
				d.SetHeader("X-Late", "3")
				replied <- struct{}{}
			}()
		})
	})
	for _, tt := range []struct {
		name, req, conn string
	}{
		{"1.1", get("/dh"), ""},
		{"1.0 keep-alive", "GET /dh HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "keep-alive"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			resp, body := c.roundTrip("GET", tt.req)
			checkStatus(t, resp, 200)
			if body != "ok" {
				t.Errorf("body %q; want %q", body, "ok")
			}
			for name, want := range map[string]string{"X-Before": "1", "X-After": "2", "X-Bad": "", "X-Injected": "", "X-Late": "", "Connection": tt.conn} {
				if got := resp.Header.Get(name); got != want {
					t.Errorf("%s: %q; want %q", name, got, want)
				}
			}
			select {
			case <-replied:
			case <-time.After(testTimeout):
				t.Fatal("the deferred goroutine did not finish")
			}
			// Still connected: the next request is answered.
			resp, _ = c.roundTrip("GET", strings.Replace(tt.req, "/dh", "/hello", 1))
			checkStatus(t, resp, 200)
		})
	}
}

func TestCtxRemoteAddr(t *testing.T) {
	ts := startServer(t, Config{Loops: 1}, func(s *Server) {
		s.GET("/remote", func(c *Ctx) { c.Text(200, c.RemoteAddr().String()) })
	})
	c := dial(t, ts.addr)
	resp, body := c.roundTrip("GET", get("/remote"))
	checkStatus(t, resp, 200)
	if want := c.LocalAddr().String(); body != want {
		t.Errorf("RemoteAddr() = %q; want the client's address %q", body, want)
	}
}

// TestContentTypeInjection checks that a content type with CR or LF, say
// one taken from the request, cannot add a header line of its own.
func TestContentTypeInjection(t *testing.T) {
	ts := startServer(t, Config{Loops: 1}, func(s *Server) {
		s.GET("/ct", func(c *Ctx) {
			ct, _ := c.Query("ct")
			c.Bytes(200, ct, []byte("ok"))
		})
	})
	c := dial(t, ts.addr)
	resp, body := c.roundTrip("GET", get("/ct?ct=text/plain%0d%0aX-Injected:%201"))
	checkStatus(t, resp, 200)
	if body != "ok" || resp.Header.Get("X-Injected") != "" || resp.Header.Get("Content-Type") != "text/plain  X-Injected: 1" {
		t.Errorf("body %q, header %v; want the CR LF blanked in Content-Type", body, resp.Header)
	}
}

func TestMethodsAndRouting(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		ts := startServer(t, Config{Loops: loops}, basicRoutes)
		c := dial(t, ts.addr)

		getResp, getBody := c.roundTrip("GET", get("/hello"))
		headResp, headBody := c.roundTrip("HEAD", "HEAD /hello HTTP/1.1\r\nHost: test\r\n\r\n")
		checkStatus(t, headResp, 200)
		if headBody != "" {
			t.Errorf("HEAD body = %q; want none", headBody)
		}
		for _, h := range []string{"Content-Length", "Content-Type", "Server", "X-Test"} {
			if g, hd := getResp.Header.Get(h), headResp.Header.Get(h); g != hd {
				t.Errorf("HEAD %s = %q; GET has %q", h, hd, g)
			}
		}
		if getBody != helloBody {
			t.Errorf("GET body = %q", getBody)
		}

		resp, body := c.roundTrip("GET", get("/nope"))
		checkStatus(t, resp, 404)
		if hasConnClose(resp) {
			t.Errorf("404 closes the connection")
		}
		_ = body

		resp, _ = c.roundTrip("GET", "DELETE /hello HTTP/1.1\r\nHost: test\r\n\r\n")
		checkStatus(t, resp, 405)
		if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
			t.Errorf("405 Allow = %q; want %q", got, "GET, HEAD")
		}
		resp, _ = c.roundTrip("GET", get("/post"))
		checkStatus(t, resp, 405)
		if got := resp.Header.Get("Allow"); got != "POST, PUT" {
			t.Errorf("405 Allow = %q; want %q", got, "POST, PUT")
		}
		resp, _ = c.roundTrip("HEAD", "HEAD /echo/1/x HTTP/1.1\r\nHost: test\r\n\r\n")
		checkStatus(t, resp, 404)

		resp, body = c.roundTrip("GET", get("/users/42/posts/7"))
		if resp.StatusCode != 200 || body != "42/7" {
			t.Errorf("params: %d %q; want 200 42/7", resp.StatusCode, body)
		}
		resp, body = c.roundTrip("HEAD", "HEAD /users/42/posts/7 HTTP/1.1\r\nHost: test\r\n\r\n")
		if resp.StatusCode != 200 || body != "" || resp.ContentLength != 4 {
			t.Errorf("HEAD params: %d %q len %d; want 200, no body, 4", resp.StatusCode, body, resp.ContentLength)
		}

		resp, body = c.roundTrip("GET", "GET http://test/users/1/posts/2?x=y HTTP/1.1\r\nHost: test\r\n\r\n")
		if resp.StatusCode != 200 || body != "1/2" {
			t.Errorf("absolute-form: %d %q; want 200 1/2", resp.StatusCode, body)
		}

		resp, body = c.roundTrip("GET", get("/query?a=1&b=hello%20w+x&z"))
		if want := `a="1":true b="hello w x":true z:true`; body != want {
			t.Errorf("query: %d %q; want %q", resp.StatusCode, body, want)
		}
		resp, body = c.roundTrip("GET", get("/query"))
		if want := `a="":false b="":false z:false`; body != want {
			t.Errorf("no query: %d %q; want %q", resp.StatusCode, body, want)
		}

		resp, body = c.roundTrip("POST", "POST /post HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello world")
		if resp.StatusCode != 200 || body != "hello world" {
			t.Errorf("POST Content-Length: %d %q", resp.StatusCode, body)
		}
		resp, body = c.roundTrip("POST", "POST /post HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"+
			"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n")
		if resp.StatusCode != 200 || body != "hello world" {
			t.Errorf("POST chunked: %d %q", resp.StatusCode, body)
		}
		resp, body = c.roundTrip("PUT", "PUT /post HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n")
		if resp.StatusCode != 204 || body != "" || resp.Header.Get("Content-Length") != "" {
			t.Errorf("204: %d %q Content-Length %q", resp.StatusCode, body, resp.Header.Get("Content-Length"))
		}
		// Still the same keep-alive connection.
		resp, body = c.roundTrip("GET", get("/hello"))
		if resp.StatusCode != 200 || body != helloBody {
			t.Errorf("final GET: %d %q", resp.StatusCode, body)
		}
	})
}

func TestPostSplitBody(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		ts := startServer(t, Config{Loops: loops}, basicRoutes)
		c := dial(t, ts.addr)
		body := strings.Repeat("0123456789", 20000) // 200 KB, many reads
		c.send("POST /post HTTP/1.1\r\nHost: test\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
		go func() { _, _ = io.WriteString(c.Conn, body) }()
		resp, got := c.read("POST")
		if resp.StatusCode != 200 || got != body {
			t.Errorf("POST: %d, body len %d; want 200, %d", resp.StatusCode, len(got), len(body))
		}
	})
}

func TestExpectContinue(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		ts := startServer(t, Config{Loops: loops}, basicRoutes)
		c := dial(t, ts.addr)
		c.send("POST /post HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		resp, _ := c.read("POST")
		checkStatus(t, resp, 100)
		c.send("hello")
		resp, body := c.read("POST")
		if resp.StatusCode != 200 || body != "hello" {
			t.Errorf("after 100 Continue: %d %q; want 200 hello", resp.StatusCode, body)
		}
		// An unsupported expectation.
		resp, _ = c.roundTrip("POST", "POST /post HTTP/1.1\r\nHost: test\r\nExpect: magic\r\nContent-Length: 5\r\n\r\n")
		checkStatus(t, resp, 417)
	})
}

func TestExpectContinueNetHTTP(t *testing.T) {
	ts := startServer(t, Config{Loops: 1}, basicRoutes)
	tr := &http.Transport{ExpectContinueTimeout: testTimeout}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("POST", "http://"+ts.addr+"/post", strings.NewReader("payload"))
	req.Header.Set("Expect", "100-continue")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "payload" {
		t.Errorf("got %d %q; want 200 payload", resp.StatusCode, b)
	}
}

func TestConnectionClose(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		ts := startServer(t, Config{Loops: loops}, basicRoutes)
		tests := []struct {
			name, req string
			close     bool
			header    string // expected Connection header
		}{
			{"1.1", "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", false, ""},
			{"1.1 close", "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true, "close"},
			{"1.0", "GET /hello HTTP/1.0\r\n\r\n", true, "close"},
			{"1.0 keep-alive", "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false, "keep-alive"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := dial(t, ts.addr)
				// A pipelined request behind a closing one must not be served.
				c.send(tt.req + get("/echo/1"))
				resp, body := c.read("GET")
				if resp.StatusCode != 200 || body != helloBody {
					t.Fatalf("%d %q", resp.StatusCode, body)
				}
				// net/http turns "Connection: close" into resp.Close.
				if hasConnClose(resp) != tt.close {
					t.Errorf("response close = %v; want %v", hasConnClose(resp), tt.close)
				}
				if tt.header != "close" {
					if got := resp.Header.Get("Connection"); !strings.EqualFold(got, tt.header) {
						t.Errorf("Connection = %q; want %q", got, tt.header)
					}
				}
				if tt.close {
					c.expectClosed()
					return
				}
				resp, body = c.read("GET")
				if resp.StatusCode != 200 || body != "n=1" {
					t.Errorf("second: %d %q", resp.StatusCode, body)
				}
			})
		}
	})
}

// TestDeferredReplyTimeout: a Deferred not replied within ReplyTimeout
// gets 503 and the connection closes (the requests pipelined behind it
// are not served); the late Reply returns ErrReplyTimeout. A reply in time
// is unaffected.
func TestDeferredReplyTimeout(t *testing.T) {
	late := make(chan *Deferred, 1)
	ts := startServer(t, Config{Loops: 1, ReplyTimeout: 300 * time.Millisecond, IdleTimeout: time.Hour}, func(s *Server) {
		basicRoutes(s)
		s.GET("/never", func(c *Ctx) { late <- c.Defer() })
		s.GET("/soon", func(c *Ctx) {
			d := c.Defer()
			go func() { _ = d.Text(200, "soon") }()
		})
	})
	c := dial(t, ts.addr)
	c.send(get("/soon"))
	if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "soon" {
		t.Fatalf("a reply in time: %d %q", resp.StatusCode, body)
	}
	c.send(get("/never") + get("/hello"))
	resp, _ := c.read("GET")
	checkStatus(t, resp, 503)
	if !hasConnClose(resp) {
		t.Errorf("the 503 does not close the connection")
	}
	c.expectClosed()
	d := <-late
	if err := d.Text(200, "too late"); !errors.Is(err, ErrReplyTimeout) {
		t.Errorf("Reply after the timeout = %v; want ErrReplyTimeout", err)
	}
	waitFor(t, "the close counted as reply_timeout", func() bool { return ts.Stats().Closes["reply_timeout"] == 1 })
}
