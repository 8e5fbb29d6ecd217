package httpcodec

import (
	"bytes"
	"math/rand"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parseSlow parses like Parse but never takes the one-pass fast path, as
// happens when a request arrives in pieces.
func parseSlow(p *Parser, b []byte, req *Request) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.parse(b, req)
	if err != nil && err != ErrNeedMore && err != ErrExpectContinue {
		p.err = err
	}
	return n, err
}

// checkFastSlow parses in with Parse (fast path first) and with parseSlow,
// request after request, and fails on any difference: n, error, every
// Request field including Headers, and the parser state left behind.
// Each parser gets its own copy of in, since Parse writes into its input.
func checkFastSlow(t *testing.T, l Limits, in []byte) {
	t.Helper()
	fp, sp := NewParser(l), NewParser(l)
	var fr, sr Request
	fb, sb := bytes.Clone(in), bytes.Clone(in)
	for range 64 {
		fn, ferr := fp.Parse(fb, &fr)
		sn, serr := parseSlow(sp, sb, &sr)
		if fn != sn || ferr != serr {
			t.Fatalf("input %q: fast = %d, %v; slow = %d, %v", in, fn, ferr, sn, serr)
		}
		if ferr != nil && ferr != ErrNeedMore && ferr != ErrExpectContinue {
			return
		}
		if ferr == nil && !reflect.DeepEqual(fr, sr) {
			t.Fatalf("input %q:\nfast %s %q\nslow %s %q", in, summary(&fr), fr.Headers, summary(&sr), sr.Headers)
		}
		if fp.state != sp.state || fp.pos != sp.pos || fp.w != sp.w || fp.headDone != sp.headDone ||
			fp.contentLength != sp.contentLength || fp.chunked != sp.chunked || fp.expect != sp.expect {
			t.Fatalf("input %q: parser state differs: fast %v/%d/%d/%v/%d/%v/%v, slow %v/%d/%d/%v/%d/%v/%v", in,
				fp.state, fp.pos, fp.w, fp.headDone, fp.contentLength, fp.chunked, fp.expect,
				sp.state, sp.pos, sp.w, sp.headDone, sp.contentLength, sp.chunked, sp.expect)
		}
		if ferr != nil || fn == 0 {
			return
		}
		fb, sb = fb[fn:], sb[fn:]
	}
}

var fastSlowInputs = []string{
	"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:18200\r\n\r\n",
	"GET /hello HTTP/1.0\r\n\r\n",
	"GET /a?b=c&d HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
	"POST /p HTTP/1.1\r\nhOsT: h\r\ncontent-LENGTH: 3\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
	"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
	"PUT /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nExpect: nope\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: exa/mple.com:8080\r\n\r\n",
	"GET / HTTP/1.1\r\nHost:   h  \r\nX:\t\tv\t w \t\r\n\r\n",
	"GET / HTTP/1.1\r\nX: \x01\r\nHost: h\r\n\r\n",
	"GET / HTTP/1.1\r\nX: \x7f\r\nHost: h\r\n\r\n",
	"GET / HTTP/1.1\r\nX: caf\xc3\xa9 \x80\xff\r\nHost: h\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nX : v\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\n X: v\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\r\n\r\n",
	"GET / HTTP/1.1\nHost: h\r\n\r\n",
	"GET / HTTP/1.2\r\nHost: h\r\n\r\n",
	"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
	"GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
	"GET / http/1.1\r\nHost: h\r\n\r\n",
	"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n",
	"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
	"G\x00T / HTTP/1.1\r\nHost: h\r\n\r\n",
	"get / HTTP/1.1\r\nHost: h\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET http://example.com:8080/p?q HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET HTTPS://h?q HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET http://h HTTP/1.0\r\n\r\n",
	"GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET http://h/ HTTP/1.1\r\n\r\n",
	"GET ftp://h/p HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST http://h/p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
	"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: a\r\nUpgrade: b\r\nConnection: upgrade\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nHostx: a\r\nhost\r\n\r\n",
	"GET /" + strings.Repeat("x", 300) + " HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("v", 600) + "\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("A: b\r\n", 20) + "\r\n",
	browserGET,
}

func TestFastPathMatchesSlowPath(t *testing.T) {
	limits := []Limits{{}, {MaxURIBytes: 256, MaxHeaderBytes: 512, MaxBodyBytes: 512, MaxHeaders: 16}}
	for _, l := range limits {
		for _, s := range append(fastSlowInputs, fuzzSeeds...) {
			in := []byte(s)
			// Every prefix, so incomplete heads and bodies are covered too.
			for k := 0; k <= len(in); k++ {
				checkFastSlow(t, l, in[:k])
			}
		}
	}
	// Limits at and around the size of a request.
	in := []byte("GET /abcdef HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n")
	for lim := 1; lim <= len(in)+2; lim++ {
		checkFastSlow(t, Limits{MaxURIBytes: lim}, in)
		checkFastSlow(t, Limits{MaxHeaderBytes: lim}, in)
		checkFastSlow(t, Limits{MaxHeaders: lim % 4}, in)
	}
}

