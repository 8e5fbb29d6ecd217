package loop

import (
	"net"
	"syscall"
)

// A loop's task queue and its sockets take turns. gnet runs a task given
// to Execute from its urgent queue, which it empties completely before it
// polls its sockets again; a task posted while that queue is being emptied
// (by a task itself, or by a goroutine that posts as fast as the loop
// runs) is run in the same pass. So a drain of the task queue that keeps
// finding new tasks (a Sender re-posting its next batch, a producer
// posting again as soon as its batch ran) would keep the loop from ever
// reading or writing its other connections.
//
// The yield connection breaks such a chain: a loopback connection per loop
// (the placeholder that bound the loop, kept open), on which the loop
// writes one byte to itself when it is asked to drain its queue again
// before it has served any socket since its last drain. The byte is read
// in the loop's next poll of its sockets, together with every other
// connection that is ready, and the queue is drained then. So at most two
// drains run per round of the poller (one among the socket callbacks, on
// the yield byte; one in gnet's task pass after them), however fast tasks
// come.

// yieldConn is the context of a loop's yield connection (the gnet side).
type yieldConn struct {
	peer net.Conn        // the dialled end: kick writes to it
	raw  syscall.RawConn // peer's fd
	el   *eventLoop      // loop-only: set by the task that installs it
}

var yieldByte = []byte{1}

// kick makes the yield connection readable. On the loop; it never blocks
// (one byte is in flight at a time: see eventLoop.yieldArmed).
func (y *yieldConn) kick() error {
	var werr error
	err := y.raw.Write(func(fd uintptr) bool {
		_, werr = syscall.Write(int(fd), yieldByte)
		return true
	})
	if err != nil {
		return err
	}
	return werr
}

// installYield makes y the yield connection of el. On the loop.
func (el *eventLoop) installYield(y *yieldConn) {
	if el.yield == nil {
		y.el = el
		el.yield = y
	}
}

// drainTasks runs the queued tasks, unless the loop has served no socket
// since it last did: then it asks for the drain on the yield connection,
// after the loop's next poll (see above).
func (el *eventLoop) drainTasks() {
	if el.drainedSinceIO && el.yield != nil {
		if el.yieldArmed {
			return // the drain after the next poll takes these tasks too
		}
		if el.yield.kick() == nil {
			el.yieldArmed = true
			el.stats.yields.Add(1)
			return
		}
	}
	el.runTasks()
}

// onYield runs on the loop when its yield connection is readable: the
// drain that drainTasks deferred.
func (el *eventLoop) onYield() {
	el.yieldArmed = false
	el.runTasks()
}

// yieldClosed runs on the loop when its yield connection closed (the
// engine stops, or its peer was closed): drains go back to running at
// once, and the tasks that waited for a byte that will not come run now.
func (el *eventLoop) yieldClosed() {
	armed := el.yieldArmed
	el.yield, el.yieldArmed = nil, false
	if armed {
		el.runTasks()
	}
}

// runTasks runs the tasks queued when it was called, one batch. A task
// posted meanwhile found the queue empty (take swapped it out) and
// scheduled a drain of its own.
func (el *eventLoop) runTasks() {
	el.noteThread()
	el.drainedSinceIO = true
	tasks := el.queue.take()
	for _, fn := range tasks {
		fn()
	}
	el.queue.recycle(tasks)
}
