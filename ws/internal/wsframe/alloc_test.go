//go:build !race

package wsframe

import (
	"strings"
	"testing"
)

func TestDecoderAllocs(t *testing.T) {
	frame := cf(OpText, true, strings.Repeat("x", 32))
	frag := cat(cf(OpText, false, "κό\xcf"), cf(OpPing, true, "p"), cf(OpContinuation, true, "\x83με"))
	z := cfz(OpText, true, deflateStdNoCtx(t, strings.Repeat("compress me ", 50)))
	big := cf(OpText, true, strings.Repeat("κόσμε ", 300)) // 3300 bytes, validated over several scratch buffers
	buf := make([]byte, 4096)
	tests := []struct {
		name string
		cfg  DecoderConfig
		in   []byte
		cut  int // the input first arrives cut here (0: whole)
	}{
		{"single frame", DecoderConfig{}, frame, 0},
		{"fragmented steady state", DecoderConfig{}, frag, 0},
		{"compressed steady state", DecoderConfig{Deflate: true, ClientNoContextTakeover: true}, z, 0},
		{"text frame in two reads", DecoderConfig{}, big, 2001},
		{"fragment in two reads", DecoderConfig{}, frag, len(frag) - 3},
	}
	for _, tt := range tests {
		var d Decoder
		d.Init(tt.cfg)
		run := func() {
			b := buf[:copy(buf, tt.in)]
			for cut := tt.cut; cut > 0; {
				_, n, err := d.Next(b[:cut])
				if err == ErrNeedMore {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				b, cut = b[n:], cut-n
			}
			for len(b) > 0 {
				_, n, err := d.Next(b)
				if err != nil {
					t.Fatal(err)
				}
				b = b[n:]
			}
		}
		run() // warm the reusable buffers and pools
		if got := testing.AllocsPerRun(100, run); got != 0 {
			t.Errorf("%s: %v allocs per message; want 0", tt.name, got)
		}
	}
}

func TestEncoderAllocs(t *testing.T) {
	payload := []byte(strings.Repeat("y", 300))
	dst := make([]byte, 0, 1024)
	checks := []struct {
		name string
		f    func()
	}{
		{"AppendFrame", func() { dst = AppendFrame(dst[:0], OpText, true, false, payload) }},
		{"AppendClose", func() { dst = AppendClose(dst[:0], 1001, "shutting down") }},
		{"AppendAcceptKey", func() { dst = AppendAcceptKey(dst[:0], []byte("dGhlIHNhbXBsZSBub25jZQ==")) }},
		{"MaskBytes", func() { MaskBytes([4]byte{1, 2, 3, 4}, 0, payload) }},
	}
	var ctx, noCtx Compressor
	ctx.Init(DeflateParams{})
	noCtx.Init(DeflateParams{ServerNoContextTakeover: true})
	checks = append(checks,
		struct {
			name string
			f    func()
		}{"Compressor takeover", func() { dst = ctx.AppendMessage(dst[:0], OpText, payload) }},
		struct {
			name string
			f    func()
		}{"Compressor no_context_takeover", func() { dst = noCtx.AppendMessage(dst[:0], OpText, payload) }},
	)
	for _, c := range checks {
		c.f()
		if got := testing.AllocsPerRun(100, c.f); got != 0 {
			t.Errorf("%s: %v allocs; want 0", c.name, got)
		}
	}
}
