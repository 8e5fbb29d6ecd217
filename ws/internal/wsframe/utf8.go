package wsframe

import "unicode/utf8"

// UTF8Validator checks that a byte stream written in pieces is valid UTF-8,
// as text messages must be (RFC 6455, Section 8.1), without buffering: it
// remembers only how far into a multi-byte rune the last piece ended. This
// lets the decoder fail a text message at its first bad fragment rather
// than after reassembly. The zero value is ready; the state is 3 bytes.
//
// Whole runes go through [utf8.Valid] (which skips ASCII 8 bytes at a
// time); only a rune split across pieces is walked byte by byte.
type UTF8Validator struct {
	need   uint8 // continuation bytes still expected for the current rune
	lo, hi uint8 // accepted range for the next continuation byte
}

// badState marks a validator that has seen invalid input; it stays invalid.
const badState = 0xff

// Reset prepares v for a new stream.
func (v *UTF8Validator) Reset() { *v = UTF8Validator{} }

// Done reports whether everything written so far is valid UTF-8 that does
// not end in the middle of a rune.
func (v *UTF8Validator) Done() bool { return v.need == 0 }

// Write feeds the next piece of the stream and reports whether the stream
// is still valid UTF-8 (possibly ending mid-rune). Once it has returned
// false it keeps returning false until Reset.
func (v *UTF8Validator) Write(p []byte) bool {
	if v.need == badState {
		return false
	}
	// Finish the rune the previous piece left open.
	for v.need > 0 {
		if len(p) == 0 {
			return true
		}
		if c := p[0]; c < v.lo || c > v.hi {
			v.need = badState
			return false
		}
		v.need--
		v.lo, v.hi = 0x80, 0xbf
		p = p[1:]
	}
	// Cut before a trailing rune that is a valid but incomplete prefix,
	// validate the whole runes in bulk, then walk that tail.
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		if c := p[i]; c&0xc0 != 0x80 {
			if c >= 0xc0 && !utf8.FullRune(p[i:]) {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(p[:cut]) {
		v.need = badState
		return false
	}
	if cut == len(p) {
		return true
	}
	return v.startRune(p[cut:])
}

// startRune walks tail, an incomplete rune, per the table in RFC 3629,
// Section 4 (no overlongs, no surrogates, nothing above U+10FFFF).
func (v *UTF8Validator) startRune(tail []byte) bool {
	v.lo, v.hi = 0x80, 0xbf
	switch c := tail[0]; {
	case c >= 0xc2 && c <= 0xdf:
		v.need = 1
	case c == 0xe0:
		v.need, v.lo = 2, 0xa0
	case c >= 0xe1 && c <= 0xec, c == 0xee, c == 0xef:
		v.need = 2
	case c == 0xed:
		v.need, v.hi = 2, 0x9f
	case c == 0xf0:
		v.need, v.lo = 3, 0x90
	case c >= 0xf1 && c <= 0xf3:
		v.need = 3
	case c == 0xf4:
		v.need, v.hi = 3, 0x8f
	default:
		v.need = badState
		return false
	}
	for _, c := range tail[1:] {
		if c < v.lo || c > v.hi || v.need == 0 {
			v.need = badState
			return false
		}
		v.need--
		v.lo, v.hi = 0x80, 0xbf
	}
	return true
}
