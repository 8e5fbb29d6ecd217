// Command streamd is the streamd server of the benchmarks, with the same
// endpoints as every peer: /hello, /sse, /publish, /ws/echo, /ws/sub,
// /chunked and /upload. Everything runs on the event loops: no goroutine per
// connection, SSE and WebSocket fan-out through one loop.Hub.
//
// Two flags serve the cluster scenarios (bench -cluster): -nats URLS gives
// the hub a NATS JetStream broker (natsbroker, as cmd/streamd -nats does),
// so several processes share topics; -reuseport sets SO_REUSEPORT
// (loop.Config.ReusePort), so several processes serve one port.
//
// -backend nethttp serves the same routes, the very same handlers, through
// the library's net/http backend (loop.Server.HTTPHandler) in a plain
// HTTP/1.1 http.Server, as cmd/streamd -backend nethttp does: net/http owns
// the sockets (a goroutine per connection), the handlers run on the
// backend's -loops loops. The harness runs it as the streamd-nethttp row.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/streamd/streamd/benchmarks/internal/peer"
	"github.com/streamd/streamd/chunked"
	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/natsbroker"
	"github.com/streamd/streamd/sse"
	"github.com/streamd/streamd/ws"
)

const (
	defaultSize  = 64 << 20
	defaultChunk = 16 << 10
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	loops := flag.Int("loops", runtime.NumCPU(), "event loops")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file until shutdown")
	memprofile := flag.String("memprofile", "", "write a heap profile to this file on SIGUSR1 (connections still open)")
	readTimeout := flag.Duration("read-timeout", 0, "loop.Config.ReadTimeout: whole-request read deadline (0: the library default, 60s)")
	maxBuffered := flag.Int("max-buffered-input", 0, "loop.Config.MaxBufferedInput in bytes: server-wide budget for buffered request input (0: the library default, 64 MiB)")
	natsURLs := flag.String("nats", "", "share topics through NATS JetStream at these comma-separated URLs (natsbroker, as cmd/streamd -nats)")
	reusePort := flag.Bool("reuseport", false, "loop.Config.ReusePort: SO_REUSEPORT on the listener, so several processes serve one port")
	backend := flag.String("backend", "gnet", "gnet (the event loops own the sockets) or nethttp (srv.HTTPHandler() in a plain HTTP/1.1 http.Server)")
	common := peer.CommonFlags()
	flag.Parse()
	common.Start()
	if *backend != "gnet" && *backend != "nethttp" {
		log.Fatalf("-backend %q: want gnet or nethttp", *backend)
	}
	if *backend == "nethttp" && (common.TLS() || *reusePort) {
		log.Fatal("-backend nethttp: no -tls-cert or -reuseport (plain HTTP/1.1 only)")
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}

	cfg := loop.Config{
		Addr:             *addr,
		Loops:            *loops,
		ReadTimeout:      *readTimeout,
		MaxBufferedInput: *maxBuffered,
		ReusePort:        *reusePort,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if common.TLS() {
		// loop.Config.TLS as its docs recommend: a certificate and
		// crypto/tls's defaults (TLS 1.2+, ALPN http/1.1, session
		// tickets with automatically rotated keys).
		cert, err := common.Certificate()
		if err != nil {
			log.Fatal(err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	srv := loop.New(cfg)
	var broker loop.Broker
	if *natsURLs != "" {
		b, err := natsbroker.New(context.Background(), natsbroker.Options{URLs: strings.Split(*natsURLs, ",")})
		if err != nil {
			log.Fatal(err)
		}
		broker = b
	}
	hub, err := loop.NewHub(loop.HubConfig{Broker: broker})
	if err != nil {
		log.Fatal(err)
	}
	up := &ws.Upgrader{Options: ws.Options{
		Hub:         hub,
		CheckOrigin: func(string, string) bool { return true },
	}}
	hello := []byte("Hello, World!")

	srv.GET("/hello", func(c *loop.Ctx) { c.Bytes(200, "text/plain", hello) })

	srv.GET("/sse", func(c *loop.Ctx) {
		topic := topicOf(c)
		sse.Open(c, sse.Options{Hub: hub}, func(s *sse.Stream) {
			s.Comment("ok") // the same first bytes as the peers send
			_ = s.Join(topic)
		})
	})

	srv.POST("/publish", func(c *loop.Ctx) {
		body := append([]byte(nil), c.Body()...)
		if broker != nil {
			// JetStream acknowledges after a round trip: answer from a
			// goroutine, never block the loop (as cmd/streamd's /chat).
			// 204 = stored in the stream; every node, this one included,
			// delivers it from its JetStream consumer.
			dfr := c.Defer()
			topic := topicOf(c)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if _, err := hub.PublishContext(ctx, topic, loop.Publication{Data: body}); err != nil {
					_ = dfr.Text(503, err.Error())
					return
				}
				_ = dfr.Reply(204, "", nil)
			}()
			return
		}
		if _, err := hub.Publish(topicOf(c), loop.Publication{Data: body}); err != nil {
			c.Error(503, err.Error())
			return
		}
		c.NoContent(204)
	})

	// The body arrives whole in c.Body() (up to the parser's 1 MiB
	// default limit, 413 beyond it); the answer is its decoded length.
	srv.POST("/upload", func(c *loop.Ctx) {
		c.Bytes(200, "text/plain", strconv.AppendInt(nil, int64(len(c.Body())), 10))
	})

	srv.GET("/ws/echo", func(c *loop.Ctx) {
		up.Upgrade(c, ws.Handler{
			OnMessage: func(s *ws.Socket, m ws.Message) {
				if m.Op == ws.OpText {
					_, _ = s.SendText(m.Data)
				} else {
					s.SendBinary(m.Data)
				}
			},
		})
	})

	srv.GET("/ws/sub", func(c *loop.Ctx) {
		topic := topicOf(c)
		up.Upgrade(c, ws.Handler{
			OnOpen: func(s *ws.Socket) { _ = s.Join(topic) },
		})
	})

	srv.GET("/chunked", func(c *loop.Ctx) {
		size, chunk := sizeArgs(c)
		w := chunked.Start(c, chunked.Options{ContentType: "application/octet-stream"})
		buf := make([]byte, chunk)
		for i := range buf {
			buf[i] = 'x'
		}
		left := size
		// Write until the connection is above its high watermark, then
		// continue when it drains: backpressure without a goroutine.
		var pump func()
		pump = func() {
			for left > 0 {
				n := min(left, chunk)
				left -= n
				switch w.Send(buf[:n]) {
				case loop.Dropped:
					return
				case loop.Queued:
					w.OnDrain(pump)
					return
				}
			}
			_ = w.Close()
		}
		pump()
	})

	if *memprofile != "" {
		runtime.MemProfileRate = 1 // exact per-connection figures
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		go func() {
			for range usr1 {
				if f, err := os.Create(*memprofile); err == nil {
					runtime.GC()
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					_ = f.Close()
				}
			}
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *backend == "nethttp" {
		if err := serveNetHTTP(ctx, srv, *addr, *readTimeout); err != nil {
			log.Print(err)
		}
	} else if err := srv.Serve(ctx); err != nil {
		log.Print(err)
	}
	_ = hub.Close()
}

// serveNetHTTP serves srv's routes through its net/http backend in an
// http.Server until ctx ends (SIGTERM), then shuts down as cmd/streamd
// -backend nethttp does: net/http stops accepting while the handler ends
// the streams, both within 5 s. HTTP/1.1 only (Protocols), plaintext, as
// the nethttp peer. ReadHeaderTimeout and IdleTimeout are the library's
// defaults; -read-timeout becomes net/http's ReadTimeout (0: none, as the
// nethttp peer: net/http keeps that deadline on the connection while a
// stream runs, so a default would end every stream after it).
func serveNetHTTP(ctx context.Context, srv *loop.Server, addr string, readTimeout time.Duration) error {
	h := srv.HTTPHandler()
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: loop.DefaultReadHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       loop.DefaultIdleTimeout,
		ErrorLog:          log.New(io.Discard, "", 0),
		Protocols:         new(http.Protocols),
	}
	hs.Protocols.SetHTTP1(true)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- hs.Shutdown(sctx) }() // stops accepting at once
	herr := h.Shutdown(sctx)                    // ends the streams
	serr := <-closed
	<-served // http.ErrServerClosed
	return errors.Join(herr, serr)
}

func topicOf(c *loop.Ctx) string {
	if t, ok := c.Query("topic"); ok && t != "" {
		return t
	}
	return "bench"
}

func sizeArgs(c *loop.Ctx) (size, chunk int) {
	size, chunk = defaultSize, defaultChunk
	if v, ok := c.Query("size"); ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			size = n
		}
	}
	if v, ok := c.Query("chunk"); ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			chunk = min(n, 1<<20)
		}
	}
	return size, chunk
}
