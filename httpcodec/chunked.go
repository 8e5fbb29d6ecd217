package httpcodec

// maxChunkSizeDigits bounds a chunk-size line, as net/http does: 16 hex
// digits already cover every uint64.
const maxChunkSizeDigits = 16

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
			end, limited := clampEnd(len(b), p.mark+p.maxHead)
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
