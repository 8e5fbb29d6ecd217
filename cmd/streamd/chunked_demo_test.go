package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamd/streamd/loop"
)

// chunkLines is the body of /chunked?n=N.
func chunkLines(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("chunk " + strconv.Itoa(i) + "\n")
	}
	return b.String()
}

// TestChunkedIntervalBounds: intervals the timing wheel cannot keep
// (between 0 and its tick) are refused with a message naming the
// minimum, instead of silently becoming the tick.
func TestChunkedIntervalBounds(t *testing.T) {
	app := startApp(t, 1)
	tests := []struct {
		interval string
		status   int
	}{
		{"0", 200},
		{"0s", 200},
		{loop.TickInterval.String(), 200},
		{"250ms", 200},
		{"1ns", 400},
		{"1ms", 400},
		{(loop.TickInterval - time.Nanosecond).String(), 400},
		{"-1s", 400},
		{"61s", 400},
	}
	for _, tt := range tests {
		t.Run(tt.interval, func(t *testing.T) {
			resp, body := get(t, app.base+"/chunked?n=2&interval="+tt.interval)
			if resp.StatusCode != tt.status {
				t.Fatalf("interval=%s: status %d (body %q); want %d", tt.interval, resp.StatusCode, body, tt.status)
			}
			if tt.status == 200 && body != chunkLines(2) {
				t.Errorf("interval=%s: body %q; want %q", tt.interval, body, chunkLines(2))
			}
			if tt.status == 400 {
				for _, want := range []string{"interval must be 0 (as fast as the client reads)", "from 100ms (the timer tick)"} {
					if !strings.Contains(body, want) {
						t.Errorf("interval=%s: body %q; want it to contain %q", tt.interval, body, want)
					}
				}
			}
		})
	}
}

// TestChunkedIntervalZero: interval=0 needs no timer, so n lines take
// far less than n ticks (2000 lines at the 100 ms tick would take 200 s).
func TestChunkedIntervalZero(t *testing.T) {
	app := startApp(t, 1)
	const n = 2000
	start := time.Now()
	resp, body := get(t, app.base+"/chunked?n="+strconv.Itoa(n)+"&interval=0")
	if resp.StatusCode != 200 || body != chunkLines(n) {
		t.Fatalf("status %d, %d bytes; want 200 and the %d lines", resp.StatusCode, len(body), n)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("%d lines at interval=0 took %v; want them as fast as the client reads", n, d)
	}
}

// TestChunkedIntervalZeroLarge reads the largest response (100,000
// lines) and checks the framing byte by byte: every line once, in order,
// as its own chunk, then the terminating chunk. Whether the writer pauses
// at its high watermark depends on the kernel's socket buffers (on
// loopback they can hold this whole response); TestPumpLinesBackpressure
// covers the pause and resume.
func TestChunkedIntervalZeroLarge(t *testing.T) {
	app := startApp(t, 1)
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(app.base, "http://"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "GET /chunked?n=" + strconv.Itoa(maxChunkLines) + "&interval=0 HTTP/1.1\r\nHost: test\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || len(resp.TransferEncoding) != 1 {
		t.Fatalf("status %d, Transfer-Encoding %v; want 200 chunked", resp.StatusCode, resp.TransferEncoding)
	}
	// Read the raw chunk framing: each line is one chunk.
	for i := range maxChunkLines {
		line := "chunk " + strconv.Itoa(i) + "\n"
		want := strconv.FormatInt(int64(len(line)), 16) + "\r\n" + line + "\r\n"
		got := make([]byte, len(want))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if string(got) != want {
			t.Fatalf("chunk %d = %q; want %q", i, got, want)
		}
	}
	end := make([]byte, 5)
	if _, err := io.ReadFull(br, end); err != nil || string(end) != "0\r\n\r\n" {
		t.Fatalf("end of body = %q, %v; want the terminating chunk", end, err)
	}
}

// fakeLines records what pumpLines sends; Send reports Queued for the
// lines in queued, Dropped from dropAt on.
type fakeLines struct {
	got    []string
	queued map[int]bool
	dropAt int
	drain  func()
	closed int
}

func (f *fakeLines) Send(p []byte) loop.WriteResult {
	if f.dropAt >= 0 && len(f.got) >= f.dropAt {
		return loop.Dropped
	}
	f.got = append(f.got, string(p))
	if f.queued[len(f.got)-1] {
		return loop.Queued
	}
	return loop.Written
}

func (f *fakeLines) OnDrain(fn func()) {
	if f.drain != nil {
		panic("OnDrain twice without a drain")
	}
	f.drain = fn
}

func (f *fakeLines) Close() error { f.closed++; return nil }

// runDrains plays the loop: it fires the pending drain callback until
// none is left, and counts them.
func (f *fakeLines) runDrains() int {
	n := 0
	for f.drain != nil {
		fn := f.drain
		f.drain = nil
		fn()
		n++
	}
	return n
}

// TestPumpLinesBackpressure drives the interval=0 writer with a fake
// connection: it stops at Queued and resumes at the next line after the
// drain, yields after chunkBatch lines, and stops for good on Dropped.
func TestPumpLinesBackpressure(t *testing.T) {
	const n = 3*chunkBatch + 10
	tests := []struct {
		name       string
		lines      int
		queued     []int
		dropAt     int
		wantLines  int
		wantDrains int
		wantClosed int
	}{
		{name: "no backpressure", lines: n, dropAt: -1, wantLines: n, wantDrains: 3, wantClosed: 1},
		// Pauses after lines 0, 5, 256 (Queued), 512, 768 (a full batch
		// each) and 777 (Queued; the drain then closes).
		{name: "queued", lines: n, queued: []int{0, 5, chunkBatch, n - 1}, dropAt: -1, wantLines: n, wantDrains: 6, wantClosed: 1},
		{name: "dropped", lines: n, dropAt: chunkBatch + 7, wantLines: chunkBatch + 7, wantDrains: 1},
		{name: "empty", dropAt: -1, wantClosed: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeLines{queued: map[int]bool{}, dropAt: tt.dropAt}
			for _, q := range tt.queued {
				f.queued[q] = true
			}
			pumpLines(f, tt.lines)
			drains := f.runDrains()
			if len(f.got) != tt.wantLines || drains != tt.wantDrains || f.closed != tt.wantClosed {
				t.Fatalf("pumpLines: %d lines, %d drains, %d closes; want %d, %d, %d",
					len(f.got), drains, f.closed, tt.wantLines, tt.wantDrains, tt.wantClosed)
			}
			for i, l := range f.got {
				if want := "chunk " + strconv.Itoa(i) + "\n"; l != want {
					t.Fatalf("line %d = %q; want %q", i, l, want)
				}
			}
		})
	}
}
