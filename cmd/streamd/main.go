// Command streamd runs the streamd server with its demo pages: an SSE
// clock, chat and live calendar, a WebSocket chat and echo, a chunked
// stream, a plain endpoint for benchmarks, health and Prometheus metrics.
// README.md lists the endpoints; docs/ARCHITECTURE.md explains the server.
//
// Configuration comes from flags, each with an environment variable
// fallback (flag wins); streamd -h prints them with examples:
//
//	-addr             STREAMD_ADDR              listen address (default ":8080")
//	-loops            STREAMD_LOOPS             event loops (default: number of CPUs)
//	-log-level        STREAMD_LOG_LEVEL         debug, info, warn or error (default info)
//	-shutdown-timeout STREAMD_SHUTDOWN_TIMEOUT  graceful shutdown bound (default 10s)
//	-max-conns-per-ip STREAMD_MAX_CONNS_PER_IP  open connections per client IP, 0 = no limit (default 1000)
//	-read-timeout     STREAMD_READ_TIMEOUT      bound on reading one whole request, head and body (default 30s)
//	-access-log       STREAMD_ACCESS_LOG        one log line per request (default off)
//	-store            STREAMD_STORE             topic history on disk (embedded NATS JetStream)
//	-nats             STREAMD_NATS              share topics through NATS JetStream (URLs)
//	-tls-cert         STREAMD_TLS_CERT          serve HTTPS/WSS with this certificate (with -tls-key)
//	-tls-key          STREAMD_TLS_KEY           its private key
//	-tls-client-ca    STREAMD_TLS_CLIENT_CA     require client certificates from this CA
//	-nats-replicas    STREAMD_NATS_REPLICAS     servers of a NATS cluster keeping each message (default 1)
//	-backend          STREAMD_BACKEND           gnet (default) or nethttp (Go's net/http owns the sockets)
//	-reuseport        STREAMD_REUSEPORT         SO_REUSEPORT: several processes on one port
//	-version                                    print the version and VCS revision, then exit
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/natsbroker"
)

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		if errors.Is(err, errVersion) {
			fmt.Print(versionText(debug.ReadBuildInfo()))
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
// openBroker connects the hub's broker: NATS JetStream for -nats, an
// embedded JetStream store for -store, none (the in-process hub) without
// either. The returned func closes it.
func openBroker(ctx context.Context, cfg config, log *slog.Logger) (loop.Broker, func(), error) {
	opts := natsbroker.Options{Logger: log}
	switch {
	case cfg.nats != "":
		opts.URLs = strings.Split(cfg.nats, ",")
		opts.Replicas = cfg.natsReplicas
		b, err := natsbroker.New(ctx, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("NATS %s: %w", cfg.nats, err)
		}
		log.Info("topics shared through NATS JetStream", slog.String("nats", cfg.nats), slog.Int("replicas", max(cfg.natsReplicas, 1)), slog.String("epoch", b.Epoch()))
		return b, func() { _ = b.Close() }, nil
	case cfg.store != "":
		b, stop, err := natsbroker.Embedded(ctx, cfg.store, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("store %s: %w", cfg.store, err)
		}
		log.Info("topic history kept on disk", slog.String("store", cfg.store), slog.String("epoch", b.Epoch()))
		return b, func() { _ = stop() }, nil
	}
	return nil, func() {}, nil
}

func run(ctx context.Context, cfg config, log *slog.Logger, ready func(net.Addr, *loop.Server, *app)) error {
	if cfg.backend == "" {
		cfg.backend = "gnet"
	}
	lc := loop.Config{
		Addr:            cfg.addr,
		Loops:           cfg.loops,
		ShutdownTimeout: cfg.shutdownTimeout,
		MaxConnsPerIP:   cfg.maxConnsPerIP,
		ReadTimeout:     cfg.readTimeout,
		ReusePort:       cfg.reusePort,
		Logger:          log,
	}
	if cfg.tlsCert != "" {
		certs, err := newCertReloader(cfg.tlsCert, cfg.tlsKey, log)
		if err != nil {
			return err
		}
		if lc.TLS, err = tlsConfig(cfg, certs); err != nil {
			return err
		}
		watchCtx, stopWatch := context.WithCancel(context.Background())
		watched := make(chan struct{})
		go func() { certs.watch(watchCtx); close(watched) }()
		defer func() { stopWatch(); <-watched }()
	}
	srv := loop.New(lc)
	broker, closeBroker, err := openBroker(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeBroker()
	app := newApp(srv, log, broker)
	if cfg.accessLog {
		app.srv.access = log
	}
	app.routes()
	app.start()
	if ready != nil && cfg.backend == "gnet" {
		go func() {
			select {
			case <-srv.Ready():
				ready(srv.Addr(), srv, app)
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
	if cfg.backend == "nethttp" {
		err = serveNetHTTP(serveCtx, cfg, lc, srv, log, func(a net.Addr) {
			if ready != nil {
				ready(a, srv, app)
			}
		})
	} else {
		err = srv.Serve(serveCtx)
	}
	close(served)
	<-watched
	app.close()
	if err == nil && serveCtx.Err() == nil {
		err = errStoppedBySelf
	}
	return err
}
