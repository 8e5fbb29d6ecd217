package natsbroker

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Start begins delivering the watched topics' messages to deliver, from one
// goroutine, one call at a time, in increasing Seq order, beginning after the
// stream's last message when New returned (older ones are History's). An
// error from
// deliver is taken as temporary: the same Delivery is offered again, with
// growing pauses (up to 2 s), until deliver accepts it, its topic is
// unwatched or the broker closes; later messages wait meanwhile. Start
// returns ErrStarted when called again and ErrClosed after Close.
func (b *Broker) Start(deliver func(Delivery) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.started {
		return ErrStarted
	}
	b.started, b.deliver = true, deliver
	go b.run()
	return nil
}

// Watch says that the hub has subscribers for topic: every message of topic
// with a Seq greater than that of the last message handed to deliver before
// Watch returned will be delivered. Watching a watched topic, or one that
// Publish would refuse with ErrBadTopic, does nothing. Safe from any
// goroutine; it does not block on the network: the delivery
// goroutine replaces its consumer, and delivers nothing meanwhile.
func (b *Broker) Watch(topic string) {
	if !validTopic(topic) {
		return
	}
	b.mu.Lock()
	if _, ok := b.watched[topic]; !ok && !b.closed {
		b.watched[topic] = struct{}{}
		b.changedLocked()
	}
	b.mu.Unlock()
}

// Unwatch says that the hub has no subscribers for topic any more. After it
// returns, at most the one delivery of topic then in progress reaches
// deliver. Safe from any goroutine.
func (b *Broker) Unwatch(topic string) {
	b.mu.Lock()
	if _, ok := b.watched[topic]; ok {
		delete(b.watched, topic)
		b.changedLocked()
	}
	b.mu.Unlock()
}

// changedLocked ends the current consumer generation; mu is held.
func (b *Broker) changedLocked() {
	b.version++
	if b.cancelGen != nil {
		b.cancelGen()
	}
	b.signal()
}

func (b *Broker) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// A generation is one ordered consumer over one watched set. Every change of
// the set ends it; the next starts at lastDelivered+1 with the new set. That
// is exact for topics that stay (their messages up to lastDelivered were
// delivered), and gives a newly watched topic everything after
// lastDelivered, as Watch promises: a generation delivers a message only if
// the set has not changed since the generation began (checked under mu with
// lastDelivered), so no message beyond the Watch point goes out before the
// new topic's older ones.
type generation struct {
	ctx     context.Context
	cancel  context.CancelFunc
	version uint64
	start   uint64
	filter  []string
}

// run is the delivery goroutine.
func (b *Broker) run() {
	defer close(b.done)
	var pause time.Duration
	for {
		g, ok := b.nextGeneration()
		if !ok {
			return
		}
		err := b.consume(g)
		g.cancel()
		if err == nil {
			pause = 0
			continue
		}
		pause = min(max(2*pause, 50*time.Millisecond), 2*time.Second)
		b.log.LogAttrs(context.Background(), slog.LevelWarn, "natsbroker: consumer stopped",
			slog.Uint64("from_seq", g.start), slog.Duration("retry_in", pause), slog.Any("err", err))
		if !b.sleep(pause) {
			return
		}
	}
}

// nextGeneration waits for a watched topic and starts a generation; false
// means the broker closed.
func (b *Broker) nextGeneration() (generation, bool) {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return generation{}, false
		}
		if len(b.watched) > 0 {
			g := generation{version: b.version, start: b.lastDelivered + 1}
			g.ctx, g.cancel = context.WithCancel(context.Background())
			b.cancelGen = g.cancel
			if len(b.watched) > b.opts.MaxFilterSubjects {
				g.filter = []string{b.dataWildcard}
			} else {
				g.filter = make([]string, 0, len(b.watched))
				for t := range b.watched {
					g.filter = append(g.filter, string(appendToken([]byte(b.dataPrefix), t)))
				}
				slices.Sort(g.filter)
			}
			b.mu.Unlock()
			return g, true
		}
		b.mu.Unlock()
		<-b.wake
	}
}

// consume runs one generation. It returns nil when the generation ended
// because the watched set changed or the broker closed, and the error
// otherwise (the caller pauses, then starts a new generation from
// lastDelivered+1).
func (b *Broker) consume(g generation) error {
	cons, err := b.js.OrderedConsumer(g.ctx, b.opts.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects:    g.filter,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       g.start,
		InactiveThreshold: time.Minute,
		// The ordered consumer recreates itself after a missed heartbeat, a
		// reconnect or a deleted consumer. One attempt: if it fails, Next
		// returns the error and run retries from its own position, with a
		// pause that Close interrupts.
		MaxResetAttempts: 1,
	})
	if err != nil {
		if g.ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer b.deleteConsumer(cons)
	it, err := cons.Messages()
	if err != nil {
		if g.ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(g.ctx))
		if err != nil {
			if g.ctx.Err() != nil {
				return nil
			}
			return err
		}
		meta, err := msg.Metadata()
		if err != nil {
			return err
		}
		seq := meta.Sequence.Stream
		b.noteSeq(seq)
		topic, ok := b.topicOf(msg.Subject())
		b.mu.Lock()
		if b.version != g.version || b.closed {
			b.mu.Unlock()
			return nil
		}
		_, watched := b.watched[topic]
		if !ok || !watched || seq <= b.lastDelivered {
			b.mu.Unlock()
			continue
		}
		b.lastDelivered = seq
		deliver := b.deliver
		b.mu.Unlock()
		b.noteDelivered(topic, seq)
		if !b.offer(deliver, b.delivery(topic, seq, msg.Headers(), msg.Data())) {
			return nil
		}
	}
}

// offer hands d to deliver until it is accepted, its topic is unwatched
// (true) or the broker closes (false).
func (b *Broker) offer(deliver func(Delivery) error, d Delivery) bool {
	var pause time.Duration
	for {
		err := deliver(d)
		if err == nil {
			return true
		}
		b.mu.Lock()
		_, watched := b.watched[d.Topic]
		closed := b.closed
		b.mu.Unlock()
		if closed {
			return false
		}
		if !watched {
			return true
		}
		pause = min(max(2*pause, 50*time.Millisecond), 2*time.Second)
		if pause == 50*time.Millisecond || pause == 2*time.Second {
			b.log.LogAttrs(context.Background(), slog.LevelWarn, "natsbroker: deliver refused a message",
				slog.Uint64("seq", d.Seq), slog.Any("err", err))
		}
		if !b.sleep(pause) {
			return false
		}
	}
}

// sleep pauses for d; false means the broker closed meanwhile.
func (b *Broker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.quit:
		return false
	}
}

// deleteConsumer removes a finished generation's consumer from the server
// at once, rather than after its InactiveThreshold.
func (b *Broker) deleteConsumer(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil || b.nc.Status() != nats.CONNECTED {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = b.js.DeleteConsumer(ctx, b.opts.Stream, info.Name)
}

// topicOf returns the topic of a message subject.
func (b *Broker) topicOf(subject string) (string, bool) {
	tok, ok := strings.CutPrefix(subject, b.dataPrefix)
	if !ok {
		return "", false
	}
	return parseToken(tok)
}
