package httpcodec

import (
	"bytes"
	"encoding/binary"
)

// Default limits, used for zero (or negative) Limits fields.
const (
	// DefaultMaxURIBytes is the default Limits.MaxURIBytes (414 beyond it).
	DefaultMaxURIBytes = 4096
	// DefaultMaxHeaderBytes is the default Limits.MaxHeaderBytes (431 beyond it).
	DefaultMaxHeaderBytes = 8192
	// DefaultMaxBodyBytes is the default Limits.MaxBodyBytes (413 beyond it).
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxHeaders is the default Limits.MaxHeaders (431 beyond it) and
	// the number of Header slots built into every Parser.
	DefaultMaxHeaders = 100
)

// maxChunkSizeDigits bounds a chunk-size line, as net/http does: 16 hex
// digits already cover every uint64.
const maxChunkSizeDigits = 16

// Limits bounds what a Parser accepts. Zero or negative fields mean the
// default. Every limit is enforced while scanning, so a peer cannot make the
// caller buffer more than the limit before it gets an error.
type Limits struct {
	// MaxURIBytes bounds the request-target; beyond it Parse returns
	// ErrURITooLong (414). Default DefaultMaxURIBytes.
	MaxURIBytes int
	// MaxHeaderBytes bounds the whole head: optional leading empty lines,
	// request line, header fields and the final CRLF. Beyond it Parse returns
	// ErrHeaderTooLarge (431). It also bounds the trailer section of a chunked
	// body and (as ErrBadChunk) the total size of chunk extensions.
	// Default DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxBodyBytes bounds the body; beyond it Parse returns ErrBodyTooLarge
	// (413), from Content-Length as soon as the head is complete, or while
	// decoding chunks. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxHeaders bounds the number of header fields (and, separately, trailer
	// fields); beyond it Parse returns ErrHeaderTooLarge (431).
	// Default DefaultMaxHeaders.
	MaxHeaders int
}

// pstate is a scanner state. The scanners resume from any byte, so the state
// plus a handful of offsets is all that survives between Parse calls.
type pstate int8

const (
	stStart       pstate = iota // before the request line; empty lines skipped
	stStartLF                   // CR of an empty line seen
	stMethod                    // in the method token
	stTarget                    // in the request-target
	stVersion                   // in the HTTP-version
	stRequestLF                 // CR after the version seen
	stFieldStart                // at the start of a field line or the final CRLF
	stFieldName                 // in a field name
	stFieldValue                // in a field value
	stFieldLF                   // CR after a field value seen
	stFieldsEndLF               // CR of the empty line ending the section seen
	stChunkSize                 // in chunk-size hex digits
	stChunkExt                  // in chunk extensions, ignored
	stChunkSizeLF               // CR after the chunk-size line seen
	stChunkData                 // in chunk data
	stChunkDataCR               // after chunk data, CR expected
	stChunkDataLF               // after chunk data, LF expected
	stDone                      // section complete
)

// noCopy makes go vet's copylocks check flag copies of a Parser after first
// use; see sync.noCopy.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// Parser is an incremental HTTP/1.1 request parser (RFC 9112). It keeps only
// integer offsets between calls, never slices of the input, so the caller may
// move the unconsumed bytes to a new buffer between calls. It decodes a
// chunked body in place, in the caller's buffer (see Parse and Compact), so
// it needs no body buffer of its own.
//
// The zero value is ready to use with default Limits; NewParser and Init set
// other limits. A Parser must not be copied after first use. It carries a
// fixed array of DefaultMaxHeaders Header slots (about 4.8 KiB) that backs
// Request.Headers.
//
// A Parser is not safe for concurrent use: one goroutine (the connection's
// event loop) owns it at a time.
type Parser struct {
	noCopy noCopy // go vet flags copies

	err error // sticky protocol error, until Reset

	maxURI, maxHead, maxHeaders int
	maxBody                     int64
	inited                      bool

	state pstate
	pos   int // next byte of the input to scan

	// Head offsets, relative to the start of the input.
	reqStart   int // first byte of the method
	methodEnd  int // SP after the method
	targetEnd  int // SP after the request-target
	fieldStart int // first field line of the head (or of the trailers)
	headEnd    int // first byte after the head's final CRLF
	mark       int // start of the token or section being scanned
	nfields    int // field lines seen in the current section

	// Framing, derived from the head.
	headDone      bool
	contentLength int64
	chunked       bool
	expect        bool // Expect: 100-continue on an HTTP/1.1 request
	expectSent    bool // ErrExpectContinue already returned

	// Chunked decoding. Chunk data is moved down to the write cursor w, so
	// the body decoded so far is always b[headEnd:w], and w <= pos.
	w           int    // end of the decoded body
	chunkLeft   uint64 // data bytes left in the current chunk
	chunkDigits int    // hex digits of the current chunk-size
	extBytes    int    // chunk-extension bytes seen in this body

	hdrArr [DefaultMaxHeaders]Header
	extra  []Header // used instead of hdrArr when MaxHeaders > DefaultMaxHeaders
}

