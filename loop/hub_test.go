package loop

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hubTestCodec frames a message as "ID DATA\n".
var hubTestCodec = RegisterCodec(func(dst []byte, m *Publication) []byte {
	dst = append(dst, m.ID...)
	dst = append(dst, ' ')
	dst = append(dst, m.Data...)
	return append(dst, '\n')
})

// hubFrameCodec frames a message like a WebSocket server frame (a short
// header and the payload), so the hub runs with two codecs here as it
// does in cmd/streamd (SSE and WebSocket).
var hubFrameCodec = RegisterCodec(func(dst []byte, m *Publication) []byte {
	dst = append(dst, 0x81, byte(min(len(m.Data), 126)))
	return append(dst, m.Data...)
})

// hubSub is a minimal protocol on the hub: the connection carries
// hubTestCodec lines.
type hubSub struct {
	sub    *Subscription
	closed chan struct{}
}

func (*hubSub) Codec() CodecID                         { return hubTestCodec }
func (*hubSub) Overflow(c *Conn)                       { c.Close() }
func (*hubSub) OnData(_ *Conn, in []byte) (int, error) { return len(in), nil }
func (*hubSub) OnTimer(*Conn)                          {}
func (h *hubSub) OnDrain(*Conn)                        { h.sub.Drained() }
func (*hubSub) OnShutdown(c *Conn)                     { c.CloseAfterFlush() }
func (h *hubSub) OnClose(*Conn, error) {
	if h.sub != nil {
		h.sub.Unsubscribe()
		h.sub.Unsubscribe() // idempotent
	}
	close(h.closed)
}

// hubRoutes serves GET /sub?topic=T[&last=ID]: the head, then "RESET\n"
// if the resume point is gone, the missed messages, and live ones.
func hubRoutes(hub *Hub, subs chan<- *hubSub) func(*Server) {
	return func(s *Server) {
		s.GET("/sub", func(c *Ctx) {
			topic, _ := c.Query("topic")
			last, resume := c.Query("last")
			h := &hubSub{closed: make(chan struct{})}
			conn := c.TakeOver(h)
			c.WriteStreamHead(200, "Content-Type: text/plain\r\n")
			sub, missed, reset, err := hub.Subscribe(conn, topic, h, Resume{LastID: last, Enabled: resume})
			if err != nil {
				conn.Write([]byte("ERR " + err.Error() + "\n"))
				conn.CloseAfterFlush()
				return
			}
			h.sub = sub
			if reset {
				conn.Write([]byte("RESET\n"))
			}
			for _, m := range missed {
				conn.Write(m.Frame(hubTestCodec))
			}
			subs <- h
		})
	}
}

type hubClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialHub(t *testing.T, ts *testServer, query string, subs <-chan *hubSub) (*hubClient, *hubSub) {
	t.Helper()
	c, err := net.DialTimeout("tcp", ts.addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	if _, err := c.Write([]byte("GET /sub?" + query + " HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	hc := &hubClient{t: t, c: c, br: bufio.NewReader(c)}
	for {
		line := hc.line()
		if line == "" {
			break
		}
	}
	select {
	case h := <-subs:
		return hc, h
	case <-time.After(testTimeout):
		t.Fatal("not subscribed")
		return nil, nil
	}
}

func (hc *hubClient) line() string {
	hc.t.Helper()
	l, err := hc.br.ReadString('\n')
	if err != nil {
		hc.t.Fatalf("read: %v (partial %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

func (hc *hubClient) expect(lines ...string) {
	hc.t.Helper()
	for _, want := range lines {
		if got := hc.line(); got != want {
			hc.t.Fatalf("line = %q; want %q", got, want)
		}
	}
}

func newTestHub(t *testing.T, cfg HubConfig) *Hub {
	t.Helper()
	h, err := NewHub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func TestHubPolicyString(t *testing.T) {
	for p, want := range map[Policy]string{PolicyClose: "close", PolicyDrop: "drop", PolicyConflate: "conflate"} {
		if got := p.String(); got != want {
			t.Errorf("Policy(%d).String() = %q; want %q", p, got, want)
		}
	}
}

func TestHubErrors(t *testing.T) {
	h := newTestHub(t, HubConfig{MaxTopics: 2})
	if _, err := h.Publish("", Publication{}); !errors.Is(err, ErrBadTopic) {
		t.Errorf("Publish(\"\") = %v; want ErrBadTopic", err)
	}
	for _, name := range []string{"a", "b", "a"} {
		if _, err := h.Publish(name, Publication{Data: []byte("x")}); err != nil {
			t.Errorf("Publish(%q) = %v", name, err)
		}
	}
	if _, err := h.Publish("c", Publication{}); !errors.Is(err, ErrTooManyTopics) {
		t.Errorf("third topic: %v; want ErrTooManyTopics", err)
	}
	if st := h.TopicStats("a"); st.Published != 2 || st.Subscribers != 0 {
		t.Errorf("TopicStats(a) = %+v; want Published 2", st)
	}
	if st := h.TopicStats("nope"); st != (TopicStats{}) {
		t.Errorf("TopicStats(unknown) = %+v; want zero", st)
	}
	if got := len(h.Topics()); got != 2 {
		t.Errorf("Topics() has %d names; want 2", got)
	}
}

func TestHubHistory(t *testing.T) {
	h := newTestHub(t, HubConfig{Topics: map[string]TopicConfig{"r": {RingSize: 4}}})
	ids := []string{""} // ids[i] is message i's
	for i := 1; i <= 10; i++ {
		m := Publication{Data: []byte("m" + strconv.Itoa(i))}
		want := h.epoch + "-" + strconv.Itoa(i)
		if i == 9 {
			m.ID, want = "custom", "custom"
		}
		id, err := h.Publish("r", m)
		if err != nil || id != want {
			t.Fatalf("Publish #%d = %q, %v; want %q", i, id, err, want)
		}
		ids = append(ids, id)
	}
	if len(h.epoch) != epochLen || strings.Trim(h.epoch, "0123456789abcdefghijklmnopqrstuvwxyz") != "" {
		t.Errorf("epoch %q; want %d characters of [0-9a-z]", h.epoch, epochLen)
	}
	other := newTestHub(t, HubConfig{})
	if other.epoch == h.epoch {
		t.Fatalf("two hubs share the epoch %q", h.epoch)
	}
	tp, _ := h.topic("r", false)
	const ring = "m7 m8 m9 m10"
	tests := []struct {
		last  string
		want  string
		found bool
	}{
		{ids[7], "m8 m9 m10", true},
		{"custom", "m10", true},
		{ids[10], "", true},
		{ids[6], ring, true},              // fell out of the 4-slot ring, but everything after it is in
		{ids[5], ring, false},             // #6 fell out too: gone
		{h.epoch + "-9", "m10", true},     // #9's place in the sequence (it had a custom id)
		{other.epoch + "-8", ring, false}, // another hub's (an earlier process's) #8
		{"8", ring, false},                // not an id of this hub
		{"", ring, false},
	}
	for _, tt := range tests {
		msgs, found := ringHistory(h, tp, tt.last)
		var got []string
		for _, m := range msgs {
			got = append(got, string(m.Data))
		}
		if strings.Join(got, " ") != tt.want || found != tt.found {
			t.Errorf("history(%q) = %q, %v; want %q, %v", tt.last, got, found, tt.want, tt.found)
		}
	}
}

// TestHubBacklog blocks the only loop and checks that Publish refuses
// messages past MaxBacklog, records none of them, and that the accepted
// ones arrive in order once the loop runs again.
func TestHubBacklog(t *testing.T) {
	hub := newTestHub(t, HubConfig{MaxBacklog: 8})
	subs := make(chan *hubSub, 4)
	ts := startServer(t, Config{Loops: 1}, hubRoutes(hub, subs))
	hc, _ := dialHub(t, ts, "topic=b", subs)
	block, blocked := make(chan struct{}), make(chan struct{})
	if err := ts.Loops()[0].Post(func() { close(blocked); <-block }); err != nil {
		t.Fatal(err)
	}
	<-blocked
	for i := 1; i <= 8; i++ {
		if _, err := hub.Publish("b", Publication{Data: []byte("x")}); err != nil {
			close(block)
			t.Fatalf("Publish #%d: %v", i, err)
		}
	}
	_, err := hub.Publish("b", Publication{Data: []byte("x")})
	close(block)
	if !errors.Is(err, ErrBacklog) {
		t.Fatalf("Publish past MaxBacklog = %v; want ErrBacklog", err)
	}
	if st := hub.TopicStats("b"); st.Published != 8 {
		t.Errorf("Published = %d; want 8 (the refused one not recorded)", st.Published)
	}
	for i := 1; i <= 8; i++ {
		hc.expect(hub.epoch + "-" + strconv.Itoa(i) + " x")
	}
	if _, err := hub.Publish("b", Publication{Data: []byte("y")}); err != nil {
		t.Fatalf("Publish after the loop caught up: %v", err)
	}
	hc.expect(hub.epoch + "-9 y")
}

func TestHubSubscribeResume(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		hub := newTestHub(t, HubConfig{Default: TopicConfig{RingSize: 3}})
		subs := make(chan *hubSub, 4)
		ts := startServer(t, Config{Loops: loops}, hubRoutes(hub, subs))
		for i := 1; i <= 5; i++ {
			if _, err := hub.Publish("t", Publication{Data: []byte("m" + strconv.Itoa(i))}); err != nil {
				t.Fatal(err)
			}
		}
		e := hub.epoch + "-"
		a, _ := dialHub(t, ts, "topic=t&last="+e+"3", subs)
		a.expect(e+"4 m4", e+"5 m5")
		b, _ := dialHub(t, ts, "topic=t&last="+e+"1", subs)
		b.expect("RESET", e+"3 m3", e+"4 m4", e+"5 m5") // the whole ring
		c, hc := dialHub(t, ts, "topic=t", subs)
		if st := hub.TopicStats("t"); st.Subscribers != 3 {
			t.Fatalf("Subscribers = %d; want 3", st.Subscribers)
		}
		if _, err := hub.Publish("t", Publication{Data: []byte("m6")}); err != nil {
			t.Fatal(err)
		}
		for _, cl := range []*hubClient{a, b, c} {
			cl.expect(e + "6 m6")
		}
		c.c.Close()
		select {
		case <-hc.closed:
		case <-time.After(testTimeout):
			t.Fatal("OnClose not called")
		}
		waitFor(t, "2 subscribers", func() bool { return hub.TopicStats("t").Subscribers == 2 })
	})
}

// TestHubResumeAfterRestart resumes on a new hub (a restarted process:
// new epoch, its sequence again from 1) with ids of the old one and of
// its own: an id of the ring resumes exactly after it; any other id gets
// a reset, the whole ring and then the live messages, with nothing
// missing. (With bare sequence numbers as ids, the old id 12 would have
// resumed after the new 12 and silently skipped the new 1–12.)
func TestHubResumeAfterRestart(t *testing.T) {
	const ringSize = 10
	cfg := HubConfig{Default: TopicConfig{RingSize: ringSize}}
	old := newTestHub(t, cfg)
	var oldIDs []string
	for i := 1; i <= 15; i++ {
		id, err := old.Publish("t", Publication{Data: []byte("old" + strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		oldIDs = append(oldIDs, id)
	}
	hub := newTestHub(t, cfg) // the new process
	subs := make(chan *hubSub, 4)
	ts := startServer(t, Config{Loops: 2}, hubRoutes(hub, subs))
	var lines []string // "ID DATA" of every message published to hub
	publish := func(n int) {
		t.Helper()
		for range n {
			data := "new" + strconv.Itoa(len(lines)+1)
			id, err := hub.Publish("t", Publication{Data: []byte(data)})
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, id+" "+data)
		}
	}
	publish(15)
	tests := []struct {
		name, last string
		reset      bool
		from       int // index in lines of the first message replayed
	}{
		{"old epoch, seq in the new ring", oldIDs[11], true, 15 - ringSize},
		{"old epoch, seq past the new ones", oldIDs[14], true, 15 - ringSize},
		{"in the ring", hub.epoch + "-12", false, 12},
		{"newest", hub.epoch + "-15", false, 15},
		{"fell out of the ring", hub.epoch + "-3", true, 15 - ringSize},
		{"unknown", "nope", true, 15 - ringSize},
	}
	var clients []*hubClient
	for _, tt := range tests {
		hc, _ := dialHub(t, ts, "topic=t&last="+tt.last, subs) // lives until the end of t
		t.Run(tt.name, func(t *testing.T) {
			hc.t = t
			if tt.reset {
				hc.expect("RESET")
			}
			hc.expect(lines[tt.from:15]...)
		})
		hc.t = t
		clients = append(clients, hc)
	}
	if t.Failed() {
		return
	}
	publish(3)
	for _, hc := range clients {
		hc.expect(lines[15:]...) // live, right after the replay
	}
}

// TestHubFramesAtPublish checks that a message is complete when
// published, with no subscriber: a frame for every registered codec, so
// nothing is ever encoded into a shared message later.
func TestHubFramesAtPublish(t *testing.T) {
	h := newTestHub(t, HubConfig{})
	id, err := h.Publish("f", Publication{Event: "e", Data: []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	tp, _ := h.topic("f", false)
	msgs, _ := ringHistory(h, tp, "")
	if len(msgs) != 1 {
		t.Fatalf("history has %d messages; want 1", len(msgs))
	}
	m := msgs[0]
	if m.ID != id || m.Seq() != 1 {
		t.Errorf("message id %q, seq %d; want %q, 1", m.ID, m.Seq(), id)
	}
	if got, want := string(m.Frame(hubTestCodec)), id+" hello\n"; got != want {
		t.Errorf("Frame(hubTestCodec) = %q; want %q", got, want)
	}
	if got, want := string(m.Frame(hubFrameCodec)), "\x81\x05hello"; got != want {
		t.Errorf("Frame(hubFrameCodec) = %q; want %q", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("RegisterCodec after a publish did not panic")
		}
	}()
	RegisterCodec(func(dst []byte, _ *Publication) []byte { return dst })
}

// goBroker sequences messages as the in-process broker does but delivers
// them from a goroutine of its own, in order, as a broker adapter does
// from its connection's goroutine. With wait set, Publish waits for the
// local delivery; without, it returns at once (the delivery comes later).
type goBroker struct {
	wait    bool
	deliver func(Delivery) error
	mu      sync.Mutex
	seq     uint64
	queue   chan goDelivery
	done    chan struct{}
}

type goDelivery struct {
	d   Delivery
	err chan error
}

func (b *goBroker) Start(deliver func(Delivery) error) error {
	b.deliver = deliver
	b.queue = make(chan goDelivery, 1024)
	b.done = make(chan struct{})
	go func() {
		defer close(b.done)
		for gd := range b.queue {
			gd.err <- b.deliver(gd.d)
		}
	}()
	return nil
}

func (b *goBroker) Epoch() string { return "gobroker" }

func (b *goBroker) Publish(_ context.Context, topic string, d Delivery) (uint64, error) {
	b.mu.Lock()
	b.seq++
	d.Topic, d.Seq = topic, b.seq
	gd := goDelivery{d: d, err: make(chan error, 1)}
	b.queue <- gd
	b.mu.Unlock()
	if b.wait {
		return d.Seq, <-gd.err
	}
	return d.Seq, nil
}

func (*goBroker) Watch(string)   {}
func (*goBroker) Unwatch(string) {}
func (*goBroker) History(context.Context, []string, uint64, int) ([]Delivery, bool, error) {
	return nil, false, nil
}

func (b *goBroker) Close() error {
	close(b.queue)
	<-b.done
	return nil
}

// ringHistory reads a topic's ring as Resume does: the messages after
// last and whether the ring holds all of them (else the whole ring).
func ringHistory(h *Hub, tp *topic, last string) (msgs []*Publication, found bool) {
	h.deliverMu.Lock()
	defer h.deliverMu.Unlock()
	after, ok := h.parseID(last)
	if !ok {
		after, ok = tp.byID(last)
	}
	if ok {
		if msgs, complete := tp.after(after, h.seq); complete {
			return msgs, true
		}
	}
	msgs, _ = tp.after(0, h.seq)
	return msgs, false
}

// TestHubConcurrent is for -race: publishers on several goroutines
// (delivering through the in-process broker, or from broker goroutines)
// while subscribers join and resume on 2 loops and the history is read.
// Every subscriber then gets consecutive sequence numbers, with nothing
// missing or repeated, and the ids Publish returned are all distinct.
func TestHubConcurrent(t *testing.T) {
	for _, tt := range []struct {
		name   string
		broker func() Broker
		ids    bool // Publish returns the ids
	}{
		{"memory", func() Broker { return nil }, true},
		{"deliver from goroutines", func() Broker { return &goBroker{wait: true} }, true},
		{"deliver later", func() Broker { return &goBroker{} }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const publishers, per, joiners = 4, 100, 12
			hub := newTestHub(t, HubConfig{Default: TopicConfig{RingSize: 16}, Broker: tt.broker()})
			subs := make(chan *hubSub, joiners)
			ts := startServer(t, Config{Loops: 2}, hubRoutes(hub, subs))
			tp, _ := hub.topic("c", true)
			// ringIDs reads the history as Subscribe does, then the
			// messages without the lock, as loops and codecs do.
			ringIDs := func() []string {
				msgs, _ := ringHistory(hub, tp, "")
				ids := make([]string, 0, len(msgs))
				for _, m := range msgs {
					if !bytes.HasPrefix(m.Frame(hubTestCodec), []byte(m.ID+" ")) || len(m.Frame(hubFrameCodec)) != 2+len(m.Data) {
						t.Errorf("message %q: frames %q, %q", m.ID, m.Frame(hubTestCodec), m.Frame(hubFrameCodec))
					}
					ids = append(ids, m.ID)
				}
				return ids
			}

			var (
				wg       sync.WaitGroup
				returned = make([][]string, publishers)
				stop     = make(chan struct{})
			)
			for p := range publishers {
				wg.Go(func() {
					for i := range per {
						id, err := hub.Publish("c", Publication{Data: []byte(fmt.Sprintf("%d:%d", p, i))})
						if err != nil {
							t.Errorf("Publish: %v", err)
							return
						}
						returned[p] = append(returned[p], id)
					}
				})
			}
			var readerWG sync.WaitGroup
			readerWG.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					ringIDs()
					hub.TopicStats("c")
					runtime.Gosched()
				}
			})
			type joined struct {
				hc   *hubClient
				last string // resumed after this id ("" = no resume)
			}
			var cs []joined
			for j := range joiners {
				query, last := "topic=c", ""
				switch ids := ringIDs(); j % 4 {
				case 1: // the newest id: nothing to replay, or a few
					if len(ids) > 0 {
						last = ids[len(ids)-1]
					}
				case 2: // the oldest id still in the ring
					if len(ids) > 0 {
						last = ids[0]
					}
				case 3:
					last = "nope" // reset and the whole ring
				}
				if last != "" {
					query += "&last=" + last
				}
				hc, _ := dialHub(t, ts, query, subs)
				cs = append(cs, joined{hc, last})
			}
			wg.Wait()
			close(stop)
			readerWG.Wait()
			if t.Failed() {
				return
			}
			// A broker that delivers later may still be delivering.
			waitFor(t, "every message delivered", func() bool { return hub.TopicStats("c").Published == publishers*per })
			if _, err := hub.Publish("c", Publication{Data: []byte("end")}); err != nil {
				t.Fatal(err)
			}

			if tt.ids {
				seen := map[string]bool{}
				for _, ids := range returned {
					for _, id := range ids {
						if seen[id] || !strings.HasPrefix(id, hub.epoch+"-") {
							t.Fatalf("Publish returned %q twice or from another epoch", id)
						}
						seen[id] = true
					}
				}
				if len(seen) != publishers*per {
					t.Fatalf("Publish returned %d ids; want %d", len(seen), publishers*per)
				}
			}
			seqOf := func(id string) uint64 {
				epoch, seq, _ := strings.Cut(id, "-")
				n, err := strconv.ParseUint(seq, 10, 64)
				if epoch != hub.epoch || err != nil {
					t.Fatalf("id %q; want %s-<seq>", id, hub.epoch)
				}
				return n
			}
			for i, c := range cs {
				var prev uint64
				reset, first := false, true
				for ; ; first = false {
					line := c.hc.line()
					if first && line == "RESET" {
						if c.last == "" {
							t.Fatalf("client %d: RESET without a resume", i)
						}
						reset = true
						line = c.hc.line()
					}
					id, data, _ := strings.Cut(line, " ")
					seq := seqOf(id)
					switch {
					case !first && seq != prev+1:
						t.Fatalf("client %d: %s after seq %d (lost or repeated)", i, id, prev)
					case first && c.last == "nope" && !reset:
						t.Fatalf("client %d: no RESET for an unknown id", i)
					case first && c.last != "" && !reset && seq != seqOf(c.last)+1:
						t.Fatalf("client %d resumed after %s at %s", i, c.last, id)
					}
					prev = seq
					if data == "end" {
						break
					}
				}
			}
		})
	}
}

// TestHubSlowClose checks PolicyClose at the hub level: a subscriber that
// does not read is closed, a reading one gets every message.
func TestHubSlowClose(t *testing.T) {
	hub := newTestHub(t, HubConfig{Default: TopicConfig{Budget: 64 << 10}})
	subs := make(chan *hubSub, 4)
	ts := startServer(t, Config{Loops: 1}, hubRoutes(hub, subs))
	fast, _ := dialHub(t, ts, "topic=s", subs)
	_, slow := dialHub(t, ts, "topic=s", subs) // reads nothing more
	payload := strings.Repeat("z", 16<<10)
	var read atomic.Int64
	errc := make(chan error, 1)
	go func() {
		// Every message, in order, up to the final "end".
		for i := 1; ; i++ {
			l, err := fast.br.ReadString('\n')
			if err != nil || !strings.HasPrefix(l, hub.epoch+"-"+strconv.Itoa(i)+" ") {
				errc <- fmt.Errorf("fast reader: line %d = %.20q, %v", i, l, err)
				return
			}
			if strings.HasSuffix(l, " end\n") {
				errc <- nil
				return
			}
			read.Add(1)
		}
	}()
	// The publisher stays within 2 messages (32 KiB) of the fast reader,
	// so it is never over the 64 KiB budget however it is scheduled.
	deadline := time.Now().Add(testTimeout)
	published := int64(0)
	for closed := false; !closed; {
		select {
		case <-slow.closed:
			closed = true
			continue
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("slow subscriber not closed; stats %+v", hub.TopicStats("s"))
		}
		if published-read.Load() > 2 {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		if _, err := hub.Publish("s", Publication{Data: []byte(payload)}); err != nil {
			if !errors.Is(err, ErrBacklog) {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
			continue
		}
		published++
	}
	if _, err := hub.Publish("s", Publication{Data: []byte("end")}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testTimeout):
		t.Fatal("fast reader did not get every message")
	}
	if st := hub.TopicStats("s"); st.Closed != 1 || st.Subscribers != 1 {
		t.Errorf("stats %+v; want Closed 1, Subscribers 1", st)
	}
}

// BenchmarkHubPublish publishes to a topic without subscribers: the cost
// of sequencing, recording in the history ring and encoding.
func BenchmarkHubPublish(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(fmt.Sprintf("data=%d", size), func(b *testing.B) {
			h, err := NewHub(HubConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			data := bytes.Repeat([]byte("x"), size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := h.Publish("bench", Publication{Event: "e", Data: data}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
