package loop

import (
	"crypto/tls"
	"net"
	"slices"
	"time"
)

// For protocol packages: Conn is one client connection, owned by one event
// loop.
//
// # Output ownership
//
// The per-loop output buffer belongs to one connection at a time (cork
// and uncork hand it over, flushing the previous owner's bytes to the
// previous owner), and every append checks the owner: a callback of one
// connection acting on another can never put one client's bytes on
// another's socket.
//
// # Concurrency
//
// Methods documented "on the loop" may only be called from the loop that
// owns the connection: inside a handler, a Mode callback, or a function
// run by Post; called from elsewhere they panic with their name rather
// than race. ID, RemoteAddr, Server, Loop, OnLoop, MustOnLoop, Post and
// PostControl are safe from any goroutine; goroutines write through a Sender. A *Conn
// stays valid after close (methods then do nothing or report Dropped); it
// is never reused for another connection.
type Conn struct {
	gc transport
	el *eventLoop
	id uint64

	pend *pending // input and parser while a request is partially received
	mode Mode

	tnext, tprev *Conn // timing wheel slot list
	lnext, lprev *Conn // all connections of the loop, for shutdown

	// output accounting for write-progress checks
	// (uint32: only compared for change, so wrapping is harmless)
	queuedTotal uint32
	lastSent    uint32

	// Timers, in wheel ticks (int32: 6.8 years of 100 ms ticks). The
	// fields are grouped by size to keep an idle connection at 144 bytes.
	fd           int32
	tslot        int32
	tat          int32
	modeAt       int32 // mode timer due tick, 0 = none
	headerStart  int32 // first byte of the pending request head, 0 = none
	lastActive   int32
	lastProgress int32
	pauseUntil   int32 // PauseInput's end tick, 0 = not paused

	reason          closeReason // why the loop closes it (see reasons.go)
	readOff         bool        // not registered for reading (pause_linux.go)
	outPaused       bool        // input waits for queued output to drain
	resumeQueued    bool        // a resumeLater task is queued
	closed          bool
	closeAfterFlush bool // close once queued output has drained
	deferred        bool // a Deferred reply is outstanding: do not parse further
	wantDrain       bool
	watched         bool // in el.watch
	dwArmed         bool // registered with the drain watcher
	stopParsing     bool // after Connection: close or an error response
	lingering       bool // half-closed after the last response, draining input
}

// ID is a process-unique connection number. Safe from any goroutine.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr is the peer address. Safe from any goroutine.
func (c *Conn) RemoteAddr() net.Addr { return c.gc.RemoteAddr() }

// Server returns the server that accepted the connection.
func (c *Conn) Server() *Server { return c.el.srv }

// Loop returns the event loop that owns the connection.
func (c *Conn) Loop() *Loop { return c.el.handle }

// OnLoop reports whether the caller runs on the connection's loop (and so
// may call the on-loop methods). Safe from any goroutine; a few
// nanoseconds (see internal/goroutine).
func (c *Conn) OnLoop() bool { return c.el.onLoop() }

// Post runs fn on the connection's loop, unless the connection has closed
// (or is closing: its mode has had OnClose) by then. Safe from any
// goroutine. It returns ErrQueueFull when the loop's queue is at
// Config.QueueLimit (nothing is queued) and ErrServerClosed after the
// server stopped.
func (c *Conn) Post(fn func(*Conn)) error {
	return c.el.post(func() {
		if !c.closed && !c.lingering {
			fn(c)
		}
	})
}

// PostControl is Post for work that must not be lost: the end of a
// response, a close frame, a connection close. It bypasses the queue
// limit; callers must ensure at most a bounded number (one per
// connection) is in flight.
func (c *Conn) PostControl(fn func(*Conn)) error {
	return c.el.postControl(func() {
		if !c.closed && !c.lingering {
			fn(c)
		}
	})
}

// Closed reports whether the connection is closed, or closing: its last
// response is out and it only waits for the client to close (see
// finishClose). On the loop; it panics elsewhere.
func (c *Conn) Closed() bool {
	c.mustOnLoop("Conn.Closed")
	return c.closed || c.lingering
}

