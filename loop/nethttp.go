package loop

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamd/streamd/httpcodec"
)

// The net/http backend: the routes of a Server, with the very same
// handlers (sse.Open, ws.Upgrade, chunked.Start and Go, hub topics,
// resume, slow-subscriber policies), served inside an existing net/http
// server. net/http owns the sockets, TLS and HTTP/2 and runs its goroutine
// per connection; the handlers run on the backend's own event loops (one
// goroutine each, Config.Loops of them), exactly as on the gnet loops,
// and a hub can serve subscribers of both backends at once.
//
// How a request goes: ServeHTTP turns the *http.Request back into an
// HTTP/1.1 request (the body read first, within Limits.MaxBodyBytes) and
// hands it to a loop as the input of a virtual connection (vconn); the
// loop parses and routes it as any request. What the loop writes on the
// virtual connection is an HTTP/1.1 response: ServeHTTP's goroutine reads
// it back (respWriter) into the ResponseWriter — status and headers, then
// the body, flushed after every burst (a chunked body is unframed, its
// trailers become net/http trailers). It returns when the response is
// complete or the connection closed. A WebSocket upgrade (101) hijacks the
// connection (HTTP/1.1 only) and from then on bytes pass through both
// ways. Output queued on a virtual connection counts as on a socket: the
// same watermarks, drain callbacks, send outcomes and WriteTimeout.
//
// Differences from the gnet backend, by construction:
//   - one request per virtual connection: keep-alive and pipelining are
//     net/http's; a stream that ends ends its response, not the TCP
//     connection (over HTTP/1.1 net/http may keep that open);
//   - WebSocket needs HTTP/1.1 (a hijack): over HTTP/2 ws.Upgrade gets no
//     Upgrade header and answers as for any non-WebSocket request (RFC
//     8441 is not supported);
//   - the body is read by net/http before the handler runs (the gnet
//     backend's ReadTimeout, input budget and 100-continue do not apply;
//     net/http's own timeouts do);
//   - Conn.TLS reports net/http's TLS state; MaxConns and MaxConnsPerIP do
//     not apply (net/http accepts).

// HTTPHandler serves a Server's routes inside a net/http server. Create
// it with Server.HTTPHandler; stop it with Shutdown.
type HTTPHandler struct {
	s      *Server
	loops  []*eventLoop
	next   atomic.Uint32
	closed atomic.Bool
	stop   chan struct{}
	wg     sync.WaitGroup // loop and ticker goroutines
	served sync.WaitGroup // ServeHTTP calls
	once   sync.Once
}

// HTTPHandler returns the server's net/http backend, starting its event
// loops on the first call (later calls return the same handler). Register
// every route first: the routes are fixed from here on. The backend runs
// until Shutdown, whether or not Serve runs too; both share the routes
// and whatever hubs the handlers use. Safe from any goroutine.
func (s *Server) HTTPHandler() *HTTPHandler {
	s.httpOnce.Do(func() {
		s.frozen.Store(true)
		h := &HTTPHandler{s: s, stop: make(chan struct{})}
		for i := range s.cfg.Loops {
			el := newEventLoop(s, nil, i)
			el.vl = &virtualLoop{el: el, wakeC: make(chan struct{}, 1)}
			h.loops = append(h.loops, el)
		}
		s.vloops.Store(&h.loops)
		for _, el := range h.loops {
			h.wg.Add(1)
			go func() { defer h.wg.Done(); el.vl.run(h.stop) }()
		}
		h.wg.Add(1)
		go func() { defer h.wg.Done(); h.ticker() }()
		s.httpH = h
	})
	return s.httpH
}

// virtualLoop drives an eventLoop of the net/http backend: one goroutine
// runs its tasks (requests, output progress, timers, posts), as gnet's
// loop goroutine does.
type virtualLoop struct {
	el    *eventLoop
	wakeC chan struct{}
}

