package wsframe

import (
	"errors"
	"strconv"
)

// ErrNeedMore is returned by [Decoder.Next] when b does not yet hold a whole
// frame. Nothing was consumed: call Next again once more bytes have arrived,
// with the unconsumed bytes followed by the new ones.
var ErrNeedMore = errors.New("wsframe: need more data")

// ErrClosed is returned by [Decoder.Next] after a close frame has been
// decoded: RFC 6455, Section 5.5.1 says nothing may follow it, so the
// caller stops reading and finishes the closing handshake.
var ErrClosed = errors.New("wsframe: close frame already received")

// StatusCode is a WebSocket close status code.
// See RFC 6455, Section 7.4. Package ws, which users see, names every
// registered code; the codec names only those it produces or interprets.
type StatusCode uint16

// Close status codes the codec produces or interprets.
const (
	CloseProtocolError  StatusCode = 1002
	CloseNoStatus       StatusCode = 1005 // never sent: a close frame without a body
	CloseInvalidPayload StatusCode = 1007
	ClosePolicy         StatusCode = 1008
	CloseMessageTooBig  StatusCode = 1009
)

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

// CloseError is a protocol violation found by the [Decoder], with the code
// to send in the close frame and a reason short enough for one.
//
// Errors returned by the decoder are shared, prebuilt values: do not
// modify them.
type CloseError struct {
	Code   StatusCode
	Reason string
}

// Error implements error.
func (e *CloseError) Error() string {
	s := "wsframe: close " + strconv.Itoa(int(e.Code))
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
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
	errEmptyFragments     = &CloseError{ClosePolicy, "too many empty fragments in one message"}
)
