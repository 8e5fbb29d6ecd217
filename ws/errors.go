package ws

import (
	"errors"
	"strconv"

	"github.com/streamd/streamd/ws/internal/wsframe"
)

// Socket errors.
var (
	// ErrSocketClosed is returned by Ping and Close, and by Join on the
	// loop, once the socket has started closing.
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

// String returns the code and its registered name, e.g. "1002 (protocol
// error)". Safe from any goroutine.
func (c StatusCode) String() string {
	s := strconv.Itoa(int(c))
	if t, ok := statusText[c]; ok {
		return s + " (" + t + ")"
	}
	return s
}

// CloseError is the close status the server sent to a client that broke
// the protocol or the rate limit, with its reason: Handler.OnError
// receives one (1002 for framing errors and bad close codes, 1007 for
// invalid UTF-8 or deflate data, 1008 over Options.MessageRate or for more
// than 64 empty fragments in one message, 1009 over Options.ReadLimit). Match it with errors.As, or take its code with
// [CloseStatus]. The error may be shared between sockets: do not modify it.
type CloseError struct {
	Code   StatusCode
	Reason string
}

// Error implements error: "ws: close " followed by the code, its name and
// the reason. Safe from any goroutine.
func (e *CloseError) Error() string {
	s := "ws: close " + e.Code.String()
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// CloseStatus returns the code of the *CloseError in err's chain, or 0 when
// there is none. 0 is never a valid close code, so it plays the part of
// coder/websocket's -1 (StatusCode is unsigned). Safe from any goroutine.
func CloseStatus(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// errRateLimit fails a socket under RateClose; prebuilt, as the peer
// controls how often it happens.
var errRateLimit = &CloseError{ClosePolicyViolation, "message rate limit exceeded"}

// closeError turns a protocol violation found by the decoder into the
// *CloseError handed to Handler.OnError. It allocates, once per failed
// connection; other errors pass through.
func closeError(err error) error {
	if fe, ok := err.(*wsframe.CloseError); ok {
		return &CloseError{Code: StatusCode(fe.Code), Reason: fe.Reason}
	}
	return err
}
