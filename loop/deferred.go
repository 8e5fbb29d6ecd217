package loop

import "sync/atomic"

// Defer tells the loop that the response will come later, from any
// goroutine, through the returned Deferred. Headers set with SetHeader
// before Defer are part of the reply. Pipelined requests behind
// this one wait, so responses stay in order. Copy what the goroutine
// needs from the request first: the Ctx and its slices are reused.
func (c *Ctx) Defer() *Deferred {
	if c.responded {
		panic("BUG: loop: Defer after the response was written")
	}
	c.responded, c.deferred = true, true
	return &Deferred{conn: c.conn, keepAlive: c.keepAlive, head: string(c.req.Method) == "HEAD",
		http10: c.req.ProtoMinor == 0, headers: string(c.headers)}
}

// Deferred is a response promised by a handler that called Ctx.Defer.
//
// # Concurrency
//
// Its methods are safe from any goroutine; only the first reply counts.
type Deferred struct {
	conn      *Conn
	keepAlive bool
	head      bool
	http10    bool
	headers   string // header lines set with SetHeader before Defer
	done      atomic.Bool
}

// Reply sends the response. body is not copied: do not modify it after
// the call. It returns ErrAlreadyResponded on a second call and
// ErrServerClosed when the server has stopped. The reply is never dropped
// for a full queue.
func (d *Deferred) Reply(status int, contentType string, body []byte) error {
	if !d.done.CompareAndSwap(false, true) {
		return ErrAlreadyResponded
	}
	return d.conn.PostControl(func(c *Conn) {
		el := c.el
		keepAlive := d.keepAlive && !el.srv.draining.Load()
		prev := el.cork(c)
		extra := []byte(d.headers)
		if keepAlive && d.http10 {
			extra = append(extra, connKeepAlive...)
		}
		el.out = appendHead(el.out, status, contentType, len(body), keepAlive, extra)
		if !d.head && bodyAllowed(status) {
			el.out = append(el.out, body...)
		}
		c.deferred = false
		c.lastActive = el.srv.tickNow()
		if !keepAlive {
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
