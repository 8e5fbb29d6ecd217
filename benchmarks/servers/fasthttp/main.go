// Command fasthttp is the valyala/fasthttp + fasthttp/websocket peer for the
// streamd benchmarks, written as a fasthttp expert would: SSE and chunked
// downloads as direct body streams (SetBodyStream with a BodyWriterTo, so
// each Write is one chunk, flushed, on the connection's own goroutine), a
// per-topic subscriber set behind a mutex, one writer per subscriber.
//
// Why not SetBodyStreamWriter: it runs the writer on another goroutine
// behind a pipe, and fasthttp reads the pipe through its 4 KiB copy buffer,
// so a 16 KiB Write reaches the wire as four 4 KiB chunks, each flushed
// (fasthttp v1.78.0 http.go writeBodyChunked, stream.go NewStreamReader).
// A stream implementing BodyWriterTo is handed fasthttp's chunk writer
// instead: no pipe, no extra goroutine, no copy, one chunk per Write.
package main

import (
	"flag"
	"io"
	"log"
	"runtime"
	"strconv"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"github.com/streamd/streamd/benchmarks/internal/peer"
)

// writeBufferSize is Server.WriteBufferSize: room for one whole 16 KiB chunk
// with its size line and CRLF, so fasthttp's flush of a chunk is one
// write(2). With the default 4 KiB buffer, bufio splits every 16 KiB chunk
// into three writes (4 KiB, 12 KiB, and the 2-byte CRLF). Responses to
// /hello and SSE events are far smaller; the buffer is taken from a pool
// per response being written, so only streams in progress hold one.
const writeBufferSize = peer.DefaultChunk + 32

// chunkBody is the /chunked body: size bytes of 'x' in chunk-byte Writes.
type chunkBody struct {
	left int
	data []byte // chunk bytes of 'x'
}

// WriteTo hands fasthttp one chunk per Write; fasthttp frames and flushes
// each, and the flush blocks on the socket (backpressure).
func (b *chunkBody) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for b.left > 0 {
		k, err := w.Write(b.data[:min(b.left, len(b.data))])
		n += int64(k)
		b.left -= k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// SupportsBodyWriteTo tells fasthttp that WriteTo may replace Read.
func (*chunkBody) SupportsBodyWriteTo() bool { return true }

// Read is the plain io.Reader view of the same bytes (unused by the
// chunked path once SupportsBodyWriteTo is true).
func (b *chunkBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.data[:min(b.left, len(b.data))])
	b.left -= n
	return n, nil
}

// sseBody is one SSE stream: a ":ok" comment (fasthttp sends the head with
// the first body bytes, so the client sees the stream at once), then one
// chunk per published event until a write fails.
type sseBody struct {
	h     *peer.Hub
	topic string
	sub   peer.Sub
	buf   []byte
}

func (b *sseBody) WriteTo(w io.Writer) (int64, error) {
	defer b.h.Unsubscribe(b.topic, b.sub)
	n, err := io.WriteString(w, ":ok\n\n")
	total := int64(n)
	for err == nil {
		msg := <-b.sub
		b.buf = append(append(append(b.buf[:0], "data: "...), msg...), "\n\n"...)
		n, err = w.Write(b.buf)
		total += int64(n)
	}
	return total, err
}

func (*sseBody) SupportsBodyWriteTo() bool { return true }

// Read is the io.Reader view: the same bytes, one event per call at most.
func (b *sseBody) Read(p []byte) (int, error) {
	if b.buf == nil {
		b.buf = append(make([]byte, 0, 256), ":ok\n\n"...)
	}
	for len(b.buf) == 0 {
		msg := <-b.sub
		b.buf = append(append(append(b.buf, "data: "...), msg...), "\n\n"...)
	}
	n := copy(p, b.buf)
	b.buf = b.buf[:copy(b.buf, b.buf[n:])]
	return n, nil
}

// Close unsubscribes (fasthttp closes a body stream when it is done with it).
func (b *sseBody) Close() error {
	b.h.Unsubscribe(b.topic, b.sub)
	return nil
}

func topicOf(ctx *fasthttp.RequestCtx) string {
	return peer.Topic(string(ctx.QueryArgs().Peek("topic")))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	loops := flag.Int("loops", runtime.NumCPU(), "parallelism (GOMAXPROCS)")
	common := peer.CommonFlags()
	flag.Parse()
	common.Start()
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
			ctx.SetBodyStream(&sseBody{h: h, topic: topic, sub: s}, -1)

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
			data := make([]byte, min(size, chunk))
			for i := range data {
				data[i] = 'x'
			}
			ctx.SetBodyStream(&chunkBody{left: size, data: data}, -1)

		default:
			ctx.Error("not found", fasthttp.StatusNotFound)
		}
	}

	srv := &fasthttp.Server{
		Handler:               handler,
		NoDefaultServerHeader: true,
		WriteBufferSize:       writeBufferSize,
		Logger:                nopLogger{},
	}
	if common.TLS() {
		// fasthttp's own TLS entry point: tls.NewListener over its
		// listener with the config fasthttp builds (handshake on the
		// connection's goroutine at its first read).
		log.Fatal(srv.ListenAndServeTLS(*addr, *common.TLSCert, *common.TLSKey))
	}
	log.Fatal(srv.ListenAndServe(*addr))
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
