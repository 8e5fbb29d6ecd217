package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// jsCluster is three nats-servers with JetStream, in process, routed into
// one cluster on free ports of 127.0.0.1.
type jsCluster struct {
	t       testing.TB
	servers []*server.Server // nil once shut down
}

// startCluster starts the cluster and waits until JetStream has a meta
// leader that counts all three servers as peers, and every server is
// current with it. Every server has routes to all three cluster ports (a
// server skips the route to itself), as a configuration file would say:
// clustered JetStream needs configured routes on every server, so the
// ports are chosen before the servers start (free a moment before).
func startCluster(t testing.TB) *jsCluster {
	t.Helper()
	c := &jsCluster{t: t}
	t.Cleanup(c.shutdown)
	ports := freePorts(t, 3)
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(p))})
	}
	opts := make([]*server.Options, 3)
	for i := range opts {
		opts[i] = &server.Options{
			ServerName: fmt.Sprint("s", i+1),
			Host:       "127.0.0.1",
			Port:       -1,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			Cluster:    server.ClusterOpts{Name: "streamd-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:     routes,
			NoLog:      true,
			NoSigs:     true,
		}
	}
	for _, o := range opts {
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		c.servers = append(c.servers, s)
		if !s.ReadyForConnections(waitTimeout) {
			t.Fatalf("nats-server %s not ready", s.Name())
		}
	}
	c.waitFor("a JetStream meta leader with 3 peers, all current", func() bool {
		leaders := 0
		for _, s := range c.servers {
			if !s.JetStreamIsCurrent() {
				return false
			}
			if s.JetStreamIsLeader() {
				leaders++
				if len(s.JetStreamClusterPeers()) != 3 {
					return false
				}
			}
		}
		return leaders == 1
	})
	return c
}

// freePorts returns n distinct ports of 127.0.0.1 that were free a moment
// ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close() // held until all are chosen, so they differ
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// waitFor polls cond (server state has no notification) until it holds.
func (c *jsCluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *jsCluster) url(i int) string { return c.servers[i].ClientURL() }

// streamLeader returns the index of the running server leading stream, or
// -1.
func (c *jsCluster) streamLeader(stream string) int {
	for i, s := range c.servers {
		if s != nil && s.JetStreamIsStreamLeader("$G", stream) {
			return i
		}
	}
	return -1
}

func (c *jsCluster) stop(i int) {
	c.servers[i].Shutdown()
	c.servers[i].WaitForShutdown()
	c.servers[i] = nil
}

func (c *jsCluster) shutdown() {
	for i, s := range c.servers {
		if s != nil {
			c.stop(i)
		}
	}
}

// publishRetried publishes d, trying again with the same Nats-Msg-Id while
// NATS is unavailable (a leader election, a reconnect), so that JetStream
// stores it once however many attempts reached it. It returns the Seq and
// how many attempts failed.
func publishRetried(ctx context.Context, b *Broker, topic, msgID string, d Delivery) (uint64, int, error) {
	for failed := 0; ; failed++ {
		actx, cancel := withDefaultTimeout(ctx, b.opts.PublishTimeout)
		seq, err := b.publish(actx, topic, msgID, d)
		cancel()
		if err == nil {
			return seq, failed, nil
		}
		if !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			return 0, failed, err
		}
		select {
		case <-time.After(50 * time.Millisecond): // a pause between attempts, not a synchronisation
		case <-ctx.Done():
			return 0, failed, err
		}
	}
}

