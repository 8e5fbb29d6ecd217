package wsframe

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendFrameHeader(t *testing.T) {
	tests := []struct {
		op     Opcode
		fin    bool
		rsv1   bool
		length int
		want   []byte
	}{
		{OpText, true, false, 0, []byte{0x81, 0}},
		{OpBinary, false, false, 125, []byte{0x02, 125}},
		{OpContinuation, true, false, 126, []byte{0x80, 126, 0, 126}},
		{OpText, true, true, 0xffff, []byte{0xc1, 126, 0xff, 0xff}},
		{OpBinary, true, false, 0x10000, []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
		{OpPing, true, false, 5, []byte{0x89, 5}},
	}
	for _, tt := range tests {
		got := AppendFrameHeader([]byte("x"), tt.op, tt.fin, tt.rsv1, tt.length)
		if !bytes.Equal(got[1:], tt.want) || got[0] != 'x' {
			t.Errorf("AppendFrameHeader(%v, %v, %v, %d) = %x; want %x", tt.op, tt.fin, tt.rsv1, tt.length, got[1:], tt.want)
		}
		if n := frameHeaderLen(tt.length); n != len(tt.want) {
			t.Errorf("frameHeaderLen(%d) = %d; want %d", tt.length, n, len(tt.want))
		}
	}
}

// TestFrameRoundTrip encodes at the size boundaries of the length encoding
// and decodes, whole and in random pieces.
func TestFrameRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{0, 1, 124, 125, 126, 127, 65535, 65536, 65537} {
		for _, op := range []Opcode{OpText, OpBinary} {
			t.Run(fmt.Sprintf("%v/%d", op, size), func(t *testing.T) {
				payload := bytes.Repeat([]byte("a"), size)
				if op == OpBinary {
					for i := range payload {
						payload[i] = byte(rng.Uint32())
					}
				}
				// The server encoder writes unmasked frames; clients mask
				// them. Check the unmasked encoding, then decode the
				// masked one.
				srv := AppendFrame(nil, op, true, false, payload)
				if !bytes.Equal(srv[len(srv)-size:], payload) || len(srv) != frameHeaderLen(size)+size {
					t.Fatalf("AppendFrame: bad layout")
				}
				key := [4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}
				in := AppendMaskedFrame(nil, op, true, false, key, payload)
				if !bytes.Equal(in[2:len(srv)-size], srv[2:len(srv)-size]) || in[1] != srv[1]|0x80 {
					t.Fatalf("AppendMaskedFrame header %x; unmasked %x", in[:len(srv)-size+4], srv[:len(srv)-size])
				}
				for _, mode := range []string{"whole", "random"} {
					got := runDecoder(t, DecoderConfig{}, in, mode, rng)
					if len(got.events) != 1 || got.code != 0 || got.events[0].Payload != string(payload) || got.events[0].Op != op {
						t.Fatalf("%s: decode(encode(%d bytes)) = %.200v", mode, size, got)
					}
				}
			})
		}
	}
}

func TestMaskBytes(t *testing.T) {
	key := [4]byte{1, 2, 3, 0x80}
	rng := rand.New(rand.NewPCG(5, 6))
	for n := range 200 {
		for pos := range 4 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			want := bytes.Clone(b)
			for i := range want {
				want[i] ^= key[(pos+i)&3]
			}
			got := bytes.Clone(b)
			if p := MaskBytes(key, pos, got); p != (pos+n)&3 {
				t.Errorf("MaskBytes(len %d, pos %d) pos = %d; want %d", n, pos, p, (pos+n)&3)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("MaskBytes(len %d, pos %d) = %x; want %x", n, pos, got, want)
			}
			// In pieces, threading pos through.
			got = bytes.Clone(b)
			p := pos
			for rest := got; len(rest) > 0; {
				k := 1 + rng.IntN(len(rest))
				p = MaskBytes(key, p, rest[:k])
				rest = rest[k:]
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("MaskBytes in pieces (len %d, pos %d) = %x; want %x", n, pos, got, want)
			}
		}
	}
}

