package loop

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
)

// Hub errors.
var (
	// ErrTooManyTopics is returned when a new topic would exceed
	// HubConfig.MaxTopics.
	ErrTooManyTopics = errors.New("loop: too many topics")
	// ErrBacklog is returned by Publish when a loop still has
	// HubConfig.MaxBacklog undelivered messages of the topic: the loops
	// cannot keep up. Nothing was published (no subscriber gets it, the
	// history does not record it); the publisher may retry later.
	ErrBacklog = errors.New("loop: publish backlog full")
	// ErrBadTopic is returned for an empty topic name.
	ErrBadTopic = errors.New("loop: empty topic name")
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
	// PolicyConflate keeps only the latest message per Message.Key while
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

// Message is one published event. Publishers fill Event, Data, Key and
// optionally ID; the hub assigns Seq (and ID when empty).
//
// # Immutable once published
//
// A *Message handed to subscribers is never modified. The hub copies the
// publisher's fields into a new Message, gives it its Seq and id, and
// encodes it with every registered codec, all before the message is
// stored in the topic's history or handed to any loop; nothing writes it
// afterwards. So a *Message (from Subscribe, in a codec) may be read from
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
type Message struct {
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

// Seq is the message's position in its topic, from 1.
func (m *Message) Seq() uint64 { return m.seq }

// Frame returns the message encoded by codec, shared by every subscriber:
// do not modify it. It is never nil for a registered codec.
func (m *Message) Frame(codec CodecID) []byte { return m.frames[codec] }

// CodecID names a wire encoding of messages registered with RegisterCodec.
type CodecID uint8

type encodeFunc = func(dst []byte, m *Message) []byte

var (
	codecsMu sync.Mutex
	codecs   []encodeFunc // under codecsMu until frozen
	// frozenCodecs is codecs as of the process's first publish or
	// subscription; RegisterCodec panics afterwards, so every message has
	// a frame for every codec a subscriber can have.
	frozenCodecs atomic.Pointer[[]encodeFunc]
)

// RegisterCodec registers an encoder of messages (the SSE event framing,
// the WebSocket text frame). Every published message is encoded once
// with every registered codec, when it is published, whether or not its
// topic has subscribers of that codec: the frames are part of the
// immutable message (see Message), shared by every subscriber and by
// resumes from the history. Encoders read the exported fields and Seq,
// and must not modify m. Call from init: RegisterCodec panics once any
// hub has published a message or added a subscriber. At most 4 codecs.
func RegisterCodec(encode func(dst []byte, m *Message) []byte) CodecID {
	codecsMu.Lock()
	defer codecsMu.Unlock()
	if frozenCodecs.Load() != nil {
		panic("BUG: loop: RegisterCodec after a hub published or subscribed")
	}
	if len(codecs) == maxCodecs {
		panic("BUG: loop: too many codecs")
	}
	codecs = append(codecs, encode)
	return CodecID(len(codecs) - 1)
}

// encoders returns the registered codecs, freezing the list on first use.
func encoders() []encodeFunc {
	if p := frozenCodecs.Load(); p != nil {
		return *p
	}
	codecsMu.Lock()
	defer codecsMu.Unlock()
	if frozenCodecs.Load() == nil {
		list := codecs[:len(codecs):len(codecs)]
		frozenCodecs.Store(&list)
	}
	return *frozenCodecs.Load()
}

// Subscriber is the protocol side of a subscription (an SSE stream, a
// WebSocket). Its methods are called on the subscriber's loop.
type Subscriber interface {
	// Codec is the encoding of messages this subscriber receives.
	Codec() CodecID
	// Overflow is called under PolicyClose when the subscriber is over
	// budget; it closes the connection in the protocol's way.
	Overflow(c *Conn)
}

// Broker carries messages between publishers and hubs. The in-process
// broker (the default) hands a message straight to the local hub; an
// adapter for an external broker (NATS JetStream) publishes remotely and
// calls the deliver function it was given for messages it receives, and
// can serve history older than the local ring.
//
// Messages cross a Broker by value: neither side keeps the other's
// Message, only its Data, whose bytes nobody modifies after Publish.
type Broker interface {
	// Start is called once, by NewHub, before any Publish, with the hub's
	// delivery function (see DeliverFunc). The broker may call deliver
	// from then on.
	Start(deliver DeliverFunc) error
	// Publish sends m to every hub subscribed to topic, including this
	// one, to which it delivers m through deliver at most once. Hub.Publish
	// calls it from any goroutine, concurrently, and returns its results:
	// the id subscribers receive m under (the one deliver returned, when
	// the broker delivers locally before Publish returns) and the local
	// delivery's error. A broker that delivers locally only later (after a
	// round trip to the server) returns the id if it already knows it,
	// else "", and a nil error.
	Publish(topic string, m Message) (id string, err error)
	// Close stops the broker. Hub.Close calls it.
	Close() error
}

// DeliverFunc is a hub's entry for messages, given to Broker.Start.
//
// It may be called from any goroutine, concurrently with itself and with
// every other Hub method: adapters call it from their own goroutines.
// Calls for one topic are serialised: the messages of a topic reach every
// subscriber in the order the calls took the topic, so a broker that must
// keep an order of its own (a stream's) delivers one topic from one
// goroutine at a time. It never blocks on a loop: it sequences m, records
// it in the history ring, encodes it and queues it for the loops with
// subscribers, then returns, so it may also be called on a loop.
//
// It copies m's exported fields into a new, immutable Message (see
// Message; unexported state of m is ignored) and keeps nothing of the
// caller's but m.Data. It returns the id the message got (m.ID, or
// "<epoch>-<seq>" when m.ID is empty), or ErrBadTopic, ErrTooManyTopics
// or ErrBacklog with nothing delivered.
type DeliverFunc func(topic string, m Message) (id string, err error)

type memoryBroker struct {
	deliver DeliverFunc
}

func (b *memoryBroker) Start(deliver DeliverFunc) error {
	b.deliver = deliver
	return nil
}
func (b *memoryBroker) Publish(topic string, m Message) (string, error) { return b.deliver(topic, m) }
func (b *memoryBroker) Close() error                                    { return nil }

// Hub is a set of topics with fan-out to subscribers on every loop.
//
// A published message is encoded once per registered codec and handed to
// each loop that has subscribers as part of one batch task, which writes
// the shared bytes to every local subscriber: cross-thread work is
// O(loops), not O(subscribers).
//
// # Concurrency
//
// Publish, Stats and TopicStats are safe from any goroutine. Subscribe
// and the Subscription methods run on the subscriber's loop.
type Hub struct {
	cfg    HubConfig
	broker Broker
	epoch  string // see Message (Ids)

	mu     sync.RWMutex
	topics map[string]*topic
}

// NewHub creates a hub; it fails only if the broker does not start.
func NewHub(cfg HubConfig) (*Hub, error) {
	if cfg.MaxTopics <= 0 {
		cfg.MaxTopics = DefaultMaxTopics
	}
	if cfg.MaxBacklog <= 0 {
		cfg.MaxBacklog = DefaultMaxBacklog
	}
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

// topic is one topic's state. Fields under mu are shared; each shard's
// subscriber list belongs to its loop.
type topic struct {
	name string
	cfg  TopicConfig
	hub  *Hub

	mu      sync.Mutex
	seq     uint64
	ring    []*Message // circular, len ≤ RingSize
	ringPos int
	shards  []*shard

	stats topicCounters
}

type topicCounters struct {
	published, written, queued, dropped, conflated, closed atomic.Int64
}

// shard is a topic's subscribers on one loop.
type shard struct {
	t       *topic
	el      *eventLoop
	subs    []*Subscription // loop-only
	count   int             // under t.mu
	pending []*Message      // under t.mu: published, not yet delivered
	posted  bool            // under t.mu
	spare   []*Message      // under t.mu
}

// Subscription is one subscriber's membership of a topic.
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

// heldMessages are a slow subscriber's conflated messages: the latest per
// key, in seq order.
type heldMessages struct{ msgs []*Message }

func (s *Subscription) conflated() []*Message {
	if s.held == nil {
		return nil
	}
	return s.held.msgs
}

func (s *Subscription) setConflated(msgs []*Message) {
	switch {
	case len(msgs) == 0:
		s.held = nil
	case s.held == nil:
		s.held = &heldMessages{msgs: msgs}
	default:
		s.held.msgs = msgs
	}
}

func (h *Hub) topicConfig(name string) TopicConfig {
	cfg, ok := h.cfg.Topics[name]
	if !ok {
		cfg = h.cfg.Default
	}
	if cfg.RingSize <= 0 {
		cfg.RingSize = DefaultRingSize
	}
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

// Publish publishes m to topic and returns the id it was given (see
// Broker.Publish for a broker that delivers later). Safe from any
// goroutine. Messages of one topic reach every subscriber in the order
// their Publish calls took effect. m is copied; m.Data is kept and must
// not be modified afterwards.
func (h *Hub) Publish(topicName string, m Message) (string, error) {
	if topicName == "" {
		return "", ErrBadTopic
	}
	return h.broker.Publish(topicName, m)
}

// deliver is the hub's DeliverFunc: it makes the immutable Message
// (sequence, id, every frame), records it in the history ring and queues
// it for each loop with subscribers.
func (h *Hub) deliver(topicName string, in Message) (string, error) {
	t, err := h.topic(topicName, true)
	if err != nil {
		return "", err
	}
	enc := encoders()
	m := &Message{ID: in.ID, Event: in.Event, Data: in.Data, Key: in.Key}
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

// history returns, oldest first, the messages after lastID, or the whole
// ring with found = false when lastID is not in it (too old, from another
// epoch, or unknown): the caller resets its client and replays them all,
// so there is never a gap. Ids are compared whole; the newest match wins.
// Under t.mu.
func (t *topic) history(lastID string) (msgs []*Message, found bool) {
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
	msgs = make([]*Message, 0, n-from)
	for j := from; j < n; j++ {
		msgs = append(msgs, t.ring[(start+j)%n])
	}
	return msgs, found
}

// Resume says whether and from where a subscriber catches up.
type Resume struct {
	// LastID is the id of the last message the subscriber saw.
	LastID string
	// Enabled turns resume on. A client without Last-Event-ID leaves it
	// false and gets live messages only; enabled with an empty LastID
	// (which no message has) means a reset and the whole history.
	Enabled bool
}

// Subscribe adds sub, living on conn, to topic. With resume enabled it
// returns missed, the messages after resume.LastID from the topic's
// history, oldest first, to be written before anything else. When LastID
// is not in the history (older than the ring, from another epoch such as
// an earlier process, or unknown) it returns reset=true and the whole
// history as missed: the caller tells its client to start over, then
// writes missed. Either way the messages published later arrive through
// sub's connection right after missed, without gaps or duplicates. On
// conn's loop.
func (h *Hub) Subscribe(conn *Conn, topicName string, sub Subscriber, resume Resume) (s *Subscription, missed []*Message, reset bool, err error) {
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

func (s *Subscription) write(m *Message) {
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
func (s *Subscription) offer(m *Message, c *deliveryCounters) {
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

func (s *Subscription) conflate(m *Message) {
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
