package natsbroker

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Header names. Streamd-Prev is the chain History relies on (doc.go).
const (
	hdrPrev  = "Streamd-Prev"
	hdrID    = "Streamd-Id"
	hdrEvent = "Streamd-Event"
	hdrKey   = "Streamd-Key"

	hdrMsgID          = jetstream.MsgIDHeader               // "Nats-Msg-Id"
	hdrExpectLastSubj = jetstream.ExpectedLastSubjSeqHeader // "Nats-Expected-Last-Subject-Sequence"
)

// maxChainRetries bounds the retries of one Publish after JetStream refused
// it because another publisher wrote the topic first.
const maxChainRetries = 16

// maxTopicStates bounds the per-topic publish state kept between publishes;
// beyond, idle entries are dropped (they are hints, see topicState).
const maxTopicStates = 1 << 16

// topicState is this process's view of a topic for publishing. mu serialises
// the process's publishes to the topic: each must name the topic's last
// sequence (Nats-Expected-Last-Subject-Sequence), so two in flight at once
// would fail one another. expect and prev are hints checked by JetStream.
type topicState struct {
	mu     sync.Mutex
	refs   int    // under Broker.pubMu
	known  bool   // expect and prev are set
	expect uint64 // the topic's last Seq in the stream, 0 when it holds none
	prev   uint64 // Streamd-Prev for the next message (doc.go)
}

// Publish stores d under topic and returns its Seq once JetStream has
// acknowledged it. d.Topic and d.Seq are ignored. Publish retries with one
// Nats-Msg-Id, so JetStream stores the message at most once however often
// it is sent. It fails with an error wrapping ErrUnavailable at once while
// the connection is down, and after PublishTimeout (or ctx) when JetStream
// does not answer. Safe from any goroutine; publishes to one topic from one
// process are serialised (one round trip each).
func (b *Broker) Publish(ctx context.Context, topic string, d Delivery) (uint64, error) {
	if !validTopic(topic) {
		return 0, ErrBadTopic
	}
	if badField(d.ID) || badField(d.Event) || badField(d.Key) {
		return 0, ErrBadField
	}
	if b.isClosed() {
		return 0, ErrClosed
	}
	ctx, cancel := withDefaultTimeout(ctx, b.opts.PublishTimeout)
	defer cancel()
	return b.publish(ctx, topic, nuid.Next(), d)
}

// publish is Publish with the message id chosen by the caller.
func (b *Broker) publish(ctx context.Context, topic, msgID string, d Delivery) (uint64, error) {
	if b.nc.Status() != nats.CONNECTED {
		return 0, unavailable("publish", errDisconnected)
	}
	ts := b.lockTopic(topic)
	defer b.unlockTopic(topic, ts)

	m := &nats.Msg{
		Subject: string(appendToken([]byte(b.dataPrefix), topic)),
		Data:    d.Data,
		Header:  make(nats.Header, 6),
	}
	m.Header[hdrMsgID] = []string{msgID}
	if d.ID != "" {
		m.Header[hdrID] = []string{d.ID}
	}
	if d.Event != "" {
		m.Header[hdrEvent] = []string{d.Event}
	}
	if d.Key != "" {
		m.Header[hdrKey] = []string{d.Key}
	}
	for attempt := 0; ; attempt++ {
		if !ts.known {
			expect, prev, err := b.chainHead(ctx, topic)
			if err != nil {
				return 0, err
			}
			ts.expect, ts.prev, ts.known = expect, prev, true
		}
		m.Header[hdrExpectLastSubj] = []string{strconv.FormatUint(ts.expect, 10)}
		m.Header[hdrPrev] = []string{strconv.FormatUint(ts.prev, 10)}
		// An attempt gets half of what is left, so that an ack lost (a
		// leader change, a dropped connection) leaves time for a retry.
		actx, acancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); ok {
			actx, acancel = context.WithTimeout(ctx, time.Until(dl)/2)
		}
		ack, err := b.js.PublishMsg(actx, m)
		acancel()
		if err == nil {
			ts.expect, ts.prev = ack.Sequence, ack.Sequence
			b.noteSeq(ack.Sequence)
			return ack.Sequence, nil
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil &&
			b.nc.Status() == nats.CONNECTED && attempt < maxChainRetries {
			continue // same headers: stored already → wrong last seq → duplicate
		}
		ts.known = false
		// Another publisher wrote the topic since we looked, or an earlier
		// attempt of this very publish was stored but its ack was lost: look
		// again and retry. In the second case the retry names the stored
		// message as the last one, passes that check and is then recognised
		// by its Nats-Msg-Id: JetStream acks it as a duplicate with the
		// original Seq.
		if wrongLastSeq(err) && attempt < maxChainRetries {
			continue
		}
		return 0, unavailable("publish", err)
	}
}

// chainHead returns what the next message of topic must carry: expect, the
// topic's last Seq in the stream (0 if it holds none), and prev, its
// Streamd-Prev (doc.go). When the topic holds a message, prev = expect. When
// it holds none, prev bounds the Seqs of the messages it had; a topic
// without an anchor gets one first.
func (b *Broker) chainHead(ctx context.Context, topic string) (expect, prev uint64, err error) {
	last, found, err := b.lastSeqOf(ctx, string(appendToken([]byte(b.dataPrefix), topic)))
	if err != nil || found {
		return last, last, err
	}
	a, err := b.readAnchor(ctx, topic)
	if err != nil {
		return 0, 0, err
	}
	if !a.valid {
		created, err := b.writeAnchor(ctx, topic, a)
		if err != nil {
			return 0, 0, err
		}
		if created {
			// Nobody anchored the topic before: it had no message, or only
			// ones older than the anchors (emptyBound with no anchor).
			prev, err = b.emptyBound(ctx, anchor{})
			return 0, prev, err
		}
		if a, err = b.readAnchor(ctx, topic); err != nil {
			return 0, 0, err
		}
	}
	prev, err = b.emptyBound(ctx, a)
	return 0, prev, err
}

// wrongLastSeq reports whether JetStream refused a publish because its
// Nats-Expected-Last-Subject-Sequence was not the subject's last sequence.
func wrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// badField reports whether s cannot be a NATS header value.
func badField(s string) bool { return strings.ContainsAny(s, "\r\n\x00") }

// lockTopic returns topic's state, locked.
func (b *Broker) lockTopic(topic string) *topicState {
	b.pubMu.Lock()
	ts := b.topics[topic]
	if ts == nil {
		if len(b.topics) >= maxTopicStates {
			for k, v := range b.topics {
				if v.refs == 0 {
					delete(b.topics, k)
				}
			}
		}
		ts = &topicState{}
		b.topics[topic] = ts
	}
	ts.refs++
	b.pubMu.Unlock()
	ts.mu.Lock()
	return ts
}

func (b *Broker) unlockTopic(topic string, ts *topicState) {
	ts.mu.Unlock()
	b.pubMu.Lock()
	ts.refs--
	b.pubMu.Unlock()
}

// noteDelivered updates the publish hint of a topic this node saw a message
// of, saving the lookup a publish would otherwise need after another node
// wrote the topic.
func (b *Broker) noteDelivered(topic string, seq uint64) {
	b.pubMu.Lock()
	ts := b.topics[topic]
	b.pubMu.Unlock()
	if ts == nil || !ts.mu.TryLock() {
		return // unknown, or a publish of ours is in flight: it will find out
	}
	if ts.known && seq > ts.expect {
		ts.expect, ts.prev = seq, seq
	}
	ts.mu.Unlock()
}