// NewParser returns a Parser with the given limits.
func NewParser(l Limits) *Parser {
	p := new(Parser)
	p.Init(l)
	return p
}

// Init sets the limits and resets p, for a Parser embedded by value.
// It allocates only when l.MaxHeaders exceeds DefaultMaxHeaders.
func (p *Parser) Init(l Limits) {
	p.maxURI = l.MaxURIBytes
	if p.maxURI <= 0 {
		p.maxURI = DefaultMaxURIBytes
	}
	p.maxHead = l.MaxHeaderBytes
	if p.maxHead <= 0 {
		p.maxHead = DefaultMaxHeaderBytes
	}
	p.maxBody = l.MaxBodyBytes
	if p.maxBody <= 0 {
		p.maxBody = DefaultMaxBodyBytes
	}
	p.maxHeaders = l.MaxHeaders
	if p.maxHeaders <= 0 {
		p.maxHeaders = DefaultMaxHeaders
	}
	p.extra = nil
	if p.maxHeaders > len(p.hdrArr) {
		p.extra = make([]Header, p.maxHeaders)
	}
	p.inited = true
	p.Reset()
}

// HeadComplete reports whether the head of the request being parsed has
// been received in full (after Parse returned ErrNeedMore or
// ErrExpectContinue): only its body is still missing. Servers use it to
// stop the header-read deadline once the head is in.
func (p *Parser) HeadComplete() bool { return p.headDone }

// Reset forgets any partly parsed request, keeping the limits.
// Call it when the connection is reused for a new peer; Parse resets the
// Parser itself after each complete request.
func (p *Parser) Reset() {
	p.state = stStart
	p.pos, p.w = 0, 0
	p.reqStart, p.methodEnd, p.targetEnd = 0, 0, 0
	p.fieldStart, p.headEnd, p.mark, p.nfields = 0, 0, 0, 0
	p.headDone = false
	p.contentLength = -1
	p.chunked, p.expect, p.expectSent = false, false, false
	p.chunkLeft, p.chunkDigits, p.extBytes = 0, 0, 0
	p.err = nil
}

func (p *Parser) headerSlots() []Header {
	if p.extra != nil {
		return p.extra
	}
	return p.hdrArr[:]
}

