package httpcodec

import (
	"bytes"
	"strings"
	"testing"
)

// TestCompact checks what Compact leaves in the buffer after Parse asked for
// more, and that parsing then completes with the rest of the input.
func TestCompact(t *testing.T) {
	const cl = "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"
	for _, tt := range []struct {
		name       string
		in, rest   string
		want       string // buffer after Compact
		wantBody   string
		wantExpect bool // Parse returns ErrExpectContinue first
	}{
		{name: "partial head", in: "POST /up HTTP/1.1\r\nHo", rest: "st: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			want: "POST /up HTTP/1.1\r\nHo", wantBody: ""},
		{name: "head only", in: ch, rest: "1\r\nx\r\n0\r\n\r\n", want: ch, wantBody: "x"},
		{name: "Content-Length body", in: cl + "ab", rest: "cde", want: cl + "ab", wantBody: "abcde"},
		{name: "chunk-size line", in: ch + "0000000000000005", rest: "\r\nhello\r\n0\r\n\r\n", want: ch, wantBody: "hello"},
		{name: "chunk-size line CR", in: ch + "5\r", rest: "\nhello\r\n0\r\n\r\n", want: ch, wantBody: "hello"},
		{name: "chunk extension", in: ch + "5;a=b", rest: ";c\r\nhello\r\n0\r\n\r\n", want: ch, wantBody: "hello"},
		{name: "mid data", in: ch + "5\r\nhel", rest: "lo\r\n0\r\n\r\n", want: ch + "hel", wantBody: "hello"},
		{name: "data CR", in: ch + "5\r\nhello\r", rest: "\n0\r\n\r\n", want: ch + "hello", wantBody: "hello"},
		{name: "second chunk", in: ch + "5\r\nhello\r\n6\r\n wo", rest: "rld\r\n0\r\n\r\n", want: ch + "hello wo", wantBody: "hello world"},
		{name: "last chunk", in: ch + "2\r\nhi\r\n0\r\n", rest: "\r\n", want: ch + "hi", wantBody: "hi"},
		{name: "mid trailer", in: ch + "2\r\nhi\r\n0\r\nX-A: 1\r\nX-", rest: "B: 2\r\n\r\n", want: ch + "hi", wantBody: "hi"},
		{
			name: "expect 100-continue",
			in:   "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
			rest: "c\r\n0\r\n\r\n",
			want: "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\nab", wantBody: "abc", wantExpect: true,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := NewParser(Limits{})
			var req Request
			b := []byte(tt.in)
			n, err := p.Parse(b, &req)
			if tt.wantExpect {
				if err != ErrExpectContinue {
					t.Fatalf("Parse(%q) = %d, %v; want ErrExpectContinue", tt.in, n, err)
				}
				n, err = p.Parse(b, &req)
			}
			if err != ErrNeedMore {
				t.Fatalf("Parse(%q) = %d, %v; want ErrNeedMore", tt.in, n, err)
			}
			b = b[:p.Compact(b)]
			if string(b) != tt.want {
				t.Fatalf("Compact after Parse(%q) left %q; want %q", tt.in, b, tt.want)
			}
			if k := p.Compact(b); k != len(b) {
				t.Errorf("second Compact(%q) = %d; want %d (nothing left to drop)", b, k, len(b))
			}
			b = append(b, tt.rest...)
			n, err = p.Parse(b, &req)
			if err != nil || n != len(b) || string(req.Body) != tt.wantBody {
				t.Errorf("Parse(%q) = %d, %v, body %q; want %d, nil, %q", b, n, err, req.Body, len(b), tt.wantBody)
			}
		})
	}
}

// TestCompactNoop checks that Compact leaves b alone where it has nothing
// to drop: before any Parse, after a complete request and after an error.
func TestCompactNoop(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		err  error
	}{
		{"complete chunked", ch + "1\r\nx\r\n0\r\n\r\n", nil},
		{"complete chunked, pipelined partial", ch + "1\r\nx\r\n0\r\n\r\n" + ch + "1\r\n", nil},
		{"bad chunk", ch + "1\r\nx\r\nzz", ErrBadChunk},
		{"bad head", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", ErrSmuggling},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := NewParser(Limits{})
			b := []byte(tt.in)
			if k := p.Compact(b); k != len(b) {
				t.Fatalf("Compact(%q) before Parse = %d; want %d", b, k, len(b))
			}
			var req Request
			if _, err := p.Parse(b, &req); err != tt.err {
				t.Fatalf("Parse(%q) = %v; want %v", tt.in, err, tt.err)
			}
			before := bytes.Clone(b)
			if k := p.Compact(b); k != len(b) || !bytes.Equal(b, before) {
				t.Errorf("Compact(%q) = %d, buffer %q; want %d, unchanged", before, k, b, len(b))
			}
		})
	}
}

