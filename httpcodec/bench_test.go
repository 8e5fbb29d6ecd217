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

func BenchmarkParseChunked(b *testing.B) {
	p := NewParser(Limits{})
	var req Request
	in := []byte(ch + strings.Repeat("400\r\n"+strings.Repeat("x", 1024)+"\r\n", 16) + "0\r\n\r\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := p.Parse(in, &req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendResponse(b *testing.B) {
	buf := make([]byte, 0, 512)
	body := []byte("Hello, World!")
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendResponse(buf[:0], 200, "text/plain", body, true)
	}
	b.SetBytes(int64(len(buf)))
}
