package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestBinaryNodeKilledClientsResumeElsewhere: two streamd nodes, A and B,
// share topics through one NATS JetStream server. 20 SSE chat clients
// follow /sse/chat on A while a publisher posts numbered messages through
// B (each POST must answer 204). A is killed with SIGKILL mid-stream: no
// graceful end, its sockets just close. Every client then reconnects to B
// with the Last-Event-ID it last saw (applied when an event is complete,
// as EventSource does), after the publisher has moved on, so each has
// messages to catch up on. B had no chat subscriber: its ring is empty,
// the first client's catch-up comes from JetStream's history, and B's
// consumer then delivers the topic from where B started, so later clients
// arrive with ids that B's hub has not been delivered yet (this test found
// that they were sent those messages again). In the end every client has
// received every message exactly once, in order, with increasing ids of
// one epoch, and no event: reset.
func TestBinaryNodeKilledClientsResumeElsewhere(t *testing.T) {
	const (
		clients = 20
		total   = 300 // numbered messages, "1" … "300"
		killAt  = 100 // A dies once every client has this many
		holdAt  = 200 // the publisher waits here until A is dead, so A dies mid-stream
		catchUp = 25  // a client reconnects once this many more were published
	)
	natsURL := startNATS(t)
	a := startChild(t, freeAddr(t), startOpts{args: []string{"-nats", natsURL}})
	b := startChild(t, freeAddr(t), startOpts{args: []string{"-nats", natsURL}})
	a.waitLog("topics shared through NATS JetStream")
	b.waitLog("topics shared through NATS JetStream")

	ctx, cancel := context.WithCancel(context.Background())
	progress := newCond() // signalled by the publisher and the clients
	var published atomic.Int64
	cs := make([]*failoverClient, clients)
	for i := range cs {
		c, err := dialFailoverClient(a.addr, total, progress)
		if err != nil {
			cancel()
			t.Fatalf("client %d on A: %v", i, err)
		}
		cs[i] = c
	}
	var wg sync.WaitGroup
	defer func() {
		cancel()
		for _, c := range cs {
			c.stop()
		}
		wg.Wait()
	}()
	for _, c := range cs {
		wg.Go(func() {
			c.run(func(lastSeen int) (string, bool) {
				// Reconnect to B once the publisher has moved on, so
				// that the client has missed messages to catch up on.
				want := int64(min(lastSeen+catchUp, total))
				return b.addr, progress.wait(ctx, func() bool { return published.Load() >= want })
			})
		})
	}

	// Every client follows the topic on A: a message posted on B before
	// the numbered ones reaches all of them.
	chatPost(t, b.base, "ready")
	waitClients(t, ctx, cs, progress, `every client got "ready"`, func(c *failoverClient) bool { return c.got() >= 0 })

	killed := make(chan struct{})
	pubErr := make(chan error, 1)
	wg.Go(func() {
		pubErr <- publishNumbered(ctx, b.base, total, holdAt, killed, func(n int) {
			published.Store(int64(n))
			progress.signal()
		})
	})

	waitClients(t, ctx, cs, progress, fmt.Sprintf("every client got %d messages on A", killAt), func(c *failoverClient) bool { return c.got() >= killAt })
	a.signal(syscall.SIGKILL)
	a.wait(binaryTimeout)
	close(killed)
	t.Logf("A killed with %d of %d messages published", published.Load(), total)

	select {
	case err := <-pubErr:
		if err != nil {
			t.Fatalf("publisher on B: %v", err)
		}
	case <-time.After(4 * binaryTimeout):
		t.Fatalf("publisher on B not done; %d published", published.Load())
	}
	// A last message: a client that has it has read everything before it,
	// so nothing can arrive twice unseen after the check.
	chatPost(t, b.base, "end")
	waitClients(t, ctx, cs, progress, `every client got "end"`, func(c *failoverClient) bool { return c.finished() })

	for i, c := range cs {
		c.mu.Lock()
		reconnects, resumedAfter := c.reconnects, c.resumedAfter
		c.mu.Unlock()
		if reconnects != 1 {
			t.Errorf("client %d reconnected %d times; want once, to B", i, reconnects)
		}
		// A died before the publisher posted holdAt.
		if resumedAfter < killAt || resumedAfter >= holdAt {
			t.Errorf("client %d resumed after message %d; want one in [%d, %d)", i, resumedAfter, killAt, holdAt)
		}
	}
	b.signal(syscall.SIGTERM)
	if code := b.wait(binaryTimeout); code != 0 {
		t.Fatalf("streamd B exited %d after SIGTERM; want 0", code)
	}
}

