package httpcodec

import (
	"encoding/binary"
	"strconv"
	"sync/atomic"
	"time"
)

// timeFormat is the IMF-fixdate layout of the Date header
// (RFC 9110, Section 5.6.7), the same as net/http.TimeFormat.
const timeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// statusLines caches "HTTP/1.1 <code> <text>\r\n" for every code that has a
// StatusText, so the common case is one copy.
var statusLines [600]string

// heads holds the cached Date line and the response heads built on it,
// swapped whole by RefreshDate so readers on any goroutine never see a torn
// or mixed value.
var heads atomic.Pointer[headCache]

// headCache is one second's worth of cached head lines.
type headCache struct {
	// date is "Date: <IMF-fixdate>\r\n".
	date []byte
	// serverDate is "Server: streamd\r\n" followed by date.
	serverDate []byte
	// ok is the status line of 200 followed by serverDate, the head of
	// nearly every response.
	ok []byte
}

func init() {
	for code := range statusLines {
		if text := StatusText(code); text != "" {
			statusLines[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
		}
	}
	RefreshDate(time.Now())
}

// AppendStatusLine appends the HTTP/1.1 status line for status, e.g.
// "HTTP/1.1 200 OK\r\n", to dst. Codes without a StatusText get
// "status code N" as the reason, as in net/http. It panics if status is not
// in [100, 999], a programmer error. Safe from any goroutine.
func AppendStatusLine(dst []byte, status int) []byte {
	if status >= 0 && status < len(statusLines) && statusLines[status] != "" {
		return append(dst, statusLines[status]...)
	}
	if status < 100 || status > 999 {
		panic("httpcodec: BUG: invalid status code " + strconv.Itoa(status))
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, " status code "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	return append(dst, "\r\n"...)
}

// AppendHeader appends the field line "name: value\r\n" to dst.
//
// Callers must pass a valid token name and a value without control
// characters; check input that comes from users with ValidHeaderName and
// ValidHeaderValue. As a last line of defence against header injection, and
// like net/http, a name that is not a valid token is dropped (nothing is
// appended) and CR or LF in value is replaced by a space. Safe from any
// goroutine.
func AppendHeader(dst []byte, name, value string) []byte {
	if !ValidHeaderName(name) {
		return dst
	}
	dst = append(dst, name...)
	dst = append(dst, ':', ' ')
	dst = appendValue(dst, value)
	return append(dst, '\r', '\n')
}

// appendValue appends the field value v with CR and LF replaced by spaces,
// so that no value can end the line it is on.
func appendValue(dst []byte, v string) []byte {
	dst = append(dst, v...)
	if b := dst[len(dst)-len(v):]; hasControl(b) {
		blankCRLF(b)
	}
	return dst
}

// blankCRLF replaces CR and LF in b by spaces.
func blankCRLF(b []byte) {
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
}

// hasControl reports whether b holds a byte below SP, eight bytes at a
// time: a byte loop would cost a header value about a cycle a byte.
func hasControl(b []byte) bool {
	if len(b) < 8 {
		for _, c := range b {
			if c < ' ' {
				return true
			}
		}
		return false
	}
	// Whole words, the last one overlapping the one before it.
	for i := 0; ; i += 8 {
		if i > len(b)-8 {
			i = len(b) - 8
		}
		w := binary.LittleEndian.Uint64(b[i:])
		if (w-' '*ones)&^w&high != 0 {
			return true
		}
		if i == len(b)-8 {
			return false
		}
	}
}

// ValidHeaderName reports whether name is a non-empty token, the syntax of a
// field name (RFC 9110, Section 5.1).
func ValidHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !tokenTable[name[i]] {
			return false
		}
	}
	return true
}

// ValidHeaderValue reports whether value holds only field-value bytes:
// VCHAR, SP, HTAB and obs-text, so no CR, LF, NUL or other control
// (RFC 9110, Section 5.5).
func ValidHeaderValue(value string) bool {
	for i := 0; i < len(value); i++ {
		if !valueTable[value[i]] {
			return false
		}
	}
	return true
}

// AppendDate appends the cached "Date: <IMF-fixdate>\r\n" line to dst.
// The cache is set at init and by RefreshDate. Safe from any goroutine.
func AppendDate(dst []byte) []byte {
	return append(dst, heads.Load().date...)
}

// AppendHead appends the start of every response head: the status line
// (as AppendStatusLine), "Server: streamd\r\n" and the cached Date line
// (as AppendDate). It is one copy for the common statuses. It panics if
// status is not in [100, 999], a programmer error. Safe from any goroutine.
func AppendHead(dst []byte, status int) []byte {
	h := heads.Load()
	if status == 200 {
		return append(dst, h.ok...)
	}
	dst = AppendStatusLine(dst, status)
	return append(dst, h.serverDate...)
}

