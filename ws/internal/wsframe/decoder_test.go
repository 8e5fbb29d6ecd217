package wsframe

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// cf builds a masked client frame.
func cf(op Opcode, fin bool, payload string) []byte {
	return AppendMaskedFrame(nil, op, fin, false, testKey, []byte(payload))
}

// cfz builds a masked client frame with RSV1 set.
func cfz(op Opcode, fin bool, payload []byte) []byte {
	return AppendMaskedFrame(nil, op, fin, true, testKey, payload)
}

// withBits returns frame with extra bits ORed into the first byte.
func withBits(frame []byte, b0 byte) []byte {
	frame[0] |= b0
	return frame
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// closeStatus returns the code of the *CloseError in err's chain, or 0.
func closeStatus(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

func closeBody(code StatusCode, reason string) string {
	return string([]byte{byte(code >> 8), byte(code)}) + reason
}

// rec is a decoded event in comparable form.
type rec struct {
	Kind    EventKind
	Op      Opcode
	Payload string
	Code    StatusCode
	Reason  string
}

func msg(op Opcode, payload string) rec { return rec{Kind: EventMessage, Op: op, Payload: payload} }
func ping(p string) rec                 { return rec{Kind: EventPing, Payload: p} }
func pong(p string) rec                 { return rec{Kind: EventPong, Payload: p} }
func closeRec(code StatusCode, reason string) rec {
	body := ""
	if code != CloseNoStatus {
		body = closeBody(code, reason)
	}
	return rec{Kind: EventClose, Payload: body, Code: code, Reason: reason}
}

func (r rec) String() string {
	p := r.Payload
	if len(p) > 40 {
		p = fmt.Sprintf("%.40q…(%d bytes)", p, len(p))
	} else {
		p = fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf("{%d %v %s %d %q}", r.Kind, r.Op, p, r.Code, r.Reason)
}

// decodeResult is what a decoder run produced: the events, and the close
// code of the error that stopped it (0 if it ran out of input cleanly).
type decodeResult struct {
	events []rec
	code   StatusCode
	closed bool // stopped by ErrClosed
	// at is how many input bytes had been fed when the run stopped with
	// an error or ErrClosed (not part of String: it depends on the split).
	at int
}

func (r decodeResult) String() string {
	return fmt.Sprintf("events=%v code=%d closed=%v", r.events, r.code, r.closed)
}

// feeder emulates the loop's inbound buffer: it holds unconsumed bytes,
// appends what arrives into a NEW array each time (so a decoder keeping a
// slice into old input would see garbage) and discards what Next consumed.
type feeder struct {
	t       testing.TB
	d       *Decoder
	pending []byte
	res     decodeResult
	done    bool
	fed     int // bytes fed so far
}

func (f *feeder) feed(chunk []byte) {
	if f.done {
		return
	}
	next := make([]byte, len(f.pending)+len(chunk))
	copy(next, f.pending)
	copy(next[len(f.pending):], chunk)
	// Poison the old array so stale views are noticed.
	for i := range f.pending {
		f.pending[i] = 0xee
	}
	f.pending = next
	f.fed += len(chunk)
	for {
		ev, n, err := f.d.Next(f.pending)
		if n < 0 || n > len(f.pending) {
			f.t.Fatalf("Next returned n=%d with len(b)=%d", n, len(f.pending))
		}
		if err != nil {
			if n != 0 {
				f.t.Fatalf("Next returned n=%d with err %v", n, err)
			}
			switch {
			case errors.Is(err, ErrNeedMore):
				return
			case errors.Is(err, ErrClosed):
				f.res.closed = true
			default:
				f.res.code = closeStatus(err)
				if f.res.code == 0 {
					f.t.Fatalf("Next error %v is not a CloseError", err)
				}
			}
			f.done = true
			f.res.at = f.fed
			return
		}
		if n == 0 {
			f.t.Fatalf("Next returned n=0 without error")
		}
		if ev.Kind != EventNone {
			f.res.events = append(f.res.events, rec{ev.Kind, ev.Op, string(ev.Payload), ev.Code, string(ev.Reason)})
		}
		f.pending = f.pending[n:]
	}
}

// runDecoder decodes in with the given chunking: "whole", "bytewise" or
// "random".
func runDecoder(t testing.TB, cfg DecoderConfig, in []byte, mode string, rng *rand.Rand) decodeResult {
	var d Decoder
	d.Init(cfg)
	f := &feeder{t: t, d: &d}
	in = bytes.Clone(in) // the decoder unmasks in place
	switch mode {
	case "whole":
		f.feed(in)
	case "bytewise":
		for i := range in {
			f.feed(in[i : i+1])
		}
	case "random":
		for len(in) > 0 {
			n := 1 + rng.IntN(min(len(in), 1+rng.IntN(64)))
			if rng.IntN(8) == 0 {
				n = min(len(in), 1+rng.IntN(len(in)))
			}
			f.feed(in[:n])
			in = in[n:]
		}
	}
	f.feed(nil)
	return f.res
}

type decoderCase struct {
	name   string
	cfg    DecoderConfig
	in     []byte
	want   []rec
	code   StatusCode // expected close code of the error, 0 for none
	closed bool       // expect ErrClosed after the events
}

func deflateStd(t testing.TB, msgs ...string) [][]byte {
	// A client compressor with context takeover: one flate stream,
	// sync-flushed per message, tails stripped.
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		buf.Reset()
		w.Write([]byte(m))
		w.Flush()
		b := bytes.TrimSuffix(buf.Bytes(), deflateTail[:])
		out = append(out, bytes.Clone(b))
	}
	return out
}

func deflateStdNoCtx(t testing.TB, m string) []byte {
	return deflateStd(t, m)[0]
}

func decoderCases(t testing.TB) []decoderCase {
	deflate := DecoderConfig{Deflate: true}
	deflateNoCtx := DecoderConfig{Deflate: true, ClientNoContextTakeover: true}
	long := func(n int) string { return strings.Repeat("*", n) }
	z := deflateStd(t, "Hello, hello, hello, hello!", "Hello, hello, hello, hello!", strings.Repeat("abc", 1000))
	zfin := func() []byte {
		// A final block (BFINAL=1), as some clients send (RFC 7692, Section 7.2.3.3).
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.BestSpeed)
		w.Write([]byte("final block"))
		w.Close()
		return buf.Bytes()
	}()
	bomb := deflateStdNoCtx(t, strings.Repeat("\x00", 1<<20))
	fragZ := deflateStdNoCtx(t, strings.Repeat("fragmented compressed ", 50))

	cases := []decoderCase{
		// 1.* framing
		{name: "1.1.1 text empty", in: cf(OpText, true, ""), want: []rec{msg(OpText, "")}},
		{name: "1.1.2 text 125", in: cf(OpText, true, long(125)), want: []rec{msg(OpText, long(125))}},
		{name: "1.1.3 text 126", in: cf(OpText, true, long(126)), want: []rec{msg(OpText, long(126))}},
		{name: "1.1.4 text 127", in: cf(OpText, true, long(127)), want: []rec{msg(OpText, long(127))}},
		{name: "1.1.5 text 128", in: cf(OpText, true, long(128)), want: []rec{msg(OpText, long(128))}},
		{name: "1.1.6 text 65535", in: cf(OpText, true, long(65535)), want: []rec{msg(OpText, long(65535))}},
		{name: "1.1.7 text 65536", in: cf(OpText, true, long(65536)), want: []rec{msg(OpText, long(65536))}},
		{name: "1.2.1 binary empty", in: cf(OpBinary, true, ""), want: []rec{msg(OpBinary, "")}},
		{name: "1.2.2 binary 125", in: cf(OpBinary, true, "\xfe"+long(124)), want: []rec{msg(OpBinary, "\xfe"+long(124))}},
		{name: "1.2.6 binary 65535", in: cf(OpBinary, true, long(65535)), want: []rec{msg(OpBinary, long(65535))}},
		{name: "1.x unmasked frame", in: AppendFrame(nil, OpText, true, false, []byte("hi")), code: CloseProtocolError},
		{name: "1.x 64-bit length with MSB set", in: []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1}, code: CloseProtocolError},
		{name: "1.x several messages", in: cat(cf(OpText, true, "a"), cf(OpBinary, true, "b"), cf(OpText, true, "c")),
			want: []rec{msg(OpText, "a"), msg(OpBinary, "b"), msg(OpText, "c")}},

		// 2.* ping/pong
		{name: "2.1 ping empty", in: cf(OpPing, true, ""), want: []rec{ping("")}},
		{name: "2.2 ping text", in: cf(OpPing, true, "Hello, world!"), want: []rec{ping("Hello, world!")}},
		{name: "2.3 ping binary", in: cf(OpPing, true, "\x00\xff\xfe\xfd\xfc\xfb\x00\xff"), want: []rec{ping("\x00\xff\xfe\xfd\xfc\xfb\x00\xff")}},
		{name: "2.4 ping 125", in: cf(OpPing, true, long(125)), want: []rec{ping(long(125))}},
		{name: "2.5 ping 126", in: cf(OpPing, true, long(126)), code: CloseProtocolError},
		{name: "2.8 unsolicited pong", in: cf(OpPong, true, "unsolicited"), want: []rec{pong("unsolicited")}},
		{name: "2.10 ten pings", in: bytes.Repeat(cf(OpPing, true, "payload"), 10), want: func() []rec {
			r := make([]rec, 10)
			for i := range r {
				r[i] = ping("payload")
			}
			return r
		}()},

		// 3.* reserved bits
		{name: "3.1 RSV1 text without extension", in: withBits(cf(OpText, true, "x"), bitRSV1), code: CloseProtocolError},
		{name: "3.2 RSV2 after a valid text", in: cat(cf(OpText, true, "ok"), withBits(cf(OpText, true, "x"), bitRSV2)),
			want: []rec{msg(OpText, "ok")}, code: CloseProtocolError},
		{name: "3.3 RSV1+RSV2 after a valid text", in: cat(cf(OpText, true, "ok"), withBits(cf(OpText, true, "x"), bitRSV1|bitRSV2), cf(OpPing, true, "")),
			want: []rec{msg(OpText, "ok")}, code: CloseProtocolError},
		{name: "3.4 RSV3 ping", in: withBits(cf(OpPing, true, ""), bitRSV3), code: CloseProtocolError},
		{name: "3.5 RSV1+RSV3 binary", in: withBits(cf(OpBinary, true, "x"), bitRSV1|bitRSV3), code: CloseProtocolError},
		{name: "3.6 RSV2+RSV3 ping", in: withBits(cf(OpPing, true, "x"), bitRSV2|bitRSV3), code: CloseProtocolError},
		{name: "3.7 all RSV close", in: withBits(cf(OpClose, true, ""), bitRSV1|bitRSV2|bitRSV3), code: CloseProtocolError},
		{name: "3.x RSV1 ping with deflate", cfg: deflate, in: withBits(cf(OpPing, true, ""), bitRSV1), code: CloseProtocolError},

		// 4.* opcodes
		{name: "4.1.1 opcode 3", in: cf(3, true, ""), code: CloseProtocolError},
		{name: "4.1.2 opcode 4 with payload", in: cf(4, true, "reserved"), code: CloseProtocolError},
		{name: "4.1.3 opcode 5 after text", in: cat(cf(OpText, true, "a"), cf(5, true, ""), cf(OpPing, true, "")),
			want: []rec{msg(OpText, "a")}, code: CloseProtocolError},
		{name: "4.1.5 opcode 7", in: cf(7, true, ""), code: CloseProtocolError},
		{name: "4.2.1 opcode 11", in: cf(11, true, ""), code: CloseProtocolError},
		{name: "4.2.2 opcode 12 with payload", in: cf(12, true, "reserved"), code: CloseProtocolError},
		{name: "4.2.5 opcode 15", in: cf(15, true, ""), code: CloseProtocolError},

		// 5.* fragmentation
		{name: "5.1 fragmented ping", in: cat(cf(OpPing, false, "frag1"), cf(OpContinuation, true, "frag2")), code: CloseProtocolError},
		{name: "5.2 fragmented pong", in: cat(cf(OpPong, false, "frag1"), cf(OpContinuation, true, "frag2")), code: CloseProtocolError},
		{name: "5.3 text in 2 fragments", in: cat(cf(OpText, false, "fragment1"), cf(OpContinuation, true, "fragment2")),
			want: []rec{msg(OpText, "fragment1fragment2")}},
		{name: "5.5 text in 3 fragments, empty middle", in: cat(cf(OpText, false, "a"), cf(OpContinuation, false, ""), cf(OpContinuation, true, "b")),
			want: []rec{msg(OpText, "ab")}},
		{name: "empty fragments up to the cap", in: cat(cf(OpText, false, "a"), cat(repeatFrames(cf(OpContinuation, false, ""), maxEmptyFragments)...), cf(OpContinuation, true, "b")),
			want: []rec{msg(OpText, "ab")}},
		{name: "empty fragments past the cap", in: cat(cf(OpText, false, "a"), cat(repeatFrames(cf(OpContinuation, false, ""), maxEmptyFragments+1)...), cf(OpContinuation, true, "b")),
			code: ClosePolicy},
		{name: "the cap counts per message", in: cat(cf(OpText, false, "a"), cat(repeatFrames(cf(OpContinuation, false, ""), maxEmptyFragments)...), cf(OpContinuation, true, "b"),
			cf(OpBinary, false, "c"), cat(repeatFrames(cf(OpContinuation, false, ""), maxEmptyFragments)...), cf(OpContinuation, true, "d")),
			want: []rec{msg(OpText, "ab"), msg(OpBinary, "cd")}},
		{name: "5.6 ping between fragments", in: cat(cf(OpText, false, "fragment1"), cf(OpPing, true, "ping"), cf(OpContinuation, true, "fragment2")),
			want: []rec{ping("ping"), msg(OpText, "fragment1fragment2")}},
		{name: "5.8 binary fragments with pong and ping", in: cat(cf(OpBinary, false, "\x00"), cf(OpPong, true, ""), cf(OpContinuation, false, "\x01"), cf(OpPing, true, "p"), cf(OpContinuation, true, "\x02")),
			want: []rec{pong(""), ping("p"), msg(OpBinary, "\x00\x01\x02")}},
		{name: "5.9 continuation without start", in: cat(cf(OpContinuation, true, "x"), cf(OpText, true, "y")), code: CloseProtocolError},
		{name: "5.12 non-final continuation without start", in: cf(OpContinuation, false, "x"), code: CloseProtocolError},
		{name: "5.15 text frame inside fragmented text", in: cat(cf(OpText, false, "fragment1"), cf(OpContinuation, false, "fragment2"), cf(OpText, false, "fragment3"), cf(OpContinuation, true, "fragment4")),
			code: CloseProtocolError},
		{name: "5.18 two non-final text frames", in: cat(cf(OpText, false, "a"), cf(OpText, true, "b")), code: CloseProtocolError},
		{name: "5.19 fragments with pings then message", in: cat(cf(OpText, false, "f1"), cf(OpContinuation, false, "f2"), cf(OpPing, true, "p1"), cf(OpContinuation, false, "f3"), cf(OpPing, true, "p2"), cf(OpContinuation, true, "f4"), cf(OpText, true, "next")),
			want: []rec{ping("p1"), ping("p2"), msg(OpText, "f1f2f3f4"), msg(OpText, "next")}},
		{name: "5.x fragmented binary then text", in: cat(cf(OpBinary, false, "x"), cf(OpContinuation, true, "y"), cf(OpText, true, "z")),
			want: []rec{msg(OpBinary, "xy"), msg(OpText, "z")}},

		// 6.* UTF-8 (more in utf8_test.go and TestDecoderUTF8Fragments)
		{name: "6.2.1 valid multi-byte text", in: cf(OpText, true, "Hello-µ@ßöäüàá-UTF-8!!"), want: []rec{msg(OpText, "Hello-µ@ßöäüàá-UTF-8!!")}},
		{name: "6.2.3 valid text split inside a rune", in: cat(cf(OpText, false, "κό\xcf"), cf(OpContinuation, true, "\x83με")),
			want: []rec{msg(OpText, "κόσμε")}},
		{name: "6.3.1 invalid text", in: cf(OpText, true, "κόσμε\xed\xa0\x80edited"), code: CloseInvalidPayload},
		{name: "6.4.1 fail fast on bad fragment", in: cat(cf(OpText, false, "κόσμε"), cf(OpContinuation, false, "\xf4\x90\x80\x80"), cf(OpContinuation, true, "edited")),
			code: CloseInvalidPayload},
		{name: "6.4.x fail fast before last fragment arrives", in: cat(cf(OpText, false, "\xc0"), []byte{0x80, 0xfe, 1, 2}), code: CloseInvalidPayload},
		{name: "6.x truncated rune at message end", in: cat(cf(OpText, false, "ok\xe2\x82"), cf(OpContinuation, true, "")), code: CloseInvalidPayload},
		{name: "6.x invalid UTF-8 in binary is fine", in: cf(OpBinary, true, "\xff\xfe"), want: []rec{msg(OpBinary, "\xff\xfe")}},

		// 7.* close
		{name: "7.1.1 close empty", in: cat(cf(OpClose, true, ""), cf(OpText, true, "after")), want: []rec{closeRec(CloseNoStatus, "")}, closed: true},
		{name: "7.3.2 close 1 byte", in: cf(OpClose, true, "\x03"), code: CloseProtocolError},
		{name: "7.3.3 close 1000", in: cf(OpClose, true, closeBody(1000, "")), want: []rec{closeRec(1000, "")}, closed: true},
		{name: "7.3.4 close 1000 with reason", in: cf(OpClose, true, closeBody(1000, "Hello World!")), want: []rec{closeRec(1000, "Hello World!")}, closed: true},
		{name: "7.3.5 close reason 123", in: cf(OpClose, true, closeBody(1000, long(123))), want: []rec{closeRec(1000, long(123))}, closed: true},
		{name: "7.3.6 close 126 payload", in: cf(OpClose, true, closeBody(1000, long(124))), code: CloseProtocolError},
		{name: "7.5.1 close reason invalid UTF-8", in: cf(OpClose, true, closeBody(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")), code: CloseInvalidPayload},
		{name: "7.x fragmented close", in: cf(OpClose, false, closeBody(1000, "")), code: CloseProtocolError},
		{name: "7.x close inside fragmented message", in: cat(cf(OpText, false, "a"), cf(OpClose, true, closeBody(1001, "bye"))), want: []rec{closeRec(1001, "bye")}, closed: true},

		// 9.* limits
		{name: "9.x over limit in one frame", cfg: DecoderConfig{ReadLimit: 1000}, in: cf(OpBinary, true, long(1001)), code: CloseMessageTooBig},
		{name: "9.x at limit", cfg: DecoderConfig{ReadLimit: 1000}, in: cf(OpBinary, true, long(1000)), want: []rec{msg(OpBinary, long(1000))}},
		{name: "9.x over limit across fragments", cfg: DecoderConfig{ReadLimit: 1000}, in: cat(cf(OpText, false, long(600)), cf(OpContinuation, true, long(401))), code: CloseMessageTooBig},
		{name: "9.x over limit from header only", cfg: DecoderConfig{ReadLimit: 1000}, in: []byte{0x82, 0xfe, 0x10, 0x00}, code: CloseMessageTooBig},
		{name: "9.x 64-bit huge length from header only", in: []byte{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, code: CloseMessageTooBig},
		{name: "9.x control frames not counted", cfg: DecoderConfig{ReadLimit: 10}, in: cat(cf(OpText, false, long(10)), cf(OpPing, true, long(100)), cf(OpContinuation, true, "")),
			want: []rec{ping(long(100)), msg(OpText, long(10))}},

		// 12/13.* compression
		{name: "12.x compressed without negotiation", in: cfz(OpText, true, z[0]), code: CloseProtocolError},
		{name: "12.1 compressed messages, context takeover", cfg: deflate,
			in:   cat(cfz(OpText, true, z[0]), cfz(OpText, true, z[1]), cfz(OpBinary, true, z[2])),
			want: []rec{msg(OpText, "Hello, hello, hello, hello!"), msg(OpText, "Hello, hello, hello, hello!"), msg(OpBinary, strings.Repeat("abc", 1000))}},
		{name: "12.x compressed and plain interleaved", cfg: deflate,
			in:   cat(cfz(OpText, true, z[0]), cf(OpText, true, "plain"), cfz(OpText, true, z[1])),
			want: []rec{msg(OpText, "Hello, hello, hello, hello!"), msg(OpText, "plain"), msg(OpText, "Hello, hello, hello, hello!")}},
		{name: "13.x no context takeover", cfg: deflateNoCtx,
			in:   cat(cfz(OpText, true, z[0]), cfz(OpText, true, deflateStdNoCtx(t, "again"))),
			want: []rec{msg(OpText, "Hello, hello, hello, hello!"), msg(OpText, "again")}},
		{name: "12.x fragmented compressed", cfg: deflate,
			in:   cat(cfz(OpText, false, fragZ[:10]), cf(OpPing, true, "p"), AppendMaskedFrame(nil, OpContinuation, false, false, testKey, fragZ[10:20]), AppendMaskedFrame(nil, OpContinuation, true, false, testKey, fragZ[20:])),
			want: []rec{ping("p"), msg(OpText, strings.Repeat("fragmented compressed ", 50))}},
		{name: "12.x empty compressed message", cfg: deflate, in: cfz(OpText, true, []byte{0x00}), want: []rec{msg(OpText, "")}},
		{name: "12.x BFINAL block", cfg: deflate, in: cat(cfz(OpText, true, zfin), cf(OpText, true, "x")), want: []rec{msg(OpText, "final block"), msg(OpText, "x")}},
		{name: "12.x RSV1 on continuation", cfg: deflate, in: cat(cfz(OpText, false, fragZ[:10]), cfz(OpContinuation, true, fragZ[10:])), code: CloseProtocolError},
		{name: "12.x corrupt deflate", cfg: deflate, in: cfz(OpBinary, true, []byte{0xff, 0xff, 0xff}), code: CloseInvalidPayload},
		{name: "12.x compressed invalid UTF-8", cfg: deflate, in: cfz(OpText, true, deflateStdNoCtx(t, "bad \xff text")), code: CloseInvalidPayload},
		{name: "9.x zip bomb over limit", cfg: DecoderConfig{Deflate: true, ReadLimit: 64 << 10}, in: cfz(OpBinary, true, bomb), code: CloseMessageTooBig},
		{name: "9.x compressed at limit", cfg: DecoderConfig{Deflate: true, ReadLimit: 1 << 20}, in: cfz(OpBinary, true, bomb), want: []rec{msg(OpBinary, strings.Repeat("\x00", 1<<20))}},
	}
	for code := range 5100 {
		// 7.7.* and 7.9.*: every close code.
		c := StatusCode(code)
		tc := decoderCase{name: fmt.Sprintf("7.x close code %d", code), in: cf(OpClose, true, closeBody(c, "r"))}
		if ValidCloseCode(c) {
			tc.want, tc.closed = []rec{closeRec(c, "r")}, true
		} else {
			tc.code = CloseProtocolError
		}
		if code%97 == 0 || (code >= 990 && code <= 1020) || code == 2999 || code == 3000 || code == 4999 || code == 5000 {
			cases = append(cases, tc)
		}
	}
	return cases
}

func TestDecoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tt := range decoderCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			want := decodeResult{events: tt.want, code: tt.code, closed: tt.closed}
			modes := []string{"whole", "bytewise", "random", "random", "random"}
			if len(tt.in) > 4096 {
				modes = []string{"whole", "random"} // bytewise is O(n²) copying here
			}
			for _, mode := range modes {
				got := runDecoder(t, tt.cfg, tt.in, mode, rng)
				if got.String() != want.String() {
					t.Errorf("%s: Next(%.60x…) = %v; want %v", mode, tt.in, got, want)
				}
			}
		})
	}
}

