package loop

import (
	"sync"
	"sync/atomic"
)

// topic is one topic's state. Fields under mu are shared; each shard's
// subscriber list belongs to its loop.
type topic struct {
	name string
	cfg  TopicConfig
	hub  *Hub

	mu      sync.Mutex
	seq     uint64
	ring    []*Publication // circular, len ≤ RingSize
	ringPos int
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

// history returns, oldest first, the messages after lastID, or the whole
// ring with found = false when lastID is not in it (too old, from another
// epoch, or unknown): the caller resets its client and replays them all,
// so there is never a gap. Ids are compared whole; the newest match wins.
// Under t.mu.
func (t *topic) history(lastID string) (msgs []*Publication, found bool) {
	n := len(t.ring)
	start := 0
	if n == t.cfg.RingSize {
		start = t.ringPos
	}
	from := 0
	for i := n - 1; i >= 0; i-- {
		if t.ring[(start+i)%n].ID == lastID {
			from, found = i+1, true
			break
		}
	}
	if from == n {
		return nil, found
	}
	msgs = make([]*Publication, 0, n-from)
	for j := from; j < n; j++ {
		msgs = append(msgs, t.ring[(start+j)%n])
	}
	return msgs, found
}
