package loop

import (
	"context"
	"errors"
	"log/slog"
	"net"
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

	wheel  wheel
	out    []byte // cork buffer: all responses of one callback
	corked *Conn
	iov    [4][]byte // reusable iovec for direct writes

	shared *httpcodec.Parser   // parser used by connections with no partial request
	free   []*httpcodec.Parser // parsers returned by connections
	req    httpcodec.Request
	ctx    Ctx

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
	_        [64]byte // keep loops' counters on separate cache lines
}

func newEventLoop(srv *Server, gl gnet.EventLoop, idx int) *eventLoop {
	el := &eventLoop{srv: srv, gl: gl}
	el.handle = &Loop{el: el, Index: idx}
	el.queue.limit = srv.cfg.QueueLimit
	el.shared = httpcodec.NewParser(srv.cfg.Limits)
	el.wheel.now = srv.tickNow()
	el.dw = newDrainWatcher(el)
	return el
}

func (el *eventLoop) onLoop() bool {
	return goroutine.ID() == el.gid.Load()
}

// post queues fn to run on the loop, waking it once per batch.
func (el *eventLoop) post(fn func()) error {
	wake, err := el.queue.push(fn)
	if wake {
		el.wake()
	}
	return err
}

// postControl queues fn ignoring the queue limit (see Conn.PostControl).
func (el *eventLoop) postControl(fn func()) error {
	el.queue.mu.Lock()
	if el.queue.stopped {
		el.queue.mu.Unlock()
		return ErrServerClosed
	}
	el.queue.tasks = append(el.queue.tasks, fn)
	wake := len(el.queue.tasks) == 1
	el.queue.mu.Unlock()
	if wake {
		el.wake()
	}
	return nil
}

func (el *eventLoop) wake() {
	if err := el.gl.Execute(context.Background(), drainRunnable{el}); err != nil {
		// The engine is shutting down: nothing will run the queue again.
		el.queue.stop()
	}
}

func (el *eventLoop) drainTasks() {
	el.noteThread()
	for {
		tasks := el.queue.take()
		if len(tasks) == 0 {
			el.queue.recycle(tasks)
			return
		}
		for _, fn := range tasks {
			fn()
		}
		el.queue.recycle(tasks)
	}
}

// noteThread records the loop's goroutine on its first callback (gnet
// runs each loop on one goroutine for its whole life).
func (el *eventLoop) noteThread() {
	if el.gid.Load() == 0 && !el.stoppedLoop.Load() {
		el.gid.Store(goroutine.ID())
	}
}

// cork starts gathering c's output in el.out; uncork writes it with one
// system call.
func (el *eventLoop) cork(c *Conn) { el.corked = c }

