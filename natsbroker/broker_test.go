package natsbroker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Deliveries of three watched topics come in publish (= Seq) order, with
// their fields, and nothing of an unwatched topic: with the consumer
// filtered on the three subjects, and with it taking every topic
// (MaxFilterSubjects 2) and the broker dropping the unwatched one.
func TestDeliverInOrderAcrossTopics(t *testing.T) {
	for _, maxFilter := range []int{0, 2} {
		t.Run(fmt.Sprint("MaxFilterSubjects=", maxFilter), func(t *testing.T) {
			testDeliverInOrderAcrossTopics(t, maxFilter)
		})
	}
}

func testDeliverInOrderAcrossTopics(t *testing.T, maxFilter int) {
	ns := startServer(t)
	b := newBroker(t, ns, Options{MaxFilterSubjects: maxFilter})
	s := newSink()
	if err := b.Start(s.deliver); err != nil {
		t.Fatal(err)
	}
	topics := []string{"room-1", "a.b*c >", "café ☕"}
	for _, topic := range topics {
		b.Watch(topic)
	}
	var want []published
	for i := range 30 {
		want = append(want, mustPublish(t, b, topics[i%3], fmt.Sprint(i)))
		mustPublish(t, b, "unwatched", fmt.Sprint("u", i))
	}
	for i := 1; i < len(want); i++ {
		if want[i].seq <= want[i-1].seq {
			t.Fatalf("Publish returned seq %d after %d", want[i].seq, want[i-1].seq)
		}
	}
	checkDeliveries(t, s.waitSeq(t, want[len(want)-1].seq), want)
}

// A publish retried with the same Nats-Msg-Id is stored once: the retry
// returns the first Seq, and one message is delivered and kept.
func TestPublishRetryDeduplicated(t *testing.T) {
	ns := startServer(t)
	b := newBroker(t, ns, Options{})
	s := newSink()
	if err := b.Start(s.deliver); err != nil {
		t.Fatal(err)
	}
	b.Watch("t")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	d := Delivery{Data: []byte("x"), ID: "id-x", Event: "ev", Key: "k"}
	seq1, err := b.publish(ctx, "t", "msg-1", d)
	if err != nil {
		t.Fatal(err)
	}
	// The retry's Nats-Expected-Last-Subject-Sequence is stale (the first
	// attempt was stored): the broker looks again and JetStream answers
	// with the first attempt's ack, marked duplicate.
	ts := b.lockTopic("t") // put back the hint the first attempt used
	ts.known, ts.expect, ts.prev = true, 0, 0
	b.unlockTopic("t", ts)
	seq2, err := b.publish(ctx, "t", "msg-1", d)
	if err != nil {
		t.Fatal(err)
	}
	if seq2 != seq1 {
		t.Fatalf("retried publish got seq %d, first %d", seq2, seq1)
	}
	last := mustPublish(t, b, "t", "y")
	checkDeliveries(t, s.waitSeq(t, last.seq), []published{{"t", seq1, "x"}, last})
	ds, complete, err := b.History(ctx, []string{"t"}, 0, 100)
	if err != nil || !complete || len(ds) != 2 {
		t.Fatalf("History = %v, %v, %v; want 2 messages, complete", seqsOf(ds), complete, err)
	}
}

