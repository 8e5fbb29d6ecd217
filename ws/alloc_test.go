//go:build !race

package ws

import (
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/ws/internal/wsframe"
)

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
	req := maskedFrame(wsframe.OpText, true, false, msg)
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
