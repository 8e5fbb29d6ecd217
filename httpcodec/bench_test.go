package httpcodec

import (
	"strings"
	"testing"
)

func BenchmarkParseGET(b *testing.B) {
	p := NewParser(Limits{})
	var req Request
	in := []byte(browserGET)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := p.Parse(in, &req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseGETByteAtATime(b *testing.B) {
	p := NewParser(Limits{})
	var req Request
	in := []byte(browserGET)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		for k := 1; k <= len(in); k++ {
			if _, err := p.Parse(in[:k], &req); err != nil && err != ErrNeedMore {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkParsePipelined16 parses 16 pipelined plaintext-benchmark GETs
// from one buffer, as the loop sees them with wrk -pipeline 16.
func BenchmarkParsePipelined16(b *testing.B) {
	p := NewParser(Limits{})
	var req Request
	in := []byte(strings.Repeat("GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\n"+
		"Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7\r\n"+
		"Connection: keep-alive\r\n\r\n", 16))
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		for buf := in; len(buf) > 0; {
			n, err := p.Parse(buf, &req)
			if err != nil {
				b.Fatal(err)
			}
			buf = buf[n:]
		}
	}
}

// BenchmarkParseChunked parses a 16 KiB body sent as 1 KiB chunks, all in
// one buffer. The input is copied afresh each iteration, as a read would
// deliver it, so a parser that writes into its input sees wire bytes.
func BenchmarkParseChunked(b *testing.B) {
	p := NewParser(Limits{})
	var req Request
	in := []byte(ch + strings.Repeat("400\r\n"+strings.Repeat("x", 1024)+"\r\n", 16) + "0\r\n\r\n")
	buf := make([]byte, len(in))
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		copy(buf, in)
		if _, err := p.Parse(buf, &req); err != nil {
			b.Fatal(err)
		}
	}
}

// tinyChunks returns a chunked request whose n-byte body is sent as 1-byte
// chunks with 16-digit sizes: 21 wire bytes per body byte, the costliest
// framing the limits allow.
func tinyChunks(n int) []byte {
	b := []byte(ch)
	for i := range n {
		b = append(b, "0000000000000001\r\n"...)
		b = append(b, 'a'+byte(i%26), '\r', '\n')
	}
	return append(b, "0\r\n\r\n"...)
}

// BenchmarkParseChunkedTiny feeds a 64 KiB body in 1-byte chunks
// (tinyChunks) in 4 KiB reads to one growing buffer, compacted after each
// ErrNeedMore, as the event loop does. peak-B is the most the buffer held.
func BenchmarkParseChunkedTiny(b *testing.B) {
	p := NewParser(Limits{})
	var req Request
	in := tinyChunks(64 << 10)
	buf := make([]byte, 0, len(in))
	peak := 0
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		buf = buf[:0]
		for off := 0; ; {
			next := min(off+4096, len(in))
			buf = append(buf, in[off:next]...)
			off = next
			peak = max(peak, len(buf))
			n, err := p.Parse(buf, &req)
			if err == nil {
				if n != len(buf) || len(req.Body) != 64<<10 {
					b.Fatalf("Parse = %d, body %d bytes; want %d, %d", n, len(req.Body), len(buf), 64<<10)
				}
				break
			}
			if err != ErrNeedMore {
				b.Fatal(err)
			}
			buf = buf[:p.Compact(buf)]
		}
	}
	b.ReportMetric(float64(peak), "peak-B")
}

func BenchmarkAppendResponse(b *testing.B) {
	buf := make([]byte, 0, 512)
	body := []byte("Hello, World!")
	h := &ResponseHead{Status: 200, ContentType: "text/plain", KeepAlive: true}
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendResponse(buf[:0], h, body)
	}
	b.SetBytes(int64(len(buf)))
}
