package loop

import (
	"crypto/rand"
	"encoding/binary"
	"strconv"
	"sync"
)

// Policy is what a topic does with a subscriber whose queued output is
// above the topic's budget.
type Policy uint8

const (
	// PolicyClose closes the slow subscriber (the default). An SSE client
	// reconnects and resumes with Last-Event-ID; a WebSocket gets 1013.
	PolicyClose Policy = iota
	// PolicyDrop drops the newest message for the slow subscriber.
	PolicyDrop
	// PolicyConflate keeps only the latest message per Publication.Key while
	// the subscriber is slow and sends those when its output drains.
	PolicyConflate
)

func (p Policy) String() string {
	switch p {
	case PolicyDrop:
		return "drop"
	case PolicyConflate:
		return "conflate"
	default:
		return "close"
	}
}

// Defaults of HubConfig.
const (
	DefaultRingSize   = 1024
	DefaultMaxTopics  = 10000
	DefaultMaxBacklog = 4096
	maxCodecs         = 4
)

// TopicConfig sets a topic's slow-subscriber policy and history size.
type TopicConfig struct {
	Policy Policy
	// Budget is the queued output, in bytes, above which a subscriber is
	// slow. Default: the server's HighWatermark.
	Budget int
	// RingSize is how many recent messages the topic keeps for resume
	// (Last-Event-ID). Default DefaultRingSize.
	RingSize int
}

// HubConfig configures a Hub.
type HubConfig struct {
	// Default applies to topics without an entry in Topics.
	Default TopicConfig
	// Topics holds per-topic settings.
	Topics map[string]TopicConfig
	// MaxTopics bounds the number of topics. Default DefaultMaxTopics.
	MaxTopics int
	// MaxBacklog bounds, per topic and loop, messages published but not
	// yet delivered. Default DefaultMaxBacklog.
	MaxBacklog int
	// Broker carries published messages; nil means the in-process
	// broker. See Broker.
	Broker Broker
}

// Publication is a message published to a topic of a Hub (named apart
// from ws.Message, a message received on a WebSocket). Publishers fill
// Event, Data, Key and optionally ID; the hub assigns Seq (and ID when
// empty).
//
// # Immutable once published
//
// A *Publication handed to subscribers is never modified. The hub copies the
// publisher's fields into a new Publication, gives it its Seq and id, and
// encodes it with every registered codec, all before the message is
// stored in the topic's history or handed to any loop; nothing writes it
// afterwards. So a *Publication (from Subscribe, in a codec) may be read from
// any goroutine without locks, and must not be written: nor its Data,
// nor the bytes Frame returns.
//
// # Ids
//
// An id the hub assigns is "<epoch>-<seq>": epoch is 8 characters of
// [0-9a-z] drawn at random (40 bits) once per Hub, and seq is Seq in
// decimal, e.g. "k3x9q0zd-42". A new process, or a new Hub, has a new
// epoch, so an id from an earlier one does not name an event of this one
// (two epochs collide with probability 2⁻⁴⁰): a client resuming with it
// gets a reset and the whole history, never a silent gap (see Subscribe).
// Clients and protocols treat ids as opaque strings. The format is meant
// to grow: when ids move to one hub-wide sequence (the NATS JetStream
// stream sequence), seq becomes that sequence and the epoch part can name
// the stream; nothing parses ids (resume compares them whole), so only
// their producer changes.
type Publication struct {
	// ID is the event id sent to SSE clients; empty means one assigned by
	// the hub ("<epoch>-<seq>", see Ids above). A publisher's own ID is
	// kept as is and matched exactly on resume; it should be unique within
	// the topic's history (the newest match wins).
	ID string
	// Event is the SSE event name ("" = "message").
	Event string
	// Data is the payload. The hub keeps it (the history and every
	// frame): do not modify it after Publish.
	Data []byte
	// Key groups messages for PolicyConflate ("" = one group).
	Key string

	seq    uint64
	frames [maxCodecs][]byte
}

// Hub is a set of topics with fan-out to subscribers on every loop.
//
// A published message is encoded once per registered codec and handed to
// each loop that has subscribers as part of one batch task, which writes
// the shared bytes to every local subscriber: cross-thread work is
// O(loops), not O(subscribers).
//
// Each topic keeps a history ring of recent publications for resume
// (Last-Event-ID) and applies its Policy to slow subscribers (close, drop,
// conflate).
//
// # Concurrency
//
// Publish, TopicStats, Topics and Close are safe from any goroutine.
// Subscribe and the Subscription methods run on the subscriber's loop.
type Hub struct {
	cfg    HubConfig
	broker Broker
	epoch  string // see Publication (Ids)

	mu     sync.RWMutex
	topics map[string]*topic
}

