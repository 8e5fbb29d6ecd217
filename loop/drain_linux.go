package loop

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// drainWatcher tells a loop when sockets with queued output become
// writable again. gnet flushes its outbound buffers on its own EPOLLOUT
// events but gives users no callback, and polling on a timer caps a
// backpressured stream at (high − low watermark) per poll. So each loop
// has a second epoll instance in which a socket is registered
// EPOLLOUT|EPOLLONESHOT while a producer waits for it to drain (or it
// waits to close after flushing); one goroutine per loop waits on it and
// posts the ready sockets to the loop in one task per batch.
//
// The notification fires when the kernel has room, which is exactly when
// gnet writes more of its buffer; the loop then checks the buffered
// amount and re-arms if it is still above the low watermark.
type drainWatcher struct {
	el      *eventLoop
	epfd    int
	wakefd  int // eventfd to stop the goroutine
	stopped atomic.Bool
	done    chan struct{}
	once    sync.Once

	// loop-only
	byFD map[int32]*Conn
}

func newDrainWatcher(el *eventLoop) *drainWatcher {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil // fall back to polling
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return nil
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wfd)
		return nil
	}
	dw := &drainWatcher{el: el, epfd: epfd, wakefd: wfd, done: make(chan struct{}), byFD: make(map[int32]*Conn)}
	go dw.run()
	return dw
}

// arm registers c for one writable notification. On the loop.
func (dw *drainWatcher) arm(c *Conn) {
	if c.closed || c.dwArmed {
		return
	}
	fd := int(c.fd)
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: c.fd}
	op := unix.EPOLL_CTL_MOD
	if dw.byFD[c.fd] != c {
		op = unix.EPOLL_CTL_ADD
	}
	err := unix.EpollCtl(dw.epfd, op, fd, &ev)
	if err == unix.EEXIST { // the fd's previous connection left a registration
		err = unix.EpollCtl(dw.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
	} else if err == unix.ENOENT { // the kernel dropped it when the fd was closed
		err = unix.EpollCtl(dw.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	}
	if err != nil {
		dw.el.armPoll()
		return
	}
	dw.byFD[c.fd] = c
	c.dwArmed = true
}

// forget drops c's registration when it closes. On the loop.
func (dw *drainWatcher) forget(c *Conn) {
	if dw.byFD[c.fd] == c {
		delete(dw.byFD, c.fd)
	}
}

func (dw *drainWatcher) run() {
	defer close(dw.done)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(dw.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil || dw.stopped.Load() {
			return
		}
		fds := make([]int32, 0, n)
		for i := 0; i < n; i++ {
			if int(events[i].Fd) != dw.wakefd {
				fds = append(fds, events[i].Fd)
			}
		}
		if len(fds) == 0 {
			continue
		}
		// Bounded: one fd is posted at most once per arm.
		if dw.el.postControl(func() { dw.ready(fds) }) != nil {
			return
		}
	}
}

// ready runs on the loop with the sockets that became writable.
func (dw *drainWatcher) ready(fds []int32) {
	for _, fd := range fds {
		c := dw.byFD[fd]
		if c == nil {
			continue
		}
		c.dwArmed = false
		dw.el.onWritable(c)
	}
}

func (dw *drainWatcher) stop() {
	dw.once.Do(func() {
		dw.stopped.Store(true)
		var one = [8]byte{1}
		_, _ = unix.Write(dw.wakefd, one[:])
		<-dw.done
		_ = unix.Close(dw.epfd)
		_ = unix.Close(dw.wakefd)
	})
}
