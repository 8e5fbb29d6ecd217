package loop_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/streamd/streamd/chunked"
	"github.com/streamd/streamd/internal/testsrv"
	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/sse"
	"github.com/streamd/streamd/ws"
)

// 3. The outcomes goroutine senders are told are true.
// See crossconn_test.go for the helpers.

// outcomeConfig has its high watermark below the streams' MaxBuffered
// (64 KiB), so that producers see Queued as well as Written and Dropped.
func outcomeConfig() loop.Config {
	cfg := crossConfig()
	cfg.HighWatermark, cfg.LowWatermark = 32<<10, 8<<10
	return cfg
}

// outcomeCounts tallies the results of sends.
type outcomeCounts struct {
	written, queued, dropped atomic.Int64
}

func (o *outcomeCounts) add(r loop.WriteResult) {
	switch r {
	case loop.Written:
		o.written.Add(1)
	case loop.Queued:
		o.queued.Add(1)
	default:
		o.dropped.Add(1)
	}
}

func (o *outcomeCounts) String() string {
	return fmt.Sprintf("%d written, %d queued, %d dropped", o.written.Load(), o.queued.Load(), o.dropped.Load())
}

// produced is what a producer goroutine reports when it is done: the
// sequence numbers of the messages it was told were accepted.
type produced struct {
	admitted []int
	counts   *outcomeCounts
}

// producer calls send for 0..n-1 from its own goroutine, then end, and
// reports on done. It closes stalled once it has seen k Dropped in a row
// (the client starts reading then) and yields after each Dropped, so that
// the loop makes room again while the client reads.
type producer struct {
	stalled chan struct{}
	done    chan produced
}

func startProducer(n, k int, send func(i int) loop.WriteResult, end func()) *producer {
	p := &producer{stalled: make(chan struct{}), done: make(chan produced, 1)}
	go func() {
		out := produced{counts: new(outcomeCounts)}
		run, stalled := 0, false
		for i := range n {
			r := send(i)
			out.counts.add(r)
			if r != loop.Dropped {
				run = 0
				out.admitted = append(out.admitted, i)
				continue
			}
			if run++; run == k && !stalled {
				stalled = true
				close(p.stalled)
			}
			runtime.Gosched()
		}
		end()
		p.done <- out
	}()
	return p
}

// waitStalled returns once the producer has stalled or finished; the
// client has read nothing until then.
func (p *producer) waitStalled(t *testing.T) {
	t.Helper()
	select {
	case <-p.stalled:
	case r := <-p.done:
		p.done <- r
	case <-time.After(3 * testsrv.Timeout):
		t.Fatal("producer neither stalled nor finished")
	}
}

func (p *producer) result(t *testing.T) produced {
	t.Helper()
	select {
	case r := <-p.done:
		return r
	case <-time.After(3 * testsrv.Timeout):
		t.Fatal("producer did not finish")
		return produced{}
	}
}

// stalledStream requests a stream on a client with a small receive
// buffer, waits until the stream's producer stalls on backpressure, then
// reads the response head and checks it against wantHead. It returns the
// client, the producer and a reader at the start of the body.
func stalledStream(t *testing.T, addr, req, wantHead string, prodc <-chan *producer) (*peer, *producer, *bufio.Reader) {
	t.Helper()
	cl := dialPeer(t, "client", addr, smallRcvBuf)
	cl.send(req)
	prod := receiveProducer(t, prodc)
	prod.waitStalled(t)
	br := bufio.NewReaderSize(cl.conn, 64<<10)
	_ = cl.conn.SetReadDeadline(time.Now().Add(3 * testsrv.Timeout))
	if head := readHead(t, br); norm([]byte(head)) != wantHead {
		t.Fatalf("head %q; want %q", head, wantHead)
	}
	return cl, prod, br
}

func receiveProducer(t *testing.T, ch <-chan *producer) *producer {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(3 * testsrv.Timeout):
		t.Fatal("the stream did not open")
		return nil
	}
}

