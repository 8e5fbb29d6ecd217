package ws

import (
	"errors"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	closecause "github.com/streamd/streamd/internal/reason"
	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/ws/internal/wsframe"
)

// Handler holds a socket's callbacks; each is optional and runs on the
// socket's loop, so it must not block.
type Handler struct {
	// OnOpen runs once the handshake response is queued.
	OnOpen func(s *Socket)
	// OnMessage runs for every whole message (reassembled, decompressed,
	// UTF-8-checked for text). m.Data is valid only during the call.
	OnMessage func(s *Socket, m Message)
	// OnClose runs once when the socket is gone, with the peer's close
	// code and reason, or CloseAbnormal (1006) if the connection dropped
	// without a close frame.
	OnClose func(s *Socket, code StatusCode, reason string)
	// OnError runs when the peer broke the protocol (the error is a
	// *CloseError with the code sent to it), a keepalive timed out
	// (ErrPongTimeout), or the loop cut the connection for a reason of its
	// own. That last error is the loop's close reason as is, so match it
	// with errors.Is: loop.ErrWriteTimeout (the client stopped reading),
	// loop.ErrInputOverflow (a partial frame over Config.MaxPendingInput),
	// loop.ErrShutdown (the shutdown deadline cut a socket still closing),
	// and the like; OnClose follows with CloseAbnormal. The socket is
	// closing already. A client that drops the connection without a close
	// frame (EOF, reset) is no error: it gets OnClose with CloseAbnormal
	// only.
	OnError func(s *Socket, err error)
}

// Message is one received message, as Handler.OnMessage gets it.
type Message struct {
	// Op is OpText or OpBinary.
	Op Opcode
	// Data is the payload (unmasked, reassembled, decompressed). It is a
	// view into the connection's buffers, valid only until OnMessage
	// returns: copy it to keep it or to hand it to another goroutine.
	Data []byte
}

// Text returns the payload as a string (a copy, which may be kept). Call
// it during OnMessage, while Data is valid.
func (m Message) Text() string { return string(m.Data) }

// Opcode says whether a message is text or binary: the opcodes of
// RFC 6455, Section 5.6.
type Opcode byte

// Message types.
const (
	OpText   Opcode = 0x1 // UTF-8 text
	OpBinary Opcode = 0x2 // binary data
)

// String returns "text" or "binary". Safe from any goroutine.
func (op Opcode) String() string {
	switch op {
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	}
	return "Opcode(" + strconv.Itoa(int(op)) + ")"
}

// socket states, loop-only
const (
	stateOpen uint8 = iota
	stateCloseSent
	stateClosed
)

// Socket is one WebSocket connection.
//
// # Concurrency
//
// Each method's doc says where it may be called. All but OnDrain are
// safe from any goroutine: on the socket's loop (in its callbacks) frames
// go straight to the connection, corked with anything else written in the
// same callback; from other goroutines the payload is copied and the
// frame is written by the loop, in call order. OnDrain belongs to the
// loop: called from any other goroutine it panics with its name rather
// than race. The Handler callbacks always run on the loop.
//
// # Memory
//
// An idle socket is this struct, at most 128 bytes (tested): what all
// sockets of an Upgrader share stays in its Options, the remote address is
// the connection's, and the state of a message in progress (reassembly,
// inflate buffers, a big frame still arriving, more than one hub
// subscription) is allocated while it is needed and dropped afterwards. A
// rate-limited socket (Options.MessageRate) keeps 8 bytes of limiter state
// out of line from its first message on.
type Socket struct {
	conn *loop.Conn
	opts *Options
	comp *wsframe.Compressor // nil without permessage-deflate

	// Handler callbacks (OnOpen runs in Upgrade and is not kept)
	onMessage func(s *Socket, m Message)
	onClose   func(s *Socket, code StatusCode, reason string)
	onError   func(s *Socket, err error)

	// loop-only
	sub *loop.Subscription // the first hub subscription; more in x.subs
	x   *socketExtra       // rarely used state, nil on an idle socket

	// any goroutine
	shared atomic.Pointer[socketShared] // allocated by SetData or the first send from another goroutine

	// loop-only
	dec wsframe.Decoder

	// any goroutine
	gone atomic.Bool

	// loop-only, grouped by size
	closeCode   StatusCode
	subproto    uint16 // 1 + index of the subprotocol in opts.Subprotocols, 0 = none
	state       uint8
	pingPending bool
	hdr         [maxServerHeaderLen]byte // scratch for frame headers
}

