package loop

import (
	"sync"
	"sync/atomic"
)

// For protocol packages: Sender is the one admission path for writes made
// from goroutines other than a connection's loop: the sse, ws and chunked
// packages embed one per stream. Send decides at once whether a write is
// accepted, counting the connection's queued output as last seen on the loop
// plus the bytes admitted and not yet written, so the outcome it reports is
// the outcome that happens: an admitted write is written by the loop, in
// order, unless the connection closes first. Admitted writes are handed to
// the loop in batches, one task per connection in flight, so a producer
// cannot fill its loop's task queue and starve the loop's other connections.
//
// The zero value is ready; a Sender must not be copied after first use and
// serves one connection. Its state is allocated on the first Send, so an
// idle stream pays 8 bytes for it.
//
// # Concurrency
//
// Send, Buffered and Wait are safe from any goroutine.
type Sender struct {
	st atomic.Pointer[senderState]
}

type senderState struct {
	mu       sync.Mutex
	items    []sendItem
	spare    []sendItem
	reserved int  // bytes admitted, not yet written
	seen     int  // the connection's queued output, as last seen on the loop
	posted   bool // a task runs the items
	closed   bool // the connection closed: nothing more is admitted
	wake     chan struct{}
}

type sendItem struct {
	n  int
	fn func(*Conn)
}

func (s *Sender) state() *senderState {
	if st := s.st.Load(); st != nil {
		return st
	}
	st := &senderState{wake: make(chan struct{}, 1)}
	if s.st.CompareAndSwap(nil, st) {
		return st
	}
	return s.st.Load()
}

// Send admits a write of n bytes, which fn makes on c's loop (fn is called
// there, in the order of admission, unless c has closed by then). It
// returns Dropped, and fn is never called, when c is known to be closed or
// when the queued and admitted bytes plus n would exceed limit; a control
// write (a close frame, the end of a response) ignores limit, and the
// caller bounds how many it sends. Otherwise it returns Queued when the
// total is above the connection's high watermark (the producer should slow
// down: Wait signals when room appears) and Written below it. Safe from
// any goroutine.
func (s *Sender) Send(c *Conn, n, limit int, control bool, fn func(*Conn)) WriteResult {
	st := s.state()
	st.mu.Lock()
	if st.closed || (!control && st.seen+st.reserved+n > limit) {
		st.mu.Unlock()
		return Dropped
	}
	st.items = append(st.items, sendItem{n: n, fn: fn})
	st.reserved += n
	total := st.seen + st.reserved
	post := !st.posted
	st.posted = true
	st.mu.Unlock()
	if post {
		if err := c.el.postControl(func() { s.run(c) }); err != nil {
			// The loop has stopped: nothing of this batch will run.
			st.mu.Lock()
			st.closed = true
			clear(st.items)
			st.items = st.items[:0]
			st.reserved = 0
			st.mu.Unlock()
			return Dropped
		}
	}
	if total > c.el.srv.cfg.HighWatermark {
		return Queued
	}
	return Written
}

// Buffered returns the bytes queued on the connection (as last seen on the
// loop) plus those admitted and not yet written. Safe from any goroutine.
func (s *Sender) Buffered() int {
	st := s.st.Load()
	if st == nil {
		return 0
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.seen + st.reserved
}

// Pending reports whether writes admitted by Send have not run yet: a
// stream that ends on the loop goes through Send too then, after them.
// Safe from any goroutine.
func (s *Sender) Pending() bool {
	st := s.st.Load()
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.posted
}

// Wait returns a channel that receives when room may have appeared (a
// batch was written, the output drained) or the connection closed; a
// producer blocked on backpressure retries Send then. Safe from any
// goroutine.
func (s *Sender) Wait() <-chan struct{} { return s.state().wake }

// maxSendBatch bounds the writes one task of a Sender makes: a loop runs
// at most two drains of its task queue between two polls of its sockets
// (yield.go), so a producer that keeps its Sender busy must not make each
// of its tasks long.
const maxSendBatch = 256

// run writes one batch on the loop, corked: one system call per batch.
func (s *Sender) run(c *Conn) {
	st := s.st.Load()
	st.mu.Lock()
	items := st.items
	st.items, st.spare = st.spare[:0], nil
	var rest []sendItem
	if len(items) > maxSendBatch {
		items, rest = items[:maxSendBatch], items[maxSendBatch:]
	}
	st.posted = len(rest) > 0
	if len(rest) > 0 {
		// The rest goes first in the next batch, before what comes meanwhile.
		st.items = append(append(st.items, rest...), st.items...)
		clear(rest)
	}
	st.mu.Unlock()

	el := c.el
	n := 0
	prev := el.cork(c)
	for i := range items {
		if !c.closed {
			items[i].fn(c)
		}
		n += items[i].n
		items[i] = sendItem{}
	}
	el.uncork(prev)
	buffered := c.Buffered()

	st.mu.Lock()
	st.reserved -= n
	st.seen = buffered
	if c.closed {
		st.closed = true
	}
	if st.spare == nil && cap(items) <= 4*maxSendBatch {
		st.spare = items[:0]
	}
	again := st.posted
	st.mu.Unlock()
	if again && el.postControl(func() { s.run(c) }) != nil {
		st.mu.Lock()
		st.closed = true
		st.mu.Unlock()
	}
	if buffered > el.srv.cfg.LowWatermark && !c.closed {
		// Refresh seen when the output drains, or admission would stay
		// shut for a connection that was backed up once.
		if el.senders == nil {
			el.senders = make(map[*Conn]*Sender)
		}
		el.senders[c] = s
		c.WantDrain()
	}
	st.signal()
}

// drained runs on the loop when the connection's output fell to the low
// watermark.
func (s *Sender) drained(buffered int) {
	st := s.st.Load()
	st.mu.Lock()
	st.seen = buffered
	st.mu.Unlock()
	st.signal()
}

// gone runs on the loop when the connection closed.
func (s *Sender) gone() {
	st := s.st.Load()
	st.mu.Lock()
	st.closed = true
	st.mu.Unlock()
	st.signal()
}

func (st *senderState) signal() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}
