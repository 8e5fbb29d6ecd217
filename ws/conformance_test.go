package ws

import (
	"bytes"
	"compress/flate"
	"fmt"
	"hash/fnv"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/ws/internal/wsframe"
)

// Conformance cases modelled on the Autobahn testsuite's categories
// (https://github.com/crossbario/autobahn-testsuite), run against an echo
// socket on a real server. Every case runs with the client's bytes
// written whole, one byte per write, and in random splits.

// wantFrame is an expected server frame: a data message (compared after
// inflating a compressed one) or a control frame.
type wantFrame struct {
	op      wsframe.Opcode
	payload string
}

func echoT(s string) wantFrame { return wantFrame{wsframe.OpText, s} }
func echoB(s string) wantFrame { return wantFrame{wsframe.OpBinary, s} }
func pongF(s string) wantFrame { return wantFrame{wsframe.OpPong, s} }

type confCase struct {
	name string
	// opts overrides the server options (PingInterval is always off).
	opts *Options
	// ext is the client's Sec-WebSocket-Extensions offer ("" for none).
	ext string
	// send is the client's bytes after the handshake.
	send []byte
	// want are the frames the server sends back, in order.
	want []wantFrame
	// fail is the close code the server must send after want (and then
	// close TCP); 0 means the exchange is fine: the runner then sends a
	// close 1000 and expects it echoed.
	fail StatusCode
	// closeEcho is set when send ends with a close frame whose code the
	// server must echo (CloseNoStatus for an empty close).
	closeEcho StatusCode
}

// fr builds a masked client frame; fz one with RSV1; fb one with extra
// header bits ORed into the first byte.
func fr(op wsframe.Opcode, fin bool, payload string) []byte {
	return maskedFrame(op, fin, false, []byte(payload))
}
func fz(op wsframe.Opcode, fin bool, payload []byte) []byte {
	return maskedFrame(op, fin, true, payload)
}
func fb(bits byte, op wsframe.Opcode, fin bool, payload string) []byte {
	f := fr(op, fin, payload)
	f[0] |= bits
	return f
}
func closeFr(code StatusCode, reason string) []byte {
	return maskedFrame(wsframe.OpClose, true, false, closeBodyBytes(code, reason))
}

// prefixOf is frame without its last n bytes: an incomplete frame whose
// rest the client never sends.
func prefixOf(frame []byte, n int) []byte { return frame[:len(frame)-n] }

// unmaskedFrame is a client frame without the mask bit.
func unmaskedFrame(op wsframe.Opcode, payload string) []byte {
	return wsframe.AppendFrame(nil, op, true, false, []byte(payload))
}

// deflateOne compresses m as a permessage-deflate message without
// context takeover: a fresh flate stream, sync-flushed, tail stripped
// (RFC 7692, Section 7.2.1).
func deflateOne(t testing.TB, m string) []byte {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(m))
	w.Flush()
	return bytes.TrimSuffix(buf.Bytes(), deflateTail)
}