// socketShared is the part of a socket used from other goroutines, kept
// out of line: most sockets never need it.
type socketShared struct {
	data atomic.Pointer[any]
	snd  loop.Sender // admission of sends from other goroutines
}

// share returns s.shared, allocating it. Safe from any goroutine.
func (s *Socket) share() *socketShared {
	if sh := s.shared.Load(); sh != nil {
		return sh
	}
	s.shared.CompareAndSwap(nil, new(socketShared))
	return s.shared.Load()
}

// sndPending reports whether messages admitted from other goroutines have
// not been written yet: a close on the loop goes after them.
func (s *Socket) sndPending() bool {
	sh := s.shared.Load()
	return sh != nil && sh.snd.Pending()
}

// sndBuffered is the bytes admitted from other goroutines and queued as
// last seen on the loop.
func (s *Socket) sndBuffered() int {
	if sh := s.shared.Load(); sh != nil {
		return sh.snd.Buffered()
	}
	return 0
}

// socketExtra holds what a socket needs only now and then: most sockets
// never have more than one subscription, a pending OnDrain callback or a
// big frame arriving, and the close reason only matters between the
// client's close frame and OnClose. Allocated on demand and dropped when
// empty again, except that a rate-limited socket keeps it (for the
// limiter's 8 bytes) from its first message on. Loop-only.
type socketExtra struct {
	subs        []*loop.Subscription // subscriptions after s.sub
	spill       []byte               // a big partial frame, kept here instead of in the loop's input
	onDrain     func()
	closeReason string
	rate        rateLimiter // Options.MessageRate; kept from the first message on
}

// extra returns s.x, allocating it if needed. On the loop.
func (s *Socket) extra() *socketExtra {
	if s.x == nil {
		s.x = new(socketExtra)
	}
	return s.x
}

// tidy drops s.x once it holds nothing. On the loop.
func (s *Socket) tidy() {
	if x := s.x; x != nil && len(x.subs) == 0 && x.spill == nil && x.onDrain == nil && x.closeReason == "" && x.rate.tat == 0 {
		s.x = nil
	}
}

// maxServerHeaderLen is the longest header of an unmasked frame.
const maxServerHeaderLen = 10

// appendClose appends a close frame with code and reason (cut to fit).
func appendClose(dst []byte, code StatusCode, reason string) []byte {
	return wsframe.AppendClose(dst, wsframe.StatusCode(code), reason)
}

// RemoteAddr is the client's address. It stays valid after the socket
// has closed. Safe from any goroutine.
func (s *Socket) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// Subprotocol is the negotiated subprotocol ("" if none). Safe from any
// goroutine.
func (s *Socket) Subprotocol() string {
	if s.subproto == 0 {
		return ""
	}
	return s.opts.Subprotocols[s.subproto-1]
}

// maxBuffered is Options.MaxBuffered or its default.
func (s *Socket) maxBuffered() int {
	if n := s.opts.MaxBuffered; n > 0 {
		return n
	}
	return 4 * s.conn.HighWatermark()
}

// Compressed reports whether permessage-deflate was negotiated. Safe from
// any goroutine.
func (s *Socket) Compressed() bool { return s.comp != nil }

// SetData stores per-socket user data. Safe from any goroutine.
func (s *Socket) SetData(v any) { s.share().data.Store(&v) }