// Write queues p for sending; it never blocks and never drops on its own.
// Within a callback of this connection (a handler, a Mode callback, a
// Sender's batch, a hub delivery) the bytes are corked and flushed with one
// write when the callback returns; elsewhere (a Post task, another
// connection's callback) they go to the socket at once. p is copied; the
// caller may reuse it. On the loop.
func (c *Conn) Write(p []byte) WriteResult {
	c.mustOnLoop("Conn.Write")
	iov := &c.el.iov
	iov[0] = p
	return c.write(iov[:1], len(p))
}

// Writev is Write for several buffers (a frame header and its payload,
// say), without copying them together first when they go to the socket at
// once. On the loop.
func (c *Conn) Writev(bufs ...[]byte) WriteResult {
	c.mustOnLoop("Conn.Writev")
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	// The loop's reusable iovec, not bufs: handing bufs to gnet (an
	// interface call) would move every caller's variadic array to the
	// heap, and gnet trims the elements of what it is given as it writes.
	iov := c.el.iov[:]
	if len(bufs) <= len(iov) {
		iov = iov[:copy(iov, bufs)]
	} else {
		iov = slices.Clone(bufs)
	}
	return c.write(iov, total)
}

// directWrite is the size from which a write skips the cork buffer: big
// payloads go to the socket (or gnet's queue) with one copy less, after
// whatever was corked before them.
const directWrite = 64 << 10

// write is the one path of Write and Writev. iov holds the buffers (the
// loop's iovec, or a copy) and is cleared before write returns.
func (c *Conn) write(iov [][]byte, total int) WriteResult {
	if c.closed {
		clear(iov)
		return Dropped
	}
	el := c.el
	if el.corked == c && total < directWrite {
		for _, b := range iov {
			el.out = append(el.out, b...)
		}
		clear(iov)
		if len(el.out) >= maxCork {
			el.flushCork()
		}
	} else {
		c.writeDirect(iov)
	}
	if c.Buffered() > el.srv.cfg.HighWatermark {
		return Queued
	}
	return Written
}

// writeDirect writes iov to the socket after anything corked for c,
// keeping the order, and clears it.
func (c *Conn) writeDirect(iov [][]byte) {
	el := c.el
	if el.corked == c {
		el.flushCork()
	}
	if el.tls != nil && el.tls[c] != nil {
		el.tlsWritev(c, iov)
		c.afterWrite()
	} else if !c.closed { // a failed flush closes c
		for _, b := range iov {
			c.queuedTotal += uint32(len(b))
		}
		// gnet copies what the socket does not take; on an error it closes
		// the connection (OnClose runs before this returns).
		if len(iov) == 1 {
			_, _ = c.gc.Write(iov[0])
		} else {
			_, _ = c.gc.Writev(iov)
		}
		c.afterWrite()
	}
	clear(iov)
}

// afterWrite puts the connection on the loop's watch list when output is
// left queued, so write progress and drains get checked.
func (c *Conn) afterWrite() {
	if !c.closed && !c.watched && c.gc.OutboundBuffered() > 0 {
		c.el.watchConn(c)
	}
}

// Buffered returns the bytes queued for this connection and not yet
// accepted by the kernel. On the loop.
func (c *Conn) Buffered() int {
	c.mustOnLoop("Conn.Buffered")
	if c.closed {
		return 0
	}
	n := c.gc.OutboundBuffered()
	if c.el.corked == c {
		n += len(c.el.out)
	}
	return n
}

// HighWatermark returns the configured high watermark, in bytes.
func (c *Conn) HighWatermark() int { return c.el.srv.cfg.HighWatermark }

// WantDrain asks for one Mode.OnDrain call once the queued output has
// fallen to the low watermark. On the loop.
func (c *Conn) WantDrain() {
	c.mustOnLoop("Conn.WantDrain")
	if c.closed || c.wantDrain {
		return
	}
	c.wantDrain = true
	c.el.drainWaiters++
	c.el.watchConn(c)
}

