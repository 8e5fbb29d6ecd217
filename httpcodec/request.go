package httpcodec

import (
	"bytes"
	"net/url"
)

// Header is one header field line. Name and Value are views into the
// parser's input (see Parser.Parse for their lifetime); Value is trimmed of
// leading and trailing OWS. Names keep the case the peer sent.
type Header struct{ Name, Value []byte }

// Request is a parsed request head plus its body.
//
// Every byte slice is a view into the input given to Parser.Parse, a chunked
// Body included. They are valid until the caller discards those input bytes
// or calls Parse or Reset on the Parser again; copy anything that must live
// longer. A Request is not safe for concurrent use.
type Request struct {
	// Method is the request method, a token, e.g. "GET". Methods are
	// case-sensitive (RFC 9110, Section 9.1).
	Method []byte
	// URI is the raw request-target (RFC 9112, Section 3.2), not unescaped:
	// origin-form "/path?query", absolute-form "http://host/path",
	// authority-form "host:port" (CONNECT) or asterisk-form "*".
	URI []byte
	// Path is the path of the request-target, still escaped: URI before the
	// first '?', except for an absolute-form URI with an http or https scheme
	// ("http://host:port/path?query", scheme in any case), where it is the part
	// between the authority and the first '?', or "/" if that is empty.
	Path []byte
	// Query is URI after the first '?', or nil if URI has no '?'.
	Query []byte
	// ProtoMinor is 0 for HTTP/1.0 and 1 for HTTP/1.1.
	ProtoMinor int
	// Headers holds the header fields in order, including those the parser
	// interprets. It is backed by a fixed array in the Parser.
	Headers []Header
	// Host is the Host header value (possibly empty), or nil if absent, which
	// only HTTP/1.0 allows. For an absolute-form URI with an http or https
	// scheme it is the URI's authority ("host:port") instead, and the Host
	// header, still required in HTTP/1.1 and validated, is otherwise ignored
	// (RFC 9112, Section 3.2.2). Neither is unescaped.
	Host []byte
	// ContentLength is the Content-Length value, or -1 if absent (including
	// for chunked requests; use len(Body)).
	ContentLength int64
	// Chunked reports "Transfer-Encoding: chunked"; Body is then decoded.
	Chunked bool
	// KeepAlive reports whether the connection may carry another request:
	// for HTTP/1.1 unless Connection has "close", for HTTP/1.0 only if
	// Connection has "keep-alive" (RFC 9112, Section 9.3).
	KeepAlive bool
	// Upgrade is the Upgrade header value when Connection has the "upgrade"
	// token, else nil (RFC 9110, Section 7.8).
	Upgrade []byte
	// Body is the request body, a view into the input right after the head:
	// the bytes as sent for Content-Length, the decoded data for chunked,
	// which Parse wrote there over the chunk framing (see Parser.Parse).
	// It is empty (possibly nil) if there is none. Trailer fields of a
	// chunked body are validated and dropped.
	Body []byte
}

// Reset clears r for reuse, dropping its references to the input.
func (r *Request) Reset() {
	*r = Request{ContentLength: -1}
}

// Header returns the value of the first header field named name
// (case-insensitive), or nil if there is none. It does not allocate.
func (r *Request) Header(name string) []byte {
	for i := range r.Headers {
		if equalFold(r.Headers[i].Name, name) {
			return r.Headers[i].Value
		}
	}
	return nil
}

// HasToken reports whether any header field named name (case-insensitive)
// holds token in its comma-separated list, e.g. HasToken("Connection",
// "upgrade"). Tokens compare case-insensitively and ignore OWS around list
// elements. Unlike Header, it looks at every field line with that name, since
// a list may be split over several lines (RFC 9110, Section 5.3).
func (r *Request) HasToken(name, token string) bool {
	for i := range r.Headers {
		if equalFold(r.Headers[i].Name, name) && hasToken(r.Headers[i].Value, token) {
			return true
		}
	}
	return false
}

// QueryArg returns the raw value of the first key=value pair in the query
// whose raw key equals name (byte for byte, not unescaped), and whether it
// was found. Pairs are separated by '&'; a key without '=' has an empty
// value. It does not allocate; the value is a view like the other fields.
func (r *Request) QueryArg(name string) (value []byte, ok bool) {
	for q := r.Query; len(q) > 0; {
		var key, val []byte
		key, val, q = nextQueryPair(q)
		if string(key) == name {
			return val, true
		}
	}
	return nil, false
}

// nextQueryPair splits the first key=value pair off q. A key without '='
// gets an empty (non-nil) value.
func nextQueryPair(q []byte) (key, val, rest []byte) {
	pair := q
	if i := bytes.IndexByte(q, '&'); i >= 0 {
		pair, rest = q[:i], q[i+1:]
	}
	if i := bytes.IndexByte(pair, '='); i >= 0 {
		return pair[:i], pair[i+1:], rest
	}
	return pair, pair[len(pair):], rest
}

// QueryValue returns the value of the first pair whose key, unescaped like
// url.QueryUnescape ('+' is a space, %XX escapes), equals name, also
// unescaped. Pairs with an invalid escape are skipped, as url.ParseQuery does.
// It allocates when the key or value needs unescaping.
func (r *Request) QueryValue(name string) (string, bool) {
	for q := r.Query; len(q) > 0; {
		var key, val []byte
		key, val, q = nextQueryPair(q)
		if !needsUnescape(key) {
			if string(key) != name {
				continue
			}
		} else if k, err := url.QueryUnescape(string(key)); err != nil || k != name {
			continue
		}
		if !needsUnescape(val) {
			return string(val), true
		}
		v, err := url.QueryUnescape(string(val))
		if err != nil {
			continue
		}
		return v, true
	}
	return "", false
}

func needsUnescape(b []byte) bool {
	return bytes.IndexByte(b, '%') >= 0 || bytes.IndexByte(b, '+') >= 0
}
