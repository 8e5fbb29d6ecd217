package loop

import (
	"sync"

	"github.com/streamd/streamd/httpcodec"
)

// Defer tells the loop that the response will come later, from any
// goroutine, through the returned Deferred. Headers set with SetHeader
// before Defer are part of the reply, and Deferred.SetHeader adds more.
// Pipelined requests behind this one wait, so responses stay in order.
// Copy what the goroutine needs from the request first: the Ctx and its
// slices are reused.
func (c *Ctx) Defer() *Deferred {
	if c.responded {
		panic("BUG: loop: Defer after the response was written")
	}
	c.responded, c.deferred = true, true
	d := &Deferred{conn: c.conn, resp: c.respHead()}
	d.resp.Header = append([]byte(nil), c.headers...) // Ctx's are reused
	el := c.conn.el
	if el.replies == nil {
		el.replies = make(map[*Conn]pendingReply)
	}
	el.replies[c.conn] = pendingReply{d: d, at: el.srv.tickNow() + ticks(el.srv.cfg.ReplyTimeout)}
	return d
}

// pendingReply is an outstanding Deferred and the tick its reply is due
// by (Config.ReplyTimeout).
type pendingReply struct {
	d  *Deferred
	at int32
}

var errReplyTimeout = &httpcodec.ProtocolError{Status: 503, Reason: "the response did not come in time"}

// replyTimedOut answers 503 for a Deferred that was not replied within
// Config.ReplyTimeout and closes the connection after it. On the loop.
func (el *eventLoop) replyTimedOut(c *Conn) {
	pr, ok := el.replies[c]
	if !ok {
		return
	}
	delete(el.replies, c)
	pr.d.mu.Lock()
	done := pr.d.done
	pr.d.done, pr.d.timedOut = true, true
	pr.d.mu.Unlock()
	if done {
		return // the reply is on its way in the task queue
	}
	el.srv.logDebug("deferred reply timed out", c, ErrReplyTimeout)
	c.deferred = false
	c.reason = reasonReplyTimeout
	prev := el.cork(c)
	el.out = httpcodec.AppendError(el.out, errReplyTimeout)
	c.CloseAfterFlush()
	el.uncork(prev)
}

// Deferred is a response promised by a handler that called Ctx.Defer.
//
// # Concurrency
//
// Its methods are safe from any goroutine; only the first reply counts,
// and SetHeader counts only before it.
type Deferred struct {
	conn     *Conn
	mu       sync.Mutex
	resp     httpcodec.ResponseHead // the reply task's alone once done
	done     bool
	timedOut bool // Config.ReplyTimeout passed first
}

// SetHeader adds a header line to the reply, as Ctx.SetHeader does
// (invalid names and values are dropped). After Reply it does nothing.
// Safe from any goroutine.
func (d *Deferred) SetHeader(name, value string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.done {
		d.resp.Header = appendHeaderLine(d.resp.Header, name, value)
	}
}

// Reply sends the response. body is not copied: do not modify it after
// the call. contentType is written as Ctx.Bytes writes it. It returns ErrAlreadyResponded on a second call and
// ErrServerClosed when the server has stopped. The reply is never dropped
// for a full queue.
func (d *Deferred) Reply(status int, contentType string, body []byte) error {
	d.mu.Lock()
	done, timedOut := d.done, d.timedOut
	d.done = true
	d.mu.Unlock()
	switch {
	case timedOut:
		return ErrReplyTimeout
	case done:
		return ErrAlreadyResponded
	}
	return d.conn.PostControl(func(c *Conn) {
		el := c.el
		delete(el.replies, c)
		h := &d.resp
		h.Status, h.ContentType = status, contentType
		h.KeepAlive = h.KeepAlive && !el.srv.draining.Load()
		prev := el.cork(c)
		el.out = appendResponse(el.out, h, "", body)
		c.deferred = false
		c.lastActive = el.srv.tickNow()
		if !h.KeepAlive {
			c.CloseAfterFlush()
		} else {
			el.reschedule(c)
			el.process(c) // serve pipelined requests that waited
		}
		el.uncork(prev)
	})
}

// Text is Reply with a text/plain body.
func (d *Deferred) Text(status int, body string) error {
	return d.Reply(status, "text/plain; charset=utf-8", []byte(body))
}
