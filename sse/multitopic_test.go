package sse

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/streamd/streamd/loop"
)

// multiRoutes opens a stream joined to every topic of the comma-separated
// "topics" query argument, in the Open callback.
func multiRoutes(hub *loop.Hub) (func(*loop.Server), chan *Stream) {
	opened := make(chan *Stream, 16)
	return func(srv *loop.Server) {
		srv.GET("/multi", func(c *loop.Ctx) {
			topics, _ := c.Query("topics")
			Open(c, Options{Hub: hub, Heartbeat: -1}, func(s *Stream) {
				for _, tp := range strings.Split(topics, ",") {
					if err := s.Join(tp); err != nil {
						s.Comment("join: " + err.Error())
					}
				}
				opened <- s
			})
		})
	}, opened
}

// TestResumeSeveralTopics: one Last-Event-ID resumes a stream joined to
// several topics: the client gets what it missed of all of them, in the
// order of their ids, then live events, without gaps or duplicates.
func TestResumeSeveralTopics(t *testing.T) {
	hub := newHub(t, loop.HubConfig{})
	routes, opened := multiRoutes(hub)
	srv := startServer(t, loop.Config{Loops: 2}, routes)
	var ids []string
	pub := func(topic string, i int) {
		id, err := Publish(hub, topic, Event{Data: topic + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// a0 b1 c2 a3 b4 c5: the client saw a0, then lost its connection.
	for i, topic := range []string{"a", "b", "c", "a", "b", "c"} {
		pub(topic, i)
	}
	c := dialSSE(t, srv, "/multi?topics=a,b", dialOpts{headers: "Last-Event-ID: " + ids[0] + "\r\n"})
	recvStream(t, opened)
	pub("b", 6)
	pub("c", 7) // not joined
	pub("a", 8)
	got := c.events(4)
	expectData(t, got, "b1", "a3", "b4", "b6")
	for i, want := range []int{1, 3, 4, 6} {
		if got[i].LastID != ids[want] {
			t.Errorf("event %d id %q; want %q", i, got[i].LastID, ids[want])
		}
	}
	expectData(t, c.events(1), "a8")

	// An unknown id resets the stream: the reset names both topics, then
	// the whole history of both, in order.
	r := dialSSE(t, srv, "/multi?topics=a,b", dialOpts{headers: "Last-Event-ID: nope\r\n"})
	recvStream(t, opened)
	ev := r.event()
	if ev.Type != ResetEvent || ev.Data != "a,b" {
		t.Fatalf("first event %+v; want a reset naming a,b", ev)
	}
	expectData(t, r.events(6), "a0", "b1", "a3", "b4", "b6", "a8")
}

// TestLiveOrderAcrossTopics: a stream of several topics receives live
// events in the order of their ids, however the publishers interleave the
// topics, on every loop.
func TestLiveOrderAcrossTopics(t *testing.T) {
	hub := newHub(t, loop.HubConfig{})
	routes, opened := multiRoutes(hub)
	srv := startServer(t, loop.Config{Loops: 2}, routes)
	var cs []*client
	for range 4 {
		cs = append(cs, dialSSE(t, srv, "/multi?topics=x,y,z", dialOpts{}))
		recvStream(t, opened)
	}
	topics := []string{"x", "y", "z"}
	const n = 300
	done := make(chan error, 3)
	for w := range 3 {
		go func() {
			for i := range n {
				if _, err := Publish(hub, topics[(w+i)%3], Event{Data: strconv.Itoa(w)}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for ci, c := range cs {
		last := uint64(0)
		for i, ev := range c.events(3 * n) {
			seq, err := strconv.ParseUint(seqOf(ev.LastID), 10, 64)
			if err != nil || seq <= last {
				t.Fatalf("client %d event %d: id %q after sequence %d; want increasing ids", ci, i, ev.LastID, last)
			}
			last = seq
		}
	}
}

// historyBroker is an in-process broker that keeps every message, as a
// broker with history (NATS JetStream) does: History serves what the
// hub's rings have dropped.
type historyBroker struct {
	mu      sync.Mutex
	all     []loop.Delivery
	deliver func(loop.Delivery) error
	queries atomic.Int32
	gate    chan struct{} // when set, History waits for it
}

func (b *historyBroker) Start(deliver func(loop.Delivery) error) error {
	b.deliver = deliver
	return nil
}
func (b *historyBroker) Epoch() string { return "hist" }
func (b *historyBroker) Publish(_ context.Context, topic string, d loop.Delivery) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d.Topic, d.Seq = topic, uint64(len(b.all)+1)
	b.all = append(b.all, d)
	return d.Seq, b.deliver(d)
}
func (*historyBroker) Watch(string)   {}
func (*historyBroker) Unwatch(string) {}
func (b *historyBroker) History(_ context.Context, topics []string, after uint64, limit int) ([]loop.Delivery, bool, error) {
	b.queries.Add(1)
	if b.gate != nil {
		<-b.gate
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []loop.Delivery
	for _, d := range b.all[min(int(after), len(b.all)):] {
		if slices.Contains(topics, d.Topic) {
			if len(out) == limit {
				return out, false, nil
			}
			out = append(out, d)
		}
	}
	return out, true, nil
}
func (*historyBroker) Close() error { return nil }

// TestResumeFromBrokerHistory: when the rings no longer hold what a
// client missed, a broker with history serves it: the client gets exactly
// the events after its id (no reset), then live events, in order.
func TestResumeFromBrokerHistory(t *testing.T) {
	b := &historyBroker{}
	hub := newHub(t, loop.HubConfig{Default: loop.TopicConfig{RingSize: 3}, Broker: b})
	routes, opened := multiRoutes(hub)
	srv := startServer(t, loop.Config{Loops: 2}, routes)
	var ids []string
	for i, topic := range []string{"a", "b", "a", "b", "a", "b", "a", "b", "a", "b"} {
		id, err := Publish(hub, topic, Event{Data: topic + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// Each ring holds the last 3 of its topic (a4 a6 a8, b5 b7 b9): the
	// client saw b1, so a2 b3 come from the broker.
	c := dialSSE(t, srv, "/multi?topics=a,b", dialOpts{headers: "Last-Event-ID: " + ids[1] + "\r\n"})
	recvStream(t, opened)
	if _, err := Publish(hub, "a", Event{Data: "a10"}); err != nil {
		t.Fatal(err)
	}
	expectData(t, c.events(9), "a2", "b3", "a4", "b5", "a6", "b7", "a8", "b9", "a10")
	if n := b.queries.Load(); n != 1 {
		t.Errorf("broker history queried %d times; want 1", n)
	}
	// Within the rings (what came after the topics were first watched):
	// no query.
	c2 := dialSSE(t, srv, "/multi?topics=a,b", dialOpts{headers: "Last-Event-ID: " + ids[9] + "\r\n"})
	recvStream(t, opened)
	expectData(t, c2.events(1), "a10")
	if n := b.queries.Load(); n != 1 {
		t.Errorf("broker history queried %d times; want still 1", n)
	}
}

// TestResumeFromBrokerHistoryLeave: a topic left while its history is on
// its way from the broker is dropped from the replay; the stream's other
// topics go on, history then live.
func TestResumeFromBrokerHistoryLeave(t *testing.T) {
	b := &historyBroker{gate: make(chan struct{})}
	hub := newHub(t, loop.HubConfig{Default: loop.TopicConfig{RingSize: 2}, Broker: b})
	routes, opened := multiRoutes(hub)
	srv := startServer(t, loop.Config{Loops: 1}, routes)
	var ids []string
	for i, topic := range []string{"a", "b", "a", "b", "a", "b"} {
		id, err := Publish(hub, topic, Event{Data: topic + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	c := dialSSE(t, srv, "/multi?topics=a,b", dialOpts{headers: "Last-Event-ID: " + ids[0] + "\r\n"})
	s := recvStream(t, opened)
	waitFor(t, "the history query", func() bool { return b.queries.Load() == 1 })
	left := make(chan struct{})
	if err := s.Conn().Post(func(*loop.Conn) { s.Leave("b"); close(left) }); err != nil {
		t.Fatal(err)
	}
	<-left
	close(b.gate)
	expectData(t, c.events(2), "a2", "a4")
	if _, err := Publish(hub, "b", Event{Data: "b6"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Publish(hub, "a", Event{Data: "a7"}); err != nil {
		t.Fatal(err)
	}
	expectData(t, c.events(1), "a7")
}

// lagBroker is a historyBroker whose deliveries to the hub lag: Publish
// stores a message (History has it at once), and the hub gets it only when
// the test calls release. So is a streamd node whose NATS consumer is
// behind the node a client comes from.
type lagBroker struct {
	historyBroker
	delivered int          // how many of all were handed to deliver
	answered  atomic.Int32 // History calls returned
}

func (b *lagBroker) History(ctx context.Context, topics []string, after uint64, limit int) ([]loop.Delivery, bool, error) {
	defer b.answered.Add(1)
	return b.historyBroker.History(ctx, topics, after, limit)
}

func (b *lagBroker) Publish(_ context.Context, topic string, d loop.Delivery) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d.Topic, d.Seq = topic, uint64(len(b.all)+1)
	b.all = append(b.all, d)
	return d.Seq, nil
}

// release hands the hub the stored messages up to Seq upto.
func (b *lagBroker) release(t *testing.T, upto int) {
	t.Helper()
	b.mu.Lock()
	ds := b.all[b.delivered:upto]
	b.delivered = upto
	b.mu.Unlock()
	for _, d := range ds {
		if err := b.deliver(d); err != nil {
			t.Fatal(err)
		}
	}
}

// TestResumeAheadOfHub: a client resumes with the id of a message this
// hub has not been delivered yet (it comes from a node further on): it
// gets only what follows its id, not the messages before it when they
// reach this hub. Regression: the subscription started from the hub's
// last Seq, so the client got them again (a duplicate, and its ids went
// back), whether the ring answered the resume or the broker's history.
func TestResumeAheadOfHub(t *testing.T) {
	t.Run("ring", func(t *testing.T) {
		b := &lagBroker{}
		hub := newHub(t, loop.HubConfig{Default: loop.TopicConfig{RingSize: 16}, Broker: b})
		routes, opened := multiRoutes(hub)
		srv := startServer(t, loop.Config{Loops: 2}, routes)
		x := dialSSE(t, srv, "/multi?topics=a", dialOpts{})
		recvStream(t, opened)
		var ids []string
		for i := 1; i <= 5; i++ {
			id, err := Publish(hub, "a", Event{Data: "a" + strconv.Itoa(i)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		b.release(t, 2)
		expectData(t, x.events(2), "a1", "a2")
		// The hub has a1 a2 (its ring answers: complete from a1 on); the
		// client saw a4 elsewhere.
		y := dialSSE(t, srv, "/multi?topics=a", dialOpts{headers: "Last-Event-ID: " + ids[3] + "\r\n"})
		recvStream(t, opened)
		b.release(t, 5)
		expectData(t, y.events(1), "a5")
		expectData(t, x.events(3), "a3", "a4", "a5")
		if n := b.queries.Load(); n != 0 {
			t.Errorf("broker history queried %d times; want 0 (the ring answers)", n)
		}
	})
	t.Run("history", func(t *testing.T) {
		b := &lagBroker{historyBroker: historyBroker{gate: make(chan struct{})}}
		hub := newHub(t, loop.HubConfig{Default: loop.TopicConfig{RingSize: 16}, Broker: b})
		routes, opened := multiRoutes(hub)
		srv := startServer(t, loop.Config{Loops: 2}, routes)
		var ids []string
		for i := 1; i <= 4; i++ {
			id, err := Publish(hub, "a", Event{Data: "a" + strconv.Itoa(i)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		// The topic's first subscriber: the hub does not know where its
		// broker starts, so it asks the history, and holds what is
		// delivered meanwhile: a1 … a4, which the client has.
		y := dialSSE(t, srv, "/multi?topics=a", dialOpts{headers: "Last-Event-ID: " + ids[3] + "\r\n"})
		recvStream(t, opened)
		waitFor(t, "the history query", func() bool { return b.queries.Load() == 1 })
		b.release(t, 4)
		close(b.gate)
		waitFor(t, "the history answer", func() bool { return b.answered.Load() == 1 })
		if _, err := Publish(hub, "a", Event{Data: "a5"}); err != nil {
			t.Fatal(err)
		}
		b.release(t, 5)
		expectData(t, y.events(1), "a5")
	})
}

// followerBroker is a historyBroker whose History comes from a replica a
// little behind: it answers only up to Seq upto, complete as far as it
// knows. So is a JetStream follower answering a direct get.
type followerBroker struct {
	historyBroker
	upto uint64
}

func (b *followerBroker) History(ctx context.Context, topics []string, after uint64, limit int) ([]loop.Delivery, bool, error) {
	ds, complete, err := b.historyBroker.History(ctx, topics, after, limit)
	for i, d := range ds {
		if d.Seq > b.upto {
			return ds[:i], complete, err
		}
	}
	return ds, complete, err
}

// TestResumeFromLaggingHistory: the broker's history answers from a
// replica that lacks the newest messages the hub already had when the
// client resumed; those come from the rings, so the client misses none.
// Regression: the client got the history, then the live messages after
// the resume, and silently lost those in between.
func TestResumeFromLaggingHistory(t *testing.T) {
	b := &followerBroker{upto: 5}
	hub := newHub(t, loop.HubConfig{Default: loop.TopicConfig{RingSize: 3}, Broker: b})
	routes, opened := multiRoutes(hub)
	srv := startServer(t, loop.Config{Loops: 2}, routes)
	watcher := dialSSE(t, srv, "/multi?topics=a", dialOpts{}) // the topic is watched from a1 on
	recvStream(t, opened)
	var ids []string
	for i := 1; i <= 8; i++ {
		id, err := Publish(hub, "a", Event{Data: "a" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	expectData(t, watcher.events(8), "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8")
	// The ring holds a6 a7 a8; the client saw a1; the history has a2 … a5.
	c := dialSSE(t, srv, "/multi?topics=a", dialOpts{headers: "Last-Event-ID: " + ids[0] + "\r\n"})
	recvStream(t, opened)
	expectData(t, c.events(7), "a2", "a3", "a4", "a5", "a6", "a7", "a8")
	if _, err := Publish(hub, "a", Event{Data: "a9"}); err != nil {
		t.Fatal(err)
	}
	expectData(t, c.events(1), "a9")
	if n := b.queries.Load(); n != 1 {
		t.Errorf("broker history queried %d times; want 1", n)
	}
}

// TestResumeFromLaggingHistoryRingMoves: the fill uses what the ring held
// when the client resumed, even if newer messages push those out of the
// ring while the history is on its way.
func TestResumeFromLaggingHistoryRingMoves(t *testing.T) {
	b := &followerBroker{upto: 5, historyBroker: historyBroker{gate: make(chan struct{})}}
	hub := newHub(t, loop.HubConfig{Default: loop.TopicConfig{RingSize: 3}, Broker: b})
	routes, opened := multiRoutes(hub)
	srv := startServer(t, loop.Config{Loops: 2}, routes)
	watcher := dialSSE(t, srv, "/multi?topics=a", dialOpts{})
	recvStream(t, opened)
	var ids []string
	for i := 1; i <= 8; i++ {
		id, err := Publish(hub, "a", Event{Data: "a" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	expectData(t, watcher.events(8), "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8")
	c := dialSSE(t, srv, "/multi?topics=a", dialOpts{headers: "Last-Event-ID: " + ids[0] + "\r\n"})
	recvStream(t, opened)
	waitFor(t, "the history query", func() bool { return b.queries.Load() == 1 })
	for i := 9; i <= 11; i++ { // the ring now holds a9 a10 a11
		if _, err := Publish(hub, "a", Event{Data: "a" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	expectData(t, watcher.events(3), "a9", "a10", "a11") // delivered: held for c
	close(b.gate)
	expectData(t, c.events(10), "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10", "a11")
}
