package httpcodec

import "bytes"

// scanHead scans the head from p.pos. It returns nil once the head is
// complete (p.headEnd set), ErrNeedMore, or a protocol error.
func (p *Parser) scanHead(b []byte) error {
	end, limited := clampEnd(len(b), p.maxHead)
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

// processHead fills req from the complete, syntactically valid head in b and
// derives the framing. It is deterministic, so it can run again on a later,
// longer copy of the input to rebuild the views.
func (p *Parser) processHead(b []byte, req *Request) error {
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
	req.Method, req.URI = b[p.reqStart:p.methodEnd], b[p.methodEnd+1:p.targetEnd]
	req.ProtoMinor, req.Headers = int(b[p.targetEnd+8]-'0'), slots[:nh:nh]
	cl, chunked, expect, err := h.finish(req, p.maxBody)
	if err != nil {
		return err
	}
	p.contentLength, p.chunked, p.expect = cl, chunked, expect
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
