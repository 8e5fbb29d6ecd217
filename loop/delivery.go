package loop

import "sync"

// shard is a topic's subscribers on one loop.
type shard struct {
	t       *topic
	el      *eventLoop
	subs    []*Subscription // loop-only
	count   int             // under hub.deliverMu
	pending int             // under hub.deliverMu: queued in the loop's inbox, not yet delivered
}

// inbox is a hub's queue of publications for one loop: batches of one
// topic's shard each, in sequence order across topics, so a subscriber of
// several topics gets them in the order of their ids. Consecutive
// publications of one topic share a batch, as before: each subscriber's
// part of a batch is one corked write.
type inbox struct {
	h      *Hub
	el     *eventLoop
	mu     sync.Mutex
	queue  []pubBatch
	spare  []pubBatch
	posted bool
}

type pubBatch struct {
	sh   *shard
	msgs []*Publication
}

// inboxFor returns the hub's inbox for el. Under hub.deliverMu.
func (h *Hub) inboxFor(el *eventLoop) *inbox {
	ib := h.inboxes[el]
	if ib == nil {
		ib = &inbox{h: h, el: el}
		h.inboxes[el] = ib
	}
	return ib
}

// push queues m for sh's subscribers. Under hub.deliverMu.
func (ib *inbox) push(sh *shard, m *Publication) {
	sh.pending++
	ib.mu.Lock()
	if n := len(ib.queue); n > 0 && ib.queue[n-1].sh == sh {
		ib.queue[n-1].msgs = append(ib.queue[n-1].msgs, m)
	} else {
		ib.queue = append(ib.queue, pubBatch{sh: sh, msgs: []*Publication{m}})
	}
	post := !ib.posted
	ib.posted = true
	ib.mu.Unlock()
	if post && ib.el.postControl(ib.run) != nil {
		// The loop has stopped: its subscribers are gone with it.
		ib.mu.Lock()
		for _, b := range ib.queue {
			b.sh.t.stats.dropped.Add(int64(b.sh.count) * int64(len(b.msgs)))
			b.sh.pending -= len(b.msgs)
		}
		clear(ib.queue)
		ib.queue = ib.queue[:0]
		ib.posted = false
		ib.mu.Unlock()
	}
}

// run delivers the queued batches on the loop, in order.
func (ib *inbox) run() {
	ib.mu.Lock()
	queue := ib.queue
	ib.queue, ib.spare = ib.spare[:0], nil
	ib.posted = false
	ib.mu.Unlock()
	ib.h.deliverMu.Lock() // taken by the loop: no longer backlog
	for i := range queue {
		queue[i].sh.pending -= len(queue[i].msgs)
	}
	ib.h.deliverMu.Unlock()
	for i := range queue {
		queue[i].sh.deliver(queue[i].msgs)
		queue[i] = pubBatch{}
	}
	ib.mu.Lock()
	if ib.spare == nil && cap(queue) <= 1024 {
		ib.spare = queue[:0]
	}
	ib.mu.Unlock()
}

type heldMessages struct{ msgs []*Publication }

func (s *Subscription) conflated() []*Publication {
	if s.held == nil {
		return nil
	}
	return s.held.msgs
}

func (s *Subscription) setConflated(msgs []*Publication) {
	switch {
	case len(msgs) == 0:
		s.held = nil
	case s.held == nil:
		s.held = &heldMessages{msgs: msgs}
	default:
		s.held.msgs = msgs
	}
}

// over reports whether the subscriber's queued output is above its
// budget. Bytes corked in the current callback are first handed to the
// socket: they are not backlog yet, and counting them would make a fast
// reader look slow whenever one delivery batch holds more than the budget
// (it would be closed, or miss events, under PolicyClose/PolicyDrop).
func (s *Subscription) over() bool {
	c := s.conn
	budget := s.budget()
	if c.Buffered() <= budget {
		return false
	}
	if el := c.el; el.corked == c && len(el.out) > 0 {
		el.flushCork()
		return c.Buffered() > budget
	}
	return true
}

func (s *Subscription) budget() int {
	if b := s.sh.t.cfg.Budget; b > 0 {
		return b
	}
	return s.conn.el.srv.cfg.HighWatermark
}

func (s *Subscription) write(m *Publication) {
	switch s.conn.Write(m.frames[s.codec]) {
	case Written:
		s.sh.t.stats.written.Add(1)
	case Queued:
		s.sh.t.stats.queued.Add(1)
	default:
		s.sh.t.stats.dropped.Add(1)
	}
}

// offer delivers m to the subscriber according to the topic policy.
func (s *Subscription) offer(m *Publication, c *deliveryCounters) {
	if m.seq <= s.lastSeq {
		return // already replayed from history
	}
	s.lastSeq = m.seq
	frame := m.frames[s.codec]
	if s.held != nil || s.over() {
		switch s.sh.t.cfg.Policy {
		case PolicyDrop:
			c.dropped++
			return
		case PolicyConflate:
			s.conflate(m)
			c.conflated++
			return
		default:
			c.closed++
			s.sub.Overflow(s.conn)
			return
		}
	}
	switch s.conn.Write(frame) {
	case Written:
		c.written++
	case Queued:
		c.queued++
	default:
		c.dropped++
	}
}

func (s *Subscription) conflate(m *Publication) {
	held := s.conflated()
	for i, old := range held {
		if old.Key == m.Key {
			copy(held[i:], held[i+1:])
			held[len(held)-1] = m
			return
		}
	}
	if len(held) >= 1024 {
		// Bounded: too many distinct keys behave like PolicyDrop.
		held = append(held[:0], held[1:]...)
	}
	s.setConflated(append(held, m))
	s.conn.WantDrain()
}

type deliveryCounters struct{ written, queued, dropped, conflated, closed int64 }

// deliver writes a batch of the topic's publications to the shard's
// subscribers on the loop, each subscriber's part corked into one write.
func (sh *shard) deliver(batch []*Publication) {
	t := sh.t
	var c deliveryCounters
	el := sh.el
	for i := 0; i < len(sh.subs); i++ {
		s := sh.subs[i]
		if s.conn.closed {
			continue
		}
		prev := el.cork(s.conn)
		for _, m := range batch {
			if !s.active || s.conn.closed {
				break
			}
			s.offer(m, &c)
		}
		el.uncork(prev)
		if i < len(sh.subs) && sh.subs[i] != s {
			i-- // s unsubscribed (overflow close) and another moved into its slot
		}
	}
	t.stats.written.Add(c.written)
	t.stats.queued.Add(c.queued)
	t.stats.dropped.Add(c.dropped)
	t.stats.conflated.Add(c.conflated)
	t.stats.closed.Add(c.closed)
}
