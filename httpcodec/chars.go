package httpcodec

import "encoding/binary"

// Byte classes, built once so the scanners do one table load per byte.
var (
	// tokenTable marks tchar (RFC 9110, Section 5.6.2).
	tokenTable [256]bool
	// targetTable marks bytes allowed in a request-target: anything but
	// controls, SP and DEL. Finer URI syntax is left to the application.
	targetTable [256]bool
	// valueTable marks field-value bytes: VCHAR, SP, HTAB and obs-text
	// (RFC 9110, Section 5.5). CR, LF, NUL and other controls are excluded.
	valueTable [256]bool
	// hostTable marks bytes allowed in a Host value: reg-name, IP literal
	// and port characters, the same set as net/http (httpguts.ValidHostHeader).
	hostTable [256]bool
	// lowerTable maps ASCII upper-case letters to lower case.
	lowerTable [256]byte
	// unhexTable maps hex digits to their value and everything else to 0xff.
	unhexTable [256]byte
)

func init() {
	for c := 0; c < 256; c++ {
		lowerTable[c] = byte(c)
		if 'A' <= c && c <= 'Z' {
			lowerTable[c] = byte(c) + 'a' - 'A'
		}
		alnum := '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		tokenTable[c] = alnum
		hostTable[c] = alnum
		targetTable[c] = c > ' ' && c != 0x7f
		valueTable[c] = c >= ' ' && c != 0x7f || c == '\t'
		switch {
		case '0' <= c && c <= '9':
			unhexTable[c] = byte(c - '0')
		case 'a' <= c && c <= 'f':
			unhexTable[c] = byte(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			unhexTable[c] = byte(c - 'A' + 10)
		default:
			unhexTable[c] = 0xff
		}
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		tokenTable[c] = true
	}
	for _, c := range []byte("!$%&'()*+,-.:;=[]_~") {
		hostTable[c] = true
	}
}

// isSpace reports whether c is optional whitespace (OWS: SP or HTAB).
func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// trimOWS trims SP and HTAB from both ends of b.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold reports whether b equals s under ASCII case folding.
// s may be in any case; no allocation.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lowerTable[b[i]] != lowerTable[s[i]] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v contains token
// (case-insensitive, OWS around elements ignored). See RFC 9110, Section 5.6.1.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var elem []byte
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		elem, v = v[:i], v[min(i+1, len(v)):]
		if equalFold(trimOWS(elem), token) {
			return true
		}
	}
	return false
}

// SWAR constants: eight copies of a byte in a uint64.
const (
	ones = 0x0101010101010101
	high = 0x8080808080808080
)

// scanValue returns the index of the first byte in b[i:end] that valueTable
// rejects, or end. It checks eight bytes at a time: a word without controls
// or DEL (obs-text passes, as its high bit masks the borrow test) is skipped
// whole; a word holding HTAB or the terminator falls back to the table.
func scanValue(b []byte, i, end int) int {
	for {
		for i+8 <= end {
			w := binary.LittleEndian.Uint64(b[i:])
			if (w-' '*ones)&^w&high != 0 { // some byte < 0x20
				break
			}
			if x := w ^ 0x7f*ones; (x-ones)&^x&high != 0 { // some byte == DEL
				break
			}
			i += 8
		}
		for stop := min(i+8, end); i < stop; i++ {
			if !valueTable[b[i]] {
				return i
			}
		}
		if i == end {
			return end
		}
	}
}

// scanTarget is scanValue for targetTable: it also stops at SP and HTAB.
func scanTarget(b []byte, i, end int) int {
	for {
		for i+8 <= end {
			w := binary.LittleEndian.Uint64(b[i:])
			if (w-0x21*ones)&^w&high != 0 { // some byte <= SP
				break
			}
			if x := w ^ 0x7f*ones; (x-ones)&^x&high != 0 {
				break
			}
			i += 8
		}
		for stop := min(i+8, end); i < stop; i++ {
			if !targetTable[b[i]] {
				return i
			}
		}
		if i == end {
			return end
		}
	}
}
