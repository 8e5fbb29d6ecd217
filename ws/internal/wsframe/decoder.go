package wsframe

import (
	"encoding/binary"
	"math"
	"sync"
	"unicode/utf8"
)

// DefaultReadLimit is the default cap on a message's size in bytes, after
// decompression. Bigger messages fail with CloseMessageTooBig (1009).
const DefaultReadLimit = 1 << 20

// maxRetainedBuffer is the largest reassembly buffer a Decoder keeps
// between messages; a bigger one is dropped when the next message starts,
// so one large message does not pin memory on an idle socket.
const maxRetainedBuffer = 64 << 10

// DecoderConfig configures a [Decoder].
type DecoderConfig struct {
	// ReadLimit caps a message's size in bytes after decompression;
	// 0 or negative means DefaultReadLimit. The compressed bytes of a
	// message are capped at ReadLimit + ReadLimit/16 + 1 KiB.
	ReadLimit int64

	// Deflate is set when permessage-deflate was negotiated: RSV1 is then
	// allowed on the first frame of a data message (RFC 7692, Section 6).
	Deflate bool

	// ClientNoContextTakeover is set when the client resets its compressor
	// after each message; the decoder then keeps no window between messages.
	ClientNoContextTakeover bool

	// ClientMaxWindowBits is the client's agreed LZ77 window (8–15; 0
	// means 15). Under context takeover the decoder keeps the last
	// 1<<ClientMaxWindowBits bytes of every socket's inflated output.
	ClientMaxWindowBits int
}

// EventKind says what [Decoder.Next] produced.
type EventKind uint8

// Event kinds.
const (
	EventNone    EventKind = iota // a frame was consumed but nothing is complete yet
	EventMessage                  // a whole text or binary message
	EventPing                     // a ping: answer with a pong carrying Payload
	EventPong                     // a pong
	EventClose                    // a close frame: Code and Reason are set
)

// Event is one decoded message or control frame.
//
// Payload (and Reason) point into the bytes passed to [Decoder.Next] or
// into the Decoder's own buffers: they are valid until the caller discards
// those bytes or calls Next again, whichever comes first. Make copies to
// keep them longer.
type Event struct {
	Kind EventKind
	Op   Opcode // OpText or OpBinary for EventMessage
	// Payload is the message (unmasked, reassembled, decompressed) or the
	// control frame's body. For EventClose it is the whole body.
	Payload []byte
	Code    StatusCode // EventClose: the peer's code, CloseNoStatus when the body was empty
	Reason  []byte     // EventClose: the peer's reason, valid UTF-8
}

// Decoder reads client-to-server frames (RFC 6455, Section 5) and
// reassembles, decompresses (RFC 7692) and validates messages.
//
// It parses in place: the caller hands it the connection's unconsumed
// inbound bytes and discards the n bytes each call consumed. An incomplete
// frame stays in the caller's buffer, so the Decoder copies nothing and
// keeps no slices into earlier input: it resumes from counters and flags.
// Payloads are unmasked in place in that input.
//
// Memory: an idle Decoder is 32 bytes. The state of a fragmented or
// compressed message (reassembly and inflate buffers, the UTF-8 state)
// lives in a separate struct taken from a sync.Pool when such a message
// starts, or when an uncompressed text frame arrives in pieces (its UTF-8
// state is carried from read to read); the Decoder keeps it for the next
// message until Reset or [Decoder.Release], which hands it back once the
// message was delivered (ws.Socket calls it after every read, so idle
// sockets pin none). Its buffers are bounded by the read limit and dropped
// after a message bigger than 64 KiB. A flate reader is borrowed from a sync.Pool only
// while a message is inflated; under client context takeover the Decoder
// keeps the client's window (up to 32 KiB, allocated on the first
// compressed message) together with that struct and nothing else.
//
// The zero value is ready to use with the default config.
//
// # Concurrency
//
// A Decoder is owned by one goroutine (the connection's event loop) and
// must not be copied after first use.
type Decoder struct {
	_ noCopy

	limit int64
	err   *CloseError // sticky: set once a protocol error or close frame was seen
	msg   *message    // a fragmented or compressed message, or the takeover window

	deflate bool
	noCtx   bool
	winBits uint8 // the client's LZ77 window is 1<<winBits bytes
}

// closedMark is the sticky error of a Decoder that has seen a close frame;
// Next reports it as ErrClosed.
var closedMark = &CloseError{}

