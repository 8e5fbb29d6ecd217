package client

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// splitConn serves canned bytes in random small reads and discards writes.
type splitConn struct {
	net.Conn
	data []byte
	rng  *rand.Rand
}

func (c *splitConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.data), 1+c.rng.IntN(7))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func (c *splitConn) Write(p []byte) (int, error) { return len(p), nil }

func chunkedResponse(size, chunk int) []byte {
	b := []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: x\r\n\r\n")
	for left := size; left > 0; left -= min(left, chunk) {
		n := min(left, chunk)
		b = strconv.AppendUint(b, uint64(n), 16)
		b = append(b, ";ext=1\r\n"...)
		b = append(b, bytes.Repeat([]byte{'x'}, n)...)
		b = append(b, "\r\n"...)
	}
	return append(b, "0\r\nTrailer: y\r\n\r\n"...)
}

func TestDownloaderSplitReads(t *testing.T) {
	for seed := range uint64(20) {
		data := append(chunkedResponse(10007, 333), chunkedResponse(5, 4096)...)
		data = append(data, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"...)
		d := NewDownloader(&splitConn{data: data, rng: rand.New(rand.NewPCG(seed, 1))}, "x", 64)
		for _, want := range []struct {
			body    int64
			chunked bool
		}{{10007, true}, {5, true}, {3, false}} {
			res, err := d.Get("/chunked")
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			if res.Status != 200 || res.Body != want.body || res.Chunked != want.chunked {
				t.Fatalf("seed %d: got %+v, want body %d chunked %v", seed, res, want.body, want.chunked)
			}
		}
	}
}

func TestDownloaderChunkSizes(t *testing.T) {
	for _, tt := range []struct {
		name              string
		size, chunk, sent int // sent: the chunk size the server used
		want              bool
	}{
		{"exact", 65536, 16384, 16384, true},
		{"short last", 10007, 333, 333, true},
		{"single short", 5, 4096, 5, true},
		{"smaller chunks", 65536, 16384, 4096, false},
		{"larger chunks", 65536, 16384, 32768, false},
		{"odd split", 10007, 333, 300, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDownloader(&splitConn{data: chunkedResponse(tt.size, tt.sent), rng: rand.New(rand.NewPCG(1, 2))}, "x", 64)
			res, err := d.Get("/chunked")
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Chunks.Conforms(int64(tt.size), int64(tt.chunk)); got != tt.want {
				t.Errorf("Conforms(%d, %d) with %s = %v; want %v", tt.size, tt.chunk, res.Chunks, got, tt.want)
			}
		})
	}
}

func TestDownloaderBadFraming(t *testing.T) {
	bad := []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcdXY\r\n0\r\n\r\n")
	d := NewDownloader(&splitConn{data: bad, rng: rand.New(rand.NewPCG(1, 1))}, "x", 64)
	if _, err := d.Get("/"); err == nil {
		t.Fatal("want an error for chunk data without CRLF")
	}
}

func TestWSFrameRoundTrip(t *testing.T) {
	// A masked client frame, as a server would unmask it, must give the payload back.
	w := &WSConn{mask: [4]byte{1, 2, 3, 4}}
	for _, n := range []int{0, 5, 125, 126, 300, 65535, 65536, 70000} {
		p := bytes.Repeat([]byte{'a'}, n)
		f := w.AppendFrame(nil, OpBinary, p)
		// Reuse the reader on the frame with the mask bit handled by ReadMessage.
		r := &WSConn{br: newReader(f)}
		op, got, err := r.ReadMessage()
		if err != nil || op != OpBinary || !bytes.Equal(got, p) {
			t.Fatalf("n=%d: op %d, %d bytes, err %v", n, op, len(got), err)
		}
	}
}

func newReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
