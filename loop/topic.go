package loop

import (
	"sync/atomic"
)

// topic is one topic's state. Fields under mu are shared; each shard's
// subscriber list belongs to its loop.
type topic struct {
	name string
	cfg  TopicConfig
	hub  *Hub

	// under hub.deliverMu
	ring    []*Publication // circular, len ≤ RingSize, in Seq order
	ringPos int
	floor   uint64 // the ring holds every publication of the topic after this Seq (dropped ones, and, with a broker that delivers watched topics only, those before the watch, are older)
	shards  []*shard

	stats topicCounters
}

type topicCounters struct {
	published, written, queued, dropped, conflated, closed atomic.Int64
}

func (h *Hub) topicConfig(name string) TopicConfig {
	cfg, ok := h.cfg.Topics[name]
	if !ok {
		cfg = h.cfg.Default
	}
	orDefault(&cfg.RingSize, DefaultRingSize)
	return cfg
}

func (h *Hub) topic(name string, create bool) (*topic, error) {
	if name == "" {
		return nil, ErrBadTopic
	}
	h.mu.RLock()
	t := h.topics[name]
	h.mu.RUnlock()
	if t != nil || !create {
		return t, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if t = h.topics[name]; t != nil {
		return t, nil
	}
	if len(h.topics) >= h.cfg.MaxTopics {
		return nil, ErrTooManyTopics
	}
	t = &topic{name: name, cfg: h.topicConfig(name), hub: h}
	h.topics[name] = t
	return t, nil
}

// floorUnknown is a topic's floor until its first delivery, when a broker
// with history started delivering it from a point the hub does not know.
const floorUnknown = ^uint64(0)

// record appends m to the ring, dropping the oldest publication when it
// is full. Under hub.deliverMu.
func (t *topic) record(m *Publication) {
	if t.floor == floorUnknown {
		t.floor = m.seq - 1 // the broker delivers all of the topic from here
	}
	if len(t.ring) < t.cfg.RingSize {
		t.ring = append(t.ring, m)
		return
	}
	t.floor = max(t.floor, t.ring[t.ringPos].seq)
	t.ring[t.ringPos] = m
	t.ringPos = (t.ringPos + 1) % len(t.ring)
}

// each calls fn for the ring's publications, oldest first. Under
// hub.deliverMu.
func (t *topic) each(fn func(*Publication)) {
	n := len(t.ring)
	start := 0
	if n == t.cfg.RingSize {
		start = t.ringPos
	}
	for i := 0; i < n; i++ {
		fn(t.ring[(start+i)%n])
	}
}

// after returns the ring's publications with after < Seq ≤ upto, oldest
// first, and whether the ring holds all of them (nothing newer than
// `after` was dropped). Under hub.deliverMu.
func (t *topic) after(after, upto uint64) (msgs []*Publication, complete bool) {
	t.each(func(m *Publication) {
		if m.seq > after && m.seq <= upto {
			msgs = append(msgs, m)
		}
	})
	return msgs, after >= t.floor
}

// byID returns the Seq of the newest publication with the given id (a
// publisher's own id). Under hub.deliverMu.
func (t *topic) byID(id string) (seq uint64, ok bool) {
	t.each(func(m *Publication) {
		if m.ID == id {
			seq, ok = m.seq, true
		}
	})
	return seq, ok
}

// subscribers counts the topic's subscribers on every loop. Under
// hub.deliverMu.
func (t *topic) subscribers() int {
	n := 0
	for _, sh := range t.shards {
		n += sh.count
	}
	return n
}
