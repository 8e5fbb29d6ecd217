package loop

import "github.com/streamd/streamd/httpcodec"

// pending is what a connection holds between reads while a request (or a
// stream's unit of input) is incomplete: the parser with its offsets and
// the bytes received so far. Most connections have none: a request that
// arrives whole is parsed in gnet's read buffer and nothing is copied.
//
// Input grows by what arrives (append, amortised O(new bytes)); the parser
// resumes where it stopped; chunked bodies are decoded in place and the
// framing dropped (Parser.Compact), so a request costs its head plus its
// decoded body, never its wire size. Every byte held here counts against
// Config.MaxBufferedInput across the server.
type pending struct {
	parser   *httpcodec.Parser // nil while only a stream's input waits
	in       []byte
	counted  int   // cap(in) as counted in Server.bufferedInput
	want     int   // most the request being received can need, when its head says (Content-Length): the buffer never grows past it
	reqStart int32 // tick of the request's first byte, for ReadTimeout; 0 = none
}

// maxKeptInput is the capacity of an input buffer worth keeping for the
// next partial request; bigger ones (a body) are released.
const maxKeptInput = 16 << 10

// pendFor returns c's pending state, creating it.
func (el *eventLoop) pendFor(c *Conn) *pending {
	if c.pend == nil {
		if n := len(el.freePend); n > 0 {
			c.pend = el.freePend[n-1]
			el.freePend[n-1] = nil
			el.freePend = el.freePend[:n-1]
		} else {
			c.pend = new(pending)
		}
	}
	return c.pend
}

// releasePend gives c's pending state back once it holds nothing.
func (el *eventLoop) releasePend(c *Conn) {
	p := c.pend
	if p == nil || p.parser != nil || len(p.in) > 0 {
		return
	}
	el.dropInput(p)
	p.reqStart, p.want = 0, 0
	c.pend = nil
	if len(el.freePend) < 64 {
		el.freePend = append(el.freePend, p)
	}
}

// dropInput forgets p's bytes and returns their budget.
func (el *eventLoop) dropInput(p *pending) {
	if cap(p.in) > maxKeptInput {
		p.in = nil
	} else {
		p.in = p.in[:0]
	}
	if p.counted > 0 {
		el.srv.bufferedInput.Add(-int64(p.counted))
		p.counted = 0
	}
}

// input returns c's unprocessed input: its pending bytes with anything new
// from gnet appended (pending true), or, when nothing is pending, a view of
// gnet's read buffer (no copy). The slice is valid until consume or stash.
func (el *eventLoop) input(c *Conn) (in []byte, pending bool) {
	if el.tls != nil && el.tls[c] != nil {
		// Plaintext is always pending input (tls.go).
		if !el.tlsDecrypt(c) || c.pend == nil {
			return nil, false
		}
		return c.pend.in, true
	}
	if p := c.pend; p != nil && len(p.in) > 0 {
		if c.gc.InboundBuffered() > 0 {
			b, _ := c.gc.Next(-1)
			if !el.appendInput(c, b) {
				return nil, false
			}
		}
		return c.pend.in, true
	}
	in, _ = c.gc.Peek(-1)
	return in, false
}

// keepPartial keeps the incomplete request at in[off:off+n] (the parser
// decoded and compacted a chunked body in place, so the rest of in is
// spent framing) and drops everything before it and after it.
func (el *eventLoop) keepPartial(c *Conn, in []byte, pending bool, off, n int) {
	if pending {
		c.pend.in = c.pend.in[:off+n]
		el.consume(c, off)
		return
	}
	// in is gnet's read buffer: copy the request out, then let gnet drop
	// everything (the copy is the one stash would make).
	el.appendInput(c, in[off:off+n])
	_, _ = c.gc.Discard(len(in))
}

// consume drops the first n bytes of the input returned by input.
func (el *eventLoop) consume(c *Conn, n int) {
	if n <= 0 {
		return
	}
	if p := c.pend; p != nil && len(p.in) > 0 {
		if n >= len(p.in) {
			p.in = p.in[:0]
			if p.parser == nil {
				el.releasePend(c)
			}
			return
		}
		p.in = p.in[:copy(p.in, p.in[n:])]
		return
	}
	_, _ = c.gc.Discard(n)
}

// stash moves what gnet still holds for c into c's pending input, so that
// gnet's buffers stay empty between callbacks: input never sits in two
// places, and the next read appends instead of re-copying (gnet's Peek
// copies its whole ring buffer on every call).
func (el *eventLoop) stash(c *Conn) {
	if c.closed {
		return
	}
	if el.tls != nil && el.tls[c] != nil {
		el.tlsStash(c)
		return
	}
	if c.gc.InboundBuffered() == 0 {
		return
	}
	b, _ := c.gc.Next(-1)
	el.appendInput(c, b)
}

// appendInput appends b to c's pending input, charging the growth to the
// server's input budget. Over budget, the client gets 503 and the
// connection closes; it reports false then.
//
// The buffer grows by what arrives, by half again each time (so the bytes
// moved when it grows stay linear in the input), or for a request whose
// head declared its size (Content-Length) by doubling and never past that
// size: a body costs at most twice what was received of it, and what a
// head declares costs nothing until the bytes come (a few small heads
// that declare big bodies cannot take the budget from everyone's uploads).
func (el *eventLoop) appendInput(c *Conn, b []byte) bool {
	p := el.pendFor(c)
	budget := int64(el.srv.cfg.MaxBufferedInput)
	need := len(p.in) + len(b)
	if need > cap(p.in) {
		size := max(need, cap(p.in)+cap(p.in)/2)
		if p.want >= need {
			// A body of known size doubles (fewer buffers left behind for
			// the collector) up to that size.
			size = min(max(need, 2*cap(p.in)), p.want)
		}
		// Check the budget before allocating: a refused client must not
		// cost the buffer it was refused.
		if grow := size - p.counted; grow > 0 && el.srv.bufferedInput.Load()+int64(grow) > budget {
			el.refuseInput(c)
			return false
		}
		grown := make([]byte, len(p.in), size)
		copy(grown, p.in)
		p.in = grown
	}
	p.in = append(p.in, b...)
	el.stats.copied.Add(int64(len(b)))
	if grow := cap(p.in) - p.counted; grow > 0 {
		p.counted = cap(p.in)
		total := el.srv.bufferedInput.Add(int64(grow))
		if total > budget {
			el.refuseInput(c)
			return false
		}
		for peak := el.srv.bufferedPeak.Load(); total > peak && !el.srv.bufferedPeak.CompareAndSwap(peak, total); {
			peak = el.srv.bufferedPeak.Load()
		}
	}
	return true
}

var errOverloaded = &httpcodec.ProtocolError{Status: 503, Reason: "server busy: too much buffered input"}

// refuseInput answers 503 to a connection whose input the server cannot
// afford to hold and closes it.
func (el *eventLoop) refuseInput(c *Conn) {
	el.srv.logDebug("input budget exceeded", c, ErrOverloaded)
	if c.pend != nil {
		el.dropInput(c.pend)
	}
	_, _ = c.gc.Discard(-1)
	if c.mode == nil && !c.deferred && !c.closeAfterFlush {
		prev := el.cork(c)
		el.out = httpcodec.AppendError(el.out, errOverloaded)
		el.uncork(prev)
	}
	c.closeWith(reasonOverloaded)
}
