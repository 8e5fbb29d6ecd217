package wsframe

import (
	"encoding/binary"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// Opcode is a frame opcode. See RFC 6455, Section 5.2.
type Opcode byte

// Opcodes defined by RFC 6455, Section 11.8. 0x3–0x7 and 0xB–0xF are reserved.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// String returns the opcode's name.
func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "reserved"
}

// IsControl reports whether op is a control opcode (close, ping, pong or a
// reserved 0xB–0xF). See RFC 6455, Section 5.5.
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

// Frame header bits. See RFC 6455, Section 5.2.
const (
	bitFIN  = 0x80
	bitRSV1 = 0x40
	bitRSV2 = 0x20
	bitRSV3 = 0x10
	bitMask = 0x80

	// MaxHeaderSize is the largest frame header: 2 bytes, an 8-byte
	// extended length and a 4-byte masking key.
	MaxHeaderSize = 14

	// MaxControlPayload is the largest payload of a control frame
	// (RFC 6455, Section 5.5).
	MaxControlPayload = 125
)

// AppendFrameHeader appends the header of an unmasked (server-to-client)
// frame carrying length payload bytes. rsv1 marks the first frame of a
// compressed message (RFC 7692, Section 6). It panics if length is negative.
//
// The caller is responsible for the rules of RFC 6455, Section 5.5: control
// frames have fin set and at most [MaxControlPayload] bytes.
func AppendFrameHeader(dst []byte, op Opcode, fin, rsv1 bool, length int) []byte {
	if length < 0 {
		panic("BUG: wsframe: negative frame length")
	}
	var hdr [10]byte
	hdr[0] = byte(op) & 0x0f
	if fin {
		hdr[0] |= bitFIN
	}
	if rsv1 {
		hdr[0] |= bitRSV1
	}
	switch {
	case length <= 125:
		hdr[1] = byte(length)
		return append(dst, hdr[:2]...)
	case length <= 0xffff:
		hdr[1] = 126
		binary.BigEndian.PutUint16(hdr[2:], uint16(length))
		return append(dst, hdr[:4]...)
	default:
		hdr[1] = 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(length))
		return append(dst, hdr[:10]...)
	}
}

// frameHeaderLen is the size of an unmasked header for length payload bytes.
func frameHeaderLen(length int) int {
	switch {
	case length <= 125:
		return 2
	case length <= 0xffff:
		return 4
	}
	return 10
}

// AppendFrame appends a whole unmasked (server-to-client) frame: header and
// payload. See [AppendFrameHeader] for the meaning of the flags.
func AppendFrame(dst []byte, op Opcode, fin, rsv1 bool, payload []byte) []byte {
	dst = AppendFrameHeader(dst, op, fin, rsv1, len(payload))
	return append(dst, payload...)
}

// AppendMaskedFrame appends a client-to-server frame masked with key
// (RFC 6455, Section 5.3). A client must draw a fresh, unpredictable key for
// every frame; the server never calls this, but tests and clients do.
func AppendMaskedFrame(dst []byte, op Opcode, fin, rsv1 bool, key [4]byte, payload []byte) []byte {
	dst = AppendFrameHeader(dst, op, fin, rsv1, len(payload))
	dst[len(dst)-frameHeaderLen(len(payload))+1] |= bitMask
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	MaskBytes(key, 0, dst[start:])
	return dst
}

// AppendClose appends an unmasked close frame. The body is code followed by
// reason, cut on a UTF-8 boundary so that the payload fits in 125 bytes;
// invalid UTF-8 in reason is replaced by U+FFFD, since the peer would fail
// the connection over it. A code that must not be sent ([ValidCloseCode]
// is false, e.g. [CloseNoStatus]) yields a close frame with an empty body.
// See RFC 6455, Section 5.5.1.
func AppendClose(dst []byte, code StatusCode, reason string) []byte {
	if !ValidCloseCode(code) {
		return AppendFrameHeader(dst, OpClose, true, false, 0)
	}
	if !utf8.ValidString(reason) {
		reason = strings.ToValidUTF8(reason, "\uFFFD")
	}
	if len(reason) > MaxControlPayload-2 {
		cut := MaxControlPayload - 2
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	dst = AppendFrameHeader(dst, OpClose, true, false, 2+len(reason))
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}

// MaskBytes XORs b in place with key, starting at offset pos of the
// 4-byte key cycle, and returns the position to pass for the bytes that
// follow b. Masking and unmasking are the same operation.
// See RFC 6455, Section 5.3.
func MaskBytes(key [4]byte, pos int, b []byte) int {
	pos &= 3
	if len(b) >= 16 {
		// Rotate the key so that b[0] lines up with key[pos], then work
		// 32 and 8 bytes at a time. Unaligned 8-byte loads are cheap on
		// every platform we target, so no unsafe alignment dance.
		k := binary.LittleEndian.Uint32(key[:])
		k = bits.RotateLeft32(k, -8*pos)
		k8 := uint64(k) | uint64(k)<<32
		for len(b) >= 32 {
			v0 := binary.LittleEndian.Uint64(b[0:]) ^ k8
			v1 := binary.LittleEndian.Uint64(b[8:]) ^ k8
			v2 := binary.LittleEndian.Uint64(b[16:]) ^ k8
			v3 := binary.LittleEndian.Uint64(b[24:]) ^ k8
			binary.LittleEndian.PutUint64(b[0:], v0)
			binary.LittleEndian.PutUint64(b[8:], v1)
			binary.LittleEndian.PutUint64(b[16:], v2)
			binary.LittleEndian.PutUint64(b[24:], v3)
			b = b[32:]
		}
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k8)
			b = b[8:]
		}
		// Whole words leave pos unchanged.
	}
	for i := range b {
		b[i] ^= key[pos&3]
		pos++
	}
	return pos & 3
}
