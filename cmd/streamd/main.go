// Command streamd runs the streamd server with its demo pages: a plain
// endpoint for benchmarks, a chunked stream, and (as their packages land)
// the SSE and WebSocket demos.
//
// Configuration comes from flags, each with an environment variable
// fallback (flag wins):
//
//	-addr      STREAMD_ADDR       listen address (default ":8080")
//	-loops     STREAMD_LOOPS      event loops (default: number of CPUs)
//	-log-level STREAMD_LOG_LEVEL  debug, info, warn or error (default info)
//	-shutdown-timeout STREAMD_SHUTDOWN_TIMEOUT  graceful shutdown bound (default 10s)
//	-max-conns-per-ip STREAMD_MAX_CONNS_PER_IP  open connections per client IP, 0 = no limit (default 1000)
//	-read-timeout     STREAMD_READ_TIMEOUT      bound on reading one whole request, head and body (default 30s)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/streamd/streamd/loop"
)

// Defaults of the binary that differ from loop's library defaults: a
// public server wants a per-address cap and a tighter request deadline.
const (
	defaultMaxConnsPerIP = 1000
	defaultReadTimeout   = 30 * time.Second
)

type config struct {
	addr            string
	loops           int
	logLevel        slog.Level
	shutdownTimeout time.Duration
	maxConnsPerIP   int           // 0: no per-address limit
	readTimeout     time.Duration // whole request, head and body
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("streamd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config{}
	envOr := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&cfg.addr, "addr", envOr("STREAMD_ADDR", loop.DefaultAddr), "listen address (env STREAMD_ADDR)")
	loops := fs.String("loops", envOr("STREAMD_LOOPS", strconv.Itoa(runtime.NumCPU())), "event loops (env STREAMD_LOOPS)")
	level := fs.String("log-level", envOr("STREAMD_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env STREAMD_LOG_LEVEL)")
	shutdown := fs.String("shutdown-timeout", envOr("STREAMD_SHUTDOWN_TIMEOUT", loop.DefaultShutdownTimeout.String()), "graceful shutdown bound (env STREAMD_SHUTDOWN_TIMEOUT)")
	perIP := fs.String("max-conns-per-ip", envOr("STREAMD_MAX_CONNS_PER_IP", strconv.Itoa(defaultMaxConnsPerIP)), "open connections per client IP address, 0 for no limit; above it new connections get 503 (env STREAMD_MAX_CONNS_PER_IP)")
	readTimeout := fs.String("read-timeout", envOr("STREAMD_READ_TIMEOUT", defaultReadTimeout.String()), "bound on reading one whole request, head and body; past it 408 (env STREAMD_READ_TIMEOUT)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	n, err := strconv.Atoi(*loops)
	if err != nil || n < 1 || n > 1024 {
		return cfg, fmt.Errorf("invalid -loops %q: want a number from 1 to 1024", *loops)
	}
	cfg.loops = n
	if err := cfg.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return cfg, fmt.Errorf("invalid -log-level %q: want debug, info, warn or error", *level)
	}
	d, err := time.ParseDuration(*shutdown)
	if err != nil || d <= 0 {
		return cfg, fmt.Errorf("invalid -shutdown-timeout %q: want a positive duration like 10s", *shutdown)
	}
	cfg.shutdownTimeout = d
	n, err = strconv.Atoi(*perIP)
	if err != nil || n < 0 {
		return cfg, fmt.Errorf("invalid -max-conns-per-ip %q: want a number, 0 for no limit", *perIP)
	}
	cfg.maxConnsPerIP = n
	d, err = time.ParseDuration(*readTimeout)
	if err != nil || d <= 0 {
		return cfg, fmt.Errorf("invalid -read-timeout %q: want a positive duration like 30s", *readTimeout)
	}
	cfg.readTimeout = d
	return cfg, nil
}

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "streamd:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log, nil); err != nil {
		log.Error("server failed", slog.Any("err", err))
		os.Exit(1)
	}
}

// errStoppedBySelf is run's error when the server stopped although no
// shutdown was asked for (the engine died, for instance on an accept
// error): the process must not exit 0 as after a graceful shutdown.
var errStoppedBySelf = errors.New("server stopped without a shutdown signal")

// run builds the server and serves until ctx is cancelled. ready, if not
// nil, is called with the server and the app once it listens (tests use
// it for the port and the demos' test hooks). It returns nil only after
// a graceful shutdown that ctx asked for.
func run(ctx context.Context, cfg config, log *slog.Logger, ready func(*loop.Server, *app)) error {
	srv := loop.New(loop.Config{
		Addr:            cfg.addr,
		Loops:           cfg.loops,
		ShutdownTimeout: cfg.shutdownTimeout,
		MaxConnsPerIP:   cfg.maxConnsPerIP,
		ReadTimeout:     cfg.readTimeout,
		Logger:          log,
	})
	app := newApp(srv, log)
	app.routes()
	app.start()
	if ready != nil {
		go func() {
			select {
			case <-srv.Ready():
				ready(srv, app)
			case <-ctx.Done():
			}
		}()
	}
	// The server sees the signal only after it is logged, so the log
	// reads in order; a server that stops by itself logs no signal.
	serveCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-ctx.Done():
			log.Info("signal received, shutting down gracefully")
			cancel()
		case <-served:
		}
	}()
	err := srv.Serve(serveCtx)
	close(served)
	<-watched
	app.close()
	if err == nil && serveCtx.Err() == nil {
		err = errStoppedBySelf
	}
	return err
}
