package ws

import (
	"errors"
	"strconv"
)

// ErrNeedMore is returned by [Decoder.Next] when b does not yet hold a whole
// frame. Nothing was consumed: call Next again once more bytes have arrived,
// with the unconsumed bytes followed by the new ones.
var ErrNeedMore = errors.New("ws: need more data")

// ErrClosed is returned by [Decoder.Next] after a close frame has been
// decoded: RFC 6455, Section 5.5.1 says nothing may follow it, so the
// caller stops reading and finishes the closing handshake. It is the
// decoder's alone: Socket methods report a closing socket with
// ErrSocketClosed.
var ErrClosed = errors.New("ws: close frame already received")

// Socket errors.
var (
	// ErrSocketClosed is returned by Ping and Close, and by Join on the
	// loop, once the socket has started closing. (ErrClosed is the
	// Decoder's, for input after a close frame.)
	ErrSocketClosed = errors.New("ws: socket closed")
	// ErrInvalidUTF8 is returned by SendText for text that is not valid
	// UTF-8, which a text message must be (RFC 6455, Section 5.6).
	ErrInvalidUTF8 = errors.New("ws: text message is not valid UTF-8")
	// ErrControlTooLong is returned by Ping for a payload over 125 bytes
	// (RFC 6455, Section 5.5).
	ErrControlTooLong = errors.New("ws: control frame payload over 125 bytes")
	// ErrPongTimeout is given to Handler.OnError when a ping got no pong
	// before the next one was due.
	ErrPongTimeout = errors.New("ws: pong timeout")
	// ErrNoHub is returned by Join when Options.Hub is nil.
	ErrNoHub = errors.New("ws: no hub configured")
	// ErrBufferFull is returned by Ping from another goroutine when the
	// socket's queued output is at Options.MaxBuffered.
	ErrBufferFull = errors.New("ws: send buffer full")
)

// StatusCode is a WebSocket close status code.
// See RFC 6455, Section 7.4 and the IANA "WebSocket Close Code Number" registry.
type StatusCode uint16

// Close status codes. CloseNoStatus, CloseAbnormal and CloseTLSHandshake are
// reserved for reporting and are never sent on the wire.
const (
	CloseNormal             StatusCode = 1000
	CloseGoingAway          StatusCode = 1001
	CloseProtocolError      StatusCode = 1002
	CloseUnsupportedData    StatusCode = 1003
	CloseNoStatus           StatusCode = 1005 // never sent: a close frame without a body
	CloseAbnormal           StatusCode = 1006 // never sent: the connection dropped without a close frame
	CloseInvalidPayload     StatusCode = 1007
	ClosePolicyViolation    StatusCode = 1008
	CloseMessageTooBig      StatusCode = 1009
	CloseMandatoryExtension StatusCode = 1010
	CloseInternalError      StatusCode = 1011
	CloseServiceRestart     StatusCode = 1012
	CloseTryAgainLater      StatusCode = 1013
	CloseBadGateway         StatusCode = 1014
	CloseTLSHandshake       StatusCode = 1015 // never sent
)

var statusText = map[StatusCode]string{
	CloseNormal:             "normal closure",
	CloseGoingAway:          "going away",
	CloseProtocolError:      "protocol error",
	CloseUnsupportedData:    "unsupported data",
	CloseNoStatus:           "no status",
	CloseAbnormal:           "abnormal closure",
	CloseInvalidPayload:     "invalid payload data",
	ClosePolicyViolation:    "policy violation",
	CloseMessageTooBig:      "message too big",
	CloseMandatoryExtension: "mandatory extension",
	CloseInternalError:      "internal error",
	CloseServiceRestart:     "service restart",
	CloseTryAgainLater:      "try again later",
	CloseBadGateway:         "bad gateway",
	CloseTLSHandshake:       "TLS handshake",
}

// String returns the code and its registered name, e.g. "1002 (protocol error)".
func (c StatusCode) String() string {
	s := strconv.Itoa(int(c))
	if t, ok := statusText[c]; ok {
		return s + " (" + t + ")"
	}
	return s
}

// ValidCloseCode reports whether code may appear in a close frame on the
// wire: 1000–1003 and 1007–1014 (RFC 6455, Section 7.4.1, plus the IANA
// registrations 1012–1014), and 3000–4999 (registered and private use).
// 1004 is reserved, 1005, 1006 and 1015 must never be sent, and 0–999,
// 1016–2999 and 5000+ are not assigned.
func ValidCloseCode(code StatusCode) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// CloseError is a close status with its reason. The decoder returns one for
// every protocol violation, carrying the code to send in the close frame;
// it also describes a close frame received from the peer.
//
// Errors returned by the decoder are shared, prebuilt values: do not modify them.
type CloseError struct {
	Code   StatusCode
	Reason string
}

// Error implements error.
func (e *CloseError) Error() string {
	s := "ws: close " + e.Code.String()
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// CloseStatus returns the code of the *CloseError in err's chain, or 0 when
// there is none. 0 is never a valid close code, so it plays the part of
// coder/websocket's -1 (StatusCode is unsigned).
func CloseStatus(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// Prebuilt decoder errors: the peer controls the error rate, so the hot path
// never formats. The reasons are short enough to be sent in a close frame.
var (
	errUnmasked           = &CloseError{CloseProtocolError, "unmasked client frame"}
	errBadOpcode          = &CloseError{CloseProtocolError, "reserved opcode"}
	errReservedBits       = &CloseError{CloseProtocolError, "reserved bits set"}
	errFragmentedControl  = &CloseError{CloseProtocolError, "fragmented control frame"}
	errControlTooLong     = &CloseError{CloseProtocolError, "control frame payload over 125 bytes"}
	errUnexpectedContinue = &CloseError{CloseProtocolError, "continuation frame without a message"}
	errExpectedContinue   = &CloseError{CloseProtocolError, "new message before the previous one ended"}
	errLengthMSB          = &CloseError{CloseProtocolError, "payload length has the most significant bit set"}
	errCloseBody1         = &CloseError{CloseProtocolError, "close frame payload of 1 byte"}
	errCloseCode          = &CloseError{CloseProtocolError, "invalid close code"}
	errCloseReasonUTF8    = &CloseError{CloseInvalidPayload, "invalid UTF-8 in close reason"}
	errTextUTF8           = &CloseError{CloseInvalidPayload, "invalid UTF-8 in text message"}
	errInflate            = &CloseError{CloseInvalidPayload, "invalid deflate data"}
	errTooBig             = &CloseError{CloseMessageTooBig, "message exceeds the read limit"}
	errRateLimit          = &CloseError{ClosePolicyViolation, "message rate limit exceeded"}
)