// publishNumbered posts "1" … "total" to the chat through base, one at a
// time, calling done after each 204. Before posting holdAt it waits until
// hold is closed.
func publishNumbered(ctx context.Context, base string, total, holdAt int, hold <-chan struct{}, done func(n int)) error {
	client := &http.Client{Timeout: binaryTimeout}
	defer client.CloseIdleConnections()
	for n := 1; n <= total; n++ {
		if n == holdAt {
			select {
			case <-hold:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/chat", strings.NewReader(url.Values{"message": {strconv.Itoa(n)}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("message %d: %w", n, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 {
			return fmt.Errorf("message %d: POST /chat answered %d; want 204", n, resp.StatusCode)
		}
		done(n)
	}
	return nil
}

// waitClients waits until cond holds for every client; it fails at once
// when one of them saw something wrong.
func waitClients(t *testing.T, ctx context.Context, cs []*failoverClient, progress *cond, what string, cond func(*failoverClient) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 4*binaryTimeout)
	defer cancel()
	ok := progress.wait(ctx, func() bool {
		all := true
		for _, c := range cs {
			if c.failed() != nil {
				return true
			}
			all = all && cond(c)
		}
		return all
	})
	for i, c := range cs {
		if err := c.failed(); err != nil {
			t.Fatalf("waiting until %s: client %d: %v", what, i, err)
		}
	}
	if !ok {
		var got []int
		for _, c := range cs {
			got = append(got, c.got())
		}
		t.Fatalf("timed out waiting until %s; numbered messages per client: %v", what, got)
	}
}

// cond lets goroutines wait for a condition that others change.
type cond struct {
	mu sync.Mutex
	ch chan struct{} // closed and replaced by signal
}

func newCond() *cond { return &cond{ch: make(chan struct{})} }

// signal wakes the waiters to check their conditions again.
func (c *cond) signal() {
	c.mu.Lock()
	close(c.ch)
	c.ch = make(chan struct{})
	c.mu.Unlock()
}

