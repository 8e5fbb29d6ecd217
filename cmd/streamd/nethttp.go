package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/streamd/streamd/loop"
)

// serveNetHTTP serves srv's routes with Go's net/http server (-backend
// nethttp) until ctx ends: the same handlers run on the loops of srv's
// net/http backend (loop.Server.HTTPHandler), net/http owns the sockets,
// TLS and HTTP/2. ready is called with the address once it listens. On
// shutdown the streams are told to end first (as with the gnet backend),
// while net/http stops accepting and waits for its connections.
func serveNetHTTP(ctx context.Context, cfg config, lc loop.Config, srv *loop.Server, log *slog.Logger, ready func(net.Addr)) error {
	h := srv.HTTPHandler()
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: loop.DefaultReadHeaderTimeout,
		ReadTimeout:       cfg.readTimeout,
		IdleTimeout:       loop.DefaultIdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("net/http backend: %w", err)
	}
	if lc.TLS != nil {
		hs.TLSConfig = lc.TLS.Clone()
		hs.TLSConfig.NextProtos = []string{"h2", "http/1.1"}
	}
	log.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("backend", "nethttp"),
		slog.Bool("tls", lc.TLS != nil), slog.Int("loops", lc.Loops))
	ready(ln.Addr())
	served := make(chan error, 1)
	go func() {
		if hs.TLSConfig != nil {
			served <- hs.Serve(tls.NewListener(ln, hs.TLSConfig))
		} else {
			served <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-served:
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = h.Shutdown(sctx)
		return fmt.Errorf("net/http backend: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout+5*time.Second)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- hs.Shutdown(sctx) }() // stops accepting at once
	herr := h.Shutdown(sctx)                    // ends the streams
	serr := <-closed
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("net/http backend: %w", err)
	}
	log.Info("server stopped", slog.String("backend", "nethttp"))
	return errors.Join(herr, serr)
}