// FuzzFastPath checks the one-pass fast path against the incremental one.
func FuzzFastPath(f *testing.F) {
	for _, s := range append(fastSlowInputs, fuzzSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 4096 {
			return
		}
		checkFastSlow(t, Limits{}, in)
		checkFastSlow(t, Limits{MaxURIBytes: 16, MaxHeaderBytes: 128, MaxBodyBytes: 16, MaxHeaders: 4}, in)
	})
}

func TestScanMatchesTables(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	alphabet := []byte("aZ09 \t\r\n\x00\x1f\x7f\x80\xff:/?%[]")
	for range 20000 {
		b := make([]byte, rng.Intn(40))
		for i := range b {
			if rng.Intn(4) == 0 {
				b[i] = byte(rng.Intn(256))
			} else {
				b[i] = alphabet[rng.Intn(len(alphabet))]
			}
		}
		start := 0
		if len(b) > 0 {
			start = rng.Intn(len(b) + 1)
		}
		end := start + rng.Intn(len(b)-start+1)
		want := func(table *[256]bool) int {
			i := start
			for i < end && table[b[i]] {
				i++
			}
			return i
		}
		if got, w := scanValue(b, start, end), want(&valueTable); got != w {
			t.Fatalf("scanValue(%q, %d, %d) = %d; want %d", b, start, end, got, w)
		}
		if got, w := scanTarget(b, start, end), want(&targetTable); got != w {
			t.Fatalf("scanTarget(%q, %d, %d) = %d; want %d", b, start, end, got, w)
		}
		v := b[start:end]
		w := true
		for _, c := range v {
			w = w && hostTable[c]
		}
		if got := validHost(v); got != w {
			t.Fatalf("validHost(%q) = %v; want %v", v, got, w)
		}
	}
}

func TestTokenFoldEq(t *testing.T) {
	names := []string{hHost, hExpect, hUpgrade, hConnection, hContentLength, hTransferEncoding}
	for _, lower := range names {
		for _, name := range []string{lower, strings.ToUpper(lower), strings.ToUpper(lower[:1]) + lower[1:], lower + "x", lower[1:]} {
			want := strings.EqualFold(name, lower)
			if got := tokenFoldEq([]byte(name), lower); got != want {
				t.Errorf("tokenFoldEq(%q, %q) = %v; want %v", name, lower, got, want)
			}
		}
		// Every one-byte change of a token name must be a mismatch, unless
		// it only changes the case of a letter.
		for i := range lower {
			for c := 0; c < 256; c++ {
				if !tokenTable[c] {
					continue
				}
				name := []byte(lower)
				name[i] = byte(c)
				want := strings.EqualFold(string(name), lower)
				if got := tokenFoldEq(name, lower); got != want {
					t.Errorf("tokenFoldEq(%q, %q) = %v; want %v", name, lower, got, want)
				}
			}
		}
	}
}

func TestAppendHead(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	RefreshDate(now)
	defer RefreshDate(time.Now())
	for _, status := range []int{100, 101, 200, 204, 304, 404, 500, 599, 999} {
		want := string(AppendStatusLine(nil, status)) + "Server: streamd\r\n" + string(AppendDate(nil))
		if got := string(AppendHead([]byte("x"), status)); got != "x"+want {
			t.Errorf("AppendHead(%d) = %q; want %q", status, got, "x"+want)
		}
	}
	if got, want := string(AppendDate(nil)), "Date: Fri, 02 Jan 2026 03:04:05 GMT\r\n"; got != want {
		t.Errorf("AppendDate() = %q; want %q", got, want)
	}
	// The cached lines must not alias: appending to one must not change another.
	d := AppendDate(nil)
	_ = append(AppendHead(nil, 200)[:0], bytes.Repeat([]byte("z"), 200)...)
	if !bytes.Equal(d, AppendDate(nil)) {
		t.Errorf("AppendDate changed after appending to an AppendHead result")
	}
}

func TestAppendLength(t *testing.T) {
	for _, n := range []int{0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 1001, 65535, 1 << 40} {
		if got, want := string(appendLength([]byte("x"), n)), "x"+strconv.Itoa(n)+"\r\n"; got != want {
			t.Errorf("appendLength(%d) = %q; want %q", n, got, want)
		}
	}
}