// wait returns true once ok() holds, false when ctx ends first.
func (c *cond) wait(ctx context.Context, ok func() bool) bool {
	for {
		c.mu.Lock()
		ch := c.ch
		c.mu.Unlock()
		if ok() {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// failoverClient is an SSE chat client that checks what it receives as it
// goes: "ready", then "1" … total in order, then "end"; ids
// "<epoch>-<seq>" of one epoch with increasing seq; no event: reset. When
// its stream breaks it reconnects where run's next says, with the
// Last-Event-ID of the last complete event (as EventSource does: an event
// cut short by the break does not count).
type failoverClient struct {
	total    int
	progress *cond

	mu           sync.Mutex
	conn         net.Conn
	br           *bufio.Reader
	stopped      bool
	err          error  // a violation, or a failed reconnect
	next         int    // the number expected next; 0: "ready"; total+1: "end"
	done         bool   // "end" received
	lastID       string // of the last complete event
	epoch        string
	seq          uint64
	reconnects   int
	resumedAfter int // the last number received before reconnecting
}

var errStopped = errors.New("client stopped")

func dialFailoverClient(addr string, total int, progress *cond) (*failoverClient, error) {
	c := &failoverClient{total: total, progress: progress}
	if err := c.connect(addr, ""); err != nil {
		return nil, err
	}
	return c, nil
}

// connect opens /sse/chat on addr and reads the response head.
func (c *failoverClient) connect(addr, lastID string) error {
	conn, err := net.DialTimeout("tcp", addr, binaryTimeout)
	if err != nil {
		return err
	}
	req := "GET /sse/chat HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n"
	if lastID != "" {
		req += "Last-Event-ID: " + lastID + "\r\n"
	}
	_ = conn.SetDeadline(time.Now().Add(binaryTimeout))
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		conn.Close()
		return err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		conn.Close()
		return err
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		conn.Close()
		return fmt.Errorf("GET /sse/chat: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		conn.Close()
		return errStopped
	}
	c.conn, c.br = conn, br
	return nil
}

// run reads events until "end", a violation, or stop. When the stream
// breaks, next (given the last number received) names the address to
// reconnect to; false gives up.
func (c *failoverClient) run(next func(lastSeen int) (addr string, ok bool)) {
	defer c.progress.signal()
	for {
		err := c.read()
		if err == nil || errors.Is(err, errStopped) {
			return
		}
		var v violation
		if errors.As(err, &v) {
			c.fail(err)
			return
		}
		c.mu.Lock()
		c.conn.Close()
		c.reconnects++
		c.resumedAfter = max(c.next-1, 0)
		lastSeen, lastID := c.resumedAfter, c.lastID
		c.mu.Unlock()
		addr, ok := next(lastSeen)
		if !ok {
			c.fail(fmt.Errorf("stream broke (%v) and no node to reconnect to", err))
			return
		}
		if err := c.connect(addr, lastID); err != nil {
			if !errors.Is(err, errStopped) {
				c.fail(fmt.Errorf("reconnect to %s with Last-Event-ID %q: %w", addr, lastID, err))
			}
			return
		}
	}
}

// violation is an error in what the server sent, as opposed to the
// stream breaking.
type violation struct{ msg string }

func (v violation) Error() string { return v.msg }

// read consumes the current stream: nil after "end", a violation, or the
// error that broke the stream.
func (c *failoverClient) read() error {
	c.mu.Lock()
	conn, br := c.conn, c.br
	c.mu.Unlock()
	var typ, id string
	var data []string
	idSet := false
	for {
		// A chat stream gets a heartbeat every 15 s: silence for longer
		// than binaryTimeout is a failure, not a break to resume from.
		_ = conn.SetReadDeadline(time.Now().Add(binaryTimeout))
		line, err := br.ReadString('\n')
		if err != nil {
			c.mu.Lock()
			stopped := c.stopped
			c.mu.Unlock()
			if stopped {
				return errStopped
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return violation{fmt.Sprintf("no event for %v", binaryTimeout)}
			}
			return err
		}
		line = strings.TrimSuffix(line, "\n")
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				typ = value
			case "data":
				data = append(data, value)
			case "id":
				id, idSet = value, true
			}
			continue
		}
		// A blank line completes the event: only now does its id count.
		if idSet {
			c.mu.Lock()
			c.lastID = id
			c.mu.Unlock()
		}
		if data != nil {
			end, err := c.event(typ, id, strings.Join(data, "\n"))
			c.progress.signal()
			if err != nil || end {
				return err
			}
		}
		typ, id, data, idSet = "", "", nil, false
	}
}

// event checks one complete event; end reports "end".
func (c *failoverClient) event(typ, id, data string) (end bool, err error) {
	if typ != "chat" {
		return false, violation{fmt.Sprintf("event %q (data %q); want only chat events", typ, data)}
	}
	var m struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		return false, violation{fmt.Sprintf("chat data %q: %v", data, err)}
	}
	epoch, seqText, ok := strings.Cut(id, "-")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !ok || err != nil || epoch == "" {
		return false, violation{fmt.Sprintf("event id %q; want <epoch>-<seq>", id)}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != "" && (epoch != c.epoch || seq <= c.seq) {
		return false, violation{fmt.Sprintf("id %q after %s-%d; want one epoch, increasing seq", id, c.epoch, c.seq)}
	}
	c.epoch, c.seq = epoch, seq
	want := strconv.Itoa(c.next)
	switch {
	case c.next == 0:
		want = "ready"
	case c.next > c.total:
		want = "end"
	}
	if m.Text != want {
		return false, violation{fmt.Sprintf("message %q (id %s); want %q", m.Text, id, want)}
	}
	c.next++
	c.done = want == "end"
	return c.done, nil
}

// got returns how many numbered messages the client has received; -1
// before "ready".
func (c *failoverClient) got() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return min(c.next-1, c.total)
}

func (c *failoverClient) finished() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

func (c *failoverClient) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *failoverClient) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.progress.signal()
}

// stop ends run: it closes the stream, so a read in progress returns.
func (c *failoverClient) stop() {
	c.mu.Lock()
	c.stopped = true
	if c.conn != nil {
		c.conn.Close()
	}
	c.mu.Unlock()
}
