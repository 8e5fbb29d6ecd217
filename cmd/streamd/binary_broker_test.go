package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"testing"

	"github.com/chromedp/chromedp"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/streamd/streamd/cmd/streamd/internal/e2e"
)

// startNATS runs a nats-server with JetStream in the test process on a
// free port of 127.0.0.1, stopped at the end of the test, and returns its
// client URL.
func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(binaryTimeout) {
		t.Fatal("nats-server not ready")
	}
	return ns.ClientURL()
}

// chatPost posts a chat message and checks the 204.
func chatPost(t *testing.T, base, msg string) {
	t.Helper()
	c := &http.Client{Timeout: binaryTimeout}
	resp, err := c.PostForm(base+"/chat", url.Values{"message": {msg}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("POST /chat %q: %d", msg, resp.StatusCode)
	}
}

// TestBinaryStoreResumesAcrossRestart: with -store, topic history lives on
// disk (an embedded NATS JetStream store): a client that resumes with the
// Last-Event-ID it saw before a restart gets exactly the messages it
// missed — no reset, no gap, no duplicate — although the new process's
// rings are empty (they come from the store).
func TestBinaryStoreResumesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	old := startChild(t, addr, startOpts{args: []string{"-store", dir}})
	old.waitLog("topic history kept on disk")
	r := openSSE(t, old.base, "/sse/chat", "")
	for _, m := range []string{"one", "two", "three"} {
		chatPost(t, old.base, m)
	}
	var ids []string
	for _, want := range []string{"one", "two", "three"} {
		ev := r.next()
		if got := chatText(t, ev); got != want {
			t.Fatalf("live message %q; want %q", got, want)
		}
		ids = append(ids, ev.ID)
	}
	old.signal(syscall.SIGTERM)
	if code := old.wait(binaryTimeout); code != 0 {
		t.Fatalf("streamd exited %d after SIGTERM; want 0", code)
	}

	next := startChild(t, addr, startOpts{args: []string{"-store", dir}})
	next.waitLog("topic history kept on disk")
	chatPost(t, next.base, "four")
	chatPost(t, next.base, "five")
	// The client saw "one" before the restart.
	r2 := openSSE(t, next.base, "/sse/chat", ids[0])
	for _, want := range []string{"two", "three", "four", "five"} {
		ev := r2.next()
		if ev.Type == "reset" {
			t.Fatalf("reset after a restart with -store; want the missed messages")
		}
		if got := chatText(t, ev); got != want {
			t.Fatalf("resumed message %q; want %q", got, want)
		}
	}
	chatPost(t, next.base, "six")
	if got := chatText(t, r2.next()); got != "six" {
		t.Fatalf("live message after the replay %q; want six", got)
	}
	next.signal(syscall.SIGTERM)
	if code := next.wait(binaryTimeout); code != 0 {
		t.Fatalf("streamd exited %d after SIGTERM; want 0", code)
	}
}

// TestBinaryTwoNodesShareTopics: two streamd processes with -nats share
// topics through a real NATS JetStream server: a message posted on either
// node reaches subscribers on both, in order, with the same ids, and a
// client of A resumes on B with A's id exactly.
func TestBinaryTwoNodesShareTopics(t *testing.T) {
	natsURL := startNATS(t)
	a := startChild(t, freeAddr(t), startOpts{args: []string{"-nats", natsURL}})
	b := startChild(t, freeAddr(t), startOpts{args: []string{"-nats", natsURL}})
	a.waitLog("topics shared through NATS JetStream")
	b.waitLog("topics shared through NATS JetStream")
	ra := openSSE(t, a.base, "/sse/chat", "")
	rb := openSSE(t, b.base, "/sse/chat", "")
	// A node's NATS consumer starts after the stream's last message when
	// the node starts, and when a client joins a topic it takes that
	// topic from its last delivered sequence on: every message posted
	// after both nodes started reaches both, however late the join.
	var ids []string
	for i, m := range []string{"a1", "b2", "a3"} {
		node := a
		if i == 1 {
			node = b
		}
		chatPost(t, node.base, m)
	}
	for _, want := range []string{"a1", "b2", "a3"} {
		ea, eb := ra.next(), rb.next()
		if chatText(t, ea) != want || chatText(t, eb) != want || ea.ID != eb.ID {
			t.Fatalf("node A got %+v, node B %+v; want %q with one id", ea, eb, want)
		}
		ids = append(ids, ea.ID)
	}
	// A client of A that saw a1 resumes on B.
	r := openSSE(t, b.base, "/sse/chat", ids[0])
	for _, want := range []string{"b2", "a3"} {
		if got := chatText(t, r.next()); got != want {
			t.Fatalf("resumed on B: %q; want %q", got, want)
		}
	}
	for _, c := range []*child{a, b} {
		c.signal(syscall.SIGTERM)
		if code := c.wait(binaryTimeout); code != 0 {
			t.Fatalf("streamd exited %d; want 0", code)
		}
	}
}

// TestE2EBrowserChatTwoNodes: the chat page open on node A in one tab and
// on node B in another (two streamd processes sharing topics through
// NATS JetStream): a message typed in either tab shows in both, in one
// order.
func TestE2EBrowserChatTwoNodes(t *testing.T) {
	natsURL := startNATS(t)
	a := startChild(t, freeAddr(t), startOpts{args: []string{"-nats", natsURL}})
	b := startChild(t, freeAddr(t), startOpts{args: []string{"-nats", natsURL}})
	tabA := e2e.NewBrowser(t)
	tabB := e2e.NewTab(t, tabA)
	for tab, base := range map[context.Context]string{tabA: a.base, tabB: b.base} {
		e2e.Run(t, tab, browserWait, chromedp.Navigate(base+"/chat/sse"))
		e2e.WaitJS(t, tab, browserWait, "the chat stream", `document.getElementById("state").textContent === "connected"`)
	}
	var want []string
	send := func(tab context.Context, msg string) {
		t.Helper()
		e2e.Eval[chromedp.Void](t, tab, fmt.Sprintf(`(() => {
			document.getElementById("message").value = %q;
			document.getElementById("form").requestSubmit();
		})()`, msg))
		want = append(want, msg)
		wantJSON, _ := json.Marshal(want)
		for _, tab := range []context.Context{tabA, tabB} {
			e2e.WaitJS(t, tab, browserWait, fmt.Sprintf("%q in both tabs", msg), chatList+" === "+strconv.Quote(string(wantJSON)))
		}
	}
	send(tabA, "hello from node A")
	send(tabB, "and from node B")
	send(tabA, "A again")
}
