package loop

import (
	"context"
	"errors"
	"log/slog"

	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/streamd/streamd/httpcodec"
	"github.com/streamd/streamd/internal/goroutine"
)

// maxCork is the size at which a corked batch of responses is written
// early, so one read of many tiny pipelined requests cannot grow the
// loop's output buffer without bound.
const maxCork = 256 << 10

// Loop is the public handle of one event loop, for sharding per-loop
// state (the hub keeps its subscribers per Loop).
type Loop struct {
	el *eventLoop
	// Index is the loop's number, 0 ≤ Index < number of loops.
	Index int
}

// Post runs fn on this loop. Safe from any goroutine; see Conn.Post for
// the errors.
func (l *Loop) Post(fn func()) error { return l.el.post(fn) }

// OnLoop reports whether the caller runs on this loop.
func (l *Loop) OnLoop() bool { return l.el.onLoop() }

// eventLoop is streamd's state for one gnet event loop. Everything but
// the task queue, gid and counters is touched only on the loop.
type eventLoop struct {
	srv    *Server
	gl     gnet.EventLoop
	handle *Loop
	gid    atomic.Uintptr // goroutine.ID of the loop, 0 once it stopped

	queue taskQueue

	wheel wheel
	// out is the cork buffer: the output of one callback, gathered for one
	// write. It belongs to exactly one connection, corked; cork and uncork
	// hand it over (see cork), and every append checks the owner.
	out    []byte
	corked *Conn
	iov    [4][]byte // reusable iovec for direct writes

	// processing is the connection whose input process is serving: a
	// stream of it that ends goes on with its input in the same call;
	// any other connection's resumes from a task (resumeLater), never
	// nested in a callback that uses req and ctx.
	processing *Conn

	shared   *httpcodec.Parser   // parser used by connections with no partial request
	free     []*httpcodec.Parser // parsers returned by connections
	freePend []*pending
	req      httpcodec.Request
	ctx      Ctx

	epfd    int               // gnet's epoll fd for read pauses (pause_linux.go); epfdUnknown until known
	senders map[*Conn]*Sender // goroutine senders waiting for a drain (async.go)

	conns        *Conn   // list of open connections (lnext/lprev)
	watch        []*Conn // connections with queued output
	drainWaiters int
	pollArmed    atomic.Bool
	pollTimer    *time.Timer
	dw           *drainWatcher

	stats       loopStats
	stoppedLoop atomic.Bool
}

// loopStats are written by the loop only and read by Server.Stats.
type loopStats struct {
	open     atomic.Int64
	accepted atomic.Int64
	requests atomic.Int64
	refused  atomic.Int64
	errors   atomic.Int64
	paused   atomic.Int64
	copied   atomic.Int64
	closes   [numReasons]atomic.Int64
	_        [64]byte // keep loops' counters on separate cache lines
}

func newEventLoop(srv *Server, gl gnet.EventLoop, idx int) *eventLoop {
	el := &eventLoop{srv: srv, gl: gl}
	el.handle = &Loop{el: el, Index: idx}
	el.queue.limit = srv.cfg.QueueLimit
	el.shared = httpcodec.NewParser(srv.cfg.Limits)
	el.wheel.now = srv.tickNow()
	el.dw = newDrainWatcher(el)
	el.epfd = epfdUnknown
	return el
}

const epfdUnknown = -2

func (el *eventLoop) onLoop() bool {
	return goroutine.ID() == el.gid.Load()
}

// post queues fn to run on the loop, waking it once per batch. It returns
// ErrQueueFull at Config.QueueLimit and ErrServerClosed once the loop has
// stopped; on an error fn is not queued and never runs.
func (el *eventLoop) post(fn func()) error { return el.enqueue(fn, true) }

// postControl queues fn ignoring the queue limit (see Conn.PostControl).
func (el *eventLoop) postControl(fn func()) error { return el.enqueue(fn, false) }

