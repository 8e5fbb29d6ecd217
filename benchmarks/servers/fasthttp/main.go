// Command fasthttp is the valyala/fasthttp + fasthttp/websocket peer for the
// streamd benchmarks, written as a competent fasthttp user would: SSE and
// chunked downloads through SetBodyStreamWriter (flushing each event), a
// per-topic subscriber set behind a mutex, one writer per subscriber.
package main

import (
	"bufio"
	"flag"
	"log"
	"runtime"
	"strconv"
	"sync"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

const (
	defaultSize  = 64 << 20
	defaultChunk = 16 << 10
	subQueue     = 64
)

type subscriber chan []byte

type hub struct {
	mu     sync.Mutex
	topics map[string]map[subscriber]struct{}
}

func (h *hub) subscribe(topic string) subscriber {
	s := make(subscriber, subQueue)
	h.mu.Lock()
	set := h.topics[topic]
	if set == nil {
		set = make(map[subscriber]struct{})
		h.topics[topic] = set
	}
	set[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *hub) unsubscribe(topic string, s subscriber) {
	h.mu.Lock()
	delete(h.topics[topic], s)
	h.mu.Unlock()
}

func (h *hub) publish(topic string, msg []byte) {
	h.mu.Lock()
	for s := range h.topics[topic] {
		select {
		case s <- msg:
		default: // slow subscriber: drop
		}
	}
	h.mu.Unlock()
}

func topicOf(ctx *fasthttp.RequestCtx) string {
	if t := ctx.QueryArgs().Peek("topic"); len(t) > 0 {
		return string(t)
	}
	return "bench"
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	loops := flag.Int("loops", runtime.NumCPU(), "parallelism (GOMAXPROCS)")
	flag.Parse()
	if *loops > 0 {
		runtime.GOMAXPROCS(*loops)
	}

	h := &hub{topics: make(map[string]map[subscriber]struct{})}
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
			s := h.subscribe(topic) // before the head goes out
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				defer h.unsubscribe(topic, s)
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
			h.publish(topicOf(ctx), body)
			ctx.SetStatusCode(fasthttp.StatusNoContent)

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
			s := h.subscribe(topic) // before the 101 goes out
			err := upgrader.Upgrade(ctx, func(c *websocket.Conn) {
				defer c.Close()
				defer h.unsubscribe(topic, s)
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
				h.unsubscribe(topic, s)
			}

		case path == "/chunked" && ctx.IsGet():
			size, chunk := sizeArgs(string(ctx.QueryArgs().Peek("size")), string(ctx.QueryArgs().Peek("chunk")))
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

func sizeArgs(sizeS, chunkS string) (size, chunk int) {
	size, chunk = defaultSize, defaultChunk
	if v, err := strconv.Atoi(sizeS); err == nil && v >= 0 {
		size = v
	}
	if v, err := strconv.Atoi(chunkS); err == nil && v > 0 && v <= 16<<20 {
		chunk = v
	}
	return size, chunk
}