// checkAdmitted compares the sequence numbers received with those the
// producer was told were accepted.
func checkAdmitted(t *testing.T, what string, got []int, p produced) {
	t.Helper()
	t.Logf("producer: %v; client received %d %s", p.counts, len(got), what)
	if p.counts.dropped.Load() == 0 {
		t.Errorf("no send was dropped: the test did not reach MaxBuffered")
	}
	if !slices.Equal(got, p.admitted) {
		i := 0
		for i < min(len(got), len(p.admitted)) && got[i] == p.admitted[i] {
			i++
		}
		t.Errorf("received %d %s, admitted (Written or Queued) %d; they first differ at index %d (received %v, admitted %v)",
			len(got), what, len(p.admitted), i, got[i:min(i+5, len(got))], p.admitted[i:min(i+5, len(p.admitted))])
	}
}

// readHead reads a response head (through the blank line).
func readHead(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the response head: %v (so far %q)", err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			return head.String()
		}
	}
}

const (
	outcomeN    = 1500    // messages a producer tries to send
	outcomeK    = 100     // consecutive Dropped after which it stops
	outcomeSize = 4 << 10 // bytes per message
	outcomeMax  = 64 << 10
	smallRcvBuf = 4 << 10
)

// binaryMsg is message i: its number, then a pattern that depends on it.
func binaryMsg(i int) []byte {
	b := make([]byte, outcomeSize)
	binary.BigEndian.PutUint32(b, uint32(i))
	for j := 4; j < len(b); j++ {
		b[j] = byte(i + j)
	}
	return b
}

// TestOutcomeWSSendBinaryFromGoroutine: a goroutine sends 1500 binary
// messages of 4 KiB (MaxBuffered 64 KiB) to a client that reads nothing
// until the goroutine has seen 100 Dropped in a row. Exactly the messages
// reported Written or Queued must arrive, in order and intact, then the
// close frame. Before the shared Sender admission path, a message was
// admitted against a stale view of the queued output (not counting the
// messages posted and not yet written) and then dropped on the loop, after
// the goroutine had been told it was written.
func TestOutcomeWSSendBinaryFromGoroutine(t *testing.T) {
	prodc := make(chan *producer, 1)
	up := &ws.Upgrader{Options: ws.Options{MaxBuffered: outcomeMax, PingInterval: -1, CloseTimeout: 3 * testsrv.Timeout}}
	addr := startCross(t, outcomeConfig(), func(s *loop.Server) {
		s.GET("/ws", func(c *loop.Ctx) {
			up.Upgrade(c, ws.Handler{OnOpen: func(so *ws.Socket) {
				prodc <- startProducer(outcomeN, outcomeK,
					func(i int) loop.WriteResult { return so.SendBinary(binaryMsg(i)) },
					func() { _ = so.Close(1000, "done") })
			}})
		})
	})
	cl, prod, br := stalledStream(t, addr, reqWS("/ws"), headWS, prodc)
	var got []int
	for {
		op, payload, err := readServerFrame(br)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(got), err)
		}
		if op == opClose {
			if want := "\x03\xe8done"; string(payload) != want {
				t.Errorf("close payload %q; want %q", payload, want)
			}
			break
		}
		if op != ws.OpBinary || len(payload) < 4 {
			t.Fatalf("frame %d: opcode %v, %d bytes; want a binary message", len(got), op, len(payload))
		}
		seq := int(binary.BigEndian.Uint32(payload))
		if !bytes.Equal(payload, binaryMsg(seq)) {
			t.Fatalf("message %d (#%d) is not intact", len(got), seq)
		}
		got = append(got, seq)
	}
	checkAdmitted(t, "messages", got, prod.result(t))
	_, _ = io.WriteString(cl.conn, clientClose1000)
	if _, err := io.Copy(io.Discard, br); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("after the close frame: %v; want EOF", err)
	}
}

