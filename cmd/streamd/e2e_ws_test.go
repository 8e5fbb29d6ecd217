package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	coder "github.com/coder/websocket"
	fasthttpws "github.com/fasthttp/websocket"
	gorilla "github.com/gorilla/websocket"

	"github.com/streamd/streamd/cmd/streamd/internal/e2e"
)

// End-to-end tests of the WebSocket demos (/ws/echo, /ws/chat and the
// /chat/ws page) on the whole server started by run, with clients written
// by others: gorilla/websocket, fasthttp/websocket, coder/websocket, the
// npm ws package and Chromium.

const wsTimeout = 30 * time.Second

// wsURL turns the app's http:// base into a ws:// URL for path.
func wsURL(a *testApp, path string) string { return "ws" + strings.TrimPrefix(a.base, "http") + path }

// wsMsg is one message as the Go clients see it.
type wsMsg struct {
	binary bool
	data   []byte
}

// wsConn is the little the demo tests need of a client library.
type wsConn struct {
	send      func(m wsMsg) error
	recv      func() (wsMsg, error)
	close     func() error // closing handshake with 1000; nil error when the server answered
	extension string       // negotiated Sec-WebSocket-Extensions
}

// gorillaLike is the API of gorilla/websocket and its fasthttp fork.
type gorillaLike interface {
	ReadMessage() (int, []byte, error)
	WriteMessage(int, []byte) error
	WriteControl(int, []byte, time.Time) error
	SetReadDeadline(time.Time) error
	Close() error
}

func wsFromGorilla(t *testing.T, c gorillaLike, ext string, isNormalClose func(error) bool) *wsConn {
	t.Cleanup(func() { c.Close() })
	return &wsConn{
		extension: ext,
		send: func(m wsMsg) error {
			op := gorilla.TextMessage
			if m.binary {
				op = gorilla.BinaryMessage
			}
			return c.WriteMessage(op, m.data)
		},
		recv: func() (wsMsg, error) {
			c.SetReadDeadline(time.Now().Add(wsTimeout))
			op, p, err := c.ReadMessage()
			return wsMsg{binary: op == gorilla.BinaryMessage, data: p}, err
		},
		close: func() error {
			if err := c.WriteControl(gorilla.CloseMessage, gorilla.FormatCloseMessage(1000, ""), time.Now().Add(wsTimeout)); err != nil {
				return err
			}
			c.SetReadDeadline(time.Now().Add(wsTimeout))
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					if isNormalClose(err) {
						return nil
					}
					return err
				}
			}
		},
	}
}

// wsClients dial url with each library, with and without compression.
var wsClients = []struct {
	name string
	dial func(t *testing.T, url string, compress bool) *wsConn
}{
	{"gorilla", func(t *testing.T, url string, compress bool) *wsConn {
		d := gorilla.Dialer{EnableCompression: compress, HandshakeTimeout: wsTimeout}
		c, resp, err := d.Dial(url, nil)
		if err != nil {
			t.Fatalf("gorilla dial %s: %v", url, err)
		}
		return wsFromGorilla(t, c, resp.Header.Get("Sec-WebSocket-Extensions"), func(err error) bool {
			return gorilla.IsCloseError(err, gorilla.CloseNormalClosure)
		})
	}},
	{"fasthttp", func(t *testing.T, url string, compress bool) *wsConn {
		d := fasthttpws.Dialer{EnableCompression: compress, HandshakeTimeout: wsTimeout}
		c, resp, err := d.Dial(url, nil)
		if err != nil {
			t.Fatalf("fasthttp dial %s: %v", url, err)
		}
		return wsFromGorilla(t, c, resp.Header.Get("Sec-WebSocket-Extensions"), func(err error) bool {
			return fasthttpws.IsCloseError(err, fasthttpws.CloseNormalClosure)
		})
	}},
	{"coder", func(t *testing.T, url string, compress bool) *wsConn {
		mode := coder.CompressionDisabled
		if compress {
			mode = coder.CompressionContextTakeover
		}
		ctx, cancel := context.WithTimeout(context.Background(), wsTimeout)
		defer cancel()
		c, resp, err := coder.Dial(ctx, url, &coder.DialOptions{CompressionMode: mode})
		if err != nil {
			t.Fatalf("coder dial %s: %v", url, err)
		}
		c.SetReadLimit(2 << 20)
		t.Cleanup(func() { c.CloseNow() })
		return &wsConn{
			extension: resp.Header.Get("Sec-WebSocket-Extensions"),
			send: func(m wsMsg) error {
				ctx, cancel := context.WithTimeout(context.Background(), wsTimeout)
				defer cancel()
				typ := coder.MessageText
				if m.binary {
					typ = coder.MessageBinary
				}
				return c.Write(ctx, typ, m.data)
			},
			recv: func() (wsMsg, error) {
				ctx, cancel := context.WithTimeout(context.Background(), wsTimeout)
				defer cancel()
				typ, p, err := c.Read(ctx)
				return wsMsg{binary: typ == coder.MessageBinary, data: p}, err
			},
			close: func() error { return c.Close(coder.StatusNormalClosure, "") },
		}
	}},
}

