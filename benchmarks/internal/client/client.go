// Package client holds the minimal, cheap HTTP/SSE/WebSocket client pieces the
// load client and the smoke check share: a raw SSE data-line reader, a small
// WebSocket frame reader/writer, and a streaming chunked-download counter. It
// keeps per-connection buffers small so a process can hold 5,000 connections.
package client

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"strconv"
	"time"
)

// Dialer opens TCP connections from an optional fixed loopback source address,
// over TLS when TLS is set.
type Dialer struct {
	Src     string        // source IP ("" = kernel's choice)
	Timeout time.Duration // connect + handshake timeout (default 10s)
	// TLS, when set, makes Dial return a *tls.Conn whose handshake is
	// done. A ClientSessionCache in it resumes sessions (TLS 1.3 tickets).
	TLS *tls.Config
}

func (d Dialer) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return 10 * time.Second
}

// Dial opens a TCP connection to addr.
func (d Dialer) Dial(addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.timeout()}
	if d.Src != "" {
		nd.LocalAddr = &net.TCPAddr{IP: net.ParseIP(d.Src)}
	}
	c, err := nd.Dial("tcp", addr)
	if err != nil || d.TLS == nil {
		return c, err
	}
	tc := tls.Client(c, d.TLS)
	c.SetDeadline(time.Now().Add(d.timeout()))
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	c.SetDeadline(time.Time{})
	return tc, nil
}

// Head is the parsed part of an HTTP response head that the clients need.
type Head struct {
	Status        int
	ContentType   string
	Chunked       bool
	ContentLength int64 // -1 if absent
	Accept        string
}

// ReadHead reads an HTTP/1.1 response head from br.
func ReadHead(br *bufio.Reader) (Head, error) {
	h := Head{ContentLength: -1}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return h, fmt.Errorf("status line: %w", err)
	}
	f := bytes.Fields(line)
	if len(f) < 2 || !bytes.HasPrefix(f[0], []byte("HTTP/1.")) {
		return h, fmt.Errorf("bad status line %q", line)
	}
	if h.Status, err = strconv.Atoi(string(f[1])); err != nil {
		return h, fmt.Errorf("bad status line %q", line)
	}
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return h, fmt.Errorf("header: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return h, nil
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch string(bytes.ToLower(bytes.TrimSpace(k))) {
		case "content-type":
			h.ContentType = string(v)
		case "transfer-encoding":
			h.Chunked = bytes.Contains(bytes.ToLower(v), []byte("chunked"))
		case "content-length":
			h.ContentLength, _ = strconv.ParseInt(string(v), 10, 64)
		case "sec-websocket-accept":
			h.Accept = string(v)
		}
	}
}

// SSEConn is an open text/event-stream response read line by line.
type SSEConn struct {
	Conn  net.Conn
	lines *bufio.Reader
}

// DialSSE connects, sends GET target and checks for a 200 text/event-stream head.
func (d Dialer) DialSSE(addr, target string) (*SSEConn, error) {
	c, err := d.Dial(addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(d.timeout()))
	req := "GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 512)
	h, err := ReadHead(br)
	if err != nil {
		c.Close()
		return nil, err
	}
	if h.Status != 200 || !bytes.HasPrefix([]byte(h.ContentType), []byte("text/event-stream")) {
		c.Close()
		return nil, fmt.Errorf("sse: status %d content-type %q", h.Status, h.ContentType)
	}
	c.SetDeadline(time.Time{})
	s := &SSEConn{Conn: c, lines: br}
	if h.Chunked {
		s.lines = bufio.NewReaderSize(httputil.NewChunkedReader(br), 512)
	}
	return s, nil
}

// ReadData returns the payload of the next "data:" line (valid until the next
// call), skipping comments, other fields and blank lines.
func (s *SSEConn) ReadData() ([]byte, error) {
	for {
		line, err := s.lines.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		if rest, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			rest = bytes.TrimRight(rest, "\r\n")
			if len(rest) > 0 && rest[0] == ' ' {
				rest = rest[1:]
			}
			return rest, nil
		}
	}
}

// WSConn is a minimal client-side WebSocket connection (RFC 6455): masked
// writes, unmasked reads, pings answered, fragments reassembled.
type WSConn struct {
	Conn net.Conn
	br   *bufio.Reader
	mask [4]byte
	msg  []byte
	wbuf []byte
}

var wsGUID = []byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11")

// DialWS connects and performs the opening handshake for target.
func (d Dialer) DialWS(addr, target string) (*WSConn, error) {
	c, err := d.Dial(addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(d.timeout()))
	var keyRaw [16]byte
	rand.Read(keyRaw[:])
	key := base64.StdEncoding.EncodeToString(keyRaw[:])
	req := "GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 512)
	h, err := ReadHead(br)
	if err != nil {
		c.Close()
		return nil, err
	}
	sum := sha1.Sum(append([]byte(key), wsGUID...))
	if h.Status != 101 || h.Accept != base64.StdEncoding.EncodeToString(sum[:]) {
		c.Close()
		return nil, fmt.Errorf("ws: status %d accept %q", h.Status, h.Accept)
	}
	c.SetDeadline(time.Time{})
	w := &WSConn{Conn: c, br: br}
	rand.Read(w.mask[:])
	return w, nil
}