// readServerFrame reads one unmasked, unfragmented server frame.
func readServerFrame(br *bufio.Reader) (ws.Opcode, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 || h[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("frame header %x: want FIN and no mask", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		if _, err := io.ReadFull(br, e[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err := io.ReadFull(br, e[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		return 0, nil, err
	}
	return ws.Opcode(h[0] & 0x0f), payload, nil
}

// eventData is the data of event i: its number and a filler.
func eventData(i int) string {
	return fmt.Sprintf("%05d:", i) + strings.Repeat(string(rune('a'+i%26)), outcomeSize-6)
}

// TestOutcomeSSESendFromGoroutine is the same for events: exactly the
// events reported Written or Queued arrive, in order and intact, then the
// server closes.
func TestOutcomeSSESendFromGoroutine(t *testing.T) {
	prodc := make(chan *producer, 1)
	addr := startCross(t, outcomeConfig(), func(s *loop.Server) {
		s.GET("/events", func(c *loop.Ctx) {
			sse.Open(c, sse.Options{Heartbeat: -1, MaxBuffered: outcomeMax}, func(st *sse.Stream) {
				prodc <- startProducer(outcomeN, outcomeK,
					func(i int) loop.WriteResult { return st.Send(eventData(i)) },
					st.Close)
			})
		})
	})
	_, prod, br := stalledStream(t, addr, reqKeep("/events"), headSSE, prodc)
	var got []int
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF && line == "" {
			break
		}
		if err != nil {
			t.Fatalf("after %d events: %v (partial line %.40q)", len(got), err, line)
		}
		blank, err := br.ReadString('\n')
		if err != nil || blank != "\n" {
			t.Fatalf("event %d: %.40q then %q, %v; want one data line and a blank line", len(got), line, blank, err)
		}
		seq, err := strconv.Atoi(strings.TrimPrefix(line[:min(len(line), 11)], "data: "))
		if err != nil || line+blank != sseData(eventData(seq)) {
			t.Fatalf("event %d: %.40q is not intact", len(got), line)
		}
		got = append(got, seq)
	}
	checkAdmitted(t, "events", got, prod.result(t))
}

// TestOutcomeChunkedGoWrites: chunked.Go's Write blocks under backpressure
// instead of dropping, so a body of 1500 × 4 KiB written to a client that
// starts reading late arrives complete and exact.
func TestOutcomeChunkedGoWrites(t *testing.T) {
	cfg := outcomeConfig()
	var progress atomic.Int64
	errc := make(chan error, 1)
	addr := startCross(t, cfg, func(s *loop.Server) {
		s.GET("/body", func(c *loop.Ctx) {
			chunked.Go(c, chunked.Options{}, func(w *chunked.Writer) error {
				for i := range outcomeN {
					if _, err := w.Write(binaryMsg(i)); err != nil {
						errc <- fmt.Errorf("Write %d: %w", i, err)
						return err
					}
					progress.Add(1)
				}
				errc <- nil
				return nil
			})
		})
	})
	cl := dialPeer(t, "client", addr, smallRcvBuf)
	cl.send(reqClose("/body"))
	// Start reading once the producer has written more than the high
	// watermark allows to be queued at once.
	waitUntil(t, "8 writes", func() bool { return progress.Load() >= 8 })

	br := bufio.NewReaderSize(cl.conn, 64<<10)
	_ = cl.conn.SetReadDeadline(time.Now().Add(3 * testsrv.Timeout))
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("body after %d bytes: %v", len(body), err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i := range outcomeN {
		want = append(want, binaryMsg(i)...)
	}
	if !bytes.Equal(body, want) {
		n := 0
		for n < min(len(body), len(want)) && body[n] == want[n] {
			n++
		}
		t.Fatalf("body of %d bytes differs from the %d written at byte %d", len(body), len(want), n)
	}
	if rest, err := io.ReadAll(br); len(rest) > 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
		t.Errorf("after the body: %q, %v; want EOF", rest, err)
	}
}

// waitUntil polls cond with a generous deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * testsrv.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
