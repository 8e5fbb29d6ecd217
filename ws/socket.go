package ws

import (
	"errors"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

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
	onDrain     loop.Drain
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
	if x := s.x; x != nil && len(x.subs) == 0 && x.spill == nil && !x.onDrain.Pending() && x.closeReason == "" && x.rate.tat == 0 {
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

// OnDrain runs fn on the loop once the socket's queued output has fallen
// to the low watermark (after a send reported Queued). On the loop: call
// it from a callback of this socket; it panics elsewhere.
func (s *Socket) OnDrain(fn func()) {
	s.conn.MustOnLoop("ws: Socket.OnDrain")
	if s.state == stateClosed {
		return
	}
	if fn == nil && s.x == nil {
		s.conn.WantDrain() // nothing to clear: no need for s.x
		return
	}
	s.extra().onDrain.Set(s.conn, fn)
	s.tidy() // a nil fn may leave s.x empty
}