// NewHub creates a hub; it fails only if the broker does not start.
func NewHub(cfg HubConfig) (*Hub, error) {
	orDefault(&cfg.MaxTopics, DefaultMaxTopics)
	orDefault(&cfg.MaxBacklog, DefaultMaxBacklog)
	h := &Hub{cfg: cfg, broker: cfg.Broker, epoch: newEpoch(), topics: make(map[string]*topic)}
	if h.broker == nil {
		h.broker = &memoryBroker{}
	}
	if err := h.broker.Start(h.deliver); err != nil {
		return nil, err
	}
	return h, nil
}

// Close stops the broker.
func (h *Hub) Close() error { return h.broker.Close() }

// epochLen is the length of an epoch: 8 base-36 digits hold 40 bits.
const epochLen = 8

// newEpoch returns epochLen random base-36 digits. Random rather than
// the creation time: processes started in the same clock tick (nodes
// behind one balancer, a quick restart, a clock stepped back) would share
// a time-based epoch, and then a stale id could name a different event.
// Two epochs collide with probability 2⁻⁴⁰.
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:5]) // never fails (crypto/rand, Go ≥ 1.24)
	e := strconv.FormatUint(binary.LittleEndian.Uint64(b[:]), 36)
	for len(e) < epochLen {
		e = "0" + e
	}
	return e
}

// Publish publishes m to topic and returns the id it was given (see
// Broker.Publish for a broker that delivers later). Safe from any
// goroutine. Messages of one topic reach every subscriber in the order
// their Publish calls took effect. m is copied; m.Data is kept and must
// not be modified afterwards.
func (h *Hub) Publish(topicName string, m Publication) (string, error) {
	if topicName == "" {
		return "", ErrBadTopic
	}
	return h.broker.Publish(topicName, m)
}

// deliver is the hub's DeliverFunc: it makes the immutable Publication
// (sequence, id, every frame), records it in the history ring and queues
// it for each loop with subscribers.
func (h *Hub) deliver(topicName string, in Publication) (string, error) {
	t, err := h.topic(topicName, true)
	if err != nil {
		return "", err
	}
	enc := encoders()
	m := &Publication{ID: in.ID, Event: in.Event, Data: in.Data, Key: in.Key}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, sh := range t.shards {
		if sh.count > 0 && len(sh.pending) >= h.cfg.MaxBacklog {
			return "", ErrBacklog
		}
	}
	// Fill every field before m is shared: from the ring append on, other
	// loops and goroutines may read it.
	t.seq++
	m.seq = t.seq
	if m.ID == "" {
		var b [32]byte
		id := append(append(b[:0], h.epoch...), '-')
		m.ID = string(strconv.AppendUint(id, m.seq, 10))
	}
	// Room for the usual framing, so an encoder appends without growing.
	hint := len(m.ID) + len(m.Event) + len(m.Data) + 32
	for i, encode := range enc {
		m.frames[i] = encode(make([]byte, 0, hint), m)
	}
	id := m.ID
	if len(t.ring) < t.cfg.RingSize {
		t.ring = append(t.ring, m)
	} else {
		t.ring[t.ringPos] = m
		t.ringPos = (t.ringPos + 1) % len(t.ring)
	}
	t.stats.published.Add(1)
	for _, sh := range t.shards {
		if sh.count == 0 {
			continue
		}
		sh.pending = append(sh.pending, m)
		if !sh.posted {
			// Control post: the backlog bound above limits it.
			if sh.el.postControl(sh.run) != nil {
				// The loop has stopped and will never run the batch: drop
				// it (counted as Dropped for each subscriber there), so
				// this shard's backlog does not make the topic refuse
				// publishes for the loops still running.
				t.stats.dropped.Add(int64(sh.count) * int64(len(sh.pending)))
				clear(sh.pending)
				sh.pending = sh.pending[:0]
				continue
			}
			sh.posted = true
		}
	}
	return id, nil
}

// TopicStats counts a topic's deliveries since start.
type TopicStats struct {
	Subscribers int
	Published   int64
	// Written, Queued: deliveries accepted below / above the high
	// watermark. Dropped: skipped under PolicyDrop (or on a closed
	// connection). Conflated: replaced by a later message with the same key
	// or held until drain. Closed: slow subscribers closed under
	// PolicyClose.
	Written, Queued, Dropped, Conflated, Closed int64
}

// TopicStats returns a topic's counters (zero for an unknown topic).
func (h *Hub) TopicStats(name string) TopicStats {
	t, _ := h.topic(name, false)
	if t == nil {
		return TopicStats{}
	}
	t.mu.Lock()
	subs := 0
	for _, sh := range t.shards {
		subs += sh.count
	}
	t.mu.Unlock()
	return TopicStats{
		Subscribers: subs,
		Published:   t.stats.published.Load(),
		Written:     t.stats.written.Load(),
		Queued:      t.stats.queued.Load(),
		Dropped:     t.stats.dropped.Load(),
		Conflated:   t.stats.conflated.Load(),
		Closed:      t.stats.closed.Load(),
	}
}

// Topics returns the names of all topics.
func (h *Hub) Topics() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	names := make([]string, 0, len(h.topics))
	for n := range h.topics {
		names = append(names, n)
	}
	return names
}
