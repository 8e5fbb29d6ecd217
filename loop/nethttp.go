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
	"os"
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
		go func() { defer h.wg.Done(); s.tickLoops(h.stop, func() []*eventLoop { return h.loops }) }()
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

// Shutdown ends the backend gracefully: new requests get 503, streams are
// told to end (their modes' OnShutdown), and what is left open when ctx
// ends or Config.ShutdownTimeout passes is closed; then the loops stop and
// the ServeHTTP calls still running return. It returns ctx's error if ctx
// ended first, else nil (as Serve does, also when the timeout cut
// streams). Safe from any goroutine; later calls return nil at once.
func (h *HTTPHandler) Shutdown(parent context.Context) error {
	if !h.closed.CompareAndSwap(false, true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(parent, h.s.cfg.ShutdownTimeout)
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
	closeAll(h.loops)
	h.served.Wait()
	close(h.stop)
	h.wg.Wait()
	stopLoops(h.loops)
	return parent.Err()
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
	// The request is held until its loop has taken it: it counts against
	// Config.MaxBufferedInput as on the gnet backend, reserved at the most
	// the body can be before it is read.
	maxBody := h.s.cfg.Limits.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = httpcodec.DefaultMaxBodyBytes
	}
	reserve := int64(4 << 10)
	if r.Body != nil && r.Body != http.NoBody {
		reserve += maxBody
		if r.ContentLength >= 0 {
			reserve = 4<<10 + min(r.ContentLength, maxBody)
		}
	}
	if h.s.bufferedInput.Add(reserve) > int64(h.s.cfg.MaxBufferedInput) {
		h.s.bufferedInput.Add(-reserve)
		http.Error(w, "server busy: too much buffered input", http.StatusServiceUnavailable)
		return
	}
	released := false
	release := func() {
		if !released {
			released = true
			h.s.bufferedInput.Add(-reserve)
		}
	}
	defer release()
	req, err := requestBytes(r, maxBody)
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
	vc.resp.w, vc.resp.rc, vc.resp.head, vc.resp.h1 = w, http.NewResponseController(w), r.Method == http.MethodHead, r.ProtoMajor == 1
	vc.opened = make(chan struct{})
	if el.postControl(vc.open) != nil {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	select {
	case <-vc.opened: // the loop has the request: what it keeps it counts itself
	case <-r.Context().Done():
	}
	release()
	vc.serve(r.Context())
}

// requestBytes writes r as an HTTP/1.1 request with its body, at most
// limit bytes of it.
func requestBytes(r *http.Request, limit int64) ([]byte, error) {
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		if body, err = io.ReadAll(io.LimitReader(r.Body, limit+1)); err != nil {
			return nil, err
		}
		if int64(len(body)) > limit {
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
	if r.ProtoMajor == 1 && r.ProtoMinor == 0 {
		b = append(b, " HTTP/1.0\r\nHost: "...)
	} else {
		b = append(b, " HTTP/1.1\r\nHost: "...)
	}
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

	opened     chan struct{} // closed once the loop has taken the request
	resp       respWriter    // the writer's
	onProgress func()        // the writer's: its task for progress
}

// open runs on the loop: the virtual connection opens with the request as
// its input.
func (vc *vconn) open() {
	defer close(vc.opened)
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
	if vc.closed {
		return 0
	}
	return vc.pending
}

func (vc *vconn) Fd() int              { return -1 }
func (vc *vconn) LocalAddr() net.Addr  { return vc.local }
func (vc *vconn) RemoteAddr() net.Addr { return vc.remote }

// closeNow is the loop closing the connection. What the loop wrote before
// is still written (within WriteTimeout: gnet would have handed it to the
// kernel at once), then the writer ends the response, or cuts it if it is
// incomplete; the loop sees nothing queued from here on.
func (vc *vconn) closeNow() {
	vc.mu.Lock()
	vc.closed = true
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
					vc.peerGone(io.EOF) // net/http does not say how: EOF or reset
					return
				}
				ctx = context.Background() // a hijacked connection outlives the request's context
			}
			vc.mu.Lock()
		}
		closed := vc.closed
		if closed && len(vc.out) == 0 {
			vc.mu.Unlock()
			vc.resp.abortIfIncomplete()
			return
		}
		buf := vc.out
		vc.out, vc.spare = vc.spare[:0], nil
		vc.mu.Unlock()

		vc.resp.deadline(vc.el.srv.cfg.WriteTimeout)
		done, err := vc.resp.write(buf)

		vc.mu.Lock()
		if !vc.closed {
			vc.pending = max(vc.pending-len(buf), 0)
		}
		if cap(buf) <= 64<<10 {
			vc.spare = buf[:0]
		}
		vc.mu.Unlock()
		switch {
		case err != nil:
			vc.peerGone(err)
			return
		case done:
			vc.toLoop(closeApp)
			return
		case closed:
			continue // the rest, then the end
		}
		if vc.resp.hijacked != nil && !vc.resp.reading {
			vc.resp.reading = true
			vc.resp.readers.Add(1)
			go vc.readHijacked()
		}
		vc.progress() // output progress: drains, write deadlines
	}
}