// Parse parses one request from b, which must hold all unconsumed bytes of
// the connection starting at the first byte of the current request.
//
// On success it returns the size n of the whole request in b (head, body,
// and for a chunked body what is left of its framing and trailers), fills
// req and resets p for the next request; the caller discards b[:n] and calls
// Parse again for a pipelined request. The byte slices in req, Body
// included, are views into b[:n]: they are valid until the caller discards
// or overwrites those bytes, and until the next call to Parse or Reset on p,
// whichever comes first. Do not keep them beyond that; make copies instead.
//
// Parse writes into b. It decodes a chunked body in place: chunk data is
// moved down over the framing scanned before it, so the body decoded so far
// always directly follows the head. It writes only over bytes it has
// already scanned, never into bytes after the current request.
//
// If the request is incomplete, Parse returns 0 and ErrNeedMore. Call it
// again when more input arrives, with the bytes Parse left in b (including
// what it wrote there, and as shortened by Compact, if called) followed by
// the new input; the backing array may differ. Passing a fresh copy of the
// bytes as received instead would lose the part of a chunked body decoded so
// far. Compact drops the chunk framing already decoded, so the caller need
// not hold the body's wire form. Scanning resumes where it stopped, so total
// work is linear in the request size however it is split. It returns
// ErrExpectContinue once, as documented there. Any other error is a
// *ProtocolError sentinel; the caller should answer it (AppendError) and
// close the connection; until Reset, p keeps returning the same error.
//
// Bare LF line endings are rejected with ErrMalformed, never treated as CRLF:
// accepting them is allowed by RFC 9112, Section 2.2, but peers disagreeing
// about line ends is a known request-smuggling vector.
func (p *Parser) Parse(b []byte, req *Request) (n int, err error) {
	if !p.inited {
		p.Init(Limits{})
	}
	if p.err != nil {
		return 0, p.err
	}
	if p.state == stStart && p.pos == 0 {
		// A fresh request: try the one-pass path for a complete, ordinary
		// head first. Without a body, p is left untouched: no Reset needed.
		var ok bool
		if n, ok = p.fastHead(b, req); ok {
			if n > 0 {
				return n, nil
			}
			n, err = p.parseBody(b, req, true)
		} else {
			n, err = p.parse(b, req)
		}
	} else {
		n, err = p.parse(b, req)
	}
	if err != nil && err != ErrNeedMore && err != ErrExpectContinue {
		p.err = err
	}
	return n, err
}

func (p *Parser) parse(b []byte, req *Request) (n int, err error) {
	filled := false
	if !p.headDone {
		if err := p.scanHead(b); err != nil {
			return 0, err
		}
		if err := p.processHead(b, req); err != nil {
			return 0, err
		}
		filled = true
	}
	return p.parseBody(b, req, filled)
}

// parseBody continues parse once the head is complete; filled reports
// whether req already holds this b's views of the head (it was just
// processed), else they are rebuilt.
func (p *Parser) parseBody(b []byte, req *Request, filled bool) (n int, err error) {
	if !p.headDone {
		p.headDone = true
		p.pos = p.headEnd
		if p.chunked {
			p.state = stChunkSize
			p.w = p.headEnd
		}
	}

	var body []byte
	switch {
	case p.chunked:
		if err := p.scanChunked(b); err != nil {
			if err == ErrNeedMore {
				return 0, p.needMore()
			}
			return 0, err
		}
		n = p.pos
		body = b[p.headEnd:p.w:p.w]
	case p.contentLength > 0:
		n = p.headEnd + int(p.contentLength) // contentLength <= maxBody, fits
		if len(b) < n {
			return 0, p.needMore()
		}
		body = b[p.headEnd:n:n]
	default:
		n = p.headEnd
	}
	if !filled {
		// Rebuild the views for this b: the one we saw the head in may be gone.
		if err := p.processHead(b, req); err != nil {
			return 0, err // unreachable: the head was validated before
		}
	}
	req.Body = body
	p.Reset()
	return n, nil
}

func (p *Parser) needMore() error {
	if p.expect && !p.expectSent {
		p.expectSent = true
		return ErrExpectContinue
	}
	return ErrNeedMore
}

