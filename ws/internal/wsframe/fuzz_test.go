package wsframe

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// FuzzFrameParse runs the decoder on arbitrary bytes: it must never panic
// or claim more than it was given, and it must reach the same result fed
// whole, byte by byte and in random pieces.
func FuzzFrameParse(f *testing.F) {
	for _, tt := range decoderCases(f) {
		if len(tt.in) <= 4096 {
			f.Add(tt.in, tt.cfg.Deflate, uint16(0))
		}
	}
	f.Add(cat(cf(OpText, false, "κό\xcf"), cf(OpContinuation, true, "\x83με")), false, uint16(3))
	f.Add(cfz(OpText, true, deflateStdNoCtx(f, "hello hello hello")), true, uint16(5))
	f.Fuzz(func(t *testing.T, in []byte, deflate bool, limit uint16) {
		cfg := DecoderConfig{Deflate: deflate, ReadLimit: int64(limit)}
		if len(in) > 1<<16 {
			return
		}
		want := runDecoder(t, cfg, in, "whole", nil)
		rng := rand.New(rand.NewPCG(uint64(len(in)), uint64(limit)))
		if got := runDecoder(t, cfg, in, "random", rng); got.String() != want.String() {
			t.Fatalf("random splits: %v; whole: %v", got, want)
		}
		if len(in) <= 1024 {
			got := runDecoder(t, cfg, in, "bytewise", nil)
			if got.String() != want.String() {
				t.Fatalf("bytewise: %v; whole: %v", got, want)
			}
			// An error depends only on the bytes that have arrived, not on
			// how they were cut: the bytes up to the one where the
			// bytewise run failed fail whole, and one byte fewer do not.
			// (This is what lets invalid UTF-8 fail inside a frame.)
			if got.code != 0 {
				if at := runDecoder(t, cfg, in[:got.at], "whole", nil); at.code != got.code {
					t.Fatalf("bytewise failed with %d after %d bytes; those bytes whole: %v", got.code, got.at, at)
				}
				if before := runDecoder(t, cfg, in[:got.at-1], "whole", nil); before.code != 0 {
					t.Fatalf("bytewise failed with %d after %d bytes; one byte fewer whole: %v", got.code, got.at, before)
				}
			}
		}
		for _, ev := range want.events {
			if ev.Kind == EventMessage && ev.Op == OpText && !utf8.ValidString(ev.Payload) {
				t.Fatalf("delivered invalid UTF-8 text %q", ev.Payload)
			}
			if ev.Kind == EventMessage && int64(len(ev.Payload)) > max(int64(limit), 0) && limit != 0 {
				t.Fatalf("delivered %d bytes over the limit %d", len(ev.Payload), limit)
			}
		}
	})
}

// FuzzUTF8 compares UTF8Validator with utf8.Valid, whole and split, and
// checks that the decoder fails a text frame carrying b at the first byte
// that no valid UTF-8 can continue (firstInvalid, built on utf8.Valid),
// with the frame still incomplete, in one frame and in two fragments cut
// at cut.
func FuzzUTF8(f *testing.F) {
	for _, s := range classicInvalid {
		f.Add([]byte(s), uint8(1))
	}
	for _, s := range classicValid {
		f.Add([]byte(s), uint8(2))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		want := utf8.Valid(b)
		if got := validateSplit(b, nil); got != want {
			t.Fatalf("whole %q = %v; want %v", b, got, want)
		}
		c := int(cut) % (len(b) + 1)
		if got := validateSplit(b, []int{c}); got != want {
			t.Fatalf("%q split at %d = %v; want %v", b, c, got, want)
		}
		if len(b) <= 256 {
			var cuts []int
			for i := 1; i < len(b); i++ {
				cuts = append(cuts, i)
			}
			if got := validateSplit(b, cuts); got != want {
				t.Fatalf("%q byte by byte = %v; want %v", b, got, want)
			}
		}

		if len(b) > 1024 {
			return
		}
		bad := firstInvalid(b)
		var v UTF8Validator
		if !v.Write(b[:bad]) || (bad < len(b) && v.Write(b[bad:bad+1])) {
			t.Fatalf("%q: validator disagrees with the first invalid byte at %d", b, bad)
		}
		payload := string(b) + "!" // the frame goes on past the last byte of b
		type framed struct {
			in  []byte
			pos func(i int) int // where payload[i] is in in
		}
		h1 := frameHeaderLen(len(payload)) + 4
		cases := []framed{{cf(OpText, true, payload), func(i int) int { return h1 + i }}}
		if c < len(b) {
			f1 := cf(OpText, false, payload[:c])
			h2 := len(f1) + frameHeaderLen(len(payload)-c) + 4
			hc := frameHeaderLen(c) + 4
			cases = append(cases, framed{cat(f1, cf(OpContinuation, true, payload[c:])), func(i int) int {
				if i < c {
					return hc + i
				}
				return h2 + i - c
			}})
		}
		for _, fr := range cases {
			end := fr.pos(bad) // bad == len(b) is the "!", always valid
			for _, mode := range []string{"whole", "random"} {
				rng := rand.New(rand.NewPCG(uint64(cut), uint64(len(b))))
				if before := runDecoder(t, DecoderConfig{}, fr.in[:end], mode, rng); before.code != 0 {
					t.Fatalf("%q (%d bytes of %x, %s): %v before the first invalid byte at %d", b, end, fr.in, mode, before, bad)
				}
				if bad == len(b) {
					continue
				}
				if at := runDecoder(t, DecoderConfig{}, fr.in[:end+1], mode, rng); at.code != CloseInvalidPayload {
					t.Fatalf("%q (%d bytes of %x, %s): %v with the first invalid byte at %d; want 1007", b, end+1, fr.in, mode, at, bad)
				}
			}
		}
	})
}

// FuzzNegotiateDeflate checks that negotiation never panics, agrees only
// valid windows, and that its response, read back as an offer, agrees the
// same parameters.
func FuzzNegotiateDeflate(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate", "permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_max_window_bits=10; client_max_window_bits=9, permessage-deflate",
		"permessage-deflate;server_no_context_takeover;client_no_context_takeover",
		`foo; bar="a, b; c", permessage-deflate; client_max_window_bits="12"`,
		"x-webkit-deflate-frame", "permessage-deflate; server_max_window_bits=016",
	} {
		f.Add([]byte(s), uint8(0), uint8(0), false)
	}
	f.Fuzz(func(t *testing.T, offer []byte, sbits, cbits uint8, noCtx bool) {
		cfg := DeflateConfig{Enabled: true, ServerMaxWindowBits: int(sbits % 17), ClientMaxWindowBits: int(cbits % 17),
			ServerNoContextTakeover: noCtx}
		resp, p, ok := NegotiateDeflate(offer, cfg)
		if !ok {
			if resp != "" {
				t.Fatalf("declined with response %q", resp)
			}
			return
		}
		if p.ServerMaxWindowBits < 8 || p.ServerMaxWindowBits > 15 || p.ClientMaxWindowBits < 8 || p.ClientMaxWindowBits > 15 {
			t.Fatalf("NegotiateDeflate(%q) agreed windows %+v", offer, p)
		}
		resp2, p2, ok2 := NegotiateDeflate([]byte(resp), cfg)
		if !ok2 || resp2 != resp || p2 != p {
			t.Fatalf("response %q re-negotiates to %q, %+v, %v; want %+v", resp, resp2, p2, ok2, p)
		}
		if !bytes.HasPrefix([]byte(resp), []byte("permessage-deflate")) {
			t.Fatalf("response %q", resp)
		}
	})
}
