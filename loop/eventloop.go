package loop

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/streamd/streamd/httpcodec"
	"github.com/streamd/streamd/internal/goroutine"
)

// Loop is the public handle of one event loop, for sharding per-loop
// state (the hub keeps its subscribers per Loop). Server.Loops lists them.
type Loop struct {
	el  *eventLoop
	idx int
}

// Index is the loop's number, 0 ≤ Index < Config.Loops. Safe from any
// goroutine.
func (l *Loop) Index() int { return l.idx }

// Post runs fn on this loop. Safe from any goroutine; see Conn.Post for
// the errors.
func (l *Loop) Post(fn func()) error { return l.el.post(fn) }

// OnLoop reports whether the caller runs on this loop. Safe from any
// goroutine.
func (l *Loop) OnLoop() bool { return l.el.onLoop() }

// eventLoop is streamd's state for one gnet event loop. Everything but
// the task queue, gid and counters is touched only on the loop.
type eventLoop struct {
	srv    *Server
	gl     gnet.EventLoop // nil on the net/http backend's loops
	vl     *virtualLoop   // the net/http backend's loop driver (nethttp_vloop.go), else nil
	handle *Loop
	gid    atomic.Uintptr // goroutine.ID of the loop, 0 once it stopped

	queue taskQueue

	wheel wheel
	// out is the cork buffer: the output of one callback, gathered for one
	// write. It belongs to exactly one connection, corked; cork and uncork
	// hand it over (see cork), and every append checks the owner.
	out    []byte
	corked *Conn
	iov    [4][]byte // reusable iovec for direct writes

	// TLS connections' state and the buffers they share (tls.go).
	tls      map[*Conn]*tlsTransport
	tlsIn    []byte // decrypted record
	tlsOut   []byte // ciphertext on its way to the socket
	tlsPlain []byte // gathered iovec to encrypt at once

	// processing is the connection whose input process is serving: a
	// stream of it that ends goes on with its input in the same call;
	// any other connection's resumes from a task (resumeLater), never
	// nested in a callback that uses req and ctx.
	processing *Conn

	shared   *httpcodec.Parser   // parser used by connections with no partial request
	free     []*httpcodec.Parser // parsers returned by connections
	freePend []*pending
	req      httpcodec.Request
	ctx      Ctx

	epfd    int                    // gnet's epoll fd for read pauses (pause_linux.go); epfdUnknown until known
	senders map[*Conn]*Sender      // goroutine senders waiting for a drain (proto_sender.go)
	replies map[*Conn]pendingReply // outstanding Deferred replies (deferred.go)

	conns        *Conn   // list of open connections (lnext/lprev)
	watch        []*Conn // connections with queued output
	drainWaiters int
	pollArmed    atomic.Bool
	pollTimer    *time.Timer
	dw           *drainWatcher

	// The yield connection (yield.go); loop-only.
	yield          *yieldConn
	yieldArmed     bool // a byte is in flight on it
	drainedSinceIO bool // the task queue ran and no socket was served since

	stats       loopStats
	stoppedLoop atomic.Bool
}

func newEventLoop(srv *Server, gl gnet.EventLoop, idx int) *eventLoop {
	el := &eventLoop{srv: srv, gl: gl}
	el.handle = &Loop{el: el, idx: idx}
	el.queue.limit = srv.cfg.QueueLimit
	el.shared = httpcodec.NewParser(srv.cfg.Limits)
	el.wheel.now = srv.tickNow()
	el.epfd = epfdUnknown
	if gl != nil {
		el.dw = newDrainWatcher(el)
	} else {
		el.epfd = -1 // the net/http backend's loops: no sockets of their own
	}
	return el
}

// transport is what a Conn needs from its connection: gnet's conn, or the
// net/http backend's (vconn, nethttp_vloop.go). gnet.Conn has these methods.
type transport interface {
	Write(b []byte) (int, error)
	Writev(bs [][]byte) (int, error)
	Next(n int) ([]byte, error)
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
	InboundBuffered() int
	OutboundBuffered() int
	Fd() int
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}

// wake schedules a run of the loop's queued tasks.
func (el *eventLoop) wake() error {
	if el.vl != nil {
		return el.vl.wake()
	}
	return el.gl.Execute(context.Background(), drainRunnable{el})
}

// closeConn closes c now, on the loop: its OnClose has run when it returns.
func (el *eventLoop) closeConn(c *Conn) {
	if vc, ok := c.gc.(*vconn); ok {
		vc.closeNow()
		el.onClose(c, nil)
		return
	}
	_ = el.gl.Close(c.gc.(gnet.Conn))
}

const epfdUnknown = -2

func (el *eventLoop) onLoop() bool {
	return goroutine.ID() == el.gid.Load()
}

// noteThread records the loop's goroutine on its first callback (gnet
// runs each loop on one goroutine for its whole life).
func (el *eventLoop) noteThread() {
	if el.gid.Load() == 0 && !el.stoppedLoop.Load() {
		el.gid.Store(goroutine.ID())
	}
}
