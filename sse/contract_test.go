package sse

import (
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamd/streamd/internal/testsrv"
	"github.com/streamd/streamd/loop"
)

// The tests in this file hold Stream to its per-method concurrency docs:
// a method documented "on the loop" panics with its name elsewhere, and
// every method documented "safe from any goroutine" does its job when
// called from one. The test's own goroutine is never the loop.

// mustPanicNaming calls f and fails unless it panics with a message that
// names name.
func mustPanicNaming(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		msg, _ := r.(string)
		if !strings.Contains(msg, name) {
			t.Errorf("%s off the loop: recovered %v; want a panic naming %s", name, r, name)
		}
	}()
	f()
}

func TestStreamLoopOnlyMethodsPanicOffLoop(t *testing.T) {
	routes, opened := topicRoutes(nil, Options{})
	srv := startServer(t, loop.Config{Loops: 1}, routes)
	c := dialSSE(t, srv, "/events", dialOpts{})
	s := recvStream(t, opened)

	ran := make(chan struct{}, 1)
	mustPanicNaming(t, "Stream.OnDrain", func() { s.OnDrain(func() { ran <- struct{}{} }) })

	// The stream is intact: it still sends, and OnDrain works on the loop.
	if r := s.Send("still here"); r == loop.Dropped {
		t.Fatalf("Send after the panic = %v", r)
	}
	expectData(t, c.events(1), "still here")
	if err := s.Join("t"); !errors.Is(err, ErrNoHub) {
		t.Errorf("Join without Options.Hub = %v; want ErrNoHub", err)
	}
	if err := s.Conn().Post(func(*loop.Conn) { s.OnDrain(func() { ran <- struct{}{} }) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
	case <-time.After(testTimeout):
		t.Fatal("OnDrain registered on the loop never ran")
	}
}

// TestStreamMethodsFromGoroutine calls every method documented safe from
// any goroutine from the test's goroutine and checks what the client sees.
func TestStreamMethodsFromGoroutine(t *testing.T) {
	hub := newHub(t, loop.HubConfig{})
	routes, opened := topicRoutes(hub, Options{})
	srv := startServer(t, loop.Config{Loops: 2}, routes)

	// LastEventID and Conn on a resumed stream (it joins nothing, so no
	// history is involved).
	_ = dialSSE(t, srv, "/events", dialOpts{headers: "Last-Event-ID: 41\r\n"})
	resumed := recvStream(t, opened)
	if got := resumed.LastEventID(); got != "41" {
		t.Errorf("LastEventID() = %q; want 41", got)
	}
	if resumed.Conn() == nil || resumed.Conn().OnLoop() {
		t.Errorf("Conn() = %v (OnLoop %v); want the stream's connection, not this goroutine's loop", resumed.Conn(), resumed.Conn() != nil && resumed.Conn().OnLoop())
	}

	c := dialSSE(t, srv, "/events", dialOpts{})
	s := recvStream(t, opened)
	if err := s.Err(); err != nil {
		t.Errorf("Err() on an open stream = %v; want nil", err)
	}
	closed := make(chan struct{})
	joinAfter := make(chan error, 1)
	s.OnClose(func() {
		joinAfter <- s.Join("t2") // on the loop, after the end
		close(closed)
	})
	done := s.Done()

	s.Send("a")
	if _, err := s.Event("e", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ID("5"); err != nil {
		t.Fatal(err)
	}
	s.Retry(1500 * time.Millisecond)
	s.Comment("note")
	if _, err := s.SendEvent(Event{ID: "6", Event: "x", Data: "c"}); err != nil {
		t.Fatal(err)
	}
	got := c.events(3)
	want := []specEvent{{"message", "a", ""}, {"e", "b", ""}, {"x", "c", "6"}}
	if !sameEvents(got, want) {
		t.Fatalf("events = %+v; want %+v", got, want)
	}
	if !slices.Equal(c.p.retries, []int{1500}) || !slices.Equal(c.p.comments, []string{" note"}) {
		t.Errorf("retries %v, comments %q; want [1500], [\" note\"]", c.p.retries, c.p.comments)
	}

	// Join and Leave from a goroutine are queued on the loop in order with
	// the sends: once the client sees the comment sent after them, they
	// have happened.
	if err := s.Join("t"); err != nil {
		t.Fatalf("Join from a goroutine = %v", err)
	}
	s.Comment("joined")
	c.until("the comment after Join", func(p *specParser) bool { return slices.Contains(p.comments, " joined") })
	if n := hub.TopicStats("t").Subscribers; n != 1 {
		t.Fatalf("Subscribers after Join = %d; want 1", n)
	}
	if _, err := Publish(hub, "t", Event{Data: "published"}); err != nil {
		t.Fatal(err)
	}
	expectData(t, c.events(1), "published")
	if err := s.Leave("t"); err != nil {
		t.Fatalf("Leave from a goroutine = %v", err)
	}
	s.Comment("left")
	c.until("the comment after Leave", func(p *specParser) bool { return slices.Contains(p.comments, " left") })
	if n := hub.TopicStats("t").Subscribers; n != 0 {
		t.Fatalf("Subscribers after Leave = %d; want 0", n)
	}

	select {
	case <-done:
		t.Fatal("Done closed on an open stream")
	default:
	}
	s.Close()
	c.expectEOF()
	_ = c.conn.Close() // the server lingers until the client closes too
	for _, ch := range []<-chan struct{}{done, closed} {
		select {
		case <-ch:
		case <-time.After(testTimeout):
			t.Fatal("Done or the OnClose function did not signal the end")
		}
	}
	if len(c.p.events) != c.next {
		t.Errorf("events after Leave: %+v", c.p.events[c.next:])
	}
	if err := s.Err(); !errors.Is(err, ErrClosed) {
		t.Errorf("Err() after Close = %v; want ErrClosed", err)
	}
	if err := <-joinAfter; !errors.Is(err, ErrClosed) {
		t.Errorf("Join after the end = %v; want ErrClosed", err)
	}
}

// waitDone waits for s to end and returns Err.
func waitDone(t *testing.T, s *Stream) error {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(testTimeout):
		t.Fatal("stream did not end")
	}
	return s.Err()
}

// TestStreamErr provokes every close reason that reaches an SSE stream
// over a real socket and checks that Err reports it. (Input overflow
// cannot happen: a stream consumes and discards whatever the client
// sends.)
func TestStreamErr(t *testing.T) {
	t.Run("peer EOF", func(t *testing.T) {
		routes, opened := topicRoutes(nil, Options{})
		srv := startServer(t, loop.Config{}, routes)
		c := dialSSE(t, srv, "/events", dialOpts{})
		s := recvStream(t, opened)
		_ = c.conn.Close()
		if err := waitDone(t, s); !errors.Is(err, io.EOF) {
			t.Errorf("Err() = %v; want io.EOF", err)
		}
	})
	t.Run("peer reset", func(t *testing.T) {
		testsrv.GnetOnly(t, "net/http does not tell a client's reset from its close (the error is io.EOF)")
		routes, opened := topicRoutes(nil, Options{})
		srv := startServer(t, loop.Config{}, routes)
		c := dialSSE(t, srv, "/events", dialOpts{})
		s := recvStream(t, opened)
		resetConn(t, c.conn)
		err := waitDone(t, s)
		var se *os.SyscallError
		if !errors.Is(err, syscall.ECONNRESET) || !errors.As(err, &se) {
			t.Errorf("Err() = %v; want an *os.SyscallError for ECONNRESET", err)
		}
	})
	t.Run("write timeout", func(t *testing.T) {
		testsrv.GnetOnly(t, "here the kernel takes net/http's writes to a client that does not read (4 KiB receive buffer) whole, so nothing stalls for WriteTimeout within the test")
		routes, opened := topicRoutes(nil, Options{})
		srv := startServer(t, loop.Config{WriteTimeout: 300 * time.Millisecond}, routes)
		_ = dialSSE(t, srv, "/events", dialOpts{rcvBuf: 4096}) // never reads
		s := recvStream(t, opened)
		fillOnLoop(t, s)
		if err := waitDone(t, s); !errors.Is(err, loop.ErrWriteTimeout) {
			t.Errorf("Err() = %v; want loop.ErrWriteTimeout", err)
		}
	})
	t.Run("write timeout after Close", func(t *testing.T) {
		testsrv.GnetOnly(t, "here the kernel takes net/http's writes to a client that does not read (4 KiB receive buffer) whole, so nothing stalls for WriteTimeout within the test")
		// The loop's reason wins over the application's Close when the
		// events queued before it could not be delivered.
		routes, opened := topicRoutes(nil, Options{})
		srv := startServer(t, loop.Config{WriteTimeout: 300 * time.Millisecond}, routes)
		_ = dialSSE(t, srv, "/events", dialOpts{rcvBuf: 4096})
		s := recvStream(t, opened)
		fillOnLoop(t, s)
		s.Close()
		if err := waitDone(t, s); !errors.Is(err, loop.ErrWriteTimeout) {
			t.Errorf("Err() = %v; want loop.ErrWriteTimeout", err)
		}
	})
	t.Run("shutdown", func(t *testing.T) {
		routes, opened := topicRoutes(nil, Options{})
		ts := testsrv.Start(t, loop.Config{}, routes)
		c := dialSSE(t, ts.Server, "/events", dialOpts{})
		s := recvStream(t, opened)
		ts.Cancel()
		c.expectEOF() // the stream ends at once so the client reconnects
		_ = c.conn.Close()
		if err := waitDone(t, s); !errors.Is(err, loop.ErrShutdown) {
			t.Errorf("Err() = %v; want loop.ErrShutdown", err)
		}
	})
	t.Run("slow consumer", func(t *testing.T) {
		hub := newHub(t, loop.HubConfig{Default: loop.TopicConfig{Policy: loop.PolicyClose, Budget: 64 << 10}})
		routes, opened := topicRoutes(hub, Options{})
		srv := startServer(t, loop.Config{}, routes)
		_ = dialSSE(t, srv, "/events?topic=slow", dialOpts{rcvBuf: 4096}) // never reads
		s := recvStream(t, opened)
		publishUntil(t, hub, "slow", nil, func() bool { return hub.TopicStats("slow").Closed >= 1 })
		if err := waitDone(t, s); !errors.Is(err, ErrSlowConsumer) {
			t.Errorf("Err() = %v; want ErrSlowConsumer", err)
		}
	})
}

// fillOnLoop sends on s's loop until the connection's own queue is above
// the high watermark: the kernel's buffers are full, and with a client
// that does not read, the output makes no more progress. (From another
// goroutine the sends would be admitted against the queue as last seen
// by the loop, which a loopback socket's growing send buffer may keep
// empty.)
func fillOnLoop(t *testing.T, s *Stream) {
	t.Helper()
	payload := strings.Repeat("x", 32<<10)
	res := make(chan loop.WriteResult, 1)
	err := s.Conn().Post(func(*loop.Conn) {
		r := loop.Written
		for r == loop.Written {
			r = s.Send(payload)
		}
		res <- r
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		if r != loop.Queued {
			t.Fatalf("filling the stream: %v; want queued", r)
		}
	case <-time.After(testTimeout):
		t.Fatal("filling the stream did not finish")
	}
}

// resetConn closes c with SO_LINGER 0: the kernel sends RST, not FIN.
func resetConn(t *testing.T, c net.Conn) {
	t.Helper()
	tc, ok := c.(*net.TCPConn)
	if !ok {
		t.Fatalf("%T is not a *net.TCPConn", c)
	}
	if err := tc.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	_ = tc.Close()
}

// TestLeaveFromGoroutineReportsFullQueue: a Leave from a goroutine that
// cannot be handed to the loop (its task queue is full) says so instead of
// being lost; once the queue has room, Leave works.
func TestLeaveFromGoroutineReportsFullQueue(t *testing.T) {
	testsrv.GnetOnly(t, "blocks the gnet loop with a task to fill its queue")
	hub := newHub(t, loop.HubConfig{})
	routes, opened := topicRoutes(hub, Options{})
	srv := startServer(t, loop.Config{Loops: 1, QueueLimit: 4}, routes)
	c := dialSSE(t, srv, "/events", dialOpts{})
	s := recvStream(t, opened)
	if err := s.Join("t"); err != nil {
		t.Fatal(err)
	}
	s.Comment("joined")
	c.until("the comment after Join", func(p *specParser) bool { return slices.Contains(p.comments, " joined") })

	blocked, unblock := make(chan struct{}), make(chan struct{})
	l := srv.Loops()[0]
	if err := l.Post(func() { close(blocked); <-unblock }); err != nil {
		t.Fatal(err)
	}
	<-blocked
	for range 64 {
		if err := l.Post(func() {}); err != nil {
			break
		}
	}
	err := s.Leave("t")
	close(unblock)
	if !errors.Is(err, loop.ErrQueueFull) {
		t.Fatalf("Leave with the loop's queue full = %v; want loop.ErrQueueFull", err)
	}
	if n := hub.TopicStats("t").Subscribers; n != 1 {
		t.Fatalf("Subscribers after a refused Leave = %d; want 1", n)
	}
	for s.Leave("t") != nil { // the queue drains
	}
	s.Comment("left")
	c.until("the comment after Leave", func(p *specParser) bool { return slices.Contains(p.comments, " left") })
	if n := hub.TopicStats("t").Subscribers; n != 0 {
		t.Fatalf("Subscribers after Leave = %d; want 0", n)
	}
}
