package httpcodec

import "encoding/binary"

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

	req.Method, req.URI = b[:methodEnd], b[methodEnd+1:targetEnd]
	req.ProtoMinor, req.Headers = minor, slots[:nh:nh]
	cl, chunked, expect, err := h.finish(req, p.maxBody)
	if err != nil {
		return 0, false
	}
	if !chunked && cl <= 0 {
		return headEnd, true
	}
	p.reqStart, p.methodEnd, p.targetEnd = 0, methodEnd, targetEnd
	p.fieldStart, p.headEnd = fieldStart, headEnd
	p.contentLength, p.chunked, p.expect = cl, chunked, expect
	p.state = stDone
	return 0, true
}