// TestDecoderBigFrameBytewise checks that a 64 KiB frame arriving in many
// pieces decodes the same (the slow bytewise mode is skipped above).
func TestDecoderBigFrameBytewise(t *testing.T) {
	payload := strings.Repeat("é", 40000)
	in := cf(OpText, true, payload)
	var d Decoder
	f := &feeder{t: t, d: &d}
	in = bytes.Clone(in)
	for i := 0; i < len(in); i += 997 {
		f.feed(in[i:min(i+997, len(in))])
	}
	if len(f.res.events) != 1 || f.res.events[0].Payload != payload {
		t.Fatalf("got %v", f.res)
	}
}

// classicInvalid are the Autobahn 6.* / Markus Kuhn stress-test sequences
// that must be rejected.
var classicInvalid = []string{
	"\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80", // lone continuation bytes
	"\xc0 ", "\xe0 ", "\xf0 ", "\xf8 ", "\xfc ", // lonely start bytes
	"\xc0", "\xe0\x80", "\xf0\x80\x80", // truncated
	"\xdf", "\xef\xbf", "\xf7\xbf\xbf",
	"\xfe", "\xff", "\xfe\xfe\xff\xff",
	"\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", // overlong '/'
	"\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", // maximum overlongs
	"\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80", // overlong NUL
	"\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf", // surrogates
	"\xed\xa0\x80\xed\xb0\x80", // surrogate pair
	"\xf4\x90\x80\x80",         // > U+10FFFF
	"\xf5\x80\x80\x80",
	"κόσμε\xed\xa0\x80edited",
}