func conformanceCases(t testing.TB) []confCase {
	s := strings.Repeat
	deflateOpts := &Options{Compression: DeflateConfig{Enabled: true, ServerNoContextTakeover: true, ClientNoContextTakeover: true}}
	const deflateExt = "permessage-deflate; client_no_context_takeover; server_no_context_takeover"
	big := s("Hello, compression! ", 400)
	zbig := deflateOne(t, big)
	zsmall := deflateOne(t, "small")
	limitOpts := &Options{ReadLimit: 1000}
	// Autobahn 6.4.*: "κόσμε", then U+110000 (not a code point), then "edited".
	const k1, k2, k3 = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", "\xf4\x90\x80\x80", "edited"
	cases := []confCase{
		// 1.* framing
		{name: "1.1.1 text 0", send: fr(wsframe.OpText, true, ""), want: []wantFrame{echoT("")}},
		{name: "1.1.2 text 125", send: fr(wsframe.OpText, true, s("*", 125)), want: []wantFrame{echoT(s("*", 125))}},
		{name: "1.1.3 text 126", send: fr(wsframe.OpText, true, s("*", 126)), want: []wantFrame{echoT(s("*", 126))}},
		{name: "1.1.4 text 65535", send: fr(wsframe.OpText, true, s("*", 65535)), want: []wantFrame{echoT(s("*", 65535))}},
		{name: "1.1.5 text 65536", send: fr(wsframe.OpText, true, s("*", 65536)), want: []wantFrame{echoT(s("*", 65536))}},
		{name: "1.2.1 binary 0", send: fr(wsframe.OpBinary, true, ""), want: []wantFrame{echoB("")}},
		{name: "1.2.2 binary 125", send: fr(wsframe.OpBinary, true, s("\xfe", 125)), want: []wantFrame{echoB(s("\xfe", 125))}},
		{name: "1.2.3 binary 126", send: fr(wsframe.OpBinary, true, s("\xfe", 126)), want: []wantFrame{echoB(s("\xfe", 126))}},
		{name: "1.2.4 binary 65535", send: fr(wsframe.OpBinary, true, s("\xfe", 65535)), want: []wantFrame{echoB(s("\xfe", 65535))}},
		{name: "1.2.5 binary 65536", send: fr(wsframe.OpBinary, true, s("\xfe", 65536)), want: []wantFrame{echoB(s("\xfe", 65536))}},
		// One frame bigger than the loop's MaxPendingInput (256 KiB)
		// but within the default ReadLimit (1 MiB).
		{name: "1.x binary 1 MiB in one frame", send: fr(wsframe.OpBinary, true, s("\x01", 1<<20)), want: []wantFrame{echoB(s("\x01", 1<<20))}},
		{name: "1.x text 300000 in one frame after a small one", send: cat(fr(wsframe.OpText, true, "small"), fr(wsframe.OpText, true, s("x", 300000)), fr(wsframe.OpText, true, "after")),
			want: []wantFrame{echoT("small"), echoT(s("x", 300000)), echoT("after")}},
		{name: "1.x pipelined messages", send: cat(fr(wsframe.OpText, true, "a"), fr(wsframe.OpBinary, true, "b"), fr(wsframe.OpText, true, "c")),
			want: []wantFrame{echoT("a"), echoB("b"), echoT("c")}},

		// 2.* ping/pong
		{name: "2.1 ping empty", send: fr(wsframe.OpPing, true, ""), want: []wantFrame{pongF("")}},
		{name: "2.2 ping text payload", send: fr(wsframe.OpPing, true, "Hello, world!"), want: []wantFrame{pongF("Hello, world!")}},
		{name: "2.3 ping binary payload", send: fr(wsframe.OpPing, true, "\x00\xff\xfe\xfd\xfc\xfb\x00\xff"), want: []wantFrame{pongF("\x00\xff\xfe\xfd\xfc\xfb\x00\xff")}},
		{name: "2.4 ping 125", send: fr(wsframe.OpPing, true, s("*", 125)), want: []wantFrame{pongF(s("*", 125))}},
		{name: "2.5 ping 126", send: fr(wsframe.OpPing, true, s("*", 126)), fail: CloseProtocolError},
		{name: "2.6 unsolicited pong ignored", send: cat(fr(wsframe.OpPong, true, "unsolicited"), fr(wsframe.OpText, true, "after")), want: []wantFrame{echoT("after")}},
		{name: "2.7 unsolicited pong then ping", send: cat(fr(wsframe.OpPong, true, "x"), fr(wsframe.OpPing, true, "y")), want: []wantFrame{pongF("y")}},
		{name: "2.10 ten pings", send: bytes.Repeat(fr(wsframe.OpPing, true, "p"), 10),
			want: []wantFrame{pongF("p"), pongF("p"), pongF("p"), pongF("p"), pongF("p"), pongF("p"), pongF("p"), pongF("p"), pongF("p"), pongF("p")}},

		// 3.* reserved bits without an extension
		{name: "3.1 RSV2 text", send: fb(bitRSV2, wsframe.OpText, true, "x"), fail: CloseProtocolError},
		{name: "3.2 RSV2 after echo", send: cat(fr(wsframe.OpText, true, "ok"), fb(bitRSV2, wsframe.OpText, true, "x"), fr(wsframe.OpPing, true, "")),
			want: []wantFrame{echoT("ok")}, fail: CloseProtocolError},
		{name: "3.3 RSV3 text", send: fb(bitRSV3, wsframe.OpText, true, "x"), fail: CloseProtocolError},
		{name: "3.4 RSV1 without deflate", send: fb(bitRSV1, wsframe.OpText, true, "x"), fail: CloseProtocolError},
		{name: "3.5 RSV1|RSV3 binary", send: fb(bitRSV1|bitRSV3, wsframe.OpBinary, true, "x"), fail: CloseProtocolError},
		{name: "3.6 RSV1|RSV2 ping", send: fb(bitRSV1|bitRSV2, wsframe.OpPing, true, "x"), fail: CloseProtocolError},
		{name: "3.7 all RSV close", send: fb(bitRSV1|bitRSV2|bitRSV3, wsframe.OpClose, true, ""), fail: CloseProtocolError},
	}
	// 4.* reserved opcodes
	for _, op := range []wsframe.Opcode{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		cases = append(cases,
			confCase{name: fmt.Sprintf("4.x opcode %#x", byte(op)), send: fr(op, true, ""), fail: CloseProtocolError},
			confCase{name: fmt.Sprintf("4.x opcode %#x after echo", byte(op)),
				send: cat(fr(wsframe.OpText, true, "ok"), fr(op, true, "payload"), fr(wsframe.OpPing, true, "")),
				want: []wantFrame{echoT("ok")}, fail: CloseProtocolError})
	}
	cases = append(cases, []confCase{
		// 5.* fragmentation
		{name: "5.1 fragmented ping", send: cat(fr(wsframe.OpPing, false, "frag"), fr(wsframe.OpContinuation, true, "ment")), fail: CloseProtocolError},
		{name: "5.2 fragmented pong", send: cat(fr(wsframe.OpPong, false, "frag"), fr(wsframe.OpContinuation, true, "ment")), fail: CloseProtocolError},
		{name: "5.3 text in 2 fragments", send: cat(fr(wsframe.OpText, false, "frag"), fr(wsframe.OpContinuation, true, "ment")), want: []wantFrame{echoT("fragment")}},
		{name: "5.4 binary in 3 fragments", send: cat(fr(wsframe.OpBinary, false, "a"), fr(wsframe.OpContinuation, false, ""), fr(wsframe.OpContinuation, true, "\xff")), want: []wantFrame{echoB("a\xff")}},
		{name: "5.6 ping between fragments", send: cat(fr(wsframe.OpText, false, "frag"), fr(wsframe.OpPing, true, "p"), fr(wsframe.OpContinuation, true, "ment")),
			want: []wantFrame{pongF("p"), echoT("fragment")}},
		{name: "5.8 pong between fragments", send: cat(fr(wsframe.OpText, false, "frag"), fr(wsframe.OpPong, true, "p"), fr(wsframe.OpContinuation, true, "ment")),
			want: []wantFrame{echoT("fragment")}},
		{name: "5.9 continuation without start", send: cat(fr(wsframe.OpContinuation, true, "x"), fr(wsframe.OpText, true, "y")), fail: CloseProtocolError},
		{name: "5.10 non-final continuation without start", send: fr(wsframe.OpContinuation, false, "x"), fail: CloseProtocolError},
		{name: "5.15 continuation after the message ended", send: cat(fr(wsframe.OpText, false, "a"), fr(wsframe.OpContinuation, true, "b"), fr(wsframe.OpContinuation, false, "c"), fr(wsframe.OpContinuation, true, "d")),
			want: []wantFrame{echoT("ab")}, fail: CloseProtocolError},
		{name: "5.18 new message inside a fragmented one", send: cat(fr(wsframe.OpText, false, "a"), fr(wsframe.OpText, true, "b")), fail: CloseProtocolError},
		{name: "5.19 five fragments with pings", send: cat(
			fr(wsframe.OpText, false, "1"), fr(wsframe.OpContinuation, false, "2"), fr(wsframe.OpPing, true, "p1"),
			fr(wsframe.OpContinuation, false, "3"), fr(wsframe.OpContinuation, false, "4"), fr(wsframe.OpPing, true, "p2"), fr(wsframe.OpContinuation, true, "5")),
			want: []wantFrame{pongF("p1"), pongF("p2"), echoT("12345")}},
		{name: "5.20 fragmented close", send: cat(fr(wsframe.OpClose, false, ""), fr(wsframe.OpContinuation, true, "")), fail: CloseProtocolError},
		{name: "5.x close inside a fragmented message", send: cat(fr(wsframe.OpText, false, "a"), closeFr(CloseNormal, "")), closeEcho: CloseNormal},

		// 6.* UTF-8
		{name: "6.1 valid", send: fr(wsframe.OpText, true, "κόσμε"), want: []wantFrame{echoT("κόσμε")}},
		{name: "6.2 valid split inside a code point", send: cat(fr(wsframe.OpText, false, "κ\xcf"), fr(wsframe.OpContinuation, false, "\x8c"), fr(wsframe.OpContinuation, true, "σμε")),
			want: []wantFrame{echoT("κόσμε")}},
		{name: "6.3 valid 4-byte split bytewise", send: cat(fr(wsframe.OpText, false, "\xf0"), fr(wsframe.OpContinuation, false, "\x9f"), fr(wsframe.OpContinuation, false, "\x98"), fr(wsframe.OpContinuation, true, "\x80")),
			want: []wantFrame{echoT("😀")}},
		{name: "6.4 invalid: surrogate", send: fr(wsframe.OpText, true, "κόσμε\xed\xa0\x80edited"), fail: CloseInvalidPayload},
		{name: "6.5 invalid: overlong", send: fr(wsframe.OpText, true, "\xc0\xaf"), fail: CloseInvalidPayload},
		{name: "6.6 invalid: beyond U+10FFFF", send: fr(wsframe.OpText, true, "\xf4\x90\x80\x80"), fail: CloseInvalidPayload},
		{name: "6.7 invalid: truncated at the end", send: fr(wsframe.OpText, true, "abc\xce"), fail: CloseInvalidPayload},
		{name: "6.8 invalid split across fragments", send: cat(fr(wsframe.OpText, false, "κ\xcf"), fr(wsframe.OpContinuation, true, "\x41")), fail: CloseInvalidPayload},
		// Fail fast: the first fragment is enough; the rest is never sent.
		{name: "6.9 invalid first fragment fails fast", send: fr(wsframe.OpText, false, "κόσμε\xed\xa0\x80"), fail: CloseInvalidPayload},
		{name: "6.10 truncated code point at the last fragment", send: cat(fr(wsframe.OpText, false, "ab"), fr(wsframe.OpContinuation, true, "\xe2\x82")), fail: CloseInvalidPayload},
		{name: "6.11 binary is not checked", send: fr(wsframe.OpBinary, true, "\xed\xa0\x80"), want: []wantFrame{echoB("\xed\xa0\x80")}},
		{name: "6.12 valid 2-byte runes in a 100 KB frame", send: fr(wsframe.OpText, true, s("é", 50000)), want: []wantFrame{echoT(s("é", 50000))}},

		// 6.4.* fail fast (Autobahn's 6.4.1–6.4.4 send the rest after a
		// pause; here the rest is never sent, so only a server failing on
		// the bytes it has can pass).
		{name: "6.4.1 invalid second fragment, third never sent",
			send: cat(fr(wsframe.OpText, false, k1), fr(wsframe.OpContinuation, false, k2)), fail: CloseInvalidPayload},
		{name: "6.4.2 second fragment is the invalid byte",
			send: cat(fr(wsframe.OpText, false, k1+"\xf4"), fr(wsframe.OpContinuation, false, "\x90")), fail: CloseInvalidPayload},
		{name: "6.4.3 invalid bytes inside an incomplete frame",
			send: prefixOf(fr(wsframe.OpText, true, k1+k2+k3), len(k3)), fail: CloseInvalidPayload},
		{name: "6.4.4 incomplete frame cut right after the invalid byte",
			send: prefixOf(fr(wsframe.OpText, true, k1+k2+k3), len(k3)+2), fail: CloseInvalidPayload},
		{name: "6.4.x invalid byte inside an incomplete continuation",
			send: cat(fr(wsframe.OpText, false, k1), prefixOf(fr(wsframe.OpContinuation, true, k2+k3), len(k3))), fail: CloseInvalidPayload},
		{name: "6.4.x invalid byte after 80 KB of a 200 KB frame",
			send: prefixOf(fr(wsframe.OpText, true, s("é", 40000)+k2+s("x", 120000)), 120000), fail: CloseInvalidPayload},
		{name: "6.4.x invalid byte after 80 KB of a 200 KB continuation",
			send: cat(fr(wsframe.OpText, false, "\xce"), prefixOf(fr(wsframe.OpContinuation, true, "\xba"+s("é", 40000)+k2+s("x", 120000)), 120000)), fail: CloseInvalidPayload},

		// 7.* close handling
		{name: "7.1.1 echo then close", send: cat(fr(wsframe.OpText, true, "hello"), closeFr(CloseNormal, "")), want: []wantFrame{echoT("hello")}, closeEcho: CloseNormal},
		{name: "7.1.2 empty close", send: fr(wsframe.OpClose, true, ""), closeEcho: CloseNoStatus},
		{name: "7.1.3 frames after close are ignored", send: cat(closeFr(CloseNormal, ""), fr(wsframe.OpPing, true, "p"), fr(wsframe.OpText, true, "x")), closeEcho: CloseNormal},
		{name: "7.3.1 close with reason", send: closeFr(CloseNormal, "Hello World!"), closeEcho: CloseNormal},
		{name: "7.3.2 close with 123-byte reason", send: closeFr(CloseNormal, s("*", 123)), closeEcho: CloseNormal},
		{name: "7.3.3 close with 124-byte reason", send: closeFr(CloseNormal, s("*", 124)), fail: CloseProtocolError},
		{name: "7.3.4 close with 1-byte payload", send: maskedFrame(wsframe.OpClose, true, false, []byte{0x03}), fail: CloseProtocolError},
		{name: "7.5.1 invalid UTF-8 reason", send: closeFr(CloseNormal, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"), fail: CloseInvalidPayload},
	}...)
	for _, code := range []StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		cases = append(cases, confCase{name: fmt.Sprintf("7.7 valid close code %d", code), send: closeFr(code, ""), closeEcho: code})
	}
	for _, code := range []StatusCode{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, confCase{name: fmt.Sprintf("7.9 invalid close code %d", code), send: closeFr(code, ""), fail: CloseProtocolError})
	}
	cases = append(cases, []confCase{
		// 9.* limits
		{name: "9.x message at the read limit", opts: limitOpts, send: fr(wsframe.OpBinary, true, s("*", 1000)), want: []wantFrame{echoB(s("*", 1000))}},
		{name: "9.x message over the read limit", opts: limitOpts, send: fr(wsframe.OpBinary, true, s("*", 1001)), fail: CloseMessageTooBig},
		{name: "9.x big frame fails on its header", opts: limitOpts, send: fr(wsframe.OpText, true, s("*", 100000))[:20], fail: CloseMessageTooBig},
		{name: "9.x fragments over the read limit", opts: limitOpts,
			send: cat(fr(wsframe.OpText, false, s("*", 600)), fr(wsframe.OpContinuation, true, s("*", 401))), fail: CloseMessageTooBig},
		{name: "9.x compressed message inflating over the read limit", opts: &Options{ReadLimit: 1000, Compression: deflateOpts.Compression}, ext: deflateExt,
			send: fz(wsframe.OpText, true, deflateOne(t, s("*", 5000))), fail: CloseMessageTooBig},
		{name: "9.x unmasked client frame", send: unmaskedFrame(wsframe.OpText, "x"), fail: CloseProtocolError},
		{name: "9.x unmasked ping after echo", send: cat(fr(wsframe.OpText, true, "ok"), unmaskedFrame(wsframe.OpPing, "")), want: []wantFrame{echoT("ok")}, fail: CloseProtocolError},

		// 12/13.* permessage-deflate
		{name: "12.x compressed text", opts: deflateOpts, ext: deflateExt, send: fz(wsframe.OpText, true, zbig), want: []wantFrame{echoT(big)}},
		{name: "12.x compressed binary", opts: deflateOpts, ext: deflateExt, send: fz(wsframe.OpBinary, true, zbig), want: []wantFrame{echoB(big)}},
		{name: "12.x small compressed text", opts: deflateOpts, ext: deflateExt, send: fz(wsframe.OpText, true, zsmall), want: []wantFrame{echoT("small")}},
		{name: "12.x compressed empty", opts: deflateOpts, ext: deflateExt, send: fz(wsframe.OpText, true, deflateOne(t, "")), want: []wantFrame{echoT("")}},
		{name: "12.x uncompressed on a deflate connection", opts: deflateOpts, ext: deflateExt, send: fr(wsframe.OpText, true, big), want: []wantFrame{echoT(big)}},
		{name: "12.x compressed fragmented", opts: deflateOpts, ext: deflateExt,
			send: cat(fz(wsframe.OpText, false, zbig[:10]), fr(wsframe.OpPing, true, "p"), fr(wsframe.OpContinuation, false, string(zbig[10:20])), fr(wsframe.OpContinuation, true, string(zbig[20:]))),
			want: []wantFrame{pongF("p"), echoT(big)}},
		{name: "12.x ten compressed messages", opts: deflateOpts, ext: deflateExt,
			send: bytes.Repeat(fz(wsframe.OpText, true, zbig), 10),
			want: []wantFrame{echoT(big), echoT(big), echoT(big), echoT(big), echoT(big), echoT(big), echoT(big), echoT(big), echoT(big), echoT(big)}},
		{name: "13.x RSV1 on a continuation", opts: deflateOpts, ext: deflateExt,
			send: cat(fz(wsframe.OpText, false, zbig[:10]), fz(wsframe.OpContinuation, true, zbig[10:])), fail: CloseProtocolError},
		{name: "13.x RSV1 on a ping", opts: deflateOpts, ext: deflateExt, send: fb(bitRSV1, wsframe.OpPing, true, ""), fail: CloseProtocolError},
		{name: "13.x invalid deflate data", opts: deflateOpts, ext: deflateExt, send: fz(wsframe.OpBinary, true, []byte{0xff, 0xff, 0xff, 0xff}), fail: CloseInvalidPayload},
		{name: "13.x compressed invalid UTF-8", opts: deflateOpts, ext: deflateExt, send: fz(wsframe.OpText, true, deflateOne(t, "ok\xed\xa0\x80")), fail: CloseInvalidPayload},
		{name: "13.x RSV1 when deflate was declined", opts: &Options{}, ext: deflateExt, send: fz(wsframe.OpText, true, zsmall), fail: CloseProtocolError},
	}...)
	return cases
}

