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
	dst = AppendHead(dst, status)
	if contentType != "" {
		dst = AppendHeader(dst, "Content-Type", contentType)
	}
	if bodyAllowed(status) {
		dst = append(dst, "Content-Length: "...)
		dst = appendInt(dst, len(body))
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
	dst = AppendHead(dst, err.Status)
	dst = append(dst, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(err.Reason)+1), 10)
	dst = append(dst, "\r\nConnection: close\r\n\r\n"...)
	dst = append(dst, err.Reason...)
	return append(dst, '\n')
}

// appendInt appends the decimal form of n, like strconv.AppendInt(dst,
// int64(n), 10), with the lengths of small bodies written without a
// division loop.
func appendInt(dst []byte, n int) []byte {
	switch {
	case uint(n) < 10:
		return append(dst, byte('0'+n))
	case uint(n) < 100:
		return append(dst, byte('0'+n/10), byte('0'+n%10))
	case uint(n) < 1000:
		return append(dst, byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10))
	}
	return strconv.AppendInt(dst, int64(n), 10)
}
