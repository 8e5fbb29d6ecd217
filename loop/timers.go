package loop

import (
	"time"

	"github.com/streamd/streamd/httpcodec"
)

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
	if el.tls != nil {
		if tr := el.tls[c]; tr != nil && tr.partialAt != 0 {
			earliest(tr.partialAt + ticks(cfg.ReadTimeout))
		}
	}
	switch {
	case c.mode != nil:
		earliest(c.modeAt)
		return at
	case c.deferred:
		// The handler answers within ReplyTimeout; write progress is
		// watched separately.
		if pr, ok := el.replies[c]; ok {
			earliest(pr.at)
		}
		return at
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
	if el.tls != nil && el.tlsPartialExpired(c, now) {
		el.srv.logDebug("TLS record incomplete for ReadTimeout", c, ErrReadTimeout)
		c.closeWith(reasonReadTimeout)
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
		if pr, ok := el.replies[c]; ok && pr.at <= now {
			el.replyTimedOut(c)
		}
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
