package loop

import (
	"context"
	"strconv"
	"strings"
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
// Every publication has a place in its broker's one sequence over all
// topics (Seq). An id the hub assigns is "<epoch>-<seq>": seq is Seq in
// decimal and epoch names the sequence (Broker.Epoch): for the in-process
// broker 8 characters of [0-9a-z] drawn at random (40 bits) per process,
// so an id from an earlier process never names an event of this one (a
// client resuming with it gets a reset and the whole history, never a
// silent gap); for NATS JetStream the stream's, the same on every node and
// across restarts, so a client resumes exactly anywhere. One id resumes a
// stream joined to several topics (see Hub.Resume). Clients treat ids as
// opaque strings.
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
	topic  string
	frames [maxCodecs][]byte
}

func (m *Publication) topicName() string { return m.topic }

// Hub is a set of topics with fan-out to subscribers on every loop.
//
// A published message is sequenced by the Broker, encoded once per
// registered codec and handed to each loop that has subscribers in one
// batch task, which writes the shared bytes to every local subscriber:
// cross-thread work is O(loops), not O(subscribers). Each loop receives
// the messages of all topics in sequence order, so a subscriber of several
// topics sees them in the order of their ids.
//
// Each topic keeps a history ring of recent publications for resume
// (Last-Event-ID); a broker with history (NATS JetStream) serves what the
// ring no longer holds. Each topic applies its Policy to slow subscribers
// (close, drop, conflate).
//
// # Concurrency
//
// Publish, TopicStats, Topics and Close are safe from any goroutine.
// Subscribe, Resume and the Subscription methods run on the subscriber's
// loop.
type Hub struct {
	cfg     HubConfig
	broker  Broker
	epoch   string // Broker.Epoch, see Publication (Ids)
	history bool   // the broker serves history beyond the rings

	mu     sync.RWMutex // guards topics (the map)
	topics map[string]*topic

	// deliverMu serialises deliveries and subscriptions: every topic's
	// ring, shards and the loops' inboxes change under it, so a subscriber
	// joining several topics sees one consistent point of the sequence.
	deliverMu sync.Mutex
	seq       uint64 // the last Seq delivered
	inboxes   map[*eventLoop]*inbox
}

// NewHub creates a hub; it fails only if the broker does not start.
func NewHub(cfg HubConfig) (*Hub, error) {
	orDefault(&cfg.MaxTopics, DefaultMaxTopics)
	orDefault(&cfg.MaxBacklog, DefaultMaxBacklog)
	h := &Hub{cfg: cfg, broker: cfg.Broker, topics: make(map[string]*topic), inboxes: make(map[*eventLoop]*inbox)}
	if h.broker == nil {
		h.broker = newMemoryBroker()
	} else {
		h.history = true
	}
	if err := h.broker.Start(h.deliver); err != nil {
		return nil, err
	}
	h.epoch = h.broker.Epoch()
	return h, nil
}

// Close stops the broker.
func (h *Hub) Close() error { return h.broker.Close() }

// Publish publishes m to topic and returns the id it was given. Safe from
// any goroutine. Messages reach every subscriber in sequence order. m is
// copied; m.Data is kept and must not be modified afterwards. It returns
// ErrBacklog (nothing published) when a loop with subscribers of topic
// still has HubConfig.MaxBacklog of its messages undelivered, or the
// broker's error (a NATS adapter's when the broker is unreachable).
func (h *Hub) Publish(topicName string, m Publication) (string, error) {
	return h.PublishContext(context.Background(), topicName, m)
}

// PublishContext is Publish with a context bounding the broker's work.
func (h *Hub) PublishContext(ctx context.Context, topicName string, m Publication) (string, error) {
	if topicName == "" {
		return "", ErrBadTopic
	}
	if h.backlogged(topicName) {
		return "", ErrBacklog
	}
	seq, err := h.broker.Publish(ctx, topicName, Delivery{ID: m.ID, Event: m.Event, Data: m.Data, Key: m.Key})
	if err != nil {
		return "", err
	}
	if m.ID != "" {
		return m.ID, nil
	}
	return h.idOf(seq), nil
}

// idOf is the id the hub gives a message of sequence seq.
func (h *Hub) idOf(seq uint64) string {
	var b [40]byte
	id := append(append(b[:0], h.epoch...), '-')
	return string(strconv.AppendUint(id, seq, 10))
}

// parseID returns the sequence number of an id the hub assigned, if it
// is one of this hub's epoch.
func (h *Hub) parseID(id string) (uint64, bool) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 || id[:i] != h.epoch {
		return 0, false
	}
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	return seq, err == nil
}

// backlogged reports whether a loop with subscribers of topic has
// MaxBacklog of its messages undelivered.
func (h *Hub) backlogged(topicName string) bool {
	t, _ := h.topic(topicName, false)
	if t == nil {
		return false
	}
	h.deliverMu.Lock()
	defer h.deliverMu.Unlock()
	for _, sh := range t.shards {
		if sh.count > 0 && sh.pending >= h.cfg.MaxBacklog {
			return true
		}
	}
	return false
}

// publication makes the immutable Publication of d: its id and every
// codec's frame.
func (h *Hub) publication(d Delivery) *Publication {
	m := &Publication{ID: d.ID, Event: d.Event, Data: d.Data, Key: d.Key, seq: d.Seq, topic: d.Topic}
	if m.ID == "" {
		m.ID = h.idOf(d.Seq)
	}
	hint := len(m.ID) + len(m.Event) + len(m.Data) + 32
	for i, encode := range encoders() {
		m.frames[i] = encode(make([]byte, 0, hint), m)
	}
	return m
}

// deliver is the broker's entry into the hub: it makes the immutable
// Publication (sequence, id, every frame), records it in the topic's ring
// and queues it for each loop with subscribers, in sequence order.
func (h *Hub) deliver(d Delivery) error {
	t, err := h.topic(d.Topic, true)
	if err != nil {
		return err
	}
	m := h.publication(d)
	h.deliverMu.Lock()
	defer h.deliverMu.Unlock()
	if d.Seq <= h.seq {
		return nil // delivered before (an at-least-once broker's repeat)
	}
	h.seq = d.Seq
	t.record(m)
	t.stats.published.Add(1)
	for _, sh := range t.shards {
		if sh.count > 0 {
			h.inboxFor(sh.el).push(sh, m)
		}
	}
	return nil
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
	h.deliverMu.Lock()
	subs := t.subscribers()
	h.deliverMu.Unlock()
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
