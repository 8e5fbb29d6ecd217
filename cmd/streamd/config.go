package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/streamd/streamd/loop"
)

// Defaults of the binary that differ from loop's library defaults: a
// public server wants a per-address cap and a tighter request deadline.
const (
	defaultMaxConnsPerIP = 1000
	defaultReadTimeout   = 30 * time.Second
)

// maxNATSReplicas is JetStream's limit on a stream's replicas.
const maxNATSReplicas = 5

type config struct {
	addr            string
	loops           int
	logLevel        slog.Level
	shutdownTimeout time.Duration
	maxConnsPerIP   int           // 0: no per-address limit
	readTimeout     time.Duration // whole request, head and body
	accessLog       bool          // one log line per routed request
	store           string        // -store: directory of an embedded NATS JetStream store
	nats            string        // -nats: NATS server URLs, comma-separated
	tlsCert         string        // -tls-cert: PEM certificate chain; with tlsKey, serve HTTPS
	tlsKey          string        // -tls-key: PEM private key
	tlsClientCA     string        // -tls-client-ca: PEM CA(s); client certificates required
	natsReplicas    int           // -nats-replicas: copies of the streams in a JetStream cluster
	backend         string        // -backend: "gnet" (the event loops own the sockets) or "nethttp"
	reusePort       bool          // -reuseport: SO_REUSEPORT, several processes on one port
}

// errVersion is parseConfig's answer to -version: print versionText and
// exit 0, whatever the other flags say.
var errVersion = errors.New("version requested")

const usageHead = `streamd serves long-lived HTTP connections (Server-Sent Events, WebSockets,
chunked responses) from a few event loops, with no goroutine per connection,
and the demo pages at / (SSE clock, chat and calendar, WebSocket chat,
chunked stream).

Usage:
  streamd [flags]

Flags (each falls back to the environment variable named; a flag wins):
`

const usageTail = `
Examples:
  streamd
      serve on :8080 with one event loop per CPU
  streamd -addr 127.0.0.1:9000 -loops 2 -access-log
      two loops on a local port, one log line per request
  streamd -store /var/lib/streamd
      topic history on disk: clients resume exactly after a restart
  streamd -addr :8443 -tls-cert cert.pem -tls-key key.pem
      HTTPS and WSS; kill -HUP reloads the certificate (so does a change
      of the files), open connections keep theirs
  streamd -backend nethttp -addr :8443 -tls-cert cert.pem -tls-key key.pem
      the same demos served by Go's net/http server: HTTP/2, so a browser
      opens more than six event streams to the server
  streamd -nats nats://10.0.0.5:4222,nats://10.0.0.6:4222
      a node of a cluster sharing topics and history through NATS JetStream
  streamd -nats nats://10.0.0.5:4222 -nats-replicas 3
      the same on a 3-server NATS cluster, each message kept on all three
  STREAMD_LOG_LEVEL=debug STREAMD_SHUTDOWN_TIMEOUT=30s streamd
      settings from the environment, as a container sets them: debug logs,
      30 s for streams to end on SIGTERM

SIGINT or SIGTERM shut down gracefully (exit 0); SIGHUP reloads the TLS
certificate. Endpoints: README.md.
`

