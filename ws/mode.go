package ws

import (
	"time"

	closecause "github.com/streamd/streamd/internal/reason"
	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/ws/internal/wsframe"
)

// costsToken reports whether a frame whose first byte is b0 costs a rate
// limiter token (see Options.MessageRate): the first frame of a data
// message, a ping, and a pong other than the answer to our keepalive ping.
// Invalid opcodes cost nothing: the decoder rejects them. On the loop.
func (s *Socket) costsToken(b0 byte) bool {
	switch wsframe.Opcode(b0 & 0x0f) {
	case wsframe.OpText, wsframe.OpBinary, wsframe.OpPing:
		return true
	case wsframe.OpPong:
		return !s.pingPending
	}
	return false
}

// rateWait returns how long until the rate limiter has a token, 0 if it
// has one now. On the loop.
func (s *Socket) rateWait(now int64, p rateParams) time.Duration {
	if s.x == nil {
		return 0 // no message yet: a full bucket
	}
	return s.x.rate.wait(now, p)
}

// mode adapts a Socket to loop.Mode.
type mode struct{ s *Socket }

// spillThreshold is the size of a partial frame above which the socket
// copies it out of the loop's input into its own buffer. The decoder
// parses whole frames in place, but the loop closes a connection that
// leaves more than Config.MaxPendingInput (256 KiB by default) unconsumed,
// and a single frame may be as big as ReadLimit (1 MiB by default).
const spillThreshold = 64 << 10

func (m mode) OnData(c *loop.Conn, in []byte) (int, error) {
	s := m.s
	if s.x == nil || len(s.x.spill) == 0 {
		n, paused := m.decode(c, in)
		if rest := len(in) - n; !paused && rest >= spillThreshold && s.state != stateClosed && !c.Closed() {
			x := s.extra()
			x.spill = append(x.spill[:0], in[n:]...)
			return len(in), nil
		}
		return n, nil
	}
	// A big frame is arriving: gather it here. The loop offers only new
	// input, since everything before was consumed. The spill holds that
	// one frame only: once it is complete, whatever followed it in in goes
	// back to the loop. So a rate-limit pause (which never stops at the
	// spilled frame itself: its token was checked before it was spilled,
	// and tokens only accrue meanwhile) leaves the rest in the loop's
	// input, which the loop offers again when the pause ends; it would not
	// call OnData for bytes left here.
	x := s.x
	held := len(x.spill)
	x.spill = append(x.spill, in...)
	n, _ := m.decode(c, x.spill)
	if n <= held {
		// Still incomplete, or the socket closed: keep (or, after
		// OnClose, drop) the bytes.
		if x := s.x; x != nil && x.spill != nil && n > 0 {
			x.spill = x.spill[:copy(x.spill, x.spill[n:])]
		}
		return len(in), nil
	}
	if x := s.x; x != nil { // OnClose may have dropped it
		x.spill = nil // do not pin a message-sized buffer on an idle socket
		s.tidy()
	}
	return n - held, nil
}

