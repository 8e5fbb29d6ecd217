package loop

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/streamd/streamd/httpcodec"
)

// Server is an HTTP/1.1 server on gnet event loops. Register routes, then
// call Serve.
//
// # Accepting
//
// The server owns its listener (Go's, with SO_REUSEADDR, so a restarted
// server binds at once) and one accept goroutine that applies
// Config.MaxConns and Config.MaxConnsPerIP (503 above them) and hands each
// connection to the least busy gnet loop. Accept errors such as EMFILE
// back off (5 ms doubling to 1 s, as net/http) and never stop the server;
// gnet's own accept would stop its whole engine on them. Shutdown closes
// the listener first, so clients see a refused connection and retry.
//
// # Request flow
//
// On each read event the loop parses every complete request in the
// connection's input with httpcodec (in place: no copy of the input),
// routes it by method and path, runs the handler, and appends all the
// responses to one per-loop buffer that is written with a single system
// call at the end of the event — pipelined requests are answered in
// order with one write. Only a request that is incomplete at the end of a
// read is copied, once, into a per-connection buffer that grows by what
// arrives; the parser resumes where it stopped and decodes chunked bodies
// in place. A handler that needs slow work calls Ctx.Defer and answers
// from a goroutine; requests pipelined behind it wait, so the order holds.
// A handler that streams hands the connection to a protocol package
// (sse, ws, chunked), which owns its bytes until it ends the stream;
// whatever ends it (its
// handler, a timer, a drain, a goroutine, another connection's callback),
// the requests pipelined behind it are served next.
//
// # Timers, limits and backpressure
//
// Each loop has a hashed timing wheel (TickInterval resolution) for the
// header, request and idle deadlines, input pauses and the modes'
// heartbeats and pings: one entry per connection, no time.Timer per
// connection. Output queued above Config.HighWatermark makes sends report
// Queued; producers pause until it falls to Config.LowWatermark (on Linux a
// per-loop epoll instance reports writable sockets, elsewhere a 1 ms poll
// of the loop's backed-up connections). While its output is above the high
// watermark a connection is not read at all: the bytes stay in the kernel
// and TCP slows the client (read backpressure). Output that makes no
// progress for Config.WriteTimeout closes the connection.
//
// What one client can make the server hold is bounded by configuration:
// output by the watermarks, a request by httpcodec.Limits and
// Config.ReadTimeout, input waiting for a stream by Config.MaxPendingInput,
// all buffered request input together by Config.MaxBufferedInput, its
// connections by Config.MaxConnsPerIP. Every queue is bounded: the
// per-loop task queue by Config.QueueLimit (Post returns ErrQueueFull),
// goroutine sends per stream by their Sender's limit, hub backlogs by
// HubConfig.MaxBacklog. Why a connection closed is counted in
// Stats.Closes and reported to its stream.
//
// # Concurrency
//
// Route registration (Handle, GET, ...) must finish before Serve.
// Addr, Ready, Stats, Loops and Serve's cancellation are safe from any
// goroutine.
type Server struct {
	cfg    Config
	log    *slog.Logger
	router *router
	start  time.Time

	eng     gnet.Engine
	cli     *gnet.Client // the event loops; accepted connections are enrolled into it
	addr    atomic.Pointer[net.TCPAddr]
	ready   chan struct{}
	serving atomic.Bool

	loopsMu    sync.Mutex
	loops      atomic.Pointer[[]*eventLoop]
	yieldPeers []net.Conn // dialled ends of the loops' yield connections (bindLoops)

	connIDs  atomic.Uint64
	draining atomic.Bool
	stopped  chan struct{}

	ips           perIP
	bufferedInput atomic.Int64 // bytes of pending input, all connections (Config.MaxBufferedInput)
	bufferedPeak  atomic.Int64
	acceptErrors  atomic.Int64
	refused       atomic.Int64 // refused by the accept loop (MaxConns, MaxConnsPerIP)

	// TLS (tls.go): nil tlsConf = plain TCP.
	tlsConf     *tls.Config
	hsSlots     chan struct{} // one per handshake computing (hsConn)
	hsWaiting   atomic.Int64  // handshakes with input, waiting for a slot
	hsWG        sync.WaitGroup
	hsMu        sync.Mutex
	hsConns     map[net.Conn]struct{} // sockets in a handshake; nil once Serve stops accepting
	handshaking atomic.Int64
	tlsDone     atomic.Int64
	tlsFailed   atomic.Int64

	// The net/http backend (nethttp.go), once HTTPHandler was called.
	httpOnce sync.Once
	httpH    *HTTPHandler
	frozen   atomic.Bool // routes are fixed
	vloops   atomic.Pointer[[]*eventLoop]

	// died receives the error of event loops that stopped on their own.
	died     chan error
	stopping atomic.Bool // Serve is stopping the engine itself
}

