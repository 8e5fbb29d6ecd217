package loop_test

import (
	"testing"
	"time"

	"github.com/streamd/streamd/chunked"
	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/sse"
)

// 2. Requests pipelined behind a stream, whichever way it ends.
// See crossconn_test.go for the helpers.

// pipelinedCase is a stream whose request is sent in one write with a
// pipelined "GET /hello" (with "Connection: close").
type pipelinedCase struct {
	name    string
	request string // the stream's request (keep-alive), for /s?id=s
	route   func(t *testing.T, s *loop.Server, reg *registry)
	first   string // a prefix of the stream's output to wait for before ending it from E
	fromE   bool   // another connection, E, ends the stream with GET /end?id=s
	want    string // the whole transcript
}

// helloResp is the pipelined GET /hello's response.
var helloResp = textResp("hello")

func pipelinedCases() []pipelinedCase {
	waitDone := func(w *chunked.Writer) error { <-w.Context().Done(); return nil }
	startS1 := func(c *loop.Ctx) *chunked.Writer {
		w := chunked.Start(c, chunked.Options{})
		w.Send([]byte("s1"))
		return w
	}
	goS1 := func(c *loop.Ctx) *chunked.Writer {
		w := chunked.Go(c, chunked.Options{}, waitDone)
		w.Send([]byte("s1")) // on the loop: Send is allowed on a Go writer too
		return w
	}
	s2AndClose := func(w *chunked.Writer) func() {
		return func() {
			w.Send([]byte("s2"))
			_ = w.Close()
		}
	}
	chunkedS12 := headChunked + chunk("s1") + chunk("s2") + lastChunk + helloResp
	chunkedS1 := headChunked + chunk("s1") + lastChunk + helloResp

	cases := []pipelinedCase{
		{
			name: "chunked.Start/handler", request: reqKeep("/s"), want: chunkedS1,
			route: func(_ *testing.T, s *loop.Server, _ *registry) {
				s.GET("/s", func(c *loop.Ctx) { _ = startS1(c).Close() })
			},
		},
		{
			name: "chunked.Start/timer", request: reqKeep("/s"), want: chunkedS12,
			route: func(_ *testing.T, s *loop.Server, _ *registry) {
				s.GET("/s", func(c *loop.Ctx) {
					w := startS1(c)
					w.After(time.Millisecond, s2AndClose(w))
				})
			},
		},
		{
			name: "chunked.Start/drain", request: reqKeep("/s"), want: chunkedS12,
			route: func(_ *testing.T, s *loop.Server, _ *registry) {
				s.GET("/s", func(c *loop.Ctx) {
					w := startS1(c)
					w.OnDrain(s2AndClose(w))
				})
			},
		},
		{
			name: "chunked.Start/goroutine", request: reqKeep("/s"), want: chunkedS12,
			route: func(t *testing.T, s *loop.Server, _ *registry) {
				s.GET("/s", func(c *loop.Ctx) {
					w := startS1(c)
					go func() {
						if _, err := w.Write([]byte("s2")); err != nil {
							t.Errorf("Write: %v", err)
						}
						if err := w.Close(); err != nil {
							t.Errorf("Close: %v", err)
						}
					}()
				})
			},
		},
		{
			name: "chunked.Start/other-conn", request: reqKeep("/s?id=s"), first: chunk("s1"), fromE: true, want: chunkedS1,
			route: func(_ *testing.T, s *loop.Server, reg *registry) {
				s.GET("/s", func(c *loop.Ctx) { reg.put(queryID(c), startS1(c)) })
			},
		},
		{
			name: "chunked.Go/handler", request: reqKeep("/s"), want: chunkedS1,
			route: func(_ *testing.T, s *loop.Server, _ *registry) {
				s.GET("/s", func(c *loop.Ctx) { _ = goS1(c).Close() })
			},
		},
		{
			name: "chunked.Go/timer", request: reqKeep("/s"), want: chunkedS12,
			route: func(_ *testing.T, s *loop.Server, _ *registry) {
				s.GET("/s", func(c *loop.Ctx) {
					w := goS1(c)
					w.After(time.Millisecond, s2AndClose(w))
				})
			},
		},
		{
			name: "chunked.Go/drain", request: reqKeep("/s"), want: chunkedS12,
			route: func(_ *testing.T, s *loop.Server, _ *registry) {
				s.GET("/s", func(c *loop.Ctx) {
					w := goS1(c)
					w.OnDrain(s2AndClose(w))
				})
			},
		},
		{
			name: "chunked.Go/goroutine", request: reqKeep("/s"), want: chunkedS12,
			route: func(_ *testing.T, s *loop.Server, _ *registry) {
				s.GET("/s", func(c *loop.Ctx) {
					chunked.Go(c, chunked.Options{}, func(w *chunked.Writer) error {
						for _, p := range []string{"s1", "s2"} {
							if _, err := w.Write([]byte(p)); err != nil {
								return err
							}
						}
						return nil // Go ends the response
					})
				})
			},
		},
		{
			name: "chunked.Go/other-conn", request: reqKeep("/s?id=s"), first: chunk("s1"), fromE: true, want: chunkedS1,
			route: func(_ *testing.T, s *loop.Server, reg *registry) {
				s.GET("/s", func(c *loop.Ctx) { reg.put(queryID(c), goS1(c)) })
			},
		},
		// An event stream has no length: it ends with the connection
		// (RFC 9112, Section 6.3), so a request pipelined behind it cannot
		// be answered, except after a HEAD, whose response has no body.
		// What matters then is that the connection closes promptly after
		// the stream's complete bytes.
		{
			name: "sse.Stream/handler-HEAD", request: "HEAD /s HTTP/1.1\r\nHost: test\r\n\r\n", want: headSSE + helloResp,
			route: func(_ *testing.T, s *loop.Server, _ *registry) {
				s.Handle("HEAD", "/s", func(c *loop.Ctx) { sse.Open(c, sse.Options{Heartbeat: -1}, nil) })
			},
		},
		{
			name: "sse.Stream/handler", request: reqKeep("/s"), want: headSSE + sseData("e1"),
			route: func(_ *testing.T, s *loop.Server, _ *registry) {
				s.GET("/s", func(c *loop.Ctx) {
					sse.Open(c, sse.Options{Heartbeat: -1}, func(st *sse.Stream) {
						st.Send("e1")
						st.Close()
					})
				})
			},
		},
		{
			name: "sse.Stream/drain", request: reqKeep("/s"), want: headSSE + sseData("e1") + sseData("e2"),
			route: func(_ *testing.T, s *loop.Server, _ *registry) {
				s.GET("/s", func(c *loop.Ctx) {
					sse.Open(c, sse.Options{Heartbeat: -1}, func(st *sse.Stream) {
						st.Send("e1")
						st.OnDrain(func() {
							st.Send("e2")
							st.Close()
						})
					})
				})
			},
		},
		{
			name: "sse.Stream/goroutine", request: reqKeep("/s"), want: headSSE + sseData("e1") + sseData("e2"),
			route: func(_ *testing.T, s *loop.Server, _ *registry) {
				s.GET("/s", func(c *loop.Ctx) {
					sse.Open(c, sse.Options{Heartbeat: -1}, func(st *sse.Stream) {
						st.Send("e1")
						go func() {
							st.Send("e2")
							st.Close()
						}()
					})
				})
			},
		},
		{
			name: "sse.Stream/other-conn", request: reqKeep("/s?id=s"), first: sseData("e1"), fromE: true,
			want: headSSE + sseData("e1"),
			route: func(_ *testing.T, s *loop.Server, reg *registry) {
				s.GET("/s", func(c *loop.Ctx) {
					id := queryID(c)
					sse.Open(c, sse.Options{Heartbeat: -1}, func(st *sse.Stream) {
						st.Send("e1")
						reg.put(id, st)
					})
				})
			},
		},
	}
	return cases
}

