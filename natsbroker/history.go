package natsbroker

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/nats-io/nats.go"
)

// History returns the messages of topics with Seq > after, in Seq order, at
// most limit of them (DefaultHistoryLimit when limit <= 0). complete is false
// when limit cut the answer, or when a message of one of the topics with Seq
// > after may have been removed by retention; doc.go says how that is
// decided and when "may" is not "was". Safe from any goroutine.
//
// History reads with JetStream direct gets: in a replicated stream a
// follower may answer, and it may not yet hold the newest messages.
func (b *Broker) History(ctx context.Context, topics []string, after uint64, limit int) ([]Delivery, bool, error) {
	if b.isClosed() {
		return nil, false, ErrClosed
	}
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	ctx, cancel := withDefaultTimeout(ctx, b.opts.RequestTimeout)
	defer cancel()
	if b.nc.Status() != nats.CONNECTED {
		return nil, false, unavailable("history", errDisconnected)
	}
	complete := true
	var lists [][]Delivery
	seen := make(map[string]bool, len(topics))
	for _, topic := range topics {
		if seen[topic] {
			continue
		}
		seen[topic] = true
		if !validTopic(topic) {
			return nil, false, ErrBadTopic
		}
		ds, ok, err := b.topicHistory(ctx, topic, after, limit)
		if err != nil {
			return nil, false, err
		}
		complete = complete && ok
		if len(ds) > 0 {
			lists = append(lists, ds)
		}
	}
	out, cut := mergeBySeq(lists, limit)
	return out, complete && !cut, nil
}

// topicHistory returns up to limit messages of topic after after, and
// whether they are complete: no message of the topic after after was removed
// and none is left beyond limit.
func (b *Broker) topicHistory(ctx context.Context, topic string, after uint64, limit int) ([]Delivery, bool, error) {
	subject := string(appendToken([]byte(b.dataPrefix), topic))
	var ds []Delivery
	prevOfFirst := uint64(0)
	more, err := b.directBatch(ctx, subject, after+1, limit, func(m *nats.Msg, seq uint64) {
		if len(ds) == 0 {
			prevOfFirst = headerUint(m.Header, hdrPrev)
		}
		ds = append(ds, b.delivery(topic, seq, m.Header, m.Data))
	})
	if err != nil {
		return nil, false, err
	}
	if len(ds) > 0 {
		// Every message of the topic before ds[0] has Seq <= prevOfFirst
		// (doc.go): if that is after `after`, one was and is no more.
		return ds, prevOfFirst <= after && !more, nil
	}
	// Nothing after `after`. If the topic still holds a message, retention
	// (which removes a topic's oldest messages first) removed nothing newer.
	_, found, err := b.lastSeqOf(ctx, subject)
	if err != nil || found {
		return nil, err == nil, err
	}
	a, err := b.readAnchor(ctx, topic)
	if err != nil {
		return nil, false, err
	}
	bound, err := b.emptyBound(ctx, a)
	if err != nil {
		return nil, false, err
	}
	return nil, bound <= after, nil
}

// directBatch asks JetStream for up to batch messages of subject from Seq
// from on, calling fn for each in order. more reports that messages are
// left beyond the batch.
func (b *Broker) directBatch(ctx context.Context, subject string, from uint64, batch int, fn func(m *nats.Msg, seq uint64)) (more bool, err error) {
	req, _ := json.Marshal(struct {
		Seq     uint64 `json:"seq"`
		NextFor string `json:"next_by_subj"`
		Batch   int    `json:"batch"`
	}{from, subject, batch})
	inbox := b.nc.NewRespInbox()
	sub, err := b.nc.SubscribeSync(inbox)
	if err != nil {
		return false, unavailable("history", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := b.nc.PublishRequest(b.directGet, inbox, req); err != nil {
		return false, unavailable("history", err)
	}
	n := 0
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return false, unavailable("history", err)
		}
		switch m.Header.Get("Status") {
		case "":
			seq := headerUint(m.Header, "Nats-Sequence")
			if seq == 0 || seq == noSeq {
				return false, fmt.Errorf("natsbroker: direct get: bad Nats-Sequence %q", m.Header.Get("Nats-Sequence"))
			}
			n++
			fn(m, seq)
		case "204": // end of batch
			return m.Header.Get("Nats-Num-Pending") != "0", nil
		case "404": // nothing at or after from
			return false, nil
		case "503":
			return false, unavailable("history", nats.ErrNoResponders)
		default:
			return false, fmt.Errorf("natsbroker: direct get: %s %s", m.Header.Get("Status"), m.Header.Get("Description"))
		}
	}
}

