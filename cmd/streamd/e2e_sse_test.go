package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/streamd/streamd/cmd/streamd/internal/e2e"
)

// TestSSEDemoRun starts the whole server through run, as main does,
// reads the clock stream, and checks that run returns nil on cancel.
func TestSSEDemoRun(t *testing.T) {
	a := startApp(t, 2)
	r := openSSE(t, a.base, "/sse/clock", "")
	if cc := r.header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control = %q; want no-cache", cc)
	}
	// The first event comes at once, the next from the hub's ticker.
	for i := range 2 {
		ev := r.next()
		if _, err := time.Parse(time.RFC3339, ev.Data); ev.Type != "time" || err != nil {
			t.Fatalf("clock event %d = %+v; want event: time with an RFC 3339 time", i, ev)
		}
	}
	if err := a.stop(); err != nil {
		t.Fatalf("run returned %v after cancel; want nil", err)
	}
}

func TestSSEDemoChat(t *testing.T) {
	a := startSSEApp(t, 2)
	r1 := openSSE(t, a.base, "/sse/chat", "")
	r2 := openSSE(t, a.base, "/sse/chat", "")
	waitSubscribers(t, a, "chat", 2)
	ssePostChat(t, a.base, "hello\nworld")
	ssePostChat(t, a.base, "  second  ")
	var firstID, secondID string
	for _, r := range []*sseReader{r1, r2} {
		e1, e2 := r.next(), r.next()
		firstID, secondID = e1.ID, e2.ID
		if e1.Type != "chat" || chatText(t, e1) != "hello\nworld" || chatText(t, e2) != "second" {
			t.Fatalf("chat events = %+v, %+v", e1, e2)
		}
		// Hub ids are "<epoch>-<seq>" (loop.Publication).
		ep1, s1, _ := strings.Cut(e1.ID, "-")
		ep2, s2, _ := strings.Cut(e2.ID, "-")
		if n1, _ := strconv.Atoi(s1); n1 == 0 || ep1 == "" || ep2 != ep1 || s2 != strconv.Itoa(n1+1) {
			t.Fatalf("ids %q, %q; want one epoch and consecutive numbers", e1.ID, e2.ID)
		}
	}
	// Raw text body (curl -d without a message field) is accepted.
	if st, _ := ssePost(t, a.base, "/chat", "application/x-www-form-urlencoded", "plain text"); st != 204 {
		t.Errorf("raw body: status %d; want 204", st)
	}
	// Resume: a client back with the first id gets the rest.
	r3 := openSSE(t, a.base, "/sse/chat", firstID)
	if e := r3.next(); chatText(t, e) != "second" || e.ID != secondID {
		t.Fatalf("resumed event = %+v; want second with id %s", e, secondID)
	}
	if e := r3.next(); chatText(t, e) != "plain text" {
		t.Fatalf("resumed event = %+v; want plain text", e)
	}
	for _, tt := range []struct{ body, want string }{
		{"message=", "message is empty"},
		{"message=" + strings.Repeat("x", maxChatMessage+1), "longer than 2000"},
		{"message=%ff", "not valid UTF-8"},
	} {
		st, body := ssePost(t, a.base, "/chat", "application/x-www-form-urlencoded", tt.body)
		if st != 400 || !strings.Contains(body, tt.want) {
			t.Errorf("POST /chat %.20q = %d %q; want 400 containing %q", tt.body, st, body, tt.want)
		}
	}
}

