package chunked

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/streamd/streamd/loop"
)

// Options configure a chunked response.
type Options struct {
	// Status is the response status; default 200.
	Status int
	// ContentType defaults to "text/plain; charset=utf-8".
	ContentType string
	// Trailers lists the trailer fields announced in the Trailer header;
	// only these may be set with SetTrailer.
	Trailers []string
}

// Writer writes one chunked response (RFC 9112, Section 7.1). HTTP/1.0
// clients, which do not know chunked coding, get the raw body and the
// connection closes at the end; HEAD requests get the head only.
//
// # Concurrency
//
// Every method is safe from any goroutine. On the connection's loop (in a
// handler, or a function given to After or OnDrain) writes go straight to
// the connection and never block. From other goroutines Write copies the
// data into the writer's pending buffer, hands it to the loop with one
// task per batch, and blocks while the pending bytes plus the
// connection's queued output exceed the server's high watermark: a slow
// reader slows the producer instead of growing memory. Write from several
// goroutines at once is safe but their chunks interleave in any order.
type Writer struct {
	conn      *loop.Conn
	ctx       context.Context
	cancel    context.CancelFunc
	raw       bool // HTTP/1.0: no chunk framing, close at the end
	head      bool // HEAD: no body at all
	keepAlive bool
	announced []string
	high      int

	mu       sync.Mutex // guards the producer-side fields below
	pending  []byte     // encoded bytes waiting for the loop
	spare    []byte
	posted   bool // a flush task is queued
	closing  bool // Close requested
	aborted  bool // Abort requested
	gone     bool // the connection closed
	buffered int  // the connection's queued output, as last seen on the loop
	trailers []Trailer
	wake     chan struct{}

	// loop-only state
	done    bool
	timerFn func()
	drainFn func()
	sizeBuf [18]byte
}

// Start answers the request with a chunked response head and returns its
// Writer. Headers set on c with SetHeader are included. Call it on the
// loop, from the handler.
func Start(c *loop.Ctx, opts Options) *Writer {
	req := c.Request()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		ctx:       ctx,
		cancel:    cancel,
		raw:       req.ProtoMinor == 0,
		head:      string(req.Method) == "HEAD",
		keepAlive: c.KeepAlive(),
		announced: opts.Trailers,
		wake:      make(chan struct{}, 1),
	}
	status := opts.Status
	if status == 0 {
		status = 200
	}
	ct := opts.ContentType
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	var hdr strings.Builder
	hdr.WriteString("Content-Type: ")
	hdr.WriteString(ct)
	hdr.WriteString("\r\nX-Content-Type-Options: nosniff\r\n")
	if w.raw {
		hdr.WriteString("Connection: close\r\n")
	} else {
		hdr.WriteString("Transfer-Encoding: chunked\r\n")
		if len(opts.Trailers) > 0 {
			hdr.WriteString("Trailer: ")
			hdr.WriteString(strings.Join(opts.Trailers, ", "))
			hdr.WriteString("\r\n")
		}
		if !w.keepAlive {
			hdr.WriteString("Connection: close\r\n")
		}
	}
	w.conn = c.TakeOver(mode{w})
	w.high = w.conn.HighWatermark()
	c.WriteStreamHead(status, hdr.String())
	return w
}

// Go starts a chunked response whose body fn produces from its own
// goroutine, where it may block (a database cursor, a slow computation).
// When fn returns nil the response is closed with the terminating chunk;
// when it returns an error the connection is cut (the client sees an
// incomplete body, never a falsely complete one). fn must return once
// Write reports an error: the client is gone. Call Go on the loop, from
// the handler.
func Go(c *loop.Ctx, opts Options, fn func(w *Writer) error) *Writer {
	w := Start(c, opts)
	go func() {
		if err := fn(w); err != nil {
			w.Abort()
			return
		}
		_ = w.Close()
	}()
	return w
}

// Context is cancelled when the client goes away or the response ends.
func (w *Writer) Context() context.Context { return w.ctx }

// Write sends p as one chunk. On the loop it never blocks; elsewhere it
// blocks under backpressure (see the type's doc). It returns ErrClosed
// once the response is closed or the client is gone.
func (w *Writer) Write(p []byte) (int, error) {
	if w.conn.OnLoop() {
		if r := w.Send(p); r == loop.Dropped {
			return 0, ErrClosed
		}
		return len(p), nil
	}
	return w.writeAsync(p)
}

// WriteString is Write for a string.
func (w *Writer) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

// Send writes p as one chunk from the loop and reports the outcome:
// Written, Queued (the connection is above its high watermark; use
// OnDrain to continue) or Dropped (the response is closed). On the loop.
func (w *Writer) Send(p []byte) loop.WriteResult {
	if w.done || w.conn.Closed() {
		return loop.Dropped
	}
	if w.head || len(p) == 0 {
		return loop.Written
	}
	if w.raw {
		return w.conn.Write(p)
	}
	size := strconv.AppendUint(w.sizeBuf[:0], uint64(len(p)), 16)
	size = append(size, '\r', '\n')
	return w.conn.Writev(size, p, crlf)
}

var crlf = []byte("\r\n")

