package loop

import (
	"cmp"
	"slices"
)

// For protocol packages: Subscriber is the protocol side of a subscription
// (an SSE stream, a WebSocket). Its methods are called on the subscriber's
// loop.
type Subscriber interface {
	// Codec is the encoding of messages this subscriber receives.
	Codec() CodecID
	// Overflow is called under PolicyClose when the subscriber is over
	// budget; it closes the connection in the protocol's way.
	Overflow(c *Conn)
}

// For protocol packages: Subscription is one subscriber's membership of a
// topic.
type Subscription struct {
	sh      *shard
	conn    *Conn
	sub     Subscriber
	lastSeq uint64
	idx     int32 // in sh.subs
	codec   CodecID
	active  bool

	// held is allocated only while PolicyConflate holds messages back:
	// an idle subscription stays small.
	held *heldMessages
}

// For protocol packages: Resume says whether and from where a subscriber
// catches up.
type Resume struct {
	// LastID is the id of the last message the subscriber saw.
	LastID string
	// Enabled turns resume on. A client without Last-Event-ID leaves it
	// false and gets live messages only; enabled with an empty LastID
	// (which no message has) means a reset and the whole history.
	Enabled bool
}

// For protocol packages: Subscribe adds sub, living on conn, to topic.
// Messages published after it arrive through sub's connection, in
// sequence order with those of the connection's other topics. With resume
// enabled it also returns what the subscriber missed, as Resume does for
// one subscription. On conn's loop.
func (h *Hub) Subscribe(conn *Conn, topicName string, sub Subscriber, resume Resume) (s *Subscription, missed []*Publication, reset bool, err error) {
	t, err := h.topic(topicName, true)
	if err != nil {
		return nil, nil, false, err
	}
	codec := sub.Codec()
	if int(codec) >= len(encoders()) {
		panic("BUG: loop: Subscribe with an unregistered codec")
	}
	el := conn.el
	h.deliverMu.Lock()
	var sh *shard
	for _, x := range t.shards {
		if x.el == el {
			sh = x
			break
		}
	}
	if sh == nil {
		sh = &shard{t: t, el: el}
		t.shards = append(t.shards, sh)
	}
	sh.count++
	first := h.watch(t)
	s = &Subscription{sh: sh, conn: conn, sub: sub, codec: codec, lastSeq: h.seq, active: true}
	if resume.Enabled {
		missed, reset = h.resumeLocked([]*Subscription{s}, resume.LastID)
	}
	h.deliverMu.Unlock()
	if first {
		h.broker.Watch(topicName)
	}
	s.idx = int32(len(sh.subs))
	sh.subs = append(sh.subs, s)
	return s, missed, reset, nil
}

// watch counts a subscriber of t and reports whether it is t's first on
// this hub. Under deliverMu.
func (h *Hub) watch(t *topic) bool {
	n := 0
	for _, sh := range t.shards {
		n += sh.count
	}
	return n == 1
}

// For protocol packages: Resume returns what the subscriber of subs (one
// stream joined to several topics) missed after lastID, in sequence order
// across the topics, to be written before anything else; the messages
// published later follow, without gaps or duplicates. lastID is an id the
// hub assigned ("<epoch>-<seq>" of this hub's broker) or a publisher's own
// id found in one of the topics' rings. When the missed messages are no
// longer all in the rings, or lastID is unknown (older than the history,
// from another epoch such as an earlier process), it returns reset=true
// and the whole of the rings: the caller tells its client to start over,
// then writes missed. On the subscriptions' loop; subs must be active.
func (h *Hub) Resume(subs []*Subscription, lastID string) (missed []*Publication, reset bool) {
	h.deliverMu.Lock()
	defer h.deliverMu.Unlock()
	return h.resumeLocked(subs, lastID)
}

func (h *Hub) resumeLocked(subs []*Subscription, lastID string) (missed []*Publication, reset bool) {
	upto := h.seq
	after, ok := h.parseID(lastID)
	if !ok {
		for _, s := range subs {
			if seq, found := s.sh.t.byID(lastID); found {
				after, ok = seq, true
				break
			}
		}
	}
	if ok {
		for _, s := range subs {
			msgs, complete := s.sh.t.after(after, upto)
			if !complete {
				ok = false
				break
			}
			missed = append(missed, msgs...)
		}
	}
	if !ok {
		// Start over: the whole of the rings.
		reset, missed = true, missed[:0]
		for _, s := range subs {
			msgs, _ := s.sh.t.after(0, upto)
			missed = append(missed, msgs...)
		}
	}
	if len(subs) > 1 {
		slices.SortFunc(missed, func(a, b *Publication) int { return cmp.Compare(a.seq, b.seq) })
	}
	for _, s := range subs {
		s.lastSeq = upto // queued live messages up to here were in missed or before lastID
	}
	return missed, reset
}

func (s *Subscription) Topic() string { return s.sh.t.name }

// Unsubscribe removes the subscription. On the subscriber's loop;
// idempotent.
func (s *Subscription) Unsubscribe() {
	if !s.active {
		return
	}
	s.active = false
	sh := s.sh
	last := len(sh.subs) - 1
	sh.subs[s.idx] = sh.subs[last]
	sh.subs[s.idx].idx = s.idx
	sh.subs[last] = nil
	sh.subs = sh.subs[:last]
	s.held = nil
	t := s.sh.t
	h := t.hub
	h.deliverMu.Lock()
	sh.count--
	n := 0
	for _, x := range t.shards {
		n += x.count
	}
	h.deliverMu.Unlock()
	if n == 0 {
		h.broker.Unwatch(t.name)
	}
}

// Drained writes the messages conflated while the subscriber was slow.
// The protocol calls it from its Mode.OnDrain. On the loop.
func (s *Subscription) Drained() {
	if !s.active || s.held == nil {
		return
	}
	pending := s.conflated()
	s.held = nil
	for i, m := range pending {
		if s.over() {
			s.setConflated(append(s.conflated(), pending[i:]...))
			s.conn.WantDrain()
			return
		}
		s.write(m)
	}
}
