package loop

import (
	"context"
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
// The files: nethttp.go has HTTPHandler, ServeHTTP and Shutdown;
// nethttp_vloop.go the virtual loops and connections (virtualLoop, vconn);
// nethttp_resp.go the response parser (respWriter).
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