// message is the state of a message spread over several frames or
// compressed, out of line so that an idle Decoder stays small.
type message struct {
	inMsg      bool // a message is in progress
	compressed bool
	op         Opcode
	utf8       UTF8Validator
	size       int64 // payload bytes so far (compressed bytes when compressed)
	empty      int   // empty non-final continuation frames so far (maxEmptyFragments)

	// checked counts the payload bytes of the incomplete uncompressed
	// text frame at the head of the input that utf8 has already seen.
	// The frame is offered again, from its header, with every read, and
	// only the bytes past checked are validated: a frame arriving in
	// pieces costs O(n), and invalid UTF-8 fails as soon as it arrives.
	// It is 0 between frames.
	checked int

	buf    []byte // reassembled fragments (compressed bytes when compressed)
	out    []byte // inflated message
	window []byte // the client's last output, context takeover only
	src    sliceReader
}

var messagePool = sync.Pool{New: func() any { return new(message) }}

// Init configures d and resets it. Call it before first use, or use the
// zero value for the defaults.
func (d *Decoder) Init(cfg DecoderConfig) {
	d.Reset()
	d.limit = cfg.ReadLimit
	if d.limit <= 0 {
		d.limit = DefaultReadLimit
	}
	// Keep compressedLimit and the length arithmetic clear of overflow.
	d.limit = min(d.limit, math.MaxInt64/4)
	d.deflate = cfg.Deflate
	d.noCtx = cfg.ClientNoContextTakeover
	d.winBits = uint8(clampBits(cfg.ClientMaxWindowBits))
}

// Reset forgets any message in progress and any error, drops the
// compression window and releases the buffers, keeping the configuration.
func (d *Decoder) Reset() {
	d.err = nil
	if m := d.msg; m != nil {
		d.msg = nil
		m.window = nil
		putMessage(m)
	}
}

// Release returns the out-of-line message state to its pool once the
// last message has been delivered and its payload is no longer needed, so
// that an idle connection pins none. It keeps the state while a message
// is in progress, while part of a text frame has been validated, or when
// it holds the context takeover window. Cheap when there is nothing to
// release: call it after every batch of [Decoder.Next] calls.
func (d *Decoder) Release() {
	if m := d.msg; m != nil && !m.inMsg && m.checked == 0 && m.window == nil && d.err == nil {
		d.msg = nil
		putMessage(m)
	}
}

func putMessage(m *message) {
	if cap(m.buf) > maxRetainedBuffer || cap(m.out) > maxRetainedBuffer {
		return // leave big buffers to the garbage collector
	}
	buf, out := m.buf[:0], m.out[:0]
	*m = message{buf: buf, out: out}
	messagePool.Put(m)
}

// compressedLimit caps the compressed bytes of one message: deflate can
// expand incompressible data slightly (5 bytes per stored block, plus a
// sync-flush marker per fragment).
func compressedLimit(limit int64) int64 { return limit + limit/16 + 1024 }

func (d *Decoder) fail(err *CloseError) (Event, int, error) {
	d.err = err
	return Event{}, 0, err
}