func (vl *virtualLoop) wake() error {
	select {
	case vl.wakeC <- struct{}{}:
	default: // a wake-up is pending: it takes every queued task
	}
	return nil
}

func (vl *virtualLoop) run(stop <-chan struct{}) {
	vl.el.noteThread()
	for {
		select {
		case <-vl.wakeC:
			vl.el.drainTasks()
		case <-stop:
			return
		}
	}
}

func (h *HTTPHandler) ticker() {
	t := time.NewTicker(TickInterval)
	defer t.Stop()
	lastSec := time.Now().Unix()
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			if sec := now.Unix(); sec != lastSec {
				lastSec = sec
				httpcodec.RefreshDate(now)
			}
			tick := h.s.tickNow()
			for _, el := range h.loops {
				_ = el.post(func() { el.tick(tick) })
			}
		}
	}
}

// Shutdown ends the backend gracefully: new requests get 503, streams are
// told to end (their modes' OnShutdown), and what is left open when ctx
// ends or Config.ShutdownTimeout passes is closed; then the loops stop.
// ServeHTTP calls still running return. Safe from any goroutine; later
// calls return at once.
func (h *HTTPHandler) Shutdown(ctx context.Context) error {
	if !h.closed.CompareAndSwap(false, true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, h.s.cfg.ShutdownTimeout)
	defer cancel()
	for _, el := range h.loops {
		_ = el.postControl(el.shutdown)
	}
	for h.open() > 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	var closing sync.WaitGroup
	for _, el := range h.loops {
		closing.Add(1)
		if el.postControl(func() { el.closeAll(); closing.Done() }) != nil {
			closing.Done()
		}
	}
	waitTimeout(&closing, 5*time.Second)
	h.served.Wait()
	close(h.stop)
	h.wg.Wait()
	for _, el := range h.loops {
		el.queue.stop()
		el.stopTimers()
	}
	return ctx.Err()
}

func (h *HTTPHandler) open() int64 {
	var n int64
	for _, el := range h.loops {
		n += el.stats.open.Load()
	}
	return n
}

var errBodyTooLarge = errors.New("request body too large")

