package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gorilla "github.com/gorilla/websocket"

	"github.com/streamd/streamd/cmd/streamd/internal/e2e"
	"github.com/streamd/streamd/internal/testcert"
)

// End-to-end tests over TLS: the whole server started by run with
// -tls-cert/-tls-key (a throwaway CA from internal/testcert), reached by
// the third-party clients of the plain-TCP tests, with the same checks:
// the npm ws package over wss:// (with and without permessage-deflate),
// the npm eventsource package over https:// resuming after the server
// ends the stream, headless Chromium loading the chat pages over
// https://, and curl -N.

// tlsApp is the server started by run serving HTTPS with a test
// certificate.
type tlsApp struct {
	*sseApp        // base is https://127.0.0.1:PORT
	addr    string // 127.0.0.1:PORT
	cert    *testcert.Cert
	caFile  string // the CA certificate, PEM
}

func startTLSApp(t *testing.T, loops int) *tlsApp {
	t.Helper()
	c := testcert.New()
	ca, certFile, keyFile, err := c.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ta := startAppConfig(t, config{addr: "127.0.0.1:0", loops: loops, logLevel: slog.LevelInfo,
		shutdownTimeout: 5 * time.Second, tlsCert: certFile, tlsKey: keyFile})
	return &tlsApp{sseApp: &sseApp{app: ta.app, base: ta.base}, addr: strings.TrimPrefix(ta.base, "https://"),
		cert: c, caFile: ca}
}

// nodeEnv is the test's environment without what would make Node trust
// certificates other than the test's CA or skip the check, plus extra.
func nodeEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "NODE_EXTRA_CA_CERTS=") || strings.HasPrefix(kv, "NODE_TLS_REJECT_UNAUTHORIZED=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// TestTLSE2ENodeWS: the npm ws client over wss://, trusting the CA by its
// `ca` option only: echoes up to 70000 bytes (many TLS records each),
// ping/pong, a close handshake with 1000, and chat lines both ways, with
// permessage-deflate negotiated and without.
func TestTLSE2ENodeWS(t *testing.T) {
	node := e2e.Node(t, "ws")
	a := startTLSApp(t, 2)
	for _, deflate := range []bool{true, false} {
		t.Run(fmt.Sprintf("perMessageDeflate=%v", deflate), func(t *testing.T) {
			runNodeWS(t, node, "wss://"+a.addr, deflate, a.caFile, nodeEnv())
		})
	}
}

// TestTLSE2ENodeEventSourceResume: the npm eventsource client over
// https:// (Node trusting the CA through NODE_EXTRA_CA_CERTS) gets every
// chat message exactly once, in order, across a reconnect with
// Last-Event-ID after the server ended the stream.
func TestTLSE2ENodeEventSourceResume(t *testing.T) {
	node := e2e.Node(t, "eventsource")
	a := startTLSApp(t, 2)
	conf := tlsClient(a.cert)
	runNodeEventSourceResume(t, node, a.sseApp, nodeEnv("NODE_EXTRA_CA_CERTS="+a.caFile),
		func(msg string) { httpsPostChat(t, a.addr, conf, msg) })
}

// TestTLSE2EBrowserChatPages: Chromium, trusting the test certificate's
// key, loads both chat pages over https://. The EventSource page shows a
// message the test posts over HTTPS; the WebSocket page (on wss://) shows
// a message a Go client sends over wss://, and the Go client gets the
// page's own message.
func TestTLSE2EBrowserChatPages(t *testing.T) {
	a := startTLSApp(t, 2)
	sseTab := e2e.NewBrowser(t, e2e.TrustSPKI(a.cert.SPKIHash))
	wsTab := e2e.NewTab(t, sseTab)

	e2e.Run(t, sseTab, browserWait, chromedp.Navigate(a.base+"/chat/sse"))
	e2e.WaitJS(t, sseTab, browserWait, "the chat stream", `document.getElementById("state").textContent === "connected"`)
	e2e.Run(t, wsTab, browserWait, chromedp.Navigate(a.base+"/chat/ws"))
	e2e.WaitJS(t, wsTab, browserWait, "the socket to open", `document.getElementById("state").textContent === "connected"`)
	e2e.WaitJS(t, wsTab, browserWait, "the welcome", chatList+` === '["Welcome to the wall"]'`)
	for _, tab := range []context.Context{sseTab, wsTab} {
		if p := e2e.Eval[string](t, tab, `location.protocol`); p != "https:" {
			t.Fatalf("page loaded over %q; want https:", p)
		}
	}

	waitSubscribers(t, a.sseApp, "chat", 1)
	httpsPostChat(t, a.addr, tlsClient(a.cert), "posted over https")
	e2e.WaitJS(t, sseTab, browserWait, "the posted message", chatList+` === '["posted over https"]'`)

	d := gorilla.Dialer{TLSClientConfig: tlsClient(a.cert), HandshakeTimeout: wsTimeout}
	c, _, err := d.Dial("wss://"+a.addr+"/ws/chat", nil)
	if err != nil {
		t.Fatalf("gorilla dial wss: %v", err)
	}
	defer c.Close()
	conn := wsFromGorilla(t, c, "", func(err error) bool { return gorilla.IsCloseError(err, gorilla.CloseNormalClosure) })
	if m, err := conn.recv(); err != nil || string(m.data) != wallWelcome {
		t.Fatalf("Go client's welcome: %q, %v", m.data, err)
	}
	if err := conn.send(wsMsg{data: []byte("sent over wss")}); err != nil {
		t.Fatal(err)
	}
	e2e.WaitJS(t, wsTab, browserWait, "the Go client's message",
		chatList+` === '["Welcome to the wall","sent over wss"]'`)
	e2e.Eval[chromedp.Void](t, wsTab, `(() => {
		document.getElementById("message").value = "from the page";
		document.getElementById("form").requestSubmit();
	})()`)
	for _, want := range []string{"sent over wss", "from the page"} {
		m, err := conn.recv()
		if sm := wsChatLine.FindSubmatch(m.data); err != nil || sm == nil || string(sm[1]) != want {
			t.Fatalf("Go client: %q, %v; want \"HH:MM:SS: %s\"", m.data, err, want)
		}
	}
	if err := conn.close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// TestTLSE2ECurlSSE: curl -N --cacert follows the chat stream over
// https:// and prints the messages posted meanwhile as they come.
func TestTLSE2ECurlSSE(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		e2e.Missing(t, "curl is not installed (apt-get install curl)")
	}
	a := startTLSApp(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, curl, "-N", "-sS", "--max-time", "60", "--cacert", a.caFile, a.base+"/sse/chat")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel() // curl was told to run up to 60 s: stop it
		_ = cmd.Wait()
	}()
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	waitSubscribers(t, a.sseApp, "chat", 1)
	conf := tlsClient(a.cert)
	timeout := time.After(sseTimeout)
	for _, msg := range []string{"first to curl", "second to curl"} {
		httpsPostChat(t, a.addr, conf, msg)
		for got := false; !got; {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("curl ended before %q; stderr: %s", msg, stderr.String())
				}
				if data, ok := strings.CutPrefix(l, "data: "); ok {
					if text := chatText(t, sseEvent{Data: data}); text != msg {
						t.Fatalf("curl printed %q; want %q", text, msg)
					}
					got = true
				}
			case <-timeout:
				t.Fatalf("curl did not print %q within %v; stderr: %s", msg, sseTimeout, stderr.String())
			}
		}
	}
}