// enqueue is post's one path. The wake-up of an empty queue happens before
// fn is appended and under the queue's lock, so that a failed wake-up (the
// engine is stopping) is seen by exactly the poster whose task would have
// been lost, and by every later one: a nil error means fn is queued on a
// loop that was running.
func (el *eventLoop) enqueue(fn func(), limited bool) error {
	q := &el.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.stopped:
		return ErrServerClosed
	case limited && len(q.tasks) >= q.limit:
		return ErrQueueFull
	}
	if len(q.tasks) == 0 {
		if err := el.gl.Execute(context.Background(), drainRunnable{el}); err != nil {
			// The engine is shutting down: nothing will run the queue again.
			q.stopped = true
			el.srv.engineStopped(err)
			return ErrServerClosed
		}
	}
	q.tasks = append(q.tasks, fn)
	return nil
}

// drainTasks runs the tasks queued when it was scheduled, one batch, and
// returns to gnet. A task posted meanwhile found the queue empty (take
// swapped it out) and scheduled a drain of its own, which gnet runs after
// the I/O events it has waiting: a producer that keeps the queue full
// cannot keep the loop from serving its other connections.
func (el *eventLoop) drainTasks() {
	el.noteThread()
	tasks := el.queue.take()
	for _, fn := range tasks {
		fn()
	}
	el.queue.recycle(tasks)
}

// noteThread records the loop's goroutine on its first callback (gnet
// runs each loop on one goroutine for its whole life).
func (el *eventLoop) noteThread() {
	if el.gid.Load() == 0 && !el.stoppedLoop.Load() {
		el.gid.Store(goroutine.ID())
	}
}

// cork makes c the owner of the loop's output buffer until the matching
// uncork(prev), and returns the previous owner. Whatever the previous
// owner had gathered is written to it first, so el.out only ever holds one
// connection's bytes, however callbacks nest (a handler of one connection
// ending another's stream, a delivery closing a subscriber).
func (el *eventLoop) cork(c *Conn) (prev *Conn) {
	prev = el.corked
	if prev != c {
		if prev != nil {
			el.flushCork()
		}
		el.corked = c
	}
	return prev
}

// uncork writes the corked connection's output with one system call and
// gives the buffer back to prev.
func (el *eventLoop) uncork(prev *Conn) {
	c := el.corked
	if c == nil {
		return
	}
	el.flushCork()
	if prev == c {
		return // a nested cork of the same connection: the outer uncork finishes
	}
	el.corked = prev
	if c.closed {
		return
	}
	if c.closeAfterFlush && c.gc.OutboundBuffered() == 0 {
		el.finishClose(c)
		return
	}
	c.afterWrite()
}

// own asserts that c owns the output buffer before bytes for c are
// appended to it: a violation would send one client's bytes to another.
func (el *eventLoop) own(c *Conn) {
	if el.corked != c {
		panic("BUG: loop: output for one connection written while another owns the cork buffer")
	}
}

// lingerTimeout bounds how long a half-closed connection drains input.
const lingerTimeout = 2 * time.Second

// finishClose ends a connection whose last response has gone to the
// kernel. The client may still be sending (a body we refused, requests
// pipelined behind "Connection: close"): closing with unread input makes
// the kernel answer with RST, which can destroy the response in the
// client's receive buffer. So, as net/http does, half-close (FIN after
// the response) and discard input until the client closes or
// lingerTimeout passes.
func (el *eventLoop) finishClose(c *Conn) {
	if c.closed || c.lingering {
		return
	}
	if err := unix.Shutdown(c.gc.Fd(), unix.SHUT_WR); err != nil {
		c.Close()
		return
	}
	c.lingering, c.stopParsing = true, true
	c.headerStart = el.srv.tickNow() // the linger deadline counts from here
	_, _ = c.gc.Discard(-1)
	if c.pend != nil {
		el.dropInput(c.pend)
	}
	el.setReading(c, true) // drain the client's input until it closes
	el.wheel.cancel(c)
	el.reschedule(c)
	if m := c.mode; m != nil {
		// The stream is over once its last bytes are out: its owner hears
		// so now, not when the client gets round to closing.
		c.mode = nil
		m.OnClose(c, c.reason.decided(nil).err())
	}
}