func (w *Writer) writeAsync(p []byte) (int, error) {
	w.mu.Lock()
	for !w.closing && !w.aborted && !w.gone && len(w.pending)+w.buffered > w.high {
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-w.ctx.Done():
		}
		w.mu.Lock()
	}
	if w.closing || w.aborted || w.gone {
		w.mu.Unlock()
		return 0, ErrClosed
	}
	switch {
	case w.head || len(p) == 0:
	case w.raw:
		w.pending = append(w.pending, p...)
	default:
		w.pending = AppendChunk(w.pending, p)
	}
	post := !w.posted && len(w.pending) > 0
	w.posted = w.posted || post
	w.mu.Unlock()
	if post {
		// One flush task per writer is in flight at a time, so the
		// queue-limit bypass of PostControl stays bounded.
		if err := w.conn.PostControl(w.flush); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flush runs on the loop: it writes what producers queued, then ends or
// aborts the response if asked to.
func (w *Writer) flush(c *loop.Conn) {
	w.mu.Lock()
	data := w.pending
	w.pending, w.spare = w.spare[:0], nil
	w.posted = false
	closing, aborted := w.closing, w.aborted
	w.mu.Unlock()

	if len(data) > 0 && !w.done {
		c.Write(data)
	}
	w.mu.Lock()
	if cap(data) <= 2*w.high {
		w.spare = data[:0]
	}
	w.mu.Unlock()
	switch {
	case aborted:
		c.Close()
	case closing:
		w.finish(c)
	default:
		w.noteBuffered(c)
	}
}

// noteBuffered publishes the connection's queued output to producers and
// asks for a drain callback while it is high.
func (w *Writer) noteBuffered(c *loop.Conn) {
	b := c.Buffered()
	if b > 0 {
		c.WantDrain()
	}
	w.mu.Lock()
	w.buffered = b
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// SetTrailer sets a trailer field announced in Options.Trailers; it is
// sent by Close. Safe from any goroutine.
func (w *Writer) SetTrailer(name, value string) error {
	ok := false
	for _, a := range w.announced {
		if strings.EqualFold(a, name) {
			ok = true
			break
		}
	}
	if !ok {
		return ErrTrailerNotAnnounced
	}
	w.mu.Lock()
	w.trailers = append(w.trailers, Trailer{Name: name, Value: value})
	w.mu.Unlock()
	return nil
}

// Close ends the response with the terminating chunk and the trailers,
// after everything written before. The connection then serves the next
// request (or closes, for HTTP/1.0 and "Connection: close"). From a
// goroutine Close does not wait for the bytes to be sent. A second Close
// returns ErrClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closing || w.aborted || w.gone {
		w.mu.Unlock()
		return ErrClosed
	}
	w.closing = true
	post := !w.posted
	w.posted = true
	w.mu.Unlock()
	if w.conn.OnLoop() {
		w.flush(w.conn)
		return nil
	}
	if post {
		return w.conn.PostControl(w.flush)
	}
	return nil
}

// Abort cuts the connection without the terminating chunk, so the client
// knows the body is incomplete. Safe from any goroutine.
func (w *Writer) Abort() {
	w.mu.Lock()
	if w.aborted || w.gone {
		w.mu.Unlock()
		return
	}
	w.aborted = true
	post := !w.posted
	w.posted = true
	w.mu.Unlock()
	w.cancel()
	if w.conn.OnLoop() {
		w.flush(w.conn)
		return
	}
	if post {
		_ = w.conn.PostControl(w.flush)
	}
}

func (w *Writer) finish(c *loop.Conn) {
	if w.done {
		return
	}
	w.done = true
	if !w.raw && !w.head {
		w.mu.Lock()
		tr := w.trailers
		w.mu.Unlock()
		c.Write(AppendLastChunk(nil, tr))
	}
	w.cancel()
	c.EndMode(w.keepAlive && !w.raw)
}

// After runs fn on the loop once d has passed (on the loop's timing wheel,
// no timer per connection); a later After replaces it. fn is not run if
// the response ends first. On the loop.
func (w *Writer) After(d time.Duration, fn func()) {
	if w.done {
		return
	}
	w.timerFn = fn
	w.conn.SetTimer(d)
}

// OnDrain runs fn on the loop once the connection's queued output has
// fallen to the low watermark: the place to resume after Send reported
// Queued. On the loop.
func (w *Writer) OnDrain(fn func()) {
	if w.done {
		return
	}
	w.drainFn = fn
	w.conn.WantDrain()
}

// mode adapts a Writer to loop.Mode, keeping the callbacks out of the
// Writer's public API.
type mode struct{ w *Writer }

// OnData: requests pipelined behind the stream wait in the connection's
// input until the response ends.
func (mode) OnData(*loop.Conn, []byte) (int, error) { return 0, nil }

func (m mode) OnTimer(*loop.Conn) {
	w := m.w
	if fn := w.timerFn; fn != nil && !w.done {
		w.timerFn = nil
		fn()
	}
}

func (m mode) OnDrain(c *loop.Conn) {
	w := m.w
	w.noteBuffered(c)
	if fn := w.drainFn; fn != nil && !w.done {
		w.drainFn = nil
		fn()
	}
}

// OnShutdown: a chunked response may finish; the server's shutdown
// deadline cuts it otherwise.
func (mode) OnShutdown(*loop.Conn) {}

func (m mode) OnClose(*loop.Conn, error) {
	w := m.w
	w.done = true
	w.mu.Lock()
	w.gone = true
	w.mu.Unlock()
	w.cancel()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}
