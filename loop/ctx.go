package loop

import (
	"crypto/tls"
	"net"

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
}

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

// RemoteAddr returns the client's address.
func (c *Ctx) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// TLS returns the connection's TLS state (version, cipher suite, ALPN
// protocol, verified client certificates), or nil over plain TCP.
func (c *Ctx) TLS() *tls.ConnectionState { return c.conn.TLS() }

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
func (c *Ctx) SetHeader(name, value string) { c.headers = appendHeaderLine(c.headers, name, value) }

// Text answers with a text/plain body.
func (c *Ctx) Text(status int, body string) {
	c.respond(status, "text/plain; charset=utf-8", body, nil)
}

// Bytes answers with body and the given content type, which must be a
// valid header value (httpcodec.ValidHeaderValue): CR or LF in it is
// written as a space, so it cannot add header lines.
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
	el := c.el
	el.own(c.conn)
	h := c.respHead()
	h.Status, h.ContentType = status, contentType
	el.out = appendResponse(el.out, &h, sbody, body)
}

// respHead describes the response to the current request, but for its
// status and content type.
func (c *Ctx) respHead() httpcodec.ResponseHead {
	return httpcodec.ResponseHead{Header: c.headers, KeepAlive: c.keepAlive,
		HTTP10: c.req.ProtoMinor == 0, HeadRequest: string(c.req.Method) == "HEAD"}
}
