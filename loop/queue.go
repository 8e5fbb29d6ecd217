package loop

import (
	"context"
	"sync"

	"github.com/panjf2000/gnet/v2"
)

// taskQueue is a loop's inbox for work posted from other goroutines. Many
// posts between two drains cost one gnet wake-up: only the post that finds
// the queue empty schedules a drain (see eventLoop.enqueue). The queue is
// bounded by limit.
type taskQueue struct {
	mu      sync.Mutex
	tasks   []func()
	spare   []func()
	limit   int
	stopped bool
}

// take swaps out the pending tasks; the caller runs them and hands the
// slice back with recycle.
func (q *taskQueue) take() []func() {
	q.mu.Lock()
	t := q.tasks
	q.tasks = q.spare[:0]
	q.spare = nil
	q.mu.Unlock()
	return t
}

func (q *taskQueue) recycle(t []func()) {
	clear(t)
	q.mu.Lock()
	if q.spare == nil && cap(t) <= 4*q.limit {
		q.spare = t[:0]
	}
	q.mu.Unlock()
}

func (q *taskQueue) stop() {
	q.mu.Lock()
	q.stopped = true
	q.mu.Unlock()
}

// drainRunnable is the gnet Runnable that runs a loop's queued tasks.
type drainRunnable struct{ el *eventLoop }

func (d drainRunnable) Run(context.Context) error {
	d.el.drainTasks()
	return nil
}

var _ gnet.Runnable = drainRunnable{}

// post queues fn to run on the loop, waking it once per batch. It returns
// ErrQueueFull at Config.QueueLimit and ErrServerClosed once the loop has
// stopped; on an error fn is not queued and never runs.
func (el *eventLoop) post(fn func()) error { return el.enqueue(fn, true) }

// postControl queues fn ignoring the queue limit (see Conn.PostControl).
func (el *eventLoop) postControl(fn func()) error { return el.enqueue(fn, false) }

// enqueue is post's one path. The wake-up of an empty queue happens before
// fn is appended and under the queue's lock, so that a failed wake-up (the
// engine is stopping) is seen by exactly the poster whose task would have
// been lost, and by every later one: a nil error means fn is queued on a
// loop that was running.
func (el *eventLoop) enqueue(fn func(), limited bool) error {
	q := &el.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.stopped:
		return ErrServerClosed
	case limited && len(q.tasks) >= q.limit:
		return ErrQueueFull
	}
	if len(q.tasks) == 0 {
		if err := el.wake(); err != nil {
			// The engine is shutting down: nothing will run the queue again.
			q.stopped = true
			el.srv.engineStopped(err)
			return ErrServerClosed
		}
	}
	q.tasks = append(q.tasks, fn)
	return nil
}