// SetTimer arranges one Mode.OnTimer call after d (rounded up to the
// wheel's TickInterval); d <= 0 cancels. Replaces any earlier mode timer.
// On the loop.
func (c *Conn) SetTimer(d time.Duration) {
	c.mustOnLoop("Conn.SetTimer")
	if c.closed {
		return
	}
	if d <= 0 {
		c.modeAt = 0
		c.el.reschedule(c)
		return
	}
	c.modeAt = c.el.srv.tickNow() + ticks(d)
	c.el.reschedule(c)
}

// Close closes the connection now; queued output is flushed as far as the
// socket takes it. On the loop.
func (c *Conn) Close() {
	c.mustOnLoop("Conn.Close")
	if c.closed {
		return
	}
	if c.reason == reasonNone {
		c.reason = reasonApp
	}
	if c.el.corked == c {
		c.el.flushCork()
	}
	// Synchronous on the loop: OnClose (and the mode's OnClose) has run
	// when Close returns.
	c.el.closeConn(c)
}

// CloseAfterFlush closes the connection once its queued output has been
// written (or Config.WriteTimeout passes without progress). On the loop.
func (c *Conn) CloseAfterFlush() {
	c.mustOnLoop("Conn.CloseAfterFlush")
	if c.closed || c.closeAfterFlush {
		return
	}
	c.closeAfterFlush = true
	c.stopParsing = true
	if c.reason == reasonNone {
		c.reason = reasonApp
	}
	if c.el.corked == c {
		return // handled when the cork is flushed
	}
	if c.gc.OutboundBuffered() == 0 {
		c.el.finishClose(c)
		return
	}
	c.el.watchConn(c)
}

// EndMode hands the connection back to HTTP after a stream ends (a
// chunked response with its last chunk written). With keepAlive false it
// closes after flushing; otherwise pipelined requests that arrived during
// the stream are served now. On the loop.
func (c *Conn) EndMode(keepAlive bool) {
	c.mustOnLoop("Conn.EndMode")
	if c.closed {
		return
	}
	c.mode = nil
	c.modeAt = 0
	if !keepAlive || c.el.srv.draining.Load() {
		c.CloseAfterFlush()
		return
	}
	c.lastActive = c.el.srv.tickNow()
	c.el.reschedule(c)
	if c.el.processing != c {
		// Ended outside the processing of c's own input (a timer, a drain,
		// a task, another connection's handler): serve what waits next.
		c.el.resumeLater(c)
	}
}

// PauseInput stops reading the connection and delivering its input to the
// Mode for d (rounded up to TickInterval); the kernel keeps the bytes, so
// TCP flow control slows the client. Afterwards the unconsumed input is
// offered to Mode.OnData again. A later call replaces the pause; d <= 0
// ends it. Rate limits use it (see ws). On the loop.
func (c *Conn) PauseInput(d time.Duration) {
	c.mustOnLoop("Conn.PauseInput")
	if c.closed {
		return
	}
	el := c.el
	if d <= 0 {
		if c.pauseUntil != 0 {
			c.pauseUntil = 0
			if !c.outPaused {
				el.setReading(c, true)
			}
			el.resumeLater(c)
		}
		return
	}
	c.pauseUntil = el.srv.tickNow() + ticks(d)
	el.setReading(c, false)
	el.wheel.cancel(c)
	el.reschedule(c)
}

// closeWith closes c now, recording why for Mode.OnClose and the stats.
func (c *Conn) closeWith(r closeReason) {
	if c.closed {
		return
	}
	if c.reason == reasonNone || c.reason == reasonApp {
		c.reason = r // a timeout while flushing a close we asked for is still a timeout
	}
	c.Close()
}

// mustOnLoop panics with the method's name when called off c's loop.
func (c *Conn) mustOnLoop(method string) {
	if !c.el.onLoop() {
		panic("loop: " + method + " called off the connection's loop")
	}
}

// TLS returns the connection's TLS state (protocol version, cipher suite,
// ALPN protocol, client certificates), or nil over plain TCP. On the loop (handlers use Ctx.TLS).
func (c *Conn) TLS() *tls.ConnectionState {
	c.mustOnLoop("Conn.TLS")
	if vc, ok := c.gc.(*vconn); ok {
		return vc.tls // net/http's
	}
	tr := c.el.tls[c]
	if tr == nil {
		return nil
	}
	st := tr.tc.ConnectionState()
	return &st
}