// Watch on a busy node loses nothing: while a publisher runs, a topic is
// watched with a delivery in progress (held at a known Seq L); every message
// of the new topic after L is delivered, and the old topic keeps every one.
func TestWatchMidStreamLosesNothing(t *testing.T) {
	ns := startServer(t)
	pub := newBroker(t, ns, Options{})
	b := newBroker(t, ns, Options{})
	s := newSink()
	if err := b.Start(s.deliver); err != nil {
		t.Fatal(err)
	}
	b.Watch("x")

	var (
		mu   sync.Mutex
		sent []published
	)
	stop := make(chan struct{})
	pubDone := make(chan error, 1)
	go func() {
		ctx := context.Background()
		for i := 0; ; i++ {
			select {
			case <-stop:
				pubDone <- nil
				return
			default:
			}
			topic := "x"
			if i%2 == 1 {
				topic = "y"
			}
			data := fmt.Sprint(i)
			seq, err := pub.Publish(ctx, topic, Delivery{Data: []byte(data), ID: "id-" + data, Event: "ev", Key: "k"})
			if err != nil {
				pubDone <- err
				return
			}
			mu.Lock()
			sent = append(sent, published{topic, seq, data})
			mu.Unlock()
		}
	}()

	s.waitFor(t, "20 deliveries of x", func(ds []Delivery) bool { return len(ds) >= 20 })
	s.holdNext()
	held := <-s.held // deliver is blocked on message held: lastDelivered = held
	b.Watch("y")
	close(s.release)
	s.waitFor(t, "y deliveries", func(ds []Delivery) bool { return len(ds) > 0 && ds[len(ds)-1].Topic == "y" })
	s.waitFor(t, "20 more deliveries", func(ds []Delivery) bool {
		n := 0
		for _, d := range ds {
			if d.Seq > held {
				n++
			}
		}
		return n >= 20
	})
	close(stop)
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	all := append([]published(nil), sent...)
	mu.Unlock()

	var want []published
	for _, p := range all {
		if p.topic == "x" || p.seq > held {
			want = append(want, p)
		}
	}
	checkDeliveries(t, s.waitSeq(t, want[len(want)-1].seq), want)
}

// Unwatch stops deliveries of the topic; other topics go on.
func TestUnwatchStopsDeliveries(t *testing.T) {
	ns := startServer(t)
	b := newBroker(t, ns, Options{})
	s := newSink()
	if err := b.Start(s.deliver); err != nil {
		t.Fatal(err)
	}
	b.Watch("a")
	b.Watch("b")
	a1 := mustPublish(t, b, "a", "a1")
	b1 := mustPublish(t, b, "b", "b1")
	s.waitSeq(t, b1.seq)
	b.Unwatch("a")
	mustPublish(t, b, "a", "a2")
	b2 := mustPublish(t, b, "b", "b2")
	checkDeliveries(t, s.waitSeq(t, b2.seq), []published{a1, b1, b2})
}