func (el *eventLoop) flushCork() {
	c := el.corked
	if len(el.out) == 0 || c == nil {
		return
	}
	if !c.closed {
		c.queuedTotal += uint32(len(el.out))
		_, _ = c.gc.Write(el.out)
	}
	if cap(el.out) > 4*maxCork {
		el.out = nil // do not keep a huge buffer after a burst
	} else {
		el.out = el.out[:0]
	}
}

// onOpen sets up a new connection.
func (el *eventLoop) onOpen(gc gnet.Conn) (*Conn, bool) {
	el.noteThread()
	el.stats.accepted.Add(1)
	srv := el.srv
	if srv.draining.Load() {
		el.stats.refused.Add(1)
		return nil, false
	}
	c := &Conn{
		gc:    gc,
		el:    el,
		id:    srv.connIDs.Add(1),
		fd:    int32(gc.Fd()),
		tslot: -1,
	}
	now := el.srv.tickNow()
	c.lastActive = now
	c.headerStart = now // the first request must arrive within ReadHeaderTimeout
	c.lastProgress = now
	el.linkConn(c)
	el.stats.open.Add(1)
	el.reschedule(c)
	gc.SetContext(c)
	return c, true
}

func (el *eventLoop) linkConn(c *Conn) {
	c.lnext = el.conns
	if el.conns != nil {
		el.conns.lprev = c
	}
	el.conns = c
}

func (el *eventLoop) unlinkConn(c *Conn) {
	if c.lprev != nil {
		c.lprev.lnext = c.lnext
	} else {
		el.conns = c.lnext
	}
	if c.lnext != nil {
		c.lnext.lprev = c.lprev
	}
	c.lnext, c.lprev = nil, nil
}

// onClose releases everything the connection holds. err is gnet's reason
// (the peer's EOF or reset); a reason the loop recorded (a timeout, an
// overflow, shutdown) takes precedence.
func (el *eventLoop) onClose(c *Conn, err error) {
	if c.closed {
		return
	}
	c.closed = true
	r := c.reason.decided(err)
	if r != reasonPeer {
		err = r.err() // nil for reasonApp
	}
	el.stats.closes[r].Add(1)
	el.stats.open.Add(-1)
	if r != reasonApp && r != reasonPeer {
		el.srv.logDebug("connection closed: "+reasonNames[r], c, err)
	}
	el.srv.releaseIP(c)
	el.wheel.cancel(c)
	el.unlinkConn(c)
	if c.wantDrain {
		c.wantDrain = false
		el.drainWaiters--
	}
	if p := c.pend; p != nil {
		if p.parser != nil {
			el.releaseParser(c)
		}
		p.in = p.in[:0]
		el.releasePend(c)
	}
	if c.dwArmed && el.dw != nil {
		el.dw.forget(c)
		c.dwArmed = false
	}
	if len(el.senders) > 0 {
		if s := el.senders[c]; s != nil {
			delete(el.senders, c)
			s.gone()
		}
	}
	if m := c.mode; m != nil {
		c.mode = nil
		m.OnClose(c, err)
	}
}

func (el *eventLoop) releaseParser(c *Conn) {
	p := c.pend
	p.parser.Reset()
	if len(el.free) < 64 {
		el.free = append(el.free, p.parser)
	}
	p.parser = nil
	p.reqStart, p.want = 0, 0
	if len(p.in) == 0 {
		el.releasePend(c)
	}
}

// onTraffic runs when input arrives.
func (el *eventLoop) onTraffic(c *Conn) {
	c.lastActive = el.srv.tickNow()
	prev := el.cork(c)
	el.process(c)
	el.uncork(prev)
}

