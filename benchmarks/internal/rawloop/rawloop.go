//go:build linux

// Package rawloop is the event loop of the raw ceiling servers (rawfanout,
// rawecho): one goroutine, one epoll instance, non-blocking sockets and the
// bare system calls, so a ceiling costs what the kernel costs and little
// else. It is not a library: no timers, no deadlines, no TLS, one loop.
//
// Per ready socket the loop does one read(2) into a shared 64 KiB buffer
// (level-triggered: what is left is reported again); Conn.Write is one
// write(2), and only what the kernel does not take is copied and sent on
// EPOLLOUT. Reads and writes use syscall.RawSyscall, which skips the Go
// runtime's syscall bookkeeping: fine for non-blocking sockets, and the
// cheapest way Go has to make the call.
//
// # Concurrency
//
// Everything runs on the goroutine that calls Run; no method is safe from
// another goroutine.
package rawloop

import (
	"errors"
	"net"
	"syscall"
	"unsafe"
)

// Conn is one accepted socket.
type Conn struct {
	Fd    int
	State any    // the server's per-connection state
	In    []byte // the server's buffer for partial input (rawloop does not touch it)

	out    []byte // bytes the kernel did not take yet
	closed bool
}

// Loop is one epoll loop with its listening socket.
type Loop struct {
	// OnData is called with the bytes of one read(2); data is valid only
	// during the call.
	OnData func(c *Conn, data []byte)
	// OnClose is called once when a connection is closed (by the peer, an
	// error, or Close).
	OnClose func(c *Conn)

	epfd, lfd int
	conns     []*Conn // by fd
	buf       []byte
}

// Listen opens a listening TCP socket on addr ("127.0.0.1:8080") with a
// backlog of 4096.
func Listen(addr string) (*Loop, error) {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, err
	}
	lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetsockoptInt(lfd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		syscall.Close(lfd)
		return nil, err
	}
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	if err := syscall.Bind(lfd, sa); err != nil {
		syscall.Close(lfd)
		return nil, err
	}
	if err := syscall.Listen(lfd, 4096); err != nil {
		syscall.Close(lfd)
		return nil, err
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		syscall.Close(lfd)
		return nil, err
	}
	l := &Loop{epfd: epfd, lfd: lfd, buf: make([]byte, 64<<10)}
	if err := l.ctl(syscall.EPOLL_CTL_ADD, lfd, syscall.EPOLLIN); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Loop) ctl(op, fd int, events uint32) error {
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	return syscall.EpollCtl(l.epfd, op, fd, &ev)
}

// Run serves until an epoll error; it does not return otherwise.
func (l *Loop) Run() error {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(l.epfd, events, -1)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return err
		}
		for i := range n {
			fd, ev := int(events[i].Fd), events[i].Events
			if fd == l.lfd {
				l.accept()
				continue
			}
			if fd >= len(l.conns) || l.conns[fd] == nil {
				continue
			}
			c := l.conns[fd]
			if ev&syscall.EPOLLOUT != 0 {
				l.flush(c)
			}
			if ev&(syscall.EPOLLIN|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 && !c.closed {
				k, errno := rawRW(syscall.SYS_READ, fd, l.buf)
				switch {
				case k > 0:
					l.OnData(c, l.buf[:k])
				case errno == syscall.EAGAIN || errno == syscall.EINTR:
				default: // EOF or error
					l.Close(c)
				}
			}
		}
	}
}

func (l *Loop) accept() {
	for {
		fd, _, err := syscall.Accept4(l.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN, or a transient error: wait for the next event
		}
		// As every peer: Go's net package and gnet set TCP_NODELAY.
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		if err := l.ctl(syscall.EPOLL_CTL_ADD, fd, syscall.EPOLLIN); err != nil {
			syscall.Close(fd)
			continue
		}
		for fd >= len(l.conns) {
			l.conns = append(l.conns, make([]*Conn, len(l.conns)+1024)...)
		}
		l.conns[fd] = &Conn{Fd: fd}
	}
}

// Write sends b: one write(2), and whatever the kernel does not take is
// copied and sent when the socket is writable again.
func (l *Loop) Write(c *Conn, b []byte) {
	if c.closed || len(b) == 0 {
		return
	}
	if len(c.out) > 0 {
		c.out = append(c.out, b...)
		return
	}
	n, errno := rawRW(syscall.SYS_WRITE, c.Fd, b)
	if n == len(b) {
		return
	}
	if n < 0 {
		if errno != syscall.EAGAIN && errno != syscall.EINTR {
			l.Close(c)
			return
		}
		n = 0
	}
	c.out = append(c.out, b[n:]...)
	_ = l.ctl(syscall.EPOLL_CTL_MOD, c.Fd, syscall.EPOLLIN|syscall.EPOLLOUT)
}

func (l *Loop) flush(c *Conn) {
	for len(c.out) > 0 {
		n, errno := rawRW(syscall.SYS_WRITE, c.Fd, c.out)
		if n < 0 {
			if errno == syscall.EAGAIN || errno == syscall.EINTR {
				return
			}
			l.Close(c)
			return
		}
		c.out = c.out[:copy(c.out, c.out[n:])]
	}
	c.out = nil
	_ = l.ctl(syscall.EPOLL_CTL_MOD, c.Fd, syscall.EPOLLIN)
}

// Close closes c and calls OnClose once.
func (l *Loop) Close(c *Conn) {
	if c.closed {
		return
	}
	c.closed = true
	syscall.Close(c.Fd) // also removes it from the epoll set
	l.conns[c.Fd] = nil
	if l.OnClose != nil {
		l.OnClose(c)
	}
}

// rawRW is read(2) or write(2) on fd without the runtime's syscall
// bookkeeping (the sockets never block). It returns the count, or -1 and
// the errno.
func rawRW(trap uintptr, fd int, b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	r, _, errno := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return -1, errno
	}
	return int(r), 0
}