// Opcodes.
const (
	OpText   = 1
	OpBinary = 2
	OpClose  = 8
	OpPing   = 9
	OpPong   = 10
)

// AppendFrame appends a masked client frame with FIN set.
func (w *WSConn) AppendFrame(dst []byte, op byte, p []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(p); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, w.mask[:]...)
	off := len(dst)
	dst = append(dst, p...)
	for i := range p {
		dst[off+i] ^= w.mask[i&3]
	}
	return dst
}

// WriteMessage writes one masked frame.
func (w *WSConn) WriteMessage(op byte, p []byte) error {
	w.wbuf = w.AppendFrame(w.wbuf[:0], op, p)
	_, err := w.Conn.Write(w.wbuf)
	return err
}

// ErrClosed is returned by ReadMessage when the server sent a close frame.
var ErrClosed = errors.New("ws: closed by server")

// ReadMessage returns the next text or binary message (valid until the next
// call). Pings are answered, pongs skipped.
func (w *WSConn) ReadMessage() (op byte, p []byte, err error) {
	w.msg = w.msg[:0]
	var msgOp byte
	for {
		var hdr [14]byte
		if _, err := io.ReadFull(w.br, hdr[:2]); err != nil {
			return 0, nil, err
		}
		fin, fop := hdr[0]&0x80 != 0, hdr[0]&0x0F
		masked, n := hdr[1]&0x80 != 0, uint64(hdr[1]&0x7F)
		switch n {
		case 126:
			if _, err := io.ReadFull(w.br, hdr[2:4]); err != nil {
				return 0, nil, err
			}
			n = uint64(binary.BigEndian.Uint16(hdr[2:4]))
		case 127:
			if _, err := io.ReadFull(w.br, hdr[2:10]); err != nil {
				return 0, nil, err
			}
			n = binary.BigEndian.Uint64(hdr[2:10])
		}
		if n > 16<<20 {
			return 0, nil, fmt.Errorf("ws: frame too large (%d)", n)
		}
		var mk [4]byte
		if masked {
			if _, err := io.ReadFull(w.br, mk[:]); err != nil {
				return 0, nil, err
			}
		}
		start := len(w.msg)
		w.msg = append(w.msg, make([]byte, n)...)
		if _, err := io.ReadFull(w.br, w.msg[start:]); err != nil {
			return 0, nil, err
		}
		if masked {
			for i := range n {
				w.msg[start+int(i)] ^= mk[i&3]
			}
		}
		switch fop {
		case OpPing:
			pl := append([]byte(nil), w.msg[start:]...)
			w.msg = w.msg[:start]
			if err := w.WriteMessage(OpPong, pl); err != nil {
				return 0, nil, err
			}
			continue
		case OpPong:
			w.msg = w.msg[:start]
			continue
		case OpClose:
			return OpClose, nil, ErrClosed
		case OpText, OpBinary:
			msgOp = fop
		}
		if fin {
			return msgOp, w.msg, nil
		}
	}
}

// Download is the result of one chunked (or Content-Length) download.
type Download struct {
	Status  int
	Chunked bool  // Transfer-Encoding: chunked
	Body    int64 // decoded body bytes
	Chunks  Chunks
}

// Chunks summarises the chunk sizes of a chunked body (the terminating
// zero-length chunk not counted).
type Chunks struct {
	N        int64 // chunks
	Min, Max int64 // smallest and largest chunk size
	Last     int64 // size of the last data chunk
}

// Conforms reports whether the chunks are exactly size bytes split into
// chunk-byte chunks, the last one shorter (the /chunked contract).
func (c Chunks) Conforms(size, chunk int64) bool {
	want := (size + chunk - 1) / chunk
	if c.N != want {
		return false
	}
	if c.N == 0 {
		return true
	}
	last := size - (want-1)*chunk
	if c.N == 1 {
		return c.Min == last && c.Max == last
	}
	return c.Max == chunk && c.Last == last && (c.Min == chunk || c.Min == last)
}

// String describes the chunk sizes, e.g. "4096 chunks of 16384 B".
func (c Chunks) String() string {
	switch {
	case c.N == 0:
		return "no data chunks"
	case c.Min == c.Max:
		return fmt.Sprintf("%d chunks of %d B", c.N, c.Min)
	default:
		return fmt.Sprintf("%d chunks of %d–%d B (last %d B)", c.N, c.Min, c.Max, c.Last)
	}
}

func (c *Chunks) add(n int64) {
	if c.N == 0 || n < c.Min {
		c.Min = n
	}
	c.Max = max(c.Max, n)
	c.Last = n
	c.N++
}

// Downloader streams GET responses on one keep-alive connection, counting
// decoded body bytes without copying them out of a large read buffer.
type Downloader struct {
	Conn net.Conn
	Addr string
	buf  []byte
	r, w int // unread window buf[r:w]
}