// resume processes input left waiting (after a deferred reply, the end of
// a stream, a drained backlog, a paused input), outside gnet's OnTraffic.
func (el *eventLoop) resume(c *Conn) {
	if c.closed {
		return
	}
	prev := el.cork(c)
	el.process(c)
	el.uncork(prev)
}

// resumeLater resumes c from a task of its own: when a stream ends in a
// timer, a drain callback, a goroutine's task or another connection's
// handler, the input that waits behind it is served without nesting one
// connection's request handling inside another's. At most one such task
// per connection is queued.
func (el *eventLoop) resumeLater(c *Conn) {
	if c.closed || c.resumeQueued {
		return
	}
	c.resumeQueued = true
	if el.postControl(func() {
		c.resumeQueued = false
		el.resume(c)
	}) != nil {
		c.resumeQueued = false
	}
}

// process feeds the connection's input to its mode or to the HTTP parser
// and serves every complete request, in order. Responses are corked. It
// stops (leaving the rest in the kernel, see setReading) while the
// connection's queued output is above the high watermark or its input is
// paused; it is resumed when the output drains or the pause ends.
func (el *eventLoop) process(c *Conn) {
	outer := el.processing
	el.processing = c
	high := el.srv.cfg.HighWatermark
	for !c.closed {
		if c.stopParsing {
			// Closing: nothing more is served; drop input rather than keep it.
			_, _ = c.gc.Discard(-1)
			if c.pend != nil {
				el.dropInput(c.pend)
			}
			break
		}
		if c.pauseUntil != 0 {
			el.setReading(c, false)
			break
		}
		if c.gc.OutboundBuffered() > high {
			el.pauseForOutput(c)
			break
		}
		in, pending := el.input(c)
		if len(in) == 0 {
			break
		}
		if c.mode != nil {
			n, err := c.mode.OnData(c, in)
			el.consume(c, n)
			if err != nil {
				el.srv.logDebug("stream input rejected", c, err)
				c.Close()
				break
			}
			if c.mode == nil {
				continue // the mode ended: serve what follows as HTTP
			}
			if n == 0 || n == len(in) {
				el.checkPending(c)
				break
			}
			continue // the mode stopped early (a pause, a backlog): check why
		}
		if c.deferred {
			el.checkPending(c)
			break
		}
		off, partial, more := el.parseAndServe(c, in)
		if partial >= 0 {
			el.keepPartial(c, in, pending, off, partial)
		} else {
			el.consume(c, off)
		}
		if !more {
			break
		}
		// A handler took the connection over (feed the rest to its mode) or
		// the output reached the high watermark (pause).
	}
	el.stash(c)
	el.processing = outer
}

// pauseForOutput stops reading and serving c while its queued output is
// above the high watermark; checkOutput resumes it at the low watermark.
func (el *eventLoop) pauseForOutput(c *Conn) {
	if !c.outPaused {
		c.outPaused = true
		el.stats.paused.Add(1)
	}
	el.setReading(c, false)
	el.watchConn(c)
}

// checkPending closes a connection that piles up input it cannot use.
func (el *eventLoop) checkPending(c *Conn) {
	n := c.gc.InboundBuffered()
	if c.pend != nil {
		n += len(c.pend.in)
	}
	if n > el.srv.cfg.MaxPendingInput {
		el.srv.logDebug("pending input overflow", c, ErrInputOverflow)
		c.closeWith(reasonInputOverflow)
	}
}