// chatText returns the text of a chat event, checking the server's time
// stamp: the data is {"t":"<RFC 3339, UTC>","text":"..."}.
func chatText(t *testing.T, ev sseEvent) string {
	t.Helper()
	var m struct {
		T    *string `json:"t"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal([]byte(ev.Data), &m); err != nil || m.T == nil || m.Text == nil {
		t.Fatalf("chat event data %q: %v; want {\"t\":…,\"text\":…}", ev.Data, err)
	}
	at, err := time.Parse(time.RFC3339, *m.T)
	if err != nil || at.Location() != time.UTC || time.Since(at) > time.Hour || time.Until(at) > time.Minute {
		t.Fatalf("chat event time %q: %v; want RFC 3339 in UTC, about now", *m.T, err)
	}
	return *m.Text
}

// TestSSEDemoChatHistory: the chat page's first load
// (/sse/chat?lastEventId=recent) gets an event: reset and then the last
// chatHistory messages, oldest first, with their ids; then live ones,
// none twice. A reconnect's Last-Event-ID header wins over the query.
func TestSSEDemoChatHistory(t *testing.T) {
	a := startSSEApp(t, 2)
	const posted = chatHistory + 5
	for i := range posted {
		ssePostChat(t, a.base, fmt.Sprintf("earlier %02d", i))
	}
	r := openSSE(t, a.base, "/sse/chat?lastEventId=recent", "")
	if ev := r.next(); ev.Type != "reset" || ev.Data != "chat" {
		t.Fatalf("first event = %+v; want event: reset for chat", ev)
	}
	var ids []string
	for i := posted - chatHistory; i < posted; i++ {
		ev := r.next()
		if want := fmt.Sprintf("earlier %02d", i); ev.Type != "chat" || chatText(t, ev) != want {
			t.Fatalf("history event = %+v; want %q", ev, want)
		}
		ids = append(ids, ev.ID)
	}
	waitSubscribers(t, a, "chat", 1)
	ssePostChat(t, a.base, "live")
	if ev := r.next(); chatText(t, ev) != "live" {
		t.Fatalf("after the history: %+v; want the live message", ev)
	}
	// A page that reconnects sends the header: it gets what came after.
	r2 := openSSE(t, a.base, "/sse/chat?lastEventId=recent", ids[len(ids)-1])
	if ev := r2.next(); ev.Type != "chat" || chatText(t, ev) != "live" {
		t.Fatalf("resumed with the header: %+v; want only the live message", ev)
	}
}

func waitSubscribers(t *testing.T, a *sseApp, topic string, n int) {
	t.Helper()
	deadline := time.Now().Add(sseTimeout)
	for a.hub.TopicStats(topic).Subscribers != n {
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: %d subscribers; want %d", topic, a.hub.TopicStats(topic).Subscribers, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSSEDemoCalendar(t *testing.T) {
	a := startSSEApp(t, 2)
	st, body := ssePost(t, a.base, "/calendar/events", "application/json", `{"date":"2026-11-25","title":" Launch "}`)
	if st != 201 || body != `{"id":1,"date":"2026-11-25","title":"Launch"}` {
		t.Fatalf("POST /calendar/events = %d %q", st, body)
	}
	r := openSSE(t, a.base, "/sse/calendar", "")
	if ev := r.next(); ev.Type != "snapshot" || ev.Data != `[{"id":1,"date":"2026-11-25","title":"Launch"}]` {
		t.Fatalf("first event = %+v; want the snapshot", ev)
	}
	waitSubscribers(t, a, "calendar", 1)
	if st, _ := ssePost(t, a.base, "/calendar/events", "application/json", `{"date":"2026-12-01","title":"Ship"}`); st != 201 {
		t.Fatalf("second entry: %d", st)
	}
	if ev := r.next(); ev.Type != "entry" || ev.Data != `{"id":2,"date":"2026-12-01","title":"Ship"}` {
		t.Fatalf("entry event = %+v", ev)
	}
	// A month's stream starts with that month's entries only; new entries
	// of every month follow (the page keeps its month's).
	for _, tt := range []struct{ month, snapshot string }{
		{"2026-11", `[{"id":1,"date":"2026-11-25","title":"Launch"}]`},
		{"2026-12", `[{"id":2,"date":"2026-12-01","title":"Ship"}]`},
		{"2027-01", `[]`},
	} {
		r := openSSE(t, a.base, "/sse/calendar?month="+tt.month, "")
		if ev := r.next(); ev.Type != "snapshot" || ev.Data != tt.snapshot {
			t.Errorf("month %s: first event = %+v; want snapshot %s", tt.month, ev, tt.snapshot)
		}
	}
	for _, bad := range []string{"2026-13", "2026-1", "december", ""} {
		if resp, body := get(t, a.base+"/sse/calendar?month="+bad); resp.StatusCode != 400 || !strings.Contains(body, "YYYY-MM") {
			t.Errorf("GET /sse/calendar?month=%s = %d %q; want 400 naming YYYY-MM", bad, resp.StatusCode, body)
		}
	}
	for _, bad := range []string{
		`{"date":"2026-02-30","title":"x"}`,
		`{"date":"2026-01-01","title":""}`,
		`{"date":"2026-01-01"}`,
		`{"date":"2026-01-01","title":"x","extra":1}`,
		`{"date":"2026-01-01","title":"x"}{}`,
		`not json`,
	} {
		if st, _ := ssePost(t, a.base, "/calendar/events", "application/json", bad); st != 400 {
			t.Errorf("POST %s = %d; want 400", bad, st)
		}
	}
}

// nodeLine is one line of sse_resume.mjs output.
type nodeLine struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Data   string `json:"data"`
	N      int    `json:"n"`
	Opens  int    `json:"opens"`
	Errors int    `json:"errors"`
	Events []struct {
		ID   string `json:"id"`
		Data string `json:"data"`
	} `json:"events"`
}

// TestE2ENodeEventSourceResume follows the chat stream with the npm
// eventsource client, ends the stream from the server side while
// messages keep coming, and checks that the client's own reconnect (with
// Last-Event-ID) delivers every message exactly once, in order.
func TestE2ENodeEventSourceResume(t *testing.T) {
	node := e2e.Node(t, "eventsource")
	a := startSSEApp(t, 2)
	runNodeEventSourceResume(t, node, a, nil, func(msg string) { ssePostChat(t, a.base, msg) })
}

// runNodeEventSourceResume runs sse_resume.mjs on a's chat stream with
// env as the node process's environment (nil: the test's), posting with
// post, and checks that 30 messages arrive exactly once, in order, across
// a reconnect after dropStreams.
func runNodeEventSourceResume(t *testing.T, node string, a *sseApp, env []string, post func(msg string)) {
	t.Helper()
	const batch = 10
	ctx, cancel := context.WithTimeout(context.Background(), 2*sseTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(e2e.NodeDir(), "sse_resume.mjs"), a.base+"/sse/chat", strconv.Itoa(3*batch))
	cmd.Dir = e2e.NodeDir()
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan nodeLine, 256)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var l nodeLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				l = nodeLine{Type: "bad", Data: sc.Text()}
			}
			lines <- l
		}
	}()
	var final *nodeLine
	seen := 0
	await := func(what string, cond func(nodeLine) bool) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("node exited while waiting for %s: %v\nstderr: %s", what, cmd.Wait(), stderr.String())
				}
				if l.Type == "event" {
					seen++
				}
				if l.Type == "done" || l.Type == "timeout" {
					final = &l
				}
				if cond(l) {
					return
				}
				if final != nil {
					t.Fatalf("node finished (%s) while waiting for %s", l.Type, what)
				}
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s; stderr: %s", what, stderr.String())
			}
		}
	}
	msg := func(i int) string { return fmt.Sprintf("msg-%02d", i) }

	await("the first open", func(l nodeLine) bool { return l.Type == "open" })
	waitSubscribers(t, a, "chat", 1)
	for i := 1; i <= batch; i++ {
		post(msg(i))
	}
	await("the first batch", func(nodeLine) bool { return seen == batch })

	// Server side end of the stream; messages keep coming while the
	// client is away (it waits chatRetry before reconnecting).
	if n := a.sse.dropStreams(); n != 1 {
		t.Fatalf("dropStreams closed %d streams; want 1", n)
	}
	for i := batch + 1; i <= 2*batch; i++ {
		post(msg(i))
	}
	await("the reconnect", func(l nodeLine) bool { return l.Type == "open" && l.N == 2 })
	for i := 2*batch + 1; i <= 3*batch; i++ {
		post(msg(i))
	}
	await("the result", func(l nodeLine) bool { return l.Type == "done" })
	if err := cmd.Wait(); err != nil {
		t.Fatalf("node: %v; stderr: %s", err, stderr.String())
	}
	if len(final.Events) != 3*batch {
		t.Fatalf("node got %d events; want %d", len(final.Events), 3*batch)
	}
	prev := 0
	for i, ev := range final.Events {
		if got := chatText(t, sseEvent{Data: ev.Data}); got != msg(i+1) {
			t.Fatalf("event %d = %q; want %q (lost, repeated or reordered)", i, got, msg(i+1))
		}
		_, seq, _ := strings.Cut(ev.ID, "-") // "<epoch>-<seq>", see loop.Publication
		id, err := strconv.Atoi(seq)
		if err != nil || id <= prev {
			t.Fatalf("event %d id %q after %d; want increasing", i, ev.ID, prev)
		}
		prev = id
	}
	if final.Opens != 2 || final.Errors < 1 {
		t.Errorf("opens %d, errors %d; want 2 opens and at least 1 error (the drop)", final.Opens, final.Errors)
	}
}

const browserWait = 30 * time.Second

func TestE2EBrowserClock(t *testing.T) {
	a := startSSEApp(t, 2)
	tab := e2e.NewBrowser(t)
	e2e.Run(t, tab, browserWait, chromedp.Navigate(a.base+"/clock"))
	e2e.WaitJS(t, tab, browserWait, "the stream to open", `document.getElementById("state").textContent === "open"`)
	first := e2e.Eval[int](t, tab, `Number(document.getElementById("ticks").textContent)`)
	e2e.WaitJS(t, tab, browserWait, "two more ticks",
		fmt.Sprintf(`Number(document.getElementById("ticks").textContent) >= %d`, first+2))
	if iso := e2e.Eval[string](t, tab, `document.getElementById("time").dataset.iso`); iso == "" {
		t.Error("clock shows no time")
	} else if _, err := time.Parse(time.RFC3339, iso); err != nil {
		t.Errorf("clock time %q: %v", iso, err)
	}
}

// chatList is the expression for the texts of a chat page's messages,
// without their times (both chat pages list them as #log li, the text in
// a .text span beside a <time>), as JSON.
const chatList = `JSON.stringify([...document.querySelectorAll("#log li .text")].map(e => e.textContent))`

func TestE2EBrowserChat(t *testing.T) {
	a := startSSEApp(t, 2)
	tab1 := e2e.NewBrowser(t)
	tab2 := e2e.NewTab(t, tab1)
	for _, tab := range []context.Context{tab1, tab2} {
		e2e.Run(t, tab, browserWait, chromedp.Navigate(a.base+"/chat/sse"))
		e2e.WaitJS(t, tab, browserWait, "the chat stream", `document.getElementById("state").textContent === "connected"`)
	}
	waitSubscribers(t, a, "chat", 2)

	var want []string
	// Post from tab 1 through the page's own form; tab 2 shows it.
	send := func(msg string) {
		t.Helper()
		e2e.Eval[chromedp.Void](t, tab1, fmt.Sprintf(`(() => {
			document.getElementById("message").value = %q;
			document.getElementById("form").requestSubmit();
		})()`, msg))
		want = append(want, msg)
	}
	waitAll := func(what string) {
		t.Helper()
		wantJSON, _ := json.Marshal(want)
		for _, tab := range []context.Context{tab1, tab2} {
			e2e.WaitJS(t, tab, browserWait, what, chatList+" === "+strconv.Quote(string(wantJSON)))
		}
	}
	send("hello from tab 1")
	waitAll("the first message in both tabs")
	send("second")
	waitAll("the second message in both tabs")

	// Kill the streams server-side; post while the pages are away (they
	// wait chatRetry), then after they are back.
	if n := a.sse.dropStreams(); n != 2 {
		t.Fatalf("dropStreams closed %d streams; want 2", n)
	}
	for i := range 3 {
		msg := fmt.Sprintf("while away %d", i)
		ssePostChat(t, a.base, msg)
		want = append(want, msg)
	}
	for _, tab := range []context.Context{tab1, tab2} {
		e2e.WaitJS(t, tab, browserWait, "the reconnect", `document.getElementById("state").textContent === "connected"`)
	}
	waitSubscribers(t, a, "chat", 2)
	send("after reconnect")
	waitAll("every message exactly once in both tabs")
}

func TestE2EBrowserCalendar(t *testing.T) {
	a := startSSEApp(t, 2)
	tab := e2e.NewBrowser(t)
	e2e.Run(t, tab, browserWait, chromedp.Navigate(a.base+"/calendar"))
	e2e.WaitJS(t, tab, browserWait, "the calendar stream", `document.getElementById("state").textContent === "live"`)
	waitSubscribers(t, a, "calendar", 1)
	// The page's default date is today in the browser's time zone, and
	// today is always in the grid.
	date := e2e.Eval[string](t, tab, `document.getElementById("date").value`)
	if e2e.Eval[int](t, tab, fmt.Sprintf(`document.querySelectorAll('td[data-date=%q]').length`, date)) != 1 {
		t.Fatalf("default date %q is not in the grid", date)
	}
	title := "Review <b>streamd</b>"
	body, _ := json.Marshal(map[string]string{"date": date, "title": title})
	if st, resp := ssePost(t, a.base, "/calendar/events", "application/json", string(body)); st != 201 {
		t.Fatalf("POST /calendar/events = %d %q", st, resp)
	}
	e2e.WaitJS(t, tab, browserWait, "the entry in the grid",
		fmt.Sprintf(`[...document.querySelectorAll('td[data-date=%q] li')].some(li => li.textContent === %q)`, date, title))
	// Title is text, not markup.
	if n := e2e.Eval[int](t, tab, `document.querySelectorAll("#grid b").length`); n != 0 {
		t.Errorf("title rendered as HTML (%d <b> elements)", n)
	}
}
