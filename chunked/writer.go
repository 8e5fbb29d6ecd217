package chunked

import (
	"context"
	"fmt"
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
// Each method's doc says where it may be called. Send, After and OnDrain
// belong to the loop (a handler, or a function given to After or
// OnDrain): called from any other goroutine they panic with their name
// rather than race. Write, WriteString, SetTrailer, Close, Abort, Context
// and Err are safe from any goroutine. On the loop Write goes straight to
// the connection and never blocks. From other goroutines Write copies the
// data into the writer's pending buffer, hands it to the loop with one
// task per batch, and blocks while the pending bytes plus the
// connection's queued output exceed the server's high watermark: a slow
// reader slows the producer instead of growing memory. Write from several
// goroutines at once is safe but their chunks interleave in any order.
type Writer struct {
	conn      *loop.Conn
	ctx       context.Context
	cancel    context.CancelCauseFunc
	raw       bool // HTTP/1.0: no chunk framing, close at the end
	head      bool // HEAD: no body at all
	keepAlive bool
	announced []string
	high      int

	snd loop.Sender // admission of writes from producer goroutines

	mu       sync.Mutex // guards the fields below
	closing  bool       // Close requested
	aborted  bool       // Abort requested
	gone     bool       // the connection closed
	trailers []Trailer
	err      error // why the response ended, for Err and the context's cause
	werr     error // ErrClosed wrapping err, built once

	// loop-only state
	done    bool
	timerFn func()
	onDrain loop.Drain
	sizeBuf [18]byte
}

// Start answers the request with a chunked response head and returns its
// Writer. Headers set on c with SetHeader are included. Call it on the
// loop, from the handler.
func Start(c *loop.Ctx, opts Options) *Writer {
	req := c.Request()
	ctx, cancel := context.WithCancelCause(context.Background())
	w := &Writer{
		ctx:       ctx,
		cancel:    cancel,
		raw:       req.ProtoMinor == 0,
		head:      string(req.Method) == "HEAD",
		keepAlive: c.KeepAlive(),
		announced: opts.Trailers,
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
// incomplete body, never a falsely complete one) and Err reports
// ErrAborted wrapping that error. fn must return once
// Write reports an error: the client is gone. Call Go on the loop, from
// the handler.
func Go(c *loop.Ctx, opts Options, fn func(w *Writer) error) *Writer {
	w := Start(c, opts)
	go func() {
		if err := fn(w); err != nil {
			w.abort(fmt.Errorf("%w: %w", ErrAborted, err))
			return
		}
		_ = w.Close()
	}()
	return w
}

// Context is cancelled when the client goes away or the response ends;
// context.Cause then reports why, as Err does. Safe from any goroutine.
func (w *Writer) Context() context.Context { return w.ctx }

// Err returns nil while the response is open and, once it has ended, why:
//
//   - ErrClosed: Close ended it. Err reports ErrClosed as soon as Close
//     returns; should the connection end before the terminating chunk is
//     written, Err reports the connection's reason instead.
//   - ErrAborted: Abort cut it, or the application closed the connection
//     before Close. For Go, when fn fails, the error wraps fn's error.
//   - a close reason of the loop: loop.ErrWriteTimeout (the client
//     stopped reading), loop.ErrInputOverflow (requests pipelined behind
//     the response exceeded Config.MaxPendingInput), loop.ErrShutdown (the
//     shutdown deadline cut the response), and the like.
//   - the peer's error when the client went away: io.EOF or a reset
//     (syscall.ECONNRESET), wrapped in an *os.SyscallError; match it with
//     errors.Is.
//
// Safe from any goroutine.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil && w.closing {
		return ErrClosed
	}
	return w.err
}

// closedErr is what Write and Close return once the response has ended:
// ErrClosed, wrapping Err's reason when there is a more specific one.
func (w *Writer) closedErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil || w.err == ErrClosed {
		return ErrClosed
	}
	if w.werr == nil {
		w.werr = fmt.Errorf("%w: %w", ErrClosed, w.err)
	}
	return w.werr
}

// end records why the response ended, unless it already has a reason,
// and cancels the context with it.
func (w *Writer) end(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	err = w.err
	w.mu.Unlock()
	w.cancel(err)
}

// Write sends p as one chunk. On the loop it never blocks; elsewhere it
// blocks under backpressure (see the type's doc). Once the response has
// ended (Close, Abort, the client gone) it returns an error that matches
// ErrClosed and wraps Err's reason: errors.Is(err, loop.ErrWriteTimeout)
// tells a client that stopped reading. Safe from any goroutine.
func (w *Writer) Write(p []byte) (int, error) {
	if w.conn.OnLoop() {
		if w.ended() {
			return 0, w.closedErr()
		}
		if r := w.Send(p); r == loop.Dropped {
			return 0, w.closedErr()
		}
		return len(p), nil
	}
	return w.writeAsync(p)
}

// WriteString is Write for a string. Safe from any goroutine.
func (w *Writer) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