// TestConformance runs every case in every split mode, each on its own
// connection to one shared server per option set.
func TestConformance(t *testing.T) {
	servers := map[*Options]*wsServer{}
	server := func(opts *Options) *wsServer {
		if ws := servers[opts]; ws != nil {
			return ws
		}
		o := Options{}
		if opts != nil {
			o = *opts
		}
		o.PingInterval = -1
		o.CloseTimeout = testTimeout // a case that hangs fails on its own read
		ws := startEcho(t, loop.Config{Loops: 2}, &Upgrader{Options: o})
		servers[opts] = ws
		return ws
	}
	for _, tt := range conformanceCases(t) {
		for _, mode := range []splitMode{splitWhole, splitBytes, splitRandom} {
			if mode == splitBytes && len(tt.send) > 8<<10 {
				// One write per byte of a 64 KiB frame adds seconds under
				// -race for nothing: the header and its boundaries are
				// what matter, and random splits cover the rest.
				continue
			}
			ws := server(tt.opts) // started here: the map is not for parallel use
			t.Run(tt.name+"/"+mode.String(), func(t *testing.T) {
				t.Parallel()
				runConformance(t, ws, tt, mode)
			})
		}
	}
}

func runConformance(t *testing.T, ws *wsServer, tt confCase, mode splitMode) {
	var extra []string
	if tt.ext != "" {
		extra = append(extra, "Sec-WebSocket-Extensions: "+tt.ext)
	}
	rc := openWS(t, ws.HostPort, "/", extra...)
	rc.split = mode
	h := fnv.New64a()
	h.Write([]byte(tt.name))
	rc.rng = mrand.New(mrand.NewPCG(h.Sum64(), uint64(mode))) // reproducible random splits
	// Write concurrently with reading: a server that fails fast may stop
	// reading, and a big echo may fill both directions' buffers.
	done := make(chan struct{})
	go func() {
		defer close(done)
		rc.write(tt.send)
	}()
	defer func() { <-done }()

	for i, w := range tt.want {
		f := rc.mustFrame()
		if w.op.IsControl() {
			if f.op != w.op || string(f.payload) != w.payload {
				t.Fatalf("frame %d: got %v; want %v %.40q", i, f, w.op, w.payload)
			}
			continue
		}
		if f.op != w.op || !f.fin {
			t.Fatalf("frame %d: got %v; want a whole %v message", i, f, w.op)
		}
		p := f.payload
		if f.rsv1 {
			if tt.ext == "" {
				t.Fatalf("frame %d: RSV1 set without permessage-deflate", i)
			}
			p = inflateMsg(t, p)
		}
		if string(p) != w.payload {
			t.Fatalf("frame %d: got %v %.40q (%d bytes); want %.40q (%d bytes)", i, f.op, p, len(p), w.payload, len(w.payload))
		}
	}
	switch {
	case tt.fail != 0:
		rc.expectClose(tt.fail)
	case tt.closeEcho != 0:
		rc.expectClose(tt.closeEcho)
	default:
		<-done
		rc.write(closeFr(CloseNormal, "done"))
		rc.expectClose(CloseNormal)
	}
}