// New creates a server; zero Config fields take their defaults.
func New(cfg Config) *Server {
	cfg.setDefaults()
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		router:  newRouter(),
		start:   time.Now(),
		ready:   make(chan struct{}),
		stopped: make(chan struct{}),
		died:    make(chan error, 1),
	}
	empty := []*eventLoop{}
	s.loops.Store(&empty)
	return s
}

// Config returns the server's configuration with defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Handle registers h for method and pattern. A pattern is an exact path
// ("/hello") or has ":name" segments ("/rooms/:room"). HEAD requests use
// the GET handler when no HEAD handler is registered. Panics on a
// duplicate or malformed route.
func (s *Server) Handle(method, pattern string, h HandlerFunc) {
	if s.serving.Load() || s.frozen.Load() {
		panic("BUG: loop: route registered after Serve or HTTPHandler")
	}
	s.router.add(method, pattern, h)
}

// GET registers a GET route.
func (s *Server) GET(pattern string, h HandlerFunc) { s.Handle("GET", pattern, h) }

// POST registers a POST route.
func (s *Server) POST(pattern string, h HandlerFunc) { s.Handle("POST", pattern, h) }

// Ready is closed once the server accepts connections.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the listening address once Ready is closed (nil before).
func (s *Server) Addr() *net.TCPAddr { return s.addr.Load() }

// Loops returns every event loop of the server, Config.Loops of them,
// in Index order, once Ready is closed (none before). Safe from any
// goroutine.
func (s *Server) Loops() []*Loop {
	els := *s.loops.Load()
	out := make([]*Loop, len(els))
	for i, el := range els {
		out[i] = el.handle
	}
	return out
}

// engineStopped records that the event loops stopped; unless Serve is
// stopping them itself, Serve returns ErrEngineStopped.
func (s *Server) engineStopped(err error) {
	if s.stopping.Load() {
		return
	}
	select {
	case s.died <- fmt.Errorf("%w: %v", ErrEngineStopped, err):
	default:
	}
}

func (s *Server) openConns() int64 {
	var n int64
	for _, el := range *s.loops.Load() {
		n += el.stats.open.Load()
	}
	return n + s.handshaking.Load()
}

// tickNow is the current wheel tick. It starts at 1: Conn uses tick 0 as
// "no deadline" (headerStart, modeAt), so a connection accepted in the
// server's first TickInterval must not see tick 0.
func (s *Server) tickNow() int32 { return int32(time.Since(s.start)/TickInterval) + 1 }

