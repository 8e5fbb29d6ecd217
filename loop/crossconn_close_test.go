package loop_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/streamd/streamd/chunked"
	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/sse"
	"github.com/streamd/streamd/ws"
)

// Ending a stream on the loop while sends from a goroutine are queued.
// See crossconn_test.go for the helpers.

// TestOutcomeCloseOnLoopAfterGoroutineSends: a goroutine's sends were
// admitted (reported Written) and have not run on the loop yet when a
// callback on the loop (here another connection's handler) ends the
// stream. The end must come after what was admitted before it: sse's Close
// "ends the stream after the queued events are sent", and loop.Sender
// promises that "an admitted write is written by the loop, in order,
// unless the connection closes first". So the client must get every
// admitted message, then the end.
//
// chunked.Writer.Close does this (on the loop it ends the response at once
// only when its Sender has nothing pending). On main, sse.Stream.Close and
// ws.Socket.Close do not: on the loop they end the stream at once, and the
// admitted messages are lost (see the commit message).
func TestOutcomeCloseOnLoopAfterGoroutineSends(t *testing.T) {
	const m = 5
	msg := func(i int) string { return fmt.Sprintf("g%d", i) }
	cases := []struct {
		name    string
		request string
		route   func(s *loop.Server, reg *registry)
		send    func(h any, i int) loop.WriteResult
		end     func(h any)
		first   string
		wire    func(string) string
		endWire string
		ws      bool
		head    string
	}{
		{
			name: "sse.Stream", request: reqKeep("/c?id=c"), head: headSSE, first: sseData("c1"), wire: sseData,
			route: func(s *loop.Server, reg *registry) {
				s.GET("/c", func(c *loop.Ctx) {
					id := queryID(c)
					sse.Open(c, sse.Options{Heartbeat: -1}, func(st *sse.Stream) { st.Send("c1"); reg.put(id, st) })
				})
			},
			send: func(h any, i int) loop.WriteResult { return h.(*sse.Stream).Send(msg(i)) },
			end:  func(h any) { h.(*sse.Stream).Close() },
		},
		{
			name: "ws.Socket", request: reqWS("/c?id=c"), head: headWS, first: wsText("c1"), wire: wsText, ws: true,
			endWire: wsClose1000,
			route: func(s *loop.Server, reg *registry) {
				up := &ws.Upgrader{Options: wsOptions}
				s.GET("/c", func(c *loop.Ctx) {
					id := queryID(c)
					up.Upgrade(c, ws.Handler{OnOpen: func(so *ws.Socket) { so.Send("c1"); reg.put(id, so) }})
				})
			},
			send: func(h any, i int) loop.WriteResult {
				r, _ := h.(*ws.Socket).SendText([]byte(msg(i)))
				return r
			},
			end: func(h any) { _ = h.(*ws.Socket).Close(1000, "") },
		},
		{
			name: "chunked.Start", request: reqClose("/c?id=c"), head: headChunkedClose, first: chunk("c1"), wire: chunk,
			endWire: lastChunk,
			route: func(s *loop.Server, reg *registry) {
				s.GET("/c", func(c *loop.Ctx) {
					w := chunked.Start(c, chunked.Options{})
					w.Send([]byte("c1"))
					reg.put(queryID(c), w)
				})
			},
			send: func(h any, i int) loop.WriteResult {
				if _, err := h.(*chunked.Writer).Write([]byte(msg(i))); err != nil {
					return loop.Dropped
				}
				return loop.Written
			},
			end: func(h any) { _ = h.(*chunked.Writer).Close() },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := &registry{}
			addr := startCross(t, crossConfig(), func(s *loop.Server) {
				tc.route(s, reg)
				s.GET("/d", func(c *loop.Ctx) {
					h := reg.get("c")
					// The goroutine's sends are admitted while this handler
					// holds the loop, so they are still queued for it when
					// the stream ends below.
					sent := make(chan []loop.WriteResult)
					go func() {
						var rs []loop.WriteResult
						for i := range m {
							rs = append(rs, tc.send(h, i))
						}
						sent <- rs
					}()
					for i, r := range <-sent {
						if r == loop.Dropped {
							t.Errorf("send %d: Dropped; want it admitted", i)
						}
					}
					tc.end(h)
					c.Text(200, "d:ok")
				})
			})
			c := dialPeer(t, "C", addr, 0)
			c.send(tc.request)
			c.readUntil(tc.first)
			d := dialPeer(t, "D", addr, 0)
			d.send(reqClose("/d"))
			d.readEOF()
			d.expect(textResp("d:ok"))

			want := tc.head + tc.first
			for i := range m {
				want += tc.wire(msg(i))
			}
			want += tc.endWire
			if tc.ws {
				// Answer the close frame whenever it comes; the transcript
				// shows what came before it.
				deadline := time.Now().Add(promptly)
				for !bytes.Contains(c.got, []byte(wsClose1000)) {
					if err := c.fill(deadline); err != nil {
						t.Fatalf("C: waiting for the close frame: %v; received %q", err, norm(c.got))
					}
				}
				_, _ = io.WriteString(c.conn, clientClose1000)
			}
			c.readEOF()
			c.expect(want)
		})
	}
}