var classicValid = []string{
	"", "κόσμε", "\x00", "\u0080", "\u0800", "\U00010000", "\u007f", "\u07ff", "\uffff", "\U0010ffff",
	"\ud7ff", "\ue000", "\ufffd", "Hello-µ@ßöäüàá-UTF-8!!", "\xef\xbf\xbe", // U+FFFE is a valid noncharacter
}

// TestDecoderUTF8Fragments sends each classic sequence as a text message
// split into two fragments at every byte (Autobahn 6.4, 6.6 style).
func TestDecoderUTF8Fragments(t *testing.T) {
	check := func(s string, valid bool) {
		for i := 0; i <= len(s); i++ {
			in := cat(cf(OpText, false, s[:i]), cf(OpContinuation, true, s[i:]))
			got := runDecoder(t, DecoderConfig{}, in, "whole", nil)
			want := decodeResult{code: CloseInvalidPayload}
			if valid {
				want = decodeResult{events: []rec{msg(OpText, s)}}
			}
			if got.String() != want.String() {
				t.Errorf("text %q split at %d = %v; want %v", s, i, got, want)
			}
		}
	}
	for _, s := range classicInvalid {
		check(s, false)
		check("ok "+s+" ok", false)
	}
	for _, s := range classicValid {
		check(s, true)
		check("ok "+s+" ok", true)
	}
}

