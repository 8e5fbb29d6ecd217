package loop

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// We own the listener and the accept loop instead of letting gnet accept:
// gnet stops its whole engine on any accept error other than EAGAIN,
// EINTR, ECONNRESET and ECONNABORTED, so one burst of connections past the
// file limit (EMFILE) would drop every open connection. Here accept errors
// back off and retry as net/http's Serve does (5 ms doubling to 1 s), the
// listener is Go's (SO_REUSEADDR, so a restarted server binds at once while
// old connections linger in TIME_WAIT), and shutdown closes the listener
// first, so clients see a refused connection and retry elsewhere (an
// EventSource gives up on a 503, but reconnects after a network error).
// Accepted connections are handed to gnet's event loops (gnet.Client's
// Enroll: one dup(2) per connection).

// listen opens the server's listener.
func (s *Server) listen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	if s.cfg.ReusePort {
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) { serr = setReusePort(fd) }); err != nil {
				return err
			}
			return serr
		}
	}
	return lc.Listen(context.Background(), "tcp", addr)
}

// Accept-error backoff, as net/http's Server.Serve.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// acceptLoop accepts connections until ln is closed. It returns nil after
// the listener was closed by stop, or the error that made accepting
// impossible.
//
// A failed accept(2) (EMFILE, ENFILE, ENOBUFS, ENOMEM and friends) and a
// failed hand-over to a loop (gnet dups the socket, which meets EMFILE
// too) are one kind of failure: the clients behind it wait in the
// backlog while accepting backs off, 5 ms doubling to 1 s. A burst of
// failures logs one warning when it starts and one line with its count
// when accepting works again; each failure counts in Stats.AcceptErrors.
func (s *Server) acceptLoop(ln net.Listener, stop <-chan struct{}) error {
	var delay time.Duration
	burst := 0
	for {
		nc, err := ln.Accept()
		if err == nil {
			if err = s.admit(nc, stop); err == nil {
				if delay != 0 {
					s.log.LogAttrs(context.Background(), slog.LevelInfo, "accepting again",
						slog.Int("failed_accepts", burst))
					delay, burst = 0, 0
				}
				continue
			}
			// The accepted client is lost (admit closed it).
		} else {
			select {
			case <-stop:
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			s.acceptErrors.Add(1)
		}
		if delay == 0 {
			delay = acceptBackoffMin
			s.log.LogAttrs(context.Background(), slog.LevelWarn, "accept failed; retrying with backoff",
				slog.Any("err", err))
		} else {
			delay = min(2*delay, acceptBackoffMax)
		}
		burst++
		if !sleep(delay, stop) {
			return nil
		}
	}
}

// sleep waits for d, or until stop is closed; it reports whether the
// whole d passed.
func sleep(d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}

// admit applies the connection limits and hands nc to an event loop. It
// returns the error of a failed hand-over (gnet dups the socket, which can
// meet EMFILE too); the client then sees a closed connection.
func (s *Server) admit(nc net.Conn, stop <-chan struct{}) error {
	ip := addrIP(nc.RemoteAddr())
	switch {
	case s.draining.Load():
		_ = nc.Close()
		return nil
	case int(s.openConns()) >= s.cfg.MaxConns:
		s.refuse(nc, refusal)
		return nil
	case !s.takeIP(ip):
		s.refuse(nc, refusalPerIP)
		return nil
	}
	if s.tlsConf != nil {
		s.startHandshake(nc, ip, stop)
		return nil
	}
	if _, err := s.cli.Enroll(nc); err != nil {
		s.releaseAddr(ip)
		s.acceptErrors.Add(1)
		s.log.LogAttrs(context.Background(), slog.LevelDebug, "enroll failed", slog.Any("err", err))
		return err
	}
	return nil
}

var (
	refusal      = []byte("HTTP/1.1 503 Service Unavailable\r\nServer: streamd\r\nContent-Type: text/plain\r\nContent-Length: 20\r\nConnection: close\r\n\r\nserver at capacity.\n")
	refusalPerIP = []byte("HTTP/1.1 503 Service Unavailable\r\nServer: streamd\r\nContent-Type: text/plain\r\nContent-Length: 40\r\nConnection: close\r\n\r\ntoo many connections from your address.\n")
)

// refuse answers a connection over a limit with 503 and closes it. The
// socket is new, so the short write goes straight to the kernel.
func (s *Server) refuse(nc net.Conn, msg []byte) {
	s.refused.Add(1)
	if s.tlsConf != nil {
		// A TLS client would read plain text as a bad record: it sees the
		// connection closed, before any handshake work is spent on it.
		_ = nc.Close()
		return
	}
	_ = nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = nc.Write(msg)
	_ = nc.Close()
}

func addrIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// perIP counts open connections per client address (Config.MaxConnsPerIP).
type perIP struct {
	mu sync.Mutex
	n  map[netip.Addr]int32
}

// takeIP counts a new connection from ip; false if ip is at its limit.
func (s *Server) takeIP(ip netip.Addr) bool {
	if s.cfg.MaxConnsPerIP <= 0 || !ip.IsValid() {
		return true
	}
	s.ips.mu.Lock()
	defer s.ips.mu.Unlock()
	if s.ips.n == nil {
		s.ips.n = make(map[netip.Addr]int32)
	}
	if int(s.ips.n[ip]) >= s.cfg.MaxConnsPerIP {
		return false
	}
	s.ips.n[ip]++
	return true
}

func (s *Server) releaseAddr(ip netip.Addr) {
	if s.cfg.MaxConnsPerIP <= 0 || !ip.IsValid() {
		return
	}
	s.ips.mu.Lock()
	if n := s.ips.n[ip] - 1; n > 0 {
		s.ips.n[ip] = n
	} else {
		delete(s.ips.n, ip)
	}
	s.ips.mu.Unlock()
}

// releaseIP uncounts a closing connection. On the loop.
func (s *Server) releaseIP(c *Conn) {
	if s.cfg.MaxConnsPerIP <= 0 {
		return
	}
	s.releaseAddr(addrIP(c.gc.RemoteAddr()))
}

func setReusePort(fd uintptr) error {
	return unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}
