package loop

import (
	"strconv"

	"github.com/streamd/streamd/httpcodec"
)

// ctCache holds "Content-Type: <ct>\r\nContent-Length: " for the content
// type of the last response: handlers nearly always pass the same
// constant, and one copy of the cached line replaces four appends.
type ctCache struct {
	ct   string
	line []byte
}

// maxCachedCT bounds the content types worth caching.
const maxCachedCT = 128

// bodyAllowed reports whether status may carry a body (RFC 9110 §6.4.1).
func bodyAllowed(status int) bool {
	return status >= 200 && status != 204 && status != 304
}

var connKeepAlive = []byte("Connection: keep-alive\r\n")

// appendHead writes the status line and headers of a fixed-length response.
func appendHead(dst []byte, status int, contentType string, contentLength int, keepAlive bool, extra []byte) []byte {
	var none ctCache
	return none.appendHead(dst, status, contentType, contentLength, keepAlive, extra)
}

// appendHead is the package's appendHead with the Content-Type and
// Content-Length lines taken from (and put in) cc.
func (cc *ctCache) appendHead(dst []byte, status int, contentType string, contentLength int, keepAlive bool, extra []byte) []byte {
	dst = httpcodec.AppendHead(dst, status)
	if !bodyAllowed(status) {
		if contentType != "" {
			dst = appendContentType(dst, contentType)
		}
	} else if contentType == "" {
		dst = append(dst, "Content-Length: "...)
		dst = appendLength(dst, contentLength)
	} else {
		if contentType != cc.ct {
			if len(contentType) > maxCachedCT {
				dst = appendContentType(dst, contentType)
				dst = append(dst, "Content-Length: "...)
				return finishHead(appendLength(dst, contentLength), keepAlive, extra)
			}
			cc.ct = contentType
			cc.line = appendContentType(cc.line[:0], contentType)
			cc.line = append(cc.line, "Content-Length: "...)
		}
		dst = append(dst, cc.line...)
		dst = appendLength(dst, contentLength)
	}
	return finishHead(dst, keepAlive, extra)
}

func appendContentType(dst []byte, contentType string) []byte {
	dst = append(dst, "Content-Type: "...)
	dst = append(dst, contentType...)
	return append(dst, "\r\n"...)
}

// finishHead appends "Connection: close" unless keepAlive, the extra
// header lines and the blank line ending the head.
func finishHead(dst []byte, keepAlive bool, extra []byte) []byte {
	if !keepAlive {
		dst = append(dst, "Connection: close\r\n"...)
	}
	if len(extra) > 0 {
		dst = append(dst, extra...)
	}
	return append(dst, '\r', '\n')
}

// appendLength appends the Content-Length value n and CRLF; small bodies,
// the common case, skip strconv's division loop.
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
	return append(dst, "\r\n"...)
}
