package loop

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
)

// virtualLoop drives an eventLoop of the net/http backend: one goroutine
// runs its tasks (requests, output progress, timers, posts), as gnet's
// loop goroutine does.
type virtualLoop struct {
	el    *eventLoop
	wakeC chan struct{}
}

func (vl *virtualLoop) wake() error {
	select {
	case vl.wakeC <- struct{}{}:
	default: // a wake-up is pending: it takes every queued task
	}
	return nil
}

func (vl *virtualLoop) run(stop <-chan struct{}) {
	vl.el.noteThread()
	for {
		select {
		case <-vl.wakeC:
			vl.el.drainTasks()
		case <-stop:
			return
		}
	}
}

// vconn is a virtual connection of the net/http backend: its input is the
// request (and, after a WebSocket upgrade, what the hijacked connection
// reads); its output goes to ServeHTTP's goroutine, which writes it to the
// ResponseWriter. The loop side implements transport.
type vconn struct {
	el     *eventLoop
	c      *Conn  // set on the loop by open
	in     []byte // loop only: input not yet consumed
	remote net.Addr
	local  net.Addr
	tls    *tls.ConnectionState

	mu      sync.Mutex
	out     []byte // queued output
	spare   []byte
	pending int  // bytes written by the loop and not yet by the writer
	closed  bool // the loop closed the connection: the writer stops
	signal  chan struct{}

	opened     chan struct{} // closed once the loop has taken the request
	resp       respWriter    // the writer's
	onProgress func()        // the writer's: its task for progress
}

// open runs on the loop: the virtual connection opens with the request as
// its input.
func (vc *vconn) open() {
	defer close(vc.opened)
	c, ok := vc.el.onOpen(vc)
	if !ok {
		vc.closeNow()
		return
	}
	vc.c = c
	vc.el.onTraffic(c)
}

// transport, on the loop.

func (vc *vconn) Write(b []byte) (int, error) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if vc.closed {
		return 0, net.ErrClosed
	}
	vc.out = append(vc.out, b...)
	vc.pending += len(b)
	vc.notify()
	return len(b), nil
}

func (vc *vconn) Writev(bs [][]byte) (int, error) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if vc.closed {
		return 0, net.ErrClosed
	}
	n := 0
	for _, b := range bs {
		vc.out = append(vc.out, b...)
		n += len(b)
	}
	vc.pending += n
	vc.notify()
	return n, nil
}

func (vc *vconn) notify() {
	select {
	case vc.signal <- struct{}{}:
	default:
	}
}

func (vc *vconn) Next(n int) ([]byte, error) {
	if n < 0 || n > len(vc.in) {
		n = len(vc.in)
	}
	b := vc.in[:n:n]
	vc.in = vc.in[n:]
	return b, nil
}

func (vc *vconn) Peek(n int) ([]byte, error) {
	if n < 0 || n > len(vc.in) {
		n = len(vc.in)
	}
	return vc.in[:n], nil
}

func (vc *vconn) Discard(n int) (int, error) {
	if n < 0 || n > len(vc.in) {
		n = len(vc.in)
	}
	vc.in = vc.in[n:]
	return n, nil
}

func (vc *vconn) InboundBuffered() int { return len(vc.in) }

func (vc *vconn) OutboundBuffered() int {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if vc.closed {
		return 0
	}
	return vc.pending
}

func (vc *vconn) Fd() int              { return -1 }
func (vc *vconn) LocalAddr() net.Addr  { return vc.local }
func (vc *vconn) RemoteAddr() net.Addr { return vc.remote }

// closeNow is the loop closing the connection. What the loop wrote before
// is still written (within WriteTimeout: gnet would have handed it to the
// kernel at once), then the writer ends the response, or cuts it if it is
// incomplete; the loop sees nothing queued from here on.
func (vc *vconn) closeNow() {
	vc.mu.Lock()
	vc.closed = true
	vc.pending = 0
	vc.mu.Unlock()
	vc.notify()
}