// parseAndServe serves the complete requests at the start of in and
// returns the bytes consumed, and whether process should go on (a handler
// took the connection over, or the output must drain first). When it stops
// at an incomplete request it returns that request's length in[off:] after
// compaction (see httpcodec.Parser.Compact: a chunked body is decoded in
// place and its framing dropped), else partial < 0.
func (el *eventLoop) parseAndServe(c *Conn, in []byte) (off, partial int, more bool) {
	partial = -1
	served := 0 // added to the stats once per call, not per request
	high := el.srv.cfg.HighWatermark
loop:
	for off < len(in) && !c.closed && !c.stopParsing && !c.deferred && c.mode == nil {
		if len(el.out) > high {
			// Read backpressure: a client pipelining faster than it reads
			// gets its answers written now, and no more are made until
			// they drain.
			el.flushCork()
			if c.gc.OutboundBuffered() > high {
				more = true
				break
			}
		}
		p := el.shared
		if c.pend != nil && c.pend.parser != nil {
			p = c.pend.parser
		}
		n, err := p.Parse(in[off:], &el.req)
		switch {
		case err == nil:
			off += n
			if c.pend != nil && c.pend.parser != nil {
				el.releaseParser(c)
			}
			c.headerStart = 0
			served++
			// Parse sets every field of el.req, so it is not reset
			// between requests, only after the last one (below).
			el.serve(c, &el.req)
		case err == httpcodec.ErrNeedMore || err == httpcodec.ErrExpectContinue:
			pd := el.pendFor(c)
			if pd.parser == nil {
				pd.parser = el.shared
				el.shared = el.newParser()
			}
			now := el.srv.tickNow()
			if pd.reqStart == 0 {
				pd.reqStart = now
				if c.headerStart != 0 {
					pd.reqStart = c.headerStart
				}
				el.reschedule(c)
			}
			switch {
			case p.HeadComplete():
				// Only the body is missing: the header deadline no longer
				// applies; ReadTimeout and the idle deadline do.
				if cl := el.req.ContentLength; cl > 0 && pd.want == 0 {
					pd.want = len(in) - off + int(cl) // at most one read more than the request
				}
				if c.headerStart != 0 {
					c.headerStart = 0
					el.reschedule(c)
				}
			case c.headerStart == 0:
				c.headerStart = now
				el.reschedule(c)
			}
			if err == httpcodec.ErrExpectContinue {
				if !el.expectContinue(c) {
					off = len(in) // the body is not read: the connection closes
					break loop
				}
				continue
			}
			partial = p.Compact(in[off:])
			break loop
		default:
			// After a protocol error the parser is in an undefined state
			// until Reset; p may be the loop's shared parser, which the
			// next connection would otherwise inherit mid-request.
			p.Reset()
			el.stats.errors.Add(1)
			var pe *httpcodec.ProtocolError
			if !errors.As(err, &pe) {
				pe = httpcodec.ErrMalformed
			}
			el.srv.logDebug("bad request", c, err)
			el.own(c)
			el.out = httpcodec.AppendError(el.out, pe)
			c.reason = reasonBadRequest
			c.CloseAfterFlush()
			break loop
		}
	}
	if served > 0 {
		el.stats.requests.Add(int64(served))
		el.req.Reset() // drop the views into the input
	}
	if c.mode != nil && !c.closed && off < len(in) {
		more = true
	}
	return off, partial, more
}

var continueResponse = []byte("HTTP/1.1 100 Continue\r\n\r\n")

// expectContinue answers "Expect: 100-continue" once the head is in: the
// client may send the body only if a handler will read it (RFC 9110,
// Section 10.1.1). Without a route the final 404 or 405 goes out at once
// and the connection closes without reading the body. It reports whether
// the body is wanted.
func (el *eventLoop) expectContinue(c *Conn) bool {
	req := &el.req
	if len(req.Path) > 0 && req.Path[0] != '/' {
		req.Path = originPath(req.Path)
	}
	ctx := &el.ctx
	if h, _ := el.srv.router.lookup(req.Method, req.Path, &ctx.params, &ctx.nparams); h != nil {
		el.own(c)
		el.out = append(el.out, continueResponse...)
		return true
	}
	el.releaseParser(c)
	req.KeepAlive = false
	req.Body = nil
	el.serve(c, req) // 404 or 405, with Connection: close
	el.req.Reset()
	return false
}

