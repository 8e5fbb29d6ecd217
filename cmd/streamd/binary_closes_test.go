package main

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The real binary's close reasons and its in-memory topic ids across a
// restart. See binary_test.go for the helpers.

// TestBinaryClosesByReason: /metrics counts closed connections by reason
// (streamd_connections_closed_total{reason=...}) as the loop's
// Stats().Closes does. A silent connection is closed at the default
// ReadHeaderTimeout (10 s; the binary has no flag for it) as
// header_timeout, and a client leaving an SSE stream counts as peer.
func TestBinaryClosesByReason(t *testing.T) {
	c := startChild(t, freeAddr(t), startOpts{})
	closes := func(reason string) float64 {
		return metricValue(t, c.base, `streamd_connections_closed_total{reason="`+reason+`"}`)
	}
	headerBefore, peerBefore := closes("header_timeout"), closes("peer")

	// A client that leaves its stream.
	r := openSSE(t, c.base, "/sse/clock", "")
	if ev := r.next(); ev.Type != "time" {
		t.Fatalf("first clock event = %+v", ev)
	}
	_ = r.conn.Close()

	// A client that connects and says nothing.
	silent, err := net.DialTimeout("tcp", c.addr, binaryTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	_ = silent.SetReadDeadline(time.Now().Add(binaryTimeout))
	b, err := io.ReadAll(silent)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("silent connection: %v after %q; want the server to close it", err, b)
	}
	if len(b) != 0 {
		t.Errorf("silent connection got %q; want a close without a response", b)
	}

	// The counters are updated before the close: both are in by now.
	deadline := time.Now().Add(binaryTimeout)
	for {
		h, p := closes("header_timeout"), closes("peer")
		if h == headerBefore+1 && p >= peerBefore+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("closes: header_timeout %v → %v (want +1), peer %v → %v (want at least +1)", headerBefore, h, peerBefore, p)
		}
		time.Sleep(50 * time.Millisecond) // polling /metrics, not synchronisation
	}
	c.signal(syscall.SIGTERM)
	if code := c.wait(binaryTimeout); code != 0 {
		t.Fatalf("streamd exited %d after SIGTERM; want 0", code)
	}
}

// TestBinaryRestartResetsInMemoryIDs: without -store, topic history lives
// in the process. A client resuming after a restart with an id of the old
// process (Last-Event-ID) must be told so, with "event: reset" first, and
// then get the new process's whole ring and the live events: never a
// silent gap, and never the new events taken as already seen.
func TestBinaryRestartResetsInMemoryIDs(t *testing.T) {
	addr := freeAddr(t)
	old := startChild(t, addr, startOpts{})
	r := openSSE(t, old.base, "/sse/chat", "")
	var lastID string
	for _, m := range []string{"old-1", "old-2", "old-3"} {
		ssePostChat(t, old.base, m)
		ev := r.next()
		if ev.Type != "chat" || !strings.Contains(ev.Data, `"text":"`+m+`"`) || ev.ID == "" {
			t.Fatalf("event for %q = %+v; want an event: chat with its text and an id", m, ev)
		}
		lastID = ev.ID
	}
	old.signal(syscall.SIGTERM)
	if code := old.wait(binaryTimeout); code != 0 {
		t.Fatalf("streamd exited %d after SIGTERM; want 0", code)
	}
	if err := endsCleanly(r); err != nil {
		t.Errorf("stream of the old process: %v", err)
	}

	next := startChild(t, addr, startOpts{})
	for _, m := range []string{"new-1", "new-2"} {
		ssePostChat(t, next.base, m)
	}
	r = openSSE(t, next.base, "/sse/chat", lastID)
	if ev := r.next(); ev.Type != "reset" {
		t.Fatalf("first event after resuming from %q of the old process = %+v; want event: reset", lastID, ev)
	}
	for _, m := range []string{"new-1", "new-2"} {
		ev := r.next()
		if ev.Type != "chat" || !strings.Contains(ev.Data, `"text":"`+m+`"`) {
			t.Fatalf("after the reset: %+v; want the ring's %q", ev, m)
		}
		if ev.ID == "" || ev.ID == lastID {
			t.Errorf("ring event %q has id %q; want a new process's id", m, ev.ID)
		}
	}
	ssePostChat(t, next.base, "new-3")
	if ev := r.next(); ev.Type != "chat" || !strings.Contains(ev.Data, `"text":"new-3"`) {
		t.Fatalf("live event after the ring = %+v; want \"new-3\"", ev)
	}
	next.signal(syscall.SIGTERM)
	if code := next.wait(binaryTimeout); code != 0 {
		t.Fatalf("new streamd exited %d after SIGTERM; want 0", code)
	}
}
