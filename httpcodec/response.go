package httpcodec

import (
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

// dateLine holds the current "Date: ...\r\n" line, swapped whole by
// RefreshDate so readers on any goroutine never see a torn value.
var dateLine atomic.Pointer[[]byte]

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
	start := len(dst)
	dst = append(dst, value...)
	for i := start; i < len(dst); i++ {
		if c := dst[i]; c == '\r' || c == '\n' {
			dst[i] = ' '
		}
	}
	return append(dst, '\r', '\n')
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
	return append(dst, *dateLine.Load()...)
}

// RefreshDate updates the cached Date line to now, in UTC. The event loop
// calls it once a second; it allocates once per call. Safe from any
// goroutine.
func RefreshDate(now time.Time) {
	b := make([]byte, 0, len("Date: ")+len(timeFormat)+2)
	b = append(b, "Date: "...)
	b = now.UTC().AppendFormat(b, timeFormat)
	b = append(b, '\r', '\n')
	dateLine.Store(&b)
}

// bodyAllowed reports whether a response with status may carry content and
// Content-Length: not 1xx, 204 or 304 (RFC 9110, Sections 8.6 and 15).
func bodyAllowed(status int) bool {
	return status >= 200 && status != 204 && status != 304
}

// AppendResponse appends a complete response to dst: status line,
// "Server: streamd", Date, Content-Type (if contentType is not empty),
// Content-Length, "Connection: close" unless keepAlive, a blank line and
// body. For 1xx, 204 and 304 responses, which cannot have content,
// Content-Length and body are omitted. contentType must be a valid field
// value (see AppendHeader). It does not allocate beyond growing dst.
// Safe from any goroutine.
func AppendResponse(dst []byte, status int, contentType string, body []byte, keepAlive bool) []byte {
	dst = AppendStatusLine(dst, status)
	dst = append(dst, "Server: streamd\r\n"...)
	dst = AppendDate(dst)
	if contentType != "" {
		dst = AppendHeader(dst, "Content-Type", contentType)
	}
	if bodyAllowed(status) {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(body)), 10)
		dst = append(dst, '\r', '\n')
	} else {
		body = nil
	}
	if !keepAlive {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, '\r', '\n')
	return append(dst, body...)
}

// AppendError appends the response for a parse error: its status, a
// text/plain body of err.Reason and a newline, and "Connection: close",
// since the connection cannot be resynchronised after a protocol error.
// Safe from any goroutine.
func AppendError(dst []byte, err *ProtocolError) []byte {
	dst = AppendStatusLine(dst, err.Status)
	dst = append(dst, "Server: streamd\r\n"...)
	dst = AppendDate(dst)
	dst = append(dst, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(err.Reason)+1), 10)
	dst = append(dst, "\r\nConnection: close\r\n\r\n"...)
	dst = append(dst, err.Reason...)
	return append(dst, '\n')
}