// Next decodes at most one frame from b, the connection's unconsumed
// inbound bytes, and returns the number of bytes consumed.
//
//   - A whole frame: n > 0. If it completes a message or is a control
//     frame, ev.Kind is not EventNone (see [Event] for the payload's lifetime).
//   - An incomplete frame: ev is zero, n is 0 and err is ErrNeedMore; call
//     again when more bytes have arrived, with the same unconsumed bytes
//     followed by the new ones. The header is checked as soon as it is
//     there, so an oversized message fails before its payload arrives, and
//     so is the part of an uncompressed text frame's payload that has
//     arrived (see below).
//   - A protocol violation: err is a *CloseError carrying the code to send
//     (1002 for framing errors and bad close codes, 1007 for invalid UTF-8
//     or deflate data, 1009 over the read limit), and n is 0.
//
// After an error or an EventClose every further call returns the same error
// (ErrClosed after a close frame) until Reset.
//
// Uncompressed text is validated incrementally over the payload bytes that
// have arrived, across calls and across fragments, so invalid UTF-8 fails
// with 1007 as soon as the offending byte is in b, even in the middle of a
// frame whose rest has not been sent (RFC 6455, Section 8.1: "_Fail the
// WebSocket Connection_" when invalid UTF-8 is seen; Autobahn 6.4.1–6.4.4).
// A rune cut by the end of b is not an error until the frame (or, for a
// fragment, the message) ends without completing it. Compressed text is
// validated on the inflated bytes, which exist only once the whole message
// is there, so a compressed message fails at its last frame.
// See RFC 6455, Sections 5.2–5.5 and 8.1.
func (d *Decoder) Next(b []byte) (ev Event, n int, err error) {
	if d.err != nil {
		if d.err == closedMark {
			return ev, 0, ErrClosed
		}
		return ev, 0, d.err
	}
	if d.limit == 0 {
		d.Init(DecoderConfig{}) // the zero value: nothing in progress yet
	}
	if len(b) < 2 {
		return ev, 0, ErrNeedMore
	}
	b0, b1 := b[0], b[1]
	op := Opcode(b0 & 0x0f)
	fin := b0&bitFIN != 0
	rsv1 := b0&bitRSV1 != 0
	if b0&(bitRSV2|bitRSV3) != 0 {
		return d.fail(errReservedBits)
	}
	if op.IsControl() {
		switch {
		case op > OpPong:
			return d.fail(errBadOpcode)
		case !fin:
			return d.fail(errFragmentedControl)
		case rsv1:
			return d.fail(errReservedBits)
		case b1&0x7f > MaxControlPayload:
			return d.fail(errControlTooLong)
		}
	} else {
		switch op {
		case OpContinuation:
			if d.msg == nil || !d.msg.inMsg {
				return d.fail(errUnexpectedContinue)
			}
			if rsv1 {
				return d.fail(errReservedBits)
			}
		case OpText, OpBinary:
			if d.msg != nil && d.msg.inMsg {
				return d.fail(errExpectedContinue)
			}
			if rsv1 && !d.deflate {
				return d.fail(errReservedBits)
			}
		default:
			return d.fail(errBadOpcode)
		}
	}
	if b1&bitMask == 0 {
		return d.fail(errUnmasked)
	}

	length := uint64(b1 & 0x7f)
	hl := 2
	switch length {
	case 126:
		if len(b) < 4 {
			return ev, 0, ErrNeedMore
		}
		length = uint64(binary.BigEndian.Uint16(b[2:]))
		hl = 4
	case 127:
		if len(b) < 10 {
			return ev, 0, ErrNeedMore
		}
		length = binary.BigEndian.Uint64(b[2:])
		if length>>63 != 0 {
			return d.fail(errLengthMSB)
		}
		hl = 10
	}
	if !op.IsControl() {
		limit := d.limit
		size, compressed := int64(0), rsv1
		if op == OpContinuation {
			size, compressed = d.msg.size, d.msg.compressed
		}
		if compressed {
			limit = compressedLimit(limit)
		}
		if length > uint64(limit-size) {
			return d.fail(errTooBig)
		}
	}
	hl += 4
	if len(b) < hl || uint64(len(b)-hl) < length {
		if len(b) > hl && (op == OpText && !rsv1 ||
			op == OpContinuation && d.msg.op == OpText && !d.msg.compressed) {
			if !d.checkPartial([4]byte(b[hl-4:hl]), b[hl:], op == OpText) {
				return d.fail(errTextUTF8)
			}
		}
		return ev, 0, ErrNeedMore
	}
	end := hl + int(length)
	if op == OpContinuation && length == 0 && !fin {
		// Empty fragments add nothing to the read limit's count: without
		// a cap a client could send them forever, each a frame to decode,
		// within one message and one rate token. (Counted here, once the
		// frame is whole: an incomplete one is offered again.)
		if d.msg.empty++; d.msg.empty > maxEmptyFragments {
			return d.fail(errEmptyFragments)
		}
	}
	p := b[hl:end]
	MaskBytes([4]byte(b[hl-4:hl]), 0, p)
	// Payload bytes of a text frame already validated while it was
	// incomplete (always 0 for other frames).
	checked := 0
	if d.msg != nil && !op.IsControl() {
		checked, d.msg.checked = d.msg.checked, 0
	}

	switch op {
	case OpPing:
		return Event{Kind: EventPing, Payload: p}, end, nil
	case OpPong:
		return Event{Kind: EventPong, Payload: p}, end, nil
	case OpClose:
		return d.closeFrame(p, end)
	}

	if op != OpContinuation {
		if fin && !rsv1 {
			// The common case: a whole message in one frame, delivered
			// as a view into b with no copy.
			if op == OpText {
				if checked > 0 {
					if v := &d.msg.utf8; !v.Write(p[checked:]) || !v.Done() {
						return d.fail(errTextUTF8)
					}
				} else if !utf8.Valid(p) {
					return d.fail(errTextUTF8)
				}
			}
			return Event{Kind: EventMessage, Op: op, Payload: p}, end, nil
		}
		d.startMessage(op, rsv1)
		if checked == 0 {
			// Otherwise the validator already holds the frame's prefix.
			d.msg.utf8.Reset()
		}
	}
	m := d.msg
	m.size += int64(length)

	if m.compressed {
		if !fin {
			m.buf = append(m.buf, p...)
			return Event{}, end, nil
		}
		src := p
		if op == OpContinuation {
			m.buf = append(m.buf, p...)
			src = m.buf
		}
		return d.finishCompressed(m, src, end)
	}

	if m.op == OpText && !m.utf8.Write(p[checked:]) {
		return d.fail(errTextUTF8)
	}
	m.buf = append(m.buf, p...)
	if !fin {
		return Event{}, end, nil
	}
	if m.op == OpText && !m.utf8.Done() {
		return d.fail(errTextUTF8)
	}
	m.inMsg = false
	return Event{Kind: EventMessage, Op: m.op, Payload: m.buf}, end, nil
}

