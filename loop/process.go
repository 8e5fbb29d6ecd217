package loop

import (
	"context"
	"errors"
	"log/slog"

	"github.com/streamd/streamd/httpcodec"
)

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
		if c.gc.OutboundBuffered()+len(el.out) > high {
			// Read backpressure: a client pipelining faster than it reads
			// gets its answers written now, and no more are made until
			// they drain. Checked before each request, so what is queued
			// stays within the watermark plus one answer.
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
		el.reschedule(c) // the reply is due within ReplyTimeout
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