// serve is ServeHTTP's goroutine: it writes what the loop queues until
// the response is complete, the loop closes the connection or the client
// goes away.
func (vc *vconn) serve(ctx context.Context) {
	defer vc.resp.finish()
	for {
		vc.mu.Lock()
		for len(vc.out) == 0 && !vc.closed {
			vc.mu.Unlock()
			select {
			case <-vc.signal:
			case <-ctx.Done():
				if vc.resp.hijacked == nil {
					vc.peerGone(io.EOF) // net/http does not say how: EOF or reset
					return
				}
				ctx = context.Background() // a hijacked connection outlives the request's context
			}
			vc.mu.Lock()
		}
		closed := vc.closed
		if closed && len(vc.out) == 0 {
			vc.mu.Unlock()
			vc.resp.abortIfIncomplete()
			return
		}
		buf := vc.out
		vc.out, vc.spare = vc.spare[:0], nil
		vc.mu.Unlock()

		vc.resp.deadline(vc.el.srv.cfg.WriteTimeout)
		done, err := vc.resp.write(buf)

		vc.mu.Lock()
		if !vc.closed {
			vc.pending = max(vc.pending-len(buf), 0)
		}
		if cap(buf) <= 64<<10 {
			vc.spare = buf[:0]
		}
		vc.mu.Unlock()
		switch {
		case err != nil:
			vc.peerGone(err)
			return
		case done:
			vc.toLoop(closeApp)
			return
		case closed:
			continue // the rest, then the end
		}
		if vc.resp.hijacked != nil && !vc.resp.reading {
			vc.resp.reading = true
			vc.resp.readers.Add(1)
			go vc.readHijacked()
		}
		vc.progress() // output progress: drains, write deadlines
	}
}

func closeApp(c *Conn) { c.Close() }

// progress tells the loop that output was written.
func (vc *vconn) progress() {
	if vc.onProgress == nil {
		vc.onProgress = func() {
			if c := vc.c; c != nil && !c.closed {
				vc.el.onWritable(c)
			}
		}
	}
	_ = vc.el.postControl(vc.onProgress)
}

// toLoop runs fn on the loop with the connection, unless it has closed.
func (vc *vconn) toLoop(fn func(c *Conn)) {
	_ = vc.el.postControl(func() {
		if c := vc.c; c != nil && !c.closed {
			fn(c)
		}
	})
}

// readHijacked feeds what an upgraded connection reads to the loop, one
// read at a time (the next read waits until the loop has taken it).
func (vc *vconn) readHijacked() {
	defer vc.resp.readers.Done()
	br := vc.resp.br
	buf := make([]byte, 32<<10)
	var data, inBuf []byte
	taken := make(chan struct{}, 1)
	deliver := func() { // one task for every read: no allocation per message
		if c := vc.c; c != nil && !c.closed {
			if len(vc.in) == 0 {
				// All consumed: the loop holds no view of it any more.
				if cap(inBuf) < len(data) {
					inBuf = make([]byte, 0, max(len(data), 4<<10))
				}
				vc.in = append(inBuf[:0], data...)
			} else {
				vc.in = append(vc.in, data...)
			}
			vc.el.onTraffic(c)
		}
		taken <- struct{}{}
	}
	for {
		n, err := br.Read(buf)
		if n > 0 {
			data = buf[:n]
			if vc.el.postControl(deliver) != nil {
				return
			}
			<-taken
		}
		if err != nil {
			vc.peerGone(err)
			return
		}
	}
}

// peerGone closes the connection because the client went away (or its
// write deadline passed: WriteTimeout); its mode's OnClose gets err, as
// with gnet's error for a socket.
func (vc *vconn) peerGone(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		vc.toLoop(func(c *Conn) { c.closeWith(reasonWriteTimeout) })
		return
	}
	vc.toLoop(func(c *Conn) {
		c.reason = reasonPeer
		vc.closeNow()
		vc.el.onClose(c, err)
	})
}