// maxEmptyFragments is how many empty non-final continuation frames one
// message may have; more fail it with 1008. Legitimate senders have no
// reason to send any.
const maxEmptyFragments = 64

// startMessage begins a fragmented or compressed message.
func (d *Decoder) startMessage(op Opcode, compressed bool) {
	m := d.msg
	if m == nil {
		m = messagePool.Get().(*message)
		d.msg = m
	}
	m.inMsg, m.op, m.compressed, m.size, m.empty = true, op, compressed, 0, 0
	if cap(m.buf) > maxRetainedBuffer {
		m.buf = nil
	}
	if cap(m.out) > maxRetainedBuffer {
		m.out = nil
	}
	m.buf = m.buf[:0]
}

// partialScratch is how many payload bytes checkPartial unmasks at a time,
// in a stack buffer.
const partialScratch = 512

// checkPartial validates avail, the payload bytes that have arrived of an
// incomplete uncompressed text frame (still masked with key), past those
// validated by earlier calls, and reports whether the text is still valid
// UTF-8 (possibly ending mid-rune). fresh is set for the first frame of a
// message: its validator starts from scratch, where a continuation's
// carries on from the previous fragment.
//
// The bytes are unmasked into a copy rather than in place: the caller's
// buffer need not keep changes across calls (gnet's Peek may hand out a
// joined copy of a wrapped ring buffer), so the frame is unmasked in place
// only once it is complete.
func (d *Decoder) checkPartial(key [4]byte, avail []byte, fresh bool) bool {
	m := d.msg
	if m == nil {
		m = messagePool.Get().(*message)
		d.msg = m
	}
	pos := m.checked
	if pos == 0 && fresh {
		m.utf8.Reset()
	}
	var buf [partialScratch]byte
	for pos < len(avail) {
		n := copy(buf[:], avail[pos:])
		MaskBytes(key, pos, buf[:n])
		if !m.utf8.Write(buf[:n]) {
			return false
		}
		pos += n
	}
	m.checked = pos
	return true
}

// finishCompressed inflates a complete compressed message.
func (d *Decoder) finishCompressed(m *message, src []byte, end int) (Event, int, error) {
	m.inMsg = false
	var dict []byte
	if !d.noCtx {
		dict = m.window
	}
	out, err := inflate(m.out[:0], src, dict, d.limit, &m.src)
	m.out = out
	m.src = sliceReader{}
	if err != nil {
		ce, ok := err.(*CloseError)
		if !ok {
			ce = errInflate
		}
		return d.fail(ce)
	}
	if m.op == OpText && !utf8.Valid(out) {
		return d.fail(errTextUTF8)
	}
	if !d.noCtx {
		m.window = appendWindow(m.window, out, 1<<d.winBits)
	}
	return Event{Kind: EventMessage, Op: m.op, Payload: out}, end, nil
}

// appendWindow keeps the last size bytes of window followed by out.
func appendWindow(window, out []byte, size int) []byte {
	if window == nil {
		window = make([]byte, 0, size)
	}
	if len(out) >= size {
		return append(window[:0], out[len(out)-size:]...)
	}
	if drop := len(window) + len(out) - size; drop > 0 {
		window = window[:copy(window, window[drop:])]
	}
	return append(window, out...)
}

// closeFrame validates a close frame's body (RFC 6455, Section 5.5.1).
func (d *Decoder) closeFrame(p []byte, end int) (Event, int, error) {
	ev := Event{Kind: EventClose, Payload: p, Code: CloseNoStatus}
	switch len(p) {
	case 0:
	case 1:
		return d.fail(errCloseBody1)
	default:
		ev.Code = StatusCode(binary.BigEndian.Uint16(p))
		if !ValidCloseCode(ev.Code) {
			return d.fail(errCloseCode)
		}
		ev.Reason = p[2:]
		if !utf8.Valid(ev.Reason) {
			return d.fail(errCloseReasonUTF8)
		}
	}
	d.err = closedMark
	return ev, end, nil
}

// noCopy lets go vet's copylocks check flag copies of a Decoder.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
