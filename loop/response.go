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

// respHead is what a fixed-length response's head needs beyond its status,
// content type and length: Ctx builds one per response, Deferred keeps one.
type respHead struct {
	headers   []byte // header lines set with SetHeader
	keepAlive bool   // else "Connection: close"
	http10    bool   // an HTTP/1.0 client kept alive is told so (RFC 9112, Section 9.3)
	head      bool   // a HEAD request: no body
}

// appendResponse appends a complete fixed-length response (the one path
// of Ctx and Deferred): the head, with the Content-Type and Content-Length
// lines from cc, and the body (sbody, then body) unless the status or a
// HEAD request rules one out.
func appendResponse(dst []byte, cc *ctCache, h *respHead, status int, contentType, sbody string, body []byte) []byte {
	dst = cc.appendHead(dst, status, contentType, len(sbody)+len(body), h)
	if bodyAllowed(status) && !h.head {
		dst = append(dst, sbody...)
		dst = append(dst, body...)
	}
	return dst
}

// appendHeaderLine appends "name: value\r\n" to dst when both are valid
// (httpcodec.ValidHeaderName, ValidHeaderValue); an invalid one is dropped
// rather than risk response splitting.
func appendHeaderLine(dst []byte, name, value string) []byte {
	if !httpcodec.ValidHeaderName(name) || !httpcodec.ValidHeaderValue(value) {
		return dst
	}
	return httpcodec.AppendHeader(dst, name, value)
}

// bodyAllowed reports whether status may carry a body (RFC 9110 §6.4.1).
func bodyAllowed(status int) bool {
	return status >= 200 && status != 204 && status != 304
}

var connKeepAlive = []byte("Connection: keep-alive\r\n")

// appendHead appends the status line and headers of a fixed-length
// response, with the Content-Type and Content-Length lines taken from (and
// put in) cc.
func (cc *ctCache) appendHead(dst []byte, status int, contentType string, contentLength int, h *respHead) []byte {
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
				return finishHead(appendLength(dst, contentLength), h)
			}
			cc.ct = contentType
			cc.line = appendContentType(cc.line[:0], contentType)
			cc.line = append(cc.line, "Content-Length: "...)
		}
		dst = append(dst, cc.line...)
		dst = appendLength(dst, contentLength)
	}
	return finishHead(dst, h)
}

func appendContentType(dst []byte, contentType string) []byte {
	dst = append(dst, "Content-Type: "...)
	dst = append(dst, contentType...)
	return append(dst, "\r\n"...)
}

// finishHead appends the Connection header h needs, h's header lines and
// the blank line ending the head.
func finishHead(dst []byte, h *respHead) []byte {
	if !h.keepAlive {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, h.headers...)
	if h.keepAlive && h.http10 {
		dst = append(dst, connKeepAlive...)
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