func TestWSDemoEcho(t *testing.T) {
	a := startApp(t, 2)
	binary := make([]byte, 300000) // one frame bigger than the loop's MaxPendingInput
	for i := range binary {
		binary[i] = byte(i * 7919 >> 3)
	}
	msgs := []wsMsg{
		{data: []byte{}},
		{data: []byte("Hello, streamd!")},
		{data: []byte(strings.Repeat("κόσμε 😀 ", 3000))},
		{data: bytes.Repeat([]byte("compress me "), 10000)},
		{binary: true, data: binary},
		{binary: true, data: []byte{0}},
	}
	for _, c := range wsClients {
		for _, compress := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/compress=%v", c.name, compress), func(t *testing.T) {
				conn := c.dial(t, wsURL(a, "/ws/echo"), compress)
				if got := conn.extension != ""; got != compress {
					t.Fatalf("Sec-WebSocket-Extensions %q; want compression %v", conn.extension, compress)
				}
				for i, m := range msgs {
					if err := conn.send(m); err != nil {
						t.Fatalf("send %d: %v", i, err)
					}
					got, err := conn.recv()
					if err != nil {
						t.Fatalf("recv %d: %v", i, err)
					}
					if got.binary != m.binary || !bytes.Equal(got.data, m.data) {
						t.Fatalf("echo %d: binary=%v, %d bytes; want binary=%v, %d bytes", i, got.binary, len(got.data), m.binary, len(m.data))
					}
				}
				if err := conn.close(); err != nil {
					t.Fatalf("close: %v", err)
				}
			})
		}
	}
}

// wsChatLine matches a wall message: "HH:MM:SS: text".
var wsChatLine = regexp.MustCompile(`^\d\d:\d\d:\d\d: (.*)$`)

func TestWSDemoChat(t *testing.T) {
	a := startApp(t, 2)
	type member struct {
		name string
		c    *wsConn
	}
	var members []member
	for _, c := range wsClients {
		for _, compress := range []bool{false, true} {
			name := fmt.Sprintf("%s/compress=%v", c.name, compress)
			conn := c.dial(t, wsURL(a, "/ws/chat"), compress)
			// The welcome comes after the socket joined the wall.
			if m, err := conn.recv(); err != nil || string(m.data) != "Welcome to the wall" {
				t.Fatalf("%s: welcome %q, %v", name, m.data, err)
			}
			members = append(members, member{name, conn})
		}
	}
	for _, from := range members {
		text := "hello from " + from.name + strings.Repeat(" la", 150)
		if err := from.c.send(wsMsg{data: []byte(text)}); err != nil {
			t.Fatalf("%s: send: %v", from.name, err)
		}
		for _, to := range members {
			m, err := to.c.recv()
			if err != nil {
				t.Fatalf("%s → %s: %v", from.name, to.name, err)
			}
			if sm := wsChatLine.FindSubmatch(m.data); m.binary || sm == nil || string(sm[1]) != text {
				t.Fatalf("%s → %s: %.60q; want \"HH:MM:SS: %.40s…\"", from.name, to.name, m.data, text)
			}
		}
	}
	// Refused messages get an answer to their sender only.
	first := members[0].c
	for _, bad := range []string{"", strings.Repeat("x", maxChatMessage+1)} {
		if err := first.send(wsMsg{data: []byte(bad)}); err != nil {
			t.Fatal(err)
		}
		if m, err := first.recv(); err != nil || string(m.data) != "messages must be 1 to 2000 bytes" {
			t.Fatalf("message of %d bytes: got %q, %v; want the refusal", len(bad), m.data, err)
		}
	}
	// A binary message is ignored; the next text still goes through.
	if err := first.send(wsMsg{binary: true, data: []byte("bin")}); err != nil {
		t.Fatal(err)
	}
	if err := first.send(wsMsg{data: []byte("after binary")}); err != nil {
		t.Fatal(err)
	}
	for _, to := range members {
		if m, err := to.c.recv(); err != nil || !strings.HasSuffix(string(m.data), ": after binary") {
			t.Fatalf("%s: got %q, %v; want \"…: after binary\"", to.name, m.data, err)
		}
	}
	for _, m := range members {
		if err := m.c.close(); err != nil {
			t.Errorf("%s: close: %v", m.name, err)
		}
	}
}