// ServeHTTP serves one request with the Server's routes.
func (h *HTTPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.served.Add(1)
	defer h.served.Done()
	if h.closed.Load() {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	req, err := requestBytes(r, h.s.cfg.Limits.MaxBodyBytes)
	switch {
	case errors.Is(err, errBodyTooLarge):
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, "reading the request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	el := h.loops[int(h.next.Add(1))%len(h.loops)]
	vc := &vconn{el: el, in: req, signal: make(chan struct{}, 1), tls: r.TLS}
	vc.remote, vc.local = tcpAddr(r.RemoteAddr), localAddr(r)
	vc.resp.w, vc.resp.rc, vc.resp.head = w, http.NewResponseController(w), r.Method == http.MethodHead
	if el.postControl(vc.open) != nil {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	vc.serve(r.Context())
}

// requestBytes writes r as an HTTP/1.1 request with its body, at most
// limit bytes of it (0: no limit).
func requestBytes(r *http.Request, limit int64) ([]byte, error) {
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		rd := io.Reader(r.Body)
		if limit > 0 {
			rd = io.LimitReader(r.Body, limit+1)
		}
		var err error
		if body, err = io.ReadAll(rd); err != nil {
			return nil, err
		}
		if limit > 0 && int64(len(body)) > limit {
			return nil, errBodyTooLarge
		}
	}
	target := r.RequestURI
	if target == "" {
		target = r.URL.RequestURI()
	}
	b := make([]byte, 0, 512+len(body))
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\n"...)
	for name, values := range r.Header {
		switch name {
		case "Host", "Content-Length", "Transfer-Encoding", "Expect", "Trailer", "Te":
			continue // the body is here whole, with its length
		}
		for _, v := range values {
			b = append(b, name...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if len(body) > 0 {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, body...), nil
}

func tcpAddr(s string) net.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return &net.TCPAddr{}
	}
	return net.TCPAddrFromAddrPort(ap)
}

func localAddr(r *http.Request) net.Addr {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return a
	}
	return &net.TCPAddr{}
}

// vconn is a virtual connection of the net/http backend: its input is the
// request (and, after a WebSocket upgrade, what the hijacked connection
// reads); its output goes to ServeHTTP's goroutine, which writes it to the
// ResponseWriter. The loop side implements transport.
type vconn struct {
	el     *eventLoop
	c      *Conn  // set on the loop by open
	in     []byte // loop only: input not yet consumed
	remote net.Addr
	local  net.Addr
	tls    *tls.ConnectionState

	mu      sync.Mutex
	out     []byte // queued output
	spare   []byte
	pending int  // bytes written by the loop and not yet by the writer
	closed  bool // the loop closed the connection: the writer stops
	signal  chan struct{}

	resp respWriter // the writer's
}

// open runs on the loop: the virtual connection opens with the request as
// its input.
func (vc *vconn) open() {
	c, ok := vc.el.onOpen(vc)
	if !ok {
		vc.closeNow()
		return
	}
	vc.c = c
	vc.el.onTraffic(c)
}

// transport, on the loop.

func (vc *vconn) Write(b []byte) (int, error) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if vc.closed {
		return 0, net.ErrClosed
	}
	vc.out = append(vc.out, b...)
	vc.pending += len(b)
	vc.notify()
	return len(b), nil
}

func (vc *vconn) Writev(bs [][]byte) (int, error) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if vc.closed {
		return 0, net.ErrClosed
	}
	n := 0
	for _, b := range bs {
		vc.out = append(vc.out, b...)
		n += len(b)
	}
	vc.pending += n
	vc.notify()
	return n, nil
}

func (vc *vconn) notify() {
	select {
	case vc.signal <- struct{}{}:
	default:
	}
}

func (vc *vconn) Next(n int) ([]byte, error) {
	if n < 0 || n > len(vc.in) {
		n = len(vc.in)
	}
	b := vc.in[:n:n]
	vc.in = vc.in[n:]
	return b, nil
}

func (vc *vconn) Peek(n int) ([]byte, error) {
	if n < 0 || n > len(vc.in) {
		n = len(vc.in)
	}
	return vc.in[:n], nil
}

func (vc *vconn) Discard(n int) (int, error) {
	if n < 0 || n > len(vc.in) {
		n = len(vc.in)
	}
	vc.in = vc.in[n:]
	return n, nil
}

func (vc *vconn) InboundBuffered() int { return len(vc.in) }

func (vc *vconn) OutboundBuffered() int {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return vc.pending
}

func (vc *vconn) Fd() int              { return -1 }
func (vc *vconn) LocalAddr() net.Addr  { return vc.local }
func (vc *vconn) RemoteAddr() net.Addr { return vc.remote }

// closeNow is the loop closing the connection: queued output is dropped
// (as gnet drops a closed socket's) and the writer stops.
func (vc *vconn) closeNow() {
	vc.mu.Lock()
	vc.closed = true
	vc.out = nil
	vc.pending = 0
	vc.mu.Unlock()
	vc.notify()
}

