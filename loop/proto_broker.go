package loop

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"strconv"
	"sync"
)

// For protocol packages: Delivery is a published message as brokers carry
// it: its topic, its position in the broker's one sequence over all topics,
// and the publisher's fields.
type Delivery struct {
	Topic string
	// Seq is the message's position in the broker's sequence, from 1,
	// increasing over all topics: one Last-Event-ID resumes a stream joined
	// to several topics, and ids compare across every hub sharing the
	// broker.
	Seq uint64
	// ID is the publisher's own id, or "" (the hub then names the message
	// "<epoch>-<seq>", see Publication).
	ID, Event string
	Data      []byte
	Key       string
}

// For protocol packages: Broker sequences, stores and carries published
// messages between hubs (processes, machines). The in-process broker (the
// default) sequences in memory and delivers straight to its hub; an adapter
// for NATS JetStream (module github.com/streamd/streamd/natsbroker) lets
// several processes share topics and history.
//
// Deliveries cross a Broker by value; nobody modifies Data after Publish
// (Hub.Publish hands the publisher's slice over: the publisher must not
// modify it afterwards, and the hub builds every frame of the message
// before any loop or ring sees it, so a delivered message is immutable).
type Broker interface {
	// Start is called once, by NewHub, before anything else, with the hub's
	// delivery function. The broker calls deliver for the messages of the
	// watched topics in increasing Seq order, one call at a time (never
	// concurrently), with no gap for a topic while it stays watched. A
	// message delivered twice (at-least-once brokers) is ignored by the hub.
	// deliver may be called from any goroutine, a loop's included (the
	// in-process broker calls it inside Publish, often from a handler):
	// it takes a short lock, records the message and hands it to each
	// loop's bounded inbox, and never waits for a loop.
	Start(deliver func(Delivery) error) error
	// Epoch names the broker's sequence: the same on every hub sharing it
	// and for as long as its history lives. Ids carry it, so an id of
	// another epoch is never mistaken for one of this sequence.
	Epoch() string
	// Publish sequences and stores d (d.Seq is ignored) and delivers it to
	// every hub watching its topic, this one included; it returns the
	// sequence number d got. Safe from any goroutine, concurrently.
	Publish(ctx context.Context, topic string, d Delivery) (seq uint64, err error)
	// Watch and Unwatch tell the broker that the hub has (no longer)
	// subscribers for topic. After Watch, every message of topic with a
	// Seq above the last one delivered before is delivered. Called from
	// any goroutine.
	Watch(topic string)
	Unwatch(topic string)
	// History returns the messages of topics with Seq > after, in Seq
	// order, at most limit. complete is false when messages after `after`
	// may have been removed (retention) or limit cut the list; the hub then
	// tells its clients to start over. The in-process broker keeps no
	// history beyond the hub's rings and returns (nil, false, nil).
	History(ctx context.Context, topics []string, after uint64, limit int) (ds []Delivery, complete bool, err error)
	// Close stops the broker. Hub.Close calls it.
	Close() error
}

// memoryBroker is the in-process Broker: one sequence, delivered to the
// one hub under its lock, so deliveries are in Seq order.
type memoryBroker struct {
	epoch   string
	mu      sync.Mutex
	seq     uint64
	deliver func(Delivery) error
}

func newMemoryBroker() *memoryBroker { return &memoryBroker{epoch: newEpoch()} }

func (b *memoryBroker) Start(deliver func(Delivery) error) error {
	b.deliver = deliver
	return nil
}

func (b *memoryBroker) Epoch() string { return b.epoch }

func (b *memoryBroker) Publish(_ context.Context, topic string, d Delivery) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d.Topic, d.Seq = topic, b.seq+1
	if err := b.deliver(d); err != nil {
		return 0, err
	}
	b.seq++
	return b.seq, nil
}

func (*memoryBroker) Watch(string)   {}
func (*memoryBroker) Unwatch(string) {}

func (*memoryBroker) History(context.Context, []string, uint64, int) ([]Delivery, bool, error) {
	return nil, false, nil
}

func (*memoryBroker) Close() error { return nil }

// epochLen is the length of a memory epoch: 8 base-36 characters.
const epochLen = 8

// newEpoch draws a memory epoch: 40 random bits in base 36, so a new
// process never reuses the ids of an old one (see Publication).
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:5]) // never fails (crypto/rand, Go ≥ 1.24)
	e := strconv.FormatUint(binary.LittleEndian.Uint64(b[:]), 36)
	for len(e) < epochLen {
		e = "0" + e
	}
	return e
}
