package loop

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// respWriter turns the HTTP/1.1 response the loop writes back into calls
// on a ResponseWriter.
type respWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	head bool // a HEAD request: the response has no body
	h1   bool // HTTP/1.x

	acc    []byte // the head, until complete
	state  uint8
	remain int64 // body bytes left (Content-Length), or of the chunk
	line   []byte

	hijacked net.Conn
	br       io.Reader
	reading  bool
	readers  sync.WaitGroup
}

const (
	rsHead uint8 = iota
	rsLength
	rsChunkSize
	rsChunkData
	rsChunkCRLF
	rsTrailers
	rsRaw
	rsHijacked
	rsDone
)

var errBadResponse = errors.New("loop: net/http backend: malformed response from the loop")

// write takes the next bytes of the response; done reports that it is
// complete.
func (p *respWriter) write(b []byte) (done bool, err error) {
	for len(b) > 0 {
		switch p.state {
		case rsHead:
			p.acc = append(p.acc, b...)
			end := bytes.Index(p.acc, []byte("\r\n\r\n"))
			if end < 0 {
				if len(p.acc) > 1<<20 {
					return false, errBadResponse
				}
				return false, nil
			}
			rest := p.acc[end+4:]
			head := p.acc[:end+2]
			if err := p.startBody(head); err != nil {
				return false, err
			}
			if p.state == rsHijacked {
				if _, err := p.hijacked.Write(p.acc); err != nil {
					return false, err
				}
				p.acc = nil
				return false, nil
			}
			b = append([]byte(nil), rest...)
			p.acc = nil
			if p.state == rsDone {
				return true, p.flush()
			}
		case rsLength:
			if b, err = p.writeBody(b); err != nil {
				return false, err
			}
			if p.remain == 0 {
				p.state = rsDone
				return true, p.flush()
			}
		case rsRaw:
			if _, err := p.w.Write(b); err != nil {
				return false, err
			}
			b = nil
		case rsHijacked:
			_, err := p.hijacked.Write(b)
			return false, err
		case rsChunkSize, rsTrailers:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				p.line = append(p.line, b...)
				if len(p.line) > 64<<10 {
					return false, errBadResponse
				}
				b = nil
				break
			}
			line := append(p.line, b[:i]...)
			p.line = p.line[:0]
			b = b[i+1:]
			line = bytes.TrimSuffix(line, []byte("\r"))
			if p.state == rsTrailers {
				if len(line) == 0 {
					p.state = rsDone
					return true, p.flush()
				}
				name, value, ok := bytes.Cut(line, []byte(":"))
				if !ok {
					return false, errBadResponse
				}
				p.w.Header().Set(http.TrailerPrefix+string(name), string(bytes.TrimSpace(value)))
				break
			}
			size, _, _ := bytes.Cut(line, []byte(";"))
			n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
			if err != nil || n < 0 {
				return false, errBadResponse
			}
			if n == 0 {
				p.state = rsTrailers
			} else {
				p.state, p.remain = rsChunkData, n
			}
		case rsChunkData:
			if b, err = p.writeBody(b); err != nil {
				return false, err
			}
			if p.remain == 0 {
				p.state, p.remain = rsChunkCRLF, 2
			}
		case rsChunkCRLF:
			n := min(int64(len(b)), p.remain)
			p.remain -= n
			b = b[n:]
			if p.remain == 0 {
				p.state = rsChunkSize
			}
		case rsDone:
			return true, nil
		}
	}
	if p.state == rsHijacked {
		return false, nil
	}
	return false, p.flush()
}

// deadline bounds the next write (Config.WriteTimeout, as the loop's own
// check): a client that stops reading cannot hold the writer for longer.
func (p *respWriter) deadline(d time.Duration) {
	t := time.Now().Add(d)
	if p.hijacked != nil {
		_ = p.hijacked.SetWriteDeadline(t)
		return
	}
	_ = p.rc.SetWriteDeadline(t)
}

// writeBody writes what b holds of the p.remain body bytes still due and
// returns the rest of b.
func (p *respWriter) writeBody(b []byte) ([]byte, error) {
	n := min(int64(len(b)), p.remain)
	if _, err := p.w.Write(b[:n]); err != nil {
		return nil, err
	}
	p.remain -= n
	return b[n:], nil
}

func (p *respWriter) flush() error {
	if err := p.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// startBody reads a response head (status line and header lines, each
// ending in CRLF), sets the ResponseWriter's status and headers and picks
// how the body is framed.
func (p *respWriter) startBody(head []byte) error {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	_, afterProto, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(afterProto) < 3 {
		return errBadResponse
	}
	status, err := strconv.Atoi(string(afterProto[:3]))
	if err != nil {
		return errBadResponse
	}
	if status == http.StatusSwitchingProtocols {
		conn, brw, err := p.rc.Hijack()
		if err != nil {
			return err // HTTP/2: no upgrade
		}
		p.hijacked, p.br, p.state = conn, brw.Reader, rsHijacked
		return nil
	}
	if status < 200 {
		// An interim response (the loop sends none: Expect is not passed
		// on): dropped; the next head follows.
		return nil
	}
	hdr := p.w.Header()
	chunked, length := false, int64(-1)
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue
		}
		v := string(bytes.TrimSpace(value))
		switch n := http.CanonicalHeaderKey(string(name)); n {
		case "Connection", "Keep-Alive", "Proxy-Connection", "Upgrade", "Te":
		case "Transfer-Encoding":
			chunked = true
		case "Content-Length":
			if length, err = strconv.ParseInt(v, 10, 64); err != nil || length < 0 {
				return errBadResponse
			}
			hdr.Set(n, v)
		default:
			hdr.Add(n, v)
		}
	}
	switch {
	case p.head || status == http.StatusNoContent || status == http.StatusNotModified || length == 0:
		p.state = rsDone
	case chunked:
		p.state = rsChunkSize
	case length > 0:
		p.state, p.remain = rsLength, length
	default:
		p.state = rsRaw
		if p.h1 {
			// A body delimited by the connection's close, as the loop
			// sends it (net/http would chunk it): net/http's "identity"
			// transfer coding.
			hdr.Set("Transfer-Encoding", "identity")
		}
	}
	p.w.WriteHeader(status)
	return nil
}

// abortIfIncomplete cuts a response the loop closed before its end (an
// aborted chunked body, a connection closed before any response), as the
// gnet backend cuts the socket: net/http then closes the connection
// without ending the body (HTTP/1.1) or resets the stream (HTTP/2). A body
// delimited by the close (a stream) simply ends.
func (p *respWriter) abortIfIncomplete() {
	switch p.state {
	case rsHead, rsLength, rsChunkSize, rsChunkData, rsChunkCRLF, rsTrailers:
		p.finish()
		panic(http.ErrAbortHandler)
	}
}

// finish closes a hijacked connection and waits for its reader.
func (p *respWriter) finish() {
	if p.hijacked != nil {
		_ = p.hijacked.Close()
		p.readers.Wait()
	}
}
