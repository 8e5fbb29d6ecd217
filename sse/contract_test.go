package sse

import (
	"slices"
	"strings"
	"testing"
	"time"

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
	closed := make(chan struct{})
	s.OnClose(func() { close(closed) })
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
	s.Leave("t")
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
}
