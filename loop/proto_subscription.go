package loop

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

// For protocol packages: Subscribe adds sub, living on conn, to topic. With
// resume enabled it returns missed, the messages after resume.LastID from
// the topic's history, oldest first, to be written before anything else.
// When LastID is not in the history (older than the ring, from another epoch
// such as an earlier process, or unknown) it returns reset=true and the
// whole history as missed: the caller tells its client to start over, then
// writes missed. Either way the messages published later arrive through
// sub's connection right after missed, without gaps or duplicates. On conn's
// loop.
func (h *Hub) Subscribe(conn *Conn, topicName string, sub Subscriber, resume Resume) (s *Subscription, missed []*Publication, reset bool, err error) {
	t, err := h.topic(topicName, true)
	if err != nil {
		return nil, nil, false, err
	}
	el := conn.el
	codec := sub.Codec()
	if int(codec) >= len(encoders()) {
		panic("BUG: loop: Subscribe with an unregistered codec")
	}
	t.mu.Lock()
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
	if resume.Enabled {
		var found bool
		missed, found = t.history(resume.LastID)
		reset = !found
	}
	s = &Subscription{sh: sh, conn: conn, sub: sub, codec: codec, lastSeq: t.seq, active: true}
	t.mu.Unlock()
	s.idx = int32(len(sh.subs))
	sh.subs = append(sh.subs, s)
	return s, missed, reset, nil
}

// Topic returns the subscription's topic name.
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
	t.mu.Lock()
	sh.count--
	t.mu.Unlock()
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