// TestDecoderSticky checks that the decoder stays failed after an error.
func TestDecoderSticky(t *testing.T) {
	var d Decoder
	_, _, err := d.Next(AppendFrame(nil, OpText, true, false, []byte("unmasked")))
	if closeStatus(err) != CloseProtocolError {
		t.Fatalf("Next(unmasked) err = %v; want 1002", err)
	}
	if _, _, err2 := d.Next(cf(OpText, true, "fine")); err2 != err {
		t.Fatalf("Next after error = %v; want %v", err2, err)
	}
	d.Reset()
	if ev, _, err := d.Next(cf(OpText, true, "fine")); err != nil || string(ev.Payload) != "fine" {
		t.Fatalf("Next after Reset = %v, %v", ev, err)
	}
}

// TestDecoderUTF8FailFast sends text whose payload turns invalid at some
// byte, in a frame (or a message's second fragment) that goes on past it,
// and stops the input right there, as Autobahn 6.4.3 and 6.4.4 do: the
// decoder must fail with 1007 while the frame is still incomplete, and
// must not fail one byte earlier, whatever the read boundaries were.
func TestDecoderUTF8FailFast(t *testing.T) {
	long := strings.Repeat("é", 700) // crosses checkPartial's scratch buffer at odd offsets
	type shape struct {
		name string
		// build returns the client bytes and the offset in them of the
		// payload's byte at index bad.
		build func(payload string, bad int) ([]byte, int)
	}
	shapes := []shape{
		{"one frame", func(p string, bad int) ([]byte, int) {
			return cf(OpText, true, p), frameHeaderLen(len(p)) + 4 + bad
		}},
		{"second fragment", func(p string, bad int) ([]byte, int) {
			k := bad / 2
			f1 := cf(OpText, false, p[:k])
			return cat(f1, cf(OpContinuation, true, p[k:])), len(f1) + frameHeaderLen(len(p)-k) + 4 + bad - k
		}},
		{"third fragment after a ping", func(p string, bad int) ([]byte, int) {
			k := bad / 2
			f := cat(cf(OpText, false, p[:k/2]), cf(OpContinuation, false, p[k/2:k]), cf(OpPing, true, "p"))
			return cat(f, cf(OpContinuation, true, p[k:])), len(f) + frameHeaderLen(len(p)-k) + 4 + bad - k
		}},
	}
	for _, s := range classicInvalid {
		for _, prefix := range []string{"", "κόσμε", long} {
			payload := prefix + s + "edited" // the frame goes on past the bad byte
			bad := firstInvalid([]byte(payload))
			if bad == len(payload) {
				continue // never a bad byte: only the end of the message can fail it
			}
			for _, sh := range shapes {
				in, off := sh.build(payload, bad)
				for _, mode := range []string{"whole", "bytewise"} {
					before := runDecoder(t, DecoderConfig{}, in[:off], mode, nil)
					at := runDecoder(t, DecoderConfig{}, in[:off+1], mode, nil)
					if before.code != 0 || at.code != CloseInvalidPayload {
						t.Errorf("%s %q (%s): before the bad byte %v; with it %v; want no error, then 1007",
							sh.name, payload, mode, before, at)
					}
				}
			}
		}
	}
}

