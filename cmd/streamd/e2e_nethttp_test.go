package main

import (
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/streamd/streamd/cmd/streamd/internal/e2e"
)

// TestE2EBrowserHTTP2ManyStreams: with -backend nethttp over TLS,
// Chromium speaks HTTP/2 to streamd and keeps eight EventSource streams
// open to it at once, each receiving a posted chat message: over HTTP/1.1
// a browser holds at most six connections per origin, so the seventh
// stream would wait.
func TestE2EBrowserHTTP2ManyStreams(t *testing.T) {
	a := startTLSAppBackend(t, 2, "nethttp")
	tab := e2e.NewBrowser(t, e2e.TrustSPKI(a.cert.SPKIHash))
	e2e.Run(t, tab, browserWait, chromedp.Navigate(a.base+"/"))
	if p := e2e.Eval[string](t, tab, `performance.getEntriesByType("navigation")[0].nextHopProtocol`); p != "h2" {
		t.Fatalf("the page came over %q; want h2", p)
	}
	e2e.Eval[chromedp.Void](t, tab, `(() => {
		window.streams = [];
		for (let i = 0; i < 8; i++) {
			const s = { es: new EventSource("/sse/chat"), got: [] };
			s.es.addEventListener("chat", (e) => s.got.push(e.data));
			window.streams.push(s);
		}
	})()`)
	e2e.WaitJS(t, tab, browserWait, "eight open streams", `window.streams.every((s) => s.es.readyState === 1)`)
	waitSubscribers(t, a.sseApp, "chat", 8)
	httpsPostChat(t, a.addr, tlsClient(a.cert), "eight streams at once")
	e2e.WaitJS(t, tab, browserWait, "the message on every stream",
		`window.streams.every((s) => s.got.some((d) => d.includes("eight streams at once")))`)
}

// TestBinaryNetHTTPBackend runs streamd -backend nethttp: a request, an
// SSE stream that gets a posted message, and SIGTERM mid-stream: the
// stream ends cleanly (the client reconnects elsewhere), a chunked
// response still running at the shutdown timeout is cut, and streamd
// exits 0.
func TestBinaryNetHTTPBackend(t *testing.T) {
	const shutdownTimeout = 2 * time.Second
	c := startChild(t, freeAddr(t), startOpts{args: []string{"-backend", "nethttp", "-shutdown-timeout", shutdownTimeout.String()}})
	c.waitLog("backend=nethttp")
	if err := healthz(c.base); err != nil {
		t.Fatalf("healthz: %v", err)
	}
	r := openSSE(t, c.base, "/sse/chat", "")
	ssePostChat(t, c.base, "over net/http")
	for {
		if ev := r.next(); strings.Contains(ev.Data, "over net/http") {
			break
		}
	}
	ch := openChunked(t, c.addr, "n=1000&interval=100ms")
	if err := ch.next(); err != nil {
		t.Fatalf("chunked: %v", err)
	}
	c.signal(syscall.SIGTERM)
	if err := endsCleanly(r); err != nil {
		t.Errorf("SSE stream after SIGTERM: %v", err)
	}
	var err error
	for err == nil {
		err = ch.next()
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("chunked body ended with %v after %d lines; want io.ErrUnexpectedEOF (cut without the terminating chunk)", err, ch.n)
	}
	if code := c.wait(shutdownTimeout + binaryTimeout); code != 0 {
		t.Fatalf("streamd exited %d after SIGTERM; want 0", code)
	}
	if logs := c.logs.String(); strings.Contains(logs, "level=ERROR") {
		t.Errorf("log has errors:\n%s", logs)
	}
}
