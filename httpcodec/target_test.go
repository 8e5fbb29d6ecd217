package httpcodec

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

// TestAbsoluteFormMatchesNetHTTP checks Host, Path and Query of absolute-form
// requests against http.ReadRequest, which also takes Host from the target's
// authority (RFC 9112, Section 3.2.2).
func TestAbsoluteFormMatchesNetHTTP(t *testing.T) {
	for _, tt := range []struct {
		target string
		reject bool // we reject what net/http accepts, on purpose
	}{
		{target: "http://example.com/"},
		{target: "http://example.com:8080/path?q"},
		{target: "HTTP://EXAMPLE.com/x"},
		{target: "Https://h"},
		{target: "https://h?x=1&y"},
		{target: "https://h/?"},
		{target: "http://[::1]:8080/p"},
		{target: "http://127.0.0.1/p/q/"},
		{target: "http://h:/p"},
		{target: "http://h.example./p"},
		{target: "http://xn--bcher-kva.example/"},
		{target: "http://h/%7Euser/a%20b?c=%20"},
		{target: "http://h//double"},
		// RFC 9110, Section 4.2.1: an http URI with an empty host is
		// invalid; net/http falls back to the Host header for the first and
		// takes Host ":80" for the second.
		{target: "http:///x", reject: true},
		{target: "http://:80/x", reject: true},
		// RFC 9110, Section 4.2.4: userinfo is an error; net/http drops it.
		{target: "http://user:pw@h/x", reject: true},
	} {
		in := "GET " + tt.target + " HTTP/1.1\r\nHost: header.example\r\n\r\n"
		var p Parser
		var req Request
		_, err := p.Parse([]byte(in), &req)
		if tt.reject {
			if err != ErrMalformed {
				t.Errorf("Parse(%q) = %v; want ErrMalformed", in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q) = %v; want nil", in, err)
			continue
		}
		hr, herr := http.ReadRequest(bufio.NewReader(bytes.NewReader([]byte(in))))
		if herr != nil {
			t.Errorf("http.ReadRequest(%q): %v", in, herr)
			continue
		}
		wantPath := hr.URL.EscapedPath()
		if wantPath == "" {
			wantPath = "/"
		}
		if string(req.Host) != hr.Host || string(req.Path) != wantPath || string(req.Query) != hr.URL.RawQuery {
			t.Errorf("Parse(%q) = host %q path %q query %q; net/http host %q path %q query %q",
				in, req.Host, req.Path, req.Query, hr.Host, wantPath, hr.URL.RawQuery)
		}
	}
}
