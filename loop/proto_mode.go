package loop

import "github.com/streamd/streamd/httpcodec"

// For protocol packages: Mode takes over a connection's byte stream after a
// handler hands it over with Ctx.TakeOver: an SSE stream, a chunked
// response, a WebSocket. Every method is called on the connection's loop and
// must not block.
type Mode interface {
	// OnData receives the connection's unconsumed input (a view into the
	// loop's buffer, valid only during the call) and returns how many
	// bytes it consumed; the rest is offered again with the next input.
	// Unconsumed input counts against Config.MaxPendingInput: a mode that
	// waits for larger units (a big WebSocket frame) must copy them aside.
	// A non-nil error closes the connection.
	OnData(c *Conn, in []byte) (consumed int, err error)
	// OnTimer fires once when the delay set with Conn.SetTimer is due.
	OnTimer(c *Conn)
	// OnDrain fires once after Conn.WantDrain when the queued output has
	// fallen to the low watermark.
	OnDrain(c *Conn)
	// OnShutdown fires when the server starts a graceful shutdown. The
	// mode should end its stream soon (a WebSocket closes with 1001, an
	// SSE stream ends so the client reconnects elsewhere); connections
	// still open at the shutdown deadline are closed.
	OnShutdown(c *Conn)
	// OnClose fires exactly once when the connection closes while the
	// mode owns it; err is the reason (nil for a close we asked for). A
	// mode that gives the connection back with EndMode gets no OnClose.
	OnClose(c *Conn, err error)
}

// For protocol packages: Conn returns the connection the request came on.
func (c *Ctx) Conn() *Conn { return c.conn }

// For protocol packages: WriteStreamHead writes the head of a response
// without a length (a stream): the status line, Server and Date, the extra
// header lines (complete "Name: value\r\n" lines) and the headers set with
// SetHeader, then the blank line. It goes straight into the connection's
// corked output, with whatever else the callback writes. Call it after
// TakeOver, before the stream's first bytes.
func (c *Ctx) WriteStreamHead(status int, extra string) {
	el := c.el
	if el.corked == c.conn {
		el.out = c.appendStreamHead(el.out, status, extra)
		return
	}
	c.conn.Write(c.appendStreamHead(nil, status, extra))
}

// appendStreamHead appends the head WriteStreamHead writes.
func (c *Ctx) appendStreamHead(dst []byte, status int, extra string) []byte {
	dst = httpcodec.AppendHead(dst, status)
	dst = append(dst, extra...)
	dst = append(dst, c.headers...)
	return append(dst, "\r\n"...)
}

// For protocol packages: TakeOver hands the connection to m: no automatic
// response is written, later input goes to m.OnData, and m ends the stream
// with Conn.EndMode or Conn.Close. The caller writes the response head
// itself, with WriteStreamHead.
func (c *Ctx) TakeOver(m Mode) *Conn {
	if c.responded {
		panic("BUG: loop: TakeOver after the response was written")
	}
	c.responded, c.tookOver = true, true
	c.conn.mode = m
	c.conn.modeAt = 0
	c.el.reschedule(c.conn)
	return c.conn
}
