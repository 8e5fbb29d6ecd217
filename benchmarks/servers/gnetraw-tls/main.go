// Command gnetraw-tls is the ceiling for the TLS keep-alive and pipelined
// scenarios: gnetraw (raw gnet v2, request ends counted, canned
// "Hello, World!" answers, one write per OnTraffic) with Go's crypto/tls in
// between. It does only what those scenarios physically need: decrypt the
// records gnet read, count the request ends ("\r\n\r\n") in the plaintext,
// and encrypt the canned answers into one buffer written with one gnet
// write. It parses nothing, so it serves /hello only.
//
// A handshake blocks, so it runs on a goroutine per accepted connection
// over the real socket (crypto/tls defaults: TLS 1.3, session tickets on);
// then the socket is enrolled in gnet (gnet.Client.EnrollContext) and the
// same tls.Conn continues over an in-memory transport: reads hand it the
// bytes of the current OnTraffic and report a temporary "would block"
// net.Error once they are used up (crypto/tls keeps a partial record and
// does not make a temporary error sticky), writes append the records to
// the conn's output buffer. This is the design of streamd's loop/tls.go,
// written here on its own.
//
// Without -tls-cert and -tls-key it answers the same canned /hello in
// plaintext, for the harness's liveness probe and smoke check only.
package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"log"
	"net"
	"runtime"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/streamd/streamd/benchmarks/internal/rawloop"

	"github.com/streamd/streamd/benchmarks/internal/peer"
)

const handshakeTimeout = 10 * time.Second

var (
	crlf2 = []byte("\r\n\r\n")
	hello rawloop.DatedHello // the canned answer, its Date refreshed every second
)

// errWouldBlock is what the in-memory transport's Read returns when the
// current read event's bytes are used up: a temporary net.Error, which
// crypto/tls passes up without making it the conn's permanent error.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "gnetraw-tls: no input yet" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// transport is the net.Conn under a tls.Conn: the socket during the
// handshake (nc set), then memory (nc nil, only on the loop).
type transport struct {
	nc          net.Conn
	in          []byte // the current OnTraffic's bytes not yet given to crypto/tls
	out         []byte // records crypto/tls wrote during this event
	local, peer net.Addr
}

func (t *transport) Read(p []byte) (int, error) {
	if t.nc != nil {
		return t.nc.Read(p)
	}
	if len(t.in) == 0 {
		return 0, errWouldBlock
	}
	n := copy(p, t.in)
	t.in = t.in[n:]
	return n, nil
}

func (t *transport) Write(p []byte) (int, error) {
	if t.nc != nil {
		return t.nc.Write(p)
	}
	t.out = append(t.out, p...)
	return len(p), nil
}

func (t *transport) Close() error {
	if t.nc != nil {
		return t.nc.Close()
	}
	return nil
}

func (t *transport) LocalAddr() net.Addr  { return t.local }
func (t *transport) RemoteAddr() net.Addr { return t.peer }

func (t *transport) SetDeadline(d time.Time) error {
	if t.nc != nil {
		return t.nc.SetDeadline(d)
	}
	return nil
}

func (t *transport) SetReadDeadline(d time.Time) error {
	if t.nc != nil {
		return t.nc.SetReadDeadline(d)
	}
	return nil
}

func (t *transport) SetWriteDeadline(d time.Time) error {
	if t.nc != nil {
		return t.nc.SetWriteDeadline(d)
	}
	return nil
}

// connState is a conn's state on its loop. tc is nil in plaintext mode.
type connState struct {
	tr    *transport
	tc    *tls.Conn
	plain []byte // decrypted scratch, one record at most
	resp  []byte // this event's canned answers (plaintext)
	tail  []byte // up to 3 plaintext bytes after the last request end: a "\r\n\r\n" may span records
}

type server struct {
	gnet.BuiltinEventEngine
	tls bool
}

func (s *server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if !s.tls {
		c.SetContext(&connState{resp: make([]byte, 0, 2048)})
		return nil, gnet.None
	}
	st := c.Context().(*connState)
	// The client may have sent its first request with its Finished: the
	// handshake's reads can have left it buffered in the tls.Conn.
	out, action := st.serve()
	if len(out) == 0 {
		out = nil
	}
	return out, action
}

func (s *server) OnTraffic(c gnet.Conn) gnet.Action {
	st := c.Context().(*connState)
	if st.tc == nil {
		return st.servePlain(c)
	}
	buf, _ := c.Next(-1) // valid until OnTraffic returns; crypto/tls copies what it keeps
	st.tr.in = buf
	out, action := st.serve()
	if action != gnet.None {
		return action
	}
	if len(out) > 0 {
		if _, err := c.Write(out); err != nil {
			return gnet.Close
		}
	}
	return gnet.None
}