// TestConformanceCloseEchoBody checks that the echoed close carries the
// code only: a reason is the sender's, not ours to repeat.
func TestConformanceCloseEchoBody(t *testing.T) {
	ws := startEcho(t, loop.Config{}, &Upgrader{Options: Options{PingInterval: -1}})
	rc := openWS(t, ws.HostPort, "/")
	rc.write(closeFr(4321, "my reason"))
	f := rc.mustFrame()
	if f.op != wsframe.OpClose || string(f.payload) != string(closeBodyBytes(4321, "")) {
		t.Fatalf("got %v; want close 4321 with no reason", f)
	}
	rc.expectClosed()
}

// TestHandshake checks the opening handshake's answers (RFC 6455,
// Section 4.2).
func TestHandshake(t *testing.T) {
	up := &Upgrader{Options: Options{
		PingInterval: -1,
		Subprotocols: []string{"v2.chat", "v1.chat"},
		Compression:  DeflateConfig{Enabled: true, ServerNoContextTakeover: true},
	}}
	ws := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/", func(c *loop.Ctx) {
			up.Upgrade(c, Handler{OnOpen: func(s *Socket) {
				s.Send("subprotocol=" + s.Subprotocol() + " compressed=" + fmt.Sprint(s.Compressed()))
			}})
		})
	})
	host := ws.HostPort
	tests := []struct {
		name    string
		req     string
		status  int
		headers map[string]string // exact values; "" = must be absent
		welcome string            // first message after a 101
	}{
		{name: "plain", req: handshakeRequest(host, "/"), status: 101,
			headers: map[string]string{"Upgrade": "websocket", "Sec-WebSocket-Protocol": "", "Sec-WebSocket-Extensions": ""},
			welcome: "subprotocol= compressed=false"},
		{name: "RFC sample key", req: handshakeRequest(host, "/", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="), status: 101,
			headers: map[string]string{"Sec-WebSocket-Accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}},
		{name: "missing key", req: handshakeRequest(host, "/", "-Sec-WebSocket-Key"), status: 400},
		{name: "short key", req: handshakeRequest(host, "/", "Sec-WebSocket-Key: dGhlIHNhbXBsZQ=="), status: 400},
		{name: "key not base64", req: handshakeRequest(host, "/", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="), status: 400},
		{name: "version 8", req: handshakeRequest(host, "/", "Sec-WebSocket-Version: 8"), status: 426,
			headers: map[string]string{"Sec-WebSocket-Version": "13"}},
		{name: "no version", req: handshakeRequest(host, "/", "-Sec-WebSocket-Version"), status: 426,
			headers: map[string]string{"Sec-WebSocket-Version": "13"}},
		{name: "not an upgrade", req: "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n", status: 426},
		{name: "upgrade to something else", req: handshakeRequest(host, "/", "Upgrade: h2c"), status: 426},
		{name: "connection without upgrade", req: handshakeRequest(host, "/", "Connection: keep-alive"), status: 426},
		{name: "connection list", req: handshakeRequest(host, "/", "Connection: keep-alive, Upgrade", "Upgrade: WebSocket"), status: 101},
		{name: "HTTP/1.0", req: strings.Replace(handshakeRequest(host, "/"), "HTTP/1.1", "HTTP/1.0", 1), status: 426},
		{name: "POST", req: strings.Replace(handshakeRequest(host, "/"), "GET", "POST", 1), status: 405},
		{name: "cross origin", req: handshakeRequest(host, "/", "Origin: http://evil.example"), status: 403},
		{name: "same origin", req: handshakeRequest(host, "/", "Origin: http://"+host), status: 101},
		{name: "same origin, other case", req: handshakeRequest(host, "/", "Origin: HTTP://"+strings.ToUpper(host)), status: 101},
		{name: "origin with other port", req: handshakeRequest(host, "/", "Origin: http://127.0.0.1:1"), status: 403},
		{name: "null origin", req: handshakeRequest(host, "/", "Origin: null"), status: 403},
		{name: "subprotocol by server preference", req: handshakeRequest(host, "/", "Sec-WebSocket-Protocol: v1.chat, v2.chat"), status: 101,
			headers: map[string]string{"Sec-WebSocket-Protocol": "v2.chat"}, welcome: "subprotocol=v2.chat compressed=false"},
		{name: "subprotocol over two lines", req: handshakeRequest(host, "/", "Sec-WebSocket-Protocol: foo", "X-Pad: 1\r\nSec-WebSocket-Protocol: v1.chat"), status: 101,
			headers: map[string]string{"Sec-WebSocket-Protocol": "v1.chat"}, welcome: "subprotocol=v1.chat compressed=false"},
		{name: "no common subprotocol", req: handshakeRequest(host, "/", "Sec-WebSocket-Protocol: mqtt"), status: 101,
			headers: map[string]string{"Sec-WebSocket-Protocol": ""}, welcome: "subprotocol= compressed=false"},
		{name: "deflate", req: handshakeRequest(host, "/", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"), status: 101,
			headers: map[string]string{"Sec-WebSocket-Extensions": "permessage-deflate; server_no_context_takeover"}, welcome: "subprotocol= compressed=true"},
		{name: "unknown extension", req: handshakeRequest(host, "/", "Sec-WebSocket-Extensions: x-webkit-deflate-frame"), status: 101,
			headers: map[string]string{"Sec-WebSocket-Extensions": ""}, welcome: "subprotocol= compressed=false"},
		{name: "second offer accepted", req: handshakeRequest(host, "/", "Sec-WebSocket-Extensions: permessage-deflate; bogus, permessage-deflate"), status: 101,
			headers: map[string]string{"Sec-WebSocket-Extensions": "permessage-deflate; server_no_context_takeover"}, welcome: "subprotocol= compressed=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, ws.HostPort, nil)
			resp := rc.handshake(tt.req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d; want %d", resp.StatusCode, tt.status)
			}
			for k, v := range tt.headers {
				if got := strings.Join(resp.Header.Values(k), ", "); got != v {
					t.Errorf("%s: %q; want %q", k, got, v)
				}
			}
			if tt.status != 101 {
				if resp.Header.Get("Sec-WebSocket-Accept") != "" {
					t.Errorf("Sec-WebSocket-Accept on a %d", resp.StatusCode)
				}
				return
			}
			if resp.Header.Get("Sec-WebSocket-Accept") == "" {
				t.Error("no Sec-WebSocket-Accept")
			}
			if tt.welcome != "" {
				rc.expectText(tt.welcome)
			}
			rc.write(closeFr(CloseNormal, ""))
			for {
				f := rc.mustFrame()
				if f.op == wsframe.OpClose {
					break
				}
			}
			rc.expectClosed()
		})
	}
}

// TestHandshakeAcceptKey checks Sec-WebSocket-Accept against the key
// actually sent.
func TestHandshakeAcceptKey(t *testing.T) {
	ws := startEcho(t, loop.Config{}, &Upgrader{Options: Options{PingInterval: -1}})
	rc := dialRaw(t, ws.HostPort, nil)
	req := handshakeRequest(ws.HostPort, "/")
	i := strings.Index(req, "Sec-WebSocket-Key: ") + len("Sec-WebSocket-Key: ")
	key := req[i : i+24]
	resp := rc.handshake(req)
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), wsframe.AcceptKey([]byte(key)); got != want {
		t.Fatalf("Sec-WebSocket-Accept %q; want %q", got, want)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestHandshakeWithFirstFrame sends the upgrade request and the first
// frames in one write: the frames follow the request in the loop's input
// and must reach the socket.
func TestHandshakeWithFirstFrame(t *testing.T) {
	ws := startEcho(t, loop.Config{}, &Upgrader{Options: Options{PingInterval: -1}})
	for _, mode := range []splitMode{splitWhole, splitBytes} {
		t.Run(mode.String(), func(t *testing.T) {
			rc := dialRaw(t, ws.HostPort, nil)
			rc.split = mode
			rc.write(append([]byte(handshakeRequest(ws.HostPort, "/")), cat(fr(wsframe.OpText, true, "first"), fr(wsframe.OpPing, true, "p"))...))
			resp, err := http.ReadResponse(rc.br, nil)
			if err != nil || resp.StatusCode != 101 {
				t.Fatalf("handshake: %v, %v", resp, err)
			}
			rc.expectText("first")
			if f := rc.mustFrame(); f.op != wsframe.OpPong || string(f.payload) != "p" {
				t.Fatalf("got %v; want pong \"p\"", f)
			}
			rc.write(closeFr(CloseNormal, ""))
			rc.expectClose(CloseNormal)
		})
	}
}
