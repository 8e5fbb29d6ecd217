package httpcodec

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
	p.maxURI = orDefault(l.MaxURIBytes, DefaultMaxURIBytes)
	p.maxHead = orDefault(l.MaxHeaderBytes, DefaultMaxHeaderBytes)
	p.maxBody = orDefault(l.MaxBodyBytes, DefaultMaxBodyBytes)
	p.maxHeaders = orDefault(l.MaxHeaders, DefaultMaxHeaders)
	p.extra = nil
	if p.maxHeaders > len(p.hdrArr) {
		p.extra = make([]Header, p.maxHeaders)
	}
	p.inited = true
	p.Reset()
}

// orDefault returns v, or def when v is zero or negative (see Limits).
func orDefault[T int | int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// clampEnd returns where a scan of n bytes must stop so that it reads no
// more than lim bytes, and whether lim cut it short.
func clampEnd(n, lim int) (end int, limited bool) {
	if n > lim {
		return lim, true
	}
	return n, false
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
