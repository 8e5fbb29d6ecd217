// Command fasthttp is the valyala/fasthttp + fasthttp/websocket peer for the
// streamd benchmarks, written as a competent fasthttp user would: SSE and
// chunked downloads through SetBodyStreamWriter (flushing each event), a
// per-topic subscriber set behind a mutex, one writer per subscriber.
package main

import (
	"bufio"
	"flag"
	"github.com/streamd/streamd/benchmarks/internal/peer"
	"log"
	"runtime"
	"strconv"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

func topicOf(ctx *fasthttp.RequestCtx) string {
	return peer.Topic(string(ctx.QueryArgs().Peek("topic")))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	loops := flag.Int("loops", runtime.NumCPU(), "parallelism (GOMAXPROCS)")
	flag.Parse()
	if *loops > 0 {
		runtime.GOMAXPROCS(*loops)
	}

	h := peer.NewHub()
	upgrader := websocket.FastHTTPUpgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
		CheckOrigin:     func(*fasthttp.RequestCtx) bool { return true },
	}
	hello := []byte("Hello, World!")
	ctText := []byte("text/plain")

	handler := func(ctx *fasthttp.RequestCtx) {
		path := string(ctx.Path())
		switch {
		case path == "/hello" && ctx.IsGet():
			ctx.Response.Header.SetContentTypeBytes(ctText)
			ctx.Response.SetBodyRaw(hello)

		case path == "/sse" && ctx.IsGet():
			topic := topicOf(ctx)
			ctx.SetContentType("text/event-stream")
			ctx.Response.Header.Set("Cache-Control", "no-cache")
			s := h.Subscribe(topic) // before the head goes out
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				defer h.Unsubscribe(topic, s)
				// fasthttp sends the head with the first body bytes: open
				// with a comment so the client sees the stream at once.
				w.WriteString(":ok\n\n")
				if err := w.Flush(); err != nil {
					return
				}
				for msg := range s {
					w.WriteString("data: ")
					w.Write(msg)
					w.WriteString("\n\n")
					if err := w.Flush(); err != nil {
						return
					}
				}
			})

		case path == "/publish" && ctx.IsPost():
			body := append([]byte(nil), ctx.PostBody()...)
			h.Publish(topicOf(ctx), body)
			ctx.SetStatusCode(fasthttp.StatusNoContent)

		case path == "/upload" && ctx.IsPost():
			// fasthttp has read the whole body before the handler runs
			// (Server.MaxRequestBodySize, default 4 MiB; 413 beyond it).
			ctx.Response.Header.SetContentTypeBytes(ctText)
			ctx.Response.SetBodyRaw(strconv.AppendInt(nil, int64(len(ctx.PostBody())), 10))

		case path == "/ws/echo" && ctx.IsGet():
			upgrader.Upgrade(ctx, func(c *websocket.Conn) {
				defer c.Close()
				for {
					mt, msg, err := c.ReadMessage()
					if err != nil {
						return
					}
					if err := c.WriteMessage(mt, msg); err != nil {
						return
					}
				}
			})

		case path == "/ws/sub" && ctx.IsGet():
			topic := topicOf(ctx)
			s := h.Subscribe(topic) // before the 101 goes out
			err := upgrader.Upgrade(ctx, func(c *websocket.Conn) {
				defer c.Close()
				defer h.Unsubscribe(topic, s)
				done := make(chan struct{})
				go func() { // read pump: control frames and close
					defer close(done)
					for {
						if _, _, err := c.NextReader(); err != nil {
							return
						}
					}
				}()
				for {
					select {
					case msg := <-s:
						if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
							return
						}
					case <-done:
						return
					}
				}
			})
			if err != nil {
				h.Unsubscribe(topic, s)
			}

		case path == "/chunked" && ctx.IsGet():
			size, chunk := peer.SizeArgs(string(ctx.QueryArgs().Peek("size")), string(ctx.QueryArgs().Peek("chunk")))
			ctx.SetContentType("application/octet-stream")
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				buf := make([]byte, chunk)
				for i := range buf {
					buf[i] = 'x'
				}
				// Flush blocks on the socket: backpressure.
				for left := size; left > 0; {
					n := min(left, chunk)
					w.Write(buf[:n])
					if err := w.Flush(); err != nil {
						return
					}
					left -= n
				}
			})

		default:
			ctx.Error("not found", fasthttp.StatusNotFound)
		}
	}

	srv := &fasthttp.Server{
		Handler:               handler,
		NoDefaultServerHeader: true,
		Logger:                nopLogger{},
	}
	log.Fatal(srv.ListenAndServe(*addr))
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
