package loop

// For protocol packages: Broker carries messages between publishers and
// hubs. The in-process broker (the default) hands a message straight to the
// local hub; an adapter for an external broker (NATS JetStream) publishes
// remotely and calls the deliver function it was given for messages it
// receives, and can serve history older than the local ring.
//
// Publications cross a Broker by value: neither side keeps the other's
// Publication, only its Data, whose bytes nobody modifies after Publish.
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
	Publish(topic string, m Publication) (id string, err error)
	// Close stops the broker. Hub.Close calls it.
	Close() error
}

// For protocol packages: DeliverFunc is a hub's entry for messages, given to
// Broker.Start.
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
// It copies m's exported fields into a new, immutable Publication (see
// Publication; unexported state of m is ignored) and keeps nothing of the
// caller's but m.Data. It returns the id the message got (m.ID, or
// "<epoch>-<seq>" when m.ID is empty), or ErrBadTopic, ErrTooManyTopics
// or ErrBacklog with nothing delivered.
type DeliverFunc func(topic string, m Publication) (id string, err error)

type memoryBroker struct {
	deliver DeliverFunc
}

func (b *memoryBroker) Start(deliver DeliverFunc) error {
	b.deliver = deliver
	return nil
}
func (b *memoryBroker) Publish(topic string, m Publication) (string, error) {
	return b.deliver(topic, m)
}
func (b *memoryBroker) Close() error { return nil }