func closeApp(c *Conn) { c.Close() }

// progress tells the loop that output was written.
func (vc *vconn) progress() {
	if vc.onProgress == nil {
		vc.onProgress = func() {
			if c := vc.c; c != nil && !c.closed {
				vc.el.onWritable(c)
			}
		}
	}
	_ = vc.el.postControl(vc.onProgress)
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
	var data, inBuf []byte
	taken := make(chan struct{}, 1)
	deliver := func() { // one task for every read: no allocation per message
		if c := vc.c; c != nil && !c.closed {
			if len(vc.in) == 0 {
				// All consumed: the loop holds no view of it any more.
				if cap(inBuf) < len(data) {
					inBuf = make([]byte, 0, max(len(data), 4<<10))
				}
				vc.in = append(inBuf[:0], data...)
			} else {
				vc.in = append(vc.in, data...)
			}
			vc.el.onTraffic(c)
		}
		taken <- struct{}{}
	}
	for {
		n, err := br.Read(buf)
		if n > 0 {
			data = buf[:n]
			if vc.el.postControl(deliver) != nil {
				return
			}
			<-taken
		}
		if err != nil {
			vc.peerGone(err)
			return
		}
	}
}

// peerGone closes the connection because the client went away (or its
// write deadline passed: WriteTimeout); its mode's OnClose gets err, as
// with gnet's error for a socket.
func (vc *vconn) peerGone(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		vc.toLoop(func(c *Conn) { c.closeWith(reasonWriteTimeout) })
		return
	}
	vc.toLoop(func(c *Conn) {
		c.reason = reasonPeer
		vc.closeNow()
		vc.el.onClose(c, err)
	})
}

// respWriter turns the HTTP/1.1 response the loop writes back into calls
// on a ResponseWriter.
type respWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	head bool // a HEAD request: the response has no body
	h1   bool // HTTP/1.x

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
			if b, err = p.writeBody(b); err != nil {
				return false, err
			}
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
			if b, err = p.writeBody(b); err != nil {
				return false, err
			}
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

// deadline bounds the next write (Config.WriteTimeout, as the loop's own
// check): a client that stops reading cannot hold the writer for longer.
func (p *respWriter) deadline(d time.Duration) {
	t := time.Now().Add(d)
	if p.hijacked != nil {
		_ = p.hijacked.SetWriteDeadline(t)
		return
	}
	_ = p.rc.SetWriteDeadline(t)
}

// writeBody writes what b holds of the p.remain body bytes still due and
// returns the rest of b.
func (p *respWriter) writeBody(b []byte) ([]byte, error) {
	n := min(int64(len(b)), p.remain)
	if _, err := p.w.Write(b[:n]); err != nil {
		return nil, err
	}
	p.remain -= n
	return b[n:], nil
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
		case "Connection", "Keep-Alive", "Proxy-Connection", "Upgrade", "Te":
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
	switch {
	case p.head || status == http.StatusNoContent || status == http.StatusNotModified || length == 0:
		p.state = rsDone
	case chunked:
		p.state = rsChunkSize
	case length > 0:
		p.state, p.remain = rsLength, length
	default:
		p.state = rsRaw
		if p.h1 {
			// A body delimited by the connection's close, as the loop
			// sends it (net/http would chunk it): net/http's "identity"
			// transfer coding.
			hdr.Set("Transfer-Encoding", "identity")
		}
	}
	p.w.WriteHeader(status)
	return nil
}

// abortIfIncomplete cuts a response the loop closed before its end (an
// aborted chunked body, a connection closed before any response), as the
// gnet backend cuts the socket: net/http then closes the connection
// without ending the body (HTTP/1.1) or resets the stream (HTTP/2). A body
// delimited by the close (a stream) simply ends.
func (p *respWriter) abortIfIncomplete() {
	switch p.state {
	case rsHead, rsLength, rsChunkSize, rsChunkData, rsChunkCRLF, rsTrailers:
		p.finish()
		panic(http.ErrAbortHandler)
	}
}

// finish closes a hijacked connection and waits for its reader.
func (p *respWriter) finish() {
	if p.hijacked != nil {
		_ = p.hijacked.Close()
		p.readers.Wait()
	}
}
