package wsframe

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

func testMessages() []string {
	rng := rand.New(rand.NewPCG(9, 10))
	random := make([]byte, 70000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	return []string{
		// ≥ 128 bytes: klauspost's fast levels store smaller flushes
		// literally and drop the history, so takeover would not show.
		`{"type":"chat","user":"alice","text":"hello, world — with a repeated tail, repeated tail, repeated tail","ts":"2025-01-01T00:00:00Z","room":"lobby"}`,
		`{"type":"chat","user":"alice","text":"hello, world — with a repeated tail, repeated tail, repeated tail","ts":"2025-01-01T00:00:00Z","room":"lobby"}`,
		strings.Repeat("streamd ", 5000),
		"", "x",
		string(random), // incompressible, larger than one stored block
		`{"type":"chat","user":"bob","text":"bye"}`,
	}
}

// TestCompressorRoundTrip compresses with our Compressor and decodes with
// our Decoder, with and without context takeover on each side, over
// several messages, at several windows and levels.
func TestCompressorRoundTrip(t *testing.T) {
	for _, noCtx := range []bool{false, true} {
		for _, bits := range []int{15, 12, 9, 8} {
			for _, level := range []int{1, 5, 9} {
				t.Run(fmt.Sprintf("noctx=%v/bits=%d/level=%d", noCtx, bits, level), func(t *testing.T) {
					p := DeflateParams{ServerNoContextTakeover: noCtx, ClientNoContextTakeover: noCtx,
						ServerMaxWindowBits: bits, ClientMaxWindowBits: 15, Level: level, Threshold: -1}
					var c Compressor
					c.Init(p)
					defer c.Reset()
					var d Decoder
					// The decoder decodes what a client with the same
					// takeover setting would send: here, our own output.
					d.Init(DecoderConfig{Deflate: true, ClientNoContextTakeover: noCtx})
					var sizes []int
					for i, m := range testMessages() {
						z := c.AppendCompressed(nil, []byte(m))
						sizes = append(sizes, len(z))
						in := AppendMaskedFrame(nil, OpBinary, true, true, testKey, z)
						ev, n, err := d.Next(in)
						if err != nil || n != len(in) || ev.Kind != EventMessage || string(ev.Payload) != m {
							t.Fatalf("message %d: Next = %v, %d, %v; want %d bytes back", i, ev.Kind, n, err, len(m))
						}
					}
					// Context takeover makes the repeated message nearly free.
					if !noCtx && sizes[1] >= sizes[0]/2 {
						t.Errorf("with context takeover the repeat took %d bytes, the first %d", sizes[1], sizes[0])
					}
					if noCtx && sizes[1] != sizes[0] {
						t.Errorf("without context takeover the repeat took %d bytes, the first %d", sizes[1], sizes[0])
					}
				})
			}
		}
	}
}

// TestCompressorInterop checks that stdlib compress/flate inflates our
// output once the tail is added back, as one stream across messages
// (context takeover) or one stream per message.
func TestCompressorInterop(t *testing.T) {
	for _, noCtx := range []bool{false, true} {
		var c Compressor
		c.Init(DeflateParams{ServerNoContextTakeover: noCtx, Threshold: -1})
		var stream bytes.Buffer
		r := flate.NewReader(&stream)
		for i, m := range testMessages() {
			z := c.AppendCompressed(nil, []byte(m))
			if bytes.HasSuffix(z, deflateTail[:]) && len(m) > 0 {
				t.Fatalf("message %d: tail not stripped", i)
			}
			if noCtx {
				r.(flate.Resetter).Reset(&stream, nil)
			}
			stream.Write(z)
			stream.Write(deflateTail[:])
			got := make([]byte, len(m))
			if _, err := io.ReadFull(r, got); err != nil || string(got) != m {
				t.Fatalf("noctx=%v message %d: stdlib inflate = %v", noCtx, i, err)
			}
		}
	}
}

// TestInflateStdlib checks the other direction over several messages
// with context takeover: stdlib deflate, our inflater.
func TestInflateStdlib(t *testing.T) {
	msgs := testMessages()
	zs := deflateStd(t, msgs...)
	var d Decoder
	d.Init(DecoderConfig{Deflate: true, ClientMaxWindowBits: 15})
	for i, z := range zs {
		// Fragment the compressed data to exercise reassembly.
		var in []byte
		for j := 0; j < len(z) || j == 0; j += 1000 {
			op, rsv1 := OpContinuation, false
			if j == 0 {
				op, rsv1 = OpText, true
			}
			in = AppendMaskedFrame(in, op, j+1000 >= len(z), rsv1, testKey, z[j:min(j+1000, len(z))])
		}
		if i == 5 {
			in[0] = in[0]&^0x0f | byte(OpBinary) // the random one is not text
		}
		var got []byte
		for len(in) > 0 {
			ev, n, err := d.Next(in)
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if ev.Kind == EventMessage {
				got = ev.Payload
			}
			in = in[n:]
		}
		if string(got) != msgs[i] {
			t.Fatalf("message %d: got %d bytes; want %d", i, len(got), len(msgs[i]))
		}
	}
	if len(d.msg.window) != 1<<15 {
		t.Errorf("window = %d bytes; want 32 KiB", len(d.msg.window))
	}
}

func TestCompressorAppendMessage(t *testing.T) {
	var c Compressor
	c.Init(DeflateParams{ServerNoContextTakeover: true, Threshold: 100})
	for _, m := range []string{"short", strings.Repeat("long enough to compress ", 10), strings.Repeat("big ", 40000)} {
		frame := c.AppendMessage([]byte("prefix"), OpText, []byte(m))
		if string(frame[:6]) != "prefix" {
			t.Fatal("prefix clobbered")
		}
		frame = frame[6:]
		compressed := frame[0]&bitRSV1 != 0
		if compressed != (len(m) >= 100) {
			t.Errorf("AppendMessage(%d bytes): RSV1 = %v", len(m), compressed)
		}
		// Mask it as a client would and decode it.
		hl := frameHeaderLen(len(frame) - 2)
		if frame[1] == 126 {
			hl = 4
		} else if frame[1] == 127 {
			hl = 10
		} else {
			hl = 2
		}
		payload := frame[hl:]
		in := AppendMaskedFrame(nil, OpText, true, compressed, testKey, payload)
		var d Decoder
		d.Init(DecoderConfig{Deflate: true})
		ev, _, err := d.Next(in)
		if err != nil || string(ev.Payload) != m {
			t.Errorf("AppendMessage(%d bytes) does not round-trip: %v", len(m), err)
		}
		if want := AppendFrameHeader(nil, OpText, true, compressed, len(payload)); !bytes.Equal(frame[:hl], want) {
			t.Errorf("AppendMessage header %x; want %x", frame[:hl], want)
		}
	}
}

// TestInflateBombMemory checks that a decompression bomb costs no more
// than the read limit.
func TestInflateBombMemory(t *testing.T) {
	const limit = 256 << 10
	bomb := deflateStdNoCtx(t, strings.Repeat("\x00", 64<<20))
	var d Decoder
	d.Init(DecoderConfig{Deflate: true, ReadLimit: limit})
	_, _, err := d.Next(AppendMaskedFrame(nil, OpBinary, true, true, testKey, bomb))
	if closeStatus(err) != CloseMessageTooBig {
		t.Fatalf("bomb: err = %v; want 1009", err)
	}
	if cap(d.msg.out) > limit+limit/4+4096 {
		t.Errorf("bomb grew the output buffer to %d bytes; limit %d", cap(d.msg.out), limit)
	}
}

func TestNegotiateDeflate(t *testing.T) {
	on := DeflateConfig{Enabled: true}
	tests := []struct {
		offer            string
		cfg              DeflateConfig
		ok               bool
		resp             string
		srvBits, cliBits int
	}{
		{"permessage-deflate", on, true, "permessage-deflate", 15, 15},
		{"permessage-deflate", DeflateConfig{}, false, "", 0, 0},
		{"", on, false, "", 0, 0},
		{"x-webkit-deflate-frame", on, false, "", 0, 0},
		{"permessage-deflate; client_max_window_bits", on, true, "permessage-deflate", 15, 15},
		{"permessage-deflate; client_max_window_bits", DeflateConfig{Enabled: true, ClientMaxWindowBits: 10}, true,
			"permessage-deflate; client_max_window_bits=10", 15, 10},
		{"permessage-deflate; client_max_window_bits=12", DeflateConfig{Enabled: true, ClientMaxWindowBits: 10}, true,
			"permessage-deflate; client_max_window_bits=10", 15, 10},
		{"permessage-deflate; client_max_window_bits=9", on, true, "permessage-deflate; client_max_window_bits=9", 15, 9},
		{"permessage-deflate; client_max_window_bits=\"9\"", on, true, "permessage-deflate; client_max_window_bits=9", 15, 9},
		{"permessage-deflate; server_max_window_bits=15", on, true, "permessage-deflate; server_max_window_bits=15", 15, 15},
		{"permessage-deflate; server_max_window_bits=10", on, true, "permessage-deflate; server_max_window_bits=10", 10, 15},
		{"permessage-deflate", DeflateConfig{Enabled: true, ServerMaxWindowBits: 11}, true, "permessage-deflate", 11, 15},
		{"permessage-deflate;server_no_context_takeover;client_no_context_takeover", on, true,
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover", 15, 15},
		{"permessage-deflate", DeflateConfig{Enabled: true, ServerNoContextTakeover: true, ClientNoContextTakeover: true}, true,
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover", 15, 15},
		{"Permessage-Deflate; Client_Max_Window_Bits", on, true, "permessage-deflate", 15, 15},
		// Declined offers fall through to the next one.
		{"permessage-deflate; server_max_window_bits, permessage-deflate", on, true, "permessage-deflate", 15, 15},
		{"permessage-deflate; server_max_window_bits=16, permessage-deflate; client_no_context_takeover", on, true,
			"permessage-deflate; client_no_context_takeover", 15, 15},
		{"permessage-deflate; server_max_window_bits=7", on, false, "", 0, 0},
		{"permessage-deflate; server_max_window_bits=010", on, false, "", 0, 0},
		{"permessage-deflate; client_max_window_bits=08", on, false, "", 0, 0},
		{"permessage-deflate; client_max_window_bits=", on, false, "", 0, 0},
		{"permessage-deflate; server_no_context_takeover=1", on, false, "", 0, 0},
		{"permessage-deflate; client_no_context_takeover; client_no_context_takeover", on, false, "", 0, 0},
		{"permessage-deflate; client_max_window_bits; client_max_window_bits=10", on, false, "", 0, 0},
		{"permessage-deflate; unknown", on, false, "", 0, 0},
		{"permessage-deflate; client_max_window_bits=\"1\\0\"", on, false, "", 0, 0},
		// Other extensions, and their quoted values, are skipped.
		{`foo; bar="a, b; c", permessage-deflate`, on, true, "permessage-deflate", 15, 15},
		{"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits", on, true, "permessage-deflate", 15, 15},
		{" permessage-deflate ;  client_no_context_takeover  , foo ", on, true, "permessage-deflate; client_no_context_takeover", 15, 15},
		// Malformed headers are refused outright.
		{"permessage-deflate; client_max_window_bits=\"10", on, false, "", 0, 0},
		{"permessage-deflate,", on, false, "", 0, 0},
		{"permessage-deflate;", on, false, "", 0, 0},
		{"permessage-deflate client_max_window_bits", on, false, "", 0, 0},
		{",permessage-deflate", on, false, "", 0, 0},
	}
	for _, tt := range tests {
		resp, p, ok := NegotiateDeflate([]byte(tt.offer), tt.cfg)
		if ok != tt.ok || resp != tt.resp || (ok && (p.ServerMaxWindowBits != tt.srvBits || p.ClientMaxWindowBits != tt.cliBits)) {
			t.Errorf("NegotiateDeflate(%q) = %q, %+v, %v; want %q, bits %d/%d, %v", tt.offer, resp, p, ok, tt.resp, tt.srvBits, tt.cliBits, tt.ok)
		}
	}
	_, p, _ := NegotiateDeflate([]byte("permessage-deflate"), on)
	if p.Threshold != DefaultCompressionThreshold || p.Level != 1 {
		t.Errorf("defaults: %+v", p)
	}
}