// Data returns what SetData stored (nil if nothing). Safe from any
// goroutine.
func (s *Socket) Data() any {
	sh := s.shared.Load()
	if sh == nil {
		return nil
	}
	if p := sh.data.Load(); p != nil {
		return *p
	}
	return nil
}

// Closed reports whether the socket is closing or closed. Safe from any
// goroutine.
func (s *Socket) Closed() bool { return s.gone.Load() }

// Send sends text as a text message (Ruby's socket << text). Safe from
// any goroutine.
func (s *Socket) Send(text string) loop.WriteResult {
	return s.send(wsframe.OpText, []byte(text), true)
}

// SendText sends b, which must be valid UTF-8, as a text message; it
// returns ErrInvalidUTF8 (and sends nothing) otherwise. Safe from any
// goroutine (b is copied then).
func (s *Socket) SendText(b []byte) (loop.WriteResult, error) {
	if !utf8.Valid(b) {
		return loop.Dropped, ErrInvalidUTF8
	}
	return s.send(wsframe.OpText, b, false), nil
}

// SendBinary sends b as a binary message. Safe from any goroutine (b is
// copied then).
func (s *Socket) SendBinary(b []byte) loop.WriteResult { return s.send(wsframe.OpBinary, b, false) }

// send writes a data message. owned says the payload is already a private
// copy (no second copy needed when handing it to the loop).
//
// From another goroutine the message goes through the connection's
// loop.Sender: it is admitted (Written or Queued) only if the socket's
// queued output plus the messages admitted and not yet written stay within
// MaxBuffered, and an admitted message is written, in order, unless the
// socket closes first (nothing may follow a close frame).
func (s *Socket) send(op wsframe.Opcode, payload []byte, owned bool) loop.WriteResult {
	if s.gone.Load() {
		return loop.Dropped
	}
	if s.conn.OnLoop() {
		if s.state != stateOpen || s.conn.Buffered()+s.sndBuffered()+len(payload) > s.maxBuffered() {
			return loop.Dropped
		}
		return s.writeData(op, payload)
	}
	if !owned {
		payload = slices.Clone(payload)
	}
	return s.share().snd.Send(s.conn, len(payload), s.maxBuffered(), false, func(*loop.Conn) {
		if s.state == stateOpen {
			s.writeData(op, payload)
		}
	})
}

// writeData frames and writes one data message. On the loop.
func (s *Socket) writeData(op wsframe.Opcode, payload []byte) loop.WriteResult {
	if s.comp != nil && s.comp.ShouldCompress(len(payload)) {
		return s.conn.Write(s.comp.AppendMessage(nil, op, payload))
	}
	h := wsframe.AppendFrameHeader(s.hdr[:0], op, true, false, len(payload))
	return s.conn.Writev(h, payload)
}

// writeControl writes a control frame; never dropped for backpressure.
func (s *Socket) writeControl(op wsframe.Opcode, payload []byte) {
	h := wsframe.AppendFrameHeader(s.hdr[:0], op, true, false, len(payload))
	s.conn.Writev(h, payload)
}

// Ping sends a ping with payload (≤ 125 bytes). It returns
// ErrControlTooLong for a longer payload and ErrSocketClosed once the
// socket is closing. Safe from any goroutine; from another goroutine it
// returns ErrBufferFull when the socket's queued output is at
// Options.MaxBuffered.
func (s *Socket) Ping(payload []byte) error {
	if len(payload) > 125 {
		return ErrControlTooLong
	}
	if s.gone.Load() {
		return ErrSocketClosed
	}
	if s.conn.OnLoop() {
		if s.state == stateOpen {
			s.writeControl(wsframe.OpPing, payload)
		}
		return nil
	}
	p := slices.Clone(payload)
	if s.share().snd.Send(s.conn, len(p)+2, s.maxBuffered(), false, func(*loop.Conn) {
		if s.state == stateOpen {
			s.writeControl(wsframe.OpPing, p)
		}
	}) == loop.Dropped {
		if s.gone.Load() {
			return ErrSocketClosed
		}
		return ErrBufferFull
	}
	return nil
}

