package loop

import (
	"crypto/tls"
	"log/slog"
	"runtime"
	"syscall"
	"time"

	"github.com/streamd/streamd/httpcodec"
)

// Defaults for Config fields left at their zero value.
const (
	DefaultAddr              = ":8080"
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultShutdownTimeout   = 10 * time.Second
	DefaultReplyTimeout      = 30 * time.Second
	DefaultHighWatermark     = 256 << 10
	DefaultLowWatermark      = 64 << 10
	DefaultQueueLimit        = 1 << 16
	DefaultMaxPendingInput   = 256 << 10
	DefaultMaxBufferedInput  = 64 << 20

	// TickInterval is the resolution of the per-loop timing wheel: every
	// deadline (header read, idle, heartbeat, ping) fires within one tick
	// after it is due.
	TickInterval = 100 * time.Millisecond

	// fdReserve is how many file descriptors the default MaxConns leaves
	// free for the listener, the pollers, log files and outbound sockets.
	// Accept errors such as EMFILE are survived anyway (see Serve), but a
	// server that refuses with 503 is friendlier than one that cannot
	// accept.
	fdReserve = 256
)

// Config configures a Server. The zero value of every field means its
// default; New fills them in.
type Config struct {
	// Addr is the TCP address to listen on, "host:port". Port 0 picks a
	// free port; Server.Addr reports it once the server is ready.
	Addr string
	// Loops is the number of event loops (one goroutine each, locked to
	// an OS thread). Default: runtime.NumCPU().
	Loops int
	// MaxConns caps open connections; above it a new connection gets
	// "503 Service Unavailable" with "Connection: close" and is closed.
	// Default: the process's RLIMIT_NOFILE minus a reserve of 256.
	MaxConns int
	// MaxConnsPerIP caps open connections from one client IP address, so
	// one host cannot take every slot; above it a new connection gets 503
	// and is closed. 0 (the default) means no per-address limit.
	MaxConnsPerIP int

	// ReadHeaderTimeout bounds the time from the first byte of a request
	// (or from accept, for the first request) until its head is complete;
	// past it the client gets 408 and the connection is closed.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the time from the first byte of a request until
	// the request, head and body, is complete (net/http's ReadTimeout);
	// past it the client gets 408 and the connection is closed. A slow
	// body trickled a byte at a time cannot hold its buffer longer.
	ReadTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that has sent no request
	// for this long. It does not apply to connections that carry a stream.
	IdleTimeout time.Duration
	// WriteTimeout closes a connection whose queued output has made no
	// progress for this long (a peer that stopped reading).
	WriteTimeout time.Duration
	// ReplyTimeout bounds the time from Ctx.Defer to Deferred.Reply. Past
	// it the client gets "503 Service Unavailable" and the connection
	// closes; a later Reply returns ErrReplyTimeout. Without it a reply
	// that never comes (a lost goroutine, a backend that hangs) would
	// hold the connection and the requests pipelined behind it forever.
	ReplyTimeout time.Duration
	// ShutdownTimeout bounds graceful shutdown; connections still open
	// after it are closed.
	ShutdownTimeout time.Duration

	// Limits for the HTTP parser (header, URI and body sizes).
	Limits httpcodec.Limits

	// HighWatermark and LowWatermark bound each connection's queued output
	// in bytes. Above HighWatermark a connection is under backpressure:
	// Conn.Write reports Queued and producers pause; once the queue falls
	// to LowWatermark the connection's Mode gets OnDrain.
	HighWatermark int
	LowWatermark  int

	// QueueLimit bounds each loop's cross-goroutine task queue. Post
	// returns ErrQueueFull when it is reached; the caller decides whether
	// to drop, retry or close (see the sse, ws and chunked packages).
	QueueLimit int

	// MaxPendingInput bounds input a connection may buffer while it cannot
	// be processed (a deferred reply is outstanding or a stream ignores
	// input); past it the connection is closed.
	MaxPendingInput int

	// MaxBufferedInput is the server-wide budget, in bytes, for input held
	// between reads: partly received requests (heads and bodies, chunked
	// bodies decoded) and input waiting for a stream. A connection whose
	// input would take the total past it gets 503 and is closed. Default
	// DefaultMaxBufferedInput (64 MiB: 64 requests at the default body
	// limit in flight at once).
	MaxBufferedInput int

	// ReusePort sets SO_REUSEPORT on the listener, so several processes
	// can serve one port (the kernel spreads connections between them).
	// It needs a fixed port (Serve refuses ":0").
	ReusePort bool

	// TLS, when set, makes the server speak HTTPS (and wss) on Addr with
	// crypto/tls: TLS 1.2 at least, ALPN "http/1.1" unless NextProtos is
	// set ("h2" is refused: the loop speaks HTTP/1.1). The server uses a
	// clone; to rotate certificates, set GetCertificate. Session tickets
	// are on with crypto/tls's automatically rotated keys unless the
	// config says otherwise. See tls.go for how TLS runs on the loop.
	TLS *tls.Config
	// TLSHandshakeTimeout bounds a TLS handshake, from accept to its end.
	// Default DefaultTLSHandshakeTimeout.
	TLSHandshakeTimeout time.Duration
	// MaxTLSHandshakes bounds the TLS handshakes computing at once (each
	// runs on a goroutine of its own, off the loops): a handshake holds a
	// slot while crypto/tls works on what its client sent (a ClientHello
	// until the server's reply is written; the client's Finished), and
	// gives it back while it waits for the client. At the limit, a
	// handshake whose client sent something waits for a slot
	// (Stats.TLSHandshakeWaiting). A client that sends nothing, or sends
	// slowly, holds no slot: it costs a goroutine and a socket, counted in
	// MaxConns, for at most TLSHandshakeTimeout. Default
	// DefaultMaxTLSHandshakes.
	MaxTLSHandshakes int

	// Logger receives structured logs. Default: slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	orDefault(&c.Loops, runtime.NumCPU())
	orDefault(&c.MaxConns, defaultMaxConns())
	orDefault(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	orDefault(&c.ReadTimeout, DefaultReadTimeout)
	orDefault(&c.IdleTimeout, DefaultIdleTimeout)
	orDefault(&c.WriteTimeout, DefaultWriteTimeout)
	orDefault(&c.ShutdownTimeout, DefaultShutdownTimeout)
	orDefault(&c.ReplyTimeout, DefaultReplyTimeout)
	orDefault(&c.HighWatermark, DefaultHighWatermark)
	if c.LowWatermark <= 0 || c.LowWatermark >= c.HighWatermark {
		c.LowWatermark = min(DefaultLowWatermark, c.HighWatermark/4)
	}
	orDefault(&c.QueueLimit, DefaultQueueLimit)
	orDefault(&c.MaxPendingInput, DefaultMaxPendingInput)
	orDefault(&c.MaxBufferedInput, DefaultMaxBufferedInput)
	c.MaxConnsPerIP = max(c.MaxConnsPerIP, 0)
	orDefault(&c.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout)
	orDefault(&c.MaxTLSHandshakes, DefaultMaxTLSHandshakes)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// orDefault sets *v to def when it is unset (zero or negative).
func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// defaultMaxConns derives the connection cap from RLIMIT_NOFILE (the Go
// runtime has already raised the soft limit to the hard limit).
func defaultMaxConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1024
	}
	n := int(min(rl.Cur, 1<<22)) - fdReserve
	return max(n, 64)
}
