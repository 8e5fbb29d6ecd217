package httpcodec

// Header names the parser interprets, by length.
const (
	hHost             = "host"
	hExpect           = "expect"
	hUpgrade          = "upgrade"
	hConnection       = "connection"
	hContentLength    = "content-length"
	hTransferEncoding = "transfer-encoding"
)

// headInfo accumulates what the parser interprets from the header fields of
// one head, field by field in order; finish then derives the framing. Both
// processHead and fastHead use it, so they agree on every check.
type headInfo struct {
	host       []byte
	upgrade    []byte
	te         []byte
	cl         int64
	hosts, tes int
	connTokens int
	expect     bool
}

// interesting reports whether a field name of length n may be one the
// parser interprets: a cheap filter before field.
func interesting(n int) bool {
	return interestingLens>>uint(n)&1 != 0
}

const interestingLens = 1<<len(hHost) | 1<<len(hExpect) | 1<<len(hUpgrade) |
	1<<len(hConnection) | 1<<len(hContentLength) | 1<<len(hTransferEncoding)

// field interprets one header field. Names are tokens, so comparing the
// first byte with |0x20 against a lower-case letter is exact and rejects
// other names of the same length cheaply; tokenFoldEq then compares words.
func (h *headInfo) field(name, value []byte) error {
	switch len(name) {
	case len(hHost):
		if name[0]|0x20 != 'h' || !tokenFoldEq(name, hHost) {
			return nil
		}
		h.hosts++
		if h.hosts > 1 {
			return ErrMalformed // RFC 9112, Section 3.2
		}
		if !validHost(value) {
			return ErrMalformed
		}
		h.host = value
	case len(hExpect):
		if name[0]|0x20 != 'e' || !tokenFoldEq(name, hExpect) {
			return nil
		}
		if !equalFold(value, "100-continue") {
			return ErrExpectationFailed
		}
		h.expect = true
	case len(hUpgrade):
		if h.upgrade == nil && name[0]|0x20 == 'u' && tokenFoldEq(name, hUpgrade) {
			h.upgrade = value
		}
	case len(hConnection):
		if name[0]|0x20 != 'c' || !tokenFoldEq(name, hConnection) {
			return nil
		}
		h.connTokens |= connectionTokens(value)
	case len(hContentLength):
		if name[0]|0x20 != 'c' || !tokenFoldEq(name, hContentLength) {
			return nil
		}
		v, ok := parseContentLength(value)
		if !ok {
			return ErrBadContentLength
		}
		if h.cl >= 0 && v != h.cl {
			return ErrSmuggling // RFC 9112, Section 6.3, item 5
		}
		h.cl = v
	case len(hTransferEncoding):
		if name[0]|0x20 != 't' || !tokenFoldEq(name, hTransferEncoding) {
			return nil
		}
		h.tes++
		h.te = value
	}
	return nil
}

// finish checks the framing of a head whose field lines h has seen, fills
// the rest of req and returns the framing for p. The caller has set
// req.Method, URI (the raw request-target), ProtoMinor and Headers; finish
// splits URI (see splitTarget) and sets every other field. A framing error
// takes precedence over a malformed target. processHead and fastHead share
// it, so they fill req the same way.
func (h *headInfo) finish(req *Request, maxBody int64) (cl int64, chunked, expect bool, err error) {
	minor := req.ProtoMinor
	if h.tes > 0 {
		switch {
		case minor == 0:
			return 0, false, false, ErrMalformed // RFC 9112, Section 6.1: faulty framing in 1.0
		case h.cl >= 0 || h.tes > 1:
			return 0, false, false, ErrSmuggling
		case !equalFold(h.te, "chunked"):
			return 0, false, false, ErrTransferCodingNotImplemented
		}
		chunked = true
	}
	if minor == 1 && h.hosts == 0 {
		return 0, false, false, ErrMissingHost
	}
	cl = h.cl
	if cl > maxBody {
		return 0, false, false, ErrBodyTooLarge
	}
	req.Host = h.host
	req.ContentLength = cl
	req.Chunked = chunked
	if minor == 1 {
		req.KeepAlive = h.connTokens&tokClose == 0
	} else {
		req.KeepAlive = h.connTokens&(tokClose|tokKeepAlive) == tokKeepAlive
	}
	req.Upgrade = nil
	if h.connTokens&tokUpgrade != 0 && h.upgrade != nil {
		req.Upgrade = h.upgrade
	}
	authority, err := splitTarget(req, req.URI)
	if err != nil {
		return 0, false, false, err
	}
	if authority != nil {
		req.Host = authority
	}
	req.Body = nil
	// RFC 9110, Section 10.1.1: ignore 100-continue in HTTP/1.0 requests,
	// and only wait when there is a body to wait for.
	expect = h.expect && minor == 1 && (chunked || cl > 0)
	return cl, chunked, expect, nil
}

// Connection options the parser interprets (RFC 9110, Section 7.6.1).
const (
	tokClose = 1 << iota
	tokKeepAlive
	tokUpgrade
)

// connectionTokens returns the tok* bits for the options in a Connection
// value, in one pass over the comma-separated list.
func connectionTokens(v []byte) int {
	bits := 0
	for len(v) > 0 {
		var elem []byte
		elem, v = nextElem(v)
		switch len(elem) {
		case len("close"):
			if equalFold(elem, "close") {
				bits |= tokClose
			}
		case len("keep-alive"):
			if equalFold(elem, "keep-alive") {
				bits |= tokKeepAlive
			}
		case len("upgrade"):
			if equalFold(elem, "upgrade") {
				bits |= tokUpgrade
			}
		}
	}
	return bits
}

// parseContentLength parses 1*DIGIT into an int64, rejecting overflow.
func parseContentLength(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		d := int64(c - '0')
		if v > (1<<63-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// scanChunked decodes a chunked body (RFC 9112, Section 7.1) from p.pos,
// moving chunk data down to b[p.w:]. It returns nil with p.pos just past the