// TestCrossPipelinedAfterStreamEnd pipelines "GET /hello" behind a
// stream's request, in the same write, and ends the stream in its handler,
// a timer, a drain callback, a goroutine or another connection's handler.
// The GET must be answered right after the stream's complete bytes, long
// before the idle timeout. Before "streams that end outside their input
// resume it from a task", a stream that ended outside the processing of
// its own input (a timer, a drain callback, another connection) left the
// pipelined request unanswered until more input arrived.
func TestCrossPipelinedAfterStreamEnd(t *testing.T) {
	for _, tc := range pipelinedCases() {
		t.Run(tc.name, func(t *testing.T) {
			reg := &registry{}
			addr := startCross(t, crossConfig(), func(s *loop.Server) {
				s.GET("/hello", func(c *loop.Ctx) { c.Text(200, "hello") })
				s.GET("/end", func(c *loop.Ctx) {
					switch h := reg.get(queryID(c)).(type) {
					case *chunked.Writer:
						_ = h.Close()
					case *sse.Stream:
						h.Close()
					default:
						t.Errorf("/end: no stream registered")
					}
					c.Text(200, "ended")
				})
				tc.route(t, s, reg)
			})
			p := dialPeer(t, "client", addr, 0)
			p.send(tc.request + reqClose("/hello"))
			if tc.fromE {
				p.readUntil(tc.first)
				e := dialPeer(t, "E", addr, 0)
				e.send(reqClose("/end?id=s"))
				e.readEOF()
				e.expect(textResp("ended"))
			}
			p.readEOF()
			p.expect(tc.want)
		})
	}
}
