package sse

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamd/streamd/internal/testsrv"
	"github.com/streamd/streamd/loop"
)

// topicRoutes serves GET /events?topic=NAME: a stream that joins NAME
// (no heartbeats unless opts says so). Opened streams are sent on the
// returned channel.
func topicRoutes(hub *loop.Hub, opts Options) (func(*loop.Server), chan *Stream) {
	opened := make(chan *Stream, 64)
	opts.Hub = hub
	if opts.Heartbeat == 0 {
		opts.Heartbeat = -1
	}
	return func(srv *loop.Server) {
		srv.GET("/events", func(c *loop.Ctx) {
			topic, _ := c.Query("topic")
			Open(c, opts, func(s *Stream) {
				if topic != "" {
					if err := s.Join(topic); err != nil {
						s.Comment("join: " + err.Error())
					}
				}
				opened <- s
			})
		})
	}, opened
}

func recvStream(t *testing.T, ch chan *Stream) *Stream {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(testTimeout):
		t.Fatal("no stream opened")
		return nil
	}
}

func TestStreamHeaders(t *testing.T) {
	routes, _ := topicRoutes(nil, Options{})
	srv := startServer(t, loop.Config{Loops: 1}, routes)
	for _, method := range []string{"GET", "HEAD"} {
		t.Run(method, func(t *testing.T) {
			c := dialSSE(t, srv, "/events", dialOpts{method: method})
			r := c.resp
			if r.StatusCode != 200 {
				t.Errorf("status = %d; want 200", r.StatusCode)
			}
			for name, want := range map[string]string{
				"Content-Type":      "text/event-stream",
				"Cache-Control":     "no-cache",
				"Content-Length":    "",
				"Transfer-Encoding": "",
			} {
				if got := r.Header.Get(name); got != want {
					t.Errorf("%s = %q; want %q", name, got, want)
				}
			}
			if r.ContentLength != -1 || len(r.TransferEncoding) != 0 {
				t.Errorf("ContentLength %d, TransferEncoding %q; want a body delimited by close", r.ContentLength, r.TransferEncoding)
			}
		})
	}
}

// TestStreamFraming runs over plain TCP and over TLS.
func TestStreamFraming(t *testing.T) {
	for _, tr := range testsrv.Transports {
		t.Run(tr.Name, func(t *testing.T) { testStreamFraming(t, tr) })
	}
}

func testStreamFraming(t *testing.T, tr testsrv.Transport) {
	errc := make(chan []error, 1)
	srv := startServer(t, tr.Config(loop.Config{Loops: 1}), func(srv *loop.Server) {
		srv.GET("/f", func(c *loop.Ctx) {
			Open(c, Options{Heartbeat: -1, Retry: 1500 * time.Millisecond}, func(s *Stream) {
				s.Send("hello")
				_, _ = s.Event("multi", "a\nb\r\nc\rd")
				_, _ = s.ID("41")
				s.Comment("note")
				s.Retry(2 * time.Second)
				_, _ = s.SendEvent(Event{ID: "42", Event: "x", Data: ""})
				_, err1 := s.SendEvent(Event{ID: "bad\nid", Data: "never"})
				_, err2 := s.Event("bad\r\nname", "never")
				_, err3 := s.ID("nul\x00")
				errc <- []error{err1, err2, err3}
				s.Send("last")
			})
		})
	})
	c := dialSSE(t, srv, "/f", dialOpts{})
	got := c.events(4)
	want := []specEvent{
		{"message", "hello", ""},
		{"multi", "a\nb\nc\nd", ""},
		{"x", "", "42"},
		{"message", "last", "42"},
	}
	if !sameEvents(got, want) {
		t.Fatalf("events = %+v; want %+v", got, want)
	}
	if fmt.Sprint(c.p.retries) != "[1500 2000]" || fmt.Sprint(c.p.comments) != "[ note]" {
		t.Errorf("retries %v, comments %q; want [1500 2000], [\" note\"]", c.p.retries, c.p.comments)
	}
	if len(c.p.oddLines) > 0 {
		t.Errorf("odd lines on the wire: %q", c.p.oddLines)
	}
	wantErrs := []error{ErrInvalidID, ErrInvalidEventName, ErrInvalidID}
	for i, err := range <-errc {
		if !errors.Is(err, wantErrs[i]) {
			t.Errorf("invalid send %d: err = %v; want %v", i, err, wantErrs[i])
		}
	}
}

