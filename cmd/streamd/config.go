package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
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
