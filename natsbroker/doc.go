// Package natsbroker carries a streamd hub's topics over NATS JetStream, so
// that several streamd processes share topics and history, and one process
// keeps its history across restarts (Embedded, `streamd -store DIR`).
//
// It lives in its own module so that the streamd library does not depend on
// nats.go or nats-server.
//
// # Layout
//
// One stream (Options.Stream, default "STREAMD") holds every topic. A
// message of topic T has the subject "<prefix>.t.<token(T)>"; token is a
// percent-style escape (see appendToken: [A-Za-z0-9_-] stand for themselves,
// any other byte is %HH), so any byte string up to MaxTopicLen is a topic.
// Its headers carry the publisher's ID, Event and Key (Streamd-Id,
// Streamd-Event, Streamd-Key) and the chain link Streamd-Prev (below).
// Retention is per topic: MaxMsgsPerSubject = Options.MaxMsgsPerTopic and
// MaxAge = Options.MaxAge. A second stream, "<stream>_TOPICS", holds one
// anchor per topic that ever had a message (below).
//
// A Delivery's Seq is the JetStream stream sequence: one sequence over all
// topics, the same on every node, so one id resumes a stream joined to
// several topics, on any node. Epoch is the stream's creation time (ns,
// base 36): kept by the stream's files across restarts, new when the stream
// is deleted and created again.
//
// # Publish
//
// Publish waits for JetStream's acknowledgement. It sends a Nats-Msg-Id
// chosen once per call and retries with it (after an attempt's timeout, and
// after a wrong-last-sequence refusal, below), so a retried message is
// stored once: JetStream answers the retry with the first Seq.
//
// Each message names the Seq of its topic's previous message twice: as
// Streamd-Prev, which is stored, and as Nats-Expected-Last-Subject-Sequence,
// which JetStream checks against the subject's last message when it stores
// the message, refusing it otherwise. On a refusal (another node wrote the
// topic first) Publish reads the topic's last Seq (a direct get) and tries
// again. So Streamd-Prev is exact: it is the Seq of the message the topic
// held last when this one was stored. The price is that one process has one
// publish per topic in flight (Publish serialises them; other topics go in
// parallel), and nodes writing one topic at once retry each other.
//
// While the connection is down Publish fails at once with ErrUnavailable;
// the broker's own connection is dialled with nats.ReconnectBufSize(-1), so
// nothing it refused is sent later from a reconnect buffer. When JetStream
// does not answer it fails after Options.PublishTimeout. In both cases the
// message may or may not be stored (the first attempt may have reached the
// server); a caller that publishes again with a new Publish may store it
// twice.
//
// # Deliveries
//
// One ordered consumer (jetstream.OrderedConsumer) per broker, filtered on
// the watched topics' subjects (on "<prefix>.t.*" beyond
// Options.MaxFilterSubjects, unwatched topics then being dropped here),
// feeds one goroutine that calls deliver, so messages of all topics come in
// stream order. A change of the watched set ends the consumer; the next one
// starts at the Seq after the last message handed to deliver, with the new
// set: topics that stay lose nothing and get nothing twice, a newly watched
// topic gets everything after that point. Between the change and the new
// consumer nothing is delivered (see generation in deliver.go for why this
// keeps deliveries in Seq order). A node starts after the stream's last
// message at New: older messages are History.
//
// When the connection drops and returns, the ordered consumer creates a new
// server-side consumer from the last message it returned (verified by
// TestDeliveriesResumeAfterNATSRestart, where the server restarts from its
// files and the ephemeral consumer is gone); if that fails (JetStream not
// ready yet), the delivery goroutine starts a new one itself, from the last
// Seq handed to deliver, with pauses of 50 ms doubling to 2 s.
//
// # History and completeness
//
// History answers "the messages of these topics after Seq `after`", and
// whether that answer is complete: false when retention may have removed a
// message of one of the topics with Seq > after (the client then gets a
// reset). It must not say "complete" when something was removed (a silent
// gap), and should not say "incomplete" when nothing was (a needless reset).
// Three facts about the stream make this decidable:
//
//  1. Only retention removes messages: the stream is created with
//     DenyDelete and DenyPurge, and without MaxMsgs or MaxBytes.
//  2. MaxMsgsPerSubject removes a topic's oldest message when it has more
//     than the limit, so it never empties a topic.
//  3. MaxAge removal walks the stream in sequence order and stops at the
//     first message that is young enough, both while running and when a
//     server recovers its files (nats-server filestore.go: expireMsgs,
//     expireMsgsOnRecover; memstore.go: expireMsgs). So when it removes a
//     message, every older message is already gone.
//
// By 2 and 3 a topic loses its messages oldest first: a held message of T
// means every later message of T is held.
//
// The chain. Streamd-Prev = P on a message M of T states: T has no message
// with Seq in (P, M.Seq). Publish makes P the Seq of T's last message when M
// is stored, checked by JetStream (above), so the statement holds and P is
// T's previous message.
//
// The anchor. Before T's first message, Publish writes T's anchor: one empty
// message on "<prefix>.a.<token>" in the anchors' stream, which has no
// MaxAge, one message per subject, DenyDelete and DenyPurge, so nothing
// removes it. It is written with Nats-Expected-Last-Subject-Sequence, so
// once, and records the epoch and a floor: a Seq the topics' stream had
// reached, below every message of T. (It cannot live in the topics' stream
// with "Nats-TTL: never": a server recovering its files removes messages
// older than MaxAge whatever their TTL.) The anchors' stream records in its
// metadata where anchors began for this epoch (anchorsFrom, 0 when they
// began with the stream), so: a topic without an anchor had no message
// after anchorsFrom.
//
// An empty topic. If T holds no message, all its messages were removed, by
// MaxAge (2); by 3 they are all older than F, the oldest topic message the
// stream still holds (or its last Seq + 1 if it holds none). Those written
// under the anchor are newer than its floor; others are no newer than
// anchorsFrom. So "bound" = F-1 if T has an anchor and F-1 > floor, else 0,
// raised to min(anchorsFrom, F-1), satisfies: every message T ever had has
// Seq <= bound; bound = 0 says T never had one. When Publish writes into an
// empty T it uses bound as Streamd-Prev, and the chain statement still holds.
//
// The answer for one topic T, for every `after`:
//
//   - T holds messages after `after`; M is the first. If M's P <= after, T
//     had no message in (after, M), and all its messages from M on are held:
//     complete. If P > after, then (P being M's predecessor) message P
//     existed, is after `after`, and is not held: incomplete.
//   - T holds no message after `after` but holds one: nothing after `after`
//     can have been removed while an older one is held: complete.
//   - T holds nothing: complete iff bound <= after (always, for a topic
//     without an anchor when anchors began with the stream).
//
// For several topics the answer is complete iff it is for each, and limit
// did not cut the merged list.
//
// This is exact, with one exception, where it errs on the safe side: a topic
// that MaxAge emptied completely. Then, for `after` between the Seq L of its
// last message and bound, History says "incomplete" though nothing after
// `after` was removed: L is gone, and with it the proof that nothing followed
// it (the same holds, through Streamd-Prev = bound, for the first message
// written into the topic again). The client's id then predates the oldest
// message the stream holds, "an id older than retention" in the issue's
// words, and it gets a reset. Considered and not taken: subject delete
// markers (SubjectDeleteMarkerTTL; the marker does not say which Seq it
// replaces, and MaxAge removes markers too), and writing each topic's last
// Seq to a never-expiring subject with every publish (a second write per
// publish, non-atomic unless through atomic batches, which stage every batch
// in a store of their own).
//
// History reads with direct gets (one batch request per topic, plus at
// most three single gets for an empty topic). In a replicated stream
// (Options.Replicas > 1) direct gets may be answered by a follower, which can
// lag the leader by a replication round trip: such a History may miss the
// newest messages. With one replica (a single server, Embedded) it cannot.
// loop.Hub covers this: it fills what a resume's History lacks up to the
// hub's own sequence from its rings (a follower lagging by more than a
// ring is not covered).
//
// # Concurrency
//
// Publish, History, Watch, Unwatch and Epoch are safe from any goroutine,
// concurrently. deliver is called from one goroutine, one call at a time.
// Start and Close are called once.
package natsbroker