// parseConfig reads the flags in args, with fallbacks from getenv. -h
// writes the usage to stderr and returns flag.ErrHelp; -version returns
// errVersion.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("streamd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), usageTail)
	}
	cfg := config{}
	envOr := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&cfg.addr, "addr", envOr("STREAMD_ADDR", loop.DefaultAddr), "listen `address`, host:port (env STREAMD_ADDR)")
	loops := fs.String("loops", envOr("STREAMD_LOOPS", strconv.Itoa(runtime.NumCPU())), "`number` of event loops, 1 to 1024; default: the number of CPUs (env STREAMD_LOOPS)")
	level := fs.String("log-level", envOr("STREAMD_LOG_LEVEL", "info"), "log `level`: debug, info, warn, error (env STREAMD_LOG_LEVEL)")
	shutdown := fs.String("shutdown-timeout", envOr("STREAMD_SHUTDOWN_TIMEOUT", loop.DefaultShutdownTimeout.String()), "graceful shutdown bound, a `duration`; connections left after it are closed (env STREAMD_SHUTDOWN_TIMEOUT)")
	perIP := fs.String("max-conns-per-ip", envOr("STREAMD_MAX_CONNS_PER_IP", strconv.Itoa(defaultMaxConnsPerIP)), "open connections per client IP address (a `number`, 0 for no limit); above it new connections get 503 (env STREAMD_MAX_CONNS_PER_IP)")
	readTimeout := fs.String("read-timeout", envOr("STREAMD_READ_TIMEOUT", defaultReadTimeout.String()), "bound on reading one whole request, head and body, a `duration`; past it 408 (env STREAMD_READ_TIMEOUT)")
	accessEnv := getenv("STREAMD_ACCESS_LOG")
	accessDefault, accessEnvErr := false, error(nil)
	if accessEnv != "" {
		if accessDefault, accessEnvErr = strconv.ParseBool(accessEnv); accessEnvErr != nil {
			accessEnvErr = fmt.Errorf("invalid STREAMD_ACCESS_LOG %q: want true or false", accessEnv)
		}
	}
	fs.BoolVar(&cfg.accessLog, "access-log", accessDefault, "log one line per request, at level info: method, path, remote address, duration (env STREAMD_ACCESS_LOG=true)")
	fs.StringVar(&cfg.store, "store", getenv("STREAMD_STORE"), "keep topic history in `dir` (an embedded NATS JetStream file store), so clients resume exactly across restarts (env STREAMD_STORE)")
	natsURLs := fs.String("nats", getenv("STREAMD_NATS"), "share topics and history with other nodes through NATS JetStream at these comma-separated `urls` (env STREAMD_NATS)")
	fs.StringVar(&cfg.tlsCert, "tls-cert", getenv("STREAMD_TLS_CERT"), "serve HTTPS/WSS with this PEM certificate `file` (chain); needs -tls-key; reloaded on SIGHUP and when it changes (env STREAMD_TLS_CERT)")
	fs.StringVar(&cfg.tlsKey, "tls-key", getenv("STREAMD_TLS_KEY"), "the PEM private key `file` of -tls-cert (env STREAMD_TLS_KEY)")
	fs.StringVar(&cfg.tlsClientCA, "tls-client-ca", getenv("STREAMD_TLS_CLIENT_CA"), "require client certificates signed by a CA in this PEM `file` (mutual TLS; env STREAMD_TLS_CLIENT_CA)")
	replicas := fs.String("nats-replicas", envOr("STREAMD_NATS_REPLICAS", "1"), "with -nats: how many servers of the NATS cluster keep the topics' streams, a `number` from 1 to 5, at most the cluster's size; 3 survives the loss of one server (env STREAMD_NATS_REPLICAS)")
	fs.StringVar(&cfg.backend, "backend", envOr("STREAMD_BACKEND", "gnet"), "`name` of the backend that owns the connections: gnet (the event loops, the default) or nethttp (Go's net/http server, with HTTP/2 over TLS; the same handlers on the loops; -max-conns-per-ip does not apply) (env STREAMD_BACKEND)")
	reuseEnv, reuseEnvErr := false, error(nil)
	if v := getenv("STREAMD_REUSEPORT"); v != "" {
		if reuseEnv, reuseEnvErr = strconv.ParseBool(v); reuseEnvErr != nil {
			reuseEnvErr = fmt.Errorf("invalid STREAMD_REUSEPORT %q: want true or false", v)
		}
	}
	fs.BoolVar(&cfg.reusePort, "reuseport", reuseEnv, "set SO_REUSEPORT on the listener, so several streamd processes serve one port (the kernel spreads connections; share topics with -nats); needs a fixed port and the gnet backend (env STREAMD_REUSEPORT=true)")
	version := fs.Bool("version", false, "print the version and build information, then exit")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *version {
		return cfg, errVersion
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if accessEnvErr != nil && !flagSet(fs, "access-log") {
		return cfg, accessEnvErr
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
	cfg.nats = *natsURLs
	if reuseEnvErr != nil && !flagSet(fs, "reuseport") {
		return cfg, reuseEnvErr
	}
	if cfg.reusePort && cfg.backend == "nethttp" {
		return cfg, errors.New("-reuseport needs the gnet backend")
	}
	if cfg.backend != "gnet" && cfg.backend != "nethttp" {
		return cfg, fmt.Errorf("invalid -backend %q: want gnet or nethttp", cfg.backend)
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return cfg, errors.New("-tls-cert and -tls-key go together: give both to serve HTTPS, or neither")
	}
	if cfg.tlsClientCA != "" && cfg.tlsCert == "" {
		return cfg, errors.New("-tls-client-ca needs -tls-cert and -tls-key: client certificates are asked for in a TLS handshake")
	}
	if cfg.store != "" && cfg.nats != "" {
		return cfg, errors.New("-store and -nats exclude each other: a node uses its own store or the cluster's")
	}
	n, err = strconv.Atoi(*replicas)
	if err != nil || n < 1 || n > maxNATSReplicas {
		return cfg, fmt.Errorf("invalid -nats-replicas %q: want a number from 1 to %d", *replicas, maxNATSReplicas)
	}
	if n > 1 && cfg.nats == "" {
		return cfg, errors.New("-nats-replicas above 1 needs -nats: an embedded store (-store) is one server")
	}
	cfg.natsReplicas = n
	return cfg, nil
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// versionText describes the binary from its build information (see
// debug.ReadBuildInfo): the main module's version and, when the build
// recorded them, the VCS revision, its commit time and whether the work
// tree had uncommitted changes.
func versionText(bi *debug.BuildInfo, ok bool) string {
	var b strings.Builder
	if !ok {
		fmt.Fprintf(&b, "streamd (no build information) %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return b.String()
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	fmt.Fprintf(&b, "streamd %s %s %s/%s\n", version, bi.GoVersion, runtime.GOOS, runtime.GOARCH)
	if bi.Main.Path != "" {
		fmt.Fprintf(&b, "module:   %s\n", bi.Main.Path)
	}
	vcs := map[string]string{}
	for _, s := range bi.Settings {
		vcs[s.Key] = s.Value
	}
	if rev := vcs["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, "revision: %s\n", rev)
		if t := vcs["vcs.time"]; t != "" {
			fmt.Fprintf(&b, "time:     %s\n", t)
		}
		if m := vcs["vcs.modified"]; m != "" {
			fmt.Fprintf(&b, "modified: %s\n", m)
		}
	} else {
		b.WriteString("revision: unknown (built without VCS information)\n")
	}
	return b.String()
}
