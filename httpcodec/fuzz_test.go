package httpcodec

import (
	"bufio"
	"bytes"
	"io"
	"math/rand"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
	browserGET,
	"GET /search?q=go+lang&page=2 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n",
	"POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\na=1&b=hello",
	ch + "5;ext=1\r\nhello\r\n0\r\nX-Trailer: v\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
	"GET http://h/x HTTP/1.1\r\nHost: h\r\n\r\n",
	"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET /events HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\nLast-Event-ID: 42\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
	"GET / HTTP/1.1\nHost: h\n\n",
}

// FuzzParseRequest checks Parse against itself (whole input vs. byte at a
// time vs. random splits) and against http.ReadRequest: whatever we accept,
// net/http must accept with the same method, request-target, Host and body.
// We are deliberately stricter (bare LF, obs-fold, CL+TE, HTTP/1.2, missing
// Host, ...), so a net/http accept with our reject is not a failure.
func FuzzParseRequest(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint8) {
		if len(in) > 4096 {
			return // the limits below reject longer inputs; keep feed's O(n²) copying cheap
		}
		l := Limits{MaxURIBytes: 256, MaxHeaderBytes: 512, MaxBodyBytes: 512, MaxHeaders: 16}
		whole := feed(l, in, feedWhole, nil)
		for _, mode := range []feedMode{feedByte, feedRandom, feedByteCompact, feedRandomCompact} {
			got := feed(l, in, mode, rand.New(rand.NewSource(int64(seed))))
			if !equalStrings(got.reqs, whole.reqs) || got.err != whole.err {
				t.Fatalf("Parse(%q) [%v] = %q, %v; whole = %q, %v", in, mode, got.reqs, got.err, whole.reqs, whole.err)
			}
		}

		p := NewParser(l)
		var req Request
		b := bytes.Clone(in) // Parse writes into b; net/http gets the original
		for off := 0; off < len(in); {
			n, err := p.Parse(b[off:], &req)
			if err != nil {
				if n != 0 {
					t.Fatalf("Parse(%q) = %d, %v; want n=0 with an error", in[off:], n, err)
				}
				return
			}
			if n <= 0 || n > len(b)-off {
				t.Fatalf("Parse(%q) = %d; out of range", in[off:], n)
			}
			compareNetHTTP(t, in[off:off+n], &req)
			off += n
		}
	})
}

func compareNetHTTP(t *testing.T, raw []byte, req *Request) {
	t.Helper()
	// We skip empty lines before a request line (RFC 9112, Section 2.2);
	// net/http does not, so give it the request without them.
	for bytes.HasPrefix(raw, []byte("\r\n")) {
		raw = raw[2:]
	}
	hr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		// net/http validates the request-target with url.ParseRequestURI;
		// we leave URI syntax to the application.
		if _, uerr := url.ParseRequestURI(string(req.URI)); uerr != nil ||
			string(req.Method) == "CONNECT" || strings.Contains(err.Error(), "URI") {
			return
		}
		t.Fatalf("Parse accepted %q, http.ReadRequest: %v", raw, err)
	}
	body, err := io.ReadAll(hr.Body)
	if err != nil {
		t.Fatalf("Parse accepted %q, reading net/http body: %v", raw, err)
	}
	if hr.Method != string(req.Method) || hr.RequestURI != string(req.URI) ||
		!bytes.Equal(body, req.Body) || hr.ProtoMinor != req.ProtoMinor {
		t.Fatalf("Parse(%q) = %s %s 1.%d body %q; net/http %s %s 1.%d body %q",
			raw, req.Method, req.URI, req.ProtoMinor, req.Body, hr.Method, hr.RequestURI, hr.ProtoMinor, body)
	}
	// net/http takes Host from any absolute-form target; we do for http and
	// https ones (RFC 9112, Section 3.2.2). It also unescapes %XX in a
	// target's host, which we leave to the application, and takes Host from
	// a CONNECT target.
	absolute := httpSchemeLen(req.URI) > 0
	if req.Host != nil && string(req.Method) != "CONNECT" &&
		(req.URI[0] == '/' || req.URI[0] == '*' || absolute && bytes.IndexByte(req.Host, '%') < 0) &&
		hr.Host != string(req.Host) {
		t.Fatalf("Parse(%q) Host = %q; net/http %q", raw, req.Host, hr.Host)
	}
	if (req.URI[0] == '/' || absolute) && string(req.Method) != "CONNECT" && hr.URL.RawQuery != string(req.Query) {
		t.Fatalf("Parse(%q) Query = %q; net/http %q", raw, req.Query, hr.URL.RawQuery)
	}
	if !req.Chunked && hr.ContentLength != max(req.ContentLength, 0) && req.ContentLength >= 0 {
		t.Fatalf("Parse(%q) ContentLength = %d; net/http %d", raw, req.ContentLength, hr.ContentLength)
	}
	if req.KeepAlive == hr.Close {
		t.Fatalf("Parse(%q) KeepAlive = %v; net/http Close = %v", raw, req.KeepAlive, hr.Close)
	}
}

// FuzzChunkedBody compares chunked decoding with httputil.NewChunkedReader.
// When we accept, the decoded body must equal what net/http reads. When
// net/http reads the body and the last-chunk line cleanly but we reject, only
// our documented extra strictness may be the cause.
func FuzzChunkedBody(f *testing.F) {
	for _, s := range []string{
		"0\r\n\r\n",
		"5\r\nhello\r\n0\r\n\r\n",
		"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
		"a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n",
		"0000000000000003\r\nabc\r\n0\r\n\r\n",
		"3\r\nabc\n0\r\n\r\n",
		"3 \r\nabc\r\n0\r\n\r\n",
		"3\nabc\r\n0\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(0))
	}
	head := []byte(ch)
	f.Fuzz(func(t *testing.T, data []byte, seed uint8) {
		if len(data) > 8192 {
			return
		}
		l := Limits{MaxBodyBytes: 4096, MaxHeaderBytes: 512}
		in := append(append([]byte(nil), head...), data...)
		whole := feed(l, in, feedWhole, nil)
		for _, mode := range []feedMode{feedRandom, feedRandomCompact} {
			got := feed(l, in, mode, rand.New(rand.NewSource(int64(seed))))
			if !equalStrings(got.reqs, whole.reqs) || got.err != whole.err {
				t.Fatalf("Parse(%q) [%v] = %q, %v; whole = %q, %v", in, mode, got.reqs, got.err, whole.reqs, whole.err)
			}
		}

		p := NewParser(l)
		var req Request
		n, err := p.Parse(in, &req)
		want, werr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(data)))
		switch {
		case err == nil:
			if werr != nil {
				t.Fatalf("Parse accepted chunked %q, net/http: %v", data, werr)
			}
			if !bytes.Equal(req.Body, want) {
				t.Fatalf("Parse(chunked %q) body = %q; net/http %q", data, req.Body, want)
			}
			if n > len(in) {
				t.Fatalf("Parse = %d > len %d", n, len(in))
			}
		case err == ErrNeedMore, err == ErrBodyTooLarge, err == ErrHeaderTooLarge:
		case werr == nil:
			// net/http accepted the chunks. It does not look at trailers and
			// accepts whitespace after the size and control bytes in
			// extensions, which we reject.
			if err != ErrBadChunk && err != ErrMalformed && err != ErrSmuggling {
				t.Fatalf("Parse(chunked %q) = %v; net/http accepted", data, err)
			}
		}
	})
}