func (el *eventLoop) newParser() *httpcodec.Parser {
	if n := len(el.free); n > 0 {
		p := el.free[n-1]
		el.free = el.free[:n-1]
		return p
	}
	return httpcodec.NewParser(el.srv.cfg.Limits)
}

// serve routes one request and runs its handler.
func (el *eventLoop) serve(c *Conn, req *httpcodec.Request) {
	el.own(c)
	ctx := &el.ctx
	ctx.reset(c, req)
	if el.srv.draining.Load() {
		ctx.keepAlive = false
	}
	if len(req.Path) > 0 && req.Path[0] != '/' {
		// absolute-form ("GET http://host/path"), which a server MUST
		// accept (RFC 9112, Section 3.2.2): route on its path.
		req.Path = originPath(req.Path)
	}
	h, pathFound := el.srv.router.lookup(req.Method, req.Path, &ctx.params, &ctx.nparams)
	switch {
	case h != nil:
		el.call(h, ctx)
	case pathFound:
		ctx.SetHeader("Allow", el.srv.router.allowed(req.Path))
		ctx.Error(405, "method not allowed")
	default:
		ctx.Error(404, "not found")
	}
	if !ctx.responded {
		el.srv.log.LogAttrs(context.Background(), slog.LevelError, "handler returned without a response",
			slog.String("path", string(req.Path)))
		ctx.Error(500, "handler did not respond")
	}
	if ctx.deferred {
		c.deferred = true
	}
	if !ctx.keepAlive && !ctx.tookOver && !ctx.deferred {
		c.CloseAfterFlush()
	}
	ctx.release()
}

// call runs a handler, turning a panic into a 500 and a closed connection
// instead of a dead loop.
func (el *eventLoop) call(h HandlerFunc, ctx *Ctx) {
	defer func() {
		if r := recover(); r != nil {
			el.srv.log.LogAttrs(context.Background(), slog.LevelError, "handler panic",
				slog.Any("panic", r), slog.String("path", string(ctx.req.Path)))
			if el.corked != ctx.conn {
				el.cork(ctx.conn) // the panic unwound a nested cork
			}
			if !ctx.responded {
				ctx.keepAlive = false
				ctx.Error(500, "internal server error")
			}
			ctx.conn.CloseAfterFlush()
		}
	}()
	h(ctx)
}

// reschedule puts c on the wheel at its earliest deadline.
func (el *eventLoop) reschedule(c *Conn) {
	if c.closed {
		return
	}
	at := el.deadline(c)
	if at == 0 {
		el.wheel.cancel(c)
		return
	}
	if c.tslot >= 0 && c.tat <= at {
		return // fires earlier and re-computes then
	}
	el.wheel.schedule(c, at)
}

// deadline computes the connection's next due tick (0 = none).
func (el *eventLoop) deadline(c *Conn) int32 {
	cfg := &el.srv.cfg
	if c.lingering {
		return c.headerStart + ticks(lingerTimeout)
	}
	at := c.pauseUntil
	earliest := func(t int32) {
		if t != 0 && (at == 0 || t < at) {
			at = t
		}
	}
	switch {
	case c.mode != nil:
		earliest(c.modeAt)
		return at
	case c.deferred:
		return at // the handler answers; write progress is watched separately
	}
	if c.pend != nil && c.pend.reqStart != 0 {
		earliest(c.pend.reqStart + ticks(cfg.ReadTimeout))
	}
	if c.headerStart != 0 {
		earliest(c.headerStart + ticks(cfg.ReadHeaderTimeout))
	} else {
		earliest(c.lastActive + ticks(cfg.IdleTimeout))
	}
	return at
}

func ticks(d time.Duration) int32 { return int32((d + TickInterval - 1) / TickInterval) }