func TestAppendClose(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	tests := []struct {
		code   StatusCode
		reason string
		want   string // payload
	}{
		{1000, "", "\x03\xe8"},
		{1001, "bye", "\x03\xe9bye"},
		{CloseNoStatus, "ignored", ""},
		{1006, "", ""}, // abnormal closure: never sent
		{1015, "", ""}, // TLS handshake: never sent
		{0, "", ""},
		{CloseProtocolError, strings.Repeat("a", 200), "\x03\xea" + strings.Repeat("a", 123)},
		{CloseProtocolError, long, "\x03\xea" + strings.Repeat("é", 61)}, // 122 bytes: a rune would not fit
		{1011, "bad \xff", "\x03\xf3bad \uFFFD"},
		{4000, "app", "\x0f\xa0app"},
	}
	for _, tt := range tests {
		got := AppendClose(nil, tt.code, tt.reason)
		want := AppendFrame(nil, OpClose, true, false, []byte(tt.want))
		if !bytes.Equal(got, want) {
			t.Errorf("AppendClose(%d, %q) = %q; want %q", tt.code, tt.reason, got, want)
		}
		if len(got)-2 > MaxControlPayload || !utf8.Valid(got[min(4, len(got)):]) {
			t.Errorf("AppendClose(%d, %q): invalid close frame %q", tt.code, tt.reason, got)
		}
	}
}

func TestAcceptKey(t *testing.T) {
	// RFC 6455, Section 1.3.
	if got := AcceptKey([]byte("dGhlIHNhbXBsZSBub25jZQ==")); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("AcceptKey(sample) = %q; want %q", got, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
	}
	longKey := bytes.Repeat([]byte("k"), 200) // exercises the hash.Hash path
	if a, b := AcceptKey(longKey), string(AppendAcceptKey(nil, longKey)); a != b || len(a) != AcceptKeyLen {
		t.Errorf("AcceptKey(long) = %q, %q", a, b)
	}
}

func TestValidChallengeKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"dGhlIHNhbXBsZSBub25jZQ==", true},
		{"AAAAAAAAAAAAAAAAAAAAAA==", true},
		{"", false},
		{"dGhlIHNhbXBsZSBub25jZQ=", false},
		{"dGhlIHNhbXBsZSBub25jZQ", false},
		{"dGhlIHNhbXBsZSBub25jZQ===", false},
		{"AAAAAAAAAAAAAAAAAAAAAAAA", false}, // 18 bytes
		{"AAAAAAAAAAAAAAAAAAAA\r\n==", false},
		{"dGhlIHNhbXBsZSBub25jZQ!=", false},
		{"dGhlIHNhbXBsZSBub25j", false},
	}
	for _, tt := range tests {
		if got := ValidChallengeKey([]byte(tt.key)); got != tt.want {
			t.Errorf("ValidChallengeKey(%q) = %v; want %v", tt.key, got, tt.want)
		}
	}
}

func TestValidCloseCode(t *testing.T) {
	valid := map[StatusCode]bool{1000: true, 1001: true, 1002: true, 1003: true, 1007: true, 1008: true, 1009: true,
		1010: true, 1011: true, 1012: true, 1013: true, 1014: true, 3000: true, 3999: true, 4000: true, 4999: true}
	for _, c := range []StatusCode{0, 1, 999, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011,
		1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 3000, 3999, 4000, 4999, 5000, 65535} {
		if got := ValidCloseCode(c); got != valid[c] {
			t.Errorf("ValidCloseCode(%d) = %v; want %v", c, got, valid[c])
		}
	}
}

// TestCloseErrors checks that every prebuilt decoder error fits a close
// frame, as the socket sends its reason to the peer.
func TestCloseErrors(t *testing.T) {
	if s := errTextUTF8.Error(); s != "wsframe: close 1007: invalid UTF-8 in text message" {
		t.Errorf("Error() = %q", s)
	}
	for _, e := range []*CloseError{errUnmasked, errBadOpcode, errReservedBits, errFragmentedControl, errControlTooLong,
		errUnexpectedContinue, errExpectedContinue, errLengthMSB, errCloseBody1, errCloseCode, errCloseReasonUTF8,
		errTextUTF8, errInflate, errTooBig} {
		if len(e.Reason) > MaxControlPayload-2 || !ValidCloseCode(e.Code) {
			t.Errorf("%v: reason does not fit a close frame", e)
		}
	}
}