// scanHead scans the head from p.pos. It returns nil once the head is
// complete (p.headEnd set), ErrNeedMore, or a protocol error.
func (p *Parser) scanHead(b []byte) error {
	end := len(b)
	limited := false
	if end > p.maxHead {
		end, limited = p.maxHead, true
	}
	i := p.pos
	for i < end {
		switch p.state {
		case stStart:
			// RFC 9112, Section 2.2: a server SHOULD ignore at least one empty
			// line before the request-line. They count towards MaxHeaderBytes.
			c := b[i]
			if c == '\r' {
				p.state = stStartLF
				i++
				continue
			}
			if !tokenTable[c] {
				return ErrMalformed
			}
			p.reqStart = i
			p.state = stMethod
		case stStartLF:
			if b[i] != '\n' {
				return ErrMalformed
			}
			i++
			p.state = stStart
		case stMethod:
			for i < end && tokenTable[b[i]] {
				i++
			}
			if i == end {
				break
			}
			if b[i] != ' ' {
				return ErrMalformed
			}
			p.methodEnd = i
			i++
			p.mark = i
			p.state = stTarget
		case stTarget:
			// The URI may take p.maxURI bytes; one more valid byte is 414.
			lim := min(end, p.mark+p.maxURI+1)
			i = scanTarget(b, i, lim)
			if i-p.mark > p.maxURI {
				return ErrURITooLong
			}
			if i == end {
				break
			}
			if b[i] != ' ' || i == p.mark {
				return ErrMalformed
			}
			p.targetEnd = i
			i++
			p.mark = i
			p.state = stVersion
		case stVersion:
			// "HTTP/" DIGIT "." DIGIT; reject early on anything else.
			for i < end {
				c := b[i]
				if c == '\r' {
					break
				}
				k := i - p.mark
				if k >= 8 || k < 5 && c != "HTTP/"[k] || k == 5 && !isDigit(c) ||
					k == 6 && c != '.' || k == 7 && !isDigit(c) {
					return ErrMalformed
				}
				i++
			}
			if i == end {
				break
			}
			if i-p.mark != 8 {
				return ErrMalformed
			}
			if b[i-3] != '1' || b[i-1] != '0' && b[i-1] != '1' {
				return ErrVersionNotSupported
			}
			i++
			p.state = stRequestLF
		case stRequestLF:
			if b[i] != '\n' {
				return ErrMalformed
			}
			i++
			p.fieldStart = i
			p.nfields = 0
			p.state = stFieldStart
		default:
			var done bool
			var err error
			i, done, err = p.scanFields(b, i, end)
			if err != nil {
				return err
			}
			if done {
				p.headEnd = i
				p.pos = i
				return nil
			}
		}
	}
	p.pos = i
	if limited {
		return ErrHeaderTooLarge
	}
	return ErrNeedMore
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scanFields scans a field section (header or trailer fields, RFC 9112,
// Section 5) from i up to end, in states stFieldStart..stFieldsEndLF.
// It returns the next offset and whether the section's final CRLF was seen.
func (p *Parser) scanFields(b []byte, i, end int) (int, bool, error) {
	for i < end {
		switch p.state {
		case stFieldStart:
			c := b[i]
			switch {
			case c == '\r':
				p.state = stFieldsEndLF
			case tokenTable[c]:
				p.nfields++
				if p.nfields > p.maxHeaders {
					return i, false, ErrHeaderTooLarge
				}
				p.state = stFieldName
			case isSpace(c):
				// obs-fold, or whitespace before the first field line:
				// both are rejected by RFC 9112, Sections 2.2 and 5.2.
				return i, false, ErrSmuggling
			default:
				return i, false, ErrMalformed
			}
			i++
		case stFieldName:
			for i < end && tokenTable[b[i]] {
				i++
			}
			if i == end {
				break
			}
			switch c := b[i]; {
			case c == ':':
				p.state = stFieldValue
			case isSpace(c):
				return i, false, ErrSmuggling // RFC 9112, Section 5.1
			default:
				return i, false, ErrMalformed
			}
			i++
		case stFieldValue:
			i = scanValue(b, i, end)
			if i == end {
				break
			}
			if b[i] != '\r' {
				return i, false, ErrMalformed
			}
			i++
			p.state = stFieldLF
		case stFieldLF:
			if b[i] != '\n' {
				return i, false, ErrMalformed
			}
			i++
			p.state = stFieldStart
		case stFieldsEndLF:
			if b[i] != '\n' {
				return i, false, ErrMalformed
			}
			p.state = stDone
			return i + 1, true, nil
		default:
			panic("httpcodec: BUG: scanFields in state " + string(rune('0'+p.state)))
		}
	}
	return i, false, nil
}

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

// finish checks the framing of a head whose fields h has seen, fills the
// remaining fields of req (all but the request line, Headers and Body) and
// returns the framing for p.
func (h *headInfo) finish(req *Request, minor int, maxBody int64) (cl int64, chunked, expect bool, err error) {
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
	// RFC 9110, Section 10.1.1: ignore 100-continue in HTTP/1.0 requests,
	// and only wait when there is a body to wait for.
	expect = h.expect && minor == 1 && (chunked || cl > 0)
	return cl, chunked, expect, nil
}

// processHead fills req from the complete, syntactically valid head in b and
// derives the framing. It is deterministic, so it can run again on a later,
// longer copy of the input to rebuild the views.
func (p *Parser) processHead(b []byte, req *Request) error {
	req.Method = b[p.reqStart:p.methodEnd]
	authority, terr := splitTarget(req, b[p.methodEnd+1:p.targetEnd])
	minor := int(b[p.targetEnd+8] - '0')
	req.ProtoMinor = minor
	req.Body = nil

	slots := p.headerSlots()
	nh := 0
	h := headInfo{cl: -1}
	head := b[:p.headEnd-2] // without the final CRLF
	for i := p.fieldStart; i < len(head); {
		colon := i
		for head[colon] != ':' { // names are short: a plain loop beats IndexByte
			colon++
		}
		eol := colon + 1 + bytes.IndexByte(head[colon+1:], '\r')
		name, value := head[i:colon], trimOWS(head[colon+1:eol])
		i = eol + 2
		slots[nh] = Header{Name: name, Value: value}
		nh++
		if interesting(len(name)) {
			if err := h.field(name, value); err != nil {
				return err
			}
		}
	}
	req.Headers = slots[:nh:nh]

	cl, chunked, expect, err := h.finish(req, minor, p.maxBody)
	if err != nil {
		return err
	}
	if terr != nil {
		return terr
	}
	if authority != nil {
		req.Host = authority
	}
	p.contentLength = cl
	p.chunked = chunked
	p.expect = expect
	return nil
}

// splitTarget sets req.URI, Path and Query from the request-target and
// returns the authority of an absolute-form target with an http or https
// scheme, which is then the request's Host (RFC 9112, Section 3.2.2), or nil
// for any other target. Such an authority must be a valid Host value with a
// non-empty host: RFC 9110, Section 4.2.1 has recipients reject an http URI
// with an empty host, and Section 4.2.4 treat userinfo ("user@") as an
// error; either is ErrMalformed.
//
// For such a target Path is the path after the authority or, if that is
// empty, "/": a view of the second slash of "://", so that Path too stays a
// view into the input.
func splitTarget(req *Request, target []byte) (authority []byte, err error) {
	req.URI = target
	rest := target
	if target[0] != '/' {
		if k := httpSchemeLen(target); k > 0 {
			e := k
			for e < len(target) && target[e] != '/' && target[e] != '?' {
				e++
			}
			authority = target[k:e]
			if len(authority) == 0 || authority[0] == ':' || !validHost(authority) {
				return nil, ErrMalformed
			}
			rest = target[e:]
			if len(rest) == 0 || rest[0] == '?' {
				req.Path, req.Query = target[k-1:k:k], nil
				if len(rest) > 0 {
					req.Query = rest[1:]
				}
				return authority, nil
			}
		}
	}
	req.Path, req.Query = rest, nil
	for i, c := range rest {
		if c == '?' {
			req.Path, req.Query = rest[:i], rest[i+1:]
			break
		}
	}
	return authority, nil
}

// httpSchemeLen returns the length of an "http://" or "https://" prefix of
// target, in any case (schemes are case-insensitive, RFC 3986, Section 3.1),
// or 0 if there is none.
func httpSchemeLen(target []byte) int {
	switch {
	case len(target) >= len("http://") && equalFold(target[:len("http://")], "http://"):
		return len("http://")
	case len(target) >= len("https://") && equalFold(target[:len("https://")], "https://"):
		return len("https://")
	}
	return 0
}

// Little-endian words for the fast path's fixed strings.
const (
	wordGET    = uint32('G') | uint32('E')<<8 | uint32('T')<<16 | uint32(' ')<<24
	wordHTTP10 = uint64('H') | uint64('T')<<8 | uint64('T')<<16 | uint64('P')<<24 |
		uint64('/')<<32 | uint64('1')<<40 | uint64('.')<<48 | uint64('0')<<56
	wordHTTP11 = wordHTTP10 + 1<<56
	wordCRLF   = uint16('\r') | uint16('\n')<<8
)

// fastHead parses, in one pass, a complete head that starts at b[0] with
// the request line (no leading empty lines), is well-formed and within every
// limit. It returns ok=false, having changed nothing in p, for anything
// else (incomplete input, any error): the incremental scanner then decides
// from scratch, so errors and their precedence are exactly those of the
// general path. It accepts only what scanHead plus processHead accept, and
// fills req the same way.
//
// With ok, n > 0 is the size of a complete request without a body, for
// which p is left untouched. n == 0 means a body follows the head: the
// head's offsets and framing are then stored in p as processHead would.
func (p *Parser) fastHead(b []byte, req *Request) (n int, ok bool) {
	end := min(len(b), p.maxHead)

	// Request line. The method is a token followed by SP.
	i := 0
	if end >= 4 && binary.LittleEndian.Uint32(b) == wordGET {
		i = 3
	} else {
		for i < end && tokenTable[b[i]] {
			i++
		}
		if i == 0 || i >= end || b[i] != ' ' {
			return 0, false
		}
	}
	methodEnd := i
	i++
	ts := i
	lim := min(end, ts+p.maxURI+1)
	i = scanTarget(b, i, lim)
	if i >= lim || i == ts || b[i] != ' ' {
		return 0, false
	}
	targetEnd := i
	// " HTTP/1.x\r\n": only 1.0 and 1.1 are accepted, as in scanHead.
	if i+11 > end {
		return 0, false
	}
	minor := 1
	switch binary.LittleEndian.Uint64(b[i+1:]) {
	case wordHTTP11:
	case wordHTTP10:
		minor = 0
	default:
		return 0, false
	}
	if binary.LittleEndian.Uint16(b[i+9:]) != wordCRLF {
		return 0, false
	}
	i += 11
	fieldStart := i

	// Field lines up to the empty line.
	slots := p.headerSlots()
	nh := 0
	h := headInfo{cl: -1}
	for {
		if i >= end {
			return 0, false
		}
		if b[i] == '\r' {
			if i+1 >= end || b[i+1] != '\n' {
				return 0, false
			}
			i += 2
			break
		}
		ns := i
		for i < end && tokenTable[b[i]] {
			i++
		}
		if i == ns || i >= end || b[i] != ':' || nh >= p.maxHeaders {
			return 0, false
		}
		name := b[ns:i]
		i++
		vs := i
		i = scanValue(b, i, end)
		if i+1 >= end || b[i] != '\r' || b[i+1] != '\n' {
			return 0, false
		}
		value := trimOWS(b[vs:i])
		i += 2
		slots[nh] = Header{Name: name, Value: value}
		nh++
		if interesting(len(name)) {
			if h.field(name, value) != nil {
				return 0, false
			}
		}
	}
	headEnd := i

	cl, chunked, expect, err := h.finish(req, minor, p.maxBody)
	if err != nil {
		return 0, false
	}
	authority, err := splitTarget(req, b[methodEnd+1:targetEnd])
	if err != nil {
		return 0, false
	}
	if authority != nil {
		req.Host = authority
	}
	req.Method = b[:methodEnd]
	req.ProtoMinor = minor
	req.Headers = slots[:nh:nh]
	req.Body = nil
	if !chunked && cl <= 0 {
		return headEnd, true
	}
	p.reqStart, p.methodEnd, p.targetEnd = 0, methodEnd, targetEnd
	p.fieldStart, p.headEnd = fieldStart, headEnd
	p.contentLength, p.chunked, p.expect = cl, chunked, expect
	p.state = stDone
	return 0, true
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
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		switch elem := trimOWS(v[:i]); len(elem) {
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
		v = v[min(i+1, len(v)):]
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
// trailer section when the body is complete, ErrNeedMore, or a protocol
// error.
func (p *Parser) scanChunked(b []byte) error {
	i := p.pos
	defer func() { p.pos = i }()
	for i < len(b) {
		switch p.state {
		case stChunkSize:
			c := b[i]
			if d := unhexTable[c]; d != 0xff {
				p.chunkDigits++
				if p.chunkDigits > maxChunkSizeDigits {
					return ErrBadChunk
				}
				p.chunkLeft = p.chunkLeft<<4 | uint64(d)
				if p.chunkLeft > uint64(p.maxBody-int64(p.w-p.headEnd)) {
					return ErrBodyTooLarge
				}
				i++
				continue
			}
			if p.chunkDigits == 0 {
				return ErrBadChunk
			}
			switch c {
			case ';':
				p.state = stChunkExt
			case '\r':
				p.state = stChunkSizeLF
			default:
				return ErrBadChunk // includes BWS and bare LF
			}
			i++
		case stChunkExt:
			// Extensions are ignored, but bounded per body so a peer cannot
			// make us buffer unbounded framing.
			j := scanValue(b, i, len(b))
			p.extBytes += j - i
			if p.extBytes > p.maxHead {
				return ErrBadChunk
			}
			i = j
			if i == len(b) {
				break
			}
			if b[i] != '\r' {
				return ErrBadChunk
			}
			i++
			p.state = stChunkSizeLF
		case stChunkSizeLF:
			if b[i] != '\n' {
				return ErrBadChunk
			}
			i++
			if p.chunkLeft == 0 {
				p.state = stFieldStart
				p.mark = i // trailer start; fieldStart still locates the head's fields
				p.nfields = 0
			} else {
				p.state = stChunkData
			}
		case stChunkData:
			k := int(min(p.chunkLeft, uint64(len(b)-i)))
			if p.w != i { // equal after Compact: the data is in place already
				copy(b[p.w:p.w+k], b[i:i+k])
			}
			p.w += k
			i += k
			p.chunkLeft -= uint64(k)
			if p.chunkLeft == 0 {
				p.state = stChunkDataCR
			}
		case stChunkDataCR:
			if b[i] != '\r' {
				return ErrBadChunk
			}
			i++
			p.state = stChunkDataLF
		case stChunkDataLF:
			if b[i] != '\n' {
				return ErrBadChunk
			}
			i++
			p.state = stChunkSize
			p.chunkDigits = 0
		default:
			// Trailer section, bounded like a head. Compact may have moved
			// mark below the head's end (even below 0): it stays where the
			// trailers would start had nothing been dropped.
			end := len(b)
			limited := false
			if lim := p.mark + p.maxHead; end > lim {
				end, limited = lim, true
			}
			var done bool
			var err error
			i, done, err = p.scanFields(b, i, end)
			if err != nil {
				return err
			}
			if done {
				return nil
			}
			if limited {
				return ErrHeaderTooLarge
			}
		}
	}
	return ErrNeedMore
}

// Compact drops the chunk framing that Parse has already decoded from b and
// returns the new length n: the caller truncates its buffer to b[:n] and
// passes b[:n], followed by new input, to the next Parse. Call it only after
// Parse returned ErrNeedMore or ErrExpectContinue for this b, and before
// changing b. It moves the bytes Parse has not scanned yet down to the end of
// the decoded body and shifts p's offsets to match; as Parse scans all the
// input before asking for more, that moves nothing, so Compact is O(1).
//
// Where there is nothing to drop (the head is incomplete, a Content-Length
// body, after an error or a complete request) it returns len(b) and leaves b
// unchanged.
//
// With Compact after every ErrNeedMore, a chunked request costs the caller
// its head plus its decoded body, at most Limits.MaxHeaderBytes plus
// Limits.MaxBodyBytes, plus what arrives between two calls. Without it the
// caller keeps the body's wire form, which 1-byte chunks with 16-digit sizes
// make 21 times the body.
//
// Like Parse, call it on the loop that owns p.
func (p *Parser) Compact(b []byte) int {
	if p.err != nil || !p.headDone || !p.chunked || p.pos == p.w {
		return len(b)
	}
	if len(b) < p.pos {
		panic("httpcodec: BUG: Compact with fewer bytes than Parse scanned")
	}
	drop := p.pos - p.w
	n := p.w + copy(b[p.w:], b[p.pos:])
	p.pos = p.w
	if p.state >= stFieldStart && p.state <= stFieldsEndLF {
		p.mark -= drop // in the trailer section: keep counting its bytes
	}
	return n
}