// Send writes p as one chunk from the loop and reports the outcome:
// Written, Queued (the connection is above its high watermark; use
// OnDrain to continue) or Dropped (the response is closed). On the loop:
// call it from the handler or a function given to After or OnDrain; it
// panics elsewhere (producer goroutines use Write).
func (w *Writer) Send(p []byte) loop.WriteResult {
	if !w.conn.OnLoop() { // not MustOnLoop: a call per chunk, and it does not inline
		panic("chunked: Writer.Send called off the connection's loop")
	}
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

// writeAsync hands p to the loop through the connection's loop.Sender, in
// chunks of at most half the high watermark, blocking while the queued
// output plus the chunks admitted and not yet written would exceed the high
// watermark.
func (w *Writer) writeAsync(p []byte) (int, error) {
	if w.ended() {
		return 0, w.closedErr()
	}
	if w.head || len(p) == 0 {
		return len(p), nil
	}
	total := len(p)
	maxPiece := max(w.high/2, 1)
	for len(p) > 0 {
		piece := p[:min(len(p), maxPiece)]
		var frame []byte
		if w.raw {
			frame = append([]byte(nil), piece...)
		} else {
			frame = AppendChunk(nil, piece)
		}
		for {
			if w.ended() {
				return total - len(p), w.closedErr()
			}
			r := w.snd.Send(w.conn, len(frame), w.high, false, func(c *loop.Conn) {
				if !w.done {
					c.Write(frame)
				}
			})
			if r != loop.Dropped {
				break
			}
			select {
			case <-w.snd.Wait():
			case <-w.ctx.Done():
			}
		}
		p = p[len(piece):]
	}
	return total, nil
}

// ended reports whether the response was closed or aborted or the client
// is gone.
func (w *Writer) ended() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closing || w.aborted || w.gone
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
// after everything written before (including writes of producer goroutines
// that Write accepted). The connection then serves the next request (or
// closes, for HTTP/1.0 and "Connection: close"). From a goroutine Close
// does not wait for the bytes to be sent. Once the response has ended
// Close returns an error matching ErrClosed, as Write does. Safe from any
// goroutine.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closing || w.aborted || w.gone {
		w.mu.Unlock()
		return w.closedErr()
	}
	w.closing = true
	w.mu.Unlock()
	if w.conn.OnLoop() && !w.snd.Pending() {
		w.finish(w.conn)
		return nil
	}
	if w.snd.Send(w.conn, 0, 0, true, w.finish) == loop.Dropped {
		return w.closedErr()
	}
	return nil
}

// Abort cuts the connection without the terminating chunk, so the client
// knows the body is incomplete. Abort after Close, or once the client is
// gone, does nothing: the connection may already serve the next request.
// Safe from any goroutine.
func (w *Writer) Abort() { w.abort(ErrAborted) }

// abort is Abort with the reason Err reports.
func (w *Writer) abort(err error) {
	w.mu.Lock()
	if w.closing || w.aborted || w.gone {
		w.mu.Unlock()
		return
	}
	w.aborted = true
	w.err = err // under the lock that ended() takes: Write sees the reason
	w.mu.Unlock()
	w.cancel(err)
	if w.conn.OnLoop() {
		if !w.done {
			w.conn.Close()
		}
		return
	}
	w.snd.Send(w.conn, 0, 0, true, func(c *loop.Conn) {
		if !w.done {
			c.Close()
		}
	})
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
	w.end(ErrClosed)
	c.EndMode(w.keepAlive && !w.raw)
}

// After runs fn on the loop once d has passed (on the loop's timing wheel,
// no timer per connection); a later After replaces it. fn is not run if
// the response ends first. On the loop: call it from the handler or a
// function given to After or OnDrain; it panics elsewhere.
func (w *Writer) After(d time.Duration, fn func()) {
	w.conn.MustOnLoop("chunked: Writer.After")
	if w.done {
		return
	}
	w.timerFn = fn
	w.conn.SetTimer(d)
}

// OnDrain runs fn on the loop once the connection's queued output has
// fallen to the low watermark: the place to resume after Send reported
// Queued. On the loop: call it from the handler or a function given to
// After or OnDrain; it panics elsewhere.
func (w *Writer) OnDrain(fn func()) {
	w.conn.MustOnLoop("chunked: Writer.OnDrain")
	if !w.done {
		w.onDrain.Set(w.conn, fn)
	}
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

func (m mode) OnDrain(*loop.Conn) {
	if !m.w.done {
		m.w.onDrain.Run()
	}
}

// OnShutdown: a chunked response may finish; the server's shutdown
// deadline cuts it otherwise.
func (mode) OnShutdown(*loop.Conn) {}

func (m mode) OnClose(_ *loop.Conn, err error) {
	w := m.w
	w.done = true
	if err == nil {
		// Closed on the server's side before the terminating chunk: by
		// Abort, whose reason is recorded already, or by the application.
		err = ErrAborted
	}
	w.mu.Lock()
	w.gone = true
	if w.err == nil {
		w.err = err
	}
	err = w.err
	w.mu.Unlock()
	w.cancel(err)
}
