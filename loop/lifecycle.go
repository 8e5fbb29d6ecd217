package loop

import (
	"time"

	"golang.org/x/sys/unix"
)

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
	if el.tls != nil {
		el.tlsCloseNotify(c)
		if c.closed {
			return
		}
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

// onOpen sets up a new connection.
func (el *eventLoop) onOpen(gc transport) (*Conn, bool) {
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
	if el.vl == nil {
		el.srv.releaseIP(c) // the net/http backend's are not counted
	}
	el.wheel.cancel(c)
	el.unlinkConn(c)
	if el.tls != nil {
		el.closeTLS(c)
	}
	if c.deferred && el.replies != nil {
		delete(el.replies, c)
	}
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
