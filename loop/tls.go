package loop

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"
)

// TLS on the loop, with the standard library's crypto/tls (no fork, so
// security fixes arrive with Go releases).
//
// A handshake runs off the loops, on a goroutine of its own over the
// accepted socket in blocking mode: crypto/tls cannot suspend a handshake
// and resume it later (a failed read ends it for good), so it needs a
// goroutine while it runs. Config.TLSHandshakeTimeout bounds each, and
// each counts as an open connection (Config.MaxConns). Config.
// MaxTLSHandshakes bounds how many compute at once, a guard against
// handshake floods: a handshake holds a slot only while crypto/tls works
// on what its client sent, never while it waits for the client (hsConn),
// so silent or slow clients cannot keep the slots from the others.
//
// Once the handshake is done the socket is handed to an event loop like a
// plain one, and the tls.Conn stays with it over an in-memory transport
// (tlsTransport): its reads take the ciphertext gnet has read and report
// "would block" (a temporary net.Error, which crypto/tls does not treat
// as fatal) when there is none; its writes append to the loop's
// ciphertext buffer, which the loop writes to the socket at once. So
// records are decrypted and encrypted on the loop, with no goroutine per
// connection, and everything above (the parser, pipelining, streams,
// backpressure, timeouts) works on plaintext exactly as over TCP.
//
// Input: process takes the connection's input from input(); for a TLS
// connection that decrypts every complete record gnet has read into the
// connection's pending input (appendInput: charged to
// Config.MaxBufferedInput like any held input), so gnet's buffer is empty
// after each callback and a partial record waits inside crypto/tls.
// Output: the cork buffer (plaintext) is encrypted when it is flushed;
// queued bytes, watermarks and write progress count ciphertext.
//
// Memory: crypto/tls keeps its record read buffer for the life of the
// connection, sized by the largest record the client sent (a browser's
// request: about 1 KiB; a 16 KiB WebSocket message: 17 KiB). Records this
// server sends use pooled buffers.

// Defaults for the TLS fields of Config.
const (
	DefaultTLSHandshakeTimeout = 10 * time.Second
	DefaultMaxTLSHandshakes    = 1024
)

// errWouldBlock is what the in-memory transport's Read returns when gnet
// holds no more ciphertext. crypto/tls keeps its state on a temporary
// net.Error and the read is retried when more arrives.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "loop: TLS transport: no input yet" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// tlsTransport is the net.Conn under a connection's tls.Conn. During the
// handshake (nc set, on the handshake goroutine) it is the socket; once the
// connection is on its loop (nc nil, c set) it is the loop's buffers.
type tlsTransport struct {
	nc net.Conn
	c  *Conn
	tc *tls.Conn
	// partialAt is the tick since which part of a record waits inside
	// crypto/tls (0 = none): a record must be complete within
	// Config.ReadTimeout, on a stream too, so a client cannot hold a
	// 16 KiB record buffer by sending it a byte at a time.
	partialAt int32
}

func (t *tlsTransport) Read(p []byte) (int, error) {
	if t.nc != nil {
		return t.nc.Read(p)
	}
	gc := t.c.gc
	n := min(gc.InboundBuffered(), len(p))
	if n == 0 {
		return 0, errWouldBlock
	}
	b, err := gc.Next(n)
	if err != nil {
		return 0, err
	}
	return copy(p, b), nil
}

func (t *tlsTransport) Write(p []byte) (int, error) {
	if t.nc != nil {
		return t.nc.Write(p)
	}
	el := t.c.el
	el.tlsOut = append(el.tlsOut, p...)
	return len(p), nil
}

// Close closes the socket during the handshake (crypto/tls does so when
// the handshake's context ends); afterwards the loop closes it.
func (t *tlsTransport) Close() error {
	if t.nc != nil {
		return t.nc.Close()
	}
	return nil
}

func (t *tlsTransport) LocalAddr() net.Addr {
	if t.nc != nil {
		return t.nc.LocalAddr()
	}
	return t.c.gc.LocalAddr()
}

