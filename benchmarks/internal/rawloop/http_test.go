//go:build linux

package rawloop

import (
	"bytes"
	"testing"
)

func TestParseRequest(t *testing.T) {
	pub := "POST /publish?x=1&topic=t1 HTTP/1.1\r\nHost: x\r\ncontent-length: 5\r\n\r\nhello"
	sub := "GET /ws/sub?topic=t2 HTTP/1.1\r\nSec-WebSocket-Key: k==\r\n\r\n"
	in := []byte(pub + sub)
	for cut := range len(in) + 1 {
		var r Request
		n := ParseRequest(in[:cut], &r)
		switch {
		case cut < len(pub) && n != 0:
			t.Fatalf("ParseRequest(first %d bytes) = %d; want 0 (incomplete)", cut, n)
		case cut >= len(pub) && n != len(pub):
			t.Fatalf("ParseRequest(first %d bytes) = %d; want %d", cut, n, len(pub))
		}
		if n > 0 && (string(r.Path) != "/publish" || string(r.Topic) != "t1" || string(Body(in, n, &r)) != "hello") {
			t.Fatalf("got path %q topic %q body %q", r.Path, r.Topic, Body(in, n, &r))
		}
	}
	var r Request
	if n := ParseRequest([]byte(sub), &r); n != len(sub) || string(r.WSKey) != "k==" || string(r.Topic) != "t2" {
		t.Errorf("ParseRequest(%q) = %d, key %q topic %q", sub, n, r.WSKey, r.Topic)
	}
	if n := ParseRequest([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), &r); n != -1 {
		t.Errorf("chunked request: got %d; want -1", n)
	}
}

func TestAppendUpgrade(t *testing.T) {
	// RFC 6455 Section 1.3.
	got := AppendUpgrade(nil, []byte("dGhlIHNhbXBsZSBub25jZQ=="))
	if !bytes.Contains(got, []byte("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")) {
		t.Errorf("AppendUpgrade = %q", got)
	}
}
