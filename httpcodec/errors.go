package httpcodec

import "errors"

// ProtocolError reports a request the peer got wrong. Status is the HTTP
// status code to answer with (see AppendError) and Reason a short, fixed,
// human-readable explanation that never contains peer data.
//
// The parser returns only the prebuilt sentinels below, so callers match them
// with errors.Is (pointer identity) or get the status with errors.As. After a
// ProtocolError the caller should answer and close the connection: the parser
// does not resynchronise.
type ProtocolError struct {
	Status int
	Reason string
}

// Error implements error. It returns "httpcodec: " followed by Reason.
func (e *ProtocolError) Error() string { return "httpcodec: " + e.Reason }

// Parse progress signals. They are not protocol errors.
var (
	// ErrNeedMore means the request is incomplete: call Parse again with the
	// same bytes plus whatever arrives next. The parser remembers how far it
	// got (as offsets), so rescanning is not quadratic.
	ErrNeedMore = errors.New("httpcodec: need more data")

	// ErrExpectContinue is returned once per request when the head is complete,
	// the HTTP/1.1 request carries "Expect: 100-continue", and the body is
	// expected but not fully present yet. The head fields of the Request are
	// filled and valid for the current input (Body is not), so the caller may
	// still reject the request (for example with 413 or 401). Otherwise it writes
	// "HTTP/1.1 100 Continue\r\n\r\n" and calls Parse again when more data
	// arrives, exactly as after ErrNeedMore. See RFC 9110, Section 10.1.1.
	ErrExpectContinue = errors.New("httpcodec: expect 100-continue")
)

// Protocol errors returned by Parser.Parse. Compare with errors.Is.
var (
	// ErrMalformed (400) is a request that does not follow the RFC 9112 grammar:
	// a method that is not a token, an empty or control-character request-target,
	// a line ending in a bare LF, an invalid header field name or value, a NUL,
	// Transfer-Encoding in an HTTP/1.0 request, more than one Host header, an
	// invalid Host value, or an absolute-form http or https request-target whose
	// authority is not a valid Host value or has an empty host (including
	// userinfo, "http://user@host/"; RFC 9110, Sections 4.2.1 and 4.2.4).
	ErrMalformed = &ProtocolError{400, "malformed request"}

	// ErrURITooLong (414) is a request-target longer than Limits.MaxURIBytes.
	ErrURITooLong = &ProtocolError{414, "request URI too long"}

	// ErrHeaderTooLarge (431) is a head longer than Limits.MaxHeaderBytes, more
	// than Limits.MaxHeaders header fields, or the same limits exceeded by the
	// trailer section of a chunked body.
	ErrHeaderTooLarge = &ProtocolError{431, "request header fields too large"}

	// ErrBodyTooLarge (413) is a body longer than Limits.MaxBodyBytes, detected
	// from Content-Length before the body arrives or while decoding chunks.
	ErrBodyTooLarge = &ProtocolError{413, "request body too large"}

	// ErrVersionNotSupported (505) is a well-formed HTTP-version other than
	// HTTP/1.0 and HTTP/1.1, such as HTTP/2.0 or HTTP/1.2.
	ErrVersionNotSupported = &ProtocolError{505, "HTTP version not supported"}

	// ErrTransferCodingNotImplemented (501) is a Transfer-Encoding other than
	// exactly "chunked". See RFC 9112, Section 6.1.
	ErrTransferCodingNotImplemented = &ProtocolError{501, "transfer coding not implemented"}

	// ErrExpectationFailed (417) is an Expect value other than "100-continue".
	ErrExpectationFailed = &ProtocolError{417, "expectation failed"}

	// ErrMissingHost (400) is an HTTP/1.1 request without a Host header.
	// See RFC 9112, Section 3.2.
	ErrMissingHost = &ProtocolError{400, "missing Host header"}

	// ErrSmuggling (400) is a request whose framing intermediaries could read
	// differently (request smuggling): Content-Length together with
	// Transfer-Encoding, differing duplicate Content-Length values, more than one
	// Transfer-Encoding header, obs-fold (a field line starting with SP or HTAB),
	// or whitespace between a field name and the colon.
	// See RFC 9112, Sections 5.1, 5.2, 6.1 and 6.3.
	ErrSmuggling = &ProtocolError{400, "ambiguous request framing"}

	// ErrBadContentLength (400) is a Content-Length that is empty, not all
	// digits, or does not fit in an int64.
	ErrBadContentLength = &ProtocolError{400, "invalid Content-Length"}

	// ErrBadChunk (400) is invalid chunked framing: a chunk size that is empty,
	// not hex or longer than 16 digits, a control character or bare LF in a
	// chunk-size line, chunk extensions longer in total than
	// Limits.MaxHeaderBytes, or chunk data not followed by CRLF.
	// See RFC 9112, Section 7.1.
	ErrBadChunk = &ProtocolError{400, "invalid chunked encoding"}
)
