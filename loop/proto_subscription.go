package loop

import (
	"cmp"
	"context"
	"slices"
	"time"
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
	// replay holds live messages while the broker's history is fetched
	// (see Hub.Resume); nil otherwise.
	replay *replayState
}

// replayState is a subscription's live messages held back while what it
// missed comes from the broker's history.
type replayState struct {
	msgs []*Publication
	over bool // more than HubConfig.MaxBacklog arrived meanwhile
}

// For protocol packages: Replayer is implemented by a Subscriber that can
// take what it missed later than Subscribe or Resume returned: when the
// rings no longer hold it and the broker keeps history (NATS JetStream),
// the hub fetches it off the loop and calls Replayed on the subscriber's
// loop, with what Resume would have returned; live messages follow it. A
// Subscriber that is not a Replayer gets a reset and the rings instead.
type Replayer interface {
	Replayed(missed []*Publication, reset bool)
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
	if first && h.history {
		// A broker delivers only watched topics: what the topic got while
		// unwatched (or before this process) is not in its ring but may be
		// in the broker's history. Before the hub's first delivery it does
		// not know where the broker started: the topic's first delivery
		// tells (see topic.record).
		if h.seq == 0 {
			t.floor = floorUnknown
		} else {
			t.floor = max(t.floor, h.seq)
		}
	}
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
func (h *Hub) watch(t *topic) bool { return t.subscribers() == 1 }

// For protocol packages: Resume returns what the subscriber of subs (one
// stream joined to several topics) missed after lastID, in sequence order
// across the topics, to be written before anything else; the messages
// published later follow, without gaps or duplicates. lastID is an id the
// hub assigned ("<epoch>-<seq>" of this hub's broker) or a publisher's own
// id found in one of the topics' rings. When the missed messages are no
// longer all in the rings, or lastID is unknown (older than the history,
// from another epoch such as an earlier process), it returns reset=true
// and the whole of the rings: the caller tells its client to start over,
// then writes missed. When the rings no longer hold it but the broker
// keeps history (NATS JetStream) and the subscriber is a Replayer, Resume
// returns nothing and the hub fetches it off the loop: the subscriber's
// Replayed gets it (or a reset and the rings, if the broker no longer has
// it either), then the live messages held meanwhile. On the subscriptions'
// loop; subs must be active, of one Subscriber.
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
		if !ok && h.history && len(subs) > 0 {
			if _, canWait := subs[0].sub.(Replayer); canWait {
				// The rings lost some of it; the broker keeps more.
				h.replayLater(subs, after, upto)
				return nil, false
			}
		}
	}
	if !ok {
		reset, missed = true, h.rings(subs, upto)
	}
	sortBySeq(missed, len(subs))
	last := upto // queued live messages up to here were in missed or before lastID
	if ok {
		// The client may come from another node that had more than this
		// hub (its broker delivers to it later): what it has is not sent
		// again when it arrives here.
		last = max(last, after)
	}
	for _, s := range subs {
		s.lastSeq = last
	}
	return missed, reset
}

// rings returns the whole of the subscriptions' rings up to upto. Under
// deliverMu.
func (h *Hub) rings(subs []*Subscription, upto uint64) (msgs []*Publication) {
	for _, s := range subs {
		m, _ := s.sh.t.after(0, upto)
		msgs = append(msgs, m...)
	}
	return msgs
}

func sortBySeq(msgs []*Publication, topics int) {
	if topics > 1 {
		slices.SortFunc(msgs, func(a, b *Publication) int { return cmp.Compare(a.seq, b.seq) })
	}
}

// replayLimit bounds what one resume fetches from the broker's history;
// a client further behind gets a reset.
const replayLimit = 10000

// replayTimeout bounds the broker's history query.
const replayTimeout = 10 * time.Second