// Close starts the closing handshake with code and reason: it sends a
// close frame, waits up to Options.CloseTimeout for the client's, then
// closes the connection. The reason is cut to fit a control frame. It
// returns ErrSocketClosed once the socket is closing. Safe from any
// goroutine: from another goroutine the close frame follows the messages
// sent before.
func (s *Socket) Close(code StatusCode, reason string) error {
	if s.conn.OnLoop() && !s.sndPending() {
		if s.state != stateOpen {
			return ErrSocketClosed
		}
		s.startClose(code, reason)
		return nil
	}
	if s.gone.Load() {
		return ErrSocketClosed
	}
	// After the messages admitted before it, through the same path.
	if s.share().snd.Send(s.conn, 0, 0, true, func(*loop.Conn) { s.startClose(code, reason) }) == loop.Dropped {
		return ErrSocketClosed
	}
	return nil
}

func (s *Socket) startClose(code StatusCode, reason string) {
	if s.state != stateOpen {
		return
	}
	s.closing(stateCloseSent)
	s.conn.Write(appendClose(nil, code, reason))
	s.conn.SetTimer(s.closeTimeout())
}

// closing moves the socket out of stateOpen and leaves every hub topic:
// nothing may follow a close frame (RFC 6455, Section 5.5.1), and the hub
// writes its frames straight to the connection. On the loop.
func (s *Socket) closing(state uint8) {
	s.state = state
	s.gone.Store(true)
	s.leaveAll()
}

// leaveAll unsubscribes from every topic, in the order joined. On the loop.
func (s *Socket) leaveAll() {
	if s.sub != nil {
		s.sub.Unsubscribe()
		s.sub = nil
	}
	if x := s.x; x != nil && x.subs != nil {
		for _, sub := range x.subs {
			sub.Unsubscribe()
		}
		x.subs = nil
		s.tidy()
	}
}

func (s *Socket) closeTimeout() time.Duration {
	if s.opts.CloseTimeout > 0 {
		return s.opts.CloseTimeout
	}
	return DefaultCloseTimeout
}

// fail sends the close frame for a protocol error and closes the
// connection once it is written: "_Fail the WebSocket Connection_"
// (RFC 6455, Section 7.1.7).
func (s *Socket) fail(err error) {
	code := CloseStatus(err)
	if code == 0 {
		code = CloseInternalError
	}
	if s.state == stateOpen {
		var reason string
		var ce *CloseError
		if errors.As(err, &ce) {
			reason = ce.Reason
		}
		s.conn.Write(appendClose(nil, code, reason))
	}
	s.closing(stateCloseSent)
	if s.closeCode == 0 {
		s.closeCode = CloseAbnormal
	}
	if s.onError != nil {
		s.onError(s, err)
	}
	// Close once the close frame is out, or after CloseTimeout if the
	// peer does not read it (rather than the server's WriteTimeout).
	s.conn.SetTimer(s.closeTimeout())
	s.conn.CloseAfterFlush()
}

func (s *Socket) schedulePing() {
	if s.opts.PingInterval < 0 {
		return
	}
	d := s.opts.PingInterval
	if d == 0 {
		d = DefaultPingInterval
	}
	s.conn.SetTimer(d)
}

// Join subscribes the socket to topic on Options.Hub: every message
// published there arrives as a text frame (binary if not UTF-8). It
// returns ErrNoHub when Options.Hub is nil, and ErrSocketClosed on the
// loop once the socket is closing. Safe from any goroutine: from another
// goroutine the join happens asynchronously and only a failure to queue
// it is reported.
func (s *Socket) Join(topic string) error {
	if s.opts.Hub == nil {
		return ErrNoHub
	}
	if !s.conn.OnLoop() {
		return s.conn.Post(func(*loop.Conn) { _ = s.join(topic) })
	}
	return s.join(topic)
}

