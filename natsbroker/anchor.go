package natsbroker

import (
	"context"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Anchors (doc.go) live in a stream of their own, "<stream>_TOPICS", without
// MaxAge: nats-server removes messages older than MaxAge when it recovers a
// file store, "Nats-TTL: never" or not (filestore.go, expireMsgsOnRecover),
// so in the topics' stream an anchor would not survive a restart.
//
// An anchor is one empty message per topic on "<prefix>.a.<token>" with
// two headers: Streamd-Epoch, the epoch of the topics' stream it was written
// for (anchors of an earlier stream of the same name do not count), and
// Streamd-Floor, a Seq of the topics' stream that existed when the anchor
// was written, so that every message of the topic has a greater Seq.
const (
	hdrEpoch = "Streamd-Epoch"
	hdrFloor = "Streamd-Floor"

	metaEpoch = "streamd_epoch"
	metaFrom  = "streamd_anchors_from"
)

// initAnchors creates the anchors' stream, or takes it over for a new epoch
// of the topics' stream. Its metadata records anchorsFrom: the topics'
// stream's last Seq when anchors began for its epoch; 0 when they began with
// the stream. A topic may have had messages without an anchor only up to
// there (written before this code ran against the stream).
func (b *Broker) initAnchors(ctx context.Context, data jetstream.StreamConfig) error {
	cfg := jetstream.StreamConfig{
		Name:              b.anchors,
		Description:       "streamd topic anchors (github.com/streamd/streamd/natsbroker)",
		Subjects:          []string{b.anchorPrefix + "*"},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxMsgsPerSubject: 1,
		Storage:           data.Storage,
		Replicas:          data.Replicas,
		AllowDirect:       true,
		DenyDelete:        true,
		DenyPurge:         true,
	}
	s, err := b.js.Stream(ctx, b.anchors)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
	case err != nil:
		return unavailable("anchors stream", err)
	default:
		md := s.CachedInfo().Config.Metadata
		if md[metaEpoch] == b.epoch {
			from, err := strconv.ParseUint(md[metaFrom], 10, 64)
			if err != nil {
				return errors.New("natsbroker: anchors stream: bad " + metaFrom)
			}
			b.anchorsFrom = from
			return nil
		}
	}
	// New, or from an earlier stream of the same name: anchors count from
	// what the topics' stream holds now. Two nodes doing this at once write
	// close values; either is right (a higher one is only more cautious).
	b.anchorsFrom = b.maxSeen.Load()
	cfg.Metadata = map[string]string{metaEpoch: b.epoch, metaFrom: strconv.FormatUint(b.anchorsFrom, 10)}
	if _, err := b.js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return unavailable("anchors stream", err)
	}
	return nil
}

// anchor is what readAnchor found.
type anchor struct {
	seq   uint64 // the anchor message's Seq in the anchors' stream, 0: none
	valid bool   // written for this epoch
	floor uint64
}

func (b *Broker) readAnchor(ctx context.Context, topic string) (anchor, error) {
	m, err := b.nc.RequestWithContext(ctx, b.anchorGet+"."+string(appendToken([]byte(b.anchorPrefix), topic)), nil)
	if err != nil {
		return anchor{}, unavailable("read anchor", err)
	}
	seq, found, err := parseDirect(m)
	if err != nil || !found {
		return anchor{}, err
	}
	a := anchor{seq: seq}
	if m.Header.Get(hdrEpoch) == b.epoch {
		a.floor = headerUint(m.Header, hdrFloor)
		a.valid = a.floor != noSeq
	}
	return a, nil
}

// writeAnchor writes topic's anchor in place of a (none or stale). created
// reports that this call wrote it; false means another publisher did first.
func (b *Broker) writeAnchor(ctx context.Context, topic string, a anchor) (created bool, err error) {
	m := &nats.Msg{
		Subject: string(appendToken([]byte(b.anchorPrefix), topic)),
		Header: nats.Header{
			hdrEpoch:          []string{b.epoch},
			hdrFloor:          []string{strconv.FormatUint(b.maxSeen.Load(), 10)},
			hdrExpectLastSubj: []string{strconv.FormatUint(a.seq, 10)},
		},
	}
	_, err = b.js.PublishMsg(ctx, m)
	switch {
	case err == nil:
		return true, nil
	case wrongLastSeq(err):
		return false, nil
	}
	return false, unavailable("write anchor", err)
}

// emptyBound is for a topic that holds no message: it returns a bound such
// that every message the topic ever had has Seq <= bound (0: it never had
// one). The topic's messages, if any, were all removed by MaxAge, so they
// are older than the oldest topic message the stream holds (F); those
// written under an anchor are newer than its floor; others are no newer
// than anchorsFrom. See doc.go.
func (b *Broker) emptyBound(ctx context.Context, a anchor) (uint64, error) {
	if !a.valid && b.anchorsFrom == 0 {
		return 0, nil
	}
	first, found, err := b.firstDataSeq(ctx)
	if err != nil {
		return 0, err
	}
	if !found {
		last, err := b.lastStreamSeq(ctx)
		if err != nil {
			return 0, err
		}
		first = last + 1
	}
	var bound uint64
	if a.valid && first-1 > a.floor {
		bound = first - 1
	}
	return max(bound, min(b.anchorsFrom, first-1)), nil
}

// noteSeq records that the topics' stream has reached seq.
func (b *Broker) noteSeq(seq uint64) {
	for {
		cur := b.maxSeen.Load()
		if seq <= cur || b.maxSeen.CompareAndSwap(cur, seq) {
			return
		}
	}
}