func (t *tlsTransport) RemoteAddr() net.Addr {
	if t.nc != nil {
		return t.nc.RemoteAddr()
	}
	return t.c.gc.RemoteAddr()
}

// Deadlines apply during the handshake; afterwards the loop's timeouts do
// (crypto/tls sets a write deadline around close_notify).
func (t *tlsTransport) SetDeadline(d time.Time) error {
	if t.nc != nil {
		return t.nc.SetDeadline(d)
	}
	return nil
}

func (t *tlsTransport) SetReadDeadline(d time.Time) error {
	if t.nc != nil {
		return t.nc.SetReadDeadline(d)
	}
	return nil
}

func (t *tlsTransport) SetWriteDeadline(d time.Time) error {
	if t.nc != nil {
		return t.nc.SetWriteDeadline(d)
	}
	return nil
}

// serverTLS returns the server's copy of cfg: TLS 1.2 at least, ALPN
// "http/1.1" unless the application chose protocols. It refuses "h2",
// which the loop does not speak.
func serverTLS(cfg *tls.Config) (*tls.Config, error) {
	c := cfg.Clone()
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	if len(c.NextProtos) == 0 {
		c.NextProtos = []string{"http/1.1"}
	} else if slices.Contains(c.NextProtos, "h2") {
		return nil, errors.New("loop: Config.TLS.NextProtos offers h2, which the loop does not speak (use http/1.1)")
	}
	if len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil {
		return nil, errors.New("loop: Config.TLS has no certificate (Certificates, GetCertificate or GetConfigForClient)")
	}
	return c, nil
}

// startHandshake runs nc's TLS handshake on a goroutine of its own, then
// hands the connection to a loop. The handshake counts as an open
// connection (Config.MaxConns) from here on.
func (s *Server) startHandshake(nc net.Conn, ip netip.Addr, stop <-chan struct{}) {
	s.handshaking.Add(1)
	s.hsWG.Add(1)
	go s.handshake(nc, ip, stop)
}

func (s *Server) handshake(nc net.Conn, ip netip.Addr, stop <-chan struct{}) {
	deadline := time.Now().Add(s.cfg.TLSHandshakeTimeout)
	hc := &hsConn{Conn: nc, s: s, stop: stop, deadline: deadline}
	defer func() {
		s.handshaking.Add(-1)
		s.hsWG.Done()
	}()
	tr := &tlsTransport{nc: hc}
	tr.tc = tls.Server(tr, s.tlsConf)
	_ = nc.SetDeadline(deadline)
	if !s.trackHandshake(nc, true) {
		_ = nc.Close() // Serve is stopping
	}
	err := tr.tc.Handshake() // a closed socket (shutdown) ends it too
	s.trackHandshake(nc, false)
	hc.release()
	if err != nil {
		s.tlsFailed.Add(1)
		if s.log.Enabled(context.Background(), slog.LevelDebug) {
			s.log.LogAttrs(context.Background(), slog.LevelDebug, "TLS handshake failed",
				slog.Any("remote", nc.RemoteAddr()), slog.Any("err", err))
		}
		_ = nc.Close()
		s.releaseAddr(ip)
		return
	}
	s.tlsDone.Add(1)
	_ = nc.SetDeadline(time.Time{})
	// From here on the tls.Conn reads and writes the loop's buffers
	// (OnOpen sets tr.c); Enroll's hand-over to the loop orders these
	// writes before the loop's reads.
	tr.nc = nil
	if _, err := s.cli.EnrollContext(nc, tr); err != nil {
		s.releaseAddr(ip)
		s.acceptErrors.Add(1)
		s.log.LogAttrs(context.Background(), slog.LevelDebug, "enroll failed", slog.Any("err", err))
	}
}

// errHandshakeSlot ends a handshake that could not get a slot: Serve is
// stopping, or TLSHandshakeTimeout passed while it waited.
var errHandshakeSlot = errors.New("loop: no TLS handshake slot (shutdown or handshake timeout)")