// TestWSDemoChatHistory: a socket opened as /ws/chat?history=1 gets the
// wall's last chatHistory lines, oldest first, then the welcome, then
// live lines; one without the query gets the welcome only.
func TestWSDemoChatHistory(t *testing.T) {
	a := startApp(t, 2)
	dial := wsClients[0].dial
	first := dial(t, wsURL(a, "/ws/chat"), false)
	if m, err := first.recv(); err != nil || string(m.data) != wallWelcome {
		t.Fatalf("welcome %q, %v", m.data, err)
	}
	const posted = chatHistory + 3
	for i := range posted {
		if err := first.send(wsMsg{data: []byte(fmt.Sprintf("earlier %02d", i))}); err != nil {
			t.Fatal(err)
		}
		// Read each back, so the wall holds it before the next socket opens.
		if m, err := first.recv(); err != nil || !strings.HasSuffix(string(m.data), fmt.Sprintf(": earlier %02d", i)) {
			t.Fatalf("line %d back: %q, %v", i, m.data, err)
		}
	}
	late := dial(t, wsURL(a, "/ws/chat?history=1"), true)
	for i := posted - chatHistory; i < posted; i++ {
		m, err := late.recv()
		if sm := wsChatLine.FindSubmatch(m.data); err != nil || sm == nil || string(sm[1]) != fmt.Sprintf("earlier %02d", i) {
			t.Fatalf("history line: %q, %v; want \"HH:MM:SS: earlier %02d\"", m.data, err, i)
		}
	}
	if m, err := late.recv(); err != nil || string(m.data) != wallWelcome {
		t.Fatalf("after the history: %q, %v; want the welcome", m.data, err)
	}
	if err := first.send(wsMsg{data: []byte("live")}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wsConn{first, late} {
		if m, err := c.recv(); err != nil || !strings.HasSuffix(string(m.data), ": live") {
			t.Fatalf("live line: %q, %v", m.data, err)
		}
	}
	plain := dial(t, wsURL(a, "/ws/chat"), false)
	if m, err := plain.recv(); err != nil || string(m.data) != wallWelcome {
		t.Fatalf("without ?history: first message %q, %v; want the welcome", m.data, err)
	}
	for _, c := range []*wsConn{first, late, plain} {
		if err := c.close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}
}

// wsNodeResult is what ws_client.mjs prints.
type wsNodeResult struct {
	Extensions []string `json:"extensions"`
	Echo       []struct {
		Name string `json:"name"`
		OK   bool   `json:"ok"`
		Size int    `json:"size"`
		Got  int    `json:"got"`
	} `json:"echo"`
	Ping      *string  `json:"ping"`
	Chat      []string `json:"chat"`
	ChatSent  string   `json:"chatSent"`
	CloseCode *int     `json:"closeCode"`
	Errors    []string `json:"errors"`
}

func TestWSE2ENodeWS(t *testing.T) {
	node := e2e.Node(t, "ws")
	a := startApp(t, 2)
	for _, deflate := range []bool{false, true} {
		t.Run("perMessageDeflate="+strconv.FormatBool(deflate), func(t *testing.T) {
			runNodeWS(t, node, wsURL(a, ""), deflate, "", nil)
		})
	}
}

// runNodeWS runs ws_client.mjs against base (ws:// or wss://, trusting
// caFile when given) with env as the node process's environment (nil:
// the test's), and checks what it saw: the negotiated extension, every
// echo (up to 70000 bytes), the pong, the close code, and the chat lines.
func runNodeWS(t *testing.T, node, base string, deflate bool, caFile string, env []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*wsTimeout)
	defer cancel()
	args := []string{filepath.Join(e2e.NodeDir(), "ws_client.mjs"), base, strconv.FormatBool(deflate)}
	if caFile != "" {
		args = append(args, caFile)
	}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = e2e.NodeDir()
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node ws_client.mjs: %v\nstderr:\n%s", err, stderr.String())
	}
	var r wsNodeResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("decoding %q: %v", out, err)
	}
	if len(r.Errors) > 0 {
		t.Fatalf("node client errors: %q", r.Errors)
	}
	if len(r.Extensions) != 3 {
		t.Errorf("%d sockets opened; want 3 (echo and two chat)", len(r.Extensions))
	}
	for _, ext := range r.Extensions {
		if got := strings.HasPrefix(ext, "permessage-deflate"); got != deflate {
			t.Errorf("negotiated extensions %q; want permessage-deflate %v", ext, deflate)
		}
	}
	if len(r.Echo) != 6 {
		t.Errorf("%d echoes; want 6", len(r.Echo))
	}
	for _, e := range r.Echo {
		if !e.OK {
			t.Errorf("echo %q: %d bytes back for %d sent, or different", e.Name, e.Got, e.Size)
		}
	}
	if r.Ping == nil || *r.Ping != "are you there" {
		t.Errorf("pong payload %v; want \"are you there\"", r.Ping)
	}
	if r.CloseCode == nil || *r.CloseCode != 1000 {
		t.Errorf("close code %v; want 1000", r.CloseCode)
	}
	if len(r.Chat) != 4 || r.Chat[0] != "Welcome to the wall" || r.Chat[1] != "Welcome to the wall" {
		t.Fatalf("chat %q; want two welcomes and two wall lines", r.Chat)
	}
	for _, line := range r.Chat[2:] {
		if sm := wsChatLine.FindStringSubmatch(line); sm == nil || sm[1] != r.ChatSent {
			t.Errorf("wall line %.60q; want \"HH:MM:SS: %.40s…\"", line, r.ChatSent)
		}
	}
}

