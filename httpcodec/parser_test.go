package httpcodec

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// summary renders the fields of req that the table tests compare; nil and
// empty slices are told apart where the API promises a difference.
func summary(req *Request) string {
	opt := func(b []byte) string {
		if b == nil {
			return "<nil>"
		}
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%s %s path=%q query=%s v=1.%d host=%s cl=%d chunked=%t ka=%t upgrade=%s body=%q",
		req.Method, req.URI, req.Path, opt(req.Query), req.ProtoMinor, opt(req.Host),
		req.ContentLength, req.Chunked, req.KeepAlive, opt(req.Upgrade), req.Body)
}

type feedMode int

const (
	feedWhole         feedMode = iota
	feedByte                   // one byte at a time
	feedRandom                 // pieces of 1 to 24 bytes
	feedByteCompact            // feedByte, with Compact after every ErrNeedMore
	feedRandomCompact          // feedRandom, with Compact after every ErrNeedMore
)

// feedModes lists every mode, for tests that run them all.
var feedModes = []feedMode{feedWhole, feedByte, feedRandom, feedByteCompact, feedRandomCompact}

func (m feedMode) String() string {
	return [...]string{"whole", "byte", "random", "byte+compact", "random+compact"}[m]
}

func (m feedMode) compact() bool { return m == feedByteCompact || m == feedRandomCompact }

// feedResult is what a connection would observe parsing in.
type feedResult struct {
	reqs    []string
	headers [][]string
	expects int   // ErrExpectContinue count
	err     error // first error; ErrNeedMore if input ended mid-request
}

// feed emulates the event loop: it appends in, in pieces chosen by mode, to
// one buffer holding the unconsumed bytes as Parse (and Compact) left them.
// Each Parse gets a fresh copy of that buffer (the loop's buffer may move)
// and the previous copy is poisoned, so any slice the parser kept across
// calls shows up as garbage. In the compact modes it calls Compact after
// every ErrNeedMore or ErrExpectContinue and truncates the buffer, as the
// loop does to bound what a chunked body costs.
func feed(l Limits, in []byte, mode feedMode, rng *rand.Rand) feedResult {
	var res feedResult
	p := NewParser(l)
	var req Request
	var buf []byte
	got := 0
	for {
		prev := got
		switch mode {
		case feedWhole:
			got = len(in)
		case feedByte, feedByteCompact:
			got = min(got+1, len(in))
		case feedRandom, feedRandomCompact:
			got = min(got+1+rng.Intn(24), len(in))
		}
		buf = append(buf, in[prev:got]...)
		for {
			b := append([]byte(nil), buf...)
			for i := range buf {
				buf[i] = 0xAA
			}
			buf = b
			n, err := p.Parse(buf, &req)
			switch {
			case err == nil:
				if n <= 0 || n > len(buf) {
					res.err = fmt.Errorf("Parse returned n=%d for len(b)=%d", n, len(buf))
					return res
				}
				res.reqs = append(res.reqs, summary(&req))
				var hs []string
				for _, h := range req.Headers {
					hs = append(hs, string(h.Name)+": "+string(h.Value))
				}
				res.headers = append(res.headers, hs)
				buf = buf[n:]
			case err == ErrNeedMore || err == ErrExpectContinue:
				if err == ErrExpectContinue {
					res.expects++
				}
				if n != 0 {
					res.err = fmt.Errorf("%v with n=%d", err, n)
					return res
				}
				if mode.compact() {
					k := p.Compact(buf)
					if k < 0 || k > len(buf) {
						res.err = fmt.Errorf("Compact returned %d for len(b)=%d", k, len(buf))
						return res
					}
					buf = buf[:k]
				}
			default:
				res.err = err
				return res
			}
			if err == ErrNeedMore {
				break
			}
		}
		if got == len(in) {
			if len(buf) > 0 {
				res.err = ErrNeedMore
			}
			return res
		}
	}
}

type parseTest struct {
	name   string
	in     string
	limits Limits
	want   []string // summaries of the requests, in order
	err    error    // after the requests in want
}

const (
	ch = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
)