// serve decrypts every whole record the transport holds, counts request
// ends and returns this event's encrypted answers (the transport's out
// buffer, valid until the next event).
func (st *connState) serve() ([]byte, gnet.Action) {
	st.tr.out = st.tr.out[:0]
	n := 0
	for {
		m, err := st.tc.Read(st.plain)
		if m > 0 {
			n += st.count(st.plain[:m])
		}
		if err != nil {
			if errors.Is(err, errWouldBlock) {
				break
			}
			return nil, gnet.Close // close_notify, a bad record, …
		}
	}
	st.tr.in = nil
	if n > 0 {
		resp := hello.Bytes()
		st.resp = st.resp[:0]
		for range n {
			st.resp = append(st.resp, resp...)
		}
		if _, err := st.tc.Write(st.resp); err != nil {
			return nil, gnet.Close
		}
	}
	return st.tr.out, gnet.None
}

// count returns how many request ends p completes, with the tail of the
// plaintext before it (the last ≤ 3 bytes after the last request end) in
// front of it.
func (st *connState) count(p []byte) int {
	n, matched := 0, false
	if len(st.tail) > 0 {
		// A terminator spanning the boundary starts in the tail.
		w := append(st.tail, p[:min(len(p), 3)]...)
		if i := bytes.Index(w, crlf2); i >= 0 {
			n, matched = 1, true
			p = p[i+len(crlf2)-len(st.tail):]
		}
	}
	for {
		i := bytes.Index(p, crlf2)
		if i < 0 {
			break
		}
		p = p[i+len(crlf2):]
		n++
		matched = true
	}
	switch {
	case len(p) >= 3:
		st.tail = append(st.tail[:0], p[len(p)-3:]...)
	case matched:
		st.tail = append(st.tail[:0], p...)
	default: // p is all remainder: it extends the tail
		st.tail = append(st.tail, p...)
		if k := len(st.tail) - 3; k > 0 {
			st.tail = append(st.tail[:0], st.tail[k:]...)
		}
	}
	return n
}

// servePlain answers plaintext requests (the mode without TLS flags, for
// the harness's liveness checks), counting request ends as the TLS mode
// does.
func (st *connState) servePlain(c gnet.Conn) gnet.Action {
	buf, _ := c.Peek(-1)
	n := st.count(buf)
	c.Discard(len(buf))
	if n == 0 {
		return gnet.None
	}
	resp := hello.Bytes()
	st.resp = st.resp[:0]
	for range n {
		st.resp = append(st.resp, resp...)
	}
	if _, err := c.Write(st.resp); err != nil {
		return gnet.Close
	}
	return gnet.None
}

// handshake runs the TLS handshake on nc (blocking, on its own goroutine),
// then hands the socket to gnet with the tls.Conn as its context.
func handshake(cli *gnet.Client, cfg *tls.Config, nc net.Conn) {
	tr := &transport{nc: nc, local: nc.LocalAddr(), peer: nc.RemoteAddr()}
	tc := tls.Server(tr, cfg)
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.Handshake(); err != nil {
		_ = nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	tr.nc = nil // from here on only the loop touches tr and tc
	st := &connState{tr: tr, tc: tc, plain: make([]byte, 16<<10), resp: make([]byte, 0, 2048), tail: make([]byte, 0, 8)}
	if _, err := cli.EnrollContext(nc, st); err != nil { // closes nc: gnet owns a dup of it
		return
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	loops := flag.Int("loops", runtime.NumCPU(), "number of event loops")
	common := peer.CommonFlags()
	flag.Parse()
	common.Start()
	hello.KeepFresh()
	opts := []gnet.Option{
		gnet.WithMulticore(*loops > 1),
		gnet.WithNumEventLoop(*loops),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(nopLogger{}),
	}
	if !common.TLS() {
		if err := gnet.Run(&server{}, "tcp://"+*addr, opts...); err != nil {
			log.Fatal(err)
		}
		return
	}
	cert, err := common.Certificate()
	if err != nil {
		log.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	cli, err := gnet.NewClient(&server{tls: true}, opts...)
	if err != nil {
		log.Fatal(err)
	}
	if err := cli.Start(); err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	for {
		nc, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go handshake(cli, cfg, nc)
	}
}

type nopLogger struct{}

func (nopLogger) Debugf(string, ...any) {}
func (nopLogger) Infof(string, ...any)  {}
func (nopLogger) Warnf(string, ...any)  {}
func (nopLogger) Errorf(string, ...any) {}
func (nopLogger) Fatalf(string, ...any) {}