// hsConn is the socket as crypto/tls sees it during a handshake. It holds
// one of the Config.MaxTLSHandshakes slots only while crypto/tls works on
// what the client sent (a ClientHello up to the server's flight, the
// client's Finished): it gives the slot back before every read that waits
// for the client and takes one again when bytes arrive. So the slots bound
// the handshakes computing at once (the CPU guard), and a client that
// sends nothing, or trickles its ClientHello, holds a goroutine and a
// socket (counted in MaxConns, for at most TLSHandshakeTimeout) but never
// a slot that other clients wait for.
type hsConn struct {
	net.Conn
	s        *Server
	stop     <-chan struct{}
	deadline time.Time
	slot     bool
}

func (h *hsConn) Read(p []byte) (int, error) {
	h.release()
	n, err := h.Conn.Read(p)
	if n > 0 && !h.acquire() {
		return 0, errHandshakeSlot
	}
	return n, err
}

// acquire takes a slot, waiting at the limit until one is free, Serve
// stops or the handshake's deadline passes; it reports whether it got one.
func (h *hsConn) acquire() bool {
	slots := h.s.hsSlots
	select {
	case slots <- struct{}{}:
		h.slot = true
		return true
	default:
	}
	h.s.hsWaiting.Add(1)
	defer h.s.hsWaiting.Add(-1)
	t := time.NewTimer(time.Until(h.deadline))
	defer t.Stop()
	select {
	case slots <- struct{}{}:
		h.slot = true
		return true
	case <-h.stop:
	case <-t.C:
	}
	return false
}

func (h *hsConn) release() {
	if h.slot {
		h.slot = false
		<-h.s.hsSlots
	}
}

// trackHandshake registers nc as in a handshake (add) or not; stopHandshakes
// closes those registered. It reports false when Serve stopped accepting.
// (A handshake's own context would cost a goroutine per handshake.)
func (s *Server) trackHandshake(nc net.Conn, add bool) bool {
	s.hsMu.Lock()
	defer s.hsMu.Unlock()
	if s.hsConns == nil {
		return false
	}
	if add {
		s.hsConns[nc] = struct{}{}
	} else {
		delete(s.hsConns, nc)
	}
	return true
}

// stopHandshakes closes the sockets of the handshakes in flight, which
// end them, and refuses new ones.
func (s *Server) stopHandshakes() {
	s.hsMu.Lock()
	conns := s.hsConns
	s.hsConns = nil
	s.hsMu.Unlock()
	for nc := range conns {
		_ = nc.Close()
	}
}

// openTLS attaches a handshaken connection's TLS state to c, and has its
// input looked at once: what the client sent right after its handshake may
// already sit decrypted-ready inside crypto/tls, with no read event to come.
func (el *eventLoop) openTLS(c *Conn, tr *tlsTransport) {
	tr.c = c
	tlsTrimHandshake(tr.tc)
	if el.tls == nil {
		el.tls = make(map[*Conn]*tlsTransport)
	}
	el.tls[c] = tr
	el.resumeLater(c)
}

// tlsDecrypt moves c's ciphertext from gnet through crypto/tls into c's
// pending input. It reports false when c was closed: the peer ended the
// session, a record was bad, or the input budget ran out.
func (el *eventLoop) tlsDecrypt(c *Conn) bool {
	tr := el.tls[c]
	if tr == nil || c.closed {
		return false
	}
	if el.tlsIn == nil {
		el.tlsIn = make([]byte, 16<<10) // one record's plaintext at most
	}
	for {
		n, err := tr.tc.Read(el.tlsIn)
		if n > 0 && !el.appendInput(c, el.tlsIn[:n]) {
			// c is closed, but crypto/tls may have written for it in this
			// Read (the answer to a KeyUpdate): drop that here, or the
			// loop's next write to another connection sends it first.
			el.tlsSend(c)
			return false
		}
		if err == nil {
			continue
		}
		el.tlsSend(c) // an alert, or the answer to a key update
		if err == errWouldBlock {
			el.tlsNotePartial(c, tr)
			tlsTrimRead(tr.tc, c.mode != nil)
			return !c.closed
		}
		if errors.Is(err, io.EOF) {
			// close_notify: the client sends nothing more; as over TCP,
			// where the peer's FIN closes the connection.
			c.closeWith(reasonPeer)
			return false
		}
		el.srv.logDebug("TLS record rejected", c, err)
		c.closeWith(reasonTLS)
		return false
	}
}

