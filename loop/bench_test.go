package loop

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/streamd/streamd/httpcodec"
)

// BenchmarkServePipelined16 runs parseAndServe on 16 pipelined wrk-style
// GETs, as one read of the pipelined plaintext benchmark: parse, route,
// handler and response head, without the socket.
func BenchmarkServePipelined16(b *testing.B) {
	srv := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	hello := []byte("Hello, World!")
	srv.GET("/hello", func(c *Ctx) { c.Bytes(200, "text/plain", hello) })
	el := &eventLoop{srv: srv}
	el.shared = httpcodec.NewParser(srv.cfg.Limits)
	c := &Conn{el: el, tslot: -1}
	el.corked = c // parseAndServe runs inside the connection's cork
	in := []byte(strings.Repeat("GET /hello HTTP/1.1\r\nHost: 127.0.0.1:18200\r\n\r\n", 16))
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		el.out = el.out[:0]
		if n, _, _ := el.parseAndServe(c, in); n != len(in) {
			b.Fatalf("consumed %d of %d", n, len(in))
		}
	}
	if got := el.stats.requests.Load(); got == 0 {
		b.Fatal("no requests counted")
	}
}