// TestCompactAmplification checks the memory bound Compact gives against the
// costliest legal framing: a 1 MiB body in 1-byte chunks with 16-digit sizes
// (21 wire bytes per body byte), read 4 KiB at a time into one growing
// buffer. After each Compact the buffer must hold no more than the head, the
// body decoded so far and a small constant.
func TestCompactAmplification(t *testing.T) {
	const size = DefaultMaxBodyBytes // the largest body the default limits accept
	const read = 4096
	const slack = 64
	in := tinyChunks(size)
	head := len(ch)
	// decodedAt returns how many body bytes lie in in[:off]: body byte j is
	// at head + 21j + 18, after its 16 digits and CRLF.
	decodedAt := func(off int) int {
		if off <= head+18 {
			return 0
		}
		return min(size, (off-head-18+20)/21)
	}

	p := NewParser(Limits{})
	var req Request
	buf := make([]byte, 0, 64<<10)
	peak := 0
	for off := 0; ; {
		next := min(off+read, len(in))
		buf = append(buf, in[off:next]...)
		off = next
		peak = max(peak, len(buf))
		n, err := p.Parse(buf, &req)
		if err == nil {
			if off != len(in) || n != len(buf) {
				t.Fatalf("Parse = %d, nil after %d of %d bytes, len(buf) %d; want the whole input", n, off, len(in), len(buf))
			}
			break
		}
		if err != ErrNeedMore {
			t.Fatalf("Parse after %d of %d bytes = %v; want ErrNeedMore", off, len(in), err)
		}
		buf = buf[:p.Compact(buf)]
		if lim := head + decodedAt(off) + slack; len(buf) > lim {
			t.Fatalf("after %d of %d bytes: len(buf) = %d after Compact; want <= %d (head %d + decoded %d + %d)",
				off, len(in), len(buf), lim, head, decodedAt(off), slack)
		}
	}
	want := make([]byte, size)
	for i := range want {
		want[i] = 'a' + byte(i%26)
	}
	if !bytes.Equal(req.Body, want) {
		t.Errorf("decoded body differs: len %d, want %d", len(req.Body), len(want))
	}
	if lim := head + size + read + slack; peak > lim {
		t.Errorf("peak len(buf) = %d; want <= %d (wire size %d)", peak, lim, len(in))
	}
}

// TestCompactLimits checks that Compact does not reset what the limits
// count: the decoded body size, chunk-extension bytes and trailer bytes.
func TestCompactLimits(t *testing.T) {
	for _, tt := range []struct {
		name   string
		in     string
		limits Limits
		err    error
	}{
		{"body over limit", ch + strings.Repeat("1\r\nx\r\n", 5), Limits{MaxBodyBytes: 4}, ErrBodyTooLarge},
		{"body at limit", ch + strings.Repeat("1\r\nx\r\n", 4) + "0\r\n\r\n", Limits{MaxBodyBytes: 4}, nil},
		{"extensions over limit", ch + strings.Repeat("1;"+strings.Repeat("e", 20)+"\r\nx\r\n", 7), Limits{MaxHeaderBytes: 120}, ErrBadChunk},
		{"trailers over limit", ch + "1\r\nx\r\n0\r\n" + strings.Repeat("T: t\r\n", 20) + "\r\n", Limits{MaxHeaderBytes: 110}, ErrHeaderTooLarge},
		{"trailers at limit", ch + "1\r\nx\r\n0\r\n" + strings.Repeat("T: t\r\n", 18) + "\r\n", Limits{MaxHeaderBytes: 110}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []feedMode{feedWhole, feedByteCompact} {
				res := feed(tt.limits, []byte(tt.in), mode, nil)
				if res.err != tt.err {
					t.Errorf("Parse(%q) [%v] = %q, %v; want error %v", tt.in, mode, res.reqs, res.err, tt.err)
				}
			}
		})
	}
}