// RefreshDate updates the cached Date line to now, in UTC. The event loop
// calls it once a second; it allocates once per call. Safe from any
// goroutine.
func RefreshDate(now time.Time) {
	const server = "Server: streamd\r\n"
	ok := statusLines[200]
	dateLen := len("Date: ") + len(timeFormat) + 2
	b := make([]byte, 0, len(ok)+len(server)+dateLen)
	b = append(b, ok...)
	b = append(b, server...)
	b = append(b, "Date: "...)
	b = now.UTC().AppendFormat(b, timeFormat)
	b = append(b, '\r', '\n')
	h := &headCache{ok: b}
	h.serverDate = b[len(ok):len(b):len(b)]
	h.date = b[len(ok)+len(server) : len(b) : len(b)]
	heads.Store(h)
}

// ResponseHead describes the head of a response whose content length is
// known, as AppendResponseHead and AppendResponse write it.
type ResponseHead struct {
	// Status is the status code, in [100, 999].
	Status int
	// ContentType is the Content-Type value; "" writes no Content-Type.
	// It must be a valid field value (ValidHeaderValue); as in AppendHeader,
	// CR or LF in it is replaced by a space.
	ContentType string
	// Header holds extra complete field lines, "Name: value\r\n" each, as
	// AppendHeader builds them. They are written as they are, after
	// Content-Length.
	Header []byte
	// KeepAlive keeps the connection open after the response; false writes
	// "Connection: close".
	KeepAlive bool
	// HTTP10 marks a response to an HTTP/1.0 request: one kept alive says
	// "Connection: keep-alive", since HTTP/1.0 closes by default
	// (RFC 9112, Section 9.3).
	HTTP10 bool
	// HeadRequest marks a response to a HEAD request: the head, its
	// Content-Length included, is the one GET would get, and no content
	// follows (RFC 9110, Section 9.3.2).
	HeadRequest bool
}

// HasContent reports whether the content follows h: not for a HEAD request,
// nor for 1xx, 204 and 304 responses, which cannot have any (RFC 9110,
// Sections 6.4.1 and 15).
func (h *ResponseHead) HasContent() bool {
	return bodyAllowed(h.Status) && !h.HeadRequest
}

// bodyAllowed reports whether a response with status may carry content and
// Content-Length: not 1xx, 204 or 304 (RFC 9110, Sections 8.6 and 15).
func bodyAllowed(status int) bool {
	return status >= 200 && status != 204 && status != 304
}

// AppendResponseHead appends the head h describes, for content of
// contentLength bytes, to dst: the status line, "Server: streamd" and Date
// (as AppendHead), Content-Type (unless h.ContentType is empty),
// Content-Length (not for 1xx, 204 and 304), "Connection: close" unless
// h.KeepAlive, h.Header, "Connection: keep-alive" for HTTP/1.0 kept alive,
// and the blank line. Write the content after it when h.HasContent. It
// panics if h.Status is not in [100, 999], a programmer error. It does not
// allocate beyond growing dst. Safe from any goroutine.
func AppendResponseHead(dst []byte, h *ResponseHead, contentLength int) []byte {
	dst = AppendHead(dst, h.Status)
	withLength := bodyAllowed(h.Status)
	if ct := h.ContentType; ct != "" {
		dst = append(dst, "Content-Type: "...)
		dst = appendValue(dst, ct)
		if withLength {
			dst = append(dst, "\r\nContent-Length: "...)
		} else {
			dst = append(dst, '\r', '\n')
		}
	} else if withLength {
		dst = append(dst, "Content-Length: "...)
	}
	if withLength {
		dst = appendLength(dst, contentLength)
	}
	if !h.KeepAlive {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, h.Header...)
	if h.KeepAlive && h.HTTP10 {
		dst = append(dst, "Connection: keep-alive\r\n"...)
	}
	return append(dst, '\r', '\n')
}

// AppendResponse appends a complete response to dst: the head h describes
// for a body of len(body) bytes (see AppendResponseHead), then body when
// h.HasContent. It does not allocate beyond growing dst. Safe from any
// goroutine.
func AppendResponse(dst []byte, h *ResponseHead, body []byte) []byte {
	dst = AppendResponseHead(dst, h, len(body))
	if h.HasContent() {
		dst = append(dst, body...)
	}
	return dst
}

// AppendError appends the response for a parse error: its status, a
// text/plain body of err.Reason and a newline, and "Connection: close",
// since the connection cannot be resynchronised after a protocol error.
// Safe from any goroutine.
func AppendError(dst []byte, err *ProtocolError) []byte {
	dst = AppendHead(dst, err.Status)
	dst = append(dst, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	dst = appendLength(dst, len(err.Reason)+1)
	dst = append(dst, "Connection: close\r\n\r\n"...)
	dst = append(dst, err.Reason...)
	return append(dst, '\n')
}

// appendLength appends the decimal form of n, like strconv.AppendInt(dst,
// int64(n), 10), and CRLF: it ends a Content-Length line. Small numbers,
// the lengths of most bodies, skip strconv's division loop.
func appendLength(dst []byte, n int) []byte {
	switch {
	case uint(n) < 10:
		return append(dst, byte('0'+n), '\r', '\n')
	case uint(n) < 100:
		return append(dst, byte('0'+n/10), byte('0'+n%10), '\r', '\n')
	case uint(n) < 1000:
		return append(dst, byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10), '\r', '\n')
	}
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}