// decode decodes and dispatches the frames in in and returns the bytes
// consumed, and whether it stopped for a rate-limit pause.
func (m mode) decode(c *loop.Conn, in []byte) (int, bool) {
	s := m.s
	// Hand a fragmented or compressed message's state back to the pool
	// once delivered: an idle socket keeps none.
	defer s.dec.Release()
	rate, limited := s.opts.rateParams()
	var now int64 // the limiter's clock, read once per call
	off := 0
	for off < len(in) && s.state != stateClosed && !c.Closed() {
		// A frame that costs a token is checked before it is decoded (so
		// that a pause leaves it unread) and charged once consumed.
		charge := limited && s.state == stateOpen && s.costsToken(in[off])
		if charge {
			if now == 0 {
				now = monoNow()
			}
			if wait := s.rateWait(now, rate); wait > 0 {
				if s.opts.RatePolicy == RateClose {
					s.fail(errRateLimit)
					return len(in), false
				}
				// Leave this frame and the rest in the loop's input (or in
				// the kernel) until the token is due.
				c.PauseInput(wait)
				return off, true
			}
		}
		ev, n, err := s.dec.Next(in[off:])
		off += n
		if charge && n > 0 {
			s.extra().rate.take(now, rate)
		}
		if err == wsframe.ErrNeedMore {
			break
		}
		if err == wsframe.ErrClosed {
			return len(in), false // nothing may follow a close frame: ignore it
		}
		if err != nil {
			s.fail(closeError(err))
			return len(in), false
		}
		switch ev.Kind {
		case wsframe.EventMessage:
			if s.state == stateOpen && s.onMessage != nil {
				s.onMessage(s, Message{Op: Opcode(ev.Op), Data: ev.Payload})
			}
		case wsframe.EventPing:
			if s.state == stateOpen {
				s.writeControl(wsframe.OpPong, ev.Payload)
			}
		case wsframe.EventPong:
			s.pingPending = false
		case wsframe.EventClose:
			s.closeCode = StatusCode(ev.Code)
			if len(ev.Reason) > 0 {
				s.extra().closeReason = string(ev.Reason)
			}
			if s.state == stateOpen {
				// Echo the code (RFC 6455, Section 5.5.1); none for an empty close.
				if ev.Code == wsframe.CloseNoStatus {
					s.writeControl(wsframe.OpClose, nil)
				} else {
					s.conn.Write(wsframe.AppendClose(nil, ev.Code, ""))
				}
			}
			s.closing(stateClosed)
			c.SetTimer(s.closeTimeout()) // bound the flush of our answer
			c.CloseAfterFlush()
			return len(in), false
		}
	}
	return off, false
}

func (m mode) OnTimer(c *loop.Conn) {
	s := m.s
	switch s.state {
	case stateCloseSent, stateClosed:
		// The client never answered our close frame, or never read our
		// answer to its own.
		c.Close()
	case stateOpen:
		if s.pingPending {
			s.closing(stateClosed)
			s.closeCode = CloseAbnormal
			if s.onError != nil {
				s.onError(s, ErrPongTimeout)
			}
			c.Close()
			return
		}
		s.pingPending = true
		s.writeControl(wsframe.OpPing, nil)
		s.schedulePing()
	}
}

func (m mode) OnDrain(c *loop.Conn) {
	s := m.s
	if s.sub != nil {
		s.sub.Drained()
	}
	if x := s.x; x != nil {
		for _, sub := range x.subs {
			sub.Drained()
		}
		x.onDrain.Run()
		s.tidy() // x may hold nothing now; if the callback set another, it keeps x
	}
}

// OnShutdown closes the socket with 1001 (going away).
// Messages admitted from goroutines before the shutdown go out first.
func (m mode) OnShutdown(c *loop.Conn) {
	s := m.s
	if s.sndPending() {
		s.share().snd.Send(c, 0, 0, true, func(*loop.Conn) { s.startClose(CloseGoingAway, "server shutting down") })
		return
	}
	s.startClose(CloseGoingAway, "server shutting down")
}

func (m mode) OnClose(_ *loop.Conn, err error) {
	s := m.s
	s.state = stateClosed
	s.gone.Store(true)
	s.leaveAll()
	if s.comp != nil {
		s.comp.Reset()
	}
	s.dec.Reset()
	var reason string
	if x := s.x; x != nil {
		reason = x.closeReason
		x.spill, x.onDrain, x.closeReason = nil, loop.Drain{}, ""
		s.tidy()
	}
	code := s.closeCode
	if code == 0 {
		// No close frame from the peer, and no error reported yet (fail
		// and the pong timeout set CloseAbnormal): if the loop cut the
		// connection, say why.
		code = CloseAbnormal
		if s.onError != nil && closecause.FromLoop(err) {
			s.onError(s, err)
		}
	}
	if s.onClose != nil {
		s.onClose(s, code, reason)
	}
}
