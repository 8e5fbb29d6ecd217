package natsbroker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

// waitTimeout bounds every wait of these tests: generous, since the machine
// is shared; a wait ends as soon as its condition holds.
const waitTimeout = 30 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// gnet's worker pool, started when package loop (for its Delivery
		// and Broker types) pulls gnet in: not ours to stop.
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
	)
}

// natsServer is a real nats-server with JetStream, in process, on a free
// port of 127.0.0.1, keeping its files in dir.
type natsServer struct {
	t    testing.TB
	dir  string
	port int
	s    *server.Server
}

func startServer(t testing.TB) *natsServer {
	t.Helper()
	ns := &natsServer{t: t, dir: t.TempDir(), port: -1}
	ns.start()
	t.Cleanup(ns.stop)
	return ns
}

// start starts the server, on the port of its previous run if it had one.
func (ns *natsServer) start() {
	ns.t.Helper()
	s, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      ns.port,
		JetStream: true,
		StoreDir:  ns.dir,
		NoLog:     true,
		NoSigs:    true,
	})
	if err != nil {
		ns.t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(waitTimeout) {
		s.Shutdown()
		ns.t.Fatal("nats-server not ready")
	}
	ns.s = s
	ns.port = s.Addr().(*net.TCPAddr).Port
}

func (ns *natsServer) stop() {
	if ns.s != nil {
		ns.s.Shutdown()
		ns.s.WaitForShutdown()
		ns.s = nil
	}
}

func (ns *natsServer) url() string { return "nats://127.0.0.1:" + strconv.Itoa(ns.port) }

// connEvents reports a connection's disconnects and reconnects.
type connEvents struct {
	down, up chan struct{}
}

func newConnEvents() *connEvents {
	return &connEvents{down: make(chan struct{}, 16), up: make(chan struct{}, 16)}
}

func (e *connEvents) options() []nats.Option {
	return []nats.Option{
		nats.DisconnectErrHandler(func(*nats.Conn, error) { e.down <- struct{}{} }),
		nats.ReconnectHandler(func(*nats.Conn) { e.up <- struct{}{} }),
		nats.ReconnectWait(50 * time.Millisecond),
	}
}

func waitChan(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// newBroker returns a broker on ns, closed at the end of the test.
func newBroker(t testing.TB, ns *natsServer, opts Options) *Broker {
	t.Helper()
	opts.URLs = []string{ns.url()}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	b, err := New(ctx, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// sink records deliveries. While held, deliver blocks, reporting the Seq it
// holds on held.
type sink struct {
	mu      sync.Mutex
	ds      []Delivery
	notify  chan struct{}
	hold    bool
	held    chan uint64
	release chan struct{}
}

func newSink() *sink {
	return &sink{notify: make(chan struct{}, 1), held: make(chan uint64, 1), release: make(chan struct{})}
}

func (s *sink) deliver(d Delivery) error {
	s.mu.Lock()
	hold := s.hold
	s.hold = false
	s.mu.Unlock()
	if hold {
		s.held <- d.Seq
		<-s.release
	}
	s.mu.Lock()
	s.ds = append(s.ds, d)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

// holdNext makes the next deliver block until release is closed.
func (s *sink) holdNext() {
	s.mu.Lock()
	s.hold = true
	s.mu.Unlock()
}

func (s *sink) snapshot() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.ds...)
}

// waitFor waits until cond holds for the deliveries so far.
func (s *sink) waitFor(t testing.TB, what string, cond func([]Delivery) bool) []Delivery {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		if ds := s.snapshot(); cond(ds) {
			return ds
		}
		select {
		case <-s.notify:
		case <-deadline:
			ds := s.snapshot()
			t.Fatalf("timed out waiting for %s; %d deliveries, last %v", what, len(ds), lastOf(ds))
		}
	}
}

// waitSeq waits until a delivery with Seq >= seq has arrived.
func (s *sink) waitSeq(t testing.TB, seq uint64) []Delivery {
	t.Helper()
	return s.waitFor(t, fmt.Sprintf("seq %d", seq), func(ds []Delivery) bool {
		return len(ds) > 0 && ds[len(ds)-1].Seq >= seq
	})
}

func lastOf(ds []Delivery) any {
	if len(ds) == 0 {
		return nil
	}
	return ds[len(ds)-1]
}

// published is what a test published: topic and Seq.
type published struct {
	topic string
	seq   uint64
	data  string
}

func mustPublish(t testing.TB, b *Broker, topic, data string) published {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	seq, err := b.Publish(ctx, topic, Delivery{Data: []byte(data), ID: "id-" + data, Event: "ev", Key: "k"})
	if err != nil {
		t.Fatalf("Publish(%q, %q): %v", topic, data, err)
	}
	return published{topic, seq, data}
}

// checkDeliveries fails unless ds are exactly want, in order.
func checkDeliveries(t testing.TB, ds []Delivery, want []published) {
	t.Helper()
	if len(ds) != len(want) {
		t.Fatalf("got %d deliveries, want %d:\n got %v\nwant %v", len(ds), len(want), seqsOf(ds), want)
	}
	for i, d := range ds {
		w := want[i]
		if d.Topic != w.topic || d.Seq != w.seq || string(d.Data) != w.data || d.ID != "id-"+w.data || d.Event != "ev" || d.Key != "k" {
			t.Fatalf("delivery %d = %+v; want %+v", i, d, w)
		}
	}
}

func seqsOf(ds []Delivery) []uint64 {
	s := make([]uint64, len(ds))
	for i, d := range ds {
		s[i] = d.Seq
	}
	return s
}

func only(ps []published, topics ...string) []published {
	var out []published
	for _, p := range ps {
		for _, t := range topics {
			if p.topic == t {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// logSink is a slog.Handler that records messages for tests to wait on.
type logSink struct {
	mu   sync.Mutex
	msgs []string
	ch   chan struct{}
}

func newLogSink() *logSink { return &logSink{ch: make(chan struct{}, 1)} }

func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSink) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logSink) WithGroup(string) slog.Handler            { return l }
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
	default:
	}
	return nil
}

// waitFor waits until msg has been logged.
func (l *logSink) waitFor(t testing.TB, msg string) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		l.mu.Lock()
		found := slices.Contains(l.msgs, msg)
		l.mu.Unlock()
		if found {
			return
		}
		select {
		case <-l.ch:
		case <-deadline:
			t.Fatalf("timed out waiting for log %q", msg)
		}
	}
}
