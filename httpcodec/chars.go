package httpcodec

import (
	"encoding/binary"
	"math/bits"
)

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
	// hostBits is hostTable as 1/0 bytes, for validHost.
	hostBits [256]uint8
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
	for c, ok := range hostTable {
		if ok {
			hostBits[c] = 1
		}
	}
}

// isSpace reports whether c is optional whitespace (OWS: SP or HTAB).
func isSpace(c byte) bool { return c == ' ' || c == '\t' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

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
		elem, v = nextElem(v)
		if equalFold(elem, token) {
			return true
		}
	}
	return false
}

// nextElem splits the first element, trimmed of OWS, off the
// comma-separated list v (RFC 9110, Section 5.6.1).
func nextElem(v []byte) (elem, rest []byte) {
	i := 0
	for i < len(v) && v[i] != ',' {
		i++
	}
	return trimOWS(v[:i]), v[min(i+1, len(v)):]
}

// SWAR constants: eight copies of a byte in a uint64.
const (
	ones = 0x0101010101010101
	high = 0x8080808080808080
)

// scanValue returns the index of the first byte in b[i:end] that valueTable
// rejects, or end. It checks eight bytes at a time: in a word, the lowest
// byte flagged as a control (< 0x20) or DEL is exactly the first such byte
// (the borrow tricks only raise false flags above a true one), so the stop
// is found without a byte loop; HTAB, the one control valueTable accepts,
// resumes the scan after it. obs-text passes, its high bit masking the test.
func scanValue(b []byte, i, end int) int {
	for i+8 <= end {
		w := binary.LittleEndian.Uint64(b[i:])
		x := w ^ 0x7f*ones
		if m := ((w-' '*ones)&^w | (x-ones)&^x) & high; m != 0 {
			j := i + bits.TrailingZeros64(m)>>3
			if b[j] != '\t' {
				return j
			}
			i = j + 1
			continue
		}
		i += 8
	}
	for i < end && valueTable[b[i]] {
		i++
	}
	return i
}

// scanTarget is scanValue for targetTable: it also stops at SP and HTAB.
func scanTarget(b []byte, i, end int) int {
	for i+8 <= end {
		w := binary.LittleEndian.Uint64(b[i:])
		x := w ^ 0x7f*ones
		if m := ((w-0x21*ones)&^w | (x-ones)&^x) & high; m != 0 { // some byte <= SP or DEL
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < end && targetTable[b[i]] {
		i++
	}
	return i
}

// validHost reports whether every byte of v is in hostTable, eight bytes
// per branch.
func validHost(v []byte) bool {
	if len(v) >= 8 {
		t := &hostBits
		for {
			if t[v[0]]&t[v[1]]&t[v[2]]&t[v[3]]&t[v[4]]&t[v[5]]&t[v[6]]&t[v[7]] == 0 {
				return false
			}
			if len(v) <= 16 {
				if len(v) > 8 {
					// The last eight bytes, overlapping the ones just checked.
					v = v[len(v)-8:]
					return t[v[0]]&t[v[1]]&t[v[2]]&t[v[3]]&t[v[4]]&t[v[5]]&t[v[6]]&t[v[7]] != 0
				}
				return true
			}
			v = v[8:]
		}
	}
	for _, c := range v {
		if !hostTable[c] {
			return false
		}
	}
	return true
}

// tokenFoldEq reports whether name, a token, equals lower, a lower-case
// constant of letters and '-', ignoring ASCII case. For token bytes,
// c|0x20 == l is exact: only CR would also match '-', and CR is no tchar.
func tokenFoldEq(name []byte, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	i := 0
	for ; i+8 <= len(name); i += 8 {
		l := uint64(lower[i]) | uint64(lower[i+1])<<8 | uint64(lower[i+2])<<16 | uint64(lower[i+3])<<24 |
			uint64(lower[i+4])<<32 | uint64(lower[i+5])<<40 | uint64(lower[i+6])<<48 | uint64(lower[i+7])<<56
		if binary.LittleEndian.Uint64(name[i:])|0x20*ones != l {
			return false
		}
	}
	if i+4 <= len(name) {
		l := uint32(lower[i]) | uint32(lower[i+1])<<8 | uint32(lower[i+2])<<16 | uint32(lower[i+3])<<24
		if binary.LittleEndian.Uint32(name[i:])|0x20202020 != l {
			return false
		}
		i += 4
	}
	for ; i < len(name); i++ {
		if name[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}