// TestDecoderUTF8PartialState checks the state kept for a text frame
// arriving in pieces: the validator carries over from a fragment ending
// mid-rune, and nothing is kept once the frame is complete.
func TestDecoderUTF8PartialState(t *testing.T) {
	var d Decoder
	in := cat(cf(OpText, false, "κ\xcf"), cf(OpContinuation, true, "\x8cσμε"))
	f1 := len(cf(OpText, false, "κ\xcf"))
	if _, n, err := d.Next(in); n != f1 || err != nil {
		t.Fatalf("first fragment: n=%d err=%v", n, err)
	}
	rest := in[f1:]
	for i := 3; i < len(rest); i++ { // the continuation, one more byte each time
		if _, n, err := d.Next(rest[:i]); n != 0 || err != ErrNeedMore {
			t.Fatalf("continuation with %d bytes: n=%d err=%v; want ErrNeedMore", i, n, err)
		}
		if got, want := d.msg.checked, max(0, i-6); got != want { // 6 header bytes
			t.Fatalf("continuation with %d bytes: %d payload bytes checked; want %d", i, got, want)
		}
	}
	ev, n, err := d.Next(rest)
	if err != nil || n != len(rest) || string(ev.Payload) != "κόσμε" {
		t.Fatalf("Next = %q, %d, %v", ev.Payload, n, err)
	}
	if d.msg.checked != 0 {
		t.Fatalf("checked = %d after the frame; want 0", d.msg.checked)
	}
	d.Release()
	if d.msg != nil {
		t.Fatal("message state kept after the message")
	}
	// A partial single-frame message holds the state until it completes.
	fr := cf(OpText, true, "κόσμε")
	if _, _, err := d.Next(fr[:9]); err != ErrNeedMore {
		t.Fatalf("partial frame: %v", err)
	}
	d.Release()
	if d.msg == nil || d.msg.checked != 3 {
		t.Fatalf("state of the partial frame released: %+v", d.msg)
	}
	if ev, _, err := d.Next(fr); err != nil || string(ev.Payload) != "κόσμε" {
		t.Fatalf("Next = %q, %v", ev.Payload, err)
	}
	d.Release()
	if d.msg != nil {
		t.Fatal("message state kept after the frame")
	}
}

// repeatFrames returns n copies of frame, for cat.
func repeatFrames(frame []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = frame
	}
	return out
}