// replayLater holds the subscriptions' live messages and fetches what
// they missed after `after` from the broker, off the loop; the result
// reaches the subscriber (a Replayer) on its loop. Under deliverMu.
func (h *Hub) replayLater(subs []*Subscription, after, upto uint64) {
	subs = slices.Clone(subs) // the caller's slice changes as its stream leaves topics
	topics := make([]string, len(subs))
	var recent []*Publication // what the rings vouch for after `after`: the newest the hub had
	for i, s := range subs {
		s.replay = &replayState{}
		s.lastSeq = upto
		topics[i] = s.sh.t.name
		if f := s.sh.t.floor; f < upto {
			msgs, _ := s.sh.t.after(max(after, f), upto)
			recent = append(recent, msgs...)
		}
	}
	sortBySeq(recent, len(subs))
	conn := subs[0].conn
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), replayTimeout)
		ds, complete, err := h.broker.History(ctx, topics, after, replayLimit)
		cancel()
		var missed []*Publication
		if err == nil && complete {
			missed = make([]*Publication, 0, len(ds))
			for _, d := range ds {
				missed = append(missed, h.publication(d))
			}
		}
		ok := err == nil && complete
		if conn.PostControl(func(*Conn) { h.replayed(subs, after, missed, recent, ok) }) != nil {
			return // the server stopped
		}
	}()
}

// replayed hands the subscriber what it missed after `after`, then the
// live messages held meanwhile, on its loop. recent is what the rings held
// of the topics when it resumed (in Seq order).
func (h *Hub) replayed(all []*Subscription, after uint64, missed, recent []*Publication, ok bool) {
	// Topics left meanwhile are dropped; the others go on.
	subs := make([]*Subscription, 0, len(all))
	for _, s := range all {
		if s.active && s.replay != nil {
			subs = append(subs, s)
		}
	}
	if len(subs) == 0 {
		return
	}
	if len(subs) < len(all) {
		kept := missed[:0:0]
		for _, m := range missed {
			for _, s := range subs {
				if s.sh.t.name == m.topicName() {
					kept = append(kept, m)
					break
				}
			}
		}
		missed = kept
	}
	reset := !ok
	if !reset {
		// A replicated broker's history may come from a replica that
		// lacks the newest messages, which this hub had already received
		// when the client resumed (later ones are held): they come from
		// what the rings held then. Left uncovered: a replica that lags by
		// more than a ring holds.
		from := after
		if n := len(missed); n > 0 {
			from = max(from, missed[n-1].seq)
		}
		for _, m := range recent {
			if m.seq > from && slices.ContainsFunc(subs, func(s *Subscription) bool { return s.sh.t.name == m.topicName() }) {
				missed = append(missed, m)
			}
		}
	}
	if reset {
		h.deliverMu.Lock()
		missed = h.rings(subs, h.seq)
		h.deliverMu.Unlock()
		sortBySeq(missed, len(subs))
	}
	var last uint64
	if !reset {
		// The client has everything up to its id, also what this hub
		// had not been delivered yet when it resumed (it came from a node
		// further on): held or later live messages up to there are not
		// sent again.
		last = after
	}
	if n := len(missed); n > 0 {
		last = max(last, missed[n-1].seq)
	}
	var held []*Publication
	over := false
	for _, s := range subs {
		held = append(held, s.replay.msgs...)
		over = over || s.replay.over
		s.replay = nil
		s.lastSeq = last
	}
	sortBySeq(held, len(subs))
	subs[0].sub.(Replayer).Replayed(missed, reset)
	if over {
		subs[0].sub.Overflow(subs[0].conn) // it reconnects and resumes from what it got
		return
	}
	var c deliveryCounters
	prev := subs[0].conn.el.cork(subs[0].conn)
	for _, m := range held {
		for _, s := range subs {
			if s.active && s.sh.t.name == m.topicName() {
				s.offer(m, &c)
			}
		}
	}
	subs[0].conn.el.uncork(prev)
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
	n := t.subscribers()
	h.deliverMu.Unlock()
	if n == 0 {
		h.broker.Unwatch(t.name)
	}
}

// Drained writes the messages conflated while the subscriber was slow.
// The protocol calls it from its Mode.OnDrain. On the loop; it panics
// elsewhere.
func (s *Subscription) Drained() {
	s.conn.mustOnLoop("Subscription.Drained")
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