func TestWSE2EBrowserChat(t *testing.T) {
	a := startApp(t, 2)
	tab1 := e2e.NewBrowser(t)
	tab2 := e2e.NewTab(t, tab1)
	for _, tab := range []context.Context{tab1, tab2} {
		e2e.Run(t, tab, wsTimeout, chromedp.Navigate(a.base+"/chat/ws"))
		e2e.WaitJS(t, tab, wsTimeout, "the socket to open", `document.getElementById("state").textContent === "connected"`)
		// The welcome is sent after the socket joined the wall.
		e2e.WaitJS(t, tab, wsTimeout, "the welcome", chatList+` === '["Welcome to the wall"]'`)
	}
	send := func(msg string) {
		t.Helper()
		e2e.Eval[chromedp.Void](t, tab1, fmt.Sprintf(`(() => {
			document.getElementById("message").value = %q;
			document.getElementById("form").requestSubmit();
		})()`, msg))
	}
	wall := func(n int) []string {
		t.Helper()
		var out []string
		for _, tab := range []context.Context{tab1, tab2} {
			e2e.WaitJS(t, tab, wsTimeout, fmt.Sprintf("%d messages", n+1),
				fmt.Sprintf(`document.querySelectorAll("#log li").length >= %d`, n+1))
			var got []string
			if err := json.Unmarshal([]byte(e2e.Eval[string](t, tab, chatList)), &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != n+1 {
				t.Fatalf("tab shows %q; want the welcome and %d messages", got, n)
			}
			out = append(out, got[1:]...)
		}
		return out
	}
	send("hello from tab 1")
	send("κόσμε 😀 <b>not bold</b>")
	want := []string{"hello from tab 1", "κόσμε 😀 <b>not bold</b>"}
	lines := wall(2)
	for i, line := range lines {
		if line != want[i%2] {
			t.Errorf("line %d: %q; want %q", i, line, want[i%2])
		}
	}
	// Each wall line shows the server's HH:MM beside it.
	times := e2e.Eval[string](t, tab2, `JSON.stringify([...document.querySelectorAll("#log li time")].map(e => e.textContent))`)
	if !regexp.MustCompile(`^\["\d\d:\d\d","\d\d:\d\d"\]$`).MatchString(times) {
		t.Errorf("times shown %s; want two HH:MM", times)
	}
	if n := e2e.Eval[int](t, tab2, `document.querySelectorAll("#log b").length`); n != 0 {
		t.Errorf("message rendered as HTML: %d <b> elements", n)
	}
}
