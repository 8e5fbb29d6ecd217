//go:build !race

package httpcodec

import (
	"strings"
	"testing"
)

func TestParseAllocs(t *testing.T) {
	for _, tt := range []struct {
		name, in string
	}{
		{"browser GET", browserGET},
		{"POST Content-Length", "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world"},
		{"POST chunked", ch + "5\r\nhello\r\n6\r\n world\r\n0\r\nX: y\r\n\r\n"},
		{"pipelined", strings.Repeat(browserGET, 4)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := NewParser(Limits{})
			var req Request
			in := []byte(tt.in)
			buf := make([]byte, len(in))
			allocs := testing.AllocsPerRun(100, func() {
				copy(buf, in) // Parse decodes chunked bodies in place
				for b := buf; len(b) > 0; {
					n, err := p.Parse(b, &req)
					if err != nil {
						t.Fatalf("Parse(%q) = %v", b, err)
					}
					b = b[n:]
				}
				_ = req.Header("user-agent")
				_ = req.HasToken("Connection", "keep-alive")
				_, _ = req.QueryArg("v")
			})
			if allocs != 0 {
				t.Errorf("Parse(%q): %v allocs per run; want 0", tt.in, allocs)
			}
		})
	}
}

func TestParseByteAtATimeAllocs(t *testing.T) {
	p := NewParser(Limits{})
	var req Request
	in := []byte(browserGET)
	allocs := testing.AllocsPerRun(20, func() {
		for k := 1; k <= len(in); k++ {
			if _, err := p.Parse(in[:k], &req); err != nil && err != ErrNeedMore {
				t.Fatalf("Parse = %v", err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("byte-at-a-time Parse: %v allocs per run; want 0", allocs)
	}
}

func TestAppendAllocs(t *testing.T) {
	buf := make([]byte, 0, 4096)
	body := []byte("Hello, World!")
	h := &ResponseHead{Status: 200, ContentType: "text/plain; charset=utf-8", KeepAlive: true,
		Header: []byte("X-Request-Id: 1\r\n")}
	allocs := testing.AllocsPerRun(100, func() {
		b := AppendResponse(buf[:0], h, body)
		b = AppendResponseHead(b, h, 1<<20)
		b = AppendError(b, ErrHeaderTooLarge)
		b = AppendStatusLine(b, 599)
		b = AppendHeader(b, "X-Request-Id", "abc\r\n")
		_ = AppendDate(b)
	})
	if allocs != 0 {
		t.Errorf("Append*: %v allocs per run; want 0", allocs)
	}
}
