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
