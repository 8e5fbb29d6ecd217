package loop

// maxCork is the size at which a corked batch of responses is written
// early, so one read of many tiny pipelined requests cannot grow the
// loop's output buffer without bound.
const maxCork = 256 << 10

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

func (el *eventLoop) flushCork() {
	c := el.corked
	if len(el.out) == 0 || c == nil {
		return
	}
	if el.tls != nil && el.tls[c] != nil {
		el.tlsWrite(c, el.out)
	} else if !c.closed {
		c.queuedTotal += uint32(len(el.out))
		_, _ = c.gc.Write(el.out)
	}
	if cap(el.out) > 4*maxCork {
		el.out = nil // do not keep a huge buffer after a burst
	} else {
		el.out = el.out[:0]
	}
}
