package loop

// shard is a topic's subscribers on one loop.
type shard struct {
	t       *topic
	el      *eventLoop
	subs    []*Subscription // loop-only
	count   int             // under t.mu
	pending []*Publication  // under t.mu: published, not yet delivered
	posted  bool            // under t.mu
	spare   []*Publication  // under t.mu
}

// heldMessages are a slow subscriber's conflated messages: the latest per
// key, in seq order.
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

// run delivers the shard's pending messages on its loop.
func (sh *shard) run() {
	t := sh.t
	t.mu.Lock()
	batch := sh.pending
	sh.pending = sh.spare[:0]
	sh.spare = nil
	sh.posted = false
	t.mu.Unlock()

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

	clear(batch)
	t.mu.Lock()
	if sh.spare == nil && cap(batch) <= 4*t.hub.cfg.MaxBacklog {
		sh.spare = batch[:0]
	}
	t.mu.Unlock()
}
