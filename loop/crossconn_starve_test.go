// The starvation tests run with and without the race detector. Under
// -race the loop runs slower than the producer, and before the loops had
// their yield connection (yield.go) a Sender that always found its next
// batch waiting re-posted itself from gnet's urgent queue forever: the
// reading-client case then stalled past 10 s.

package loop_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/streamd/streamd/internal/testsrv"
	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/sse"
)

// 4. A producer cannot starve its loop.
// See crossconn_test.go for the helpers.

// queuedOutput returns c's queued output, read on its loop by a control
// task (which must run promptly however busy the loop is).
func queuedOutput(t *testing.T, c *loop.Conn) int {
	t.Helper()
	ch := make(chan int, 1)
	if err := c.PostControl(func(c *loop.Conn) { ch <- c.Buffered() }); err != nil {
		t.Fatalf("PostControl: %v", err)
	}
	select {
	case n := <-ch:
		return n
	case <-time.After(promptly):
		t.Fatalf("a task posted to the loop did not run within %v", promptly)
		return 0
	}
}

// starveCase runs one producer goroutine sending tiny events as fast as
// it can on a stream of the only loop, while another connection makes 100
// GET /hello round trips, each of which must be answered promptly.
func starveCase(t *testing.T, reading bool) {
	cfg := crossConfig()
	cfg.QueueLimit = 64
	const maxBuffered = 64 << 10
	const frame = "data: x\n\n"
	counts := new(outcomeCounts)
	stop := make(chan struct{})
	var stopOnce sync.Once
	stopProducer := func() { stopOnce.Do(func() { close(stop) }) }
	t.Cleanup(stopProducer)
	producerDone := make(chan struct{})
	connc := make(chan *loop.Conn, 1)
	otherc := make(chan *sse.Stream, 1)
	addr := startCross(t, cfg, func(s *loop.Server) {
		s.GET("/hello", func(c *loop.Ctx) { c.Text(200, "hello") })
		s.GET("/other", func(c *loop.Ctx) {
			sse.Open(c, sse.Options{Heartbeat: -1}, func(st *sse.Stream) { otherc <- st })
		})
		s.GET("/events", func(c *loop.Ctx) {
			sse.Open(c, sse.Options{Heartbeat: -1, MaxBuffered: maxBuffered}, func(st *sse.Stream) {
				connc <- st.Conn()
				go func() {
					defer close(producerDone)
					for {
						select {
						case <-stop:
							st.Close()
							return
						default:
						}
						counts.add(st.Send("x"))
					}
				}()
			})
		})
	})

	rcv := smallRcvBuf
	if reading {
		rcv = 0
	}
	prod := dialPeer(t, "producer", addr, rcv)
	prod.send(reqKeep("/events"))
	var received atomic.Int64 // bytes the producer's client read
	readerDone := make(chan error, 1)
	if reading {
		go func() {
			_ = prod.conn.SetReadDeadline(time.Now().Add(10 * testsrv.Timeout))
			n, err := io.Copy(io.Discard, prod.conn)
			received.Store(n)
			readerDone <- err
		}()
	}

	var pconn *loop.Conn
	select {
	case pconn = <-connc:
	case <-time.After(promptly):
		t.Fatal("the event stream did not open")
	}

	// Another stream of the loop, fed from this goroutine: its sends must
	// be admitted however hard the producer pushes (its own output is
	// empty), not refused because the producer filled the loop's queue.
	o := dialPeer(t, "other", addr, 0)
	o.send(reqKeep("/other"))
	var other *sse.Stream
	select {
	case other = <-otherc:
	case <-time.After(promptly):
		t.Fatal("the other event stream did not open")
	}
	o.readUntil("\r\n\r\n")
	otherWant := norm(o.got)

	// The round trips start while the producer fills its buffer. After
	// each, the producer's queued output on the server is sampled on the
	// loop: MaxBuffered bounds it, whatever the producer does.
	peak, refused := 0, 0
	q := dialPeer(t, "client", addr, 0)
	const want = "HTTP/1.1 200 OK\r\nServer: streamd\r\nDate: *\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Length: 5\r\n\r\nhello"
	for i := range 100 {
		start := len(q.got)
		q.send(reqKeep("/hello"))
		q.readUntil("hello") // the body, which ends the response
		if got := norm(q.got[start:]); q.mark != len(q.got) || got != want {
			t.Fatalf("round trip %d: received %q; want %q", i, got, want)
		}
		peak = max(peak, queuedOutput(t, pconn))

		ev := fmt.Sprintf("o%d", i)
		if other.Send(ev) == loop.Dropped {
			refused++
			continue
		}
		otherWant += sseData(ev)
		o.readUntil(sseData(ev))
	}
	if refused > 0 {
		t.Errorf("the other stream's sends were refused (Dropped) %d times of 100, with nothing queued on it", refused)
	}
	if got := norm(o.got); got != otherWant {
		t.Errorf("the other stream received\n\t%q\nwant\n\t%q", got, otherWant)
	}
	if !reading {
		// Go on until the kernel's buffers are full and output queues on
		// the server (up to the 4 MiB of tcp_wmem at a few MB/s under
		// -race), then look at the queue a while longer.
		waitUntil(t, "output queued on the server", func() bool {
			peak = max(peak, queuedOutput(t, pconn))
			return peak > 0 && counts.dropped.Load() > 0
		})
		for range 100 {
			peak = max(peak, queuedOutput(t, pconn))
		}
	}
	if peak > maxBuffered {
		t.Errorf("the producer's queued output reached %d bytes; MaxBuffered is %d", peak, maxBuffered)
	}
	stopProducer()
	select {
	case <-producerDone:
	case <-time.After(3 * testsrv.Timeout):
		t.Fatal("producer did not stop")
	}
	t.Logf("producer: %v; peak queued output %d bytes", counts, peak)
	admitted := counts.written.Load() + counts.queued.Load()

	var total int64
	if reading {
		if err := <-readerDone; err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("producer's client: %v", err)
		}
		total = received.Load()
	} else {
		br := bufio.NewReaderSize(prod.conn, 64<<10)
		_ = prod.conn.SetReadDeadline(time.Now().Add(3 * testsrv.Timeout))
		n, err := io.Copy(io.Discard, br)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("producer's client: %v", err)
		}
		total = n
	}
	head := int64(len(headSSE) - len("*") + len("Mon, 02 Jan 2006 15:04:05 GMT"))
	if events := (total - head) / int64(len(frame)); total < head || (total-head)%int64(len(frame)) != 0 || events != admitted {
		t.Errorf("the producer's client received %d bytes (%d events after the head); %d events were admitted (%v)",
			total, (total-head)/int64(len(frame)), admitted, counts)
	}
}

// TestCrossProducerCannotStarveLoop: QueueLimit 64, one loop, a goroutine
// sends tiny events as fast as it can to a client that reads nothing. The
// loop's other connections get all their 100 answers and 100 events from
// a goroutine of the test (none refused), the producer is told
// Dropped once MaxBuffered is reached, its queued output (sampled on the
// loop) never exceeds MaxBuffered, and its client finally receives exactly
// the events that were admitted.
func TestCrossProducerCannotStarveLoop(t *testing.T) {
	starveCase(t, false)
}

// TestCrossProducerReadingClientCannotStarveLoop is the same with a client
// that reads as fast as it can, so the producer is seldom (or never) told
// to back off: the loop must still serve its other connection between the
// producer's batches.
func TestCrossProducerReadingClientCannotStarveLoop(t *testing.T) {
	starveCase(t, true)
}