func TestStreamHeartbeat(t *testing.T) {
	routes, _ := topicRoutes(nil, Options{Heartbeat: 200 * time.Millisecond})
	srv := startServer(t, loop.Config{Loops: 1}, routes)
	c := dialSSE(t, srv, "/events", dialOpts{})
	// Two heartbeats prove the timer re-arms.
	c.until("two heartbeats", func(p *specParser) bool { return len(p.comments) >= 2 })
	for _, cm := range c.p.comments {
		if cm != "" {
			t.Errorf("heartbeat comment = %q; want empty (\":\\n\\n\")", cm)
		}
	}
}

func TestStreamDisconnectCleanup(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		hub := newHub(t, loop.HubConfig{})
		routes, opened := topicRoutes(hub, Options{})
		srv := startServer(t, loop.Config{Loops: loops}, routes)
		c := dialSSE(t, srv, "/events?topic=room", dialOpts{})
		s := recvStream(t, opened)
		closed := make(chan struct{})
		s.OnClose(func() { close(closed) })
		if n := hub.TopicStats("room").Subscribers; n != 1 {
			t.Fatalf("Subscribers = %d; want 1", n)
		}
		_ = c.conn.Close()
		waitFor(t, "Subscribers = 0", func() bool { return hub.TopicStats("room").Subscribers == 0 })
		select {
		case <-closed:
		case <-time.After(testTimeout):
			t.Fatal("OnClose did not run")
		}
		select {
		case <-s.Done():
		default:
			t.Fatal("Done not closed after OnClose ran")
		}
		if r := s.Send("late"); r != loop.Dropped {
			t.Errorf("Send after close = %v; want dropped", r)
		}
		ran := false
		s.OnClose(func() { ran = true })
		if !ran {
			t.Error("OnClose after the end did not run at once")
		}
	})
}

func forLoops(t *testing.T, f func(t *testing.T, loops int)) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", n), func(t *testing.T) { f(t, n) })
	}
}

func TestStreamSendFromGoroutines(t *testing.T) {
	const producers, per = 4, 200
	routes, opened := topicRoutes(nil, Options{})
	srv := startServer(t, loop.Config{Loops: 2}, routes)
	c := dialSSE(t, srv, "/events", dialOpts{})
	s := recvStream(t, opened)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range per {
				for {
					r := s.Send(fmt.Sprintf("%d:%d", p, i))
					if r != loop.Dropped {
						break
					}
					time.Sleep(time.Millisecond) // over MaxBuffered: retry
				}
			}
		})
	}
	next := make([]int, producers)
	for range producers * per {
		ev := c.event()
		var p, i int
		if _, err := fmt.Sscanf(ev.Data, "%d:%d", &p, &i); err != nil || p >= producers {
			t.Fatalf("bad event %q", ev.Data)
		}
		if i != next[p] {
			t.Fatalf("producer %d: got %d, want %d", p, i, next[p])
		}
		next[p]++
	}
	wg.Wait()

	// Close from a goroutine: later sends are dropped, Done closes, the
	// client sees the end of the stream.
	s.Close()
	if r := s.Send("after close"); r != loop.Dropped {
		t.Errorf("Send after Close = %v; want dropped", r)
	}
	select {
	case <-s.Done():
	case <-time.After(testTimeout):
		t.Fatal("Done not closed after Close")
	}
	c.expectEOF()
	for _, ev := range c.p.events[c.next:] {
		t.Errorf("event after Close: %+v", ev)
	}
}

// TestStreamMaxBuffered checks that a producer goroutine faster than the
// loop is bounded by MaxBuffered rather than by the loop's task queue.
func TestStreamMaxBuffered(t *testing.T) {
	routes, opened := topicRoutes(nil, Options{MaxBuffered: 64 << 10})
	srv := startServer(t, loop.Config{Loops: 1}, routes)
	_ = dialSSE(t, srv, "/events", dialOpts{rcvBuf: 4096}) // never reads
	s := recvStream(t, opened)
	payload := strings.Repeat("x", 1024)
	dropped := 0
	for range 10000 {
		if s.Send(payload) == loop.Dropped {
			dropped++
		}
	}
	// ~64 KiB buffered plus what the kernel holds: far fewer than 10000
	// frames (10 MiB) can be accepted.
	if dropped < 5000 {
		t.Errorf("dropped %d of 10000 1-KiB sends over a 64 KiB MaxBuffered; want most dropped", dropped)
	}
}