// tlsStash ends a round of processing: ciphertext still in gnet's buffer
// is decrypted into the pending input, and crypto/tls's read buffer is
// released if it is empty and no longer worth keeping (tls_trim.go).
func (el *eventLoop) tlsStash(c *Conn) {
	if c.gc.InboundBuffered() > 0 {
		el.tlsDecrypt(c) // trims at its end
		return
	}
	if tr := el.tls[c]; tr != nil {
		tlsTrimRead(tr.tc, c.mode != nil)
	}
}

// tlsNotePartial starts the ReadTimeout clock of a record left incomplete,
// and stops it once none is.
func (el *eventLoop) tlsNotePartial(c *Conn, tr *tlsTransport) {
	switch partial := tlsPartial(tr.tc); {
	case partial && tr.partialAt == 0:
		tr.partialAt = el.srv.tickNow()
		el.reschedule(c)
	case !partial:
		tr.partialAt = 0 // a deadline already on the wheel recomputes when it fires
	}
}

// tlsPartialExpired reports whether c has had an incomplete record for
// Config.ReadTimeout.
func (el *eventLoop) tlsPartialExpired(c *Conn, now int32) bool {
	tr := el.tls[c]
	return tr != nil && tr.partialAt != 0 && tr.partialAt+ticks(el.srv.cfg.ReadTimeout) <= now
}

// tlsWrite encrypts b for c and writes the records to the socket.
func (el *eventLoop) tlsWrite(c *Conn, b []byte) {
	tr := el.tls[c]
	if tr == nil || c.closed {
		return
	}
	if _, err := tr.tc.Write(b); err != nil {
		// Only after close_notify went out: nothing more is sent.
		el.tlsOut = el.tlsOut[:0]
		return
	}
	el.tlsSend(c)
}

// tlsWritev encrypts iov as one run of records (small pieces share a
// record instead of costing one each) and writes them.
func (el *eventLoop) tlsWritev(c *Conn, iov [][]byte) {
	if len(iov) == 1 {
		el.tlsWrite(c, iov[0])
		return
	}
	buf := el.tlsPlain[:0]
	for _, b := range iov {
		buf = append(buf, b...)
	}
	el.tlsPlain = nil // a write below may nest (a close callback): it gets its own
	el.tlsWrite(c, buf)
	if cap(buf) <= 4*maxCork {
		el.tlsPlain = buf[:0]
	}
}

// tlsSend writes the ciphertext crypto/tls produced for c to the socket.
// The buffer is taken first: gnet's write may close c, and the close
// callbacks may write to another TLS connection of the loop.
func (el *eventLoop) tlsSend(c *Conn) {
	out := el.tlsOut
	if len(out) == 0 {
		return
	}
	el.tlsOut = nil
	if !c.closed {
		c.queuedTotal += uint32(len(out))
		_, _ = c.gc.Write(out)
	}
	if el.tlsOut == nil && cap(out) <= 4*maxCork {
		el.tlsOut = out[:0]
	}
}

// tlsCloseNotify sends close_notify before the loop half-closes c.
func (el *eventLoop) tlsCloseNotify(c *Conn) {
	tr := el.tls[c]
	if tr == nil {
		return
	}
	_ = tr.tc.CloseWrite()
	el.tlsSend(c)
}

// closeTLS forgets c's TLS state.
func (el *eventLoop) closeTLS(c *Conn) {
	if el.tls != nil {
		delete(el.tls, c)
	}
}