// TestClusterReplicas3: a JetStream cluster of three servers, the streams
// with Replicas 3 (both: the topics' and the anchors'). Two nodes, each
// connected to a different server, one of them the leader of the topics'
// stream, publish to their own topic at once and both deliver every
// message in one order. Then the stream's leader is shut down while they
// publish (the node connected to it reconnects to another server); each
// node publishes its last third only after that. After a
// bounded wait for a new leader every publish is acknowledged again
// (retried with its Nats-Msg-Id while unavailable, so stored once), both
// nodes deliver every acknowledged message once, in Seq order, and History
// on both nodes is exactly the acknowledged messages, complete.
//
// History may be answered by a follower (direct gets), which can lag the
// leader by a replication round: the check waits until History has as
// many messages as were acknowledged, then compares them exactly.
func TestClusterReplicas3(t *testing.T) {
	c := startCluster(t)
	n1 := newClusterBroker(t, c.url(0))
	// One of the nodes is connected to the stream's leader, which goes
	// later: n1 if its server leads, else n2.
	c.waitFor("a leader of the topics' stream", func() bool { return c.streamLeader(DefaultStream) >= 0 })
	leader := c.streamLeader(DefaultStream)
	n2 := newClusterBroker(t, c.url(max(leader, 1)))
	t.Logf("node 1 on s1, node 2 on s%d; the stream leader is s%d", max(leader, 1)+1, leader+1)
	if n1.Epoch() != n2.Epoch() {
		t.Fatalf("epochs %q, %q; want equal", n1.Epoch(), n2.Epoch())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*waitTimeout)
	defer cancel()
	for _, name := range []string{DefaultStream, DefaultStream + "_TOPICS"} {
		s, err := n1.js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.Replicas; got != 3 {
			t.Fatalf("stream %s has %d replicas; want 3", name, got)
		}
	}
	sinks := []*sink{newSink(), newSink()}
	for i, n := range []*Broker{n1, n2} {
		if err := n.Start(sinks[i].deliver); err != nil {
			t.Fatal(err)
		}
		n.Watch("t1")
		n.Watch("t2")
	}

	const (
		perNode   = 60
		stopAfter = 20 // the leader goes once each node has this many acknowledged
		holdAt    = 40 // a node publishes this one once the leader is gone
	)
	leaderGone := make(chan struct{})
	var (
		mu     sync.Mutex
		acked  []published
		counts [2]int
		failed [2]int
		wg     sync.WaitGroup
	)
	progress := make(chan struct{}, 2*perNode)
	errs := make(chan error, 2)
	for i, n := range []*Broker{n1, n2} {
		wg.Go(func() {
			topic := fmt.Sprint("t", i+1)
			for j := range perNode {
				if j == holdAt {
					select {
					case <-leaderGone:
					case <-ctx.Done():
						errs <- fmt.Errorf("node %d: the leader was not stopped", i+1)
						return
					}
				}
				data := fmt.Sprint(topic, "-", j)
				seq, f, err := publishRetried(ctx, n, topic, "msg-"+data, Delivery{Data: []byte(data), ID: "id-" + data, Event: "ev", Key: "k"})
				if err != nil {
					errs <- fmt.Errorf("node %d, %s: %w", i+1, data, err)
					return
				}
				mu.Lock()
				acked = append(acked, published{topic, seq, data})
				counts[i]++
				failed[i] += f
				mu.Unlock()
				progress <- struct{}{}
			}
		})
	}
	enough := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return counts[0] >= stopAfter && counts[1] >= stopAfter
	}
	for !enough() {
		select {
		case <-progress:
		case err := <-errs:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal("timed out waiting for the first publishes")
		}
	}
	if l := c.streamLeader(DefaultStream); l != leader {
		// An election meanwhile (a loaded machine): stop the leader of now.
		c.waitFor("a leader of the topics' stream", func() bool { return c.streamLeader(DefaultStream) >= 0 })
		t.Logf("the stream's leader moved from s%d to s%d", leader+1, c.streamLeader(DefaultStream)+1)
		leader = c.streamLeader(DefaultStream)
	}
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	c.stop(leader)
	close(leaderGone)
	c.waitFor("a new leader of the topics' stream", func() bool { return c.streamLeader(DefaultStream) >= 0 })
	t.Logf("stopped server s%d, the stream leader, after %d acknowledged publishes; new leader s%d",
		leader+1, before, c.streamLeader(DefaultStream)+1)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("publishes that failed and were retried: node 1 %d, node 2 %d", failed[0], failed[1])

	sortPublished(acked)
	if len(acked) != 2*perNode {
		t.Fatalf("%d publishes acknowledged; want %d", len(acked), 2*perNode)
	}
	for i := 1; i < len(acked); i++ {
		if acked[i].seq == acked[i-1].seq {
			t.Fatalf("two publishes acknowledged with Seq %d: %v, %v", acked[i].seq, acked[i-1], acked[i])
		}
	}
	last := acked[len(acked)-1].seq
	for i, s := range sinks {
		t.Run(fmt.Sprint("deliveries of node ", i+1), func(t *testing.T) {
			checkDeliveries(t, s.waitSeq(t, last), acked)
		})
	}
	for i, n := range []*Broker{n1, n2} {
		t.Run(fmt.Sprint("History on node ", i+1), func(t *testing.T) {
			var ds []Delivery
			var complete bool
			c.waitFor(fmt.Sprintf("History on node %d to reach Seq %d", i+1, last), func() bool {
				var err error
				ds, complete, err = n.History(ctx, []string{"t1", "t2"}, 0, 1000)
				if err != nil {
					t.Logf("History: %v", err) // while a connection moves to another server
					return false
				}
				return len(ds) >= len(acked)
			})
			if !complete {
				t.Errorf("History complete = false; want true")
			}
			checkDeliveries(t, ds, acked)
		})
	}
}

// newClusterBroker returns a broker with Replicas 3 on the server at url,
// closed at the end of the test.
func newClusterBroker(t testing.TB, url string) *Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	b, err := New(ctx, Options{URLs: []string{url}, Replicas: 3})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}