// Serve listens on Config.Addr and serves until ctx is cancelled, then
// shuts down gracefully: it closes the listener (new clients get a refused
// connection and retry elsewhere), lets in-flight responses finish, tells
// streams to end, and after Config.ShutdownTimeout closes whatever is
// left. It returns nil after a clean shutdown, an error if it could not
// start, and an error wrapping ErrEngineStopped if the event loops stopped
// without being asked to. Accept errors (EMFILE and the like) never stop
// it: accepting backs off and retries (see Stats.AcceptErrors).
func (s *Server) Serve(ctx context.Context) error {
	if !s.serving.CompareAndSwap(false, true) {
		return errors.New("loop: Serve called twice")
	}
	defer close(s.stopped)
	addr := s.cfg.Addr
	if s.cfg.ReusePort && strings.HasSuffix(addr, ":0") {
		// Each process would bind its own random port.
		return errors.New("loop: ReusePort needs a fixed port, not :0")
	}
	if s.cfg.TLS != nil {
		conf, err := serverTLS(s.cfg.TLS)
		if err != nil {
			return err
		}
		s.tlsConf = conf
		s.hsSlots = make(chan struct{}, s.cfg.MaxTLSHandshakes)
	}
	s.hsConns = make(map[net.Conn]struct{})
	ln, err := s.listen(addr)
	if err != nil {
		return fmt.Errorf("loop: serve %s: %w", s.cfg.Addr, err)
	}
	h := &handler{srv: s}
	cli, err := gnet.NewClient(h,
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(s.cfg.Loops),
		gnet.WithLockOSThread(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{s.log}),
	)
	if err == nil {
		err = cli.Start()
	}
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("loop: serve %s: %w", s.cfg.Addr, err)
	}
	s.cli = cli
	s.bindLoops()
	ta, _ := ln.Addr().(*net.TCPAddr)
	s.addr.Store(ta)
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "listening",
		slog.String("addr", fmt.Sprint(ta)), slog.Bool("tls", s.tlsConf != nil), slog.Int("loops", s.cfg.Loops),
		slog.Int("max_conns", s.cfg.MaxConns), slog.Int("max_conns_per_ip", s.cfg.MaxConnsPerIP))
	close(s.ready)

	tickDone := make(chan struct{})
	tickStop := make(chan struct{})
	go s.ticker(tickStop, tickDone)
	acceptStop := make(chan struct{})
	acceptDone := make(chan error, 1)
	go func() { acceptDone <- s.acceptLoop(ln, acceptStop) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-s.died:
	case serveErr = <-acceptDone:
		serveErr = fmt.Errorf("loop: accept on %s: %w", ta, serveErr)
		acceptDone <- nil
	}
	// Stop accepting first: clients of a draining server get a network
	// error and reconnect (to this address once a new server binds it).
	close(acceptStop)
	_ = ln.Close()
	<-acceptDone
	// Handshakes in flight end now (crypto/tls closes their sockets); none
	// is handed to a loop after this.
	s.stopHandshakes()
	s.hsWG.Wait()
	if serveErr == nil {
		s.shutdown()
	}
	s.stopping.Store(true)
	close(tickStop)
	<-tickDone
	// Cut what the drain left before the loops stop (gnet runs its own
	// stop task before ours, and would close them without a reason).
	closeAll(*s.loops.Load())
	_ = cli.Stop()
	stopLoops(*s.loops.Load())
	s.closeYields()
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "server stopped", slog.Int64("open", s.openConns()))
	return serveErr
}

// ticker drives every loop's timing wheel and the Date header cache.
func (s *Server) ticker(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	s.tickLoops(stop, func() []*eventLoop { return *s.loops.Load() })
}

// tickLoops drives the timing wheels of the loops loops returns, and the
// Date header cache, until stop is closed (Serve's loops, and the net/http
// backend's).
func (s *Server) tickLoops(stop <-chan struct{}, loops func() []*eventLoop) {
	t := time.NewTicker(TickInterval)
	defer t.Stop()
	lastSec := time.Now().Unix()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			if sec := now.Unix(); sec != lastSec {
				lastSec = sec
				httpcodec.RefreshDate(now)
			}
			tick := s.tickNow()
			for _, el := range loops() {
				_ = el.post(func() { el.tick(tick) })
			}
		}
	}
}

// closeAll closes every connection still open on els, on their loops, and
// waits (at most 5 s) until they have.
func closeAll(els []*eventLoop) {
	var closing sync.WaitGroup
	for _, el := range els {
		closing.Add(1)
		if el.postControl(func() { el.closeAll(); closing.Done() }) != nil {
			closing.Done()
		}
	}
	waitTimeout(&closing, 5*time.Second)
}

// stopLoops refuses further tasks on els and stops their timers, once
// their goroutines are gone.
func stopLoops(els []*eventLoop) {
	for _, el := range els {
		el.queue.stop()
		el.stopTimers()
	}
}

// loopFor finds the eventLoop of a gnet loop (bindLoops made them all);
// it creates one only if bindLoops missed that loop.
func (s *Server) loopFor(gl gnet.EventLoop) *eventLoop {
	for _, el := range *s.loops.Load() {
		if el.gl == gl {
			return el
		}
	}
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	old := *s.loops.Load()
	for _, el := range old {
		if el.gl == gl {
			return el
		}
	}
	el := newEventLoop(s, gl, len(old))
	nl := append(append([]*eventLoop(nil), old...), el)
	s.loops.Store(&nl)
	return el
}

