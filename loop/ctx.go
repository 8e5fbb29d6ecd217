package loop

import (
	"strconv"

	"github.com/streamd/streamd/httpcodec"
)

// Ctx is the request context a handler receives. It is owned by the loop
// and reused for the next request: a handler must not keep it, nor any
// slice it returns, after it returns (copy what a goroutine needs, and use
// Defer to answer later).
type Ctx struct {
	conn      *Conn
	el        *eventLoop
	req       *httpcodec.Request
	params    [maxParams]param
	nparams   int
	headers   []byte // extra response header lines
	keepAlive bool
	responded bool
	deferred  bool
	tookOver  bool
	ct        ctCache // the loop's Content-Type line cache, kept across requests
}

// ctCache holds "Content-Type: <ct>\r\nContent-Length: " for the content
// type of the last response: handlers nearly always pass the same
// constant, and one copy of the cached line replaces four appends.
type ctCache struct {
	ct   string
	line []byte
}

// maxCachedCT bounds the content types worth caching.
const maxCachedCT = 128

func (c *Ctx) reset(conn *Conn, req *httpcodec.Request) {
	c.conn, c.el, c.req = conn, conn.el, req
	c.nparams = 0
	c.headers = c.headers[:0]
	c.keepAlive = req.KeepAlive
	c.responded, c.deferred, c.tookOver = false, false, false
}

func (c *Ctx) release() {
	c.conn, c.req = nil, nil
	if cap(c.headers) > 16<<10 {
		c.headers = nil
	}
}

// Request returns the parsed request. Its slices are views into the
// connection's input, valid until the handler returns.
func (c *Ctx) Request() *httpcodec.Request { return c.req }

// Method returns the request method.
func (c *Ctx) Method() string { return string(c.req.Method) }

// Path returns the request path (without the query).
func (c *Ctx) Path() string { return string(c.req.Path) }

// Param returns the path parameter name of the route pattern ("" if none).
func (c *Ctx) Param(name string) string {
	for i := 0; i < c.nparams; i++ {
		if p := &c.params[i]; p.name == name {
			return string(c.req.Path[p.start:p.end])
		}
	}
	return ""
}

// Query returns the unescaped value of the first query argument name, and
// whether it was present.
func (c *Ctx) Query(name string) (string, bool) { return c.req.QueryValue(name) }

// Header returns the value of the first request header name
// (case-insensitive), or "".
func (c *Ctx) Header(name string) string { return string(c.req.Header(name)) }

// Body returns the request body, valid until the handler returns.
func (c *Ctx) Body() []byte { return c.req.Body }

// KeepAlive reports whether the connection stays open after this response.
func (c *Ctx) KeepAlive() bool { return c.keepAlive }

// SetHeader adds a response header line. Name and value must be valid
// header tokens/values (httpcodec.ValidHeaderName/ValidHeaderValue);
// invalid ones are dropped rather than risk response splitting.
func (c *Ctx) SetHeader(name, value string) {
	if !httpcodec.ValidHeaderName(name) || !httpcodec.ValidHeaderValue(value) {
		return
	}
	c.headers = httpcodec.AppendHeader(c.headers, name, value)
}

// Text answers with a text/plain body.
func (c *Ctx) Text(status int, body string) {
	c.respond(status, "text/plain; charset=utf-8", body, nil)
}

// Bytes answers with body and the given content type.
func (c *Ctx) Bytes(status int, contentType string, body []byte) {
	c.respond(status, contentType, "", body)
}

// NoContent answers with an empty body (204, 304, ...).
func (c *Ctx) NoContent(status int) { c.respond(status, "", "", nil) }

// Error answers with status and a one-line text/plain message.
func (c *Ctx) Error(status int, msg string) {
	c.respond(status, "text/plain; charset=utf-8", msg+"\n", nil)
}

func (c *Ctx) respond(status int, contentType, sbody string, body []byte) {
	if c.responded {
		return
	}
	c.responded = true
	n := len(sbody) + len(body)
	el := c.el
	el.own(c.conn)
	if c.keepAlive && c.req.ProtoMinor == 0 {
		// An HTTP/1.0 client assumes close unless told otherwise
		// (RFC 9112, Section 9.3).
		c.headers = append(c.headers, connKeepAlive...)
	}
	out := c.ct.appendHead(el.out, status, contentType, n, c.keepAlive, c.headers)
	if bodyAllowed(status) && string(c.req.Method) != "HEAD" {
		if len(sbody) > 0 {
			out = append(out, sbody...)
		}
		if len(body) > 0 {
			out = append(out, body...)
		}
	}
	el.out = out
}

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
