//go:build linux

package rawloop

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
)

// Request is the part of an HTTP/1.1 request head the ceilings need. Its
// slices point into the input buffer.
type Request struct {
	Method, Path, Topic []byte
	WSKey               []byte // Sec-WebSocket-Key
	ContentLength       int
}

// ParseRequest parses one request head and its Content-Length body from in.
// It returns the number of bytes used, 0 if in holds no complete request
// yet, or -1 if in is not a request this parser understands (chunked
// bodies, a head over 8 KiB).
func ParseRequest(in []byte, r *Request) int {
	end := bytes.Index(in, []byte("\r\n\r\n"))
	if end < 0 {
		if len(in) > 8<<10 {
			return -1
		}
		return 0
	}
	*r = Request{}
	head := in[:end]
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	f := bytes.Fields(line)
	if len(f) != 3 {
		return -1
	}
	r.Method = f[0]
	r.Path, _, _ = bytes.Cut(f[1], []byte("?"))
	if _, q, ok := bytes.Cut(f[1], []byte("?")); ok {
		for _, kv := range bytes.Split(q, []byte("&")) {
			if v, ok := bytes.CutPrefix(kv, []byte("topic=")); ok {
				r.Topic = v
			}
		}
	}
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			n, err := strconv.Atoi(string(v))
			if err != nil || n < 0 {
				return -1
			}
			r.ContentLength = n
		case bytes.EqualFold(k, []byte("Sec-WebSocket-Key")):
			r.WSKey = v
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			return -1
		}
	}
	total := end + 4 + r.ContentLength
	if len(in) < total {
		return 0
	}
	return total
}

// Body returns the body of the request that ParseRequest found at the
// start of in, n bytes long in all.
func Body(in []byte, n int, r *Request) []byte { return in[n-r.ContentLength : n] }

// Canned responses.
var (
	Hello    = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!")
	NotFound = []byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
)

// AppendUpgrade appends the 101 answer to a WebSocket opening handshake
// (RFC 6455 Section 4.2.2) with the Sec-WebSocket-Accept for key.
func AppendUpgrade(dst, key []byte) []byte {
	h := sha1.New()
	h.Write(key)
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	var sum [sha1.Size]byte
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = base64.StdEncoding.AppendEncode(dst, h.Sum(sum[:0]))
	return append(dst, "\r\n\r\n"...)
}