func (s *Socket) join(topic string) error {
	if s.state != stateOpen {
		return ErrSocketClosed
	}
	if s.sub != nil && s.sub.Topic() == topic {
		return nil
	}
	if s.x != nil {
		for _, sub := range s.x.subs {
			if sub.Topic() == topic {
				return nil
			}
		}
	}
	sub, _, _, err := s.opts.Hub.Subscribe(s.conn, topic, subscriber{s}, loop.Resume{})
	if err != nil {
		return err
	}
	if s.sub == nil && (s.x == nil || len(s.x.subs) == 0) {
		s.sub = sub
	} else {
		x := s.extra()
		x.subs = append(x.subs, sub)
	}
	return nil
}

// Leave unsubscribes the socket from topic. Safe from any goroutine:
// from another goroutine it happens asynchronously.
func (s *Socket) Leave(topic string) {
	if !s.conn.OnLoop() {
		_ = s.conn.Post(func(*loop.Conn) { s.Leave(topic) })
		return
	}
	if s.sub != nil && s.sub.Topic() == topic {
		s.sub.Unsubscribe()
		s.sub = nil
		if x := s.x; x != nil && len(x.subs) > 0 {
			// Keep the order joined: the next one moves up.
			s.sub = x.subs[0]
			x.subs = slices.Delete(x.subs, 0, 1)
			if len(x.subs) == 0 {
				x.subs = nil
				s.tidy()
			}
		}
		return
	}
	if x := s.x; x != nil {
		for i, sub := range x.subs {
			if sub.Topic() == topic {
				sub.Unsubscribe()
				x.subs = slices.Delete(x.subs, i, i+1)
				if len(x.subs) == 0 {
					x.subs = nil
					s.tidy()
				}
				return
			}
		}
	}
}

// OnDrain runs fn on the loop once the socket's queued output has fallen
// to the low watermark (after a send reported Queued). On the loop: call
// it from a callback of this socket; it panics elsewhere.
func (s *Socket) OnDrain(fn func()) {
	if !s.conn.OnLoop() {
		panic("ws: Socket.OnDrain called off the connection's loop")
	}
	if s.state == stateClosed {
		return
	}
	if fn == nil && s.x == nil {
		s.conn.WantDrain()
		return
	}
	s.extra().onDrain = fn
	if fn == nil {
		s.tidy()
	}
	s.conn.WantDrain()
}

// Publish publishes text to topic on hub: WebSocket subscribers get it as
// a text frame, SSE subscribers as an event's data. Safe from any
// goroutine.
func Publish(hub *loop.Hub, topic string, text string) error {
	_, err := hub.Publish(topic, loop.Publication{Data: []byte(text)})
	return err
}

// hubCodec frames hub messages once for every WebSocket subscriber.
var hubCodec = loop.RegisterCodec(func(dst []byte, m *loop.Publication) []byte {
	op := wsframe.OpText
	if !utf8.Valid(m.Data) {
		op = wsframe.OpBinary
	}
	return wsframe.AppendFrame(dst, op, true, false, m.Data)
})

type subscriber struct{ s *Socket }

func (subscriber) Codec() loop.CodecID { return hubCodec }

// Overflow closes a slow socket with 1013 (try again later).
//
// The close frame queues behind the output the socket could not take, so
// the connection closes once that is flushed or after CloseTimeout,
// whichever comes first: a reader that stopped must not hold its backlog
// until the server's WriteTimeout. Leaving the topics here also stops
// the hub from calling Overflow again for every later message.
func (sb subscriber) Overflow(c *loop.Conn) {
	s := sb.s
	if s.state == stateOpen {
		s.closing(stateCloseSent)
		c.Write(appendClose(nil, CloseTryAgainLater, "too slow"))
		c.SetTimer(s.closeTimeout())
	}
	c.CloseAfterFlush()
}

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
		if fn := x.onDrain; fn != nil {
			x.onDrain = nil
			s.tidy()
			fn()
		}
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
		x.spill, x.onDrain, x.closeReason = nil, nil, ""
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
