//go:build !race

package ws

import (
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/streamd/streamd/loop"
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

// TestEchoAllocs measures heap allocations per echoed message over a real
// socket: the server's decode, OnMessage, frame write and the loop's
// read/write path, for a 32-byte text message on one connection.
// testing.AllocsPerRun counts only the calling goroutine, so this reads
// the process-wide runtime.MemStats.Mallocs around 10k round trips. The
// client side (a prebuilt frame, io.ReadFull into a fixed buffer) does
// not allocate; the few allocations of the server's 100 ms ticker (one
// task closure per loop per tick) are spread over the run, which is why
// the bound is a small average rather than exactly 0.
//
// The rate-limited run checks that the limiter (which never runs out
// here) costs no allocation per message either.
func TestEchoAllocs(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testEchoAllocs(t, Options{PingInterval: -1}) })
	t.Run("rate limited", func(t *testing.T) { testEchoAllocs(t, Options{PingInterval: -1, MessageRate: 1e9}) })
}

func testEchoAllocs(t *testing.T, opts Options) {
	up := &Upgrader{Options: opts}
	ws := startEcho(t, loop.Config{Loops: 1}, up)
	rc := openWS(t, ws.HostPort, "/")
	msg := []byte(strings.Repeat("x", 32))
	req := maskedFrame(OpText, true, false, msg)
	resp := make([]byte, 2+len(msg))
	rc.conn.SetDeadline(time.Now().Add(testTimeout))
	echo := func(n int) {
		for range n {
			if _, err := rc.conn.Write(req); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(rc.br, resp); err != nil {
				t.Fatal(err)
			}
		}
	}
	echo(1000) // warm up buffers, pools and the loop's cork buffer
	if string(resp[2:]) != string(msg) {
		t.Fatalf("echo %q; want %q", resp[2:], msg)
	}
	const n = 10000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	echo(n)
	runtime.ReadMemStats(&after)
	perMsg := float64(after.Mallocs-before.Mallocs) / n
	t.Logf("%.4f allocations per echoed message (%d in %d round trips)", perMsg, after.Mallocs-before.Mallocs, n)
	if perMsg >= 0.1 {
		t.Errorf("%.3f allocations per echoed message; want < 0.1 (0 on the echo path itself)", perMsg)
	}
}