var parseTests = []parseTest{
	// Good requests.
	{
		name: "GET",
		in:   "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		want: []string{`GET / path="/" query=<nil> v=1.1 host="example.com" cl=-1 chunked=false ka=true upgrade=<nil> body=""`},
	},
	{
		name: "GET browser",
		in:   browserGET,
		want: []string{`GET /static/app.js?v=3&lang=en path="/static/app.js" query="v=3&lang=en" v=1.1 host="www.example.com" cl=-1 chunked=false ka=true upgrade=<nil> body=""`},
	},
	{
		name: "leading empty lines skipped",
		in:   "\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n",
		want: []string{`GET /x path="/x" query=<nil> v=1.1 host="h" cl=-1 chunked=false ka=true upgrade=<nil> body=""`},
	},
	{
		name: "empty query",
		in:   "GET /p? HTTP/1.1\r\nHost: h\r\n\r\n",
		want: []string{`GET /p? path="/p" query="" v=1.1 host="h" cl=-1 chunked=false ka=true upgrade=<nil> body=""`},
	},
	{
		name: "query with second question mark",
		in:   "GET /p?a=1?b HTTP/1.1\r\nHost: h\r\n\r\n",
		want: []string{`GET /p?a=1?b path="/p" query="a=1?b" v=1.1 host="h" cl=-1 chunked=false ka=true upgrade=<nil> body=""`},
	},
	{
		name: "absolute-form, asterisk-form, lowercase method",
		in: "get http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n" +
			"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
		want: []string{
			`get http://a.example/x?y path="/x" query="y" v=1.1 host="a.example" cl=-1 chunked=false ka=true upgrade=<nil> body=""`,
			`OPTIONS * path="*" query=<nil> v=1.1 host="h" cl=-1 chunked=false ka=true upgrade=<nil> body=""`,
		},
	},
	{
		// RFC 9112, Section 3.2.2: the target's authority is the Host.
		name: "absolute-form Host is the authority",
		in: "GET http://example.com:8080/path?q HTTP/1.1\r\nHost: other.example\r\n\r\n" +
			"GET HTTPS://Example.COM HTTP/1.1\r\nHost: h\r\n\r\n" +
			"GET hTTp://h2?a=1/b HTTP/1.1\r\nHost: h\r\n\r\n" +
			"GET https://h3/ HTTP/1.1\r\nHost:\r\n\r\n" +
			"GET http://[::1]:80/a/b?c?d HTTP/1.0\r\n\r\n",
		want: []string{
			`GET http://example.com:8080/path?q path="/path" query="q" v=1.1 host="example.com:8080" cl=-1 chunked=false ka=true upgrade=<nil> body=""`,
			`GET HTTPS://Example.COM path="/" query=<nil> v=1.1 host="Example.COM" cl=-1 chunked=false ka=true upgrade=<nil> body=""`,
			`GET hTTp://h2?a=1/b path="/" query="a=1/b" v=1.1 host="h2" cl=-1 chunked=false ka=true upgrade=<nil> body=""`,
			`GET https://h3/ path="/" query=<nil> v=1.1 host="h3" cl=-1 chunked=false ka=true upgrade=<nil> body=""`,
			`GET http://[::1]:80/a/b?c?d path="/a/b" query="c?d" v=1.0 host="[::1]:80" cl=-1 chunked=false ka=false upgrade=<nil> body=""`,
		},
	},
	{
		name: "absolute-form with a body",
		in: "POST http://h/up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
			"POST http://h/cl? HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok",
		want: []string{
			`POST http://h/up path="/up" query=<nil> v=1.1 host="h" cl=-1 chunked=true ka=true upgrade=<nil> body="abc"`,
			`POST http://h/cl? path="/cl" query="" v=1.1 host="h" cl=2 chunked=false ka=true upgrade=<nil> body="ok"`,
		},
	},
	{
		// Only http and https targets with an authority are taken apart;
		// anything else is left to the application, as before.
		name: "other absolute targets keep the Host header",
		in: "GET ftp://f/x?y HTTP/1.1\r\nHost: h\r\n\r\n" +
			"GET http:/x HTTP/1.1\r\nHost: h\r\n\r\n" +
			"GET httpx://f/ HTTP/1.1\r\nHost: h\r\n\r\n" +
			"GET //f/x HTTP/1.1\r\nHost: h\r\n\r\n" +
			"CONNECT f:443 HTTP/1.1\r\nHost: h\r\n\r\n",
		want: []string{
			`GET ftp://f/x?y path="ftp://f/x" query="y" v=1.1 host="h" cl=-1 chunked=false ka=true upgrade=<nil> body=""`,
			`GET http:/x path="http:/x" query=<nil> v=1.1 host="h" cl=-1 chunked=false ka=true upgrade=<nil> body=""`,
			`GET httpx://f/ path="httpx://f/" query=<nil> v=1.1 host="h" cl=-1 chunked=false ka=true upgrade=<nil> body=""`,
			`GET //f/x path="//f/x" query=<nil> v=1.1 host="h" cl=-1 chunked=false ka=true upgrade=<nil> body=""`,
			`CONNECT f:443 path="f:443" query=<nil> v=1.1 host="h" cl=-1 chunked=false ka=true upgrade=<nil> body=""`,
		},
	},
	{
		name: "POST Content-Length",
		in:   "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world",
		want: []string{`POST /form path="/form" query=<nil> v=1.1 host="h" cl=11 chunked=false ka=true upgrade=<nil> body="hello world"`},
	},
	{
		name: "Content-Length zero, leading zeros, duplicate equal",
		in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n" +
			"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 003\r\nContent-Length:  003 \r\n\r\nabc",
		want: []string{
			`POST / path="/" query=<nil> v=1.1 host="h" cl=0 chunked=false ka=true upgrade=<nil> body=""`,
			`POST / path="/" query=<nil> v=1.1 host="h" cl=3 chunked=false ka=true upgrade=<nil> body="abc"`,
		},
	},
	{
		name: "POST chunked with extensions and trailers",
		in:   ch + "5;name=val;x\r\nhello\r\n6\r\n world\r\nA\r\n0123456789\r\n0\r\nX-Checksum: abc\r\nX-Other:\tdef \r\n\r\n",
		want: []string{`POST /up path="/up" query=<nil> v=1.1 host="h" cl=-1 chunked=true ka=true upgrade=<nil> body="hello world0123456789"`},
	},
	{
		name: "chunked empty body, uppercase coding, 16 hex digits",
		in: ch + "0\r\n\r\n" +
			"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED\r\n\r\n0000000000000003\r\nabc\r\n0\r\n\r\n",
		want: []string{
			`POST /up path="/up" query=<nil> v=1.1 host="h" cl=-1 chunked=true ka=true upgrade=<nil> body=""`,
			`POST /up path="/up" query=<nil> v=1.1 host="h" cl=-1 chunked=true ka=true upgrade=<nil> body="abc"`,
		},
	},
	{
		name: "HTTP/1.0 closes by default",
		in:   "GET / HTTP/1.0\r\n\r\n",
		want: []string{`GET / path="/" query=<nil> v=1.0 host=<nil> cl=-1 chunked=false ka=false upgrade=<nil> body=""`},
	},
	{
		name: "HTTP/1.0 keep-alive",
		in:   "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: h\r\n\r\nGET /2 HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
		want: []string{
			`GET / path="/" query=<nil> v=1.0 host="h" cl=-1 chunked=false ka=true upgrade=<nil> body=""`,
			`GET /2 path="/2" query=<nil> v=1.0 host=<nil> cl=-1 chunked=false ka=false upgrade=<nil> body=""`,
		},
	},
	{
		name: "HTTP/1.1 Connection close in list",
		in:   "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo\r\nConnection: bar , CLOSE\r\n\r\n",
		want: []string{`GET / path="/" query=<nil> v=1.1 host="h" cl=-1 chunked=false ka=false upgrade=<nil> body=""`},
	},
	{
		name: "websocket upgrade",
		in:   "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		want: []string{`GET /ws path="/ws" query=<nil> v=1.1 host="h" cl=-1 chunked=false ka=true upgrade="websocket" body=""`},
	},
	{
		name: "Upgrade without Connection token",
		in:   "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
		want: []string{`GET / path="/" query=<nil> v=1.1 host="h" cl=-1 chunked=false ka=true upgrade=<nil> body=""`},
	},
	{
		name: "empty Host, OWS, HTAB and obs-text in values",
		in:   "GET / HTTP/1.1\r\nHost:\r\nX-A: \t a\tb \t\r\nX-B: caf\xc3\xa9\r\nX-C:\r\n\r\n",
		want: []string{`GET / path="/" query=<nil> v=1.1 host="" cl=-1 chunked=false ka=true upgrade=<nil> body=""`},
	},
	{
		name: "Expect 100-continue with body present",
		in:   "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok",
		want: []string{`PUT /f path="/f" query=<nil> v=1.1 host="h" cl=2 chunked=false ka=true upgrade=<nil> body="ok"`},
	},
	{
		name: "pipelined GET, POST, chunked",
		in: "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n" +
			"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" +
			ch + "3\r\nxyz\r\n0\r\n\r\n" +
			"GET /4 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
		want: []string{
			`GET /1 path="/1" query=<nil> v=1.1 host="h" cl=-1 chunked=false ka=true upgrade=<nil> body=""`,
			`POST /2 path="/2" query=<nil> v=1.1 host="h" cl=3 chunked=false ka=true upgrade=<nil> body="abc"`,
			`POST /up path="/up" query=<nil> v=1.1 host="h" cl=-1 chunked=true ka=true upgrade=<nil> body="xyz"`,
			`GET /4 path="/4" query=<nil> v=1.1 host="h" cl=-1 chunked=false ka=false upgrade=<nil> body=""`,
		},
	},

	// Incomplete input.
	{name: "empty", in: ""},
	{name: "partial head", in: "GET / HTTP/1.1\r\nHost: h\r\n", err: ErrNeedMore},
	{name: "partial CR", in: "GET / HTTP/1.1\r\nHost: h\r\n\r", err: ErrNeedMore},
	{name: "partial body", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabc", err: ErrNeedMore},
	{name: "partial chunked", in: ch + "5\r\nab", err: ErrNeedMore},
	{name: "chunked without trailer end", in: ch + "0\r\nX: y\r\n", err: ErrNeedMore},
	{
		name: "complete then partial",
		in:   "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET",
		want: []string{`GET / path="/" query=<nil> v=1.1 host="h" cl=-1 chunked=false ka=true upgrade=<nil> body=""`},
		err:  ErrNeedMore,
	},

	// Request line.
	{name: "method not token", in: "GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "empty method", in: " / HTTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "empty target", in: "GET  HTTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "target with CTL", in: "GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "target with DEL", in: "GET /a\x7fb HTTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "target with NUL", in: "GET /\x00 HTTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "HTTP/0.9", in: "GET /\r\n\r\n", err: ErrMalformed},
	{name: "tab separator", in: "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "version 1.2", in: "GET / HTTP/1.2\r\nHost: h\r\n\r\n", err: ErrVersionNotSupported},
	{name: "version 2.0", in: "GET / HTTP/2.0\r\nHost: h\r\n\r\n", err: ErrVersionNotSupported},
	{name: "version 0.9", in: "GET / HTTP/0.9\r\n\r\n", err: ErrVersionNotSupported},
	{name: "version lowercase", in: "GET / http/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "version short", in: "GET / HTTP/1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "version long", in: "GET / HTTP/1.10\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "version garbage", in: "GET / FTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "trailing space after version", in: "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "extra request-line token", in: "GET / x HTTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "bare LF request line", in: "GET / HTTP/1.1\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "bare LF leading line", in: "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "CR without LF", in: "GET / HTTP/1.1\rHost: h\r\n\r\n", err: ErrMalformed},

	// Header fields.
	{name: "bare LF header", in: "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", err: ErrMalformed},
	{name: "bare LF end of head", in: "GET / HTTP/1.1\r\nHost: h\r\n\n", err: ErrMalformed},
	{name: "CR in value", in: "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", err: ErrMalformed},
	{name: "space before colon", in: "GET / HTTP/1.1\r\nHost : h\r\n\r\n", err: ErrSmuggling},
	{name: "tab before colon", in: "GET / HTTP/1.1\r\nHost: h\r\nContent-Length\t: 0\r\n\r\n", err: ErrSmuggling},
	{name: "obs-fold", in: "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", err: ErrSmuggling},
	{name: "obs-fold tab", in: "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", err: ErrSmuggling},
	{name: "whitespace before first field", in: "GET / HTTP/1.1\r\n Host: h\r\n\r\n", err: ErrSmuggling},
	{name: "name not token", in: "GET / HTTP/1.1\r\nHost: h\r\nX@Y: z\r\n\r\n", err: ErrMalformed},
	{name: "empty name", in: "GET / HTTP/1.1\r\nHost: h\r\n: z\r\n\r\n", err: ErrMalformed},
	{name: "no colon", in: "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", err: ErrMalformed},
	{name: "NUL in value", in: "GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", err: ErrMalformed},
	{name: "NUL in name", in: "GET / HTTP/1.1\r\nHost: h\r\nX\x00: b\r\n\r\n", err: ErrMalformed},
	{name: "CTL in value", in: "GET / HTTP/1.1\r\nHost: h\r\nX: a\x1bb\r\n\r\n", err: ErrMalformed},
	{name: "DEL in value", in: "GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", err: ErrMalformed},
	{name: "missing Host", in: "GET / HTTP/1.1\r\nX: y\r\n\r\n", err: ErrMissingHost},
	{name: "two Host", in: "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", err: ErrMalformed},
	{name: "Host with space", in: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", err: ErrMalformed},
	{name: "Host with slash", in: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", err: ErrMalformed},
	{name: "Expect unknown", in: "GET / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", err: ErrExpectationFailed},

	// Absolute-form authority (RFC 9110, Sections 4.2.1 and 4.2.4).
	{name: "absolute-form empty authority", in: "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "absolute-form empty authority, query", in: "GET https://?x HTTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "absolute-form only scheme", in: "GET http:// HTTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "absolute-form empty host with port", in: "GET http://:80/ HTTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "absolute-form userinfo", in: "GET http://user:pw@h/ HTTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "absolute-form fragment in authority", in: "GET http://h#f HTTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	{name: "absolute-form without Host header", in: "GET http://h/ HTTP/1.1\r\n\r\n", err: ErrMissingHost},
	{name: "absolute-form, invalid Host header", in: "GET http://h/ HTTP/1.1\r\nHost: a b\r\n\r\n", err: ErrMalformed},
	{name: "absolute-form, two Host headers", in: "GET http://h/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", err: ErrMalformed},

	// Framing.
	{name: "Content-Length letters", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1a\r\n\r\n", err: ErrBadContentLength},
	{name: "Content-Length empty", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n", err: ErrBadContentLength},
	{name: "Content-Length sign", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n", err: ErrBadContentLength},
	{name: "Content-Length negative", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", err: ErrBadContentLength},
	{name: "Content-Length list", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n", err: ErrBadContentLength},
	{name: "Content-Length inner space", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", err: ErrBadContentLength},
	{name: "Content-Length overflow", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n", err: ErrBadContentLength},
	{name: "Content-Length max int64", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n", err: ErrBodyTooLarge},
	{name: "Content-Length differing", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", err: ErrSmuggling},
	{name: "CL and TE", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", err: ErrSmuggling},
	{name: "TE and CL", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", err: ErrSmuggling},
	{name: "two TE", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", err: ErrSmuggling},
	{name: "TE gzip", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", err: ErrTransferCodingNotImplemented},
	{name: "TE gzip, chunked", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", err: ErrTransferCodingNotImplemented},
	{name: "TE chunked, gzip", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", err: ErrTransferCodingNotImplemented},
	{name: "TE identity", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", err: ErrTransferCodingNotImplemented},
	{name: "TE chunked with junk", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunkedx\r\n\r\n", err: ErrTransferCodingNotImplemented},
	{name: "TE in HTTP/1.0", in: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", err: ErrMalformed},

	// Chunked body.
	{name: "chunk size not hex", in: ch + "zz\r\n", err: ErrBadChunk},
	{name: "chunk size empty", in: ch + "\r\n", err: ErrBadChunk},
	{name: "chunk size 17 digits", in: ch + "00000000000000001\r\nx\r\n0\r\n\r\n", err: ErrBadChunk},
	{name: "chunk size negative", in: ch + "-1\r\n", err: ErrBadChunk},
	{name: "chunk size 0x prefix", in: ch + "0x1\r\n", err: ErrBadChunk},
	{name: "chunk size trailing space", in: ch + "1 \r\nx\r\n0\r\n\r\n", err: ErrBadChunk},
	{name: "chunk size bare LF", in: ch + "1\nx\r\n0\r\n\r\n", err: ErrBadChunk},
	{name: "chunk ext bare LF", in: ch + "1;a\nx\r\n0\r\n\r\n", err: ErrBadChunk},
	{name: "chunk ext CTL", in: ch + "1;a\x01\r\nx\r\n0\r\n\r\n", err: ErrBadChunk},
	{name: "chunk size CR without LF", in: ch + "1\rx\r\n0\r\n\r\n", err: ErrBadChunk},
	{name: "chunk data too long", in: ch + "1\r\nxy\r\n0\r\n\r\n", err: ErrBadChunk},
	{name: "chunk data bare LF", in: ch + "1\r\nx\n0\r\n\r\n", err: ErrBadChunk},
	{name: "last chunk bare LF", in: ch + "0\n\r\n", err: ErrBadChunk},
	{name: "trailer obs-fold", in: ch + "0\r\nX: a\r\n b\r\n\r\n", err: ErrSmuggling},
	{name: "trailer space before colon", in: ch + "0\r\nX : a\r\n\r\n", err: ErrSmuggling},
	{name: "trailer no colon", in: ch + "0\r\nX\r\n\r\n", err: ErrMalformed},
	{name: "trailer NUL", in: ch + "0\r\nX: \x00\r\n\r\n", err: ErrMalformed},
	{name: "trailer end bare LF", in: ch + "0\r\nX: y\r\n\n", err: ErrMalformed},

	// Limits.
	{
		name:   "URI at limit",
		in:     "GET /" + strings.Repeat("a", 15) + " HTTP/1.1\r\nHost: h\r\n\r\n",
		limits: Limits{MaxURIBytes: 16},
		want:   []string{`GET /aaaaaaaaaaaaaaa path="/aaaaaaaaaaaaaaa" query=<nil> v=1.1 host="h" cl=-1 chunked=false ka=true upgrade=<nil> body=""`},
	},
	{name: "URI over limit", in: "GET /" + strings.Repeat("a", 16) + " HTTP/1.1\r\nHost: h\r\n\r\n", limits: Limits{MaxURIBytes: 16}, err: ErrURITooLong},
	{name: "URI over limit, line unfinished", in: "GET /" + strings.Repeat("a", 16), limits: Limits{MaxURIBytes: 16}, err: ErrURITooLong},
	{name: "URI over default limit", in: "GET /" + strings.Repeat("a", DefaultMaxURIBytes), err: ErrURITooLong},
	{
		name:   "head at limit",
		in:     "GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("v", 100-32) + "\r\n\r\n",
		limits: Limits{MaxHeaderBytes: 100},
		want:   []string{`GET / path="/" query=<nil> v=1.1 host="h" cl=-1 chunked=false ka=true upgrade=<nil> body=""`},
	},
	{name: "head over limit", in: "GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("v", 101-32) + "\r\n\r\n", limits: Limits{MaxHeaderBytes: 100}, err: ErrHeaderTooLarge},
	{name: "never-ending header line", in: "GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("v", DefaultMaxHeaderBytes), err: ErrHeaderTooLarge},
	{name: "never-ending leading empty lines", in: strings.Repeat("\r\n", DefaultMaxHeaderBytes/2+1), err: ErrHeaderTooLarge},
	{
		name:   "header count at limit",
		in:     "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n",
		limits: Limits{MaxHeaders: 3},
		want:   []string{`GET / path="/" query=<nil> v=1.1 host="h" cl=-1 chunked=false ka=true upgrade=<nil> body=""`},
	},
	{name: "header count over limit", in: "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: Limits{MaxHeaders: 3}, err: ErrHeaderTooLarge},
	{name: "header count over default limit", in: "GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("A: 1\r\n", DefaultMaxHeaders) + "\r\n", err: ErrHeaderTooLarge},
	{
		name:   "body at limit",
		in:     "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd" + ch + "2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n",
		limits: Limits{MaxBodyBytes: 4},
		want: []string{
			`POST / path="/" query=<nil> v=1.1 host="h" cl=4 chunked=false ka=true upgrade=<nil> body="abcd"`,
			`POST /up path="/up" query=<nil> v=1.1 host="h" cl=-1 chunked=true ka=true upgrade=<nil> body="abcd"`,
		},
	},
	{name: "Content-Length over limit", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", limits: Limits{MaxBodyBytes: 4}, err: ErrBodyTooLarge},
	{name: "Content-Length over default limit", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n", err: ErrBodyTooLarge},
	{name: "chunked over limit", in: ch + "2\r\nab\r\n3\r\n", limits: Limits{MaxBodyBytes: 4}, err: ErrBodyTooLarge},
	{name: "chunk size huge", in: ch + "ffffffffffffffff\r\n", err: ErrBodyTooLarge},
	{name: "chunk extensions over limit", in: ch + "1;" + strings.Repeat("e", 61) + "\r\nx\r\n1;" + strings.Repeat("e", 61) + "\r\n", limits: Limits{MaxHeaderBytes: 120}, err: ErrBadChunk},
	{
		name:   "trailers at limit",
		in:     "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " + strings.Repeat("t", 95) + "\r\n\r\n",
		limits: Limits{MaxHeaderBytes: 102},
		want:   []string{`POST / path="/" query=<nil> v=1.1 host="h" cl=-1 chunked=true ka=true upgrade=<nil> body=""`},
	},
	{name: "trailers over limit", in: ch + "0\r\nT: " + strings.Repeat("t", 96) + "\r\n\r\n", limits: Limits{MaxHeaderBytes: 102}, err: ErrHeaderTooLarge},
	{name: "trailer count over limit", in: ch + "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", limits: Limits{MaxHeaders: 3}, err: ErrHeaderTooLarge},
}

const browserGET = "GET /static/app.js?v=3&lang=en HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Referer: https://www.example.com/index.html\r\n" +
	"Cookie: session=0123456789abcdef; theme=dark\r\n" +
	"Connection: keep-alive\r\n" +
	"\r\n"

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range feedModes {
				seeds := []int64{0}
				if mode == feedRandom || mode == feedRandomCompact {
					seeds = []int64{1, 2, 3, 4, 5, 6, 7, 8}
				}
				for _, seed := range seeds {
					res := feed(tt.limits, []byte(tt.in), mode, rand.New(rand.NewSource(seed)))
					if !equalStrings(res.reqs, tt.want) || !errors.Is(res.err, tt.err) && res.err != tt.err {
						t.Errorf("Parse(%q) [%v, seed %d] =\n\t%s, err %v\nwant\n\t%s, err %v",
							tt.in, mode, seed, strings.Join(res.reqs, "\n\t"), res.err,
							strings.Join(tt.want, "\n\t"), tt.err)
						return
					}
					if res.err != nil && res.err != ErrNeedMore {
						var pe *ProtocolError
						if !errors.As(res.err, &pe) {
							t.Errorf("Parse(%q) error %v is not a *ProtocolError", tt.in, res.err)
						}
					}
				}
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseHeaders(t *testing.T) {
	in := "GET / HTTP/1.1\r\nHost: h\r\nX-A: \t a\tb \t\r\nx-a: second\r\nX-Empty:\r\nX-B: caf\xc3\xa9\r\n\r\n"
	want := []string{"Host: h", "X-A: a\tb", "x-a: second", "X-Empty: ", "X-B: caf\xc3\xa9"}
	for _, mode := range feedModes {
		res := feed(Limits{}, []byte(in), mode, rand.New(rand.NewSource(1)))
		if res.err != nil || len(res.headers) != 1 || !equalStrings(res.headers[0], want) {
			t.Errorf("Parse(%q) [%v] headers = %q, %v; want %q", in, mode, res.headers, res.err, want)
		}
	}

	var p Parser // zero value uses default limits
	var req Request
	if _, err := p.Parse([]byte(in), &req); err != nil {
		t.Fatalf("Parse(%q) = %v", in, err)
	}
	for _, tt := range []struct {
		name string
		want []byte
	}{
		{"host", []byte("h")},
		{"HOST", []byte("h")},
		{"x-a", []byte("a\tb")},
		{"X-A", []byte("a\tb")},
		{"x-empty", []byte{}},
		{"X-Missing", nil},
		{"X-", nil},
	} {
		got := req.Header(tt.name)
		if !bytes.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("Header(%q) = %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestHasToken(t *testing.T) {
	in := "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive,  Upgrade\r\nConnection: x-foo\r\nAccept-Encoding: gzip;q=1.0, br\r\n\r\n"
	var p Parser
	var req Request
	if _, err := p.Parse([]byte(in), &req); err != nil {
		t.Fatalf("Parse(%q) = %v", in, err)
	}
	for _, tt := range []struct {
		name, token string
		want        bool
	}{
		{"Connection", "keep-alive", true},
		{"connection", "UPGRADE", true},
		{"Connection", "x-foo", true},
		{"Connection", "close", false},
		{"Connection", "keep", false},
		{"Accept-Encoding", "br", true},
		{"Accept-Encoding", "gzip", false}, // has a parameter; exact element match only
		{"Missing", "x", false},
	} {
		if got := req.HasToken(tt.name, tt.token); got != tt.want {
			t.Errorf("HasToken(%q, %q) = %v; want %v", tt.name, tt.token, got, tt.want)
		}
	}
}

func TestQuery(t *testing.T) {
	in := "GET /s?a=1&b=&c&d=x%20y+z&a=2&e%20f=g&h=%zz&h=ok HTTP/1.1\r\nHost: h\r\n\r\n"
	var p Parser
	var req Request
	if _, err := p.Parse([]byte(in), &req); err != nil {
		t.Fatalf("Parse(%q) = %v", in, err)
	}
	for _, tt := range []struct {
		name   string
		want   string
		wantOK bool
	}{
		{"a", "1", true},
		{"b", "", true},
		{"c", "", true},
		{"d", "x%20y+z", true},
		{"e%20f", "g", true},
		{"e f", "", false},
		{"h", "%zz", true},
		{"z", "", false},
	} {
		got, ok := req.QueryArg(tt.name)
		if string(got) != tt.want || ok != tt.wantOK {
			t.Errorf("QueryArg(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
	for _, tt := range []struct {
		name   string
		want   string
		wantOK bool
	}{
		{"a", "1", true},
		{"b", "", true},
		{"c", "", true},
		{"d", "x y z", true},
		{"e f", "g", true},
		{"h", "ok", true}, // the pair with the invalid escape is skipped
		{"z", "", false},
	} {
		got, ok := req.QueryValue(tt.name)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("QueryValue(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}

	req.Reset()
	if _, ok := req.QueryArg("a"); ok || req.ContentLength != -1 || req.Method != nil {
		t.Errorf("after Reset: QueryArg ok=%v, ContentLength=%d, Method=%q; want false, -1, nil", ok, req.ContentLength, req.Method)
	}
}

// TestExpectContinue checks the 100-continue flow as the loop drives it.
func TestExpectContinue(t *testing.T) {
	for _, tt := range []struct {
		name, head, body string
		want             []error // results of Parse after head, after the first body byte, after all
	}{
		{
			name: "content-length",
			head: "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
			body: "abc",
			want: []error{ErrExpectContinue, ErrNeedMore, nil},
		},
		{
			name: "chunked",
			head: "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
			body: "3\r\nabc\r\n0\r\n\r\n",
			want: []error{ErrExpectContinue, ErrNeedMore, nil},
		},
		{
			name: "HTTP/1.0 ignored",
			head: "PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
			body: "abc",
			want: []error{ErrNeedMore, ErrNeedMore, nil},
		},
		{
			name: "no body",
			head: "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
			want: []error{nil},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := NewParser(Limits{})
			var req Request
			in := tt.head + tt.body
			prefixes := []int{len(tt.head)}
			if tt.body != "" {
				prefixes = append(prefixes, len(tt.head)+1, len(in))
			}
			for i, k := range prefixes {
				n, err := p.Parse([]byte(in[:k]), &req)
				if err != tt.want[i] {
					t.Fatalf("Parse(%q) = %d, %v; want %v", in[:k], n, err, tt.want[i])
				}
				if err == ErrExpectContinue && (string(req.Method) != "PUT" || string(req.Host) != "h") {
					t.Errorf("at ErrExpectContinue: Method=%q Host=%q; want head fields filled", req.Method, req.Host)
				}
				if err == nil && (n != len(in) || string(req.Body) != "abc" && tt.body != "") {
					t.Errorf("Parse(%q) = %d, body %q; want %d, %q", in, n, req.Body, len(in), "abc")
				}
			}
			// Calling again without new bytes must not repeat the signal.
			if tt.body != "" {
				p2 := NewParser(Limits{})
				p2.Parse([]byte(tt.head), &req)
				if _, err := p2.Parse([]byte(tt.head), &req); err == ErrExpectContinue {
					t.Errorf("second Parse(%q) = ErrExpectContinue; want it once", tt.head)
				}
			}
		})
	}
}

// TestParseResumes checks that Parse never rescans: after ErrNeedMore in the
// head, the saved offset is at the end of the input, so feeding n bytes one
// at a time costs O(n).
func TestParseResumes(t *testing.T) {
	in := []byte("GET /" + strings.Repeat("p", 3000) + " HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X-Long: "+strings.Repeat("v", 100)+"\r\n", 40))
	p := NewParser(Limits{})
	var req Request
	for k := 1; k <= len(in); k++ {
		if _, err := p.Parse(in[:k], &req); err != ErrNeedMore {
			t.Fatalf("Parse(in[:%d]) = %v; want ErrNeedMore", k, err)
		}
		if p.pos != k {
			t.Fatalf("after Parse(in[:%d]) pos = %d; want %d", k, p.pos, k)
		}
	}
}

func TestParserReset(t *testing.T) {
	p := NewParser(Limits{MaxHeaders: 200})
	var req Request
	if _, err := p.Parse([]byte("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab"), &req); err != ErrNeedMore {
		t.Fatalf("Parse = %v; want ErrNeedMore", err)
	}
	p.Reset()
	in := "GET /x HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("A: 1\r\n", 150) + "\r\n"
	n, err := p.Parse([]byte(in), &req)
	if err != nil || n != len(in) || string(req.Path) != "/x" || len(req.Headers) != 151 {
		t.Errorf("Parse after Reset = %d, %v, path %q, %d headers; want %d, nil, /x, 151", n, err, req.Path, len(req.Headers), len(in))
	}
}

func TestParseErrorSticky(t *testing.T) {
	p := NewParser(Limits{})
	var req Request
	bad := []byte("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n")
	for i := 0; i < 2; i++ {
		if n, err := p.Parse(bad, &req); n != 0 || err != ErrSmuggling {
			t.Fatalf("Parse(%q) call %d = %d, %v; want 0, ErrSmuggling", bad, i, n, err)
		}
	}
	good := []byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, err := p.Parse(good, &req); err != ErrSmuggling {
		t.Fatalf("Parse(%q) after error = %v; want the sticky ErrSmuggling", good, err)
	}
	p.Reset()
	if n, err := p.Parse(good, &req); n != len(good) || err != nil {
		t.Fatalf("Parse(%q) after Reset = %d, %v; want %d, nil", good, n, err, len(good))
	}
}

func TestProtocolError(t *testing.T) {
	var err error = ErrHeaderTooLarge
	var pe *ProtocolError
	if !errors.As(err, &pe) || pe.Status != 431 || err.Error() != "httpcodec: request header fields too large" {
		t.Errorf("ErrHeaderTooLarge: As=%v Status=%d Error()=%q", pe != nil, pe.Status, err.Error())
	}
	if errors.Is(ErrMissingHost, ErrMalformed) {
		t.Errorf("errors.Is(ErrMissingHost, ErrMalformed) = true; want false (pointer identity)")
	}
}

func TestHeadComplete(t *testing.T) {
	var p Parser
	var req Request
	in := []byte("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab")
	if _, err := p.Parse(in[:20], &req); err != ErrNeedMore || p.HeadComplete() {
		t.Fatalf("partial head: err %v, HeadComplete %v; want ErrNeedMore, false", err, p.HeadComplete())
	}
	if _, err := p.Parse(in, &req); err != ErrNeedMore || !p.HeadComplete() {
		t.Fatalf("head without body: err %v, HeadComplete %v; want ErrNeedMore, true", err, p.HeadComplete())
	}
	in = append(in, "cde"...)
	if n, err := p.Parse(in, &req); err != nil || n != len(in) || p.HeadComplete() {
		t.Fatalf("whole request: n %d, err %v, HeadComplete %v; want %d, nil, false", n, err, p.HeadComplete(), len(in))
	}
}