// TestHubOrdering publishes from several goroutines to one topic and
// checks that subscribers on every loop see the same global order, each
// publisher's events in its order, and strictly increasing ids. Over
// plain TCP on 1 and 2 loops, and over TLS with 200 subscribers on 2
// loops (TLS on one loop is the same path with less spread).
func TestHubOrdering(t *testing.T) {
	for _, tt := range []struct {
		tr      testsrv.Transport
		clients int
		loops   []int
	}{
		{testsrv.Transports[0], 6, []int{1, 2}},
		{testsrv.Transports[1], 200, []int{2}},
	} {
		for _, loops := range tt.loops {
			t.Run(fmt.Sprintf("%s/clients=%d/loops=%d", tt.tr.Name, tt.clients, loops), func(t *testing.T) {
				testHubOrdering(t, tt.tr, loops, tt.clients)
			})
		}
	}
}

func testHubOrdering(t *testing.T, tr testsrv.Transport, loops, clients int) {
	const publishers, per = 4, 250
	hub := newHub(t, loop.HubConfig{})
	routes, opened := topicRoutes(hub, Options{})
	srv := startServer(t, tr.Config(loop.Config{Loops: loops}), routes)
	var cs []*client
	onLoop := map[int]bool{}
	for range clients {
		cs = append(cs, dialSSE(t, srv, "/events?topic=t", dialOpts{}))
		onLoop[recvStream(t, opened).Conn().Loop().Index()] = true
	}
	if got := len(onLoop); got != loops {
		t.Fatalf("clients spread over %d loops; want %d", got, loops)
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range per {
				for {
					_, err := Publish(hub, "t", Event{Event: "n", Data: fmt.Sprintf("%d:%d", p, i)})
					if err == nil {
						break
					}
					if !errors.Is(err, loop.ErrBacklog) {
						t.Errorf("Publish: %v", err)
						return
					}
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	results := make([][]specEvent, clients)
	var rwg sync.WaitGroup
	for i, c := range cs {
		rwg.Go(func() {
			for c.next < publishers*per {
				if c.next >= len(c.p.events) {
					if err := c.fill(); err != nil {
						t.Errorf("client %d after %d events: %v", i, c.next, err)
						return
					}
					continue
				}
				c.next++
			}
			results[i] = c.p.events[:publishers*per]
		})
	}
	wg.Wait()
	rwg.Wait()
	if t.Failed() {
		return
	}
	for i, evs := range results {
		next := make([]int, publishers)
		prevID := uint64(0)
		for _, ev := range evs {
			var p, n int
			if _, err := fmt.Sscanf(ev.Data, "%d:%d", &p, &n); err != nil || n != next[p] {
				t.Fatalf("client %d: event %q out of order (want %d:%d)", i, ev.Data, p, next[p])
			}
			next[p]++
			id, err := strconv.ParseUint(seqOf(ev.LastID), 10, 64)
			if err != nil || id <= prevID {
				t.Fatalf("client %d: id %q after %d; want strictly increasing", i, ev.LastID, prevID)
			}
			prevID = id
		}
		if i > 0 && !sameEvents(evs, results[0]) {
			t.Fatalf("client %d saw a different global order than client 0", i)
		}
	}
}

// seqOf returns the sequence part of a hub-assigned id ("<epoch>-<seq>").
func seqOf(id string) string {
	_, seq, _ := strings.Cut(id, "-")
	return seq
}

// publishN publishes events "m<from>" to "m<to>" and returns their ids.
func publishN(t *testing.T, hub *loop.Hub, topic string, from, to int) []string {
	t.Helper()
	var ids []string
	for i := from; i <= to; i++ {
		id, err := Publish(hub, topic, Event{Data: "m" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestResume(t *testing.T) {
	hub := newHub(t, loop.HubConfig{Default: loop.TopicConfig{RingSize: 4}})
	routes, opened := topicRoutes(hub, Options{})
	srv := startServer(t, loop.Config{Loops: 2}, routes)
	id := append([]string{""}, publishN(t, hub, "r", 1, 6)...) // id[i] is m<i>'s; the ring holds 3..6
	publish := func(i int) { id = append(id, publishN(t, hub, "r", i, i)...) }

	t.Run("fresh", func(t *testing.T) {
		c := dialSSE(t, srv, "/events?topic=r", dialOpts{})
		recvStream(t, opened)
		publish(7)
		ev := c.event()
		if ev != (specEvent{"message", "m7", id[7]}) {
			t.Fatalf("first event = %+v; want m7 with id %s (no history without Last-Event-ID)", ev, id[7])
		}
	})
	t.Run("in ring", func(t *testing.T) {
		c := dialSSE(t, srv, "/events?topic=r", dialOpts{headers: "Last-Event-ID: " + id[5] + "\r\n"})
		recvStream(t, opened)
		publish(8)
		got := c.events(3)
		expectData(t, got, "m6", "m7", "m8")
		if got[2].LastID != id[8] {
			t.Errorf("last id = %q; want %s", got[2].LastID, id[8])
		}
	})
	t.Run("query", func(t *testing.T) {
		c := dialSSE(t, srv, "/events?topic=r&lastEventId="+id[7], dialOpts{})
		recvStream(t, opened)
		expectData(t, c.events(1), "m8")
	})
	t.Run("latest", func(t *testing.T) {
		c := dialSSE(t, srv, "/events?topic=r", dialOpts{headers: "Last-Event-ID: " + id[8] + "\r\n"})
		recvStream(t, opened)
		publish(9)
		expectData(t, c.events(1), "m9")
	})
	t.Run("overflow", func(t *testing.T) {
		// m2 fell out of the 4-slot ring: reset, the whole ring, then new
		// events.
		c := dialSSE(t, srv, "/events?topic=r", dialOpts{headers: "Last-Event-ID: " + id[2] + "\r\n"})
		recvStream(t, opened)
		publish(10)
		publish(11)
		got := c.events(7)
		if got[0].Type != ResetEvent || got[0].Data != "r" {
			t.Fatalf("first event = %+v; want event: reset with data r", got[0])
		}
		expectData(t, got[1:], "m6", "m7", "m8", "m9", "m10", "m11")
	})
	t.Run("unknown", func(t *testing.T) {
		c := dialSSE(t, srv, "/events?topic=r", dialOpts{headers: "Last-Event-ID: nope\r\n"})
		recvStream(t, opened)
		got := c.events(5)
		if got[0].Type != ResetEvent {
			t.Fatalf("first event = %+v; want reset", got[0])
		}
		expectData(t, got[1:], "m8", "m9", "m10", "m11")
		if got[4].LastID != id[11] {
			t.Errorf("last id after the replay = %q; want %s", got[4].LastID, id[11])
		}
	})
}

// TestResumeAfterRestart resumes on a new hub (a restarted server: new
// epoch, sequence again from 1) with ids of the old one: a reset, the
// whole ring of the new one and the live events, nothing missing. With
// bare sequence numbers as ids, the old id 12 would have resumed after
// the new event 12 and silently skipped the new 1–12.
func TestResumeAfterRestart(t *testing.T) {
	cfg := loop.HubConfig{Default: loop.TopicConfig{RingSize: 10}}
	oldIDs := publishN(t, newHub(t, cfg), "r", 1, 15)
	hub := newHub(t, cfg)
	routes, opened := topicRoutes(hub, Options{})
	srv := startServer(t, loop.Config{Loops: 2}, routes)
	ids := publishN(t, hub, "r", 1, 15) // the ring holds m6..m15
	if seqOf(oldIDs[11]) != seqOf(ids[11]) || oldIDs[11] == ids[11] {
		t.Fatalf("ids %q (old) and %q (new); want the same sequence in different epochs", oldIDs[11], ids[11])
	}
	ring := []string{"m6", "m7", "m8", "m9", "m10", "m11", "m12", "m13", "m14", "m15"}
	tests := []struct {
		name, last string
		want       []string // after the reset, if any
		reset      bool
	}{
		{"old id, its sequence in the new ring", oldIDs[11], ring, true},
		{"old id, its sequence past the new ones", oldIDs[14], ring, true},
		{"in the ring", ids[11], ring[7:], false}, // after m12
		{"unknown", "nope", ring, true},
	}
	var cs []*client
	for _, tt := range tests {
		c := dialSSE(t, srv, "/events?topic=r", dialOpts{headers: "Last-Event-ID: " + tt.last + "\r\n"})
		recvStream(t, opened)
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			n := len(tt.want)
			if tt.reset {
				if ev := c.event(); ev.Type != ResetEvent || ev.Data != "r" {
					t.Fatalf("first event = %+v; want event: reset with data r", ev)
				}
			}
			got := c.events(n)
			expectData(t, got, tt.want...)
			if got[n-1].LastID != ids[14] {
				t.Errorf("last id after the replay = %q; want %s", got[n-1].LastID, ids[14])
			}
		})
		c.t = t
		cs = append(cs, c)
	}
	if t.Failed() {
		return
	}
	publishN(t, hub, "r", 16, 17)
	for _, c := range cs {
		expectData(t, c.events(2), "m16", "m17") // live, right after the replay
	}
}

// publishUntil publishes 32 KiB events to topic until cond holds,
// retrying on ErrBacklog, and returns how many it published. It keeps
// each reader in fast within maxLag events of the publisher, so a fast
// consumer is never over budget however the machine schedules it.
func publishUntil(t *testing.T, hub *loop.Hub, topic string, key func(i int) string, cond func() bool, fast ...*atomic.Int64) int {
	t.Helper()
	const maxLag = 2
	payload := strings.Repeat("p", 32<<10)
	deadline := time.Now().Add(testTimeout)
	n := 0
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached after %d publishes; stats %+v", n, hub.TopicStats(topic))
		}
		if slices.ContainsFunc(fast, func(r *atomic.Int64) bool { return int64(n)-r.Load() > maxLag }) {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		m := loop.Publication{Data: []byte(strconv.Itoa(n+1) + ":" + payload)}
		if key != nil {
			m.Key = key(n + 1)
			m.Data = []byte(m.Key + "=" + strconv.Itoa(n+1) + ":" + payload)
		}
		if _, err := hub.Publish(topic, m); err != nil {
			if !errors.Is(err, loop.ErrBacklog) {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
			continue
		}
		n++
	}
	return n
}

// fastReader reads c in a goroutine until the event with data "end",
// checking that ids 1, 2, ... arrive in order with none missing, and
// counting them in read. The result arrives on the returned channel.
func fastReader(c *client, read *atomic.Int64) <-chan error {
	errc := make(chan error, 1)
	go func() {
		for want := 1; ; want++ {
			ev, err := c.tryEvent()
			if err != nil {
				errc <- err
				return
			}
			if seqOf(ev.LastID) != strconv.Itoa(want) {
				errc <- fmt.Errorf("fast client: id %q; want %d (lost or reordered)", ev.LastID, want)
				return
			}
			if ev.Data == "end" {
				errc <- nil
				return
			}
			read.Add(1)
		}
	}()
	return errc
}

func waitErr(t *testing.T, errc <-chan error) {
	t.Helper()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testTimeout):
		t.Fatal("reader did not finish")
	}
}

func TestSlowConsumerClose(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		hub := newHub(t, loop.HubConfig{Default: loop.TopicConfig{Policy: loop.PolicyClose, Budget: 128 << 10}})
		routes, opened := topicRoutes(hub, Options{})
		srv := startServer(t, loop.Config{Loops: loops}, routes)
		fast := []*client{dialSSE(t, srv, "/events?topic=s", dialOpts{})}
		recvStream(t, opened)
		slow := dialSSE(t, srv, "/events?topic=s", dialOpts{rcvBuf: 4096})
		slowStream := recvStream(t, opened)
		fast = append(fast, dialSSE(t, srv, "/events?topic=s", dialOpts{}))
		recvStream(t, opened)

		read := make([]*atomic.Int64, len(fast))
		var errcs []<-chan error
		for i, c := range fast {
			read[i] = new(atomic.Int64)
			errcs = append(errcs, fastReader(c, read[i]))
		}
		n := publishUntil(t, hub, "s", nil, func() bool { return hub.TopicStats("s").Closed >= 1 }, read...)
		if _, err := hub.Publish("s", loop.Publication{Data: []byte("end")}); err != nil {
			t.Fatal(err)
		}
		n++
		for _, errc := range errcs {
			waitErr(t, errc)
		}
		select {
		case <-slowStream.Done():
		case <-time.After(testTimeout):
			t.Fatal("slow stream not closed")
		}
		st := hub.TopicStats("s")
		if st.Closed != 1 || st.Subscribers != 2 || st.Published != int64(n) {
			t.Errorf("stats %+v; want Closed 1, Subscribers 2, Published %d", st, n)
		}
		slow.readHead("GET")
		slow.expectEOF()
	})
}

func TestSlowConsumerDrop(t *testing.T) {
	hub := newHub(t, loop.HubConfig{Default: loop.TopicConfig{Policy: loop.PolicyDrop, Budget: 128 << 10}})
	routes, opened := topicRoutes(hub, Options{})
	srv := startServer(t, loop.Config{Loops: 2}, routes)
	fast := dialSSE(t, srv, "/events?topic=d", dialOpts{})
	recvStream(t, opened)
	_ = dialSSE(t, srv, "/events?topic=d", dialOpts{rcvBuf: 4096})
	recvStream(t, opened)
	read := new(atomic.Int64)
	errc := fastReader(fast, read)
	n := publishUntil(t, hub, "d", nil, func() bool { return hub.TopicStats("d").Dropped >= 5 }, read)
	if _, err := hub.Publish("d", loop.Publication{Data: []byte("end")}); err != nil {
		t.Fatal(err)
	}
	n++
	waitErr(t, errc)
	st := hub.TopicStats("d")
	if st.Closed != 0 || st.Subscribers != 2 || st.Published != int64(n) {
		t.Errorf("stats %+v; want Closed 0, Subscribers 2 (the slow one stays), Published %d", st, n)
	}
	// Every publish reached the fast client or was dropped for the slow
	// one (the slow one's loop may still be counting the last batch).
	waitFor(t, fmt.Sprintf("Written+Queued+Dropped = 2 subscribers × %d", n), func() bool {
		st := hub.TopicStats("d")
		return st.Written+st.Queued+st.Dropped == 2*int64(n)
	})
}

func TestSlowConsumerConflate(t *testing.T) {
	hub := newHub(t, loop.HubConfig{Default: loop.TopicConfig{Policy: loop.PolicyConflate, Budget: 16 << 10}})
	routes, opened := topicRoutes(hub, Options{})
	srv := startServer(t, loop.Config{Loops: 1}, routes)
	slow := dialSSE(t, srv, "/events?topic=c", dialOpts{rcvBuf: 4096})
	recvStream(t, opened)
	// Fill the slow client's queue with one big event, then publish small
	// keyed updates: they conflate while it is over budget.
	// (How much the kernel takes before that varies: publish until the
	// hub holds one back.)
	big := publishUntil(t, hub, "c", func(int) string { return "big" }, func() bool { return hub.TopicStats("c").Conflated >= 1 })
	keys := []string{"a", "b", "c"}
	last := map[string]int{}
	n := 0
	for i := range 300 {
		k := keys[i%len(keys)]
		if _, err := hub.Publish("c", loop.Publication{Key: k, Data: []byte(k + "=" + strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
		last[k] = i
		n++
	}
	waitFor(t, "conflation", func() bool { return hub.TopicStats("c").Conflated >= int64(n+1) })
	// Now read everything: the big event, then per key only newer values,
	// ending with the latest of each key.
	slow.readHead("GET")
	seen := map[string]int{}
	for len(seen) < len(keys) || anyOlder(seen, last) {
		ev := slow.event()
		if strings.HasPrefix(ev.Data, "big=") {
			continue
		}
		k, v, _ := strings.Cut(ev.Data, "=")
		i, _ := strconv.Atoi(v)
		if prev, ok := seen[k]; ok && i <= prev {
			t.Fatalf("key %s: %d after %d", k, i, prev)
		}
		seen[k] = i
	}
	st := hub.TopicStats("c")
	if st.Conflated < int64(n+1) || st.Closed != 0 || st.Dropped != 0 || st.Published != int64(big+n) {
		t.Errorf("stats %+v; want Conflated ≥ %d, Closed 0, Dropped 0, Published %d", st, n+1, big+n)
	}
	// After draining the subscriber is fast again: a new event goes
	// straight through.
	if _, err := hub.Publish("c", loop.Publication{Key: "a", Data: []byte("a=1000")}); err != nil {
		t.Fatal(err)
	}
	if ev := slow.event(); ev.Data != "a=1000" {
		t.Fatalf("after drain: %q; want a=1000", ev.Data)
	}
}

func anyOlder(seen, last map[string]int) bool {
	for k, v := range last {
		if seen[k] < v {
			return true
		}
	}
	return false
}