// NewDownloader wraps c with a read buffer of bufSize bytes.
func NewDownloader(c net.Conn, addr string, bufSize int) *Downloader {
	return &Downloader{Conn: c, Addr: addr, buf: make([]byte, bufSize)}
}

func (d *Downloader) fill() error {
	if d.r == d.w {
		d.r, d.w = 0, 0
	} else if d.r > 0 && d.w == len(d.buf) {
		d.w = copy(d.buf, d.buf[d.r:d.w])
		d.r = 0
	}
	if d.w == len(d.buf) {
		return errors.New("download: line too long")
	}
	n, err := d.Conn.Read(d.buf[d.w:])
	d.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// line returns the next CRLF-terminated line without its terminator.
func (d *Downloader) line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(d.buf[d.r:d.w], '\n'); i >= 0 {
			l := d.buf[d.r : d.r+i]
			d.r += i + 1
			return bytes.TrimRight(l, "\r"), nil
		}
		if err := d.fill(); err != nil {
			return nil, err
		}
	}
}

// skip consumes n body bytes.
func (d *Downloader) skip(n int64) error {
	for n > 0 {
		if d.r == d.w {
			if err := d.fill(); err != nil {
				return err
			}
		}
		k := min(int64(d.w-d.r), n)
		d.r += int(k)
		n -= k
	}
	return nil
}

// Get requests target and consumes the whole response body.
func (d *Downloader) Get(target string) (Download, error) {
	var res Download
	req := "GET " + target + " HTTP/1.1\r\nHost: " + d.Addr + "\r\n\r\n"
	if _, err := io.WriteString(d.Conn, req); err != nil {
		return res, err
	}
	h := Head{ContentLength: -1}
	l, err := d.line()
	if err != nil {
		return res, err
	}
	f := bytes.Fields(l)
	if len(f) < 2 {
		return res, fmt.Errorf("download: bad status line %q", l)
	}
	h.Status, _ = strconv.Atoi(string(f[1]))
	res.Status = h.Status
	for {
		l, err := d.line()
		if err != nil {
			return res, err
		}
		if len(l) == 0 {
			break
		}
		k, v, _ := bytes.Cut(l, []byte(":"))
		switch string(bytes.ToLower(bytes.TrimSpace(k))) {
		case "transfer-encoding":
			h.Chunked = bytes.Contains(bytes.ToLower(v), []byte("chunked"))
		case "content-length":
			h.ContentLength, _ = strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		}
	}
	res.Chunked = h.Chunked
	if !h.Chunked {
		if h.ContentLength < 0 {
			return res, errors.New("download: neither chunked nor content-length")
		}
		res.Body = h.ContentLength
		return res, d.skip(h.ContentLength)
	}
	for {
		l, err := d.line()
		if err != nil {
			return res, err
		}
		if i := bytes.IndexByte(l, ';'); i >= 0 {
			l = l[:i]
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(l)), 16, 63)
		if err != nil {
			return res, fmt.Errorf("download: bad chunk size %q", l)
		}
		if n == 0 {
			for { // trailers until the empty line
				l, err := d.line()
				if err != nil {
					return res, err
				}
				if len(l) == 0 {
					return res, nil
				}
			}
		}
		if err := d.skip(int64(n)); err != nil {
			return res, err
		}
		res.Body += int64(n)
		res.Chunks.add(int64(n))
		if l, err := d.line(); err != nil || len(l) != 0 {
			return res, fmt.Errorf("download: missing CRLF after chunk data (%v)", err)
		}
	}
}

// Request sends a simple request with an optional body and returns the status
// and body (Content-Length or chunked).
func Request(d Dialer, addr, method, target string, body []byte) (int, []byte, error) {
	c, err := d.Dial(addr)
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(d.timeout()))
	req := method + " " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := c.Write(append([]byte(req), body...)); err != nil {
		return 0, nil, err
	}
	return ReadResponse(bufio.NewReader(c), method)
}

// ReadResponse reads one response to a method request from br: its status
// and its body (Content-Length, chunked, or up to EOF).
func ReadResponse(br *bufio.Reader, method string) (int, []byte, error) {
	h, err := ReadHead(br)
	if err != nil {
		return 0, nil, err
	}
	var rd io.Reader = br
	switch {
	case h.Status == 204 || h.Status == 304 || method == "HEAD":
		return h.Status, nil, nil
	case h.Chunked:
		b, err := io.ReadAll(httputil.NewChunkedReader(br))
		if err != nil {
			return h.Status, b, err
		}
		// The chunked reader stops after the last chunk's size line: read
		// the trailer section up to its empty line, so the next response
		// on a keep-alive connection starts at its status line.
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return h.Status, b, fmt.Errorf("trailer: %w", err)
			}
			if len(bytes.TrimRight(line, "\r\n")) == 0 {
				return h.Status, b, nil
			}
		}
	case h.ContentLength >= 0:
		rd = io.LimitReader(br, h.ContentLength)
	}
	b, err := io.ReadAll(rd)
	return h.Status, b, err
}