// lastSeqOf returns the Seq of subject's last message.
func (b *Broker) lastSeqOf(ctx context.Context, subject string) (seq uint64, found bool, err error) {
	m, err := b.nc.RequestWithContext(ctx, b.directGet+"."+subject, nil)
	if err != nil {
		return 0, false, unavailable("direct get", err)
	}
	return parseDirect(m)
}

// firstDataSeq returns the Seq of the oldest topic message in the stream.
func (b *Broker) firstDataSeq(ctx context.Context) (seq uint64, found bool, err error) {
	req, _ := json.Marshal(struct {
		Seq     uint64 `json:"seq"`
		NextFor string `json:"next_by_subj"`
	}{1, b.dataWildcard})
	m, err := b.nc.RequestWithContext(ctx, b.directGet, req)
	if err != nil {
		return 0, false, unavailable("direct get", err)
	}
	return parseDirect(m)
}

// lastStreamSeq returns the stream's last sequence.
func (b *Broker) lastStreamSeq(ctx context.Context) (uint64, error) {
	s, err := b.js.Stream(ctx, b.opts.Stream)
	if err != nil {
		return 0, unavailable("stream info", err)
	}
	return s.CachedInfo().State.LastSeq, nil
}

// parseDirect reads the answer to a single direct get.
func parseDirect(m *nats.Msg) (seq uint64, found bool, err error) {
	switch m.Header.Get("Status") {
	case "":
		seq = headerUint(m.Header, "Nats-Sequence")
		if seq == 0 || seq == noSeq {
			return 0, false, fmt.Errorf("natsbroker: direct get: bad Nats-Sequence %q", m.Header.Get("Nats-Sequence"))
		}
		return seq, true, nil
	case "404":
		return 0, false, nil
	case "503":
		return 0, false, unavailable("direct get", nats.ErrNoResponders)
	}
	return 0, false, fmt.Errorf("natsbroker: direct get: %s %s", m.Header.Get("Status"), m.Header.Get("Description"))
}

// noSeq is what headerUint returns for a missing or bad value. As a
// Streamd-Prev it means "anything may precede" (another publisher's
// message): History then says incomplete.
const noSeq = math.MaxUint64

// headerUint parses a decimal header value, or returns noSeq.
func headerUint(h nats.Header, key string) uint64 {
	v, err := strconv.ParseUint(h.Get(key), 10, 64)
	if err != nil {
		return noSeq
	}
	return v
}

// delivery builds the Delivery of a stored message.
func (b *Broker) delivery(topic string, seq uint64, h nats.Header, data []byte) Delivery {
	return Delivery{
		Topic: topic,
		Seq:   seq,
		ID:    h.Get(hdrID),
		Event: h.Get(hdrEvent),
		Key:   h.Get(hdrKey),
		Data:  data,
	}
}

// mergeBySeq merges lists, each in increasing Seq order, keeping the first
// limit; cut reports that messages were left out.
func mergeBySeq(lists [][]Delivery, limit int) (out []Delivery, cut bool) {
	total := 0
	for _, l := range lists {
		total += len(l)
	}
	if len(lists) == 1 {
		out = lists[0]
	} else {
		out = make([]Delivery, 0, min(total, limit))
		idx := make([]int, len(lists))
		for len(out) < limit {
			best := -1
			for i, l := range lists {
				if idx[i] < len(l) && (best < 0 || l[idx[i]].Seq < lists[best][idx[best]].Seq) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			out = append(out, lists[best][idx[best]])
			idx[best]++
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, total > limit
}
