package wsframe

import (
	"strings"
	"testing"
)

func BenchmarkDecodeText32(b *testing.B) {
	frame := cf(OpText, true, strings.Repeat("x", 32))
	buf := make([]byte, len(frame))
	var d Decoder
	d.Init(DecoderConfig{})
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		copy(buf, frame)
		if _, _, err := d.Next(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeText4K(b *testing.B) {
	frame := cf(OpText, true, strings.Repeat("héllo wörld ", 4096/14))
	buf := make([]byte, len(frame))
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		copy(buf, frame)
		if _, _, err := d.Next(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFragmented(b *testing.B) {
	in := cat(cf(OpText, false, strings.Repeat("a", 512)), cf(OpContinuation, false, strings.Repeat("b", 512)), cf(OpContinuation, true, strings.Repeat("c", 512)))
	buf := make([]byte, len(in))
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		copy(buf, in)
		for p := buf; len(p) > 0; {
			_, n, err := d.Next(p)
			if err != nil {
				b.Fatal(err)
			}
			p = p[n:]
		}
	}
}

func BenchmarkDecodeCompressed(b *testing.B) {
	for _, noCtx := range []bool{false, true} {
		name := "takeover"
		if noCtx {
			name = "no_context_takeover"
		}
		b.Run(name, func(b *testing.B) {
			msg := strings.Repeat(`{"user":"alice","text":"hello there"} `, 30)
			z := deflateStdNoCtx(b, msg)
			frame := cfz(OpText, true, z)
			buf := make([]byte, len(frame))
			var d Decoder
			d.Init(DecoderConfig{Deflate: true, ClientNoContextTakeover: noCtx})
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				copy(buf, frame)
				if _, _, err := d.Next(buf); err != nil {
					b.Fatal(err)
				}
				// The same frame again needs the same (empty) context.
				if d.msg != nil {
					d.msg.window = d.msg.window[:0]
				}
			}
		})
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	for _, size := range []int{32, 4096} {
		b.Run(strings.Repeat("x", 0)+itoa(size), func(b *testing.B) {
			payload := make([]byte, size)
			dst := make([]byte, 0, size+16)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				dst = AppendFrame(dst[:0], OpText, true, false, payload)
			}
		})
	}
}

func BenchmarkAppendCompressed(b *testing.B) {
	for _, noCtx := range []bool{false, true} {
		b.Run(map[bool]string{false: "takeover", true: "no_context_takeover"}[noCtx], func(b *testing.B) {
			msg := []byte(strings.Repeat(`{"user":"alice","text":"hello there"} `, 30))
			var c Compressor
			c.Init(DeflateParams{ServerNoContextTakeover: noCtx})
			dst := make([]byte, 0, 2048)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				dst = c.AppendMessage(dst[:0], OpText, msg)
			}
		})
	}
}

func BenchmarkMaskBytes4K(b *testing.B) {
	buf := make([]byte, 4096)
	key := [4]byte{1, 2, 3, 4}
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		MaskBytes(key, 1, buf)
	}
}

func BenchmarkUTF8Validate4K(b *testing.B) {
	for _, tc := range []struct{ name, s string }{
		{"ascii", strings.Repeat("a", 4096)},
		{"mixed", strings.Repeat("héllo wörld κόσμε ", 4096/24)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := []byte(tc.s)
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				var v UTF8Validator
				// Split in two so a rune straddles the pieces.
				if !v.Write(p[:len(p)/2+1]) || !v.Write(p[len(p)/2+1:]) || !v.Done() {
					b.Fatal("invalid")
				}
			}
		})
	}
}

func BenchmarkAppendAcceptKey(b *testing.B) {
	key := []byte("dGhlIHNhbXBsZSBub25jZQ==")
	dst := make([]byte, 0, AcceptKeyLen)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendAcceptKey(dst[:0], key)
	}
}

func itoa(n int) string {
	if n >= 1024 {
		return itoa(n/1024) + "K"
	}
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}