// serve is ServeHTTP's goroutine: it writes what the loop queues until
// the response is complete, the loop closes the connection or the client
// goes away.
func (vc *vconn) serve(ctx context.Context) {
	defer vc.resp.finish()
	for {
		vc.mu.Lock()
		for len(vc.out) == 0 && !vc.closed {
			vc.mu.Unlock()
			select {
			case <-vc.signal:
			case <-ctx.Done():
				if vc.resp.hijacked == nil {
					vc.toLoop(func(c *Conn) { c.closeWith(reasonPeer) })
					return
				}
				ctx = context.Background() // a hijacked connection outlives the request's context
			}
			vc.mu.Lock()
		}
		if vc.closed {
			vc.mu.Unlock()
			return
		}
		buf := vc.out
		vc.out, vc.spare = vc.spare[:0], nil
		vc.mu.Unlock()

		done, err := vc.resp.write(buf)

		vc.mu.Lock()
		vc.pending = max(vc.pending-len(buf), 0)
		if cap(buf) <= 64<<10 {
			vc.spare = buf[:0]
		}
		vc.mu.Unlock()
		switch {
		case err != nil:
			vc.toLoop(func(c *Conn) { c.closeWith(reasonPeer) })
			return
		case done:
			vc.toLoop(func(c *Conn) { c.Close() })
			return
		}
		if vc.resp.hijacked != nil && !vc.resp.reading {
			vc.resp.reading = true
			vc.resp.readers.Add(1)
			go vc.readHijacked()
		}
		vc.toLoop(vc.el.onWritable) // output progress: drains, write deadlines
	}
}

// toLoop runs fn on the loop with the connection, unless it has closed.
func (vc *vconn) toLoop(fn func(c *Conn)) {
	_ = vc.el.postControl(func() {
		if c := vc.c; c != nil && !c.closed {
			fn(c)
		}
	})
}

// readHijacked feeds what an upgraded connection reads to the loop, one
// read at a time (the next read waits until the loop has taken it).
func (vc *vconn) readHijacked() {
	defer vc.resp.readers.Done()
	br := vc.resp.br
	buf := make([]byte, 32<<10)
	for {
		n, err := br.Read(buf)
		if n > 0 {
			data := buf[:n]
			taken := make(chan struct{})
			if vc.el.postControl(func() {
				defer close(taken)
				if c := vc.c; c != nil && !c.closed {
					vc.in = append(vc.in, data...)
					vc.el.onTraffic(c)
				}
			}) != nil {
				return
			}
			<-taken
		}
		if err != nil {
			vc.toLoop(func(c *Conn) { c.closeWith(reasonPeer) })
			return
		}
	}
}

// respWriter turns the HTTP/1.1 response the loop writes back into calls
// on a ResponseWriter.
type respWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	head bool // a HEAD request: the response has no body

	acc    []byte // the head, until complete
	state  uint8
	remain int64 // body bytes left (Content-Length), or of the chunk
	line   []byte

	hijacked net.Conn
	br       io.Reader
	reading  bool
	readers  sync.WaitGroup
}

const (
	rsHead uint8 = iota
	rsLength
	rsChunkSize
	rsChunkData
	rsChunkCRLF
	rsTrailers
	rsRaw
	rsHijacked
	rsDone
)

var errBadResponse = errors.New("loop: net/http backend: malformed response from the loop")

