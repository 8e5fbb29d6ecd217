//go:build !race

package ws

import (
	"strings"
	"testing"
)

func TestDecoderAllocs(t *testing.T) {
	frame := cf(OpText, true, strings.Repeat("x", 32))
	frag := cat(cf(OpText, false, "κό\xcf"), cf(OpPing, true, "p"), cf(OpContinuation, true, "\x83με"))
	z := cfz(OpText, true, deflateStdNoCtx(t, strings.Repeat("compress me ", 50)))
	buf := make([]byte, 4096)
	tests := []struct {
		name  string
		cfg   DecoderConfig
		in    []byte
		reset bool
	}{
		{"single frame", DecoderConfig{}, frame, false},
		{"fragmented steady state", DecoderConfig{}, frag, false},
		{"compressed steady state", DecoderConfig{Deflate: true, ClientNoContextTakeover: true}, z, false},
	}
	for _, tt := range tests {
		var d Decoder
		d.Init(tt.cfg)
		run := func() {
			b := buf[:copy(buf, tt.in)]
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
		{"AppendClose", func() { dst = AppendClose(dst[:0], CloseGoingAway, "shutting down") }},
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