// fire handles a due wheel entry: it works out which of the connection's
// deadlines are due and acts on each.
func (el *eventLoop) fire(c *Conn) {
	now := el.wheel.now
	cfg := &el.srv.cfg
	if c.lingering {
		if c.headerStart+ticks(lingerTimeout) <= now {
			c.Close()
		} else {
			el.reschedule(c)
		}
		return
	}
	if c.pauseUntil != 0 && c.pauseUntil <= now {
		c.pauseUntil = 0
		if !c.outPaused {
			el.setReading(c, true)
		}
		el.resumeLater(c)
	}
	switch {
	case c.mode != nil:
		if c.modeAt != 0 && c.modeAt <= now {
			c.modeAt = 0
			prev := el.cork(c)
			c.mode.OnTimer(c)
			el.uncork(prev)
		}
	case c.deferred:
	case c.pend != nil && c.pend.reqStart != 0 && c.pend.reqStart+ticks(cfg.ReadTimeout) <= now:
		el.timeoutRequest(c, errReadTimeout, reasonReadTimeout)
	case c.headerStart != 0:
		if c.headerStart+ticks(cfg.ReadHeaderTimeout) <= now {
			el.timeoutRequest(c, errRequestTimeout, reasonHeaderTimeout)
		}
	case c.lastActive+ticks(cfg.IdleTimeout) <= now:
		if c.gc.OutboundBuffered() > 0 {
			// Still writing a response to a slow reader: not idle.
			// WriteTimeout (pollWatch) guards against a peer that stopped
			// reading.
			c.lastActive = now
		} else {
			c.closeWith(reasonIdle)
		}
	}
	el.reschedule(c)
}

// timeoutRequest answers 408 to a client that started a request and did
// not finish it in time, then closes the connection.
func (el *eventLoop) timeoutRequest(c *Conn, pe *httpcodec.ProtocolError, r closeReason) {
	if c.gc.InboundBuffered() > 0 || c.pend != nil {
		prev := el.cork(c)
		el.out = httpcodec.AppendError(el.out, pe)
		el.uncork(prev)
	}
	el.srv.logDebug("closing connection", c, r.err())
	c.closeWith(r)
}

var (
	errRequestTimeout = &httpcodec.ProtocolError{Status: 408, Reason: "request header timeout"}
	errReadTimeout    = &httpcodec.ProtocolError{Status: 408, Reason: "request timeout"}
)

// tick advances the wheel and checks the watch list.
func (el *eventLoop) tick(now int32) {
	el.noteThread()
	el.wheel.advance(now, el.fire)
	el.pollWatch()
}

// watchConn adds c to the list of connections with queued output.
func (el *eventLoop) watchConn(c *Conn) {
	if !c.watched {
		c.watched = true
		c.lastSent = c.queuedTotal - uint32(c.gc.OutboundBuffered())
		c.lastProgress = el.wheel.now
		el.watch = append(el.watch, c)
	}
	if c.wantDrain || c.closeAfterFlush || c.outPaused {
		el.armWritable(c)
	}
}

// pollWatch checks every connection with queued output: drained ones
// leave the list (closing those waiting to close, notifying drain
// waiters), stuck ones are closed after WriteTimeout.
func (el *eventLoop) pollWatch() {
	keep := el.watch[:0]
	for _, c := range el.watch {
		if el.checkOutput(c) {
			keep = append(keep, c)
		} else {
			c.watched = false
		}
	}
	clear(el.watch[len(keep):])
	el.watch = keep
}