func (el *eventLoop) uncork() {
	c := el.corked
	if c == nil {
		return
	}
	el.flushCork()
	el.corked = nil
	if c.closed {
		return
	}
	if c.closeAfterFlush && c.gc.OutboundBuffered() == 0 {
		el.finishClose(c)
		return
	}
	c.afterWrite()
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
	if err := unix.Shutdown(int(c.fd), unix.SHUT_WR); err != nil {
		c.Close()
		return
	}
	c.lingering, c.stopParsing = true, true
	c.headerStart = el.wheel.now // the linger deadline counts from here
	_, _ = c.gc.Discard(-1)
	el.wheel.cancel(c)
	el.reschedule(c)
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
	if srv.draining.Load() || int(srv.openConns()) >= srv.cfg.MaxConns {
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
	now := el.wheel.now
	c.lastActive = now
	c.headerStart = now // the first request must arrive within ReadHeaderTimeout
	c.lastProgress = now
	el.linkConn(c)
	el.stats.open.Add(1)
	el.reschedule(c)
	c.remote, _ = gc.RemoteAddr().(*net.TCPAddr)
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

// onClose releases everything the connection holds.
func (el *eventLoop) onClose(c *Conn, err error) {
	if c.closed {
		return
	}
	c.closed = true
	el.stats.open.Add(-1)
	el.wheel.cancel(c)
	el.unlinkConn(c)
	if c.wantDrain {
		c.wantDrain = false
		el.drainWaiters--
	}
	if c.parser != nil {
		el.releaseParser(c)
	}
	if c.dwArmed && el.dw != nil {
		el.dw.forget(c)
		c.dwArmed = false
	}
	if m := c.mode; m != nil {
		c.mode = nil
		m.OnClose(c, err)
	}
}

func (el *eventLoop) releaseParser(c *Conn) {
	c.parser.Reset()
	if len(el.free) < 64 {
		el.free = append(el.free, c.parser)
	}
	c.parser = nil
}

// onTraffic runs when input arrives.
func (el *eventLoop) onTraffic(c *Conn) {
	c.lastActive = el.wheel.now
	el.cork(c)
	el.process(c)
	el.uncork()
}

// resume processes input left waiting (after a deferred reply or the end
// of a stream), outside gnet's OnTraffic.
func (el *eventLoop) resume(c *Conn) {
	el.cork(c)
	el.process(c)
	el.uncork()
}

// process feeds the connection's input to its mode or to the HTTP parser
// and serves every complete request, in order. Responses are corked.
func (el *eventLoop) process(c *Conn) {
	if c.stopParsing && !c.closed {
		// Closing: nothing more is served; drop input rather than keep it.
		_, _ = c.gc.Discard(-1)
		return
	}
	for !c.closed && !c.stopParsing {
		in, _ := c.gc.Peek(-1)
		if len(in) == 0 {
			return
		}
		if c.mode != nil {
			n, err := c.mode.OnData(c, in)
			if n > 0 {
				_, _ = c.gc.Discard(n)
			}
			if err != nil {
				el.srv.logDebug("stream input rejected", c, err)
				c.Close()
				return
			}
			if c.mode != nil || n == 0 {
				el.checkPending(c, len(in)-n)
				return
			}
			continue // the mode ended: serve what follows as HTTP
		}
		if c.deferred {
			el.checkPending(c, len(in))
			return
		}
		off := el.parseAndServe(c, in)
		if off > 0 {
			_, _ = c.gc.Discard(off)
		}
		if c.mode == nil || off == 0 {
			return
		}
		// A handler took the connection over; feed the rest to its mode.
	}
}

// checkPending closes a connection that piles up input it cannot use.
func (el *eventLoop) checkPending(c *Conn, n int) {
	if n > el.srv.cfg.MaxPendingInput {
		el.srv.logDebug("pending input overflow", c, ErrInputOverflow)
		c.Close()
	}
}

// parseAndServe serves the complete requests at the start of in and
// returns the bytes consumed.
func (el *eventLoop) parseAndServe(c *Conn, in []byte) int {
	off := 0
	served := 0 // added to the stats once per call, not per request
loop:
	for off < len(in) && !c.closed && !c.stopParsing && !c.deferred && c.mode == nil {
		p := c.parser
		if p == nil {
			p = el.shared
		}
		n, err := p.Parse(in[off:], &el.req)
		switch {
		case err == nil:
			off += n
			if c.parser != nil {
				el.releaseParser(c)
			}
			c.headerStart = 0
			served++
			// Parse sets every field of el.req, so it is not reset
			// between requests, only after the last one (below).
			el.serve(c, &el.req)
		case err == httpcodec.ErrNeedMore || err == httpcodec.ErrExpectContinue:
			if c.parser == nil {
				c.parser = el.shared
				el.shared = el.newParser()
			}
			switch {
			case p.HeadComplete():
				// Only the body is missing: the header deadline no longer
				// applies; the idle deadline, refreshed by every read, does.
				if c.headerStart != 0 {
					c.headerStart = 0
					el.reschedule(c)
				}
			case c.headerStart == 0:
				c.headerStart = el.wheel.now
				el.reschedule(c)
			}
			if err == httpcodec.ErrExpectContinue {
				el.out = append(el.out, continueResponse...)
				continue
			}
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
			el.out = httpcodec.AppendError(el.out, pe)
			c.CloseAfterFlush()
			break loop
		}
	}
	if served > 0 {
		el.stats.requests.Add(int64(served))
		el.req.Reset() // drop the views into the input
	}
	return off
}

var continueResponse = []byte("HTTP/1.1 100 Continue\r\n\r\n")

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
	switch {
	case c.lingering:
		return c.headerStart + ticks(lingerTimeout)
	case c.mode != nil:
		return c.modeAt
	case c.deferred:
		return 0 // the handler answers; write progress is watched separately
	case c.headerStart != 0:
		return c.headerStart + ticks(cfg.ReadHeaderTimeout)
	default:
		return c.lastActive + ticks(cfg.IdleTimeout)
	}
}

func ticks(d time.Duration) int32 { return int32((d + TickInterval - 1) / TickInterval) }

// fire handles a due wheel entry.
func (el *eventLoop) fire(c *Conn) {
	now := el.wheel.now
	at := el.deadline(c)
	if at == 0 {
		return
	}
	if at > now {
		el.wheel.schedule(c, at)
		return
	}
	switch {
	case c.lingering:
		c.Close()
	case c.mode != nil:
		c.modeAt = 0
		el.cork(c)
		c.mode.OnTimer(c)
		el.uncork()
	case c.headerStart != 0:
		if c.gc.InboundBuffered() > 0 || c.parser != nil {
			el.cork(c)
			el.out = httpcodec.AppendError(el.out, errRequestTimeout)
			el.uncork()
		}
		el.srv.logDebug("closing connection", c, ErrHeaderTimeout)
		c.Close()
	default:
		if c.gc.OutboundBuffered() > 0 {
			// Still writing a response to a slow reader: not idle.
			// WriteTimeout (pollWatch) guards against a peer that stopped
			// reading.
			c.lastActive = now
			el.reschedule(c)
			return
		}
		c.Close()
	}
}

var errRequestTimeout = &httpcodec.ProtocolError{Status: 408, Reason: "request header timeout"}

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
	if c.wantDrain || c.closeAfterFlush {
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
	if c.wantDrain && buffered <= cfg.LowWatermark {
		c.wantDrain = false
		el.drainWaiters--
		if c.mode != nil {
			el.cork(c)
			c.mode.OnDrain(c)
			el.uncork()
		}
		if c.closed {
			return false
		}
		buffered = c.gc.OutboundBuffered()
	}
	if buffered == 0 && !c.wantDrain {
		if c.closeAfterFlush {
			el.finishClose(c)
		}
		return false
	}
	if buffered > 0 && now-c.lastProgress > ticks(cfg.WriteTimeout) {
		el.srv.logDebug("closing connection", c, ErrWriteTimeout)
		c.Close()
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
	if c.wantDrain || c.closeAfterFlush {
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
		if el.drainWaiters > 0 {
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
			el.cork(c)
			c.mode.OnShutdown(c)
			el.uncork()
		case c.deferred || c.parser != nil:
			// serve and Deferred.Reply see draining and close after the
			// response; the shutdown deadline cuts slow ones.
		case c.gc.OutboundBuffered() > 0:
			c.CloseAfterFlush()
		default:
			c.Close()
		}
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