// History: after an id in the middle, with a limit, merged across topics in
// Seq order, for topics that do and do not exist.
func TestHistoryExact(t *testing.T) {
	ns := startServer(t)
	b := newBroker(t, ns, Options{})
	var all []published
	for i := range 30 {
		all = append(all, mustPublish(t, b, []string{"a", "b", "c"}[i%3], fmt.Sprint(i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	after := func(ps []published, seq uint64) []published {
		var out []published
		for _, p := range ps {
			if p.seq > seq {
				out = append(out, p)
			}
		}
		return out
	}
	mid := all[14].seq
	tests := []struct {
		name     string
		topics   []string
		after    uint64
		limit    int
		want     []published
		complete bool
	}{
		{"all of a", []string{"a"}, 0, 100, only(all, "a"), true},
		{"a and c after mid", []string{"a", "c"}, mid, 100, after(only(all, "a", "c"), mid), true},
		{"a b c after mid", []string{"c", "b", "a", "b"}, mid, 100, after(all, mid), true},
		{"limit cuts", []string{"a", "b"}, mid, 4, after(only(all, "a", "b"), mid)[:4], false},
		{"limit exact", []string{"a", "b"}, mid, len(after(only(all, "a", "b"), mid)), after(only(all, "a", "b"), mid), true},
		{"limit per topic", []string{"a"}, 0, 3, only(all, "a")[:3], false},
		{"after the end", []string{"a", "b", "c"}, all[len(all)-1].seq, 100, nil, true},
		{"no such topic", []string{"nothing"}, 0, 100, nil, true},
		{"no such topic and a", []string{"nothing", "a"}, mid, 100, after(only(all, "a"), mid), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, complete, err := b.History(ctx, tt.topics, tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if complete != tt.complete {
				t.Errorf("History(%v, %d, %d) complete = %v; want %v", tt.topics, tt.after, tt.limit, complete, tt.complete)
			}
			checkDeliveries(t, ds, tt.want)
		})
	}
}

// Retention by count: History is complete exactly when no message of the
// asked topics after `after` was removed — checked for every `after` and
// every set of topics, including one that never had a message.
func TestHistoryRetentionByCount(t *testing.T) {
	ns := startServer(t)
	b := newBroker(t, ns, Options{MaxMsgsPerTopic: 3})
	// a: 6 messages (3 removed), b: 4 (1 removed), c: 2, d: none.
	var all []published
	for _, topic := range []string{"a", "b", "a", "b", "c", "a", "a", "b", "a", "c", "b", "a"} {
		all = append(all, mustPublish(t, b, topic, fmt.Sprint(len(all))))
	}
	retained := map[uint64]bool{}
	count := map[string]int{}
	for i := len(all) - 1; i >= 0; i-- {
		if count[all[i].topic] < 3 {
			retained[all[i].seq] = true
		}
		count[all[i].topic]++
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sets := [][]string{{"a"}, {"b"}, {"c"}, {"d"}, {"a", "b"}, {"b", "c"}, {"c", "d"}, {"a", "d"}, {"a", "b", "c", "d"}}
	last := all[len(all)-1].seq
	for _, set := range sets {
		for after := uint64(0); after <= last+1; after++ {
			var want []published
			wantComplete := true
			for _, p := range only(all, set...) {
				if p.seq <= after {
					continue
				}
				if retained[p.seq] {
					want = append(want, p)
				} else {
					wantComplete = false
				}
			}
			ds, complete, err := b.History(ctx, set, after, 100)
			if err != nil {
				t.Fatal(err)
			}
			if complete != wantComplete {
				t.Errorf("History(%v, after %d) complete = %v; want %v", set, after, complete, wantComplete)
			}
			checkDeliveries(t, ds, want)
		}
	}
}

// Retention by age: a topic whose messages all aged out, asked about after a
// restart of the server. The answer is exact for `after` below its last
// message and from the oldest message the stream still holds on; between
// the two it is "may have been removed" (doc.go). A topic that never had a
// message stays complete.
func TestHistoryRetentionByAge(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for MaxAge")
	}
	ns := startServer(t)
	// MaxAge leaves the checks after d2's publish 3 s, ample for a few
	// requests to a local server.
	ev := newConnEvents()
	b := newBroker(t, ns, Options{MaxAge: 3 * time.Second, ConnOptions: ev.options()})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	d1 := mustPublish(t, b, "d", "d1")
	x1 := mustPublish(t, b, "x", "x1")
	// Wait until MaxAge removed both. JetStream announces no such removal,
	// so poll the stream's state until it holds, within the usual deadline.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitTimeout)
	for {
		_, found, err := b.firstDataSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("messages did not age out")
		}
	}
	// A restart of the server expires old messages as it recovers its
	// files, "Nats-TTL: never" or not: anchors must survive it.
	ns.stop()
	waitChan(t, ev.down, "disconnect")
	ns.start()
	waitChan(t, ev.up, "reconnect")
	check := func(topic string, after uint64, wantComplete bool, want ...published) {
		t.Helper()
		ds, complete, err := b.History(ctx, []string{topic}, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		if complete != wantComplete {
			t.Errorf("History(%q, after %d) complete = %v; want %v", topic, after, complete, wantComplete)
		}
		checkDeliveries(t, ds, want)
	}
	check("d", 0, false)        // d1 removed: exact
	check("d", d1.seq-1, false) // exact
	check("d", d1.seq, false)   // truly complete; "may": x1 is gone too, so nothing bounds d's last message below x1
	check("d", x1.seq, true)    // exact
	check("never", 0, true)     // no anchor: never had a message
	d2 := mustPublish(t, b, "d", "d2")
	check("d", 0, false, d2)      // exact
	check("d", d1.seq, false, d2) // "may", as above
	check("d", x1.seq, true, d2)  // exact: d2's Streamd-Prev bounds the lost ones by x1
	check("d", d2.seq, true)      // exact
}

// With NATS down, Publish fails at once with ErrUnavailable.
func TestPublishFailsFastWhenNATSDown(t *testing.T) {
	ns := startServer(t)
	ev := newConnEvents()
	b := newBroker(t, ns, Options{ConnOptions: ev.options(), PublishTimeout: 10 * time.Second})
	mustPublish(t, b, "t", "before")
	ns.stop()
	waitChan(t, ev.down, "disconnect")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	start := time.Now()
	_, err := b.Publish(ctx, "t", Delivery{Data: []byte("during")})
	elapsed := time.Since(start)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Publish with NATS down: %v; want ErrUnavailable", err)
	}
	if elapsed > time.Second {
		t.Errorf("Publish with NATS down took %v; want it to fail at once", elapsed)
	}
	if _, _, err := b.History(ctx, []string{"t"}, 0, 10); !errors.Is(err, ErrUnavailable) {
		t.Errorf("History with NATS down: %v; want ErrUnavailable", err)
	}
}

// The NATS server restarts on the same store and port: deliveries resume
// from the last delivered Seq, nothing lost, nothing twice.
func TestDeliveriesResumeAfterNATSRestart(t *testing.T) {
	ns := startServer(t)
	ev := newConnEvents()
	pubEv := newConnEvents()
	b := newBroker(t, ns, Options{ConnOptions: ev.options()})
	pub := newBroker(t, ns, Options{ConnOptions: pubEv.options()})
	s := newSink()
	if err := b.Start(s.deliver); err != nil {
		t.Fatal(err)
	}
	b.Watch("t")
	var want []published
	for i := range 10 {
		want = append(want, mustPublish(t, pub, "t", fmt.Sprint(i)))
	}
	s.waitSeq(t, want[len(want)-1].seq)
	epoch := b.Epoch()

	ns.stop()
	waitChan(t, ev.down, "disconnect")
	ns.start()
	waitChan(t, pubEv.up, "publisher reconnect")
	for i := 10; i < 20; i++ {
		want = append(want, mustPublish(t, pub, "t", fmt.Sprint(i)))
	}
	checkDeliveries(t, s.waitSeq(t, want[len(want)-1].seq), want)

	b2 := newBroker(t, ns, Options{})
	if b2.Epoch() != epoch {
		t.Errorf("epoch after NATS restart = %q; want %q", b2.Epoch(), epoch)
	}
}

// NATS returns without JetStream first: the ordered consumer's own reset
// fails, the broker starts a new consumer itself once JetStream is back, and
// deliveries resume from the last delivered Seq.
func TestDeliveriesResumeWhenJetStreamLate(t *testing.T) {
	ns := startServer(t)
	ev := newConnEvents()
	logs := newLogSink()
	b := newBroker(t, ns, Options{ConnOptions: ev.options(), Logger: slog.New(logs)})
	pub := newBroker(t, ns, Options{})
	s := newSink()
	if err := b.Start(s.deliver); err != nil {
		t.Fatal(err)
	}
	b.Watch("t")
	var want []published
	for i := range 5 {
		want = append(want, mustPublish(t, pub, "t", fmt.Sprint(i)))
	}
	s.waitSeq(t, want[len(want)-1].seq)

	ns.stop()
	waitChan(t, ev.down, "disconnect")
	plain, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: ns.port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	plain.Start()
	if !plain.ReadyForConnections(waitTimeout) {
		t.Fatal("plain server not ready")
	}
	waitChan(t, ev.up, "reconnect to the server without JetStream")
	logs.waitFor(t, "natsbroker: consumer stopped")
	plain.Shutdown()
	plain.WaitForShutdown()
	waitChan(t, ev.down, "disconnect")
	ns.start()
	pub = newBroker(t, ns, Options{}) // a fresh publisher: no reconnect to wait for
	for i := 5; i < 10; i++ {
		want = append(want, mustPublish(t, pub, "t", fmt.Sprint(i)))
	}
	checkDeliveries(t, s.waitSeq(t, want[len(want)-1].seq), want)
}

// Two nodes on one NATS server agree on the epoch and see each other's
// messages, in the same order.
func TestTwoNodesSameOrder(t *testing.T) {
	ns := startServer(t)
	n1 := newBroker(t, ns, Options{})
	n2 := newBroker(t, ns, Options{})
	if n1.Epoch() != n2.Epoch() || n1.Epoch() == "" {
		t.Fatalf("epochs %q, %q; want equal", n1.Epoch(), n2.Epoch())
	}
	s1, s2 := newSink(), newSink()
	for _, p := range []struct {
		b *Broker
		s *sink
	}{{n1, s1}, {n2, s2}} {
		if err := p.b.Start(p.s.deliver); err != nil {
			t.Fatal(err)
		}
		p.b.Watch("t1")
		p.b.Watch("t2")
	}
	var (
		mu  sync.Mutex
		all []published
		wg  sync.WaitGroup
	)
	errs := make(chan error, 2)
	for i, n := range []*Broker{n1, n2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := fmt.Sprint("t", i+1)
			for j := range 50 {
				data := fmt.Sprint(topic, "-", j)
				seq, err := n.Publish(context.Background(), topic, Delivery{Data: []byte(data), ID: "id-" + data, Event: "ev", Key: "k"})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				all = append(all, published{topic, seq, data})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sortPublished(all)
	last := all[len(all)-1].seq
	checkDeliveries(t, s1.waitSeq(t, last), all)
	checkDeliveries(t, s2.waitSeq(t, last), all)
}

// Embedded: publish, stop, reopen the same directory: same epoch, the old
// messages are History, and new ones are delivered after them.
func TestEmbeddedSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	b, stop, err := Embedded(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var old []published
	for i := range 5 {
		old = append(old, mustPublish(t, b, "wall", fmt.Sprint(i)))
	}
	epoch := b.Epoch()
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	b, stop, err = Embedded(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	if b.Epoch() != epoch {
		t.Errorf("epoch after restart = %q; want %q", b.Epoch(), epoch)
	}
	ds, complete, err := b.History(ctx, []string{"wall"}, old[1].seq, 100)
	if err != nil || !complete {
		t.Fatalf("History = %v, %v", complete, err)
	}
	checkDeliveries(t, ds, old[2:])
	s := newSink()
	if err := b.Start(s.deliver); err != nil {
		t.Fatal(err)
	}
	b.Watch("wall")
	p := mustPublish(t, b, "wall", "new")
	if p.seq != old[len(old)-1].seq+1 {
		t.Errorf("first seq after restart = %d; last before %d", p.seq, old[len(old)-1].seq)
	}
	checkDeliveries(t, s.waitSeq(t, p.seq), []published{p})
}

func sortPublished(ps []published) {
	slices.SortFunc(ps, func(a, b published) int { return cmp.Compare(a.seq, b.seq) })
}

// The documented errors: bad topic, bad header field, second Start, use
// after Close.
func TestErrors(t *testing.T) {
	ns := startServer(t)
	b := newBroker(t, ns, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, topic := range []string{"", strings.Repeat("x", MaxTopicLen+1)} {
		if _, err := b.Publish(ctx, topic, Delivery{}); !errors.Is(err, ErrBadTopic) {
			t.Errorf("Publish(topic of %d bytes) = %v; want ErrBadTopic", len(topic), err)
		}
	}
	if _, _, err := b.History(ctx, []string{""}, 0, 1); !errors.Is(err, ErrBadTopic) {
		t.Errorf("History(empty topic) = %v; want ErrBadTopic", err)
	}
	mustPublish(t, b, strings.Repeat("é", MaxTopicLen/2), "longest")
	for _, d := range []Delivery{{ID: "a\nb"}, {Event: "a\rb"}, {Key: "a\x00b"}} {
		if _, err := b.Publish(ctx, "t", d); !errors.Is(err, ErrBadField) {
			t.Errorf("Publish(%+v) = %v; want ErrBadField", d, err)
		}
	}
	if err := b.Start(func(Delivery) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(func(Delivery) error { return nil }); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start = %v; want ErrStarted", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v; want ErrClosed", err)
	}
	if _, err := b.Publish(ctx, "t", Delivery{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v; want ErrClosed", err)
	}
	if _, _, err := b.History(ctx, []string{"t"}, 0, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("History after Close = %v; want ErrClosed", err)
	}
}