// checkOutput looks at one watched connection's queued output and reports
// whether it still needs watching.
func (el *eventLoop) checkOutput(c *Conn) bool {
	if c.closed {
		return false
	}
	cfg := &el.srv.cfg
	now := el.wheel.now
	buffered := c.gc.OutboundBuffered()
	if sent := c.queuedTotal - uint32(buffered); sent != c.lastSent {
		c.lastSent, c.lastProgress = sent, now
	}
	if buffered <= cfg.LowWatermark {
		if c.outPaused {
			// Read backpressure ends: serve the input that waited.
			c.outPaused = false
			if c.pauseUntil == 0 {
				el.setReading(c, true)
			}
			el.resumeLater(c)
		}
		if c.wantDrain {
			c.wantDrain = false
			el.drainWaiters--
			if len(el.senders) > 0 {
				if s := el.senders[c]; s != nil {
					delete(el.senders, c)
					s.drained(buffered)
				}
			}
			if c.mode != nil {
				prev := el.cork(c)
				c.mode.OnDrain(c)
				el.uncork(prev)
			}
			if c.closed {
				return false
			}
			buffered = c.gc.OutboundBuffered()
		}
	}
	if buffered == 0 && !c.wantDrain && !c.outPaused {
		if c.closeAfterFlush {
			el.finishClose(c)
		}
		return false
	}
	if buffered > 0 && now-c.lastProgress > ticks(cfg.WriteTimeout) {
		el.srv.logDebug("closing connection", c, ErrWriteTimeout)
		c.closeWith(reasonWriteTimeout)
		return false
	}
	return true
}

// armWritable asks for a writable notification of c when someone waits
// for its output to drain (a producer, or a close after flush): gnet has
// no writable callback for users, so a per-loop epoll instance watches
// those sockets (see drainWatcher). Elsewhere a 1 ms poll does the job.
func (el *eventLoop) armWritable(c *Conn) {
	if el.dw != nil {
		el.dw.arm(c)
		return
	}
	el.armPoll()
}

// onWritable runs on the loop when a watched socket became writable.
func (el *eventLoop) onWritable(c *Conn) {
	if !c.watched || c.closed {
		return
	}
	if !el.checkOutput(c) {
		c.watched = false
		// leaves el.watch at the next tick's pollWatch
		return
	}
	if c.wantDrain || c.closeAfterFlush || c.outPaused {
		el.armWritable(c)
	}
}

// drainPollInterval is how often connections waiting for a drain are
// checked where no drainWatcher is available.
const drainPollInterval = time.Millisecond

// armPoll schedules a fast watch-list check while some connection waits
// for a drain. One timer per loop, never one per connection.
func (el *eventLoop) armPoll() {
	if !el.pollArmed.CompareAndSwap(false, true) {
		return
	}
	if el.pollTimer == nil {
		el.pollTimer = time.AfterFunc(drainPollInterval, el.pollFire)
	} else {
		el.pollTimer.Reset(drainPollInterval)
	}
}

func (el *eventLoop) pollFire() {
	_ = el.post(func() {
		el.pollArmed.Store(false)
		el.pollWatch()
		if el.drainWaiters > 0 || len(el.watch) > 0 {
			el.armPoll()
		}
	})
}

// shutdown asks every connection to finish: idle ones close now, streams
// are told by their mode, busy ones close after their response.
func (el *eventLoop) shutdown() {
	for c := el.conns; c != nil; {
		next := c.lnext
		switch {
		case c.mode != nil:
			c.reason = reasonShutdown // however the mode ends it
			prev := el.cork(c)
			c.mode.OnShutdown(c)
			el.uncork(prev)
		case c.deferred || (c.pend != nil && c.pend.parser != nil):
			// serve and Deferred.Reply see draining and close after the
			// response; the shutdown deadline cuts slow ones.
		case c.gc.OutboundBuffered() > 0:
			c.reason = reasonShutdown
			c.CloseAfterFlush()
		default:
			c.closeWith(reasonShutdown)
		}
		c = next
	}
}

// closeAll closes every connection still open at the shutdown deadline.
func (el *eventLoop) closeAll() {
	for c := el.conns; c != nil; {
		next := c.lnext
		c.closeWith(reasonShutdown)
		c = next
	}
}

func (el *eventLoop) stopTimers() {
	// The loop goroutine is gone; its ID may be reused by another.
	el.stoppedLoop.Store(true)
	el.gid.Store(0)
	if el.pollTimer != nil {
		el.pollTimer.Stop()
	}
	if el.dw != nil {
		el.dw.stop()
	}
}
