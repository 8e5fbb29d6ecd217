package loop

import (
	"reflect"

	"golang.org/x/sys/unix"
)

// Read backpressure. While a connection's queued output is above the high
// watermark (a client that pipelines requests and does not read the
// answers), or while its input is paused (Conn.PauseInput), the loop stops
// reading it: the bytes stay in the kernel and TCP flow control slows the
// client, instead of piling up in gnet's input buffer.
//
// gnet has no API for this, so we change the connection's registration in
// the loop's epoll set ourselves, the same way gnet does (level-triggered,
// EPOLLIN|EPOLLPRI for reading, EPOLLOUT while output is queued). This is
// consistent with gnet's own bookkeeping: gnet registers EPOLLOUT when a
// write leaves output queued and switches back to reading alone (its
// ModRead) once the queue is empty, so at worst gnet resumes reading early
// and the loop pauses again on the next read. The epoll fd is gnet's
// poller's (read once per loop by reflection, checked by TestReadPause).

const (
	epollRead  = unix.EPOLLIN | unix.EPOLLPRI
	epollWrite = unix.EPOLLOUT
)

// gnetEpollFD returns the epoll instance of gc's gnet loop, or -1.
func gnetEpollFD(gc transport) (fd int) {
	defer func() {
		if recover() != nil {
			fd = -1 // gnet's internals changed: no read pause
		}
	}()
	v := reflect.ValueOf(gc)
	if v.Kind() != reflect.Pointer {
		return -1
	}
	poller := v.Elem().FieldByName("loop").Elem().FieldByName("poller").Elem()
	f := poller.FieldByName("fd")
	if f.Kind() != reflect.Int {
		return -1
	}
	return int(f.Int())
}

// setReading registers c for reading (on) or not (off) in gnet's epoll
// set, keeping the writable interest gnet needs while output is queued.
//
// Turning reading off always asks the kernel: gnet may have turned it back
// on meanwhile (its ModRead once the output queue emptied).
func (el *eventLoop) setReading(c *Conn, on bool) {
	if c.closed || (on && !c.readOff) {
		return
	}
	if el.epfd == epfdUnknown {
		el.epfd = gnetEpollFD(c.gc)
	}
	if el.epfd < 0 {
		return
	}
	var ev uint32
	if on {
		ev = epollRead
	}
	if c.gc.OutboundBuffered() > 0 {
		ev |= epollWrite
	}
	fd := c.gc.Fd()
	if err := unix.EpollCtl(el.epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: ev, Fd: int32(fd)}); err != nil {
		return
	}
	c.readOff = !on
}