// write takes the next bytes of the response; done reports that it is
// complete.
func (p *respWriter) write(b []byte) (done bool, err error) {
	for len(b) > 0 {
		switch p.state {
		case rsHead:
			p.acc = append(p.acc, b...)
			end := bytes.Index(p.acc, []byte("\r\n\r\n"))
			if end < 0 {
				if len(p.acc) > 1<<20 {
					return false, errBadResponse
				}
				return false, nil
			}
			rest := p.acc[end+4:]
			head := p.acc[:end+2]
			if err := p.startBody(head); err != nil {
				return false, err
			}
			if p.state == rsHijacked {
				if _, err := p.hijacked.Write(p.acc); err != nil {
					return false, err
				}
				p.acc = nil
				return false, nil
			}
			b = append([]byte(nil), rest...)
			p.acc = nil
			if p.state == rsDone {
				return true, p.flush()
			}
		case rsLength:
			n := min(int64(len(b)), p.remain)
			if _, err := p.w.Write(b[:n]); err != nil {
				return false, err
			}
			p.remain -= n
			b = b[n:]
			if p.remain == 0 {
				p.state = rsDone
				return true, p.flush()
			}
		case rsRaw:
			if _, err := p.w.Write(b); err != nil {
				return false, err
			}
			b = nil
		case rsHijacked:
			_, err := p.hijacked.Write(b)
			return false, err
		case rsChunkSize, rsTrailers:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				p.line = append(p.line, b...)
				if len(p.line) > 64<<10 {
					return false, errBadResponse
				}
				b = nil
				break
			}
			line := append(p.line, b[:i]...)
			p.line = p.line[:0]
			b = b[i+1:]
			line = bytes.TrimSuffix(line, []byte("\r"))
			if p.state == rsTrailers {
				if len(line) == 0 {
					p.state = rsDone
					return true, p.flush()
				}
				name, value, ok := bytes.Cut(line, []byte(":"))
				if !ok {
					return false, errBadResponse
				}
				p.w.Header().Set(http.TrailerPrefix+string(name), string(bytes.TrimSpace(value)))
				break
			}
			size, _, _ := bytes.Cut(line, []byte(";"))
			n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
			if err != nil || n < 0 {
				return false, errBadResponse
			}
			if n == 0 {
				p.state = rsTrailers
			} else {
				p.state, p.remain = rsChunkData, n
			}
		case rsChunkData:
			n := min(int64(len(b)), p.remain)
			if _, err := p.w.Write(b[:n]); err != nil {
				return false, err
			}
			p.remain -= n
			b = b[n:]
			if p.remain == 0 {
				p.state, p.remain = rsChunkCRLF, 2
			}
		case rsChunkCRLF:
			n := min(int64(len(b)), p.remain)
			p.remain -= n
			b = b[n:]
			if p.remain == 0 {
				p.state = rsChunkSize
			}
		case rsDone:
			return true, nil
		}
	}
	if p.state == rsHijacked {
		return false, nil
	}
	return false, p.flush()
}

func (p *respWriter) flush() error {
	if err := p.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// startBody reads a response head (status line and header lines, each
// ending in CRLF), sets the ResponseWriter's status and headers and picks
// how the body is framed.
func (p *respWriter) startBody(head []byte) error {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	_, afterProto, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(afterProto) < 3 {
		return errBadResponse
	}
	status, err := strconv.Atoi(string(afterProto[:3]))
	if err != nil {
		return errBadResponse
	}
	if status == http.StatusSwitchingProtocols {
		conn, brw, err := p.rc.Hijack()
		if err != nil {
			return err // HTTP/2: no upgrade
		}
		p.hijacked, p.br, p.state = conn, brw.Reader, rsHijacked
		return nil
	}
	if status < 200 {
		// An interim response (the loop sends none: Expect is not passed
		// on): dropped; the next head follows.
		return nil
	}
	hdr := p.w.Header()
	chunked, length := false, int64(-1)
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue
		}
		v := string(bytes.TrimSpace(value))
		switch n := http.CanonicalHeaderKey(string(name)); n {
		case "Connection", "Keep-Alive", "Proxy-Connection", "Upgrade", "Te", "Trailer":
		case "Transfer-Encoding":
			chunked = true
		case "Content-Length":
			if length, err = strconv.ParseInt(v, 10, 64); err != nil || length < 0 {
				return errBadResponse
			}
			hdr.Set(n, v)
		default:
			hdr.Add(n, v)
		}
	}
	p.w.WriteHeader(status)
	switch {
	case p.head || status == http.StatusNoContent || status == http.StatusNotModified || length == 0:
		p.state = rsDone
	case chunked:
		p.state = rsChunkSize
	case length > 0:
		p.state, p.remain = rsLength, length
	default:
		p.state = rsRaw
	}
	return nil
}

// finish closes a hijacked connection and waits for its reader.
func (p *respWriter) finish() {
	if p.hijacked != nil {
		_ = p.hijacked.Close()
		p.readers.Wait()
	}
}