// bindLoops creates the state of every gnet loop before the first client
// connects, so Loops, the ticker and shutdown cover all of them. gnet has
// no API that lists its loops, but its Client enrolls a connection on the
// loop with the fewest connections and returns once it is registered
// there: one placeholder connection per loop, each kept open, lands on
// each loop in turn, and its gnet.Conn names the loop. The placeholders
// stay open as the loops' yield connections (yield.go; OnOpen ignores
// them). They are loopback TCP connections (a socketpair's peer
// address, which gnet reads, is not portable). Should this fail, a loop is
// still created on its first connection (loopFor).
func (s *Server) bindLoops() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln, err = net.Listen("tcp", "[::1]:0")
	}
	for err == nil && len(*s.loops.Load()) < s.cfg.Loops && len(s.yieldPeers) < s.cfg.Loops {
		err = s.enrollPlaceholder(ln)
	}
	if ln != nil {
		_ = ln.Close()
	}
	if n := len(*s.loops.Load()); n < s.cfg.Loops {
		s.log.LogAttrs(context.Background(), slog.LevelWarn, "some event loops are listed only once they serve a connection",
			slog.Int("listed", n), slog.Int("loops", s.cfg.Loops), slog.Any("err", err))
	}
}

// enrollPlaceholder connects to ln and enrolls the accepted end with gnet.
// The placeholder stays open as its loop's yield connection (yield.go);
// the dialled ends are closed by closeYields once the loops have stopped.
func (s *Server) enrollPlaceholder(ln net.Listener) error {
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	s.yieldPeers = append(s.yieldPeers, c)
	nc, err := ln.Accept()
	if err != nil {
		return err
	}
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		_ = nc.Close()
		return err
	}
	y := &yieldConn{peer: c, raw: raw}
	gc, err := s.cli.EnrollContext(nc, y) // closes nc: gnet dups it
	if err != nil {
		return err
	}
	el := s.loopFor(gc.EventLoop())
	return el.postControl(func() { el.installYield(y) })
}

// closeYields closes the dialled ends of the yield connections.
func (s *Server) closeYields() {
	for _, c := range s.yieldPeers {
		_ = c.Close()
	}
	s.yieldPeers = nil
}

func (s *Server) logDebug(msg string, c *Conn, err error) {
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelDebug, msg,
		slog.Uint64("conn_id", c.id), slog.Any("remote", c.RemoteAddr()), slog.Any("err", err))
}

// handler adapts gnet's callbacks.
type handler struct {
	gnet.BuiltinEventEngine
	srv *Server
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	h.srv.eng = eng
	return gnet.None
}

func (h *handler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	var tr *tlsTransport
	switch ctx := gc.Context().(type) {
	case *yieldConn:
		return nil, gnet.None
	case *tlsTransport:
		tr = ctx
	}
	el := h.srv.loopFor(gc.EventLoop())
	c, ok := el.onOpen(gc)
	if ok {
		gc.SetContext(c)
	}
	switch {
	case !ok && tr != nil:
		return nil, gnet.Close // plain text would be garbage to a TLS client
	case !ok:
		return refusal, gnet.Close
	case tr != nil:
		el.openTLS(c, tr)
	}
	return nil, gnet.None
}

func (h *handler) OnClose(gc gnet.Conn, err error) gnet.Action {
	switch x := gc.Context().(type) {
	case *Conn:
		x.el.onClose(x, err)
	case *yieldConn:
		if el := x.el; el != nil && el.yield == x {
			el.yieldClosed()
		}
	}
	return gnet.None
}

func (h *handler) OnTraffic(gc gnet.Conn) gnet.Action {
	switch x := gc.Context().(type) {
	case *Conn:
		x.el.drainedSinceIO = false
		x.el.onTraffic(x)
	case *yieldConn:
		_, _ = gc.Discard(-1)
		if x.el != nil {
			x.el.onYield()
		}
	default:
		return gnet.Close
	}
	return gnet.None
}

// gnetLogger forwards gnet's printf-style logs to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.log(slog.LevelDebug, f, a) }
func (g gnetLogger) Infof(f string, a ...any)  { g.log(slog.LevelInfo, f, a) }
func (g gnetLogger) Warnf(f string, a ...any)  { g.log(slog.LevelWarn, f, a) }
func (g gnetLogger) Errorf(f string, a ...any) { g.log(slog.LevelError, f, a) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.log(slog.LevelError, f, a) }

func (g gnetLogger) log(level slog.Level, f string, a []any) {
	if g.l.Enabled(context.Background(), level) {
		g.l.LogAttrs(context.Background(), level, fmt.Sprintf(f, a...), slog.String("component", "gnet"))
	}
}
