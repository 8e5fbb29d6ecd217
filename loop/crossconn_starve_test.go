package loop_test

import (
	"bufio"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
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

// kernelSlack bounds the bytes the kernel can hold for one loopback
// connection: the server's send buffer at its largest plus the client's
// small receive buffer (doubled by the kernel) and its window slack.
func kernelSlack() int {
	slack := 4 << 20
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 3 {
			if n, err := strconv.Atoi(f[2]); err == nil {
				slack = n
			}
		}
	}
	return slack + 64*smallRcvBuf
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
	addr := startCross(t, cfg, func(s *loop.Server) {
		s.GET("/hello", func(c *loop.Ctx) { c.Text(200, "hello") })
		s.GET("/events", func(c *loop.Ctx) {
			sse.Open(c, sse.Options{Heartbeat: -1, MaxBuffered: maxBuffered}, func(st *sse.Stream) {
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

	// The round trips start while the producer fills its buffer.
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
	}
	if !reading {
		waitUntil(t, "a dropped send", func() bool { return counts.dropped.Load() > 0 })
	}
	stopProducer()
	select {
	case <-producerDone:
	case <-time.After(3 * testsrv.Timeout):
		t.Fatal("producer did not stop")
	}
	t.Logf("producer: %v", counts)
	admitted := counts.written.Load() + counts.queued.Load()

	var total int64
	if reading {
		if err := <-readerDone; err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("producer's client: %v", err)
		}
		total = received.Load()
	} else {
		if b := admitted * int64(len(frame)); b > int64(maxBuffered+kernelSlack()) {
			t.Errorf("%d bytes admitted to a client that reads nothing; want at most MaxBuffered (%d) plus what the kernel holds (%d)",
				b, maxBuffered, kernelSlack())
		}
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
// loop's other connection gets all its 100 answers, and the producer is
// told Dropped once MaxBuffered is reached instead of growing the queue.
func TestCrossProducerCannotStarveLoop(t *testing.T) {
	starveCase(t, false)
}

// TestCrossProducerReadingClientCannotStarveLoop is the same with a client
// that reads as fast as it can, so MaxBuffered is never reached and the
// producer is never told to back off: the loop must still serve its other
// connection between the producer's batches.
func TestCrossProducerReadingClientCannotStarveLoop(t *testing.T) {
	starveCase(t, true)
}
